//! Kite packets for the tests: the fixtures, a writer of every layout at the offsets of
//! `../shared/kite/README.md` (independent of the decoder), deterministic random packets of
//! every kind and segment, and framing.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use alpha_panda::domain::Price;
use alpha_panda::feed::kite::{DecodeError, DecodeStats, Decoder, DepthLevel, Packet, PacketKind};

/// `../shared/kite/fixtures/NAME` as text, or `None` with a note when the shared files are
/// not beside this checkout.
pub fn fixture(name: &str) -> Option<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/kite/fixtures")
        .join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            eprintln!(
                "SKIPPED: {} not readable ({e}); the shared Kite fixtures are not beside this checkout",
                path.display()
            );
            None
        }
    }
}

/// Standard base64 (the fixtures' encoding); whitespace ignored.
pub fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {:?}", c as char),
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .map(value)
        .collect();
    let mut out = Vec::new();
    for chunk in digits.chunks(4) {
        let bits = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &d)| acc | u32::from(d) << (18 - 6 * i));
        out.extend_from_slice(&bits.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// A frame of the given packet bodies.
pub fn frame(bodies: &[&[u8]]) -> Vec<u8> {
    let mut out = (bodies.len() as u16).to_be_bytes().to_vec();
    for body in bodies {
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
    }
    out
}

/// A body of `len` bytes with `token` and `last` set, the rest zero.
pub fn body(len: usize, token: u32, last: i32) -> Vec<u8> {
    let mut b = vec![0u8; len];
    b[..4].copy_from_slice(&token.to_be_bytes());
    b[4..8].copy_from_slice(&last.to_be_bytes());
    b
}

/// Writes a packet at the offsets of `../shared/kite/README.md`, independently of the
/// decoder: what Kite would send for these values.
pub fn encode(p: &Packet) -> Vec<u8> {
    let mut b = vec![0u8; p.kind.body_len()];
    let mut put = |at: usize, bytes: &[u8]| b[at..at + bytes.len()].copy_from_slice(bytes);
    let price = |p: Price| i32::try_from(p.0).expect("an i32 price").to_be_bytes();
    put(0, &p.token.to_be_bytes());
    put(4, &price(p.last_price));
    match p.kind {
        PacketKind::Ltp => {}
        PacketKind::IndexQuote | PacketKind::IndexFull => {
            put(8, &price(p.high));
            put(12, &price(p.low));
            put(16, &price(p.open));
            put(20, &price(p.close));
            put(24, &price(p.change));
            if p.kind == PacketKind::IndexFull {
                put(28, &p.exchange_time.to_be_bytes());
            }
        }
        PacketKind::Quote | PacketKind::Full => {
            put(8, &p.last_qty.to_be_bytes());
            put(12, &price(p.avg_price));
            put(16, &p.volume.to_be_bytes());
            put(20, &p.total_buy_qty.to_be_bytes());
            put(24, &p.total_sell_qty.to_be_bytes());
            put(28, &price(p.open));
            put(32, &price(p.high));
            put(36, &price(p.low));
            put(40, &price(p.close));
            if p.kind == PacketKind::Full {
                put(44, &p.last_trade_time.to_be_bytes());
                put(48, &p.oi.to_be_bytes());
                put(52, &p.oi_day_high.to_be_bytes());
                put(56, &p.oi_day_low.to_be_bytes());
                put(60, &p.exchange_time.to_be_bytes());
                for (i, level) in p.bids.iter().chain(&p.asks).enumerate() {
                    let at = 64 + 12 * i;
                    put(at, &level.qty.to_be_bytes());
                    put(at + 4, &price(level.price));
                    put(at + 8, &level.orders.to_be_bytes());
                }
            }
        }
    }
    b
}

/// SplitMix64: deterministic values without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn u32(&mut self) -> u32 {
        self.next() as u32
    }

    /// A wire price: often 0 (an empty level, no trade yet), else positive up to 2^31 - 1
    /// (where Kite's signed documentation and the clients' unsigned reading agree).
    pub fn price(&mut self) -> Price {
        match self.below(8) {
            0 => Price(0),
            1 => Price(i64::from(i32::MAX)),
            _ => Price(self.below(1 << 31) as i64),
        }
    }
}

/// Segment codes with their own divisors or names, and one Kite does not define.
pub const SEGMENTS: [u32; 11] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 77];

/// A packet of `kind` with random values in exactly the fields that kind carries.
pub fn random_packet(rng: &mut Rng, kind: PacketKind) -> Packet {
    let segment = SEGMENTS[rng.below(SEGMENTS.len() as u64) as usize];
    let mut p = Packet {
        kind,
        token: (rng.u32() >> 8) << 8 | segment,
        last_price: rng.price(),
        ..Packet::default()
    };
    if matches!(kind, PacketKind::Ltp) {
        return p;
    }
    (p.open, p.high, p.low, p.close) = (rng.price(), rng.price(), rng.price(), rng.price());
    match kind {
        PacketKind::IndexQuote | PacketKind::IndexFull => {
            p.change = Price(i64::from(rng.u32() as i32));
            if kind == PacketKind::IndexFull {
                p.exchange_time = rng.u32();
            }
        }
        _ => {
            (p.last_qty, p.volume) = (rng.u32(), rng.u32());
            (p.total_buy_qty, p.total_sell_qty) = (rng.u32(), rng.u32());
            p.avg_price = rng.price();
            if kind == PacketKind::Full {
                (p.last_trade_time, p.exchange_time) = (rng.u32(), rng.u32());
                (p.oi, p.oi_day_high, p.oi_day_low) = (rng.u32(), rng.u32(), rng.u32());
                for level in p.bids.iter_mut().chain(p.asks.iter_mut()) {
                    *level = DepthLevel {
                        qty: rng.u32(),
                        price: rng.price(),
                        orders: rng.u32() as u16,
                    };
                }
            }
        }
    }
    p
}

/// A packet of a random kind.
pub fn any_packet(rng: &mut Rng) -> Packet {
    let kind = PacketKind::ALL[rng.below(5) as usize];
    random_packet(rng, kind)
}

/// Every packet (or the error) of one message, and the decoder's counters.
pub fn decode(message: &[u8]) -> (Vec<Packet>, Option<DecodeError>, DecodeStats) {
    let mut decoder = Decoder::new();
    let mut packets = Vec::new();
    let mut error = None;
    for result in decoder.packets(message) {
        match result {
            Ok(packet) => packets.push(packet),
            Err(e) => error = Some(e),
        }
    }
    (packets, error, decoder.stats().clone())
}
