//! `TickReader`: opens every source, then hands out ticks in chunks, merging sources by
//! timestamp (ties: earlier source first, then row order). One source takes a direct path
//! that parses straight into the caller's buffer.

use super::binary::BinarySource;
use super::csv::CsvSource;
use super::scan::detect;
use super::stream::ByteStream;
use super::{DataSource, FeedError, FeedStats, SourceFormat};
use crate::config::BadRowPolicy;
use crate::dlq::DeadLetters;
use crate::domain::{InstrumentTable, Tick};

/// Ticks buffered per source while merging.
const LANE_CAPACITY: usize = 1024;

#[derive(Debug)]
enum Decoder {
    // Boxed: the CSV side holds a parser with a held-back row, twice the binary side.
    Csv(Box<CsvSource>),
    Binary(BinarySource),
}

/// One opened source. An error found after some ticks of a fill is held back until those
/// ticks are delivered, so that no accepted row is lost.
#[derive(Debug)]
struct Source {
    decoder: Decoder,
    held: Option<FeedError>,
    finished: bool,
}

impl Source {
    fn open(
        source: &DataSource,
        table: &InstrumentTable,
        policy: BadRowPolicy,
    ) -> Result<Source, FeedError> {
        let mut stream = ByteStream::open(source)?;
        let decoder = match detect(&mut stream)? {
            SourceFormat::Csv => Decoder::Csv(Box::new(CsvSource::open(stream, table, policy)?)),
            SourceFormat::Binary => Decoder::Binary(BinarySource::open(stream, table, policy)?),
        };
        Ok(Source {
            decoder,
            held: None,
            finished: false,
        })
    }

    fn stream(&self) -> &ByteStream {
        match &self.decoder {
            Decoder::Csv(csv) => csv.stream(),
            Decoder::Binary(binary) => binary.stream(),
        }
    }

    /// Appends ticks until `out` holds `limit` (`limit > out.len()`); returns true when the
    /// source has no more. Returns an error only when it appended nothing.
    fn fill(
        &mut self,
        out: &mut Vec<Tick>,
        limit: usize,
        stats: &mut FeedStats,
    ) -> Result<bool, FeedError> {
        if let Some(error) = self.held.take() {
            return Err(error);
        }
        if self.finished {
            return Ok(true);
        }
        let before = out.len();
        let result = match &mut self.decoder {
            Decoder::Csv(csv) => csv.fill(out, limit, stats),
            Decoder::Binary(binary) => binary.fill(out, limit, stats),
        };
        match result {
            Ok(finished) => {
                self.finished = finished;
                Ok(finished)
            }
            Err(error) => {
                self.finished = true;
                if out.len() > before {
                    self.held = Some(error);
                    Ok(false)
                } else {
                    Err(error)
                }
            }
        }
    }
}

/// A source's buffered ticks during a merge.
#[derive(Debug)]
struct Lane {
    ticks: Vec<Tick>,
    pos: usize,
    finished: bool,
}

/// Streams ticks from one or more sources in time order.
#[derive(Debug)]
pub struct TickReader {
    sources: Vec<Source>,
    /// One per source when there are several; empty on the single-source path.
    lanes: Vec<Lane>,
    stats: FeedStats,
    /// An error to return on the next call, after the ticks before it were delivered.
    held: Option<FeedError>,
    done: bool,
}

impl TickReader {
    /// Opens every source, telling CSV from binary by content, and checks headers. `table`
    /// must come from `scan_instruments` over (at least) these sources.
    ///
    /// # Errors
    /// A source cannot be read, a CSV header is wrong, or a binary header is bad, truncated,
    /// or names a symbol missing from `table` or more precise than `table` allows.
    pub fn open(
        sources: &[DataSource],
        table: &InstrumentTable,
        policy: BadRowPolicy,
    ) -> Result<TickReader, FeedError> {
        let mut opened = Vec::with_capacity(sources.len());
        let mut stats = FeedStats::default();
        for source in sources {
            let source = Source::open(source, table, policy)?;
            stats.bytes_total += source.stream().len();
            opened.push(source);
        }
        let lanes = if opened.len() > 1 {
            (0..opened.len())
                .map(|_| Lane {
                    ticks: Vec::with_capacity(LANE_CAPACITY),
                    pos: 0,
                    finished: false,
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(TickReader {
            sources: opened,
            lanes,
            stats,
            held: None,
            done: false,
        })
    }

    /// Clears `buf` and appends up to `max` ticks, merged across all sources in time order
    /// (equal ts: earlier source first, then row order). Returns the number appended; 0 is
    /// the end of the data (and the answer to `max == 0`). Ticks have `seq = 0`; CSV ticks
    /// have `local_ts = ts`.
    ///
    /// # Errors
    /// A read error, a damaged file, or a bad row under `BadRowPolicy::Reject`. Every tick
    /// of the rows before the bad one is delivered first (the error comes on the call after
    /// them). After an error the reader is finished and returns `Ok(0)`.
    pub fn read_chunk(&mut self, buf: &mut Vec<Tick>, max: usize) -> Result<usize, FeedError> {
        let result = self.read(buf, max);
        // Summed per chunk, not per row: the sources count their own bytes.
        self.stats.bytes_read = self.sources.iter().map(|s| s.stream().consumed()).sum();
        result
    }

    fn read(&mut self, buf: &mut Vec<Tick>, max: usize) -> Result<usize, FeedError> {
        buf.clear();
        if let Some(error) = self.held.take() {
            self.done = true;
            return Err(error);
        }
        if self.done || max == 0 {
            return Ok(0);
        }
        match self.sources.as_mut_slice() {
            [] => {
                self.done = true;
                Ok(0)
            }
            [single] => match single.fill(buf, max, &mut self.stats) {
                Ok(finished) => {
                    self.done = finished && buf.is_empty();
                    Ok(buf.len())
                }
                Err(error) => {
                    self.done = true;
                    Err(error)
                }
            },
            _ => self.merge(buf, max),
        }
    }

    fn merge(&mut self, buf: &mut Vec<Tick>, max: usize) -> Result<usize, FeedError> {
        while buf.len() < max {
            // Every lane needs its next tick known before the smallest can be chosen.
            for (source, lane) in self.sources.iter_mut().zip(self.lanes.iter_mut()) {
                if lane.pos < lane.ticks.len() || lane.finished {
                    continue;
                }
                lane.ticks.clear();
                lane.pos = 0;
                match source.fill(&mut lane.ticks, LANE_CAPACITY, &mut self.stats) {
                    Ok(finished) => lane.finished = finished,
                    Err(error) => {
                        lane.finished = true;
                        if buf.is_empty() {
                            self.done = true;
                            return Err(error);
                        }
                        self.held = Some(error);
                        return Ok(buf.len());
                    }
                }
            }
            // The lane with the smallest (ts, source index) head, and the runner-up's key:
            // ticks of the best lane below that key can be copied as one run.
            let mut best: Option<(u64, usize)> = None;
            let mut bound = (u64::MAX, usize::MAX);
            for (index, lane) in self.lanes.iter().enumerate() {
                let Some(head) = lane.ticks.get(lane.pos) else {
                    continue;
                };
                let key = (head.ts.0, index);
                match best {
                    Some(current) if key > current => bound = bound.min(key),
                    Some(current) => {
                        bound = current;
                        best = Some(key);
                    }
                    None => best = Some(key),
                }
            }
            let Some((_, index)) = best else {
                self.done = true;
                break;
            };
            let lane = &mut self.lanes[index];
            let pending = &lane.ticks[lane.pos..];
            let room = max - buf.len();
            let run = pending
                .iter()
                .take(room)
                .take_while(|t| (t.ts.0, index) < bound)
                .count();
            buf.extend_from_slice(&pending[..run]);
            lane.pos += run;
        }
        Ok(buf.len())
    }

    /// Hands every row or record skipped from now on (under `BadRowPolicy::Skip`) to `sink`,
    /// with its raw bytes, from the thread that reads; `record` waits when the sink's queue
    /// is full, so none is lost.
    pub fn set_dead_letters(&mut self, sink: &DeadLetters) {
        for source in &mut self.sources {
            match &mut source.decoder {
                Decoder::Csv(csv) => csv.set_dead_letters(sink.clone()),
                Decoder::Binary(binary) => binary.set_dead_letters(sink.clone()),
            }
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &FeedStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::super::scan_instruments;
    use super::super::test_time::{T0, at_t0};
    use super::*;
    use crate::config::InstrumentConfig;
    use crate::domain::{Price, TickKind};

    const HEADER: &str = "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n";

    fn source(name: &'static str, rows: &str) -> DataSource {
        DataSource::Embedded {
            name,
            bytes: at_t0(&format!("{HEADER}{rows}")).leak().as_bytes(),
        }
    }

    /// Reads everything in chunks of `chunk`; returns the ticks and the error that ended it.
    fn drain(reader: &mut TickReader, chunk: usize) -> (Vec<Tick>, Option<FeedError>) {
        let mut all = Vec::new();
        let mut buf = Vec::new();
        loop {
            match reader.read_chunk(&mut buf, chunk) {
                Ok(0) => return (all, None),
                Ok(n) => {
                    assert!(n <= chunk && n == buf.len(), "chunk bound");
                    all.extend_from_slice(&buf);
                }
                Err(e) => return (all, Some(e)),
            }
        }
    }

    fn open(sources: &[DataSource], policy: BadRowPolicy) -> (InstrumentTable, TickReader) {
        let mut table = InstrumentTable::new();
        scan_instruments(sources, &[], &mut table).expect("scan");
        let reader = TickReader::open(sources, &table, policy).expect("open");
        (table, reader)
    }

    #[test]
    fn merge_is_stable_on_equal_timestamps() {
        // The price encodes (source, row) so the order is visible.
        let a = source(
            "a.csv",
            "1,X,1.1,9,,,,\n2,X,1.2,9,,,,\n2,X,1.3,9,,,,\n5,X,1.4,9,,,,\n",
        );
        let b = source("b.csv", "2,X,2.1,9,,,,\n2,X,2.2,9,,,,\n3,X,2.3,9,,,,\n");
        let c = source("c.csv", "0,X,3.1,9,,,,\n2,X,3.2,9,,,,\n9,X,3.3,9,,,,\n");
        let expected = [31, 11, 12, 13, 21, 22, 32, 23, 14, 33];
        for chunk in [1, 2, 3, 100] {
            let (_, mut reader) = open(&[a.clone(), b.clone(), c.clone()], BadRowPolicy::Reject);
            let (ticks, error) = drain(&mut reader, chunk);
            assert!(error.is_none(), "chunk {chunk}: {error:?}");
            let order: Vec<i64> = ticks.iter().map(|t| t.bid.0).collect();
            assert_eq!(order, expected, "chunk {chunk}");
        }
    }

    #[test]
    fn merge_of_many_rows_is_sorted_and_complete() {
        let mut rows = [String::new(), String::new()];
        for i in 0..5000u64 {
            rows[(i % 3 == 0) as usize].push_str(&format!("{},X,1.{i},2,,,,\n", i / 2));
        }
        let sources = [source("a.csv", &rows[0]), source("b.csv", &rows[1])];
        let (_, mut reader) = open(&sources, BadRowPolicy::Reject);
        let (ticks, error) = drain(&mut reader, 777);
        assert!(error.is_none());
        assert_eq!(ticks.len(), 5000);
        assert!(ticks.windows(2).all(|w| w[0].ts <= w[1].ts), "sorted");
        let stats = reader.stats();
        assert_eq!((stats.rows, stats.quotes, stats.trades), (5000, 5000, 0));
        assert_eq!(stats.bytes_read, stats.bytes_total, "progress reaches 100%");
    }

    #[test]
    fn reject_delivers_every_good_row_before_the_error() {
        struct Case {
            name: &'static str,
            sources: Vec<DataSource>,
            chunk: usize,
            good: usize,
            error: &'static str,
        }
        let mut long = String::new();
        for i in 0..3000 {
            long.push_str(&format!("{i},X,1,2,,,1,1\n"));
        }
        long.push_str("2999,X,1,0,,,,\n");
        let long = source("long.csv", &long);
        let cases = [
            Case {
                name: "single, big chunk",
                sources: vec![long.clone()],
                chunk: 10_000,
                good: 6000,
                error: "long.csv:3002: field 'ask'",
            },
            Case {
                name: "single, odd chunk",
                sources: vec![long.clone()],
                chunk: 7,
                good: 6000,
                error: "long.csv:3002: field 'ask'",
            },
            Case {
                name: "merged with a later file",
                sources: vec![source("later.csv", "5000,X,1,2,,,,\n"), long.clone()],
                chunk: 64,
                good: 6000,
                error: "long.csv:3002",
            },
            Case {
                name: "bad first row",
                sources: vec![source("bad.csv", "1,X,,,,,,\n2,X,1,2,,,,\n")],
                chunk: 64,
                good: 0,
                error: "bad.csv:2: field 'bid'",
            },
        ];
        for case in cases {
            let (_, mut reader) = open(&case.sources, BadRowPolicy::Reject);
            let (ticks, error) = drain(&mut reader, case.chunk);
            let message = error.map(|e| e.to_string()).unwrap_or_default();
            assert_eq!(ticks.len(), case.good, "{}: delivered", case.name);
            assert!(message.starts_with(case.error), "{}: {message}", case.name);
            let mut buf = Vec::new();
            assert_eq!(
                reader.read_chunk(&mut buf, 10).ok(),
                Some(0),
                "{}: finished after the error",
                case.name
            );
        }
    }

    #[test]
    fn time_going_backwards_is_checked_per_file_only() {
        let a = source("a.csv", "5,X,1,2,,,,\n6,X,1,2,,,,\n");
        let b = source("b.csv", "1,X,1,2,,,,\n4,X,1,2,,,,\n3,X,1,2,,,,\n");
        let (_, mut reader) = open(&[a, b], BadRowPolicy::Skip);
        let (ticks, error) = drain(&mut reader, 16);
        assert!(error.is_none());
        let ts: Vec<u64> = ticks.iter().map(|t| t.ts.0 - T0).collect();
        assert_eq!(ts, [1, 4, 5, 6]);
        assert_eq!(reader.stats().skipped_rows, 1);
        assert!(reader.stats().skipped_examples[0].starts_with("b.csv:4: field 'ts_ns'"));
    }

    #[test]
    fn skipped_rows_reach_the_dead_letter_file_with_their_raw_bytes() {
        use crate::dlq::{DeadLetterWriter, Header, Origin, Source, file};
        // A bad field (CRLF kept), time going back in another file, and a far-future typo
        // that is only found bad one row later.
        const TYPO: &str = "1800000000000000000";
        let a = source("a.csv", "1,X,1.x,2,,,,\r\n2,X,1,2,,,,\n");
        let b = source(
            "b.csv",
            &format!("3,X,1,2,,,,\n2,X,1,2,,,,\n{TYPO},X,1,2,,,,\n4,X,1,2,,,,\n"),
        );
        let (table, mut reader) = open(&[a, b], BadRowPolicy::Skip);
        let dir = std::env::temp_dir().join(format!("ap-reader-dlq-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut writer =
            DeadLetterWriter::start(dir.clone(), Header::new("r", &table), None).expect("start");
        reader.set_dead_letters(&writer.handle());
        let (ticks, error) = drain(&mut reader, 2);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(ticks.len(), 3);
        let report = writer.finish();
        assert_eq!((report.written, report.dropped), (3, 0));
        let read = file::read(&report.path.expect("file")).expect("read");
        let got: Vec<(Source, String, String, String)> = read
            .letters
            .iter()
            .map(|s| {
                let l = &s.letter;
                let raw = String::from_utf8(l.raw.clone()).expect("utf8");
                (l.source, l.origin.to_string(), raw, l.reason.clone())
            })
            .collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(
            got.iter()
                .map(|g| (
                    g.1.as_str(),
                    g.2.trim_start_matches(|c: char| c.is_ascii_digit())
                ))
                .collect::<Vec<_>>(),
            [
                ("a.csv:2", ",X,1.x,2,,,,\r"),
                ("b.csv:3", ",X,1,2,,,,"),
                ("b.csv:4", ",X,1,2,,,,")
            ]
        );
        assert!(got[0].3.starts_with("a.csv:2: field 'bid'"), "{}", got[0].3);
        assert!(
            got[1].3.starts_with("b.csv:3: field 'ts_ns'"),
            "{}",
            got[1].3
        );
        assert!(got[2].3.contains("skipped as a typo"), "{}", got[2].3);
        assert!(got[2].2.starts_with(TYPO), "the typo row's own bytes");
        assert!(got.iter().all(|g| g.0 == Source::CsvRow));
        let first = &read.letters[0].letter;
        assert_eq!(first.event_ts_ns, Some(T0 + 1));
        assert!(matches!(first.origin, Origin::Line { columns: 8, .. }));
        assert_eq!(reader.stats().skipped_rows, 3);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn override_below_the_data_makes_bad_rows() {
        let sources = [source(
            "o.csv",
            "1,X,1.25,1.3,,,,\n2,X,1.2,1.3,,,,\n3,X,1.2,1.3,0.5,,,\n",
        )];
        let overrides = [InstrumentConfig::fixed("X", 1, 0)];
        let mut table = InstrumentTable::new();
        scan_instruments(&sources, &overrides, &mut table).expect("scan");
        let spec = table.spec(table.find("X").expect("X"));
        assert_eq!((spec.price_precision, spec.qty_precision), (1, 0));

        let mut reader = TickReader::open(&sources, &table, BadRowPolicy::Skip).expect("open");
        let (ticks, error) = drain(&mut reader, 16);
        assert!(error.is_none());
        assert_eq!(ticks.len(), 1);
        assert_eq!((ticks[0].bid, ticks[0].ask), (Price(12), Price(13)));
        let examples = &reader.stats().skipped_examples;
        assert!(
            examples[0].starts_with("o.csv:2: field 'bid': expected at most 1 decimals"),
            "{}",
            examples[0]
        );
        assert!(
            examples[1].starts_with("o.csv:4: field 'bid_size': expected at most 0 decimals"),
            "{}",
            examples[1]
        );

        let mut reader = TickReader::open(&sources, &table, BadRowPolicy::Reject).expect("open");
        let (ticks, error) = drain(&mut reader, 16);
        assert!(ticks.is_empty());
        assert!(
            error
                .map(|e| e.to_string())
                .unwrap_or_default()
                .starts_with("o.csv:2: field 'bid'")
        );
    }

    #[test]
    fn unknown_symbol_is_a_bad_row_when_the_table_was_not_scanned() {
        let sources = [source("u.csv", "1,X,1,2,,,,\n")];
        let mut reader = TickReader::open(&sources, &InstrumentTable::new(), BadRowPolicy::Reject)
            .expect("open");
        let (_, error) = drain(&mut reader, 16);
        let message = error.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message
                .starts_with("u.csv:2: field 'symbol': expected a symbol of the instrument table"),
            "{message}"
        );
    }

    #[test]
    fn embedded_excerpt_loads_completely() {
        let bytes = include_bytes!("../../tests/data/binance_l1_2024-08-08_excerpt.csv");
        let sources = [DataSource::Embedded {
            name: "excerpt",
            bytes,
        }];
        let (table, mut reader) = open(&sources, BadRowPolicy::Reject);
        let (ticks, error) = drain(&mut reader, 4096);
        assert!(error.is_none(), "{error:?}");
        let stats = reader.stats();
        assert_eq!(stats.rows, 40_000);
        assert_eq!(stats.quotes + stats.trades, ticks.len() as u64);
        assert_eq!(
            (stats.skipped_rows, stats.bytes_read),
            (0, stats.bytes_total)
        );
        assert!(ticks.windows(2).all(|w| w[0].ts <= w[1].ts));
        assert!(ticks.iter().any(|t| t.kind == TickKind::Trade));
        assert!(table.len() >= 2 && table.iter().all(|(_, s)| s.price_precision > 0));
    }
}
