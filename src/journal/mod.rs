//! The journal: an append-only, checksummed, sequenced record of a live run, from which a
//! restart recovers.
//!
//! Contract:
//! - What is recorded (`Entry`): a `Start` per (re)start (run id, config fingerprint), every
//!   tick as the feed hands it to the strategies, every request risk passed as execution
//!   hands it to a venue (`Order`), every refusal by risk (`Refused`), every venue event
//!   including fills (`Event`), and `End` once a run went through all its data and wrote its
//!   results. Payloads are the runtime's own message types, bincode-encoded.
//! - Who writes: one journal thread (`writer::spawn`), fed over lossless rings by the feed
//!   (ticks) and the execution stage (orders, refusals, events); no stage thread does
//!   journal I/O. A full ring makes its producer wait (counted), never drops a record.
//! - Durability: an order for a live venue is written (`fsync = "never"`) or written and
//!   synced (`"always"`, `"batch"`) before the venue sees it (`JournalLink::order`). A
//!   failed write or sync latches the journal failed: every later order is refused
//!   (`JOURNAL_FAILED`), the run is asked to stop, and the reason goes to `error.log`.
//! - Files (`format`): segments `journal-<first seq>.apj` in the journal dir; every record
//!   carries its length, a CRC-32C, its sequence number, its type and the type's schema
//!   version (`docs/schemas/journal.md`).
//! - Reading (`reader`): a record cut short at the end of the last segment (a torn tail from
//!   a crash mid-write) is reported so start-up can truncate it; any other bad record is
//!   refused with `FILE:OFFSET: what`.
//! - Recovery (`recover`): ticks are replayed through the same engine; the stages are
//!   deterministic, so positions, open orders, risk state, fills and strategy state come out
//!   as they were; a replay feed then resumes after the last journaled tick.

pub mod config;
pub mod format;
pub mod link;
pub mod reader;
pub mod recover;
pub mod retention;
#[cfg(test)]
mod tests;
pub mod writer;

use serde::{Deserialize, Serialize};

use crate::domain::{OrderEvent, OrderRequest, Tick};

pub use config::{FsyncPolicy, JournalConfig};
pub use link::{JournalLink, JournalShared};
pub use reader::{JournalError, JournalReader};

/// Written once at every (re)start of a run, first in its segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRecord {
    pub run_id: String,
    /// Hash of the engine config, strategies and data that a recovery must match.
    pub fingerprint: String,
    /// The engine's version (`CARGO_PKG_VERSION`).
    pub engine_version: String,
    /// Ticks replayed from this journal before this run went on.
    pub replayed_ticks: u64,
    /// Wall clock at start, ns since the epoch (informational).
    pub wall_ns: u64,
    /// Instrument symbols by `InstrumentId`, and their price and quantity precisions, so
    /// the journal reads on its own.
    pub instruments: Vec<(String, u8, u8)>,
    /// Book names (`strategy@broker`) by `BookId`.
    pub books: Vec<String>,
}

/// Written after a run went through all its data and its results are on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndRecord {
    pub ticks: u64,
    pub wall_ns: u64,
}

/// One journal record's payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Start(StartRecord),
    Tick(Tick),
    /// A request risk passed, as execution handed it to its venue.
    Order(OrderRequest),
    /// Risk's refusal of a request.
    Refused(OrderEvent),
    /// A venue's event: acceptance, fill, cancel, expiry, modify, refusal.
    Event(OrderEvent),
    End(EndRecord),
}

/// What the execution stage sends to the journal thread (a `Copy` value, so the ring slot is
/// a plain copy).
#[derive(Clone, Copy, Debug)]
pub enum ExecRecord {
    Order(OrderRequest),
    Refused(OrderEvent),
    Event(OrderEvent),
    End(EndRecord),
}

impl From<ExecRecord> for Entry {
    fn from(r: ExecRecord) -> Entry {
        match r {
            ExecRecord::Order(o) => Entry::Order(o),
            ExecRecord::Refused(e) => Entry::Refused(e),
            ExecRecord::Event(e) => Entry::Event(e),
            ExecRecord::End(e) => Entry::End(e),
        }
    }
}

/// Record types as stored (one byte); stable: a number is never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Start = 1,
    Tick = 2,
    Order = 3,
    Refused = 4,
    Event = 5,
    End = 6,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Start,
        Kind::Tick,
        Kind::Order,
        Kind::Refused,
        Kind::Event,
        Kind::End,
    ];

    pub fn from_byte(b: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u8 == b)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Start => "start",
            Kind::Tick => "tick",
            Kind::Order => "order",
            Kind::Refused => "refused",
            Kind::Event => "event",
            Kind::End => "end",
        }
    }

    /// The schema version this engine writes for the type. Bump it when the payload's shape
    /// changes (the golden test in `format` fails until you do), and keep reading the old
    /// versions.
    pub fn version(self) -> u8 {
        1
    }
}

impl Entry {
    pub fn kind(&self) -> Kind {
        match self {
            Entry::Start(_) => Kind::Start,
            Entry::Tick(_) => Kind::Tick,
            Entry::Order(_) => Kind::Order,
            Entry::Refused(_) => Kind::Refused,
            Entry::Event(_) => Kind::Event,
            Entry::End(_) => Kind::End,
        }
    }
}
