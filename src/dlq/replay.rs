//! Replaying dead letters: each one decoded again, alone, by the decoder production uses for
//! its source — the CSV row parser and the binary record rules (with an instrument table),
//! the Kite frame decoder, the Kite text-message rule and the Kite order-update parser — to
//! tell whether a fix (a config change, a new build) makes it usable, and what it would
//! give.
//!
//! Contract: `replay` never panics on any bytes; a letter that still fails says why in the
//! engine's own words. Rules that need the messages around a letter (a row's time against
//! the previous row's, whether a run knew an order) cannot be judged alone: a letter that
//! was refused only for such a reason decodes here, and the outcome says so.

use std::fmt::Write as _;

use super::{Header, Letter, Origin, Source};
use crate::config::InstrumentConfig;
use crate::domain::fixed::DecimalDisplay;
use crate::domain::{InstrumentError, InstrumentTable, Tick, TickFlags};
use crate::feed::DataSource;
use crate::feed::kite::{Decoder, Packet, PacketKind, TextMessage, price_precision};

/// What replaying one letter found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It decodes now; what it decodes to.
    Decoded(String),
    /// It still fails; the error, as the engine reports it.
    Failed(String),
}

impl Outcome {
    pub fn decoded(&self) -> bool {
        matches!(self, Outcome::Decoded(_))
    }
}

/// The instrument table to replay with: the run's (the file header's), with `overrides`
/// (`[instruments.SYMBOL]` of a config) fixing precisions exactly or adding symbols.
///
/// # Errors
/// A precision above the engine's maximum.
pub fn table(
    header: &Header,
    overrides: &[InstrumentConfig],
) -> Result<InstrumentTable, InstrumentError> {
    let mut table = InstrumentTable::new();
    for i in &header.instruments {
        let fixed = overrides.iter().find(|o| o.symbol == i.symbol);
        let id = table.intern(&i.symbol);
        table.widen(
            id,
            fixed
                .and_then(|f| f.price_precision)
                .unwrap_or(i.price_precision),
            fixed
                .and_then(|f| f.qty_precision)
                .unwrap_or(i.qty_precision),
        )?;
    }
    for fixed in overrides {
        if table.find(&fixed.symbol).is_some()
            || (fixed.price_precision.is_none() && fixed.qty_precision.is_none())
        {
            continue;
        }
        let id = table.intern(&fixed.symbol);
        table.widen(
            id,
            fixed.price_precision.unwrap_or(0),
            fixed.qty_precision.unwrap_or(0),
        )?;
    }
    Ok(table)
}

/// Decodes `letter` again with its source's production decoder.
pub fn replay(letter: &Letter, table: &InstrumentTable) -> Outcome {
    match letter.source {
        Source::CsvRow => csv_row(letter, table),
        Source::BinaryRecord => binary_record(letter, table),
        Source::KiteFrame => kite_frame(&letter.raw),
        Source::KiteText => kite_text(&letter.raw),
        Source::KiteOrderUpdate => kite_order_update(&letter.raw),
    }
}

fn csv_row(letter: &Letter, table: &InstrumentTable) -> Outcome {
    let Origin::Line {
        file,
        line,
        columns,
    } = &letter.origin
    else {
        return Outcome::Failed(format!(
            "a CSV row needs a file and line, found {}",
            letter.origin
        ));
    };
    match crate::feed::decode_row(file, *line, *columns, &letter.raw, table) {
        Ok(ticks) => {
            let mut text = describe_ticks(&ticks, table);
            if letter.reason.contains("field 'ts_ns'") {
                text.push_str(" (alone: its time against the rows around it is not checked here)");
            }
            Outcome::Decoded(text)
        }
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

fn binary_record(letter: &Letter, table: &InstrumentTable) -> Outcome {
    let Origin::Record {
        file,
        offset,
        record,
    } = &letter.origin
    else {
        return Outcome::Failed(format!(
            "a binary record needs its file, found {}",
            letter.origin
        ));
    };
    // A record's instrument is an index into its file's header: the file must still be there.
    let source = DataSource::File(file.to_string().into());
    match crate::feed::decode_record(&source, table, &letter.raw, *offset, *record) {
        Ok(tick) => {
            let mut text = describe_ticks(&[tick], table);
            if letter.reason.contains("field 'ts'") {
                text.push_str(
                    " (alone: its time against the records around it is not checked here)",
                );
            }
            Outcome::Decoded(text)
        }
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// The reason a frame with packets of unknown length is a dead letter (it decodes, but
/// some of its packets are skipped).
pub fn unknown_lengths_reason(message_len: usize, unknown: u64) -> String {
    format!(
        "kite message of {message_len} bytes: {unknown} packet(s) of a length Kite does not define, skipped"
    )
}

fn kite_frame(raw: &[u8]) -> Outcome {
    let mut decoder = Decoder::new();
    let mut packets: Vec<Packet> = Vec::new();
    for packet in decoder.packets(raw) {
        match packet {
            Ok(p) => packets.push(p),
            Err(e) => return Outcome::Failed(e.to_string()),
        }
    }
    let unknown = decoder.stats().unknown_lengths;
    if unknown > 0 {
        return Outcome::Failed(unknown_lengths_reason(raw.len(), unknown));
    }
    if packets.is_empty() {
        return Outcome::Decoded("no packets (a heartbeat)".to_owned());
    }
    let mut text = format!("{} packet(s):", packets.len());
    for p in &packets {
        let pp = price_precision(p.token);
        let _ = write!(
            text,
            " {} token {} last {}",
            p.kind.name(),
            p.token,
            DecimalDisplay::fixed(p.last_price.0, pp)
        );
        if p.kind == PacketKind::Full {
            let _ = write!(
                text,
                " bid {} ask {}",
                DecimalDisplay::fixed(p.bids[0].price.0, pp),
                DecimalDisplay::fixed(p.asks[0].price.0, pp)
            );
        }
        text.push(';');
    }
    text.pop();
    Outcome::Decoded(text)
}

fn kite_text(raw: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(raw) else {
        return Outcome::Failed("expected UTF-8 text".to_owned());
    };
    match TextMessage::classify(text) {
        TextMessage::Order(_) => Outcome::Decoded("an order update".to_owned()),
        TextMessage::Error(message) => Outcome::Decoded(format!("a Kite error: {message}")),
        TextMessage::Other(kind) => Outcome::Decoded(format!("a Kite '{kind}' message")),
        TextMessage::NotKite(why) => Outcome::Failed(why),
    }
}

fn kite_order_update(raw: &[u8]) -> Outcome {
    use crate::execution::kite::wire::{parse_order, update_data};
    let Ok(text) = std::str::from_utf8(raw) else {
        return Outcome::Failed("expected UTF-8 JSON text".to_owned());
    };
    let data = match update_data(text) {
        Ok(data) => data,
        Err(e) => return Outcome::Failed(e),
    };
    // Production reads prices at the order's instrument's precision; the token says it.
    let precision = |v: &serde_json::Value| {
        v.get("instrument_token")
            .and_then(serde_json::Value::as_u64)
            .and_then(|t| u32::try_from(t).ok())
            .map_or(2, price_precision)
    };
    let p = precision(&data);
    match parse_order(&data, precision) {
        Ok(o) => Outcome::Decoded(format!(
            "order {} {} filled {}/{}{}{} (whether a run knows the order is not checked here)",
            o.order_id,
            o.status,
            o.filled_quantity,
            o.quantity,
            o.average_price
                .map(|a| format!(" avg {}", DecimalDisplay::fixed(a, p)))
                .unwrap_or_default(),
            o.tag.map(|t| format!(" tag {t}")).unwrap_or_default(),
        )),
        Err(e) => Outcome::Failed(e),
    }
}

/// `quote X bid 1.25 (3) ask 1.30; trade X 1.27 (2)`.
fn describe_ticks(ticks: &[Tick], table: &InstrumentTable) -> String {
    let mut text = String::new();
    for t in ticks {
        if !text.is_empty() {
            text.push_str("; ");
        }
        let Some(spec) = (t.instrument.index() < table.len()).then(|| table.spec(t.instrument))
        else {
            continue;
        };
        let (pp, qp) = (spec.price_precision, spec.qty_precision);
        let price = |p: i64| DecimalDisplay::fixed(p, pp);
        let size = |q: i64| DecimalDisplay::fixed(q, qp);
        let has = |bit| t.flags.has(bit);
        if t.is_trade() {
            let _ = write!(
                text,
                "trade {} {} at {}",
                spec.symbol,
                price(t.bid.0),
                t.ts.0
            );
            if has(TickFlags::BID_SIZE) {
                let _ = write!(text, " size {}", size(t.bid_size.0));
            }
            continue;
        }
        let _ = write!(text, "quote {} at {}", spec.symbol, t.ts.0);
        if has(TickFlags::BID) {
            let _ = write!(text, " bid {}", price(t.bid.0));
        }
        if has(TickFlags::BID_SIZE) {
            let _ = write!(text, " x {}", size(t.bid_size.0));
        }
        if has(TickFlags::ASK) {
            let _ = write!(text, " ask {}", price(t.ask.0));
        }
        if has(TickFlags::ASK_SIZE) {
            let _ = write!(text, " x {}", size(t.ask_size.0));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dlq::Instrument;
    use crate::dlq::file::FORMAT_VERSION;

    fn header() -> Header {
        Header {
            dead_letters: FORMAT_VERSION,
            run_id: "r".into(),
            started_unix_ns: 0,
            instruments: vec![Instrument {
                symbol: "X".into(),
                price_precision: 2,
                qty_precision: 0,
            }],
        }
    }

    fn row(raw: &str, line: u64) -> Letter {
        Letter::now(
            Source::CsvRow,
            "r".into(),
            Origin::Line {
                file: "a.csv".into(),
                line,
                columns: 8,
            },
            raw.as_bytes().to_vec(),
        )
    }

    fn socket(source: Source, raw: &[u8]) -> Letter {
        Letter::now(
            source,
            "r".into(),
            Origin::Socket {
                name: "kite ticker".into(),
            },
            raw.to_vec(),
        )
    }

    #[test]
    fn csv_rows_decode_with_the_table_and_fail_in_the_engines_words() {
        struct Case {
            name: &'static str,
            raw: &'static str,
            overrides: Vec<InstrumentConfig>,
            outcome: Result<&'static str, &'static str>,
        }
        let cases = [
            Case {
                name: "good row",
                raw: "1700000000000000001,X,1.25,1.3,5,,1.27,2",
                overrides: vec![],
                outcome: Ok(
                    "quote X at 1700000000000000001 bid 1.25 x 5 ask 1.30; trade X 1.27 at 1700000000000000001 size 2",
                ),
            },
            Case {
                name: "too precise for the run's table",
                raw: "1700000000000000001,X,1.255,1.3,,,,",
                overrides: vec![],
                outcome: Err("a.csv:7: field 'bid': expected at most 2 decimals"),
            },
            Case {
                name: "fixed by a precision override",
                raw: "1700000000000000001,X,1.255,1.3,,,,",
                overrides: vec![InstrumentConfig::fixed("X", 3, 0)],
                outcome: Ok("quote X at 1700000000000000001 bid 1.255 ask 1.300"),
            },
            Case {
                name: "unknown symbol",
                raw: "1700000000000000001,Y,1.2,1.3,,,,",
                overrides: vec![],
                outcome: Err("a.csv:7: field 'symbol': expected a symbol of the instrument table"),
            },
            Case {
                name: "symbol added by an override",
                raw: "1700000000000000001,Y,1.2,1.3,,,,",
                overrides: vec![InstrumentConfig::fixed("Y", 1, 0)],
                outcome: Ok("quote Y at 1700000000000000001 bid 1.2 ask 1.3"),
            },
            Case {
                name: "garbage",
                raw: "1700000000000000001,X,1.x,1.3,,,,",
                overrides: vec![],
                outcome: Err("a.csv:7: field 'bid': expected a decimal number, found '1.x'"),
            },
            Case {
                name: "empty",
                raw: "",
                overrides: vec![],
                outcome: Err("a.csv:7: field 'ts_ns': expected a row, found an empty line"),
            },
            Case {
                name: "two rows",
                raw: "1700000000000000001,X,1.2,1.3,,,,\n1,X",
                overrides: vec![],
                outcome: Err("found a newline inside it"),
            },
        ];
        for case in cases {
            let table = table(&header(), &case.overrides).expect("table");
            let outcome = replay(&row(case.raw, 7), &table);
            match (case.outcome, outcome) {
                (Ok(want), Outcome::Decoded(got)) => assert_eq!(got, want, "{}", case.name),
                (Err(want), Outcome::Failed(got)) => {
                    assert!(got.contains(want), "{}: {got}", case.name)
                }
                (want, got) => panic!("{}: expected {want:?}, got {got:?}", case.name),
            }
        }
    }

    #[test]
    fn kite_frames_texts_and_order_updates_use_the_feed_and_venue_rules() {
        // One ltp packet: INFY (408065) at 1573.70.
        let ltp: &[u8] = &[0, 1, 0, 8, 0, 6, 58, 1, 0, 2, 102, 186];
        let cases: [(&str, Letter, Result<&str, &str>); 8] = [
            (
                "ltp frame",
                socket(Source::KiteFrame, ltp),
                Ok("1 packet(s): ltp token 408065 last 1573.70"),
            ),
            (
                "truncated frame",
                socket(Source::KiteFrame, &ltp[..7]),
                Err("past the end"),
            ),
            (
                "unknown length",
                socket(Source::KiteFrame, &[0, 1, 0, 3, 1, 2, 3]),
                Err("1 packet(s) of a length Kite does not define"),
            ),
            ("heartbeat", socket(Source::KiteFrame, &[0]), Ok("no packets")),
            (
                "text that is not JSON",
                socket(Source::KiteText, b"hello"),
                Err("not Kite JSON"),
            ),
            (
                "kite message text",
                socket(Source::KiteText, br#"{"type":"message","data":"hi"}"#),
                Ok("a Kite 'message' message"),
            ),
            (
                "order update",
                socket(
                    Source::KiteOrderUpdate,
                    br#"{"type":"order","data":{"order_id":"1","status":"COMPLETE","quantity":5,"filled_quantity":5,"average_price":101.5,"tag":"t"}}"#,
                ),
                Ok("order 1 COMPLETE filled 5/5 avg 101.50 tag t"),
            ),
            (
                "order update without status",
                socket(
                    Source::KiteOrderUpdate,
                    br#"{"type":"order","data":{"order_id":"1"}}"#,
                ),
                Err("field 'status': missing"),
            ),
        ];
        let table = InstrumentTable::new();
        for (name, letter, want) in cases {
            match (want, replay(&letter, &table)) {
                (Ok(want), Outcome::Decoded(got)) => {
                    assert!(got.starts_with(want), "{name}: {got}")
                }
                (Err(want), Outcome::Failed(got)) => assert!(got.contains(want), "{name}: {got}"),
                (want, got) => panic!("{name}: expected {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn any_bytes_replay_without_panicking() {
        let table = table(&header(), &[]).expect("table");
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for len in 0..200usize {
            let raw: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed >> 56) as u8
                })
                .collect();
            for source in Source::ALL {
                let mut letter = socket(source, &raw);
                if source == Source::CsvRow {
                    letter.origin = row("", 2).origin;
                }
                let _ = replay(&letter, &table);
            }
        }
    }
}
