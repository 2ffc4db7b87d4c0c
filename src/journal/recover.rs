//! What a journal holds at start, and the tick source that replays it.
//!
//! Contract:
//! - `scan` reads the whole journal once (every check of `reader`), cuts a torn tail off
//!   (`Scan::torn` says what was cut) and sums it up: ticks journaled (their `seq` must run
//!   0, 1, 2, ...), the last tick, the fingerprint of the last start, whether the run
//!   finished, the next sequence number.
//! - `Replay` yields the journaled ticks, then the source the run resumes on: the stages see
//!   exactly the ticks an uninterrupted run would have shown them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::reader::{self, JournalError, JournalReader, Torn};
use super::{Entry, StartRecord};
use crate::domain::Tick;
use crate::runtime::TickSource;

/// A journal dir summed up.
#[derive(Clone, Debug, Default)]
pub struct Scan {
    pub records: u64,
    pub next_seq: u64,
    pub ticks: u64,
    pub last_tick: Option<Tick>,
    pub orders: u64,
    pub events: u64,
    /// Every start record, in order (the first is the run's first start).
    pub starts: Vec<StartRecord>,
    pub finished: bool,
    /// A torn tail that was found (and cut off, when `scan` was asked to).
    pub torn: Option<Torn>,
    pub segments: usize,
    pub bytes: u64,
}

impl Scan {
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The run id of the journal's first start.
    pub fn first_run_id(&self) -> Option<&str> {
        self.starts.first().map(|s| s.run_id.as_str())
    }
}

/// Reads and checks all of `dir`; with `repair`, cuts a torn tail off.
///
/// # Errors
/// A corrupt record (`FILE:OFFSET: what`), a tick out of sequence, or an I/O error.
pub fn scan(dir: &Path, repair: bool) -> Result<Scan, JournalError> {
    let mut reader = JournalReader::open(dir)?;
    let mut scan = Scan::default();
    for (_, path) in reader::segments(dir)? {
        scan.segments += 1;
        scan.bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    }
    while let Some(record) = reader.next_record()? {
        scan.records += 1;
        match record.entry {
            Entry::Tick(tick) => {
                if tick.seq != scan.ticks {
                    return Err(JournalError::Corrupt {
                        path: dir.to_path_buf(),
                        offset: record.offset,
                        why: format!(
                            "record {} holds tick {} where tick {} was due",
                            record.seq, tick.seq, scan.ticks
                        ),
                    });
                }
                scan.ticks += 1;
                scan.last_tick = Some(tick);
            }
            Entry::Order(_) => scan.orders += 1,
            Entry::Refused(_) | Entry::Event(_) => scan.events += 1,
            Entry::Start(start) => scan.starts.push(start),
            Entry::End(_) => scan.finished = true,
        }
    }
    scan.next_seq = reader.next_seq();
    scan.torn = reader.torn().cloned();
    if repair && let Some(torn) = &scan.torn {
        reader::truncate_torn(torn).map_err(|source| JournalError::Io {
            path: torn.path.clone(),
            source,
        })?;
    }
    Ok(scan)
}

/// The journaled ticks, then `rest`.
pub struct Replay<S> {
    reader: Option<JournalReader>,
    left: u64,
    dir: PathBuf,
    rest: S,
    /// False: the journal is all there is (a finished run), `rest` is never read.
    rest_open: bool,
    /// Journaled ticks still to read past (see `from`).
    skip: u64,
}

impl<S> std::fmt::Debug for Replay<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay").field("left", &self.left).finish()
    }
}

impl<S: TickSource> Replay<S> {
    /// Replays the first `ticks` ticks of the journal in `dir`, then reads `rest`.
    ///
    /// # Errors
    /// The journal dir cannot be listed.
    pub fn new(dir: &Path, ticks: u64, rest: S) -> Result<Replay<S>, JournalError> {
        Ok(Replay {
            reader: (ticks > 0).then(|| JournalReader::open(dir)).transpose()?,
            left: ticks,
            dir: dir.to_path_buf(),
            rest,
            rest_open: true,
            skip: 0,
        })
    }

    /// Starts after the first `from` journaled ticks (an engine restored from a checkpoint
    /// taken after them): they are read past, not replayed.
    #[must_use]
    pub fn from(mut self, from: u64) -> Self {
        self.skip = from.min(self.left);
        self
    }

    /// Replays the journal only: `rest` is kept (for its counts) but never read.
    #[must_use]
    pub fn without_rest(mut self) -> Self {
        self.rest_open = false;
        self
    }

    pub fn rest(&self) -> &S {
        &self.rest
    }

    pub fn rest_mut(&mut self) -> &mut S {
        &mut self.rest
    }
}

impl<S: TickSource> TickSource for Replay<S> {
    fn read_chunk(&mut self, buf: &mut Vec<Tick>, max: usize) -> Result<usize, crate::Error> {
        buf.clear();
        if let Some(reader) = self.reader.as_mut() {
            while self.left > 0 && buf.len() < max {
                let record = reader
                    .next_record()
                    .map_err(|e| journal_error(&self.dir, &e))?;
                match record {
                    Some(r) => {
                        if let Entry::Tick(tick) = r.entry {
                            if self.skip > 0 {
                                self.skip -= 1;
                            } else {
                                buf.push(tick);
                            }
                            self.left -= 1;
                        }
                    }
                    None => {
                        // The scan counted them: the journal changed under us.
                        return Err(journal_error(
                            &self.dir,
                            &format!("{} journaled ticks are missing on replay", self.left),
                        ));
                    }
                }
            }
            if self.left == 0 {
                self.reader = None;
            }
            if !buf.is_empty() {
                return Ok(buf.len());
            }
        }
        if !self.rest_open {
            return Ok(0);
        }
        self.rest.read_chunk(buf, max)
    }

    fn progress(&self) -> (u64, u64) {
        self.rest.progress()
    }

    fn waited(&self) -> Duration {
        self.rest.waited()
    }
}

fn journal_error(dir: &Path, e: &dyn std::fmt::Display) -> crate::Error {
    crate::Error::Journal(format!("replaying the journal in {}: {e}", dir.display()))
}
