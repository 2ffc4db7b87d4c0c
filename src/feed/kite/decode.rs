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

use super::super::csv::{TickFields, ticks_from_fields};
use super::super::rules;
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
// Each layout reads a fixed-size array at constant offsets (no bounds checks). Always
// inlined, as `Packets::next`: a caller that uses a few fields (`to_ticks`) then reads only
// those bytes and never copies the 264-byte packet out; out of line, a full packet with its
// ticks took 409 instructions instead of 160 (callgrind, `benches/kite_decode.rs`).
#[inline(always)]
pub fn parse_packet(body: &[u8]) -> Option<Packet> {
    match body.len() {
        8 => Some(Packet {
            kind: PacketKind::Ltp,
            token: be_u32(body, 0),
            last_price: price(body, 4),
            ..Packet::default()
        }),
        28 => Some(index(
            <&[u8; 28]>::try_from(body).ok()?,
            PacketKind::IndexQuote,
        )),
        32 => {
            let b = <&[u8; 32]>::try_from(body).ok()?;
            Some(Packet {
                exchange_time: be_u32(b, 28),
                ..index(b, PacketKind::IndexFull)
            })
        }
        44 => Some(quote(<&[u8; 44]>::try_from(body).ok()?, PacketKind::Quote)),
        184 => {
            let b = <&[u8; 184]>::try_from(body).ok()?;
            Some(Packet {
                last_trade_time: be_u32(b, 44),
                oi: be_u32(b, 48),
                oi_day_high: be_u32(b, 52),
                oi_day_low: be_u32(b, 56),
                exchange_time: be_u32(b, 60),
                bids: depth(b, 64),
                asks: depth(b, 64 + 12 * DEPTH),
                ..quote(b, PacketKind::Full)
            })
        }
        _ => None,
    }
}

/// The fields of an index packet (28 or 32 bytes). Index packets order high, low, open,
/// close (quote packets: open first).
#[inline(always)]
fn index<const N: usize>(b: &[u8; N], kind: PacketKind) -> Packet {
    Packet {
        kind,
        token: be_u32(b, 0),
        last_price: price(b, 4),
        high: price(b, 8),
        low: price(b, 12),
        open: price(b, 16),
        close: price(b, 20),
        change: price(b, 24),
        ..Packet::default()
    }
}

/// The fields a quote packet (44 bytes) and a full packet (184) share.
#[inline(always)]
fn quote<const N: usize>(b: &[u8; N], kind: PacketKind) -> Packet {
    Packet {
        kind,
        token: be_u32(b, 0),
        last_price: price(b, 4),
        last_qty: be_u32(b, 8),
        avg_price: price(b, 12),
        volume: be_u32(b, 16),
        total_buy_qty: be_u32(b, 20),
        total_sell_qty: be_u32(b, 24),
        open: price(b, 28),
        high: price(b, 32),
        low: price(b, 36),
        close: price(b, 40),
        ..Packet::default()
    }
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
        rules::timestamp_ok(ns).then_some(Nanos(ns))
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
    /// A decoder with zeroed counters.
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

    /// Counters since `new`, for metrics.
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

    // Always inlined: see `parse_packet`.
    #[inline(always)]
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
