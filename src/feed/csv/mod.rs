//! CSV tick files (`ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size`, optionally
//! followed by `exchange_ts_ns`, the exchange's own time of a recorded live tick, which is
//! validated and otherwise ignored): the pre-scan that only counts decimals, and the
//! validating parser that turns rows into ticks.
//!
//! Why a hand-written splitter and not the `csv` crate: a load is two passes over the bytes
//! (scan, then parse), and the format has no quoting. Measured on the 64 MB Lean FX file
//! (release, 2-core EPYC): a reused `csv::ByteRecord` loop that does nothing but count
//! decimals runs ~490 MB/s, and one that only parses the numbers ~440 MB/s, so at most
//! ~230 MB/s for both passes before any validation or tick building. Splitting lines 8 bytes
//! at a time (`split_line`) runs the whole scan at ~1.4 GB/s and scan + parse into ticks at
//! ~450 MB/s. A quoted field is not special here: it fails number parsing and is reported as
//! a bad row.
mod line;
mod problem;
mod row;
mod scan;

pub(crate) use line::{HEADER, HEADER_EXCHANGE_TS};
pub(super) use row::{TickFields, ticks_from_fields};
pub(crate) use scan::scan;

use std::sync::Arc;

use super::stream::ByteStream;
use super::{FeedError, FeedStats};
use crate::config::BadRowPolicy;
use crate::dlq::DeadLetters;
use crate::domain::{InstrumentTable, Tick};
use line::{Layout, MAX_COMMAS, line_too_long, read_header, split_line};
use row::{CARRY_CAPACITY, Carry, RowParser};

/// A CSV source in the main pass: streams rows from the read buffer into ticks.
#[derive(Debug)]
pub(super) struct CsvSource {
    stream: ByteStream,
    rows: RowParser,
    /// Ticks that did not fit in the caller's chunk (a row's trade, a held row's ticks).
    carry: Carry,
}

impl CsvSource {
    /// Checks the header of a source known not to be binary.
    ///
    /// # Errors
    /// A read error or a bad header.
    pub(super) fn open(
        mut stream: ByteStream,
        table: &InstrumentTable,
        policy: BadRowPolicy,
    ) -> Result<CsvSource, FeedError> {
        let layout = read_header(&mut stream)?;
        let rows = RowParser::new(stream.name().clone(), table, policy, layout);
        Ok(CsvSource {
            stream,
            rows,
            carry: Carry::with_capacity(CARRY_CAPACITY),
        })
    }

    /// The byte input.
    pub(super) fn stream(&self) -> &ByteStream {
        &self.stream
    }

    /// Hands every row skipped from now on to `sink` (see `row`).
    pub(super) fn set_dead_letters(&mut self, sink: DeadLetters) {
        self.rows.set_dead_letters(sink);
    }

    /// Appends ticks to `out` until it holds `limit`; returns true at the end of the source.
    ///
    /// # Errors
    /// A read error, or a bad row under `BadRowPolicy::Reject` (ticks of the rows before it
    /// are in `out`).
    pub(super) fn fill(
        &mut self,
        out: &mut Vec<Tick>,
        limit: usize,
        stats: &mut FeedStats,
    ) -> Result<bool, FeedError> {
        while out.len() < limit
            && let Some(tick) = self.carry.pop_front()
        {
            out.push(tick);
        }
        let mut commas = [0usize; MAX_COMMAS];
        loop {
            if out.len() >= limit {
                return Ok(false);
            }
            let available = self.stream.available();
            let mut pos = 0;
            let mut result = Ok(());
            while out.len() < limit {
                let rest = &available[pos..];
                let (newline, count) = split_line(rest, &mut commas);
                let Some(newline) = newline else { break };
                pos += newline + 1;
                result = self.rows.row(
                    &rest[..newline],
                    &commas,
                    count,
                    out,
                    limit,
                    &mut self.carry,
                    stats,
                );
                if result.is_err() {
                    break;
                }
            }
            self.stream.consume(pos);
            result?;
            if out.len() >= limit {
                return Ok(false);
            }
            if self.stream.is_full() {
                return Err(line_too_long(&self.stream, Some(self.rows.line() + 1)));
            }
            if self.stream.refill()? == 0 {
                // The last line may lack its newline.
                let rest = self.stream.available();
                if !rest.is_empty() {
                    let (_, count) = split_line(rest, &mut commas);
                    let len = rest.len();
                    let result =
                        self.rows
                            .row(rest, &commas, count, out, limit, &mut self.carry, stats);
                    self.stream.consume(len);
                    result?;
                }
                self.rows.finish(out, limit, &mut self.carry, stats);
                return Ok(self.carry.is_empty());
            }
        }
    }
}
/// One CSV row (`raw`, without its newline) decoded alone by the parser a run uses, as line
/// `line` of `file` with `columns` fields (8, or 9 with `exchange_ts_ns`), under `Reject`:
/// its ticks, or the error a run would report. Rules that need the rows around it (time
/// going backwards, a far jump) have no previous row to compare with here.
///
/// # Errors
/// The row is bad for this `table`, or holds a newline.
pub(crate) fn decode_row(
    file: &str,
    line: u64,
    columns: u8,
    raw: &[u8],
    table: &InstrumentTable,
) -> Result<Vec<Tick>, FeedError> {
    let bad = |message: &str| FeedError::BadRow {
        file: file.to_owned(),
        line,
        field: line::FIELDS[0],
        message: message.to_owned(),
    };
    if raw.contains(&b'\n') {
        return Err(bad("expected one row, found a newline inside it"));
    }
    let layout = if columns == 9 {
        Layout::WithExchangeTs
    } else {
        Layout::Ticks
    };
    let mut rows = RowParser::new(Arc::from(file), table, BadRowPolicy::Reject, layout);
    rows.start_at(line.saturating_sub(1));
    let mut commas = [0usize; MAX_COMMAS];
    let (_, count) = split_line(raw, &mut commas);
    let (mut out, mut carry) = (Vec::with_capacity(2), Carry::with_capacity(CARRY_CAPACITY));
    let mut stats = FeedStats::default();
    rows.row(raw, &commas, count, &mut out, 2, &mut carry, &mut stats)?;
    if stats.rows == 0 {
        return Err(bad("expected a row, found an empty line"));
    }
    out.extend(carry);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::test_time::{T0, at_t0};
    use super::super::{DataSource, MAX_SKIPPED_EXAMPLES, TickReader, scan_instruments};
    use super::*;
    use crate::domain::TickFlags;
    use crate::domain::{Nanos, TickKind};

    fn embedded(text: &'static str) -> DataSource {
        DataSource::Embedded {
            name: "t.csv",
            bytes: text.as_bytes(),
        }
    }

    /// Scans and reads one CSV text; returns the ticks, the stats and the error if any.
    fn load(
        text: &'static str,
        policy: BadRowPolicy,
    ) -> (Vec<Tick>, FeedStats, Option<FeedError>, InstrumentTable) {
        let sources = [embedded(at_t0(text).leak())];
        let mut table = InstrumentTable::new();
        scan_instruments(&sources, &[], &mut table).expect("scan");
        let mut reader = TickReader::open(&sources, &table, policy).expect("open");
        let mut ticks = Vec::new();
        let mut chunk = Vec::new();
        let error = loop {
            match reader.read_chunk(&mut chunk, 3) {
                Ok(0) => break None,
                Ok(_) => ticks.extend_from_slice(&chunk),
                Err(e) => break Some(e),
            }
        };
        (ticks, reader.stats().clone(), error, table)
    }

    const H: &str = "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n";

    #[test]
    fn bad_rows_name_file_line_and_field() {
        struct Case {
            name: &'static str,
            row: &'static str,
            field: &'static str,
            says: &'static str,
        }
        let cases = [
            Case {
                name: "too few fields",
                row: "2,A,1.0,1.1",
                field: "bid_size",
                says: "found 4",
            },
            Case {
                name: "too many fields",
                row: "2,A,1.0,1.1,,,,,9",
                field: "last_size",
                says: "found 9",
            },
            Case {
                name: "bad ts",
                row: "2x,A,1.0,1.1,,,,",
                field: "ts_ns",
                says: "found '2x'",
            },
            Case {
                name: "negative ts",
                row: "-2,A,1.0,1.1,,,,",
                field: "ts_ns",
                says: "found '-2'",
            },
            Case {
                name: "empty ts",
                row: ",A,1.0,1.1,,,,",
                field: "ts_ns",
                says: "found ''",
            },
            Case {
                name: "time backwards",
                row: "0,A,1.0,1.1,,,,",
                field: "ts_ns",
                says: "expected a timestamp >= 1700000000000000001 (the previous row's, line 2;",
            },
            Case {
                name: "milliseconds",
                row: "1700000000000,A,1.0,1.1,,,,",
                field: "ts_ns",
                says: "found 1700000000000 (it looks like milliseconds since the epoch)",
            },
            Case {
                name: "seconds",
                row: "1700000000,A,1.0,1.1,,,,",
                field: "ts_ns",
                says: "from 2000-01-01 up to 2100-01-01, found 1700000000 (it looks like seconds",
            },
            Case {
                name: "price that would overflow a sum",
                row: "2,A,100000000000000000.1,1.1,,,,",
                field: "bid",
                says: "expected at most 100000000000000000 (10^18 raw",
            },
            Case {
                name: "price beyond 64 bits",
                row: "2,A,1.0,99999999999999999999,,,,",
                field: "ask",
                says: "expected at most 100000000000000000 ",
            },
            Case {
                name: "size that would overflow a sum",
                row: "2,A,1.0,1.1,100000000000000000.1,,,",
                field: "bid_size",
                says: "expected at most 100000000000000000 ",
            },
            Case {
                name: "empty symbol",
                row: "2,,1.0,1.1,,,,",
                field: "symbol",
                says: "empty field",
            },
            Case {
                name: "bad bid",
                row: "2,A,1.x,1.1,,,,",
                field: "bid",
                says: "found '1.x'",
            },
            Case {
                name: "zero ask",
                row: "2,A,1.0,0.0,,,,",
                field: "ask",
                says: "price > 0",
            },
            Case {
                name: "negative bid",
                row: "2,A,-1.0,1.1,,,,",
                field: "bid",
                says: "price > 0",
            },
            Case {
                name: "negative size",
                row: "2,A,1.0,1.1,-5,,,",
                field: "bid_size",
                says: "size >= 0",
            },
            Case {
                name: "bad ask size",
                row: "2,A,1.0,1.1,,abc,,",
                field: "ask_size",
                says: "found 'abc'",
            },
            Case {
                name: "zero last",
                row: "2,A,,,,,0,1",
                field: "last",
                says: "price > 0",
            },
            Case {
                name: "bad last size",
                row: "2,A,,,,,1.0,1e3",
                field: "last_size",
                says: "found '1e3'",
            },
            Case {
                name: "no prices",
                row: "2,A,,,,,,",
                field: "bid",
                says: "found none",
            },
            Case {
                name: "half a trade",
                row: "2,A,,,,,,5",
                field: "last",
                says: "last_size is given",
            },
            Case {
                name: "sizes without quote",
                row: "2,A,,,5,,1.0,",
                field: "bid",
                says: "bid_size/ask_size",
            },
            Case {
                name: "too many decimals",
                row: "2,A,1.0,1.123456789012,,,,",
                field: "ask",
                says: "at most",
            },
        ];
        for case in cases {
            let text: &'static str =
                format!("{H}1,A,1.0,1.1,,,,\n{}\n3,A,1.0,1.1,,,,\n", case.row).leak();
            let (ticks, stats, error, _) = load(text, BadRowPolicy::Reject);
            let message = error.map(|e| e.to_string()).unwrap_or_default();
            assert!(
                message.starts_with(&format!("t.csv:3: field '{}': ", case.field)),
                "{}: {message}",
                case.name
            );
            assert!(message.contains(case.says), "{}: {message}", case.name);
            assert_eq!(
                ticks.len(),
                1,
                "{}: the good row before is delivered",
                case.name
            );
            assert_eq!(stats.rows, 2, "{}: rows read", case.name);

            let (ticks, stats, error, _) = load(text, BadRowPolicy::Skip);
            assert!(error.is_none(), "{}: skip continues", case.name);
            assert_eq!(
                (ticks.len(), stats.skipped_rows),
                (2, 1),
                "{}: skipped",
                case.name
            );
            assert!(
                stats.skipped_examples[0].contains(case.says),
                "{}: example",
                case.name
            );
        }
    }

    /// Reads `text` (shifted by `at_t0`) in chunks of `chunk`; returns ticks as offsets from
    /// `T0`, the skipped examples and the error.
    fn read_in_chunks(
        text: &str,
        policy: BadRowPolicy,
        chunk: usize,
    ) -> (Vec<(u64, TickKind)>, Vec<String>, Option<String>) {
        let sources = [embedded(at_t0(text).leak())];
        let mut table = InstrumentTable::new();
        scan_instruments(&sources, &[], &mut table).expect("scan");
        let mut reader = TickReader::open(&sources, &table, policy).expect("open");
        let mut ticks = Vec::new();
        let mut buf = Vec::new();
        let error = loop {
            match reader.read_chunk(&mut buf, chunk) {
                Ok(0) => break None,
                Ok(n) => {
                    assert!(n <= chunk, "chunk bound");
                    ticks.extend(buf.iter().map(|t| (t.ts.0.wrapping_sub(T0), t.kind)));
                }
                Err(e) => break Some(e.to_string()),
            }
        };
        let stats = reader.stats();
        assert_eq!(
            stats.quotes + stats.trades,
            ticks.len() as u64,
            "counted ticks are delivered"
        );
        (ticks, stats.skipped_examples.clone(), error)
    }

    #[test]
    fn a_far_jump_is_the_bad_row_when_the_next_row_goes_back() {
        const TYPO: &str = "1800000000000000000"; // 2027, in a 2023 file
        const DAYS_3: u64 = 3 * 86_400_000_000_000;
        struct Case {
            name: &'static str,
            rows: String,
            /// Offsets from T0 delivered under Skip, and the skipped examples' starts.
            skip: Vec<u64>,
            skipped: Vec<&'static str>,
            /// Delivered under Reject, and the error's start.
            reject: Vec<u64>,
            error: Option<&'static str>,
        }
        let typo = TYPO.parse::<u64>().expect("typo") - T0;
        let cases = [
            Case {
                name: "typo in the middle costs one row",
                rows: format!(
                    "1,A,1,2,,,,\n2,A,1,2,,,,\n{TYPO},A,1,2,,,,\n3,A,1,2,,,,\n4,A,1,2,,,,\n"
                ),
                skip: vec![1, 2, 3, 4],
                skipped: vec![
                    "t.csv:4: field 'ts_ns': expected a timestamp the next row confirms, found 1800000000000000000 (99999999 s after line 3 (1700000000000000002)) while line 5 goes back to 1700000000000000003; skipped as a typo",
                ],
                reject: vec![1, 2, typo],
                error: Some(
                    "t.csv:5: field 'ts_ns': expected a timestamp >= 1800000000000000000 (the previous row's, line 4;",
                ),
            },
            Case {
                name: "a weekend gap is kept",
                rows: format!(
                    "1,A,1,2,,,,\n{},A,1,2,,,,\n{},A,1,2,,,,\n",
                    T0 + DAYS_3,
                    T0 + DAYS_3 + 1
                ),
                skip: vec![1, DAYS_3, DAYS_3 + 1],
                skipped: vec![],
                reject: vec![1, DAYS_3, DAYS_3 + 1],
                error: None,
            },
            Case {
                name: "a jump in the last row is kept",
                rows: format!("1,A,1,2,,,,\n{TYPO},A,1,2,,,,\n"),
                skip: vec![1, typo],
                skipped: vec![],
                reject: vec![1, typo],
                error: None,
            },
            Case {
                name: "typo in the first row",
                rows: format!("{TYPO},A,1,2,,,,\n1,A,1,2,,,,\n2,A,1,2,,,,\n"),
                skip: vec![1, 2],
                skipped: vec![
                    "t.csv:2: field 'ts_ns': expected a timestamp the next row confirms, found 1800000000000000000 (the first row) while line 3 goes back to",
                ],
                reject: vec![typo],
                error: Some("t.csv:3: field 'ts_ns'"),
            },
            Case {
                name: "a row behind both waits for one that decides",
                rows: format!("5,A,1,2,,,,\n{TYPO},A,1,2,,,,\n4,A,1,2,,,,\n6,A,1,2,,,,\n"),
                skip: vec![5, 6],
                skipped: vec![
                    "t.csv:4: field 'ts_ns': expected a timestamp >= 1700000000000000005",
                    "t.csv:3: field 'ts_ns': expected a timestamp the next row confirms",
                ],
                reject: vec![5, typo],
                error: Some("t.csv:4:"),
            },
        ];
        for case in cases {
            let text = format!("{H}{}", case.rows);
            for chunk in [1, 2, 3, 64] {
                let (ticks, skipped, error) = read_in_chunks(&text, BadRowPolicy::Skip, chunk);
                let ts: Vec<u64> = ticks.iter().map(|t| t.0).collect();
                assert_eq!(ts, case.skip, "{}: skip, chunk {chunk}", case.name);
                assert!(error.is_none(), "{}: {error:?}", case.name);
                assert_eq!(
                    skipped.len(),
                    case.skipped.len(),
                    "{}: {skipped:?}",
                    case.name
                );
                for (got, want) in skipped.iter().zip(&case.skipped) {
                    assert!(got.starts_with(want), "{}: {got}", case.name);
                }
                let (ticks, _, error) = read_in_chunks(&text, BadRowPolicy::Reject, chunk);
                let ts: Vec<u64> = ticks.iter().map(|t| t.0).collect();
                assert_eq!(ts, case.reject, "{}: reject, chunk {chunk}", case.name);
                let error = error.unwrap_or_default();
                assert!(
                    error.starts_with(case.error.unwrap_or_default()),
                    "{}: {error}",
                    case.name
                );
                assert_eq!(error.is_empty(), case.error.is_none(), "{}", case.name);
            }
        }
    }

    #[test]
    fn a_held_row_keeps_tick_order_across_chunk_sizes() {
        // Quote+trade rows on both sides of a confirmed two-day gap: four ticks wait at once.
        let gap = T0 + 2 * 86_400_000_000_000;
        let text = format!(
            "{H}1,A,1,2,,,1,\n{gap},A,1,2,,,1,\n{},A,1,2,,,1,\n",
            gap + 1
        );
        let expected = {
            let (q, t) = (TickKind::Quote, TickKind::Trade);
            let g = gap - T0;
            vec![(1, q), (1, t), (g, q), (g, t), (g + 1, q), (g + 1, t)]
        };
        for chunk in [1, 2, 3, 5, 100] {
            let (ticks, skipped, error) = read_in_chunks(&text, BadRowPolicy::Skip, chunk);
            assert!(error.is_none() && skipped.is_empty(), "chunk {chunk}");
            assert_eq!(ticks, expected, "chunk {chunk}");
        }
    }

    #[test]
    fn skip_counts_every_bad_row_and_keeps_twenty_examples() {
        let mut text = String::from(H);
        for i in 0..50 {
            text.push_str(&format!("{i},A,1.0,1.1,,,,\n{i},A,bad,1.1,,,,\n"));
        }
        let (ticks, stats, error, _) = load(text.leak(), BadRowPolicy::Skip);
        assert!(error.is_none());
        assert_eq!((ticks.len(), stats.skipped_rows, stats.rows), (50, 50, 100));
        assert_eq!(stats.skipped_examples.len(), MAX_SKIPPED_EXAMPLES);
        assert!(
            stats.skipped_examples[0].starts_with("t.csv:3: field 'bid'"),
            "{}",
            stats.skipped_examples[0]
        );
    }

    #[test]
    fn row_shapes_table() {
        struct Case {
            name: &'static str,
            rows: &'static str,
            expected: Vec<(TickKind, i64, i64, u8)>,
        }
        let q = TickKind::Quote;
        let t = TickKind::Trade;
        let all = TickFlags::BID | TickFlags::ASK | TickFlags::BID_SIZE | TickFlags::ASK_SIZE;
        let cases = [
            Case {
                name: "crossed quote is allowed",
                rows: "1,A,1.3,1.2,,,,\n",
                expected: vec![(q, 13, 12, 3)],
            },
            Case {
                name: "quote and trade in one row, quote first",
                rows: "1,A,1.0,1.2,5,6,1.1,7\n",
                expected: vec![(q, 10, 12, all), (t, 11, 11, all)],
            },
            Case {
                name: "one-sided quote",
                rows: "1,A,,1.2,,6,,\n",
                expected: vec![(q, 0, 12, 10)],
            },
            Case {
                name: "trade without size",
                rows: "1,A,,,,,1.1,\n",
                expected: vec![(t, 11, 11, 3)],
            },
            Case {
                name: "crlf and blank lines",
                rows: "1,A,1.0,1.2,,,,\r\n\r\n\n",
                expected: vec![(q, 10, 12, 3)],
            },
            Case {
                name: "no final newline",
                rows: "1,A,1.0,1.2,,,,",
                expected: vec![(q, 10, 12, 3)],
            },
            Case {
                name: "equal timestamps keep row order",
                rows: "1,A,1.0,1.2,,,,\n1,A,1.1,1.2,,,,\n",
                expected: vec![(q, 10, 12, 3), (q, 11, 12, 3)],
            },
        ];
        for case in cases {
            let text: &'static str = format!("{H}{}", case.rows).leak();
            let (ticks, _, error, _) = load(text, BadRowPolicy::Reject);
            assert!(error.is_none(), "{}: {error:?}", case.name);
            let got: Vec<_> = ticks
                .iter()
                .map(|t| (t.kind, t.bid.0, t.ask.0, t.flags.0))
                .collect();
            assert_eq!(got, case.expected, "{}", case.name);
            assert!(
                ticks
                    .iter()
                    .all(|t| t.seq == 0 && t.local_ts == t.ts && t.ts == Nanos(T0 + 1)),
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn quote_and_trade_row_splits_across_chunks_of_one() {
        let sources = [embedded(
            at_t0("ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n1,A,1,2,,,1,\n2,A,1,2,,,,\n")
                .leak(),
        )];
        let mut table = InstrumentTable::new();
        scan_instruments(&sources, &[], &mut table).expect("scan");
        let mut reader = TickReader::open(&sources, &table, BadRowPolicy::Reject).expect("open");
        let mut chunk = Vec::new();
        let mut kinds = Vec::new();
        while reader.read_chunk(&mut chunk, 1).expect("read") > 0 {
            assert_eq!(chunk.len(), 1);
            kinds.push((chunk[0].ts.0 - T0, chunk[0].kind));
        }
        assert_eq!(
            kinds,
            [
                (1, TickKind::Quote),
                (1, TickKind::Trade),
                (2, TickKind::Quote)
            ]
        );
    }

    #[test]
    fn header_errors_table() {
        let cases = [
            ("empty file", ""),
            ("no header", "1,A,1.0,1.1,,,,\n"),
            (
                "wrong column",
                "ts,symbol,bid,ask,bid_size,ask_size,last,last_size\n",
            ),
            (
                "missing column",
                "ts_ns,symbol,bid,ask,bid_size,ask_size,last\n",
            ),
        ];
        for (name, text) in cases {
            let sources = [embedded(text)];
            let mut table = InstrumentTable::new();
            let scan = scan_instruments(&sources, &[], &mut table)
                .expect_err(name)
                .to_string();
            assert!(
                scan.starts_with("t.csv:1: expected header"),
                "{name}: {scan}"
            );
            for policy in [BadRowPolicy::Reject, BadRowPolicy::Skip] {
                let open = TickReader::open(&sources, &table, policy)
                    .expect_err(name)
                    .to_string();
                assert_eq!(open, scan, "{name}: same error from scan and open");
            }
        }
        let bom = [embedded(
            "\u{feff}ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\r\n1,A,1,2,,,,\r\n",
        )];
        let mut table = InstrumentTable::new();
        assert_eq!(
            scan_instruments(&bom, &[], &mut table)
                .expect("bom header")
                .rows,
            1
        );
    }

    #[test]
    fn scan_counts_decimals_and_ignores_garbage_rows() {
        let text = "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n\
                    1,A,1.5,1.25,,,,\n\
                    2,B,,,,,10,0.001\n\
                    3,JUNK,1.0\n\
                    4,A,1.0,1.0,3.50,,,\n\
                    5,A,1.0123456789012,1,,,,\n";
        let (_, _, error, table) = load(text, BadRowPolicy::Skip);
        assert!(error.is_none());
        let got: Vec<_> = table
            .iter()
            .map(|(_, s)| (s.symbol.as_str(), s.price_precision, s.qty_precision))
            .collect();
        assert_eq!(got, [("A", 2, 2), ("B", 0, 3)]);
    }

    const H9: &str = "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size,exchange_ts_ns\n";

    #[test]
    fn exchange_ts_column_is_checked_and_otherwise_ignored() {
        let rows = "1,A,1.0,1.25,5,6,1.1,7\n2,A,,,,,1.5,\n";
        let rows9 = "1,A,1.0,1.25,5,6,1.1,7,1625461887000000000\n2,A,,,,,1.5,,\n";
        let (plain, _, error, table) = load(format!("{H}{rows}").leak(), BadRowPolicy::Reject);
        assert!(error.is_none(), "{error:?}");
        let (nine, stats, error, table9) =
            load(format!("{H9}{rows9}").leak(), BadRowPolicy::Reject);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(nine, plain, "same ticks with and without the column");
        assert_eq!((stats.rows, stats.quotes, stats.trades), (2, 1, 2));
        assert_eq!(table9, table, "same precisions from the scan");
    }

    #[test]
    fn bad_exchange_ts_rows_table() {
        let cases = [
            (
                "seconds, not ns",
                "2,A,1.0,1.1,,,,,1625461887",
                "exchange_ts_ns",
                "from 2000-01-01 up to 2100-01-01",
            ),
            (
                "not a number",
                "2,A,1.0,1.1,,,,,12x",
                "exchange_ts_ns",
                "found '12x'",
            ),
            (
                "negative",
                "2,A,1.0,1.1,,,,,-1",
                "exchange_ts_ns",
                "found '-1'",
            ),
            (
                "after 2100",
                "2,A,1.0,1.1,,,,,4102444800000000000",
                "exchange_ts_ns",
                "up to 2100-01-01",
            ),
            (
                "eight fields",
                "2,A,1.0,1.1,,,,",
                "exchange_ts_ns",
                "expected 9 comma-separated fields, found 8",
            ),
            (
                "ten fields",
                "2,A,1.0,1.1,,,,,,",
                "exchange_ts_ns",
                "expected 9 comma-separated fields, found 10",
            ),
            (
                "bad last size still named",
                "2,A,,,,,1.0,x,",
                "last_size",
                "found 'x'",
            ),
        ];
        for (name, row, field, says) in cases {
            let text: &'static str = format!("{H9}1,A,1.0,1.1,,,,,\n{row}\n").leak();
            let (ticks, _, error, _) = load(text, BadRowPolicy::Reject);
            let message = error.map(|e| e.to_string()).unwrap_or_default();
            assert!(
                message.starts_with(&format!("t.csv:3: field '{field}': ")),
                "{name}: {message}"
            );
            assert!(message.contains(says), "{name}: {message}");
            assert_eq!(ticks.len(), 1, "{name}: the good row before is delivered");
        }
    }
}
