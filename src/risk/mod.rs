//! Pre-trade risk per broker: order quantity and notional, position, open orders, order rate
//! (token bucket on the engine clock), price band, daily loss and a kill switch latch.
//!
//! A rejection is a `Copy` value with a stable code, counted per reason. Risk keeps its own
//! view of positions from the fills it is told about, so it gives the same answers in both
//! runtimes as long as it sees the same fills before each check (the runtimes guarantee it).

pub mod config;

pub use config::RiskLimits;

use crate::domain::{Fill, InstrumentSpec, MONEY_SCALE, Money, OrderType, POW10, Side, Tick};
use crate::domain::{Order, Price};

const NANOS_PER_DAY: u64 = 86_400_000_000_000;

/// Why risk refused an order. Codes are stable: reports and metrics use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    KillSwitch,
    DailyLoss,
    OrderRate,
    MaxOpenOrders,
    MaxOrderQty,
    MaxNotional,
    MaxPosition,
    PriceBand,
    /// No price to value the order with (no two-sided market yet).
    NoMarket,
}

impl RejectReason {
    pub const ALL: [RejectReason; 9] = [
        RejectReason::KillSwitch,
        RejectReason::DailyLoss,
        RejectReason::OrderRate,
        RejectReason::MaxOpenOrders,
        RejectReason::MaxOrderQty,
        RejectReason::MaxNotional,
        RejectReason::MaxPosition,
        RejectReason::PriceBand,
        RejectReason::NoMarket,
    ];

    pub fn code(self) -> &'static str {
        match self {
            RejectReason::KillSwitch => "KILL_SWITCH",
            RejectReason::DailyLoss => "DAILY_LOSS",
            RejectReason::OrderRate => "ORDER_RATE",
            RejectReason::MaxOpenOrders => "MAX_OPEN_ORDERS",
            RejectReason::MaxOrderQty => "MAX_ORDER_QTY",
            RejectReason::MaxNotional => "NOTIONAL_LIMIT",
            RejectReason::MaxPosition => "POSITION_LIMIT",
            RejectReason::PriceBand => "PRICE_BAND",
            RejectReason::NoMarket => "NO_MARKET",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Limits of one broker converted to one instrument's units.
#[derive(Clone, Copy, Debug)]
struct InstrumentLimits {
    max_position: i64,
    max_order_qty: i64,
    price_precision: u8,
    qty_precision: u8,
}

#[derive(Clone, Debug)]
struct BrokerRisk {
    limits: RiskLimits,
    per_instrument: Vec<InstrumentLimits>,
    /// `[instrument]`: filled position and the signed quantity of approved, unfilled orders.
    position: Vec<i64>,
    pending: Vec<i64>,
    open_orders: u32,
    cash: Money,
    /// Token bucket in nano-orders (1 order = 1e9).
    tokens: u128,
    last_refill: u64,
    day: u64,
    day_start_equity: Money,
    killed: bool,
}

/// The risk stage's state for all brokers. `Clone` lets the canary check an order against
/// a copy without touching the real state.
#[derive(Clone, Debug)]
pub struct RiskEngine {
    brokers: Vec<BrokerRisk>,
    /// Last tick per instrument: the market an order is valued against.
    last: Vec<Option<Tick>>,
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
    pub fn new(limits: &[RiskLimits], specs: &[InstrumentSpec]) -> RiskEngine {
        let brokers = limits
            .iter()
            .map(|l| BrokerRisk {
                limits: l.clone(),
                per_instrument: specs
                    .iter()
                    .map(|s| InstrumentLimits {
                        max_position: to_raw_floor(l.max_position, s.qty_precision),
                        max_order_qty: to_raw_floor(l.max_order_qty, s.qty_precision),
                        price_precision: s.price_precision,
                        qty_precision: s.qty_precision,
                    })
                    .collect(),
                position: vec![0; specs.len()],
                pending: vec![0; specs.len()],
                open_orders: 0,
                cash: Money::ZERO,
                tokens: u128::from(l.max_orders_per_second.unwrap_or(0)) * 1_000_000_000,
                last_refill: 0,
                day: u64::MAX,
                day_start_equity: Money::ZERO,
                killed: l.kill_switch,
            })
            .collect();
        RiskEngine {
            brokers,
            last: vec![None; specs.len()],
            rejections: [0; RejectReason::ALL.len()],
        }
    }

    /// True when `on_tick(tick)` needs every earlier fill applied first (a new UTC day sets
    /// the daily-loss baseline). The threaded runtime syncs with execution before it then.
    #[inline]
    pub fn needs_fills_before(&self, tick: &Tick) -> bool {
        self.brokers
            .first()
            .is_some_and(|b| b.day != tick.ts.0 / NANOS_PER_DAY)
    }

    #[inline]
    pub fn on_tick(&mut self, tick: &Tick) {
        self.last[tick.instrument.index()] = Some(*tick);
        let day = tick.ts.0 / NANOS_PER_DAY;
        if self.brokers.first().is_some_and(|b| b.day != day) {
            for b in 0..self.brokers.len() {
                let equity = self.equity(b);
                let broker = &mut self.brokers[b];
                broker.day = day;
                broker.day_start_equity = equity;
            }
        }
    }

    fn equity(&self, broker: usize) -> Money {
        let b = &self.brokers[broker];
        let mut equity = b.cash;
        for (i, &qty) in b.position.iter().enumerate() {
            if qty != 0
                && let Some(tick) = &self.last[i]
                && let Some(mark_x2) = tick.reference_x2()
            {
                let l = &b.per_instrument[i];
                let shift = MONEY_SCALE - l.price_precision - l.qty_precision;
                equity += Money(
                    i128::from(mark_x2) * i128::from(qty) * i128::from(POW10[shift as usize]) / 2,
                );
            }
        }
        equity
    }

    /// Checks an order against its broker's limits; on approval it counts as open.
    ///
    /// # Errors
    /// The first limit the order breaks, counted in `rejections`.
    pub fn check(&mut self, order: &Order) -> Result<(), RejectReason> {
        let result = self.evaluate(order);
        match result {
            Ok(()) => {
                let b = &mut self.brokers[order.broker.0 as usize];
                b.open_orders += 1;
                b.pending[order.instrument.index()] += order.side.sign() * order.qty.0;
            }
            Err(reason) => self.rejections[reason.index()] += 1,
        }
        result
    }

    fn evaluate(&mut self, order: &Order) -> Result<(), RejectReason> {
        let broker_index = order.broker.0 as usize;
        let i = order.instrument.index();
        let equity = self.equity(broker_index);
        let b = &mut self.brokers[broker_index];
        if b.killed {
            return Err(RejectReason::KillSwitch);
        }
        if let Some(max_loss) = b.limits.max_daily_loss
            && b.day_start_equity - equity > max_loss
        {
            b.killed = true;
            return Err(RejectReason::DailyLoss);
        }
        if let Some(rate) = b.limits.max_orders_per_second {
            let capacity = u128::from(rate) * 1_000_000_000;
            let elapsed = order.ts.0.saturating_sub(b.last_refill);
            b.tokens = (b.tokens + u128::from(elapsed) * u128::from(rate)).min(capacity);
            b.last_refill = order.ts.0;
            if b.tokens < 1_000_000_000 {
                return Err(RejectReason::OrderRate);
            }
            b.tokens -= 1_000_000_000;
        }
        if b.limits
            .max_open_orders
            .is_some_and(|max| b.open_orders >= max)
        {
            return Err(RejectReason::MaxOpenOrders);
        }
        let l = b.per_instrument[i];
        if order.qty.0 > l.max_order_qty {
            return Err(RejectReason::MaxOrderQty);
        }
        let tick = self.last[i].ok_or(RejectReason::NoMarket)?;
        let price = match (order.order_type, order.side) {
            (OrderType::Limit(p), _) => p,
            (OrderType::Market, Side::Buy) => tick.buy_price().ok_or(RejectReason::NoMarket)?,
            (OrderType::Market, Side::Sell) => tick.sell_price().ok_or(RejectReason::NoMarket)?,
        };
        if let Some(max) = b.limits.max_notional
            && Money::notional(price, order.qty, l.price_precision, l.qty_precision) > max
        {
            return Err(RejectReason::MaxNotional);
        }
        let projected = b.position[i] + b.pending[i] + order.side.sign() * order.qty.0;
        if projected.abs() > l.max_position {
            return Err(RejectReason::MaxPosition);
        }
        if let Some(band) = b.limits.price_band_bps
            && let Some(reference_x2) = tick.reference_x2()
            && outside_band(price, reference_x2, band)
        {
            return Err(RejectReason::PriceBand);
        }
        Ok(())
    }

    /// Applies a fill of an approved order.
    pub fn on_fill(&mut self, fill: &Fill) {
        let b = &mut self.brokers[fill.broker.0 as usize];
        let i = fill.instrument.index();
        let signed = fill.side.sign() * fill.qty.0;
        b.position[i] += signed;
        b.pending[i] -= signed;
        b.open_orders = b.open_orders.saturating_sub(1);
        let l = b.per_instrument[i];
        b.cash -= Money::notional(
            fill.price,
            crate::domain::Qty(signed),
            l.price_precision,
            l.qty_precision,
        ) + fill.fee;
    }

    pub fn kill_switch_tripped(&self, broker: usize) -> bool {
        self.brokers[broker].killed
    }
}

/// `|price - ref| / ref > band_bps / 10^4`, exactly, with `ref = reference_x2 / 2`.
#[inline]
fn outside_band(price: Price, reference_x2: i64, band_bps: u32) -> bool {
    let diff_x2 = (i128::from(price.0) * 2 - i128::from(reference_x2)).abs();
    diff_x2 * 10_000 > i128::from(band_bps) * i128::from(reference_x2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BookId, BrokerId, InstrumentId, Nanos, Qty, StrategyId};

    fn spec() -> InstrumentSpec {
        InstrumentSpec {
            symbol: "X".into(),
            price_precision: 2,
            qty_precision: 0,
        }
    }

    fn order(side: Side, qty: i64, ts: u64) -> Order {
        Order {
            id: 0,
            correlation: 0,
            ts: Nanos(ts),
            book: BookId(0),
            broker: BrokerId(0),
            strategy: StrategyId(0),
            instrument: InstrumentId(0),
            side,
            qty: Qty(qty),
            order_type: OrderType::Market,
        }
    }

    fn money(s: &str) -> Option<Money> {
        Some(Money::parse(s).unwrap())
    }

    fn engine(limits: RiskLimits) -> RiskEngine {
        let mut risk = RiskEngine::new(&[limits], &[spec()]);
        risk.on_tick(&Tick::quote(
            Nanos(0),
            InstrumentId(0),
            Some(Price(10_000)),
            Some(Price(10_002)),
            None,
            None,
        ));
        risk
    }

    #[test]
    fn limits_table() {
        struct Case {
            name: &'static str,
            limits: RiskLimits,
            orders: Vec<Order>,
            expected: Vec<Result<(), RejectReason>>,
        }
        let cases = [
            Case {
                name: "order quantity",
                limits: RiskLimits {
                    max_order_qty: money("5"),
                    ..RiskLimits::default()
                },
                orders: vec![order(Side::Buy, 5, 0), order(Side::Buy, 6, 0)],
                expected: vec![Ok(()), Err(RejectReason::MaxOrderQty)],
            },
            Case {
                name: "notional at the ask",
                limits: RiskLimits {
                    max_notional: money("500.09"),
                    ..RiskLimits::default()
                },
                orders: vec![order(Side::Buy, 5, 0), order(Side::Sell, 5, 0)],
                expected: vec![Err(RejectReason::MaxNotional), Ok(())],
            },
            Case {
                name: "position counts pending orders",
                limits: RiskLimits {
                    max_position: money("3"),
                    ..RiskLimits::default()
                },
                orders: vec![
                    order(Side::Buy, 2, 0),
                    order(Side::Buy, 2, 0),
                    order(Side::Sell, 5, 0),
                ],
                expected: vec![Ok(()), Err(RejectReason::MaxPosition), Ok(())],
            },
            Case {
                name: "open orders",
                limits: RiskLimits {
                    max_open_orders: Some(1),
                    ..RiskLimits::default()
                },
                orders: vec![order(Side::Buy, 1, 0), order(Side::Buy, 1, 0)],
                expected: vec![Ok(()), Err(RejectReason::MaxOpenOrders)],
            },
            Case {
                name: "rate refills on the engine clock",
                limits: RiskLimits {
                    max_orders_per_second: Some(2),
                    ..RiskLimits::default()
                },
                orders: vec![
                    order(Side::Buy, 1, 0),
                    order(Side::Buy, 1, 0),
                    order(Side::Buy, 1, 1),
                    order(Side::Buy, 1, 500_000_000),
                ],
                expected: vec![Ok(()), Ok(()), Err(RejectReason::OrderRate), Ok(())],
            },
            Case {
                name: "kill switch from config",
                limits: RiskLimits {
                    kill_switch: true,
                    ..RiskLimits::default()
                },
                orders: vec![order(Side::Buy, 1, 0)],
                expected: vec![Err(RejectReason::KillSwitch)],
            },
        ];
        for case in cases {
            let mut risk = engine(case.limits);
            let got: Vec<_> = case.orders.iter().map(|o| risk.check(o)).collect();
            assert_eq!(got, case.expected, "{}", case.name);
        }
    }

    #[test]
    fn price_band_and_daily_loss_latch() {
        let mut risk = RiskEngine::new(
            &[RiskLimits {
                price_band_bps: Some(100),
                max_daily_loss: money("1"),
                ..RiskLimits::default()
            }],
            &[spec()],
        );
        // A quote whose ask is 3% above its mid: a fat-finger market BUY.
        risk.on_tick(&Tick::quote(
            Nanos(0),
            InstrumentId(0),
            Some(Price(10_000)),
            Some(Price(10_600)),
            None,
            None,
        ));
        assert_eq!(
            risk.check(&order(Side::Buy, 1, 0)),
            Err(RejectReason::PriceBand)
        );
        risk.on_tick(&Tick::quote(
            Nanos(1),
            InstrumentId(0),
            Some(Price(10_000)),
            Some(Price(10_002)),
            None,
            None,
        ));
        assert_eq!(risk.check(&order(Side::Buy, 1, 1)), Ok(()));
        let fill = Fill {
            qty: Qty(1),
            price: Price(10_002),
            side: Side::Buy,
            ..Fill::default()
        };
        risk.on_fill(&fill);
        // Mid falls by 2.00: loss 2.01 > 1 → daily loss, then the latch holds.
        risk.on_tick(&Tick::quote(
            Nanos(2),
            InstrumentId(0),
            Some(Price(9_800)),
            Some(Price(9_802)),
            None,
            None,
        ));
        assert_eq!(
            risk.check(&order(Side::Sell, 1, 2)),
            Err(RejectReason::DailyLoss)
        );
        assert_eq!(
            risk.check(&order(Side::Sell, 1, 2)),
            Err(RejectReason::KillSwitch)
        );
        assert!(risk.kill_switch_tripped(0));
        assert_eq!(risk.rejections[RejectReason::KillSwitch.index()], 1);
    }
}
