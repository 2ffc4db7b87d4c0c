//! Pre-trade risk per broker and per strategy: order quantity and notional, position (per
//! broker and per book), open orders, order rate (token bucket on the engine clock), price
//! band, daily loss and a kill switch latch with two modes (`allow_reducing`, `block_all`).
//!
//! A rejection is a `Copy` value with a stable code, counted per reason. Risk keeps its own
//! view of positions, open quantity and cash from the order events it is told about, so it
//! gives the same answers in both runtimes as long as it sees the same events before each
//! check (the runtimes guarantee it). The daily loss is checked when an order or modify is
//! checked, against equity at the start of the UTC day.

pub mod checkpoint;
pub mod config;
pub mod stage;

pub use crate::domain::RejectReason;
pub use config::{KillSwitchMode, RiskLimits};
pub use stage::{Decision, RiskStage};

use crate::domain::{
    InstrumentSpec, MONEY_SCALE, Market, Money, Order, OrderEvent, OrderEventKind, OrderRequest,
    OrderType, POW10, Price, Qty, RejectOrigin, RequestKind, Side, Tick, Valuation,
};

const NANOS_PER_DAY: u64 = 86_400_000_000_000;

/// Limits of one broker converted to one instrument's units, and the money scale.
#[derive(Clone, Copy, Debug)]
struct InstrumentLimits {
    max_position: i64,
    max_strategy_position: i64,
    max_order_qty: i64,
    valuation: Valuation,
    /// Index of the settlement currency (daily loss is per currency).
    currency: usize,
    /// Tick and lot size, raw units.
    tick: i64,
    lot: i64,
}

#[derive(Clone, Debug)]
struct BrokerRisk {
    limits: RiskLimits,
    per_instrument: Vec<InstrumentLimits>,
    /// `[instrument]`: filled position and the signed quantity of approved, open orders.
    position: Vec<i64>,
    pending: Vec<i64>,
    open_orders: u32,
    /// Per settlement currency.
    cash: Vec<Money>,
    /// Instruments the broker holds a position in: equity is valued over these only.
    held: Vec<u32>,
    /// Token bucket in nano-orders (1 order = 1e9).
    tokens: u128,
    last_refill: u64,
    day: u64,
    /// Per settlement currency.
    day_start_equity: Vec<Money>,
    /// Per settlement currency: the equity of the last check.
    scratch: Vec<Money>,
    killed: bool,
}

impl BrokerRisk {
    /// Cash plus every held position at its mark, per currency, into `scratch`: one pass over
    /// the held instruments, no allocation.
    fn value_equities(&mut self, marks_x2: &[i64]) {
        self.scratch.copy_from_slice(&self.cash);
        for &i in &self.held {
            let i = i as usize;
            let l = &self.per_instrument[i];
            self.scratch[l.currency] += l.valuation.value_x2(self.position[i], marks_x2[i]);
        }
    }

    /// An execution of `signed` units of instrument `i` at `price`: position, held set, cash.
    fn add_position(&mut self, i: usize, signed: i64, price: Price, fee: Money) {
        let before = self.position[i];
        self.position[i] += signed;
        match (before, self.position[i]) {
            (0, 0) => {}
            (0, _) => self.held.push(i as u32),
            (_, 0) => self.held.retain(|&h| h as usize != i),
            _ => {}
        }
        let l = self.per_instrument[i];
        self.cash[l.currency] -= l.valuation.value(Qty(signed), price) + fee;
    }

    /// Whether the loss since the day's start exceeds `max_loss` in any currency.
    fn daily_loss_exceeds(&mut self, max_loss: Money, marks_x2: &[i64]) -> bool {
        self.value_equities(marks_x2);
        self.day_start_equity
            .iter()
            .zip(&self.scratch)
            .any(|(&start, &equity)| start - equity > max_loss)
    }
}

/// What risk needs to know of one request to check it.
#[derive(Clone, Copy, Debug)]
struct Check {
    broker: usize,
    book: usize,
    instrument: usize,
    side: Side,
    /// Quantity of the order (after a modify: its new total).
    qty: i64,
    /// Signed change of open quantity if approved.
    delta: i64,
    order_type: OrderType,
    /// A new order (counts against open orders), not a modify.
    is_new: bool,
    flatten: bool,
    ts: u64,
}

/// The risk stage's state for all brokers. `Clone` lets the canary check an order against
/// a copy without touching the real state.
#[derive(Clone, Debug)]
pub struct RiskEngine {
    brokers: Vec<BrokerRisk>,
    instruments: usize,
    /// `[book * instruments + instrument]`: each book's filled position and open quantity.
    book_position: Vec<i64>,
    book_pending: Vec<i64>,
    /// Last reference price ×2 per instrument (mid or trade): the mark of equity.
    marks_x2: Vec<i64>,
    /// Start of the next UTC day, ns: the first tick at or after it sets the daily-loss
    /// baseline (a comparison per tick instead of a division).
    next_day_ns: u64,
    pub rejections: [u64; RejectReason::ALL.len()],
}

fn to_raw_floor(limit: Option<Money>, precision: u8) -> i64 {
    match limit {
        None => i64::MAX,
        Some(m) => {
            let raw = m.0 / i128::from(POW10[(MONEY_SCALE - precision) as usize]);
            i64::try_from(raw).unwrap_or(i64::MAX)
        }
    }
}

impl RiskEngine {
    /// Risk for brokers with `limits` (by `BrokerId`), `books` books (by `BookId`; requests
    /// name their broker), instruments `specs` (by `InstrumentId`).
    pub fn new(limits: &[RiskLimits], books: usize, specs: &[InstrumentSpec]) -> RiskEngine {
        let currencies = specs
            .iter()
            .map(|s| s.settlement.index() + 1)
            .max()
            .unwrap_or(1);
        let brokers = limits
            .iter()
            .map(|l| BrokerRisk {
                limits: l.clone(),
                per_instrument: specs
                    .iter()
                    .map(|s| InstrumentLimits {
                        max_position: to_raw_floor(l.max_position, s.qty_precision),
                        max_strategy_position: to_raw_floor(
                            l.max_strategy_position,
                            s.qty_precision,
                        ),
                        max_order_qty: to_raw_floor(l.max_order_qty, s.qty_precision),
                        // Specs were validated at build (`apply_terms`); zero values nothing.
                        valuation: s.valuation().unwrap_or(Valuation::Linear { half_unit: 0 }),
                        currency: s.settlement.index(),
                        tick: s.tick_size.max(1),
                        lot: s.lot_size.max(1),
                    })
                    .collect(),
                position: vec![0; specs.len()],
                pending: vec![0; specs.len()],
                open_orders: 0,
                cash: vec![Money::ZERO; currencies],
                held: Vec::with_capacity(specs.len()),
                tokens: u128::from(l.max_orders_per_second.unwrap_or(0)) * 1_000_000_000,
                last_refill: 0,
                day: u64::MAX,
                day_start_equity: vec![Money::ZERO; currencies],
                scratch: vec![Money::ZERO; currencies],
                killed: l.kill_switch,
            })
            .collect();
        let cells = books * specs.len();
        RiskEngine {
            brokers,
            instruments: specs.len(),
            book_position: vec![0; cells],
            book_pending: vec![0; cells],
            marks_x2: vec![0; specs.len()],
            next_day_ns: 0,
            rejections: [0; RejectReason::ALL.len()],
        }
    }

    /// Market data: marks, and the daily-loss baseline at the first tick of each UTC day.
    #[inline(always)]
    pub fn on_tick(&mut self, tick: &Tick) {
        let i = tick.instrument.index();
        if let Some(mark) = tick.reference_x2() {
            self.marks_x2[i] = mark;
        }
        if tick.ts.0 >= self.next_day_ns {
            self.new_day(tick.ts.0);
        }
    }

    /// The first tick of a UTC day: every broker's daily-loss baseline.
    #[cold]
    fn new_day(&mut self, ts: u64) {
        let day = ts / NANOS_PER_DAY;
        self.next_day_ns = (day + 1).saturating_mul(NANOS_PER_DAY);
        for b in &mut self.brokers {
            if b.day != day {
                b.day = day;
                b.value_equities(&self.marks_x2);
                b.day_start_equity.copy_from_slice(&b.scratch);
            }
        }
    }

    /// Checks a request against `market` (the touch a market order is valued at, the price
    /// band's reference); an approved new order counts as open. Cancels always pass.
    ///
    /// # Errors
    /// The first limit the request breaks, counted in `rejections`.
    pub fn check(&mut self, request: &OrderRequest, market: &Market) -> Result<(), RejectReason> {
        let (qty, delta, order_type, flatten) = match request.kind {
            RequestKind::Cancel => return Ok(()),
            RequestKind::New {
                qty,
                order_type,
                flatten,
                ..
            } => (qty.0, qty.0, order_type, flatten),
            RequestKind::Modify {
                qty,
                order_type,
                filled,
                leaves,
            } => (
                qty.0,
                (qty.0 - filled.0).max(0) - leaves.0,
                order_type,
                false,
            ),
        };
        let check = Check {
            broker: request.broker.0 as usize,
            book: request.book.0 as usize,
            instrument: request.instrument.index(),
            side: request.side,
            qty,
            delta,
            order_type,
            is_new: matches!(request.kind, RequestKind::New { .. }),
            flatten,
            ts: request.ts.0,
        };
        let result = self.evaluate(&check, market.latest(request.instrument));
        match result {
            Ok(()) => {
                if let RequestKind::New { .. } = request.kind {
                    let signed = request.side.sign() * qty;
                    self.brokers[check.broker].open_orders += 1;
                    self.brokers[check.broker].pending[check.instrument] += signed;
                    self.book_pending[check.book * self.instruments + check.instrument] += signed;
                }
            }
            Err(reason) => self.rejections[reason.index()] += 1,
        }
        result
    }

    /// A new order checked as `check` would.
    ///
    /// # Errors
    /// As `check`.
    pub fn check_order(&mut self, order: &Order, market: &Market) -> Result<(), RejectReason> {
        self.check(
            &OrderRequest {
                id: order.id,
                book: order.book,
                broker: order.broker,
                instrument: order.instrument,
                side: order.side,
                correlation: order.correlation,
                ts: order.ts,
                kind: RequestKind::New {
                    qty: order.qty,
                    order_type: order.order_type,
                    tif: order.tif,
                    flatten: false,
                },
            },
            market,
        )
    }

    fn evaluate(&mut self, c: &Check, tick: &Tick) -> Result<(), RejectReason> {
        let cell = c.book * self.instruments + c.instrument;
        let book_projected = self.book_position.get(cell).copied().unwrap_or(0)
            + self.book_pending.get(cell).copied().unwrap_or(0);
        let signed = c.side.sign() * c.delta;
        let b = &mut self.brokers[c.broker];
        if b.killed {
            let reduces = book_projected != 0
                && signed.signum() == -book_projected.signum()
                && signed.abs() <= book_projected.abs();
            let allowed = c.flatten
                || (b.limits.kill_switch_mode == KillSwitchMode::AllowReducing && reduces);
            if !allowed {
                return Err(RejectReason::KillSwitch);
            }
        } else if let Some(max_loss) = b.limits.max_daily_loss
            && b.daily_loss_exceeds(max_loss, &self.marks_x2)
        {
            b.killed = true;
            return Err(RejectReason::DailyLoss);
        }
        let market_price = |tick: Tick| match (c.order_type, c.side) {
            (OrderType::Limit(p), _) => Some(p),
            (OrderType::Market, Side::Buy) => tick.buy_price(),
            (OrderType::Market, Side::Sell) => tick.sell_price(),
        };
        if c.flatten {
            // Closing positions when the switch trips must not be stopped by the limits.
            return match market_price(*tick) {
                Some(_) => Ok(()),
                None => Err(RejectReason::NoMarket),
            };
        }
        // The instrument's steps first: an order the exchange cannot take uses no token.
        let steps = &b.per_instrument[c.instrument];
        if c.qty % steps.lot != 0 {
            return Err(RejectReason::LotSize);
        }
        if let OrderType::Limit(limit) = c.order_type
            && limit.0 % steps.tick != 0
        {
            return Err(RejectReason::TickSize);
        }
        if let Some(rate) = b.limits.max_orders_per_second {
            let capacity = u128::from(rate) * 1_000_000_000;
            let elapsed = c.ts.saturating_sub(b.last_refill);
            b.tokens = (b.tokens + u128::from(elapsed) * u128::from(rate)).min(capacity);
            b.last_refill = c.ts;
            if b.tokens < 1_000_000_000 {
                return Err(RejectReason::OrderRate);
            }
            b.tokens -= 1_000_000_000;
        }
        if c.is_new
            && b.limits
                .max_open_orders
                .is_some_and(|max| b.open_orders >= max)
        {
            return Err(RejectReason::MaxOpenOrders);
        }
        let l = b.per_instrument[c.instrument];
        if c.qty > l.max_order_qty {
            return Err(RejectReason::MaxOrderQty);
        }
        let price = market_price(*tick).ok_or(RejectReason::NoMarket)?;
        if let Some(max) = b.limits.max_notional
            && l.valuation.quote_notional(Qty(c.qty), price) > max
        {
            return Err(RejectReason::MaxNotional);
        }
        let projected = b.position[c.instrument] + b.pending[c.instrument] + signed;
        if signed != 0 && projected.abs() > l.max_position {
            return Err(RejectReason::MaxPosition);
        }
        if signed != 0 && (book_projected + signed).abs() > l.max_strategy_position {
            return Err(RejectReason::StrategyPosition);
        }
        if let Some(band) = b.limits.price_band_bps
            && let Some(reference_x2) = tick.reference_x2()
            && outside_band(price, reference_x2, band)
        {
            return Err(RejectReason::PriceBand);
        }
        Ok(())
    }

    /// Applies an event about an order risk approved: fills move positions and cash; a
    /// closed order releases its open quantity.
    #[inline]
    pub fn on_event(&mut self, event: &OrderEvent) {
        let i = event.instrument.index();
        let b = event.broker.0 as usize;
        let cell = event.book.0 as usize * self.instruments + i;
        let sign = event.side.sign();
        let (release, filled, closes) = match event.kind {
            OrderEventKind::Rejected { reason, qty } if reason.origin() == RejectOrigin::Venue => {
                (qty.0, 0, true)
            }
            OrderEventKind::PartiallyFilled(e) | OrderEventKind::Filled(e) => {
                (e.qty.0, e.qty.0, e.leaves.0 == 0)
            }
            OrderEventKind::Cancelled { leaves } | OrderEventKind::Expired { leaves } => {
                (leaves.0, 0, true)
            }
            OrderEventKind::Modified {
                leaves, old_leaves, ..
            } => (old_leaves.0 - leaves.0, 0, false),
            _ => return,
        };
        let Some(broker) = self.brokers.get_mut(b) else {
            return;
        };
        broker.pending[i] -= sign * release;
        if let Some(p) = self.book_pending.get_mut(cell) {
            *p -= sign * release;
        }
        if closes {
            broker.open_orders = broker.open_orders.saturating_sub(1);
        }
        if let Some(e) = event.execution() {
            let signed = sign * filled;
            broker.add_position(i, signed, e.price, e.fee);
            if let Some(p) = self.book_position.get_mut(cell) {
                *p += signed;
            }
        }
    }

    /// A position held at the broker before the run (reconciliation), bought at `price`:
    /// risk counts it as if filled, without an order.
    pub fn seed_position(&mut self, b: usize, book: usize, i: usize, signed: i64, price: Price) {
        let cell = book * self.instruments + i;
        // Valued at its price until the first tick marks it: the day's baseline must not
        // start a whole position's value low (it would hide that much loss).
        if let Some(mark) = self.marks_x2.get_mut(i)
            && *mark == 0
        {
            *mark = 2 * price.0;
        }
        let Some(broker) = self.brokers.get_mut(b) else {
            return;
        };
        broker.add_position(i, signed, price, Money::ZERO);
        if let Some(p) = self.book_position.get_mut(cell) {
            *p += signed;
        }
    }

    pub fn kill_switch_tripped(&self, broker: usize) -> bool {
        self.brokers[broker].killed
    }

    /// Brokers whose kill switch closes positions when it trips.
    pub fn flatten_on_kill(&self) -> Vec<bool> {
        self.brokers
            .iter()
            .map(|b| b.limits.flatten_on_kill)
            .collect()
    }
}

/// `|price - ref| / ref > band_bps / 10^4`, exactly, with `ref = reference_x2 / 2`.
#[inline]
fn outside_band(price: Price, reference_x2: i64, band_bps: u32) -> bool {
    let diff_x2 = (i128::from(price.0) * 2 - i128::from(reference_x2)).abs();
    diff_x2 * 10_000 > i128::from(band_bps) * i128::from(reference_x2)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
