//! The market data event: a 64-byte `Copy` tick, either a top-of-book quote or a trade.

use super::fixed::{POW10, Price, Qty};
use super::instrument::InstrumentId;

/// Nanoseconds since the Unix epoch.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Nanos(pub u64);

/// Whether a tick is a quote or a trade.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[repr(u8)]
pub enum TickKind {
    #[default]
    Quote = 0,
    Trade = 1,
}

/// Which optional fields of a tick are present (bit set).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct TickFlags(pub u8);

impl TickFlags {
    pub const BID: u8 = 1;
    pub const ASK: u8 = 2;
    pub const BID_SIZE: u8 = 4;
    pub const ASK_SIZE: u8 = 8;

    #[inline]
    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// One market data event. A trade stores its price in both `bid` and `ask` and its size in
/// both sizes, so a simulated BUY (at the ask) and SELL (at the bid) both fill at the trade
/// price without a branch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(C)]
pub struct Tick {
    /// Exchange timestamp, ns since the Unix epoch.
    pub ts: Nanos,
    /// Local receive timestamp, ns since the Unix epoch (equals `ts` where the source has one clock).
    pub local_ts: Nanos,
    /// Position of this tick in the run (0, 1, 2, ...); the correlation id of what it causes.
    pub seq: u64,
    pub instrument: InstrumentId,
    pub kind: TickKind,
    pub flags: TickFlags,
    /// Best bid (quote) or trade price (trade), raw at the instrument's price precision.
    pub bid: Price,
    /// Best ask (quote) or trade price (trade).
    pub ask: Price,
    /// Bid size (quote) or trade size (trade), raw at the instrument's quantity precision.
    pub bid_size: Qty,
    /// Ask size (quote) or trade size (trade).
    pub ask_size: Qty,
}

impl Tick {
    /// A quote; `None` sides are absent from the source.
    pub fn quote(
        ts: Nanos,
        instrument: InstrumentId,
        bid: Option<Price>,
        ask: Option<Price>,
        bid_size: Option<Qty>,
        ask_size: Option<Qty>,
    ) -> Tick {
        let mut flags = 0;
        for (present, bit) in [
            (bid.is_some(), TickFlags::BID),
            (ask.is_some(), TickFlags::ASK),
            (bid_size.is_some(), TickFlags::BID_SIZE),
            (ask_size.is_some(), TickFlags::ASK_SIZE),
        ] {
            if present {
                flags |= bit;
            }
        }
        Tick {
            ts,
            local_ts: ts,
            seq: 0,
            instrument,
            kind: TickKind::Quote,
            flags: TickFlags(flags),
            bid: bid.unwrap_or_default(),
            ask: ask.unwrap_or_default(),
            bid_size: bid_size.unwrap_or_default(),
            ask_size: ask_size.unwrap_or_default(),
        }
    }

    /// A trade at `price`; `size` is absent when the source has none.
    pub fn trade(ts: Nanos, instrument: InstrumentId, price: Price, size: Option<Qty>) -> Tick {
        let size_bits = if size.is_some() {
            TickFlags::BID_SIZE | TickFlags::ASK_SIZE
        } else {
            0
        };
        let size = size.unwrap_or_default();
        Tick {
            ts,
            local_ts: ts,
            seq: 0,
            instrument,
            kind: TickKind::Trade,
            flags: TickFlags(TickFlags::BID | TickFlags::ASK | size_bits),
            bid: price,
            ask: price,
            bid_size: size,
            ask_size: size,
        }
    }

    #[inline]
    pub fn is_trade(&self) -> bool {
        self.kind == TickKind::Trade
    }

    /// Trade price of a trade tick.
    #[inline]
    pub fn last(&self) -> Option<Price> {
        self.is_trade().then_some(self.bid)
    }

    /// Best bid of a quote, or the price of a trade: what a market SELL fills at.
    #[inline]
    pub fn sell_price(&self) -> Option<Price> {
        self.flags.has(TickFlags::BID).then_some(self.bid)
    }

    /// Best ask of a quote, or the price of a trade: what a market BUY fills at.
    #[inline]
    pub fn buy_price(&self) -> Option<Price> {
        self.flags.has(TickFlags::ASK).then_some(self.ask)
    }

    /// `bid + ask` of a two-sided quote, raw: twice the mid, so it stays an exact integer.
    /// `None` also when the sum does not fit an `i64` (the feed refuses such prices; a tick
    /// built elsewhere gets no mid rather than a wrapped one).
    #[inline]
    pub fn mid_x2(&self) -> Option<i64> {
        let both = TickFlags::BID | TickFlags::ASK;
        if self.kind == TickKind::Quote && self.flags.0 & both == both {
            self.bid.0.checked_add(self.ask.0)
        } else {
            None
        }
    }

    /// The binary64 nearest the exact mid `(bid + ask) / 2` of a two-sided quote.
    #[inline]
    pub fn mid_f64(&self, price_precision: u8) -> Option<f64> {
        self.mid_x2()
            .map(|x2| x2 as f64 / (2 * POW10[price_precision as usize]) as f64)
    }

    /// A reference price for marks and price bands: exact mid × 2 of a quote, or 2 × trade price.
    #[inline]
    pub fn reference_x2(&self) -> Option<i64> {
        match self.kind {
            TickKind::Trade => self.bid.0.checked_mul(2),
            TickKind::Quote => self.mid_x2(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_fits_one_cache_line() {
        assert_eq!(std::mem::size_of::<Tick>(), 64);
    }

    #[test]
    fn accessors_table() {
        let quote = Tick::quote(
            Nanos(1),
            InstrumentId(0),
            Some(Price(100)),
            Some(Price(103)),
            None,
            None,
        );
        let one_sided = Tick::quote(
            Nanos(1),
            InstrumentId(0),
            Some(Price(100)),
            None,
            None,
            None,
        );
        let trade = Tick::trade(Nanos(1), InstrumentId(0), Price(101), Some(Qty(5)));
        assert_eq!(quote.mid_x2(), Some(203), "quote mid");
        assert_eq!(quote.mid_f64(2), Some(1.015), "quote mid f64");
        assert_eq!(quote.last(), None, "quote has no last");
        assert_eq!(
            (quote.buy_price(), quote.sell_price()),
            (Some(Price(103)), Some(Price(100)))
        );
        assert_eq!(one_sided.mid_x2(), None, "one-sided quote has no mid");
        let huge = Tick::quote(
            Nanos(1),
            InstrumentId(0),
            Some(Price(i64::MAX / 2 + 1)),
            Some(Price(i64::MAX / 2 + 1)),
            None,
            None,
        );
        assert_eq!(huge.mid_x2(), None, "a sum that would wrap is no mid");
        let huge_trade = Tick::trade(Nanos(1), InstrumentId(0), Price(i64::MAX / 2 + 1), None);
        assert_eq!(huge_trade.reference_x2(), None, "a double that would wrap");
        assert_eq!(one_sided.buy_price(), None, "one-sided quote has no ask");
        assert_eq!(trade.last(), Some(Price(101)), "trade price");
        assert_eq!(trade.mid_x2(), None, "trade has no mid");
        assert_eq!(
            (trade.buy_price(), trade.sell_price()),
            (Some(Price(101)), Some(Price(101)))
        );
        assert_eq!(trade.reference_x2(), Some(202));
    }
}
