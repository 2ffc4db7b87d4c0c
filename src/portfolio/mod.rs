//! Positions and PnL per book (one strategy on one broker) and instrument, fed by order
//! events: fills move positions, cash and fees; acceptances, cancels, replaces and rejections
//! are counted. Exact in integers.
//!
//! Realized PnL uses FIFO lots; `equity = cash + position × mark` (fees included in cash).
//! Identity kept at all times: `equity = realized + unrealized - fees`. Marks are the exact
//! mid (kept doubled so it stays an integer) or the last trade price. Every fill is kept in
//! a `RecordLog` for the reports.

pub mod curve;
pub mod log;
pub mod position;

use crate::domain::{
    BookId, BrokerId, Fill, InstrumentId, InstrumentSpec, MONEY_SCALE, Money, Nanos, OrderEvent,
    OrderEventKind, POW10, Qty, Tick,
};

pub use curve::EquityCurve;
pub use log::{LOG_BUFFER, RecordLog};
pub use position::Position;
use position::{Scale, money_x2};

/// Largest `price_precision + qty_precision` an instrument may have: doubled marks need one
/// spare decimal in `Money`.
pub const MAX_COMBINED_PRECISION: u8 = MONEY_SCALE - 1;

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
    pub cancels: u64,
    pub replaces: u64,
    pub rejections: u64,
}

/// All books' positions, total equity and drawdown, and the fill log.
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
    fills: RecordLog<Fill>,
    /// Fills per broker, for telemetry.
    fills_by_broker: Vec<u64>,
}

impl Portfolio {
    pub fn new(books: usize, brokers: usize, specs: &[InstrumentSpec]) -> Portfolio {
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
                .map(|_| Position::with_lot_capacity(8))
                .collect(),
            marks_x2: vec![0; specs.len()],
            net_qty: vec![0; specs.len()],
            equity: Money::ZERO,
            peak: Money::ZERO,
            max_drawdown: Money::ZERO,
            curve: EquityCurve::new(2048, 1_000_000_000),
            last_ts: Nanos(0),
            fills: RecordLog::new(LOG_BUFFER),
            fills_by_broker: vec![0; brokers],
        }
    }

    /// Moves the mark of the tick's instrument and updates equity and drawdown.
    #[inline(always)]
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

    /// Books an order event: fills move the position, the rest is counted.
    #[inline]
    pub fn on_event(&mut self, event: &OrderEvent) {
        let at = event.book.0 as usize * self.instruments + event.instrument.index();
        let position = &mut self.positions[at];
        match event.kind {
            OrderEventKind::Accepted { .. } => position.orders += 1,
            OrderEventKind::Rejected { .. } => position.rejections += 1,
            OrderEventKind::Cancelled { .. } => position.cancels += 1,
            OrderEventKind::Modified { .. } => position.replaces += 1,
            OrderEventKind::PartiallyFilled(_) | OrderEventKind::Filled(_) => {
                if let Some(fill) = event.fill() {
                    self.on_fill(&fill);
                }
            }
            OrderEventKind::Expired { .. }
            | OrderEventKind::CancelRejected { .. }
            | OrderEventKind::ModifyRejected { .. } => {}
        }
    }

    fn on_fill(&mut self, fill: &Fill) {
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
        self.fills.record(*fill);
        if let Some(n) = self.fills_by_broker.get_mut(fill.broker.0 as usize) {
            *n += 1;
        }
    }

    /// Off the tick path: moves buffered fills to the log (see `RecordLog`).
    pub fn flush_logs(&mut self) {
        self.fills.flush();
    }

    #[inline]
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
            cancels: p.cancels,
            replaces: p.replaces,
            rejections: p.rejections,
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

    /// Fills so far.
    pub fn fill_count(&self) -> usize {
        self.fills.len()
    }

    /// Fills per broker so far.
    pub fn fills_by_broker(&self) -> &[u64] {
        &self.fills_by_broker
    }

    /// Every fill in order, giving up the log.
    pub fn take_fills(&mut self) -> Vec<Fill> {
        std::mem::replace(&mut self.fills, RecordLog::new(1)).into_vec()
    }

    /// Equity curve including the final point.
    pub fn curve(&self) -> Vec<(Nanos, Money)> {
        let mut points = self.curve.points().to_vec();
        if points.last().is_none_or(|&(ts, _)| ts != self.last_ts) {
            points.push((self.last_ts, self.equity));
        }
        points
    }

    /// Per broker: open positions and exact PnL (realized, unrealized, fees, net), written
    /// into `out` (one entry per broker). Walks the (book, broker, instrument) triples that
    /// can hold a position: call on request, not per tick.
    pub fn broker_pnl(
        &self,
        positions: &[(BookId, BrokerId, InstrumentId)],
        out: &mut [(u64, [Money; 4])],
    ) {
        for entry in out.iter_mut() {
            *entry = (0, [Money::ZERO; 4]);
        }
        for &(book, broker, instrument) in positions {
            let Some((open, pnl)) = out.get_mut(broker.0 as usize) else {
                continue;
            };
            let r = self.report(book, instrument);
            *open += u64::from(r.position.0 != 0);
            for (slot, money) in pnl
                .iter_mut()
                .zip([r.realized, r.unrealized, r.fees, r.net])
            {
                *slot += money;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Price, Side};

    fn spec(price_precision: u8, qty_precision: u8) -> InstrumentSpec {
        InstrumentSpec {
            symbol: "X".into(),
            price_precision,
            qty_precision,
        }
    }

    fn fill(side: Side, qty: i64, price: i64, fee: i128) -> OrderEvent {
        OrderEvent::test_fill(side, qty, price, Money(fee))
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
        let cases: [(&str, Vec<OrderEvent>, &str, i64); 4] = [
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
            let mut portfolio = Portfolio::new(1, 1, &[spec(0, 0)]);
            portfolio.on_tick(&quote(100, 100));
            for f in &fills {
                portfolio.on_event(f);
            }
            let report = portfolio.report(BookId(0), InstrumentId(0));
            assert_eq!(report.realized, m(realized), "{name}");
            assert_eq!(report.position, Qty(position), "{name}");
        }
    }

    #[test]
    fn drawdown_follows_marks() {
        let mut portfolio = Portfolio::new(1, 1, &[spec(2, 0)]);
        portfolio.on_tick(&quote(10_000, 10_000));
        portfolio.on_event(&fill(Side::Buy, 1, 10_000, 0));
        portfolio.on_tick(&quote(10_500, 10_500));
        portfolio.on_tick(&quote(9_900, 9_901));
        portfolio.on_tick(&quote(10_200, 10_200));
        // Peak 5.00, trough -0.995: drawdown 5.995.
        assert_eq!(portfolio.max_drawdown(), Money::parse("5.995").unwrap());
        assert_eq!(portfolio.equity(), Money::parse("2").unwrap());
    }

    mod property_tests {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Sum of fills = position; equity = realized + unrealized - fees = cash + position × mark.
            #[test]
            fn pnl_identities(fills in proptest::collection::vec((any::<bool>(), 1i64..50, 90i64..110, 0i128..1000), 1..60), mark in 80i64..120) {
                let mut portfolio = Portfolio::new(1, 1, &[spec(2, 1)]);
                portfolio.on_tick(&quote(100, 100));
                let mut net = 0;
                for &(buy, qty, price, fee) in &fills {
                    let side = if buy { Side::Buy } else { Side::Sell };
                    net += side.sign() * qty;
                    portfolio.on_event(&fill(side, qty, price, fee));
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

    #[test]
    fn events_are_counted_per_book_and_instrument() {
        let mut portfolio = Portfolio::new(1, 1, &[spec(0, 0)]);
        portfolio.on_tick(&quote(100, 100));
        let mut e = fill(Side::Buy, 1, 100, 0);
        for kind in [
            OrderEventKind::Accepted {
                venue_id: 1,
                qty: Qty(1),
                order_type: crate::domain::OrderType::Market,
            },
            OrderEventKind::Cancelled { leaves: Qty(1) },
            OrderEventKind::Rejected {
                reason: crate::domain::RejectReason::OrderRate,
                qty: Qty(1),
            },
            OrderEventKind::Modified {
                qty: Qty(1),
                order_type: crate::domain::OrderType::Market,
                leaves: Qty(1),
                old_leaves: Qty(1),
            },
        ] {
            e.kind = kind;
            portfolio.on_event(&e);
        }
        portfolio.on_event(&fill(Side::Buy, 1, 100, 0));
        let r = portfolio.report(BookId(0), InstrumentId(0));
        assert_eq!(
            (r.orders, r.cancels, r.rejections, r.replaces, r.fills),
            (1, 1, 1, 1, 1)
        );
        assert_eq!(portfolio.fill_count(), 1, "only fills are logged");
        assert_eq!(portfolio.fills_by_broker(), &[1]);
    }
}
