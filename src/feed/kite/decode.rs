//! Kite ticker binary messages → `Packet`s → engine ticks.
//!
//! Contract:
//! - A message is `u16 n`, then n × (`u16 length`, `length` bytes), big-endian. Shorter than
//!   2 bytes is a heartbeat (no packets). The kind of a packet is told by its length only
//!   (8 / 28 / 32 / 44 / 184); other lengths are counted and skipped.
//! - A message that ends inside a length prefix, or a length that runs past the end, is a
//!   `DecodeError` naming the byte offset; the packets before it have been delivered.
//!   Bytes after the n-th packet are counted (`trailing_bytes`) and ignored, as the official
//!   clients ignore them. No input panics.
//! - Prices stay integers: the wire value divided by the segment's divisor (CDS 10^7, BCD and
//!   NCO 10^4, others 10^2) is the price, so the wire integer *is* the fixed-point raw value
//!   at `price_precision(token)` (7, 4 or 2 decimals). Prices are read as `i32`, per Kite's
//!   documentation (the official clients read `u32`; the two agree below 2^31).
//! - Nothing here allocates: a `Packet` is a `Copy` value and errors carry only integers.
//! - `Packet::to_ticks` applies the CSV reader's rule (`ticks_from_fields`): a packet with a
//!   bid or ask (full mode, depth level 0) gives a quote, then a trade when it has a last
//!   price; otherwise a trade. A price of 0 or less means "none" (an empty book side, no trade
//!   yet), never a zero price.

use super::super::csv::{EXCHANGE_TS_WINDOW_NS, TickFields, ticks_from_fields};
use crate::domain::{InstrumentId, Nanos, Price, Qty, Tick};

/// Segment codes (`token & 0xFF`) whose prices are not in paise.
const SEGMENT_CDS: u8 = 3;
const SEGMENT_BCD: u8 = 6;
const SEGMENT_NCO: u8 = 12;
/// Levels per book side in a full packet.
pub const DEPTH: usize = 5;

/// The segment code of an instrument token (1 NSE, 2 NFO, 3 CDS, 4 BSE, 5 BFO, 6 BCD, 7 MCX,
/// 8 MCXSX, 9 indices, 12 NCO).
#[inline]
pub fn segment(token: u32) -> u8 {
    (token & 0xFF) as u8
}

/// Decimals of every price of the instrument with this token: 7 on CDS, 4 on BCD and NCO,
/// 2 elsewhere (Kite's price divisors 10^7, 10^4, 10^2).
#[inline]
pub fn price_precision(token: u32) -> u8 {
    match segment(token) {
        SEGMENT_CDS => 7,
        SEGMENT_BCD | SEGMENT_NCO => 4,
        _ => 2,
    }
}

/// What a packet holds, told by its length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// 8 bytes: token, last price.
    #[default]
    Ltp,
    /// 28 bytes: an index's last price, high, low, open, close, change.
    IndexQuote,
    /// 32 bytes: `IndexQuote` and the exchange timestamp.
    IndexFull,
    /// 44 bytes: last price and quantity, average price, volume, buy/sell totals, OHLC.
    Quote,
    /// 184 bytes: `Quote`, last trade time, open interest, exchange timestamp, 5 + 5 depth.
    Full,
}

impl PacketKind {
    /// Every kind, in the order of `DecodeStats::packets`.
    pub const ALL: [PacketKind; 5] = [
        PacketKind::Ltp,
        PacketKind::IndexQuote,
        PacketKind::IndexFull,
        PacketKind::Quote,
        PacketKind::Full,
    ];

    /// The kind of a packet of `len` bytes; `None` for a length Kite does not define.
    #[inline]
    pub fn from_len(len: usize) -> Option<PacketKind> {
        match len {
            8 => Some(PacketKind::Ltp),
            28 => Some(PacketKind::IndexQuote),
            32 => Some(PacketKind::IndexFull),
            44 => Some(PacketKind::Quote),
            184 => Some(PacketKind::Full),
            _ => None,
        }
    }

    /// Length of a packet of this kind, bytes.
    pub fn body_len(self) -> usize {
        match self {
            PacketKind::Ltp => 8,
            PacketKind::IndexQuote => 28,
            PacketKind::IndexFull => 32,
            PacketKind::Quote => 44,
            PacketKind::Full => 184,
        }
    }

    /// A stable lower-case name, for metric labels.
    pub fn name(self) -> &'static str {
        match self {
            PacketKind::Ltp => "ltp",
            PacketKind::IndexQuote => "index_quote",
            PacketKind::IndexFull => "index_full",
            PacketKind::Quote => "quote",
            PacketKind::Full => "full",
        }
    }
}

/// One price level of a full packet's market depth.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DepthLevel {
    /// Quantity at this price, units.
    pub qty: u32,
    /// Raw at the packet's `price_precision`; 0 for an empty level.
    pub price: Price,
    /// Number of orders at this price.
    pub orders: u16,
}

/// One decoded packet, values as on the wire. Fields a kind does not carry are 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Packet {
    pub kind: PacketKind,
    pub token: u32,
    /// Raw at `price_precision()`, as every price of the packet.
    pub last_price: Price,
    /// Quantity of the last trade (quote, full), units.
    pub last_qty: u32,
    /// Volume-weighted average trade price of the day (quote, full).
    pub avg_price: Price,
    /// Quantity traded today (quote, full), units.
    pub volume: u32,
    /// Total quantity on the bid side of the book (quote, full), units.
    pub total_buy_qty: u32,
    /// Total quantity on the ask side of the book (quote, full), units.
    pub total_sell_qty: u32,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    /// Change of the last price against close, signed (index packets only; Kite sends it, the
    /// official clients recompute it).
    pub change: Price,
    /// Time of the last trade, seconds since the Unix epoch (full).
    pub last_trade_time: u32,
    /// Open interest and its day high and low (full), units.
    pub oi: u32,
    pub oi_day_high: u32,
    pub oi_day_low: u32,
    /// Exchange timestamp, seconds since the Unix epoch (index full, full).
    pub exchange_time: u32,
    /// Bids, best first (full).
    pub bids: [DepthLevel; DEPTH],
    /// Asks, best first (full).
    pub asks: [DepthLevel; DEPTH],
}

/// The ticks of one packet (quote first), and the exchange's time beside them: `Tick::ts` is
/// the local receive time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketTicks {
    pub first: Tick,
    /// The trade of a packet that has both a book side and a last price.
    pub second: Option<Tick>,
    /// Exchange timestamp, ns since the Unix epoch, when the packet has a plausible one.
    pub exchange_ts: Option<Nanos>,
}

impl PacketTicks {
    /// The one or two ticks, in order.
    pub fn ticks(&self) -> impl Iterator<Item = Tick> + use<> {
        std::iter::once(self.first).chain(self.second)
    }
}

#[inline(always)]
fn be_u16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

#[inline(always)]
fn be_u32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[w, x, y, z]) => u32::from_be_bytes([w, x, y, z]),
        _ => 0,
    }
}

#[inline(always)]
fn price(b: &[u8], at: usize) -> Price {
    // The wire value is a signed 32-bit integer (Kite's documentation).
    Price(i64::from(be_u32(b, at).cast_signed()))
}

/// Reads `DEPTH` levels starting at byte `at` (12 bytes each: qty, price, orders, padding).
#[inline(always)]
fn depth(b: &[u8; 184], at: usize) -> [DepthLevel; DEPTH] {
    std::array::from_fn(|i| {
        let p = at + 12 * i;
        DepthLevel {
            qty: be_u32(b, p),
            price: price(b, p + 4),
            orders: be_u16(b, p + 8),
        }
    })
}

/// Decodes one packet body (without its length prefix); `None` for a length Kite does not
/// define.
#[inline]
pub fn parse_packet(body: &[u8]) -> Option<Packet> {
    let kind = PacketKind::from_len(body.len())?;
    let mut p = Packet {
        kind,
        token: be_u32(body, 0),
        last_price: price(body, 4),
        ..Packet::default()
    };
    match kind {
        PacketKind::Ltp => {}
        PacketKind::IndexQuote | PacketKind::IndexFull => {
            // Index packets order high, low, open, close (quote packets: open first).
            p.high = price(body, 8);
            p.low = price(body, 12);
            p.open = price(body, 16);
            p.close = price(body, 20);
            p.change = price(body, 24);
            p.exchange_time = be_u32(body, 28);
        }
        PacketKind::Quote | PacketKind::Full => {
            p.last_qty = be_u32(body, 8);
            p.avg_price = price(body, 12);
            p.volume = be_u32(body, 16);
            p.total_buy_qty = be_u32(body, 20);
            p.total_sell_qty = be_u32(body, 24);
            p.open = price(body, 28);
            p.high = price(body, 32);
            p.low = price(body, 36);
            p.close = price(body, 40);
            if let Ok(full) = <&[u8; 184]>::try_from(body) {
                p.last_trade_time = be_u32(full, 44);
                p.oi = be_u32(full, 48);
                p.oi_day_high = be_u32(full, 52);
                p.oi_day_low = be_u32(full, 56);
                p.exchange_time = be_u32(full, 60);
                p.bids = depth(full, 64);
                p.asks = depth(full, 64 + 12 * DEPTH);
            }
        }
    }
    Some(p)
}

#[inline]
fn positive(price: Price) -> Option<Price> {
    (price.0 > 0).then_some(price)
}

impl Packet {
    /// The segment code of the packet's token.
    #[inline]
    pub fn segment(&self) -> u8 {
        segment(self.token)
    }

    /// Decimals of every price in the packet.
    #[inline]
    pub fn price_precision(&self) -> u8 {
        price_precision(self.token)
    }

    /// The exchange timestamp in ns, when the packet has one inside the window the tick CSV
    /// accepts (2000 to 2100): 0, or a packet kind without one, is none.
    #[inline]
    pub fn exchange_ts(&self) -> Option<Nanos> {
        let ns = u64::from(self.exchange_time) * 1_000_000_000;
        EXCHANGE_TS_WINDOW_NS.contains(&ns).then_some(Nanos(ns))
    }

    /// The packet's prices and sizes as a tick row holds them: bid and ask from depth level 0
    /// (a side whose price is 0 is absent, with its size), last price and quantity from the
    /// packet (a last quantity without a last price is dropped; ltp and index packets have
    /// no quantity).
    #[inline]
    pub(in crate::feed) fn tick_fields(&self) -> TickFields {
        let last = positive(self.last_price);
        let has_last_qty = matches!(self.kind, PacketKind::Quote | PacketKind::Full);
        let mut fields = TickFields {
            last,
            last_size: (has_last_qty && last.is_some()).then_some(Qty(i64::from(self.last_qty))),
            ..TickFields::default()
        };
        if self.kind == PacketKind::Full {
            let (bid, ask) = (self.bids[0], self.asks[0]);
            fields.bid = positive(bid.price);
            fields.bid_size = fields.bid.map(|_| Qty(i64::from(bid.qty)));
            fields.ask = positive(ask.price);
            fields.ask_size = fields.ask.map(|_| Qty(i64::from(ask.qty)));
        }
        fields
    }

    /// The engine ticks of this packet for `instrument`, stamped `received` (the local receive
    /// time, ns; `local_ts = ts`), with the exchange time beside them. `None` when the packet
    /// holds no price at all (no last price, empty best levels).
    #[inline]
    pub fn to_ticks(&self, instrument: InstrumentId, received: Nanos) -> Option<PacketTicks> {
        let (first, second) = ticks_from_fields(received, instrument, self.tick_fields()).ok()?;
        Some(PacketTicks {
            first,
            second,
            exchange_ts: self.exchange_ts(),
        })
    }
}

/// Why a message cannot be decoded to its end. Offsets are bytes from the message start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The message ends inside the 2-byte length of packet `index` (0-based) of `count`.
    #[error(
        "kite message of {message_len} bytes truncated at byte {offset}: packet {index} of {count} has no length"
    )]
    Truncated {
        offset: usize,
        index: u16,
        count: u16,
        message_len: usize,
    },
    /// Packet `index` (its length prefix at `offset`) says `length` bytes, past the end.
    #[error(
        "kite message of {message_len} bytes: packet {index} at byte {offset} says {length} bytes, past the end"
    )]
    Overrun {
        offset: usize,
        index: u16,
        length: u16,
        message_len: usize,
    },
}

/// Counters of a `Decoder`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Binary messages handed to the decoder, heartbeats included.
    pub messages: u64,
    /// Messages shorter than 2 bytes.
    pub heartbeats: u64,
    /// Packets decoded, indexed like `PacketKind::ALL`.
    pub packets: [u64; 5],
    /// Packets skipped because Kite defines no packet of their length.
    pub unknown_lengths: u64,
    /// Messages that ended early (`DecodeError`).
    pub truncated: u64,
    /// Messages with bytes after their last packet.
    pub trailing_bytes: u64,
}

impl DecodeStats {
    /// Packets decoded of `kind`.
    pub fn packets_of(&self, kind: PacketKind) -> u64 {
        self.packets[kind as usize]
    }
}

/// Decodes binary ticker messages and counts what it saw. Owns no buffers.
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    stats: DecodeStats,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// The packets of one binary message, in order. After an `Err` the iterator ends.
    pub fn packets<'a>(&'a mut self, message: &'a [u8]) -> Packets<'a> {
        self.stats.messages += 1;
        let count = if message.len() < 2 {
            self.stats.heartbeats += 1;
            0
        } else {
            be_u16(message, 0)
        };
        if count == 0 && message.len() > 2 {
            self.stats.trailing_bytes += 1;
        }
        Packets {
            message,
            pos: 2,
            index: 0,
            count,
            stats: &mut self.stats,
        }
    }

    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }
}

/// Iterator over the packets of one message (see `Decoder::packets`).
#[derive(Debug)]
pub struct Packets<'a> {
    message: &'a [u8],
    /// Offset of the next length prefix.
    pos: usize,
    /// Index of the next packet.
    index: u16,
    /// Packets the message says it holds; set to `index` once done.
    count: u16,
    stats: &'a mut DecodeStats,
}

impl Iterator for Packets<'_> {
    type Item = Result<Packet, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        while self.index < self.count {
            let (offset, index) = (self.pos, self.index);
            let message_len = self.message.len();
            if offset + 2 > message_len {
                return Some(Err(self.fail(DecodeError::Truncated {
                    offset,
                    index,
                    count: self.count,
                    message_len,
                })));
            }
            let length = be_u16(self.message, offset);
            let start = offset + 2;
            let Some(body) = self.message.get(start..start + usize::from(length)) else {
                return Some(Err(self.fail(DecodeError::Overrun {
                    offset,
                    index,
                    length,
                    message_len,
                })));
            };
            self.pos = start + usize::from(length);
            self.index += 1;
            if self.index == self.count && self.pos < message_len {
                self.stats.trailing_bytes += 1;
            }
            match parse_packet(body) {
                Some(packet) => {
                    self.stats.packets[packet.kind as usize] += 1;
                    return Some(Ok(packet));
                }
                None => self.stats.unknown_lengths += 1,
            }
        }
        None
    }
}

impl Packets<'_> {
    #[cold]
    fn fail(&mut self, error: DecodeError) -> DecodeError {
        self.stats.truncated += 1;
        self.count = self.index;
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{TickFlags, TickKind};

    /// A frame of the given packet bodies.
    fn frame(bodies: &[&[u8]]) -> Vec<u8> {
        let mut out = (bodies.len() as u16).to_be_bytes().to_vec();
        for body in bodies {
            out.extend_from_slice(&(body.len() as u16).to_be_bytes());
            out.extend_from_slice(body);
        }
        out
    }

    /// A body of `len` bytes with `token` and `last` set, the rest zero.
    fn body(len: usize, token: u32, last: i32) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[..4].copy_from_slice(&token.to_be_bytes());
        b[4..8].copy_from_slice(&last.to_be_bytes());
        b
    }

    #[test]
    fn precision_by_segment_table() {
        let cases = [
            (1, 2, "NSE"),
            (2, 2, "NFO"),
            (3, 7, "CDS"),
            (4, 2, "BSE"),
            (5, 2, "BFO"),
            (6, 4, "BCD"),
            (7, 2, "MCX"),
            (8, 2, "MCXSX"),
            (9, 2, "indices"),
            (12, 4, "NCO"),
            (200, 2, "unknown"),
        ];
        for (segment_code, precision, name) in cases {
            let token = (4242 << 8) | segment_code;
            assert_eq!(segment(token), segment_code as u8, "{name}");
            assert_eq!(price_precision(token), precision, "{name}");
        }
    }

    #[test]
    fn to_ticks_table() {
        struct Case {
            name: &'static str,
            packet: Packet,
            /// (kind, bid, ask, bid size, ask size, flags) of each tick.
            ticks: Vec<(TickKind, i64, i64, i64, i64, u8)>,
            exchange_ts: Option<u64>,
        }
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
        let (q, t) = (TickKind::Quote, TickKind::Trade);
        let all = TickFlags::BID | TickFlags::ASK | TickFlags::BID_SIZE | TickFlags::ASK_SIZE;
        let prices = TickFlags::BID | TickFlags::ASK;
        let cases = [
            Case {
                name: "full: quote from level 0, then the trade",
                packet: full,
                ticks: vec![
                    (q, 157340, 157370, 5, 172, all),
                    (t, 157370, 157370, 7, 7, all),
                ],
                exchange_ts: Some(1_625_461_887_000_000_000),
            },
            Case {
                name: "full with an empty bid side: one-sided quote",
                packet: Packet {
                    bids: [level(0, 9); 5],
                    ..full
                },
                ticks: vec![
                    (q, 0, 157370, 0, 172, TickFlags::ASK | TickFlags::ASK_SIZE),
                    (t, 157370, 157370, 7, 7, all),
                ],
                exchange_ts: Some(1_625_461_887_000_000_000),
            },
            Case {
                name: "full with an empty book: the trade only",
                packet: Packet {
                    bids: [level(0, 0); 5],
                    asks: [level(0, 0); 5],
                    exchange_time: 0,
                    ..full
                },
                ticks: vec![(t, 157370, 157370, 7, 7, all)],
                exchange_ts: None,
            },
            Case {
                name: "full without a trade yet: the quote only, its quantity dropped",
                packet: Packet {
                    last_price: Price(0),
                    ..full
                },
                ticks: vec![(q, 157340, 157370, 5, 172, all)],
                exchange_ts: Some(1_625_461_887_000_000_000),
            },
            Case {
                name: "quote: a trade with its quantity",
                packet: Packet {
                    kind: PacketKind::Quote,
                    token: 408065,
                    last_price: Price(157315),
                    last_qty: 1,
                    ..Packet::default()
                },
                ticks: vec![(t, 157315, 157315, 1, 1, all)],
                exchange_ts: None,
            },
            Case {
                name: "ltp: a trade without size",
                packet: Packet {
                    kind: PacketKind::Ltp,
                    token: 408065,
                    last_price: Price(157315),
                    ..Packet::default()
                },
                ticks: vec![(t, 157315, 157315, 0, 0, prices)],
                exchange_ts: None,
            },
            Case {
                name: "index full: a trade without size, exchange time kept",
                packet: Packet {
                    kind: PacketKind::IndexFull,
                    token: 256265,
                    last_price: Price(1_565_040),
                    exchange_time: 1_700_000_000,
                    ..Packet::default()
                },
                ticks: vec![(t, 1_565_040, 1_565_040, 0, 0, prices)],
                exchange_ts: Some(1_700_000_000_000_000_000),
            },
        ];
        for case in cases {
            let got = case
                .packet
                .to_ticks(InstrumentId(3), Nanos(99))
                .unwrap_or_else(|| panic!("{}: no ticks", case.name));
            let ticks: Vec<_> = got
                .ticks()
                .map(|t| {
                    (
                        t.kind,
                        t.bid.0,
                        t.ask.0,
                        t.bid_size.0,
                        t.ask_size.0,
                        t.flags.0,
                    )
                })
                .collect();
            assert_eq!(ticks, case.ticks, "{}", case.name);
            assert_eq!(
                got.exchange_ts.map(|n| n.0),
                case.exchange_ts,
                "{}",
                case.name
            );
            assert!(
                got.ticks().all(|t| t.ts == Nanos(99)
                    && t.local_ts == Nanos(99)
                    && t.instrument == InstrumentId(3)),
                "{}",
                case.name
            );
        }
        let priceless = [
            Packet::default(),
            Packet {
                kind: PacketKind::Quote,
                last_qty: 5,
                ..Packet::default()
            },
            Packet {
                kind: PacketKind::Ltp,
                last_price: Price(-5),
                ..Packet::default()
            },
        ];
        for packet in priceless {
            assert_eq!(
                packet.to_ticks(InstrumentId(0), Nanos(1)),
                None,
                "{packet:?}"
            );
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

    #[test]
    fn packet_kind_lengths_round_trip() {
        for kind in PacketKind::ALL {
            assert_eq!(PacketKind::from_len(kind.body_len()), Some(kind));
            assert_eq!(
                parse_packet(&body(kind.body_len(), 1, 1)).map(|p| p.kind),
                Some(kind)
            );
        }
        for len in [0, 4, 7, 9, 27, 45, 183, 185, 400] {
            assert_eq!(parse_packet(&vec![0; len]), None, "length {len}");
        }
    }

    mod property_tests {
        use super::super::*;
        use super::{body, frame};
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
                let mut decoder = Decoder::new();
                let mut seen = 0u64;
                let mut errors = 0;
                for result in decoder.packets(&bytes) {
                    match result {
                        Ok(packet) => {
                            seen += 1;
                            let _ = packet.to_ticks(InstrumentId(0), Nanos(1));
                        }
                        Err(_) => errors += 1,
                    }
                }
                let stats = decoder.stats();
                prop_assert!(errors <= 1);
                prop_assert_eq!(stats.packets.iter().sum::<u64>(), seen);
                prop_assert_eq!(stats.truncated, errors);
            }

            #[test]
            fn frames_of_valid_packets_decode_in_order(
                packets in proptest::collection::vec(
                    (0usize..5, any::<u32>(), any::<i32>()), 0..20)
            ) {
                let bodies: Vec<Vec<u8>> = packets
                    .iter()
                    .map(|&(k, token, last)| body(PacketKind::ALL[k].body_len(), token, last))
                    .collect();
                let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
                let message = frame(&refs);
                let mut decoder = Decoder::new();
                let decoded: Vec<Packet> = decoder
                    .packets(&message)
                    .collect::<Result<_, _>>()
                    .expect("valid frame");
                prop_assert_eq!(decoded.len(), packets.len());
                for (packet, &(k, token, last)) in decoded.iter().zip(&packets) {
                    prop_assert_eq!(packet.kind, PacketKind::ALL[k]);
                    prop_assert_eq!(packet.token, token);
                    prop_assert_eq!(packet.last_price, Price(i64::from(last)));
                }
            }
        }
    }
}
