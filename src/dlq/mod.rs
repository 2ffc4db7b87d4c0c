//! Dead letters: every inbound message the engine could not use — a CSV row or binary record
//! skipped under `bad_rows = "skip"`, a Kite ticker frame that does not decode, a Kite order
//! update it cannot read or does not know — kept with its source, the reason the engine
//! gives, when it came, where from, and its raw bytes, so it can be looked at and replayed
//! through the same decoder once the cause is fixed (`alpha-panda dlq`).
//!
//! Contract:
//! - One append-only JSON-lines file per run, `<output dir>/dead_letters/<run id>.jsonl`
//!   (`file`), created on the first dead letter: a clean run leaves no file. Line 1 is a
//!   header (format version, run id, the run's instrument table); each further line is one
//!   dead letter, numbered from 1.
//! - Writing happens on one writer thread (`writer`), never on the thread that found the
//!   letter. File readers hand letters over with `DeadLetters::record`, which waits when
//!   the queue is full: they are reading a file and can wait, and a backtest must lose no
//!   letter. Socket and engine threads use `DeadLetters::offer`, which never waits: a full
//!   queue drops the letter and counts it (`alpha_panda_dead_letters_dropped_total`), so
//!   market data and orders are never held up by a disk.
//! - Every dead letter is counted by source (`alpha_panda_dead_letters_total{source}`) when
//!   it is handed over, written or not.
//! - Building a letter allocates (its reason and raw bytes): dead letters are the rare path,
//!   never per tick. Nothing here runs for a message the engine uses.
//! - The file is flushed whenever the queue runs empty and at the end of the run; a partial
//!   last line left by a crash is reported and skipped by the reader (`file::read`).
//! - `replay` decodes letters again with the production decoders (CSV row parser with an
//!   instrument table, binary record rules, Kite frame decoder, Kite order parser).

pub mod file;
pub mod replay;
pub mod writer;

use std::sync::Arc;

pub use file::{DeadLetterFile, Header, Instrument, StoredLetter};
pub use writer::{DeadLetterWriter, DeadLetters, WriterReport};

/// Directory under a run's output directory that holds its dead-letter files.
pub const DIR: &str = "dead_letters";

/// What kind of input a dead letter was: the `source` label of
/// `alpha_panda_dead_letters_total`, and the decoder `replay` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A tick CSV row (without its newline).
    CsvRow,
    /// A 64-byte record of a binary tick file.
    BinaryRecord,
    /// A binary message of the Kite ticker socket.
    KiteFrame,
    /// A text message of the Kite ticker socket that is not Kite JSON.
    KiteText,
    /// An order update (postback) from the Kite ticker socket.
    KiteOrderUpdate,
}

impl Source {
    pub const COUNT: usize = 5;
    pub const ALL: [Source; Source::COUNT] = [
        Source::CsvRow,
        Source::BinaryRecord,
        Source::KiteFrame,
        Source::KiteText,
        Source::KiteOrderUpdate,
    ];

    /// The stable name, in files and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Source::CsvRow => "csv_row",
            Source::BinaryRecord => "binary_record",
            Source::KiteFrame => "kite_frame",
            Source::KiteText => "kite_text",
            Source::KiteOrderUpdate => "kite_order_update",
        }
    }

    pub fn parse(name: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Where a dead letter came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Line `line` (1-based, the header is line 1) of a CSV file with `columns` fields.
    Line {
        file: Arc<str>,
        line: u64,
        columns: u8,
    },
    /// Record `record` (1-based) of a binary tick file, at byte `offset`.
    Record {
        file: Arc<str>,
        offset: u64,
        record: u64,
    },
    /// A live connection, by name (never its URL: that carries credentials).
    Socket { name: Arc<str> },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Line { file, line, .. } => write!(f, "{file}:{line}"),
            Origin::Record { file, offset, .. } => write!(f, "{file}: byte {offset}"),
            Origin::Socket { name } => f.write_str(name),
        }
    }
}

/// One dead letter, as the thread that found it hands it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Letter {
    pub source: Source,
    /// The message the engine logs for it (`FILE:LINE: field 'NAME': ...`).
    pub reason: String,
    /// Wall clock when it was found, ns since the Unix epoch.
    pub time_unix_ns: u64,
    /// Its own event time when it has a readable one, ns since the Unix epoch.
    pub event_ts_ns: Option<u64>,
    pub origin: Origin,
    /// The bytes as they arrived (a CSV row without its newline).
    pub raw: Vec<u8>,
}

impl Letter {
    /// A letter found now.
    pub fn now(source: Source, reason: String, origin: Origin, raw: Vec<u8>) -> Letter {
        Letter {
            source,
            reason,
            time_unix_ns: crate::clock::unix_now_ns(),
            event_ts_ns: None,
            origin,
            raw,
        }
    }

    #[must_use]
    pub fn with_event_ts(mut self, ts: Option<u64>) -> Letter {
        self.event_ts_ns = ts;
        self
    }
}

/// Name of the socket origin of the Kite ticker.
pub const KITE_TICKER: &str = "kite ticker";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_round_trip_and_are_unique() {
        for source in Source::ALL {
            assert_eq!(Source::parse(source.name()), Some(source), "{source:?}");
            assert_eq!(
                Source::ALL
                    .iter()
                    .filter(|s| s.name() == source.name())
                    .count(),
                1,
                "{source:?}"
            );
        }
        assert_eq!(Source::parse("nope"), None);
    }

    #[test]
    fn origins_display_like_engine_messages() {
        let cases = [
            (
                Origin::Line {
                    file: "a.csv".into(),
                    line: 7,
                    columns: 8,
                },
                "a.csv:7",
            ),
            (
                Origin::Record {
                    file: "a.bin".into(),
                    offset: 160,
                    record: 3,
                },
                "a.bin: byte 160",
            ),
            (
                Origin::Socket {
                    name: KITE_TICKER.into(),
                },
                "kite ticker",
            ),
        ];
        for (origin, text) in cases {
            assert_eq!(origin.to_string(), text, "{origin:?}");
        }
    }
}
