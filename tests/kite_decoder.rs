//! The Kite ticker decoder on real and hand-built bytes: Kite's official fixture packets,
//! every layout field by field, every segment's price divisor, framing faults (heartbeats,
//! several packets, truncation, oversized and unknown lengths), and the official Python
//! client decoding the same frames. (Packets → ticks, recordings and allocation:
//! `kite_ticks.rs`.)
//!
//! Fixtures are read from `../shared/kite/fixtures` (skipped with a note when absent); the
//! Python check needs the venv of `scripts/kite_venv.py` (skipped without it, failed under CI).

mod common;
mod kite_packets;

use std::process::Command;

use alpha_panda::domain::{InstrumentId, Nanos, Price, TickKind};
use alpha_panda::feed::kite::{
    DEPTH, DecodeError, DecodeStats, Decoder, DepthLevel, Packet, PacketKind, price_precision,
};
use kite_packets::{Rng, any_packet, base64, body, decode, encode, fixture, frame, random_packet};
use serde_json::Value;

// ---- fixtures, layouts, segments ----

#[test]
fn official_fixture_packets_decode_to_the_documented_values() {
    let (Some(quote), Some(full)) = (
        fixture("ticker_quote.packet"),
        fixture("ticker_full.packet"),
    ) else {
        return;
    };
    let (quote, full) = (base64(&quote), base64(&full));
    assert_eq!((quote.len(), full.len()), (44, 184), "fixture sizes");
    let (packets, error, stats) = decode(&frame(&[&quote, &full]));
    assert_eq!(error, None);
    assert_eq!(stats.packets_of(PacketKind::Quote), 1);
    assert_eq!(stats.packets_of(PacketKind::Full), 1);
    let ohlc = |p: &Packet| (p.open.0, p.high.0, p.low.0, p.close.0);
    let [q, f] = packets.as_slice() else {
        panic!("two packets: {packets:?}")
    };
    // The README's values (Go client's test, reproduced with the PyPI client), in paise.
    for (name, p, last, qty, avg, volume, buy, sell) in [
        ("quote", q, 157_315, 1, 157_033, 1_175_986, 256_511, 360_503),
        ("full", f, 157_370, 7, 157_037, 1_192_471, 256_443, 363_009),
    ] {
        assert_eq!(
            (p.token, p.price_precision()),
            (408_065, 2),
            "{name}: INFY, NSE"
        );
        assert_eq!(
            (p.last_price.0, p.last_qty, p.avg_price.0),
            (last, qty, avg),
            "{name}"
        );
        assert_eq!(
            (p.volume, p.total_buy_qty, p.total_sell_qty),
            (volume, buy, sell),
            "{name}"
        );
        assert_eq!(
            ohlc(p),
            (156_915, 157_500, 156_105, 156_780),
            "{name}: OHLC"
        );
    }
    assert_eq!(
        (f.last_trade_time, f.exchange_time),
        (1_625_461_887, 1_625_461_887)
    );
    assert_eq!((f.oi, f.oi_day_high, f.oi_day_low), (0, 0, 0));
    // Depth as ticker_full.json lists it.
    let levels = |side: &[DepthLevel; DEPTH]| -> Vec<(i64, u32, u16)> {
        side.iter().map(|l| (l.price.0, l.qty, l.orders)).collect()
    };
    assert_eq!(
        levels(&f.bids),
        [
            (157_340, 5, 1),
            (157_300, 140, 2),
            (157_295, 2, 1),
            (157_290, 219, 7),
            (157_285, 50, 1)
        ]
    );
    assert_eq!(
        levels(&f.asks),
        [
            (157_370, 172, 3),
            (157_375, 44, 3),
            (157_385, 302, 3),
            (157_390, 141, 2),
            (157_395, 724, 5)
        ]
    );
    let ticks = f.to_ticks(InstrumentId(0), Nanos(5)).expect("ticks");
    let shape: Vec<_> = ticks
        .ticks()
        .map(|t| (t.kind, t.bid.0, t.ask.0, t.bid_size.0, t.ask_size.0))
        .collect();
    assert_eq!(
        shape,
        [
            (TickKind::Quote, 157_340, 157_370, 5, 172),
            (TickKind::Trade, 157_370, 157_370, 7, 7)
        ]
    );
    assert_eq!(ticks.exchange_ts, Some(Nanos(1_625_461_887_000_000_000)));
}

#[test]
fn every_layout_decodes_every_field() {
    let mut rng = Rng(11);
    for kind in PacketKind::ALL {
        for _ in 0..50 {
            let packet = random_packet(&mut rng, kind);
            let (packets, error, _) = decode(&frame(&[&encode(&packet)]));
            assert_eq!(error, None, "{kind:?}");
            assert_eq!(packets, [packet], "{kind:?}");
        }
    }
    // Byte by byte, so a mistake shared by `encode` and the decoder cannot hide: an index
    // packet orders high, low, open, close; a quote packet open, high, low, close.
    #[rustfmt::skip]
    let index: [u8; 32] = [
        0, 3, 233, 9, /* token 256265 (NIFTY 50, segment 9) */
        0, 0, 0, 10, /* last */ 0, 0, 0, 11, /* high */ 0, 0, 0, 12, /* low */
        0, 0, 0, 13, /* open */ 0, 0, 0, 14, /* close */ 255, 255, 255, 252, /* change -4 */
        96, 226, 148, 127, /* exchange time 1625461887 */
    ];
    let (packets, _, _) = decode(&frame(&[&index]));
    let p = packets[0];
    assert_eq!(
        (
            p.kind,
            p.token,
            p.last_price.0,
            p.high.0,
            p.low.0,
            p.open.0,
            p.close.0,
            p.change.0
        ),
        (PacketKind::IndexFull, 256_265, 10, 11, 12, 13, 14, -4)
    );
    assert_eq!((p.exchange_time, p.segment()), (1_625_461_887, 9));
    let mut quote = [0u8; 44];
    for (i, at) in (28..44).step_by(4).enumerate() {
        quote[at + 3] = 20 + i as u8;
    }
    let (packets, _, _) = decode(&frame(&[&quote]));
    let p = packets[0];
    assert_eq!((p.open.0, p.high.0, p.low.0, p.close.0), (20, 21, 22, 23));
}

#[test]
fn every_segment_divisor() {
    // (segment, precision, 123456789 on the wire as the price)
    let cases = [
        (1, 2, "1234567.89"),
        (2, 2, "1234567.89"),
        (3, 7, "12.3456789"),
        (4, 2, "1234567.89"),
        (5, 2, "1234567.89"),
        (6, 4, "12345.6789"),
        (7, 2, "1234567.89"),
        (8, 2, "1234567.89"),
        (9, 2, "1234567.89"),
        (12, 4, "12345.6789"),
        (255, 2, "1234567.89"),
    ];
    for (segment, precision, text) in cases {
        let token = 1594 << 8 | segment;
        let (packets, _, _) = decode(&frame(&[&body(8, token, 123_456_789)]));
        let p = packets[0];
        assert_eq!(p.price_precision(), precision, "segment {segment}");
        assert_eq!(price_precision(token), precision, "segment {segment}");
        assert_eq!(
            p.last_price.display(precision).to_string(),
            text,
            "segment {segment}"
        );
        let tick = p
            .to_ticks(InstrumentId(0), Nanos(1))
            .expect("a trade")
            .first;
        assert_eq!(
            tick.bid,
            Price(123_456_789),
            "segment {segment}: the raw price is the wire integer"
        );
    }
}

#[test]
fn multi_packet_frames_keep_order_and_count_kinds() {
    let mut rng = Rng(7);
    let packets: Vec<Packet> = (0..40)
        .map(|i| random_packet(&mut rng, PacketKind::ALL[i % 5]))
        .collect();
    let bodies: Vec<Vec<u8>> = packets.iter().map(encode).collect();
    let unknown = body(100, 1, 1);
    let empty: &[u8] = &[];
    let mut refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    refs.insert(3, &unknown);
    refs.insert(10, empty);
    let (decoded, error, stats) = decode(&frame(&refs));
    assert_eq!(error, None);
    assert_eq!(decoded, packets);
    assert_eq!(stats.packets, [8; 5]);
    assert_eq!(stats.unknown_lengths, 2, "a 100-byte and a 0-byte packet");
    for heartbeat in [&[][..], &[0][..]] {
        let (decoded, error, stats) = decode(heartbeat);
        assert_eq!((decoded.len(), error, stats.heartbeats), (0, None, 1));
    }
}

#[test]
fn framing_table() {
    struct Case {
        name: &'static str,
        message: Vec<u8>,
        packets: usize,
        error: Option<DecodeError>,
        stats: DecodeStats,
    }
    let ltp = body(8, 408065, 157315);
    let odd = body(10, 408065, 1);
    let mut overrun = frame(&[&ltp, &ltp]);
    overrun.truncate(overrun.len() - 1);
    let mut trailing = frame(&[&ltp]);
    trailing.push(0);
    let cases = [
        Case {
            name: "heartbeat",
            message: vec![0],
            packets: 0,
            error: None,
            stats: DecodeStats {
                messages: 1,
                heartbeats: 1,
                ..DecodeStats::default()
            },
        },
        Case {
            name: "unknown length skipped",
            message: frame(&[&odd, &ltp]),
            packets: 1,
            error: None,
            stats: DecodeStats {
                messages: 1,
                packets: [1, 0, 0, 0, 0],
                unknown_lengths: 1,
                ..DecodeStats::default()
            },
        },
        Case {
            name: "count beyond the packets",
            message: {
                let mut m = frame(&[&ltp]);
                m[1] = 2;
                m
            },
            packets: 1,
            error: Some(DecodeError::Truncated {
                offset: 12,
                index: 1,
                count: 2,
                message_len: 12,
            }),
            stats: DecodeStats {
                messages: 1,
                packets: [1, 0, 0, 0, 0],
                truncated: 1,
                ..DecodeStats::default()
            },
        },
        Case {
            name: "second packet runs past the end",
            message: overrun,
            packets: 1,
            error: Some(DecodeError::Overrun {
                offset: 12,
                index: 1,
                length: 8,
                message_len: 21,
            }),
            stats: DecodeStats {
                messages: 1,
                packets: [1, 0, 0, 0, 0],
                truncated: 1,
                ..DecodeStats::default()
            },
        },
        Case {
            name: "trailing byte counted",
            message: trailing,
            packets: 1,
            error: None,
            stats: DecodeStats {
                messages: 1,
                packets: [1, 0, 0, 0, 0],
                trailing_bytes: 1,
                ..DecodeStats::default()
            },
        },
    ];
    for case in cases {
        let mut decoder = Decoder::new();
        let results: Vec<_> = decoder.packets(&case.message).collect();
        let packets = results.iter().filter(|r| r.is_ok()).count();
        let error = results.iter().find_map(|r| r.err());
        assert_eq!(packets, case.packets, "{}", case.name);
        assert_eq!(error, case.error, "{}", case.name);
        assert!(
            results
                .iter()
                .position(Result::is_err)
                .is_none_or(|i| i == results.len() - 1),
            "{}: the error ends the packets",
            case.name
        );
        assert_eq!(decoder.stats(), &case.stats, "{}", case.name);
    }
    let message = DecodeError::Overrun {
        offset: 12,
        index: 1,
        length: 8,
        message_len: 21,
    }
    .to_string();
    assert!(message.contains("at byte 12"), "{message}");
}

// ---- the official Python client on the same bytes ----

/// `raw / 10^precision` as the client computes it (binary64 division of exact integers).
fn float(raw: i64, precision: u8) -> f64 {
    raw as f64 / 10f64.powi(i32::from(precision))
}

/// The client's float: a `repr` string from the check script.
fn py_float(value: &Value) -> Option<f64> {
    match value {
        Value::String(text) => text.parse().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Every field of `p` against the client's dict; the names of those that differ.
fn differences(p: &Packet, py: &Value) -> Vec<String> {
    let pp = p.price_precision();
    let mut wrong = Vec::new();
    let mut int = |name: &str, got: Option<&Value>, want: u64| {
        if got.and_then(Value::as_u64) != Some(want) {
            wrong.push(format!("{name}: python {got:?}, ours {want}"));
        }
    };
    int(
        "instrument_token",
        py.get("instrument_token"),
        u64::from(p.token),
    );
    let mode = match p.kind {
        PacketKind::Ltp => "ltp",
        PacketKind::IndexQuote | PacketKind::Quote => "quote",
        PacketKind::IndexFull | PacketKind::Full => "full",
    };
    let mut wrong_text = Vec::new();
    if py.get("mode").and_then(Value::as_str) != Some(mode) {
        wrong_text.push(format!("mode: python {:?}, ours {mode}", py.get("mode")));
    }
    if py.get("tradable").and_then(Value::as_bool) != Some(p.segment() != 9) {
        wrong_text.push(format!("tradable: python {:?}", py.get("tradable")));
    }
    let mut prices: Vec<(String, Option<&Value>, f64)> = vec![(
        "last_price".into(),
        py.get("last_price"),
        float(p.last_price.0, pp),
    )];
    let mut ints: Vec<(String, Option<&Value>, u64)> = Vec::new();
    if p.kind != PacketKind::Ltp {
        let ohlc = py.get("ohlc");
        for (name, price) in [
            ("open", p.open),
            ("high", p.high),
            ("low", p.low),
            ("close", p.close),
        ] {
            prices.push((
                format!("ohlc.{name}"),
                ohlc.and_then(|o| o.get(name)),
                float(price.0, pp),
            ));
        }
        // Derived by the client from last and close (a percentage); same operations here.
        let (last, close) = (float(p.last_price.0, pp), float(p.close.0, pp));
        let change = if close == 0.0 {
            0.0
        } else {
            (last - close) * 100.0 / close
        };
        prices.push(("change".into(), py.get("change"), change));
    }
    if matches!(p.kind, PacketKind::IndexFull | PacketKind::Full) {
        ints.push((
            "exchange_timestamp".into(),
            py.get("exchange_timestamp"),
            u64::from(p.exchange_time),
        ));
    }
    if matches!(p.kind, PacketKind::Quote | PacketKind::Full) {
        prices.push((
            "average_traded_price".into(),
            py.get("average_traded_price"),
            float(p.avg_price.0, pp),
        ));
        for (name, value) in [
            ("last_traded_quantity", p.last_qty),
            ("volume_traded", p.volume),
            ("total_buy_quantity", p.total_buy_qty),
            ("total_sell_quantity", p.total_sell_qty),
        ] {
            ints.push((name.into(), py.get(name), u64::from(value)));
        }
    }
    if p.kind == PacketKind::Full {
        for (name, value) in [
            ("last_trade_time", p.last_trade_time),
            ("oi", p.oi),
            ("oi_day_high", p.oi_day_high),
            ("oi_day_low", p.oi_day_low),
        ] {
            ints.push((name.into(), py.get(name), u64::from(value)));
        }
        for (side, levels) in [("buy", &p.bids), ("sell", &p.asks)] {
            for (i, level) in levels.iter().enumerate() {
                let py_level = py
                    .get("depth")
                    .and_then(|d| d.get(side))
                    .and_then(|s| s.get(i));
                let field = |name: &str| py_level.and_then(|l| l.get(name));
                prices.push((
                    format!("depth.{side}[{i}].price"),
                    field("price"),
                    float(level.price.0, pp),
                ));
                ints.push((
                    format!("depth.{side}[{i}].quantity"),
                    field("quantity"),
                    u64::from(level.qty),
                ));
                ints.push((
                    format!("depth.{side}[{i}].orders"),
                    field("orders"),
                    u64::from(level.orders),
                ));
            }
        }
    }
    for (name, got, want) in ints {
        int(&name, got, want);
    }
    for (name, got, want) in prices {
        // Bit-exact: both sides divide the same integers once, correctly rounded.
        if got.and_then(py_float).map(f64::to_bits) != Some(want.to_bits()) {
            wrong.push(format!("{name}: python {got:?}, ours {want:?}"));
        }
    }
    wrong.extend(wrong_text);
    wrong
}

#[test]
fn official_python_client_decodes_the_same_values() {
    let Some(python) = common::kite::kite_python("official_python_client_decodes_the_same_values")
    else {
        return;
    };
    let mut rng = Rng(2024);
    let mut frames: Vec<Vec<Packet>> = (0..400)
        .map(|_| {
            let n = 1 + rng.below(8) as usize;
            (0..n).map(|_| any_packet(&mut rng)).collect()
        })
        .collect();
    if let (Some(quote), Some(full)) = (
        fixture("ticker_quote.packet"),
        fixture("ticker_full.packet"),
    ) {
        let (packets, _, _) = decode(&frame(&[&base64(&quote), &base64(&full)]));
        frames.push(packets);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("frames.hex");
    let hex: String = frames
        .iter()
        .map(|packets| {
            let bodies: Vec<Vec<u8>> = packets.iter().map(encode).collect();
            let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
            let bytes = frame(&refs);
            let mut line: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            line.push('\n');
            line
        })
        .collect();
    std::fs::write(&input, hex).expect("write frames");
    let output = Command::new(python)
        .arg(common::project_root().join("tests/kite_decoder_check.py"))
        .arg(&input)
        .env("TZ", "UTC")
        .output()
        .expect("run the check script");
    assert!(
        output.status.success(),
        "kite_decoder_check.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = std::str::from_utf8(&output.stdout)
        .expect("utf8")
        .lines()
        .collect();
    assert_eq!(lines.len(), frames.len(), "one line per frame");
    let mut compared = [0usize; 5];
    let mut problems = Vec::new();
    for (f, (packets, line)) in frames.iter().zip(&lines).enumerate() {
        let py: Vec<Value> = serde_json::from_str(line).expect("json");
        assert_eq!(py.len(), packets.len(), "frame {f}: packet count");
        for (i, (packet, py)) in packets.iter().zip(&py).enumerate() {
            // Our own decoding of the bytes, not the values they were built from.
            let (ours, _, _) = decode(&frame(&[&encode(packet)]));
            for problem in differences(&ours[0], py) {
                problems.push(format!(
                    "frame {f} packet {i} ({:?}): {problem}",
                    packet.kind
                ));
            }
            compared[packet.kind as usize] += 1;
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences, first: {:#?}",
        problems.len(),
        &problems[..problems.len().min(10)]
    );
    assert!(
        compared.iter().all(|&n| n > 100),
        "every kind compared often: {compared:?}"
    );
}
