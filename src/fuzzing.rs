//! Fuzz entry points: one per parser of outside input, each calling the engine's own parser
//! exactly as production does (no copy of any parsing logic lives here), for the cargo-afl
//! targets under `fuzz/` and for `tests/fuzz_regressions.rs`, which replays every input the
//! fuzzer ever crashed on.
//!
//! Contract of every entry: it returns for any input, whatever the parser answers; it panics
//! only when the parser panics or breaks an invariant checked here (an accepted tick that a
//! feed rule refuses, an `Err` without a problem in it, results that depend on how the input
//! was cut into reads or chunks). A panic is the fuzzer's crash. Entries keep no reference
//! to their input after they return (the fuzz harness frees it).
//!
//! Not part of the engine's API: hidden from the docs, free to change with the targets.

use std::path::Path;

use serde_json::Value;

use crate::config::{BadRowPolicy, EngineConfig};
use crate::domain::fixed::MAX_PRECISION;
use crate::domain::{InstrumentId, InstrumentTable, Nanos, Tick, TickFlags, TickKind};
use crate::execution::kite::wire;
use crate::feed::kite::{Decoder, KiteInstruments, TradeFilter};
use crate::feed::{DataSource, TickReader, rules, scan_instruments};
use crate::journal::{self, JournalError, JournalReader, recover};
use crate::ml::sidecar::Sidecar;
use crate::ops::http;
use crate::ops::server::Limits;
use crate::strategy::config::parse_strategy;
use crate::strategy::registry::Registry;

/// One fuzz target: its name (the binary under `fuzz/src/bin/` and the folders under
/// `fuzz/corpus/` and `fuzz/regressions/`), how the raw input is prepared, and the entry.
#[derive(Debug)]
pub struct Target {
    pub name: &'static str,
    /// Turns the fuzzer's bytes into the input the entry reads (most targets: as they are).
    pub prepare: fn(&mut [u8]),
    /// The entry; `'static` because tick files are read as embedded bytes.
    pub run: fn(&'static [u8]),
}

/// Every target. Adding one: an entry here, `fuzz/src/bin/NAME.rs`, a seed folder.
pub const TARGETS: &[Target] = &[
    Target {
        name: "csv_row",
        prepare: as_is,
        run: csv_row,
    },
    Target {
        name: "binary_ticks",
        prepare: reseal,
        run: binary_ticks,
    },
    Target {
        name: "engine_toml",
        prepare: as_is,
        run: engine_toml,
    },
    Target {
        name: "strategy_toml",
        prepare: as_is,
        run: strategy_toml,
    },
    Target {
        name: "model_sidecar",
        prepare: as_is,
        run: model_sidecar,
    },
    Target {
        name: "kite_frame",
        prepare: as_is,
        run: kite_frame,
    },
    Target {
        name: "kite_instruments",
        prepare: as_is,
        run: kite_instruments,
    },
    Target {
        name: "kite_order_update",
        prepare: as_is,
        run: kite_order_update,
    },
    Target {
        name: "http_request",
        prepare: as_is,
        run: http_request,
    },
    Target {
        name: "journal_records",
        prepare: reseal_journal,
        run: journal_records,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

fn as_is(_: &mut [u8]) {}

/// A binary tick file with every checksum made right (`feed::reseal`), so that mutations reach
/// the header and record checks; a file without the magic is left as it is.
fn reseal(bytes: &mut [u8]) {
    crate::feed::reseal(bytes);
}

/// A journal segment with its CRCs made right (`journal::format::reseal`), so mutations reach
/// the sequence, type, version and payload checks.
fn reseal_journal(bytes: &mut [u8]) {
    crate::journal::format::reseal(bytes);
}

/// A CSV tick file (header and rows), read as a backtest reads it: pre-scan, then the main
/// pass under both bad-row policies. Under `skip`, reading in chunks of 1 or of 64 ticks must
/// give the same ticks; every delivered tick must pass the feed rules, in time order.
pub fn csv_row(data: &'static [u8]) {
    read_tick_file(data);
}

/// A binary tick file (`alpha-panda convert`), read like `csv_row` (the reader tells the two
/// apart by content, as production does).
pub fn binary_ticks(data: &'static [u8]) {
    read_tick_file(data);
}

fn read_tick_file(bytes: &'static [u8]) {
    let sources = [DataSource::Embedded {
        name: "fuzz",
        bytes,
    }];
    let mut table = InstrumentTable::new();
    if scan_instruments(&sources, &[], &mut table).is_err() {
        return;
    }
    read_ticks(&sources, &table, BadRowPolicy::Reject, 5);
    let by_64 = read_ticks(&sources, &table, BadRowPolicy::Skip, 64);
    let by_1 = read_ticks(&sources, &table, BadRowPolicy::Skip, 1);
    assert!(
        by_64 == by_1,
        "chunk size changed the ticks read under skip"
    );
}

/// Every tick of one read in chunks of `chunk`, checked; the error's text if it stopped.
fn read_ticks(
    sources: &[DataSource],
    table: &InstrumentTable,
    policy: BadRowPolicy,
    chunk: usize,
) -> (Vec<Tick>, Option<String>) {
    let mut reader = match TickReader::open(sources, table, policy) {
        Ok(reader) => reader,
        Err(e) => return (Vec::new(), Some(e.to_string())),
    };
    let mut ticks = Vec::new();
    let mut buf = Vec::new();
    let error = loop {
        match reader.read_chunk(&mut buf, chunk) {
            Ok(0) => break None,
            Ok(n) => {
                assert!(n == buf.len() && n <= chunk, "chunk bound");
                ticks.extend_from_slice(&buf);
            }
            Err(e) => break Some(e.to_string()),
        }
    };
    let stats = reader.stats();
    assert_eq!(
        stats.quotes + stats.trades,
        ticks.len() as u64,
        "every counted tick is delivered"
    );
    let mut last = 0;
    for tick in &ticks {
        assert!(tick.instrument.index() < table.len(), "instrument in table");
        assert!(rules::timestamp_ok(tick.ts.0), "ts in the window: {tick:?}");
        assert!(tick.ts.0 >= last, "ticks in time order: {tick:?}");
        last = tick.ts.0;
        check_tick_values(tick);
    }
    (ticks, error)
}

/// The feed rules on a tick's values: present prices in `0 < p <= MAX_RAW`, present sizes in
/// `0 <= s <= MAX_RAW`; a trade has a price on both sides.
fn check_tick_values(tick: &Tick) {
    let f = tick.flags;
    assert!(f.0 <= 0b1111, "flags: {tick:?}");
    if tick.kind == TickKind::Trade {
        assert!(f.has(TickFlags::BID) && f.has(TickFlags::ASK) && tick.bid == tick.ask);
    } else {
        assert!(
            f.has(TickFlags::BID) || f.has(TickFlags::ASK),
            "a quote has a side"
        );
    }
    for (bit, raw) in [(TickFlags::BID, tick.bid.0), (TickFlags::ASK, tick.ask.0)] {
        assert!(!f.has(bit) || rules::price(raw).is_ok(), "price: {tick:?}");
    }
    for (bit, raw) in [
        (TickFlags::BID_SIZE, tick.bid_size.0),
        (TickFlags::ASK_SIZE, tick.ask_size.0),
    ] {
        assert!(!f.has(bit) || rules::size(raw).is_ok(), "size: {tick:?}");
    }
}

/// Config files are read with `read_to_string`: bytes that are not UTF-8 never reach a parser.
fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// `engine.toml` text (its `[environments.NAME]` overlay included), as `EngineConfig::load`
/// reads it; a refusal must name at least one problem.
pub fn engine_toml(data: &'static [u8]) {
    let Some(text) = text(data) else { return };
    if let Err(errors) = EngineConfig::parse(Path::new("engine.toml"), text) {
        assert!(!errors.0.is_empty(), "an error without a problem");
    }
}

/// A strategy file under the built-in kinds, as `load_strategies` reads it: a strategy comes
/// back exactly when no problem was pushed.
pub fn strategy_toml(data: &'static [u8]) {
    let Some(text) = text(data) else { return };
    let mut errors = Vec::new();
    let parsed = parse_strategy(
        Path::new("strategy.toml"),
        text,
        &Registry::builtin(),
        &mut errors,
    );
    assert_eq!(
        parsed.is_some(),
        errors.is_empty(),
        "a strategy and problems, or neither: {errors:?}"
    );
}

/// A model sidecar (`models/NAME.json`), as `Sidecar::load` reads it; an accepted one agrees
/// with itself (input width = features, score inside the output, entry above exit).
pub fn model_sidecar(data: &'static [u8]) {
    let Some(text) = text(data) else { return };
    match Sidecar::parse(Path::new("model.json"), text) {
        Ok(s) => {
            assert!(s.score_index < s.output_width, "score index: {s:?}");
            assert!(s.exit_threshold < s.entry_threshold, "thresholds: {s:?}");
            assert_eq!(s.feature_schema_hash, s.schema.hash(), "schema hash");
        }
        Err(errors) => assert!(!errors.is_empty(), "an error without a problem"),
    }
}

/// Instruments a token maps to here: tokens fold onto a few, so the trade filter sees repeats.
const FRAME_INSTRUMENTS: u32 = 4;

/// One binary Kite ticker message, as the live feed handles it: packets decoded, repeated
/// trades filtered, packets turned into ticks. Ticks must pass the feed rules; the decoder's
/// counters must add up.
pub fn kite_frame(data: &'static [u8]) {
    let mut decoder = Decoder::new();
    let mut trades = TradeFilter::new(FRAME_INSTRUMENTS as usize);
    let received = Nanos(1_700_000_000_000_000_000);
    let (mut decoded, mut failed) = (0u64, false);
    for packet in decoder.packets(data) {
        let mut packet = match packet {
            Ok(packet) => packet,
            Err(_) => {
                failed = true;
                break;
            }
        };
        decoded += 1;
        let id = InstrumentId(packet.token % FRAME_INSTRUMENTS);
        trades.dedup(id, &mut packet);
        let Some(ticks) = packet.to_ticks(id, received) else {
            continue;
        };
        assert!(ticks.exchange_ts.is_none_or(|ts| rules::timestamp_ok(ts.0)));
        for tick in ticks.ticks() {
            assert_eq!((tick.ts, tick.instrument), (received, id), "stamp");
            check_tick_values(&tick);
        }
    }
    let stats = decoder.stats();
    assert_eq!(stats.messages, 1);
    assert_eq!(
        stats.packets.iter().sum::<u64>(),
        decoded,
        "packets counted"
    );
    assert_eq!(stats.truncated, u64::from(failed), "truncation counted");
}

/// Kite's instruments dump (`GET /instruments`, RFC 4180 CSV), as a live run loads it: rows
/// parsed and checked, then every symbol resolved to the engine's instrument description.
/// Every row the dump keeps is found again by its symbol and by its token.
pub fn kite_instruments(data: &'static [u8]) {
    let Some(text) = text(data) else { return };
    let Ok(dump) = KiteInstruments::parse("instruments.csv", text) else {
        return;
    };
    for row in dump.iter() {
        assert!(dump.get(&row.symbol).is_some(), "by symbol: {row:?}");
        assert!(dump.by_token(row.token).is_some(), "by token: {row:?}");
        let _ = (row.spec(), row.terms());
    }
    let symbols: Vec<&str> = dump.iter().map(|row| row.symbol.as_str()).collect();
    if let Ok(specs) = dump.specs(&symbols) {
        assert_eq!(specs.len(), symbols.len(), "one spec per symbol");
    }
}

/// A Kite order update (ticker text message `{"type":"order","data":{...}}`), a postback or a
/// `GET /orders` row (the order object itself), and an error body, through the venue's
/// readers at every instrument precision.
pub fn kite_order_update(data: &'static [u8]) {
    // WebSocket text frames and REST bodies reach the venue as `str`.
    let Some(text) = text(data) else { return };
    let _ = wire::error_of(text);
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let _ = v.get("type").and_then(Value::as_str);
    for order in [Some(&v), v.get("data")].into_iter().flatten() {
        for precision in 0..=MAX_PRECISION {
            let Ok(o) = wire::parse_order(order, |_| precision) else {
                continue;
            };
            assert!(!o.order_id.is_empty(), "order id: {o:?}");
            assert!(o.average_price.is_none_or(|p| p > 0), "average: {o:?}");
            if let Some(tag) = &o.tag {
                let _ = wire::is_engine_tag(tag);
            }
        }
    }
}

/// Bytes a client sends the metrics endpoint, read by the server's own head reader with the
/// server's size limit and a small one, each delivered in one read, a byte per read and in
/// reads cut by the bytes themselves: the outcome must not depend on the cuts.
pub fn http_request(data: &'static [u8]) {
    for max_bytes in [Limits::default().max_head_bytes, 64] {
        let whole = read_head(data, max_bytes, |_| usize::MAX);
        let bytes = read_head(data, max_bytes, |_| 1);
        let cut = read_head(data, max_bytes, |at| usize::from(data[at] % 7) + 1);
        assert_eq!(whole, bytes, "one read vs a byte per read");
        assert_eq!(whole, cut, "one read vs reads of 1 to 7 bytes");
    }
}

/// The outcome of `http::read_head_from` over `data`, read `step(offset)` bytes at a time;
/// the client closes after its last byte.
fn read_head(data: &[u8], max_bytes: usize, step: impl Fn(usize) -> usize) -> String {
    let mut at = 0;
    let head = http::read_head_from(max_bytes, |room| {
        let rest = &data[at..];
        let n = match rest.first() {
            Some(_) => step(at).min(rest.len()).min(room.len()),
            None => 0,
        };
        room[..n].copy_from_slice(&rest[..n]);
        at += n;
        Ok(Ok(n))
    });
    format!("{head:?}")
}

/// A journal segment, read as `live` reads one at start: every record through
/// `JournalReader`, then `recover::scan` with the torn tail cut and once more after the cut.
/// Records come in sequence at rising offsets inside the file and survive an encode/decode
/// round trip; a refusal is a `FILE:OFFSET` inside the file; a torn tail runs to the end of
/// the file, and once cut the same records read with no tail left.
pub fn journal_records(data: &'static [u8]) {
    let dir = std::env::temp_dir().join(format!("alpha-panda-fuzz-journal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("fuzz journal dir");
    let path = dir.join(journal::format::segment_name(0));
    std::fs::write(&path, data).expect("fuzz journal segment");
    check_journal(&dir, data.len() as u64);
    let _ = std::fs::remove_dir_all(&dir);
}

fn check_journal(dir: &Path, len: u64) {
    let mut reader = JournalReader::open(dir).expect("open the journal dir");
    let mut records = 0u64;
    let mut prev: Option<u64> = None;
    let mut end = journal::format::SEGMENT_HEADER as u64;
    let outcome = loop {
        match reader.next_record() {
            Ok(Some(record)) => {
                assert!(
                    record.offset >= end && record.offset < len,
                    "offset: {record:?}"
                );
                assert!(prev.is_none_or(|p| record.seq == p + 1), "seq: {record:?}");
                prev = Some(record.seq);
                let mut bytes = Vec::new();
                journal::format::encode(record.seq, &record.entry, &mut bytes)
                    .expect("a decoded record encodes");
                let kind = record.entry.kind();
                let again = journal::format::decode(
                    kind as u8,
                    kind.version(),
                    &bytes[journal::format::RECORD_HEADER..],
                );
                assert_eq!(again.as_ref(), Ok(&record.entry), "round trip");
                end = record.offset + bytes.len() as u64;
                records += 1;
            }
            Ok(None) => break Ok(reader.torn().cloned()),
            Err(e) => break Err(e),
        }
    };
    match outcome {
        Err(JournalError::Corrupt { offset, why, .. }) => {
            assert!(
                offset <= len && !why.is_empty(),
                "refusal at {offset}: {why}"
            );
        }
        Err(JournalError::Io { source, .. }) => panic!("I/O error on a plain file: {source}"),
        Ok(torn) => {
            if let Some(t) = &torn {
                assert_eq!(t.offset + t.bytes, len, "a torn tail runs to the end");
                assert!(t.offset == 0 || t.offset >= end, "tail after the records");
            }
            // As `live` starts: cut the tail; then the same records and no tail.
            let Ok(cut) = recover::scan(dir, true) else {
                return;
            };
            assert_eq!(cut.records, records, "scan reads what the reader read");
            assert_eq!(cut.torn, torn, "scan finds the same tail");
            let after = recover::scan(dir, false).expect("a repaired journal reads");
            assert_eq!(after.records, records, "records kept by the cut");
            assert!(after.torn.is_none(), "no tail after the cut");
        }
    }
}
