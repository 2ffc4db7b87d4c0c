//! The dead-letter file: JSON lines, one object per line.
//!
//! ```text
//! {"dead_letters":1,"run_id":"20240808T120000Z-1a2b","started_unix_ns":...,"instruments":[{"symbol":"X","price_precision":2,"qty_precision":3}]}
//! {"n":1,"source":"csv_row","time_unix_ns":...,"event_ts_ns":...,"origin":{"file":"a.csv","line":5,"columns":8},"reason":"a.csv:5: field 'bid': ...","raw_len":24,"raw":"1700000000000000005,X,1.x,2,,,,"}
//! {"n":2,"source":"kite_frame","time_unix_ns":...,"origin":{"socket":"kite ticker"},"reason":"kite message of 3 bytes truncated at byte 2: ...","raw_len":3,"raw_base64":"AAEA"}
//! ```
//!
//! Why this format: JSON lines append one letter at a time with no index to rewrite, so a
//! crash costs at most the last, partial line (which `read` reports and skips); every line
//! stands alone for `grep`, `jq` and `tail -f`. Raw bytes are kept exactly in one of two
//! ways: `raw`, the bytes as a JSON string, when they are UTF-8 (CSV rows and JSON order
//! updates: readable and greppable as they arrived), else `raw_base64` (binary frames and
//! records, a third larger than the bytes, where hex would double them). `raw_len` is the
//! byte count, checked on reading. The header carries the run's instrument table, because a
//! CSV row means nothing without the precisions it was parsed at: `dlq replay` starts from
//! it.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::{Letter, Origin, Source};
use crate::domain::InstrumentTable;

/// The format version, the header's `dead_letters` value.
pub const FORMAT_VERSION: u32 = 1;
/// Extension of dead-letter files.
pub const EXTENSION: &str = "jsonl";

/// The first line of a dead-letter file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Format version (`FORMAT_VERSION`).
    pub dead_letters: u32,
    pub run_id: String,
    /// Wall clock when the run's writer started, ns since the Unix epoch.
    pub started_unix_ns: u64,
    /// The instrument table the run's readers parsed with.
    pub instruments: Vec<Instrument>,
}

impl Header {
    pub fn new(run_id: &str, table: &InstrumentTable) -> Header {
        Header {
            dead_letters: FORMAT_VERSION,
            run_id: run_id.to_owned(),
            started_unix_ns: crate::clock::unix_now_ns(),
            instruments: table
                .iter()
                .map(|(_, s)| Instrument {
                    symbol: s.symbol.clone(),
                    price_precision: s.price_precision,
                    qty_precision: s.qty_precision,
                })
                .collect(),
        }
    }
}

/// One instrument of the run's table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instrument {
    pub symbol: String,
    pub price_precision: u8,
    pub qty_precision: u8,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredOrigin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    columns: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    socket: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    n: u64,
    source: String,
    time_unix_ns: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event_ts_ns: Option<u64>,
    origin: StoredOrigin,
    reason: String,
    raw_len: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    raw: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    raw_base64: Option<String>,
}

/// Appends the header line to `out`.
pub fn encode_header(header: &Header, out: &mut Vec<u8>) {
    // A struct of strings and integers always serializes.
    if serde_json::to_writer(&mut *out, header).is_ok() {
        out.push(b'\n');
    }
}

/// Appends letter number `n` as one line to `out`.
pub fn encode_letter(n: u64, letter: &Letter, out: &mut Vec<u8>) {
    let origin = match &letter.origin {
        Origin::Line {
            file,
            line,
            columns,
        } => StoredOrigin {
            file: Some(file.to_string()),
            line: Some(*line),
            columns: Some(*columns),
            ..StoredOrigin::default()
        },
        Origin::Record {
            file,
            offset,
            record,
        } => StoredOrigin {
            file: Some(file.to_string()),
            offset: Some(*offset),
            record: Some(*record),
            ..StoredOrigin::default()
        },
        Origin::Socket { name } => StoredOrigin {
            socket: Some(name.to_string()),
            ..StoredOrigin::default()
        },
    };
    let (raw, raw_base64) = match std::str::from_utf8(&letter.raw) {
        Ok(text) => (Some(text.to_owned()), None),
        Err(_) => (None, Some(BASE64.encode(&letter.raw))),
    };
    let stored = Stored {
        n,
        source: letter.source.name().to_owned(),
        time_unix_ns: letter.time_unix_ns,
        event_ts_ns: letter.event_ts_ns,
        origin,
        reason: letter.reason.clone(),
        raw_len: letter.raw.len(),
        raw,
        raw_base64,
    };
    if serde_json::to_writer(&mut *out, &stored).is_ok() {
        out.push(b'\n');
    }
}

/// Why a dead-letter file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line that is not what the format says; `line` is 1-based.
    #[error("{}:{line}: {message}", path.display())]
    Corrupt {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    NotFound { path: PathBuf, message: String },
}

/// A dead letter read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLetter {
    /// Its number in the file, from 1.
    pub n: u64,
    /// The file line it is on.
    pub line: u64,
    pub letter: Letter,
}

/// A dead-letter file read back.
#[derive(Clone, Debug)]
pub struct DeadLetterFile {
    pub path: PathBuf,
    pub header: Header,
    pub letters: Vec<StoredLetter>,
    /// The line number of an unfinished last line (a run that stopped mid-write), skipped.
    pub partial_tail: Option<u64>,
}

impl DeadLetterFile {
    /// Letter number `n`.
    pub fn get(&self, n: u64) -> Option<&StoredLetter> {
        self.letters.iter().find(|l| l.n == n)
    }
}

/// Reads a whole dead-letter file.
///
/// # Errors
/// The file cannot be read, its first line is not a dead-letter header, or a line other than
/// an unfinished last one is not a dead letter (named by line).
pub fn read(path: &Path) -> Result<DeadLetterFile, DlqError> {
    let io = |source| DlqError::Io {
        path: path.to_owned(),
        source,
    };
    let corrupt = |line: u64, message: String| DlqError::Corrupt {
        path: path.to_owned(),
        line,
        message,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut reader = std::io::BufReader::new(file);
    let mut header = None;
    let mut letters = Vec::new();
    let mut partial_tail = None;
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io)? == 0 {
            break;
        }
        line += 1;
        let finished = buf.last() == Some(&b'\n');
        let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let parsed = match &header {
            None => serde_json::from_slice::<Header>(text)
                .map_err(|e| format!("expected a dead-letter header line, {e}"))
                .and_then(|h| {
                    if h.dead_letters == FORMAT_VERSION {
                        Ok(Some(h))
                    } else {
                        Err(format!(
                            "expected dead-letter format {FORMAT_VERSION}, found {} (written by another version)",
                            h.dead_letters
                        ))
                    }
                })
                .map(|h| (h, None)),
            Some(_) => decode(text).map(|l| (None, Some(l))),
        };
        match parsed {
            Ok((Some(h), _)) => header = Some(h),
            Ok((None, Some(letter))) => letters.push(StoredLetter {
                n: letter.0,
                line,
                letter: letter.1,
            }),
            Ok((None, None)) => {}
            // A crash mid-write leaves one unfinished last line: skipped, and said so.
            Err(_) if !finished && header.is_some() => partial_tail = Some(line),
            Err(message) => return Err(corrupt(line, message)),
        }
    }
    let Some(header) = header else {
        return Err(corrupt(
            1,
            "expected a dead-letter header line, found an empty file".to_owned(),
        ));
    };
    Ok(DeadLetterFile {
        path: path.to_owned(),
        header,
        letters,
        partial_tail,
    })
}

/// One letter line → its number and the letter.
fn decode(text: &[u8]) -> Result<(u64, Letter), String> {
    let s: Stored =
        serde_json::from_slice(text).map_err(|e| format!("expected a dead letter, {e}"))?;
    let source = Source::parse(&s.source).ok_or_else(|| {
        format!(
            "field 'source': expected one of {}, found '{}'",
            Source::ALL.map(Source::name).join(", "),
            s.source
        )
    })?;
    let raw = match (s.raw, s.raw_base64) {
        (Some(text), None) => text.into_bytes(),
        (None, Some(b64)) => BASE64
            .decode(b64.as_bytes())
            .map_err(|e| format!("field 'raw_base64': expected base64, {e}"))?,
        _ => return Err("expected exactly one of 'raw' and 'raw_base64'".to_owned()),
    };
    if raw.len() != s.raw_len {
        return Err(format!(
            "field 'raw_len': says {} bytes, the raw field holds {}",
            s.raw_len,
            raw.len()
        ));
    }
    let o = s.origin;
    let origin = match (o.file, o.socket) {
        (Some(file), None) => match (o.line, o.offset, o.record) {
            (Some(line), None, None) => Origin::Line {
                file: Arc::from(file),
                line,
                columns: o.columns.unwrap_or(8),
            },
            (None, Some(offset), Some(record)) => Origin::Record {
                file: Arc::from(file),
                offset,
                record,
            },
            _ => {
                return Err(
                    "field 'origin': expected a file with a line, or with an offset and a record"
                        .to_owned(),
                );
            }
        },
        (None, Some(name)) => Origin::Socket {
            name: Arc::from(name),
        },
        _ => return Err("field 'origin': expected exactly one of 'file' and 'socket'".to_owned()),
    };
    Ok((
        s.n,
        Letter {
            source,
            reason: s.reason,
            time_unix_ns: s.time_unix_ns,
            event_ts_ns: s.event_ts_ns,
            origin,
            raw,
        },
    ))
}

/// The dead-letter files `path` names, oldest first: the file itself, or the `.jsonl` files
/// of a directory (of `DIR/dead_letters` when `DIR` is an output directory). Names are run
/// ids, which start with the UTC time, so name order is run order.
///
/// # Errors
/// The path does not exist or holds no dead-letter file.
pub fn locate(path: &Path) -> Result<Vec<PathBuf>, DlqError> {
    let not_found = |message: String| DlqError::NotFound {
        path: path.to_owned(),
        message,
    };
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    if !path.is_dir() {
        return Err(not_found(
            "no such file or directory (give a dead-letter file, a dead_letters directory or a run's output directory)".to_owned(),
        ));
    }
    let nested = path.join(super::DIR);
    let dir = if nested.is_dir() {
        nested
    } else {
        path.to_owned()
    };
    let entries = std::fs::read_dir(&dir).map_err(|source| DlqError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == EXTENSION))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(not_found(format!(
            "no dead-letter files (*.{EXTENSION}) in {}: the run had no dead letters, or wrote them elsewhere",
            dir.display()
        )));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(source: Source, raw: &[u8], origin: Origin) -> Letter {
        Letter {
            source,
            reason: "a.csv:3: field 'bid': expected a decimal number, found '1.x'".into(),
            time_unix_ns: 1_700_000_000_123_456_789,
            event_ts_ns: Some(1_700_000_000_000_000_005),
            origin,
            raw: raw.to_vec(),
        }
    }

    fn header() -> Header {
        Header {
            dead_letters: FORMAT_VERSION,
            run_id: "r".into(),
            started_unix_ns: 5,
            instruments: vec![Instrument {
                symbol: "X".into(),
                price_precision: 2,
                qty_precision: 0,
            }],
        }
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ap-dlq-file-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn letters_round_trip_with_their_exact_bytes() {
        let line = Origin::Line {
            file: "a.csv".into(),
            line: 3,
            columns: 9,
        };
        let record = Origin::Record {
            file: "a.bin".into(),
            offset: 128,
            record: 2,
        };
        let socket = Origin::Socket {
            name: "kite ticker".into(),
        };
        let letters = [
            letter(Source::CsvRow, b"1,X,1.x,2,,,,\r", line),
            letter(Source::BinaryRecord, &[0, 255, 10, 13, 0x80, 1], record),
            letter(Source::KiteFrame, b"", socket.clone()),
            letter(Source::KiteText, "caf\u{e9} \"q\"\n\\".as_bytes(), socket),
        ];
        let mut bytes = Vec::new();
        encode_header(&header(), &mut bytes);
        for (i, l) in letters.iter().enumerate() {
            encode_letter(i as u64 + 1, l, &mut bytes);
        }
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        assert_eq!(text.lines().count(), 5, "one line each: {text}");
        assert!(text.contains(r#""raw":"1,X,1.x,2,,,,\r""#), "{text}");
        assert!(text.contains(r#""raw_base64":"AP8KDYAB""#), "{text}");
        let dir = temp("round");
        let file = read(&write(&dir, "r.jsonl", &bytes)).expect("read");
        assert_eq!(file.header, header());
        assert_eq!(file.partial_tail, None);
        let back: Vec<Letter> = file.letters.iter().map(|l| l.letter.clone()).collect();
        assert_eq!(back, letters);
        assert_eq!(
            file.letters
                .iter()
                .map(|l| (l.n, l.line))
                .collect::<Vec<_>>(),
            [(1, 2), (2, 3), (3, 4), (4, 5)]
        );
    }

    #[test]
    fn an_unfinished_last_line_is_skipped_and_reported() {
        let mut bytes = Vec::new();
        encode_header(&header(), &mut bytes);
        let origin = Origin::Socket { name: "s".into() };
        encode_letter(
            1,
            &letter(Source::KiteText, b"x", origin.clone()),
            &mut bytes,
        );
        let mut second = Vec::new();
        encode_letter(2, &letter(Source::KiteText, b"y", origin), &mut second);
        bytes.extend_from_slice(&second[..second.len() / 2]);
        let dir = temp("partial");
        let file = read(&write(&dir, "p.jsonl", &bytes)).expect("read");
        assert_eq!((file.letters.len(), file.partial_tail), (1, Some(3)));
    }

    #[test]
    fn corrupt_files_are_named_by_line() {
        let mut good = Vec::new();
        encode_header(&header(), &mut good);
        let head = String::from_utf8(good).expect("utf8");
        let cases = [
            (
                "empty",
                String::new(),
                ":1: expected a dead-letter header line, found an empty",
            ),
            (
                "not json",
                "hello\n".to_owned(),
                ":1: expected a dead-letter header line",
            ),
            (
                "other version",
                head.replace("\"dead_letters\":1", "\"dead_letters\":9"),
                ":1: expected dead-letter format 1, found 9",
            ),
            (
                "broken middle line",
                format!("{head}{{\"n\":1}}\n{{}}\n"),
                ":2: expected a dead letter",
            ),
            (
                "unknown source",
                format!(
                    "{head}{}\n",
                    r#"{"n":1,"source":"fax","time_unix_ns":1,"origin":{"socket":"s"},"reason":"r","raw_len":1,"raw":"x"}"#
                ),
                ":2: field 'source': expected one of csv_row, binary_record",
            ),
            (
                "length mismatch",
                format!(
                    "{head}{}\n",
                    r#"{"n":1,"source":"kite_text","time_unix_ns":1,"origin":{"socket":"s"},"reason":"r","raw_len":2,"raw":"x"}"#
                ),
                ":2: field 'raw_len': says 2 bytes, the raw field holds 1",
            ),
            (
                "bad base64",
                format!(
                    "{head}{}\n",
                    r#"{"n":1,"source":"kite_frame","time_unix_ns":1,"origin":{"socket":"s"},"reason":"r","raw_len":1,"raw_base64":"!!"}"#
                ),
                ":2: field 'raw_base64': expected base64",
            ),
            (
                "both raw fields",
                format!(
                    "{head}{}\n",
                    r#"{"n":1,"source":"kite_frame","time_unix_ns":1,"origin":{"socket":"s"},"reason":"r","raw_len":1,"raw":"x","raw_base64":"eA=="}"#
                ),
                ":2: expected exactly one of 'raw' and 'raw_base64'",
            ),
            (
                "origin with nothing",
                format!(
                    "{head}{}\n",
                    r#"{"n":1,"source":"kite_frame","time_unix_ns":1,"origin":{},"reason":"r","raw_len":1,"raw":"x"}"#
                ),
                ":2: field 'origin': expected exactly one of",
            ),
        ];
        let dir = temp("corrupt");
        for (name, text, says) in cases {
            let path = write(&dir, "c.jsonl", text.as_bytes());
            let error = read(&path).expect_err(name).to_string();
            assert!(
                error.starts_with(&path.display().to_string()),
                "{name}: {error}"
            );
            assert!(error.contains(says), "{name}: {error}");
        }
    }

    #[test]
    fn locate_finds_files_in_a_run_dir_oldest_first() {
        let dir = temp("locate");
        let nested = dir.join(super::super::DIR);
        std::fs::create_dir_all(&nested).expect("dir");
        for name in [
            "20240102T000000Z-1.jsonl",
            "20240101T000000Z-1.jsonl",
            "notes.txt",
        ] {
            write(&nested, name, b"");
        }
        let names = |files: Vec<PathBuf>| -> Vec<String> {
            files
                .iter()
                .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
                .collect()
        };
        let expected = ["20240101T000000Z-1.jsonl", "20240102T000000Z-1.jsonl"];
        assert_eq!(names(locate(&dir).expect("run dir")), expected);
        assert_eq!(names(locate(&nested).expect("dlq dir")), expected);
        let one = nested.join(expected[1]);
        assert_eq!(locate(&one).expect("file"), [one]);
        let error = locate(&dir.join("nope")).expect_err("missing").to_string();
        assert!(error.contains("no such file or directory"), "{error}");
        let empty = temp("locate-empty");
        let error = locate(&empty).expect_err("empty").to_string();
        assert!(error.contains("no dead-letter files"), "{error}");
    }
}
