//! Recording a live Kite session as a tick CSV the backtester reads back.
//!
//! Contract:
//! - Writes the header `ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size,exchange_ts_ns`
//!   at creation, then one row per packet that holds a price: the same fields `Packet::to_ticks` turns
//!   into ticks (bid/ask/sizes from depth level 0, last/last_size from the packet), so the
//!   CSV reader gives back exactly the ticks the live session saw. A packet without any price
//!   writes nothing (counted in `skipped`).
//! - Prices are exact decimals with all of the instrument's decimals (`1575.00`), so the
//!   reader's pre-scan finds the same precision as the segment's; `exchange_ts_ns` is empty
//!   when the packet has no exchange time.
//! - Rows go to a buffer of fixed capacity, written through when nearly full and on
//!   `flush`; formatting is by hand, so no row allocates. `ts` must not go backwards (the
//!   reader refuses a file that does); the engine's receive clock is monotonic.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use super::super::csv::HEADER_EXCHANGE_TS;
use super::decode::Packet;
use crate::domain::{Nanos, Price, Qty};

/// Bytes buffered before they are written through.
const BUFFER: usize = 64 * 1024;
/// The longest row: a 20-digit ts, a symbol of at most `MAX_SYMBOL`, four prices and three
/// sizes of at most 21 bytes, and a 20-digit exchange time, with 9 separators.
const MAX_ROW: usize = 20 + MAX_SYMBOL + 7 * 21 + 20 + 9;
/// Symbols longer than this are refused (Kite's are far shorter).
pub const MAX_SYMBOL: usize = 64;

/// Rows written and packets left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordStats {
    pub rows: u64,
    /// Packets without any price (no row to write).
    pub skipped: u64,
}

/// Appends decoded packets to a tick CSV.
#[derive(Debug)]
pub struct Recorder<W: Write> {
    out: W,
    buf: Vec<u8>,
    stats: RecordStats,
}

impl Recorder<File> {
    /// Creates (truncates) `path` and writes the header.
    ///
    /// # Errors
    /// The file cannot be created or written.
    pub fn create(path: &Path) -> io::Result<Recorder<File>> {
        Recorder::new(File::create(path)?)
    }
}

impl<W: Write> Recorder<W> {
    /// A recorder writing to `out`. The header is written at once, so even a session that
    /// records nothing leaves a valid tick CSV.
    ///
    /// # Errors
    /// Writing the header failed.
    pub fn new(mut out: W) -> io::Result<Recorder<W>> {
        out.write_all(HEADER_EXCHANGE_TS.as_bytes())?;
        out.write_all(b"\n")?;
        let buf = Vec::with_capacity(BUFFER + MAX_ROW);
        Ok(Recorder {
            out,
            buf,
            stats: RecordStats::default(),
        })
    }

    /// Appends the row of one packet of `symbol` received at `received` (ns; the same time
    /// the live ticks carry). Returns false when the packet holds no price (nothing written).
    ///
    /// # Errors
    /// Writing a full buffer through failed, or `symbol` is empty, longer than `MAX_SYMBOL`
    /// or holds a comma or line break (it would break the row).
    pub fn record(&mut self, received: Nanos, symbol: &str, packet: &Packet) -> io::Result<bool> {
        let f = packet.tick_fields();
        if f.bid.is_none() && f.ask.is_none() && f.last.is_none() {
            self.stats.skipped += 1;
            return Ok(false);
        }
        if symbol.is_empty()
            || symbol.len() > MAX_SYMBOL
            || symbol.bytes().any(|b| matches!(b, b',' | b'\n' | b'\r'))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "symbol unfit for a tick CSV row (empty, too long, or with ',' or a line break)",
            ));
        }
        let pp = packet.price_precision();
        let buf = &mut self.buf;
        push_u64(buf, received.0);
        buf.push(b',');
        buf.extend_from_slice(symbol.as_bytes());
        for price in [f.bid, f.ask] {
            buf.push(b',');
            push_price(buf, price, pp);
        }
        for size in [f.bid_size, f.ask_size] {
            buf.push(b',');
            push_qty(buf, size);
        }
        buf.push(b',');
        push_price(buf, f.last, pp);
        buf.push(b',');
        push_qty(buf, f.last_size);
        buf.push(b',');
        if let Some(ts) = packet.exchange_ts() {
            push_u64(buf, ts.0);
        }
        buf.push(b'\n');
        self.stats.rows += 1;
        if self.buf.len() >= BUFFER {
            self.write_through()?;
        }
        Ok(true)
    }

    /// Writes every buffered row and flushes the writer.
    ///
    /// # Errors
    /// The writer failed.
    pub fn flush(&mut self) -> io::Result<()> {
        self.write_through()?;
        self.out.flush()
    }

    /// Rows written and packets left out since creation.
    pub fn stats(&self) -> RecordStats {
        self.stats
    }

    /// Flushes, then hands the writer back.
    ///
    /// # Errors
    /// The writer failed.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.flush()?;
        Ok(self.out)
    }

    fn write_through(&mut self) -> io::Result<()> {
        // Cleared even on error: a failing disk must not grow the buffer without bound.
        let result = self.out.write_all(&self.buf);
        self.buf.clear();
        result
    }
}

/// "00" to "99": digits are written two at a time (half the divisions of a digit loop).
const DIGIT_PAIRS: [u8; 200] = {
    let mut table = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        table[2 * i] = b'0' + (i / 10) as u8;
        table[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    table
};

/// Writes `value` right-aligned into `out`, zero-padded to at least `min_digits` (at most
/// 20); returns where the digits start.
#[inline]
fn digits(out: &mut [u8; 20], mut value: u64, min_digits: usize) -> usize {
    let mut i = out.len();
    while value >= 100 {
        let pair = (value % 100) as usize * 2;
        value /= 100;
        i -= 2;
        out[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if value >= 10 {
        let pair = value as usize * 2;
        i -= 2;
        out[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        out[i] = b'0' + value as u8;
    }
    while out.len() - i < min_digits.min(out.len()) {
        i -= 1;
        out[i] = b'0';
    }
    i
}

/// Appends the decimal digits of `value`.
#[inline]
fn push_u64(buf: &mut Vec<u8>, value: u64) {
    let mut out = [0u8; 20];
    let start = digits(&mut out, value, 1);
    buf.extend_from_slice(&out[start..]);
}

/// Appends a positive raw price with all `precision` decimals; nothing for `None`.
#[inline]
fn push_price(buf: &mut Vec<u8>, price: Option<Price>, precision: u8) {
    let Some(Price(raw)) = price else { return };
    // The point goes into the raw digits: no division by the precision's power of ten
    // (two 64-bit divisions per price were most of a row's cost). Only positive prices
    // reach here (`tick_fields` drops the rest).
    let mut out = [0u8; 20];
    let decimals = usize::from(precision).min(9);
    let start = digits(&mut out, raw.unsigned_abs(), decimals + 1);
    let point = out.len() - decimals;
    buf.extend_from_slice(&out[start..point]);
    if decimals > 0 {
        buf.push(b'.');
        buf.extend_from_slice(&out[point..]);
    }
}

#[inline]
fn push_qty(buf: &mut Vec<u8>, qty: Option<Qty>) {
    if let Some(Qty(raw)) = qty {
        push_u64(buf, raw.unsigned_abs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::kite::decode::{DepthLevel, PacketKind};

    fn text(recorder: Recorder<Vec<u8>>) -> String {
        String::from_utf8(recorder.into_inner().expect("flush")).expect("utf8")
    }

    #[test]
    fn rows_table() {
        let level = |price, qty| DepthLevel {
            qty,
            price: Price(price),
            orders: 1,
        };
        let full = Packet {
            kind: PacketKind::Full,
            token: 408065,
            last_price: Price(157370),
            last_qty: 7,
            exchange_time: 1_625_461_887,
            bids: [level(157340, 5); 5],
            asks: [level(157370, 172); 5],
            ..Packet::default()
        };
        struct Case {
            name: &'static str,
            packet: Packet,
            row: &'static str,
        }
        let cases = [
            Case {
                name: "full",
                packet: full,
                row: "7,NSE:INFY,1573.40,1573.70,5,172,1573.70,7,1625461887000000000",
            },
            Case {
                name: "full with an empty bid side",
                packet: Packet {
                    bids: [DepthLevel::default(); 5],
                    ..full
                },
                row: "7,NSE:INFY,,1573.70,,172,1573.70,7,1625461887000000000",
            },
            Case {
                name: "ltp on CDS at 7 decimals",
                packet: Packet {
                    kind: PacketKind::Ltp,
                    token: 0x0100 | 3,
                    last_price: Price(830_000_001),
                    ..Packet::default()
                },
                row: "7,NSE:INFY,,,,,83.0000001,,",
            },
            Case {
                name: "quote with whole price",
                packet: Packet {
                    kind: PacketKind::Quote,
                    token: 408065,
                    last_price: Price(157500),
                    last_qty: 0,
                    ..Packet::default()
                },
                row: "7,NSE:INFY,,,,,1575.00,0,",
            },
        ];
        for case in cases {
            let mut recorder = Recorder::new(Vec::new()).expect("new");
            assert!(
                recorder
                    .record(Nanos(7), "NSE:INFY", &case.packet)
                    .expect("record"),
                "{}",
                case.name
            );
            let got = text(recorder);
            assert_eq!(
                got,
                format!("{HEADER_EXCHANGE_TS}\n{}\n", case.row),
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn numbers_table() {
        let cases: [(u64, u8, &str); 8] = [
            (0, 0, "0"),
            (7, 2, "0.07"),
            (157_370, 2, "1573.70"),
            (100, 2, "1.00"),
            (830_000_001, 7, "83.0000001"),
            (25, 4, "0.0025"),
            (u64::MAX, 0, "18446744073709551615"),
            (i64::MAX as u64, 9, "9223372036.854775807"),
        ];
        for (raw, precision, text) in cases {
            let mut buf = Vec::new();
            push_price(&mut buf, Some(Price(raw as i64)), precision);
            if raw <= i64::MAX as u64 {
                assert_eq!(String::from_utf8_lossy(&buf), text, "{raw} at {precision}");
            }
            let mut buf = Vec::new();
            push_u64(&mut buf, raw);
            assert_eq!(String::from_utf8_lossy(&buf), raw.to_string(), "{raw}");
        }
    }

    #[test]
    fn priceless_packets_and_bad_symbols_write_nothing() {
        let mut recorder = Recorder::new(Vec::new()).expect("new");
        let empty = Packet {
            kind: PacketKind::Full,
            token: 408065,
            ..Packet::default()
        };
        assert!(!recorder.record(Nanos(1), "NSE:INFY", &empty).expect("ok"));
        let ltp = Packet {
            last_price: Price(1),
            ..empty
        };
        for symbol in ["", "A,B", "A\nB", &"X".repeat(MAX_SYMBOL + 1)] {
            assert!(
                recorder.record(Nanos(1), symbol, &ltp).is_err(),
                "{symbol:?}"
            );
        }
        assert_eq!(
            recorder.stats(),
            RecordStats {
                rows: 0,
                skipped: 1
            }
        );
        assert_eq!(text(recorder), format!("{HEADER_EXCHANGE_TS}\n"));
    }

    #[test]
    fn buffer_never_grows_past_its_capacity() {
        let mut recorder = Recorder::new(io::sink()).expect("new");
        let capacity = recorder.buf.capacity();
        let packet = Packet {
            kind: PacketKind::Quote,
            token: 408065,
            last_price: Price(i64::from(i32::MAX)),
            last_qty: u32::MAX,
            exchange_time: u32::MAX,
            ..Packet::default()
        };
        let symbol = "X".repeat(MAX_SYMBOL);
        for i in 0..10_000 {
            recorder
                .record(Nanos(u64::MAX - 10_000 + i), &symbol, &packet)
                .expect("record");
        }
        assert_eq!(recorder.buf.capacity(), capacity);
        assert_eq!(recorder.stats().rows, 10_000);
    }
}
