//! The journal around a live run: opened (and recovered from) at start, closed with an end
//! record once the run went through all its data.
//!
//! Start-up, in order: archived journals past retention are removed; the journal is read
//! and checked (a torn tail is cut off and logged, a corrupt record refuses the start with
//! `FILE:OFFSET`); a journal written under another config, strategies or data refuses the
//! start; then
//! - empty: a new journal;
//! - unfinished: its ticks are replayed through the engine, then the run goes on and appends;
//! - finished: its ticks are replayed, the results written again, and the run ends there;
//! - with a live broker (Kite) the journal is archived instead of replayed: replayed orders
//!   must never reach a real venue; positions and open orders come from the broker's
//!   reconciliation (orders are tagged), and strategies start afresh.

use std::path::PathBuf;
use std::sync::Arc;

use sha2::Digest;

use crate::config::EngineConfig;
use crate::feed::DataSource;
use crate::journal::recover::{self, Scan};
use crate::journal::writer::{self, Journal, SegmentWriter};
use crate::journal::{EndRecord, Entry, StartRecord, retention};
use crate::runtime::RunControl;
use crate::strategy::StrategyConfig;

/// A journal opened at start.
#[derive(Debug)]
pub struct JournalStart {
    pub dir: PathBuf,
    pub scan: Scan,
    /// Ticks to replay before the feed.
    pub replay: u64,
    /// The journal shows the run finished: replay, write results, stop.
    pub finished: bool,
    fingerprint: String,
}

/// Hash of what a recovery must match: instruments, costs, venues, risk, the feed (but its
/// pace), strategies and data files. Ports, log and output dirs may change across restarts.
pub fn fingerprint(
    config: &EngineConfig,
    strategies: &[StrategyConfig],
    data: &[DataSource],
) -> String {
    let mut feed = config.feed.clone();
    feed.speed = 0.0;
    let names: Vec<String> = data.iter().map(DataSource::name).collect();
    let text = format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{feed:?}|{strategies:?}|{names:?}",
        config.instruments,
        config.instruments_file,
        config.bad_rows,
        config.compute,
        config.portfolio,
        config.brokers,
    );
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Opens the journal of a live run; `None` when `[journal] enabled = false`.
///
/// # Errors
/// A corrupt journal, one written under another config, or an I/O error: the message says
/// which file and what to do.
pub fn open(
    config: &EngineConfig,
    strategies: &[StrategyConfig],
    data: &[DataSource],
    live_broker: bool,
) -> Result<Option<JournalStart>, String> {
    if !config.journal.enabled {
        tracing::warn!(target: "app", "[journal] enabled = false: this run cannot be recovered after a crash");
        return Ok(None);
    }
    let dir = config.journal.dir_for(&config.output_dir);
    for line in retention::apply(&dir, &config.journal)
        .map_err(|e| format!("journal retention in {}: {e}", dir.display()))?
    {
        tracing::info!(target: "app", "{line}");
    }
    let mut scan = recover::scan(&dir, true).map_err(|e| format!("journal: {e}"))?;
    if let Some(torn) = &scan.torn {
        tracing::warn!(target: "app", file = %torn.path.display(), offset = torn.offset, bytes = torn.bytes, "journal: cut off a torn tail (a record cut short by a crash mid-write)");
    }
    let fingerprint = fingerprint(config, strategies, data);
    if let Some(last) = scan.starts.last()
        && last.fingerprint != fingerprint
    {
        return Err(format!(
            "the journal in {} belongs to run {} with another config, strategies or data \
             (fingerprint {} here, {} there); restart with the same ones to recover it, or move \
             it away with `alpha-panda journal archive {}` to start afresh",
            dir.display(),
            scan.first_run_id().unwrap_or("?"),
            fingerprint,
            last.fingerprint,
            dir.display()
        ));
    }
    if live_broker && !scan.is_empty() {
        let name = scan.first_run_id().unwrap_or("unnamed").to_owned();
        let to = retention::archive(&dir, &name)
            .map_err(|e| format!("archiving the journal in {}: {e}", dir.display()))?;
        tracing::warn!(target: "app", archive = %to.display(), ticks = scan.ticks, orders = scan.orders, "journal not replayed: a live broker trades here, and replayed orders must never reach it; positions and open orders come from the broker's reconciliation");
        scan = Scan::default();
    }
    let finished = scan.finished;
    if finished {
        tracing::info!(target: "app", ticks = scan.ticks, dir = %dir.display(), "the journal shows this run finished: replaying it to write its results again");
    } else if scan.ticks > 0 {
        tracing::info!(target: "app", ticks = scan.ticks, orders = scan.orders, events = scan.events, first_run = scan.first_run_id().unwrap_or("?"), "recovering from the journal: replaying its ticks");
    }
    Ok(Some(JournalStart {
        dir,
        replay: scan.ticks,
        finished,
        scan,
        fingerprint,
    }))
}

impl JournalStart {
    /// The hash that ties this journal (and its checkpoints) to the config, strategies and data.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Starts the journal thread (none for a finished journal, which is only replayed). A
    /// journal failure asks `control` to stop the run.
    ///
    /// # Errors
    /// The segment cannot be created or the thread spawned.
    pub fn spawn(
        &mut self,
        config: &EngineConfig,
        layout: &crate::runtime::EngineLayout,
        run_id: &str,
        control: &Arc<RunControl>,
    ) -> Result<Option<Journal>, String> {
        if self.finished {
            return Ok(None);
        }
        // Created only now: a run refused before trading leaves no segment behind.
        let writer =
            SegmentWriter::create(&self.dir, self.scan.next_seq, config.journal.segment_mib)
                .map_err(|e| format!("opening a journal segment in {}: {e}", self.dir.display()))?;
        let start = Entry::Start(StartRecord {
            run_id: run_id.to_owned(),
            fingerprint: self.fingerprint.clone(),
            engine_version: env!("CARGO_PKG_VERSION").to_owned(),
            replayed_ticks: self.replay,
            wall_ns: crate::clock::unix_now_ns(),
            instruments: layout
                .instruments
                .iter()
                .map(|(_, s)| (s.symbol.clone(), s.price_precision, s.qty_precision))
                .collect(),
            books: (0..layout.books.len())
                .map(|b| layout.book_name(crate::domain::BookId(b as u32)))
                .collect(),
        });
        let control = Arc::clone(control);
        let journal = writer::spawn(
            writer,
            start,
            &config.journal,
            self.replay,
            Box::new(move || control.request_stop()),
        )
        .map_err(|e| format!("starting the journal thread: {e}"))?;
        tracing::info!(target: "app", dir = %self.dir.display(), fsync = config.journal.fsync.name(), replayed = self.replay, "journal open");
        Ok(Some(journal))
    }
}

/// Closes the journal: the end record when the run went through all its data, then the
/// thread writes and syncs what is left. The failure, if the journal failed.
pub fn close(journal: Option<Journal>, finished_ticks: Option<u64>) -> Option<String> {
    let Journal { mut link, thread } = journal?;
    if let Some(ticks) = finished_ticks {
        link.end(EndRecord {
            ticks,
            wall_ns: crate::clock::unix_now_ns(),
        });
    }
    let shared = Arc::clone(&link.shared);
    drop(link);
    if thread.join().is_err() {
        return Some("the journal thread panicked".into());
    }
    shared.failure()
}
