//! The producers' side of the journal: what the feed and the execution stage hold.
//!
//! Contract:
//! - `tick` and `record` never drop: a full ring makes the producer wait (spin, then yield),
//!   counted in `ring_full`. The journal thread keeps draining even after a failure, so a
//!   producer never waits forever.
//! - `order` is the durability gate: it returns once the journal thread reports the
//!   record written (and synced, unless `fsync = "never"`), or `false` at once when the
//!   journal has failed. No allocation, lock or syscall on the way (a yield while waiting).
//! - Replayed ticks (`seq < replayed`) and what the stages derive from them are already in
//!   the journal: `tick` skips them, and `record_from`/`order` skip records of those ticks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::{Sender, TrySendError};
use parking_lot::Mutex;

use super::ExecRecord;
use crate::domain::Tick;

/// Counters and flags the journal thread and its producers share (also read by metrics).
#[derive(Debug, Default)]
pub struct JournalShared {
    /// Execution records written to the file.
    pub exec_written: AtomicU64,
    /// Execution records written and, per the fsync policy, durable.
    pub exec_durable: AtomicU64,
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub syncs: AtomicU64,
    /// Times a producer found a journal ring full and waited.
    pub ring_full: AtomicU64,
    pub failed: AtomicBool,
    /// Why it failed, for the error message of whoever asks.
    pub failure: Mutex<Option<String>>,
    /// Ticks replayed from the journal at start (not journaled again).
    pub replayed: AtomicU64,
}

impl JournalShared {
    #[inline]
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    pub fn failure(&self) -> Option<String> {
        self.failure.lock().clone()
    }

    /// The value of the journal metric `name` (`metrics::catalog`).
    pub fn metric(&self, name: &str) -> u64 {
        match name {
            "alpha_panda_journal_records_total" => self.records.load(Ordering::Relaxed),
            "alpha_panda_journal_bytes_total" => self.bytes.load(Ordering::Relaxed),
            "alpha_panda_journal_syncs_total" => self.syncs.load(Ordering::Relaxed),
            "alpha_panda_journal_ring_full_total" => self.ring_full.load(Ordering::Relaxed),
            "alpha_panda_journal_failed" => u64::from(self.failed()),
            _ => 0,
        }
    }
}

/// A producer's handle: the rings into the journal thread and the shared state.
#[derive(Clone, Debug)]
pub struct JournalLink {
    ticks: Sender<Tick>,
    records: Sender<ExecRecord>,
    pub shared: Arc<JournalShared>,
    /// Ticks `0..replayed` came from the journal.
    pub replayed: u64,
    /// Execution records this handle sent (per handle: one handle per producer thread).
    sent: u64,
}

impl JournalLink {
    pub(crate) fn new(
        ticks: Sender<Tick>,
        records: Sender<ExecRecord>,
        shared: Arc<JournalShared>,
        replayed: u64,
    ) -> JournalLink {
        JournalLink {
            ticks,
            records,
            shared,
            replayed,
            sent: 0,
        }
    }

    /// Journals a tick the feed is about to hand to the strategies.
    #[inline]
    pub fn tick(&self, tick: &Tick) {
        if tick.seq >= self.replayed {
            send(&self.ticks, *tick, &self.shared);
        }
    }

    /// Journals an execution record caused by tick `tick_seq` (no wait for durability).
    #[inline]
    pub fn record(&mut self, tick_seq: u64, record: ExecRecord) {
        if tick_seq >= self.replayed {
            send(&self.records, record, &self.shared);
            self.sent += 1;
        }
    }

    /// Journals an order for a venue and, when `durable`, waits until it is on disk as the
    /// fsync policy promises. False: the journal has failed and the order must not be sent.
    #[inline]
    pub fn order(&mut self, tick_seq: u64, record: ExecRecord, durable: bool) -> bool {
        if self.shared.failed() {
            return false;
        }
        self.record(tick_seq, record);
        if durable {
            let mut spins = 0u32;
            while self.shared.exec_durable.load(Ordering::Acquire) < self.sent {
                if self.shared.failed() {
                    return false;
                }
                backoff(&mut spins);
            }
        }
        !self.shared.failed()
    }

    /// Sends the end record from the app thread once results are written.
    pub fn end(&mut self, record: super::EndRecord) {
        send(&self.records, ExecRecord::End(record), &self.shared);
    }
}

#[inline]
fn send<T>(tx: &Sender<T>, mut value: T, shared: &JournalShared) {
    let mut spins = 0u32;
    let mut counted = false;
    loop {
        match tx.try_send(value) {
            Ok(()) => return,
            Err(TrySendError::Full(v)) => {
                if !counted {
                    shared.ring_full.fetch_add(1, Ordering::Relaxed);
                    counted = true;
                }
                value = v;
                backoff(&mut spins);
            }
            // The journal thread only leaves once every sender is dropped: gone before
            // that, it died, and nothing more can be made durable. Fail closed.
            Err(TrySendError::Disconnected(_)) => {
                if !shared.failed() {
                    *shared.failure.lock() = Some("the journal thread stopped".into());
                    shared.failed.store(true, Ordering::Release);
                }
                return;
            }
        }
    }
}

/// Spin briefly, then give the core away: the journal thread may share it.
#[inline]
fn backoff(spins: &mut u32) {
    if *spins < 64 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
    *spins = spins.saturating_add(1);
}
