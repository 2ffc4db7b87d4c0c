//! The journal thread and the segment writer it owns.
//!
//! Contract:
//! - Each pass drains the tick ring, then the records that were in the execution ring
//!   before it looked at the ticks, encodes what it took into one buffer and writes it with
//!   one `write_all`: a tick is in the file before any record caused by it (the feed
//!   journals a tick before the strategies see it; draining "until empty" was not enough: a
//!   tick and its record could arrive between the two drains). Then it syncs per
//!   policy and publishes `exec_written` / `exec_durable` for the durability gate.
//! - Segments roll over past `segment_mib`; a new segment is synced and so is the directory,
//!   so a crash never leaves a segment the directory does not list.
//! - The first write or sync error latches `failed` (with the reason), logs it to the
//!   `error` channel and calls `on_fail` (the run stops); the thread then drains and drops
//!   whatever comes, so producers never block on a dead journal.
//! - When every producer has dropped its sender, the rest is written and synced; the thread
//!   returns the next sequence number.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::{Receiver, TryRecvError, bounded};

use super::format::{self, segment_header, segment_name};
use super::{Entry, ExecRecord, FsyncPolicy, JournalConfig, JournalLink, JournalShared};
use crate::clock::Stopwatch;
use crate::domain::Tick;

/// Slots of each journal ring: about 4 ms of a busy feed at 1 M ticks/s.
pub const JOURNAL_RING: usize = 1 << 12;

/// Most records taken from one ring per pass, so a busy feed cannot starve the order ring.
const PASS: usize = 4096;

/// An open segment and where the next record goes.
#[derive(Debug)]
pub struct SegmentWriter {
    dir: PathBuf,
    file: File,
    path: PathBuf,
    len: u64,
    max_len: u64,
    pub next_seq: u64,
}

impl SegmentWriter {
    /// Starts a new segment at `next_seq` in `dir` (created if missing).
    ///
    /// # Errors
    /// The directory or file cannot be created or synced.
    pub fn create(dir: &Path, next_seq: u64, segment_mib: u32) -> std::io::Result<SegmentWriter> {
        std::fs::create_dir_all(dir)?;
        let (file, path) = new_segment(dir, next_seq)?;
        Ok(SegmentWriter {
            dir: dir.to_path_buf(),
            file,
            path,
            len: format::SEGMENT_HEADER as u64,
            max_len: u64::from(segment_mib) << 20,
            next_seq,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Encodes `entry` into `buf` with the next sequence number.
    pub fn encode(&mut self, entry: &Entry, buf: &mut Vec<u8>) -> std::io::Result<()> {
        format::encode(self.next_seq, entry, buf).map_err(std::io::Error::other)?;
        self.next_seq += 1;
        Ok(())
    }

    /// Writes `buf` (whole records) to the segment, rolling over first if it is full.
    pub fn write(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if self.len > self.max_len {
            self.file.sync_data()?;
            let first = first_seq_in(buf).unwrap_or(self.next_seq);
            let (file, path) = new_segment(&self.dir, first)?;
            self.file = file;
            self.path = path;
            self.len = format::SEGMENT_HEADER as u64;
        }
        self.file.write_all(buf)?;
        self.len += buf.len() as u64;
        Ok(())
    }

    pub fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    /// Writes go to `path` from now on (a failing device, for tests).
    #[cfg(test)]
    pub(crate) fn replace_file_for_test(&mut self, path: &str) {
        if let Ok(file) = OpenOptions::new().write(true).open(path) {
            self.file = file;
        }
    }
}

/// The sequence number of the first record in `buf`.
fn first_seq_in(buf: &[u8]) -> Option<u64> {
    let b = buf.get(8..16)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

fn new_segment(dir: &Path, seq: u64) -> std::io::Result<(File, PathBuf)> {
    let path = dir.join(segment_name(seq));
    // A segment holding no record (a run that stopped before its first write, a crash
    // between create and header) is taken over; one with records is never overwritten.
    if std::fs::metadata(&path).is_ok_and(|m| m.len() <= format::SEGMENT_HEADER as u64) {
        std::fs::remove_file(&path)?;
    }
    let mut file = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(&path)?;
    file.write_all(&segment_header())?;
    file.sync_all()?;
    File::open(dir)?.sync_all()?;
    Ok((file, path))
}

/// A started journal thread: its producer handle and the thread.
#[derive(Debug)]
pub struct Journal {
    pub link: JournalLink,
    pub thread: std::thread::JoinHandle<u64>,
}

/// Starts the journal thread on `writer`; `first` is written before anything else.
///
/// # Errors
/// The thread cannot be spawned.
pub fn spawn(
    mut writer: SegmentWriter,
    first: Entry,
    config: &JournalConfig,
    replayed: u64,
    on_fail: Box<dyn Fn() + Send>,
) -> std::io::Result<Journal> {
    let (tick_tx, tick_rx) = bounded::<Tick>(JOURNAL_RING);
    let (rec_tx, rec_rx) = bounded::<ExecRecord>(JOURNAL_RING);
    let shared = Arc::new(JournalShared::default());
    shared.replayed.store(replayed, Ordering::Relaxed);
    let link = JournalLink::new(tick_tx, rec_tx, Arc::clone(&shared), replayed);
    let policy = config.fsync;
    let interval = Duration::from_millis(u64::from(config.batch_ms));
    let thread = std::thread::Builder::new()
        .name("alpha-panda-journal".into())
        .spawn(move || {
            let mut pass = Pass {
                writer: &mut writer,
                shared: &shared,
                buf: Vec::with_capacity(1 << 20),
                on_fail,
                policy,
            };
            pass.run(first, &tick_rx, &rec_rx, interval);
            writer.next_seq
        })?;
    Ok(Journal { link, thread })
}

struct Pass<'a> {
    writer: &'a mut SegmentWriter,
    shared: &'a JournalShared,
    buf: Vec<u8>,
    on_fail: Box<dyn Fn() + Send>,
    policy: FsyncPolicy,
}

impl Pass<'_> {
    fn run(
        &mut self,
        first: Entry,
        ticks: &Receiver<Tick>,
        records: &Receiver<ExecRecord>,
        interval: Duration,
    ) {
        let policy = self.policy;
        let mut unsynced = 0u64;
        let mut last_sync = Stopwatch::start();
        let mut idle = 0u32;
        let mut pending_first = Some(first);
        loop {
            self.buf.clear();
            let mut exec = 0u64;
            let mut n = 0usize;
            if let Some(first) = pending_first.take() {
                self.add(&first);
            }
            // A record in the ring now was caused by a tick that was in the tick ring before
            // it (the feed journals a tick before the strategies see it). So: count the
            // records first, then the ticks, take at least those ticks, and then only the
            // counted records. A record sent meanwhile may belong to a tick not taken yet; it
            // waits for the next pass. Once the feed is gone every tick is taken and records
            // are free.
            let owed = records.len();
            let due = ticks.len();
            let mut ticks_open = true;
            while n < PASS.max(due) {
                match ticks.try_recv() {
                    Ok(t) => self.add(&Entry::Tick(t)),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        ticks_open = false;
                        break;
                    }
                }
                n += 1;
            }
            let mut records_open = true;
            while (exec as usize) < PASS && ((exec as usize) < owed || !ticks_open) {
                match records.try_recv() {
                    Ok(r) => self.add(&Entry::from(r)),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        records_open = false;
                        break;
                    }
                }
                exec += 1;
            }
            let wrote = !self.buf.is_empty();
            if wrote {
                idle = 0;
                self.write(exec);
                unsynced += 1;
            }
            let closing = !ticks_open && !records_open;
            let sync_now = unsynced > 0
                && match policy {
                    FsyncPolicy::Always => true,
                    FsyncPolicy::Batch => closing || last_sync.elapsed() >= interval,
                    FsyncPolicy::Never => closing,
                };
            if sync_now {
                self.sync();
                unsynced = 0;
                last_sync = Stopwatch::start();
            }
            if closing && ticks.is_empty() && records.is_empty() {
                return;
            }
            if !wrote {
                idle = idle.saturating_add(1);
                if idle < 64 {
                    std::thread::yield_now();
                } else {
                    // Bounded sleep: an order waits at most this long to be noticed.
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        }
    }

    fn add(&mut self, entry: &Entry) {
        if self.shared.failed() {
            return;
        }
        if let Err(e) = self.writer.encode(entry, &mut self.buf) {
            self.fail(&format!("encoding a {} record: {e}", entry.kind().name()));
        }
    }

    fn write(&mut self, exec: u64) {
        if self.shared.failed() {
            return;
        }
        match self.writer.write(&self.buf) {
            Ok(()) => {
                let s = self.shared;
                s.bytes.fetch_add(self.buf.len() as u64, Ordering::Relaxed);
                s.records.store(self.writer.next_seq, Ordering::Relaxed);
                let written = s.exec_written.fetch_add(exec, Ordering::AcqRel) + exec;
                if self.policy == FsyncPolicy::Never {
                    s.exec_durable.store(written, Ordering::Release);
                }
            }
            Err(e) => {
                let path = self.writer.path().display().to_string();
                self.fail(&format!("writing {path}: {e}"));
            }
        }
    }

    fn sync(&mut self) {
        if self.shared.failed() {
            return;
        }
        let written = self.shared.exec_written.load(Ordering::Acquire);
        match self.writer.sync() {
            Ok(()) => {
                self.shared.syncs.fetch_add(1, Ordering::Relaxed);
                self.shared.exec_durable.store(written, Ordering::Release);
            }
            Err(e) => {
                let path = self.writer.path().display().to_string();
                self.fail(&format!("syncing {path}: {e}"));
            }
        }
    }

    fn fail(&mut self, why: &str) {
        if self.shared.failed() {
            return;
        }
        // Reason and stop request first: whoever sees `failed` finds both done.
        *self.shared.failure.lock() = Some(why.to_owned());
        tracing::error!(target: "error", "journal failed: {why}; orders are refused (JOURNAL_FAILED) and the run stops");
        (self.on_fail)();
        self.shared.failed.store(true, Ordering::Release);
    }
}
