//! Positions and PnL per book (one strategy on one broker) and instrument, fed by order
//! events: fills move positions, cash and fees; acceptances, cancels, replaces and rejections
//! are counted. Money is in each instrument's settlement currency and never added across
//! currencies: equity, peak and drawdown are kept per currency.
//!
//! Realized PnL uses FIFO lots; `net = cash + value(position, mark)` (fees included in cash).
//! Identity: `net = realized + unrealized - fees`, exact for spot and linear instruments and
//! to the last (18th) decimal per fill for inverse ones, whose leg values are each rounded
//! once (`domain::valuation`). Marks are the exact mid (kept doubled so it stays an integer)
//! or the last trade price. Equity is also sampled on a fixed event-time grid (`curve`) for
//! the analytics, and every fill is kept in a `RecordLog` for the reports.

pub mod checkpoint;
pub mod config;
pub mod curve;
pub mod log;
pub mod position;

use crate::domain::{
    BookId, BrokerId, CurrencyId, Fill, InstrumentId, InstrumentSpec, MONEY_SCALE, Money, Nanos,
    OrderEvent, OrderEventKind, Qty, Tick, Valuation,
};

pub use curve::EquityCurve;
pub use log::{LOG_BUFFER, RecordLog};
pub use position::Position;

/// Curve columns per tracked row: net PnL, realized PnL, fees.
pub const ROW_COLUMNS: usize = 3;

/// Largest `price_precision + qty_precision` an instrument may have: doubled marks need one
/// spare decimal in `Money`.
pub const MAX_COMBINED_PRECISION: u8 = MONEY_SCALE - 1;

/// Final figures of one book on one instrument, in its settlement currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionReport {
    pub book: BookId,
    pub instrument: InstrumentId,
    pub currency: CurrencyId,
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

/// One instrument's mark and the books' net position in it, with its value at the mark, for
/// O(1) equity updates per tick.
#[derive(Clone, Copy, Debug)]
struct Marked {
    mark_x2: i64,
    net_qty: i64,
    mark_value: Money,
    valuation: Valuation,
    /// Settlement currency.
    currency: CurrencyId,
}

/// All books' positions, equity and drawdown per currency, the sampled equity and the fill log.
#[derive(Debug)]
pub struct Portfolio {
    instruments: usize,
    /// Per instrument: one bounds check and one cache line on the tick path.
    marks: Vec<Marked>,
    /// `[book * instruments + instrument]`.
    positions: Vec<Position>,
    /// Per currency.
    equity: Vec<Money>,
    peak: Vec<Money>,
    max_drawdown: Vec<Money>,
    /// (book, instrument) rows sampled into the curve after the currency totals.
    rows: Vec<(BookId, InstrumentId)>,
    curve: EquityCurve,
    /// Scratch row for the curve (no allocation when sampling).
    sample: Vec<Money>,
    last_ts: Nanos,
    fills: RecordLog<Fill>,
    /// Fills per broker, for telemetry.
    fills_by_broker: Vec<u64>,
}

impl Portfolio {
    /// Instrument specs must have passed `InstrumentTable::apply_terms` (an instrument whose
    /// precisions cannot be valued is valued at zero).
    pub fn new(books: usize, brokers: usize, specs: &[InstrumentSpec]) -> Portfolio {
        let currencies = specs
            .iter()
            .map(|s| s.settlement.index() + 1)
            .max()
            .unwrap_or(1);
        Portfolio {
            instruments: specs.len(),
            marks: specs
                .iter()
                .map(|s| Marked {
                    mark_x2: 0,
                    net_qty: 0,
                    mark_value: Money::ZERO,
                    valuation: s.valuation().unwrap_or(Valuation::Linear { half_unit: 0 }),
                    currency: s.settlement,
                })
                .collect(),
            // Lots preallocated: the first fills allocate nothing on the tick path.
            positions: (0..books * specs.len())
                .map(|_| Position::with_lot_capacity(8))
                .collect(),
            equity: vec![Money::ZERO; currencies],
            peak: vec![Money::ZERO; currencies],
            max_drawdown: vec![Money::ZERO; currencies],
            rows: Vec::new(),
            curve: EquityCurve::new(
                curve::capacity_for(currencies),
                curve::BASE_INTERVAL_NS,
                currencies,
            ),
            sample: vec![Money::ZERO; currencies],
            last_ts: Nanos(0),
            fills: RecordLog::new(LOG_BUFFER),
            fills_by_broker: vec![0; brokers],
        }
    }

    /// Samples these (book, instrument) rows into the curve too, after the currency totals:
    /// `ROW_COLUMNS` values each (net, realized, fees); then every instrument's doubled mark
    /// (`Money(mark_x2)`, raw, 0 before its first price). Call before the first tick.
    pub fn track_rows(&mut self, rows: Vec<(BookId, InstrumentId)>) {
        let width = self.equity.len() + ROW_COLUMNS * rows.len() + self.instruments;
        self.curve = EquityCurve::new(curve::capacity_for(width), curve::BASE_INTERVAL_NS, width);
        self.sample = vec![Money::ZERO; width];
        self.rows = rows;
    }

    /// Moves the mark of the tick's instrument and updates equity and drawdown.
    #[inline(always)]
    pub fn on_tick(&mut self, tick: &Tick) {
        if self.curve.due(tick.ts) {
            self.sample_until(tick.ts);
        }
        self.last_ts = tick.ts;
        let (Some(mark), Some(m)) = (
            tick.reference_x2(),
            self.marks.get_mut(tick.instrument.index()),
        ) else {
            return;
        };
        let old = std::mem::replace(&mut m.mark_x2, mark);
        if m.net_qty != 0 {
            match m.valuation {
                // Linear: the change of value is the mark's move times the position, one
                // exact product (as `value_x2` of the difference).
                Valuation::Linear { .. } => {
                    let change = m.valuation.value_x2(m.net_qty, mark - old);
                    m.mark_value += change;
                    let c = m.currency.index();
                    self.book_equity(c, change);
                }
                Valuation::Inverse { .. } => self.revalue(tick.instrument.index()),
            }
        }
    }

    /// Adds `change` to the equity of currency `c` and tracks its drawdown.
    #[inline(always)]
    fn book_equity(&mut self, c: usize, change: Money) {
        let equity = self.equity[c] + change;
        self.equity[c] = equity;
        if equity > self.peak[c] {
            self.peak[c] = equity;
        }
        let drawdown = self.peak[c] - equity;
        if drawdown > self.max_drawdown[c] {
            self.max_drawdown[c] = drawdown;
        }
    }

    /// Re-values instrument `i`'s net position at its mark (after a fill; every tick for an
    /// inverse instrument, whose value is not linear in the mark).
    #[inline]
    fn revalue(&mut self, i: usize) {
        let m = &mut self.marks[i];
        let value = m.valuation.value_x2(m.net_qty, m.mark_x2);
        let change = value - std::mem::replace(&mut m.mark_value, value);
        let c = m.currency.index();
        self.book_equity(c, change);
    }

    /// Records the state before a tick at `ts` on every grid point it passes.
    #[cold]
    fn sample_until(&mut self, ts: Nanos) {
        let mut sample = std::mem::take(&mut self.sample);
        self.fill_sample(&mut sample);
        self.curve.record(ts, &sample);
        self.sample = sample;
    }

    /// Currency totals, then each tracked row's net, realized and fees.
    fn fill_sample(&self, sample: &mut [Money]) {
        let currencies = self.equity.len();
        sample[..currencies].copy_from_slice(&self.equity);
        let marks_at = currencies + ROW_COLUMNS * self.rows.len();
        if let Some(marks) = sample.get_mut(marks_at..marks_at + self.instruments) {
            for (slot, m) in marks.iter_mut().zip(&self.marks) {
                *slot = Money(i128::from(m.mark_x2));
            }
        }
        let rows = sample[currencies..marks_at].chunks_exact_mut(ROW_COLUMNS);
        for (slot, &(book, instrument)) in rows.zip(&self.rows) {
            let m = &self.marks[instrument.index()];
            let p = self.position(book, instrument);
            slot.copy_from_slice(&[p.net(m.mark_x2, m.valuation), p.realized, p.fees]);
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
        self.book_fill(fill);
        self.fills.record(*fill);
        if let Some(n) = self.fills_by_broker.get_mut(fill.broker.0 as usize) {
            *n += 1;
        }
    }

    /// A position held at the broker before the run (reconciliation): booked like a fill at
    /// its average price, without a fee, and not logged as one of this run's fills.
    /// Before any tick, the mark starts at that price, so equity does not swing by the
    /// position's whole value until the first tick.
    pub fn seed(&mut self, fill: &Fill) {
        if let Some(m) = self.marks.get_mut(fill.instrument.index())
            && m.mark_x2 == 0
        {
            m.mark_x2 = 2 * fill.price.0;
        }
        self.book_fill(fill);
    }

    /// Moves position, cash and equity by one fill.
    fn book_fill(&mut self, fill: &Fill) {
        let i = fill.instrument.index();
        let Marked {
            valuation: v,
            currency: c,
            ..
        } = self.marks[i];
        let signed = fill.side.sign() * fill.qty.0;
        self.positions[fill.book.0 as usize * self.instruments + i].apply(
            fill.side,
            fill.qty.0,
            fill.price.0,
            fill.fee,
            v,
        );
        // Equity moves by what the fill pays against the mark's value, and the fee.
        let c = c.index();
        self.equity[c] -= v.value_x2(signed, 2 * fill.price.0) + fill.fee;
        self.marks[i].net_qty += signed;
        self.revalue(i);
    }

    /// Off the tick path: moves buffered fills to the log (see `RecordLog`).
    pub fn flush_logs(&mut self) {
        self.fills.flush();
    }

    /// Fills go to an anonymous file in `dir` as the run goes (see `RecordLog::spill_to`).
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn spill_logs_to(&mut self, dir: &std::path::Path) -> std::io::Result<()> {
        self.fills.spill_to(dir)
    }

    #[inline]
    pub fn position(&self, book: BookId, instrument: InstrumentId) -> &Position {
        &self.positions[book.0 as usize * self.instruments + instrument.index()]
    }

    pub fn report(&self, book: BookId, instrument: InstrumentId) -> PositionReport {
        let p = self.position(book, instrument);
        let m = &self.marks[instrument.index()];
        let unrealized = p.unrealized(m.mark_x2, m.valuation);
        PositionReport {
            book,
            instrument,
            currency: m.currency,
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

    /// How instrument `i`'s quantities and prices become money.
    pub fn valuation(&self, instrument: InstrumentId) -> Valuation {
        self.marks[instrument.index()].valuation
    }

    /// Total equity per currency (by `CurrencyId`): PnL of every book on every instrument at
    /// the current marks.
    pub fn equity(&self) -> &[Money] {
        &self.equity
    }

    /// Largest drop from a peak of each currency's equity, tick by tick.
    pub fn max_drawdown(&self) -> &[Money] {
        &self.max_drawdown
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

    /// The sampled equity: per currency, then per tracked row (see `track_rows`).
    pub fn curve(&self) -> &EquityCurve {
        &self.curve
    }

    /// The sampled rows, in `curve` column order after the currencies.
    pub fn tracked_rows(&self) -> &[(BookId, InstrumentId)] {
        &self.rows
    }

    /// The state at the end: currency totals, then rows (the curve's last point is a grid
    /// point at or before it).
    pub fn final_sample(&self) -> (Nanos, Vec<Money>) {
        let mut row = vec![Money::ZERO; self.curve.width()];
        self.fill_sample(&mut row);
        (self.last_ts, row)
    }

    /// The last mark of an instrument, doubled (0 before its first price).
    pub fn mark_x2(&self, instrument: InstrumentId) -> i64 {
        self.marks[instrument.index()].mark_x2
    }

    /// Time of the last tick.
    pub fn last_ts(&self) -> Nanos {
        self.last_ts
    }

    /// Per broker and settlement currency: open positions and exact PnL (realized,
    /// unrealized, fees, net), written into `out` (`[broker * currencies + currency]`).
    /// Walks the (book, broker, instrument) triples that can hold a position: call on
    /// request, not per tick.
    pub fn broker_pnl(
        &self,
        positions: &[(BookId, BrokerId, InstrumentId)],
        out: &mut [(u64, [Money; 4])],
    ) {
        let currencies = self.equity.len();
        for entry in out.iter_mut() {
            *entry = (0, [Money::ZERO; 4]);
        }
        for &(book, broker, instrument) in positions {
            let r = self.report(book, instrument);
            let at = broker.0 as usize * currencies + r.currency.index();
            let Some((open, pnl)) = out.get_mut(at) else {
                continue;
            };
            *open += u64::from(r.position.0 != 0);
            for (slot, money) in pnl
                .iter_mut()
                .zip([r.realized, r.unrealized, r.fees, r.net])
            {
                *slot += money;
            }
        }
    }

    /// Number of settlement currencies (the width of `equity`).
    pub fn currency_count(&self) -> usize {
        self.equity.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Price, Side};

    fn spec(price_precision: u8, qty_precision: u8) -> InstrumentSpec {
        InstrumentSpec::new("X", price_precision, qty_precision)
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
        assert_eq!(portfolio.max_drawdown(), [Money::parse("5.995").unwrap()]);
        assert_eq!(portfolio.equity(), [Money::parse("2").unwrap()]);
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
                prop_assert_eq!(portfolio.equity(), [report.net]);
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
