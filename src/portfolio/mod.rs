//! Positions and PnL per book (strategy × broker) and instrument, exact in integers.
//!
//! Realized PnL uses FIFO lots; `equity = cash + position × mark` (fees included in cash).
//! Identity kept at all times: `equity = realized + unrealized - fees`. Marks are the exact
//! mid (kept doubled so it stays an integer) or the last trade price.

use std::collections::VecDeque;

use crate::domain::{
    BookId, Fill, InstrumentId, InstrumentSpec, MONEY_SCALE, Money, Nanos, POW10, Qty, Side, Tick,
};

/// Largest `price_precision + qty_precision` an instrument may have: doubled marks need one
/// spare decimal in `Money`.
pub const MAX_COMBINED_PRECISION: u8 = MONEY_SCALE - 1;

/// `price_x2 / 2 × qty` as exact money.
#[inline]
fn money_x2(price_x2: i64, qty: i64, spec: &Scale) -> Money {
    Money(i128::from(price_x2) * i128::from(qty) * spec.half_unit)
}

#[derive(Clone, Copy, Debug)]
struct Scale {
    /// `10^(MONEY_SCALE - price_precision - qty_precision) / 2`.
    half_unit: i128,
}

/// One book's holding of one instrument.
#[derive(Clone, Debug, Default)]
pub struct Position {
    /// Signed quantity, raw.
    pub qty: i64,
    /// Open lots in fill order: (signed qty, price raw).
    lots: VecDeque<(i64, i64)>,
    pub realized: Money,
    pub fees: Money,
    /// Cash flow: sells minus buys minus fees.
    pub cash: Money,
    pub orders: u64,
    pub fills: u64,
    pub bought: i64,
    pub sold: i64,
}

impl Position {
    fn apply(&mut self, side: Side, qty: i64, price: i64, fee: Money, scale: &Scale) {
        let signed = side.sign() * qty;
        self.cash -= money_x2(2 * price, signed, scale) + fee;
        self.fees += fee;
        self.fills += 1;
        match side {
            Side::Buy => self.bought += qty,
            Side::Sell => self.sold += qty,
        }
        let mut remaining = signed;
        // Close opposite lots first, oldest first.
        while remaining != 0 {
            let Some(front) = self.lots.front_mut() else {
                break;
            };
            if front.0.signum() == remaining.signum() {
                break;
            }
            let closed = remaining.abs().min(front.0.abs()) * front.0.signum();
            // Closing `closed` of a lot bought at front.1 at `price`.
            self.realized += money_x2(2 * (price - front.1), closed, scale);
            front.0 -= closed;
            remaining += closed;
            if front.0 == 0 {
                self.lots.pop_front();
            }
        }
        if remaining != 0 {
            self.lots.push_back((remaining, price));
        }
        self.qty += signed;
    }

    /// Unrealized PnL of the open lots at a doubled mark.
    fn unrealized(&self, mark_x2: i64, scale: &Scale) -> Money {
        self.lots.iter().fold(Money::ZERO, |acc, &(qty, price)| {
            acc + money_x2(mark_x2 - 2 * price, qty, scale)
        })
    }
}

/// Final figures of one book on one instrument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionReport {
    pub book: BookId,
    pub instrument: InstrumentId,
    pub position: Qty,
    pub realized: Money,
    pub unrealized: Money,
    pub fees: Money,
    /// `realized + unrealized - fees`.
    pub net: Money,
    pub orders: u64,
    pub fills: u64,
}

/// Equity over event time, downsampled into a fixed number of points.
#[derive(Clone, Debug)]
pub struct EquityCurve {
    points: Vec<(Nanos, Money)>,
    capacity: usize,
    interval_ns: u64,
    next_ts: u64,
}

impl EquityCurve {
    pub fn new(capacity: usize, interval_ns: u64) -> EquityCurve {
        EquityCurve {
            points: Vec::with_capacity(capacity),
            capacity: capacity.max(2),
            interval_ns,
            next_ts: 0,
        }
    }

    #[inline]
    fn observe(&mut self, ts: Nanos, equity: Money) {
        if ts.0 < self.next_ts {
            return;
        }
        if self.points.len() == self.capacity {
            // Keep every other point and sample half as often: memory stays fixed.
            let mut keep = 0;
            for i in (0..self.points.len()).step_by(2) {
                self.points[keep] = self.points[i];
                keep += 1;
            }
            self.points.truncate(keep);
            self.interval_ns = self.interval_ns.saturating_mul(2);
        }
        self.points.push((ts, equity));
        self.next_ts = ts.0.saturating_add(self.interval_ns);
    }

    pub fn points(&self) -> &[(Nanos, Money)] {
        &self.points
    }
}

/// All books' positions, total equity and drawdown.
#[derive(Debug)]
pub struct Portfolio {
    instruments: usize,
    scales: Vec<Scale>,
    /// `[book * instruments + instrument]`.
    positions: Vec<Position>,
    marks_x2: Vec<i64>,
    /// Net quantity per instrument across books, for O(1) equity updates per tick.
    net_qty: Vec<i64>,
    equity: Money,
    peak: Money,
    max_drawdown: Money,
    curve: EquityCurve,
    last_ts: Nanos,
}

impl Portfolio {
    pub fn new(books: usize, specs: &[InstrumentSpec]) -> Portfolio {
        let scales = specs
            .iter()
            .map(|s| {
                let shift =
                    MONEY_SCALE - s.price_precision.min(MAX_COMBINED_PRECISION) - s.qty_precision;
                Scale {
                    half_unit: i128::from(POW10[shift as usize]) / 2,
                }
            })
            .collect();
        Portfolio {
            instruments: specs.len(),
            scales,
            // Lots preallocated: the first fills allocate nothing on the tick path.
            positions: (0..books * specs.len())
                .map(|_| Position {
                    lots: VecDeque::with_capacity(8),
                    ..Position::default()
                })
                .collect(),
            marks_x2: vec![0; specs.len()],
            net_qty: vec![0; specs.len()],
            equity: Money::ZERO,
            peak: Money::ZERO,
            max_drawdown: Money::ZERO,
            curve: EquityCurve::new(2048, 1_000_000_000),
            last_ts: Nanos(0),
        }
    }

    /// Moves the mark of the tick's instrument and updates equity and drawdown.
    #[inline]
    pub fn on_tick(&mut self, tick: &Tick) {
        let i = tick.instrument.index();
        if let Some(mark) = tick.reference_x2() {
            let old = std::mem::replace(&mut self.marks_x2[i], mark);
            if self.net_qty[i] != 0 {
                self.equity += money_x2(mark - old, self.net_qty[i], &self.scales[i]);
                self.track_drawdown();
            }
        }
        self.last_ts = tick.ts;
        self.curve.observe(tick.ts, self.equity);
    }

    #[inline]
    fn track_drawdown(&mut self) {
        if self.equity > self.peak {
            self.peak = self.equity;
        }
        let drawdown = self.peak - self.equity;
        if drawdown > self.max_drawdown {
            self.max_drawdown = drawdown;
        }
    }

    pub fn on_order(&mut self, book: BookId, instrument: InstrumentId) {
        self.positions[book.0 as usize * self.instruments + instrument.index()].orders += 1;
    }

    pub fn on_fill(&mut self, fill: &Fill) {
        let i = fill.instrument.index();
        let scale = self.scales[i];
        let signed = fill.side.sign() * fill.qty.0;
        self.positions[fill.book.0 as usize * self.instruments + i].apply(
            fill.side,
            fill.qty.0,
            fill.price.0,
            fill.fee,
            &scale,
        );
        self.net_qty[i] += signed;
        // Equity moves by what the fill gives away against the mark, and the fee.
        self.equity += money_x2(self.marks_x2[i] - 2 * fill.price.0, signed, &scale) - fill.fee;
        self.track_drawdown();
    }

    pub fn position(&self, book: BookId, instrument: InstrumentId) -> &Position {
        &self.positions[book.0 as usize * self.instruments + instrument.index()]
    }

    pub fn report(&self, book: BookId, instrument: InstrumentId) -> PositionReport {
        let p = self.position(book, instrument);
        let i = instrument.index();
        let unrealized = p.unrealized(self.marks_x2[i], &self.scales[i]);
        PositionReport {
            book,
            instrument,
            position: Qty(p.qty),
            realized: p.realized,
            unrealized,
            fees: p.fees,
            net: p.realized + unrealized - p.fees,
            orders: p.orders,
            fills: p.fills,
        }
    }

    pub fn instrument_count(&self) -> usize {
        self.instruments
    }

    /// Total equity: PnL of every book on every instrument at the current marks.
    pub fn equity(&self) -> Money {
        self.equity
    }

    pub fn max_drawdown(&self) -> Money {
        self.max_drawdown
    }

    /// Equity curve including the final point.
    pub fn curve(&self) -> Vec<(Nanos, Money)> {
        let mut points = self.curve.points().to_vec();
        if points.last().is_none_or(|&(ts, _)| ts != self.last_ts) {
            points.push((self.last_ts, self.equity));
        }
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BrokerId, Price, StrategyId};

    fn spec(price_precision: u8, qty_precision: u8) -> InstrumentSpec {
        InstrumentSpec {
            symbol: "X".into(),
            price_precision,
            qty_precision,
        }
    }

    fn fill(side: Side, qty: i64, price: i64, fee: i128) -> Fill {
        Fill {
            order_id: 0,
            correlation: 0,
            ts: Nanos(0),
            book: BookId(0),
            broker: BrokerId(0),
            strategy: StrategyId(0),
            instrument: InstrumentId(0),
            side,
            qty: Qty(qty),
            price: Price(price),
            fee: Money(fee),
        }
    }

    fn quote(bid: i64, ask: i64) -> Tick {
        Tick::quote(
            Nanos(1),
            InstrumentId(0),
            Some(Price(bid)),
            Some(Price(ask)),
            None,
            None,
        )
    }

    #[test]
    fn fifo_realized_table() {
        let m = |s: &str| Money::parse(s).unwrap();
        let cases: [(&str, Vec<Fill>, &str, i64); 4] = [
            (
                "round trip gain",
                vec![fill(Side::Buy, 2, 100, 0), fill(Side::Sell, 2, 105, 0)],
                "10",
                0,
            ),
            (
                "partial close",
                vec![fill(Side::Buy, 3, 100, 0), fill(Side::Sell, 1, 90, 0)],
                "-10",
                2,
            ),
            (
                "fifo order",
                vec![
                    fill(Side::Buy, 1, 100, 0),
                    fill(Side::Buy, 1, 110, 0),
                    fill(Side::Sell, 1, 120, 0),
                ],
                "20",
                1,
            ),
            (
                "flip to short",
                vec![
                    fill(Side::Buy, 1, 100, 0),
                    fill(Side::Sell, 3, 101, 0),
                    fill(Side::Buy, 2, 99, 0),
                ],
                "5",
                0,
            ),
        ];
        for (name, fills, realized, position) in cases {
            let mut portfolio = Portfolio::new(1, &[spec(0, 0)]);
            portfolio.on_tick(&quote(100, 100));
            for f in &fills {
                portfolio.on_fill(f);
            }
            let report = portfolio.report(BookId(0), InstrumentId(0));
            assert_eq!(report.realized, m(realized), "{name}");
            assert_eq!(report.position, Qty(position), "{name}");
        }
    }

    #[test]
    fn drawdown_follows_marks() {
        let mut portfolio = Portfolio::new(1, &[spec(2, 0)]);
        portfolio.on_tick(&quote(10_000, 10_000));
        portfolio.on_fill(&fill(Side::Buy, 1, 10_000, 0));
        portfolio.on_tick(&quote(10_500, 10_500));
        portfolio.on_tick(&quote(9_900, 9_901));
        portfolio.on_tick(&quote(10_200, 10_200));
        // Peak 5.00, trough -0.995: drawdown 5.995.
        assert_eq!(portfolio.max_drawdown(), Money::parse("5.995").unwrap());
        assert_eq!(portfolio.equity(), Money::parse("2").unwrap());
    }

    #[test]
    fn curve_memory_is_bounded() {
        let mut curve = EquityCurve::new(8, 1);
        for ts in 0..10_000 {
            curve.observe(Nanos(ts), Money(ts as i128));
        }
        assert!(curve.points().len() <= 8);
        assert_eq!(curve.points()[0].0, Nanos(0));
    }

    mod property_tests {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Sum of fills = position; equity = realized + unrealized - fees = cash + position × mark.
            #[test]
            fn pnl_identities(fills in proptest::collection::vec((any::<bool>(), 1i64..50, 90i64..110, 0i128..1000), 1..60), mark in 80i64..120) {
                let mut portfolio = Portfolio::new(1, &[spec(2, 1)]);
                portfolio.on_tick(&quote(100, 100));
                let mut net = 0;
                for &(buy, qty, price, fee) in &fills {
                    let side = if buy { Side::Buy } else { Side::Sell };
                    net += side.sign() * qty;
                    portfolio.on_fill(&fill(side, qty, price, fee));
                }
                portfolio.on_tick(&quote(mark, mark));
                let report = portfolio.report(BookId(0), InstrumentId(0));
                let position = portfolio.position(BookId(0), InstrumentId(0));
                prop_assert_eq!(report.position.0, net);
                prop_assert_eq!(position.bought - position.sold, net);
                let mark_value = Money::notional(Price(mark), Qty(net), 2, 1);
                prop_assert_eq!(report.net, position.cash + mark_value);
                prop_assert_eq!(portfolio.equity(), report.net);
            }
        }
    }
}
