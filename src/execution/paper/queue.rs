//! Queue position of the paper venue's resting limit orders (`queue = "conservative"`,
//! hftbacktest's risk-averse model on top-of-book data). Contract: pure functions of an
//! order's side, price and volume ahead and one tick; no allocation, no state of their own
//! (the volume ahead lives in the resting order).
//!
//! The data never holds our own orders, so the size it displays at a price is the volume
//! that was there before us. For a resting order at price `P` (a BUY sits on the bid side,
//! a SELL on the ask side):
//! - Join: when it starts resting, the volume ahead is the size displayed at `P` on its side:
//!   `P` at the touch (BUY: `P == bid`): that size; `P` better than the touch (BUY: `P >
//!   bid`): 0; `P` worse than the touch (BUY: `P < bid`), or no touch or size shown: unknown,
//!   held as infinite (`UNKNOWN`) until a quote shows `P` again.
//! - A trade at `P` with a size `s`: the volume ahead shrinks by `s` (not below 0); whatever
//!   of `s` is beyond the volume ahead fills the order (as maker, at `P`). An unknown volume
//!   ahead stays unknown.
//! - A quote that shows `P` (at the touch, or better than it, which shows 0 there) caps the
//!   volume ahead at the size shown; it never raises it (a size that grew grew behind us).
//! - Trade-through: the touch it would execute against is strictly better than `P` (BUY: ask,
//!   or a trade, below `P`; SELL: bid, or a trade, above `P`): the market went through its
//!   price, and the order fills whole (as maker, at `P`).
//!
//! Worked example (BUY 5 at 100): quote bid 100 × 8 → 8 ahead; trade 100 × 3 → 5 ahead;
//! quote bid 100 × 4 → 4 ahead; quote bid 100 × 10 → still 4; trade 100 × 6 → 0 ahead and 2
//! filled; trade 100 × 1 → 1 filled; trade 99.9 × 1 → trade-through, the last 2 filled.

use crate::domain::{Price, Side, Tick, TickFlags, TickKind};

/// Volume ahead of an order whose price level the data does not show: infinite.
pub const UNKNOWN: i64 = i64::MAX;

/// How the paper venue fills resting limit orders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueueModel {
    /// Whenever the touch reaches the limit (BUY: ask <= limit), whole or per `fill_size`.
    #[default]
    None,
    /// Behind the volume displayed at its price (module doc).
    Conservative,
}

/// What one tick does for a resting order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing fills.
    Hold,
    /// At most this much traded beyond the volume ahead and may fill.
    Fill(i64),
    /// The market traded through the order's price: all of it fills.
    Through,
}

/// The size `quote` displays at `price` on `side`'s own side of the book: the size at the
/// touch when `price` is the touch, 0 when `price` is better than the touch; `None` when the
/// quote says nothing about `price` (worse than the touch, no touch, no size, or a trade).
#[inline]
pub fn displayed(side: Side, price: Price, quote: &Tick) -> Option<i64> {
    if quote.kind != TickKind::Quote {
        return None;
    }
    let (present, size_flag, touch, size) = match side {
        Side::Buy => (
            quote.flags.has(TickFlags::BID),
            TickFlags::BID_SIZE,
            quote.bid,
            quote.bid_size,
        ),
        Side::Sell => (
            quote.flags.has(TickFlags::ASK),
            TickFlags::ASK_SIZE,
            quote.ask,
            quote.ask_size,
        ),
    };
    if !present {
        return None;
    }
    let better = match side {
        Side::Buy => price > touch,
        Side::Sell => price < touch,
    };
    if better {
        Some(0)
    } else if price == touch && quote.flags.has(size_flag) {
        Some(size.0.max(0))
    } else {
        None
    }
}

/// The volume ahead of an order that starts resting at `price` when `book` is the latest
/// quote of its instrument.
#[inline]
pub fn join(side: Side, price: Price, book: &Tick) -> i64 {
    displayed(side, price, book).unwrap_or(UNKNOWN)
}

/// Applies `tick` to a resting order at `price` with `ahead` in front of it.
#[inline]
pub fn step(side: Side, price: Price, ahead: &mut i64, tick: &Tick) -> Step {
    let touch = match side {
        Side::Buy => tick.buy_price(),
        Side::Sell => tick.sell_price(),
    };
    let through = touch.is_some_and(|touch| match side {
        Side::Buy => touch < price,
        Side::Sell => touch > price,
    });
    if through {
        *ahead = 0;
        return Step::Through;
    }
    if tick.kind == TickKind::Trade {
        // A trade stores its price in bid and ask, its size in both sizes.
        let sized = tick.flags.has(TickFlags::BID_SIZE);
        if tick.bid != price || !sized || *ahead == UNKNOWN {
            return Step::Hold;
        }
        let traded = tick.bid_size.0.max(0);
        let beyond = traded - *ahead;
        *ahead = (-beyond).max(0);
        return if beyond > 0 {
            Step::Fill(beyond)
        } else {
            Step::Hold
        };
    }
    if let Some(shown) = displayed(side, price, tick) {
        *ahead = (*ahead).min(shown);
    }
    Step::Hold
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InstrumentId, Nanos, Qty};

    fn quote(bid: Option<(i64, Option<i64>)>, ask: Option<(i64, Option<i64>)>) -> Tick {
        Tick::quote(
            Nanos(1),
            InstrumentId(0),
            bid.map(|(p, _)| Price(p)),
            ask.map(|(p, _)| Price(p)),
            bid.and_then(|(_, s)| s).map(Qty),
            ask.and_then(|(_, s)| s).map(Qty),
        )
    }

    fn book(bid: i64, bid_size: i64, ask: i64, ask_size: i64) -> Tick {
        quote(Some((bid, Some(bid_size))), Some((ask, Some(ask_size))))
    }

    fn trade(price: i64, size: Option<i64>) -> Tick {
        Tick::trade(Nanos(1), InstrumentId(0), Price(price), size.map(Qty))
    }

    #[test]
    fn join_table() {
        struct Case {
            name: &'static str,
            side: Side,
            price: i64,
            book: Tick,
            ahead: i64,
        }
        let cases = [
            Case {
                name: "buy at the bid joins behind its size",
                side: Side::Buy,
                price: 100,
                book: book(100, 8, 101, 4),
                ahead: 8,
            },
            Case {
                name: "sell at the ask joins behind its size",
                side: Side::Sell,
                price: 101,
                book: book(100, 8, 101, 4),
                ahead: 4,
            },
            Case {
                name: "buy better than the bid has nothing ahead",
                side: Side::Buy,
                price: 101,
                book: book(100, 8, 102, 4),
                ahead: 0,
            },
            Case {
                name: "sell better than the ask has nothing ahead",
                side: Side::Sell,
                price: 101,
                book: book(100, 8, 102, 4),
                ahead: 0,
            },
            Case {
                name: "buy below the bid: level not visible",
                side: Side::Buy,
                price: 99,
                book: book(100, 8, 101, 4),
                ahead: UNKNOWN,
            },
            Case {
                name: "sell above the ask: level not visible",
                side: Side::Sell,
                price: 102,
                book: book(100, 8, 101, 4),
                ahead: UNKNOWN,
            },
            Case {
                name: "at the bid without a size: unknown",
                side: Side::Buy,
                price: 100,
                book: quote(Some((100, None)), Some((101, None))),
                ahead: UNKNOWN,
            },
            Case {
                name: "no bid: unknown",
                side: Side::Buy,
                price: 100,
                book: quote(None, Some((101, Some(4)))),
                ahead: UNKNOWN,
            },
            Case {
                name: "a trade shows no book: unknown",
                side: Side::Buy,
                price: 100,
                book: trade(100, Some(5)),
                ahead: UNKNOWN,
            },
            Case {
                name: "before any quote (default tick): unknown",
                side: Side::Sell,
                price: 100,
                book: Tick::default(),
                ahead: UNKNOWN,
            },
        ];
        for c in cases {
            assert_eq!(join(c.side, Price(c.price), &c.book), c.ahead, "{}", c.name);
        }
    }

    #[test]
    fn step_table() {
        struct Case {
            name: &'static str,
            side: Side,
            ahead: i64,
            tick: Tick,
            step: Step,
            after: i64,
        }
        // Every case: an order at 100.
        let cases = [
            Case {
                name: "trade at the price depletes the queue",
                side: Side::Buy,
                ahead: 8,
                tick: trade(100, Some(3)),
                step: Step::Hold,
                after: 5,
            },
            Case {
                name: "trade beyond the queue fills the excess",
                side: Side::Buy,
                ahead: 4,
                tick: trade(100, Some(6)),
                step: Step::Fill(2),
                after: 0,
            },
            Case {
                name: "trade exactly the queue fills nothing",
                side: Side::Sell,
                ahead: 6,
                tick: trade(100, Some(6)),
                step: Step::Hold,
                after: 0,
            },
            Case {
                name: "front of the queue: the whole trade may fill",
                side: Side::Sell,
                ahead: 0,
                tick: trade(100, Some(3)),
                step: Step::Fill(3),
                after: 0,
            },
            Case {
                name: "unknown queue: a trade at the price changes nothing",
                side: Side::Buy,
                ahead: UNKNOWN,
                tick: trade(100, Some(3)),
                step: Step::Hold,
                after: UNKNOWN,
            },
            Case {
                name: "trade without a size changes nothing",
                side: Side::Buy,
                ahead: 2,
                tick: trade(100, None),
                step: Step::Hold,
                after: 2,
            },
            Case {
                name: "trade on the far side of the price changes nothing",
                side: Side::Buy,
                ahead: 2,
                tick: trade(101, Some(9)),
                step: Step::Hold,
                after: 2,
            },
            Case {
                name: "buy: trade below the price trades through",
                side: Side::Buy,
                ahead: UNKNOWN,
                tick: trade(99, Some(1)),
                step: Step::Through,
                after: 0,
            },
            Case {
                name: "sell: trade above the price trades through",
                side: Side::Sell,
                ahead: 50,
                tick: trade(101, None),
                step: Step::Through,
                after: 0,
            },
            Case {
                name: "buy: ask below the price trades through",
                side: Side::Buy,
                ahead: 7,
                tick: book(98, 1, 99, 1),
                step: Step::Through,
                after: 0,
            },
            Case {
                name: "buy: ask at the price is not a trade-through; bid below shows 0",
                side: Side::Buy,
                ahead: 7,
                tick: book(99, 5, 100, 1),
                step: Step::Hold,
                after: 0,
            },
            Case {
                name: "smaller size shown caps the queue",
                side: Side::Buy,
                ahead: 5,
                tick: book(100, 4, 101, 1),
                step: Step::Hold,
                after: 4,
            },
            Case {
                name: "larger size shown never raises the queue",
                side: Side::Buy,
                ahead: 4,
                tick: book(100, 10, 101, 1),
                step: Step::Hold,
                after: 4,
            },
            Case {
                name: "unknown queue takes the size once the touch reaches the price",
                side: Side::Sell,
                ahead: UNKNOWN,
                tick: book(99, 1, 100, 6),
                step: Step::Hold,
                after: 6,
            },
            Case {
                name: "level still behind the touch: unchanged",
                side: Side::Sell,
                ahead: UNKNOWN,
                tick: book(98, 1, 99, 6),
                step: Step::Hold,
                after: UNKNOWN,
            },
        ];
        for c in cases {
            let mut ahead = c.ahead;
            let step = step(c.side, Price(100), &mut ahead, &c.tick);
            assert_eq!((step, ahead), (c.step, c.after), "{}", c.name);
        }
    }
}
