//! Market data feed: CSV and binary tick files (told apart by content) streamed into
//! `Tick`s, merged across files in time order.
//!
//! Contract:
//! - Call `scan_instruments` over all sources first: it interns symbols (first appearance,
//!   files in order) and fixes each symbol's precisions, so the main pass can turn decimal
//!   text into fixed-point integers as it streams.
//! - `TickReader::read_chunk` then delivers ticks in time order; equal timestamps keep source
//!   order, then row order. Every file must be sorted by time (checked).
//! - Memory does not grow with the data: each source is read through one fixed buffer.
//! - Bad rows follow `BadRowPolicy`: `Reject` fails at the first one, after delivering every
//!   tick of the rows before it; `Skip` counts them and keeps the first
//!   `MAX_SKIPPED_EXAMPLES` messages. A wrong header is always an error.
//! - With a dead-letter sink (`TickReader::set_dead_letters`), every skipped row or record
//!   is also handed to it with its raw bytes; `decode_row` and `decode_record` decode one
//!   again alone with the same parser (`dlq replay`).
//! - `convert_to_binary` writes the compact binary format (see `binary`), read at over 1 GB/s.

mod binary;
pub mod config;
mod csv;
mod distinct;
pub mod kite;
mod reader;
mod replay;
pub(crate) mod rules;
mod scan;
pub mod socket;
mod stream;
mod symbols;

use std::path::PathBuf;

pub(crate) use binary::decode_record;
pub(crate) use binary::reseal;
pub use binary::{ConvertStats, FORMAT_VERSION, MAGIC, RECORD_SIZE, convert_to_binary};
pub(crate) use csv::decode_row;
pub use reader::TickReader;
pub use replay::ReplaySource;
pub use scan::{ScanInfo, SourceInfo, scan_instruments};

use crate::domain::InstrumentError;

/// Skipped rows whose messages are kept for the report; the rest are only counted.
pub const MAX_SKIPPED_EXAMPLES: usize = 20;

/// Where ticks come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSource {
    /// A CSV or binary tick file.
    File(PathBuf),
    /// CSV or binary bytes compiled into the binary; `name` stands for the path in messages.
    Embedded {
        name: &'static str,
        bytes: &'static [u8],
    },
}

impl DataSource {
    /// The path or embedded name, as used in messages.
    pub fn name(&self) -> String {
        match self {
            DataSource::File(path) => path.display().to_string(),
            DataSource::Embedded { name, .. } => (*name).to_owned(),
        }
    }
}

/// How a source is encoded, found from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceFormat {
    Csv,
    Binary,
}

/// Why the feed cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// A file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A CSV row that breaks the format; `line` is 1-based and the header is line 1.
    #[error("{file}:{line}: field '{field}': {message}")]
    BadRow {
        file: String,
        line: u64,
        field: &'static str,
        message: String,
    },
    /// A binary record that breaks the format or the CSV rules; `offset` is the record's
    /// first byte in the file, `record` is 1-based.
    #[error("{file}: byte {offset}: record {record}: field '{field}': {message}")]
    BadRecord {
        file: String,
        offset: u64,
        record: u64,
        field: &'static str,
        message: String,
    },
    /// A CSV source whose first line is not the required header.
    #[error("{file}:1: expected header '{expected}', found '{found}'", expected = csv::HEADER)]
    Header { file: String, found: String },
    /// A source that is not a valid file of its format (truncated, corrupt, unknown symbol).
    #[error("{file}: {message}")]
    Format { file: String, message: String },
    /// An instrument precision above `MAX_PRECISION` (from an override).
    #[error(transparent)]
    Instrument(#[from] InstrumentError),
}

/// Counters of a `TickReader`, all sources together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// Data rows (CSV) and records (binary) read, bad ones included.
    pub rows: u64,
    /// Quote ticks produced (they may still sit in a merge buffer).
    pub quotes: u64,
    /// Trade ticks produced.
    pub trades: u64,
    /// Bad rows and records skipped under `BadRowPolicy::Skip`.
    pub skipped_rows: u64,
    /// Messages of the first `MAX_SKIPPED_EXAMPLES` skipped rows, in read order.
    pub skipped_examples: Vec<String>,
    /// Bytes consumed so far, for a progress bar (equals `bytes_total` at the end; runs a
    /// buffer ahead of delivery when merging).
    pub bytes_read: u64,
    /// Size of all sources in bytes.
    pub bytes_total: u64,
}

/// Test data at plausible times: the readers refuse `ts_ns` before 2000 (`rules`).
#[cfg(test)]
pub(crate) mod test_time {
    /// 2023-11-14T22:13:20Z in ns; test rows write small offsets from it.
    pub(crate) const T0: u64 = 1_700_000_000_000_000_000;

    /// `text` with the leading `ts_ns` of every line after the first, when it is a plain
    /// integer `n` below 10^9, replaced by `T0 + n`; anything else (the header, `2x`, `-2`,
    /// a timestamp in ms or ns) is kept.
    pub(crate) fn at_t0(text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 32);
        for (i, line) in text.split_inclusive('\n').enumerate() {
            let (first, rest) = line.split_at(line.find([',', '\n', '\r']).unwrap_or(line.len()));
            match first.parse::<u64>() {
                Ok(n)
                    if i > 0 && n < 1_000_000_000 && first.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    out.push_str(&(T0 + n).to_string());
                    out.push_str(rest);
                }
                _ => out.push_str(line),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_display_table() {
        let cases = [
            (
                "bad row",
                FeedError::BadRow {
                    file: "a.csv".into(),
                    line: 7,
                    field: "bid",
                    message: "expected x, found y".into(),
                },
                "a.csv:7: field 'bid': expected x, found y",
            ),
            (
                "bad record",
                FeedError::BadRecord {
                    file: "a.bin".into(),
                    offset: 160,
                    record: 3,
                    field: "kind",
                    message: "m".into(),
                },
                "a.bin: byte 160: record 3: field 'kind': m",
            ),
            (
                "header",
                FeedError::Header {
                    file: "a.csv".into(),
                    found: "ts".into(),
                },
                "a.csv:1: expected header 'ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size', found 'ts'",
            ),
            (
                "format",
                FeedError::Format {
                    file: "a.bin".into(),
                    message: "truncated".into(),
                },
                "a.bin: truncated",
            ),
        ];
        for (name, error, expected) in cases {
            assert_eq!(error.to_string(), expected, "{name}");
        }
    }
}
