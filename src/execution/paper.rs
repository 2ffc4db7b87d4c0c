//! Paper venue: a market order raised on tick *i* fills on the first tick *j* ≥ *i* of its
//! instrument with `ts_j >= ts_i + latency_ns` (latency 0: tick *i* itself), a BUY at that
//! tick's ask and a SELL at its bid (a trade tick: its price), all of it, FIFO among pending
//! orders. A limit order fills when the market reaches its limit: at once at the touch when
//! marketable, later at the limit price. Fees are bps of notional, rounded half-even to
//! the `Money` unit (1e-18).

use std::collections::VecDeque;

use super::Venue;
use crate::domain::Decimal;
use crate::domain::{Fill, InstrumentSpec, Money, Order, OrderType, POW10, Price, Side, Tick};

#[derive(Clone, Copy, Debug)]
struct Resting {
    order: Order,
    /// Earliest event time it may fill at.
    due_ts: u64,
}

#[derive(Debug)]
pub struct PaperVenue {
    latency_ns: u64,
    fee_bps: Decimal,
    precisions: Vec<(u8, u8)>,
    /// Resting orders per instrument, in arrival order.
    resting: Vec<VecDeque<Resting>>,
    open: usize,
}

impl PaperVenue {
    pub fn new(latency_ns: u64, fee_bps: Decimal, specs: &[InstrumentSpec]) -> PaperVenue {
        PaperVenue {
            latency_ns,
            fee_bps,
            precisions: specs
                .iter()
                .map(|s| (s.price_precision, s.qty_precision))
                .collect(),
            resting: specs.iter().map(|_| VecDeque::with_capacity(64)).collect(),
            open: 0,
        }
    }

    /// `notional × fee_bps / 10^4`, rounded half-even.
    pub fn fee(&self, price: Price, order: &Order) -> Money {
        fee(
            price,
            order,
            self.fee_bps,
            self.precisions[order.instrument.index()],
        )
    }

    /// The price `order` executes at on `tick`, if it does.
    #[inline]
    fn execution_price(order: &Order, tick: &Tick, resting: bool) -> Option<Price> {
        let touch = match order.side {
            Side::Buy => tick.buy_price()?,
            Side::Sell => tick.sell_price()?,
        };
        match order.order_type {
            OrderType::Market => Some(touch),
            OrderType::Limit(limit) => {
                let reached = match order.side {
                    Side::Buy => touch <= limit,
                    Side::Sell => touch >= limit,
                };
                // Marketable on arrival: the touch; resting: the limit itself.
                reached.then_some(if resting { limit } else { touch })
            }
        }
    }
}

impl Venue for PaperVenue {
    #[inline]
    fn submit(&mut self, order: Order, tick: &Tick, fills: &mut Vec<Fill>) {
        if self.latency_ns == 0
            && let Some(price) = Self::execution_price(&order, tick, false)
        {
            fills.push(make_fill(
                &order,
                tick,
                price,
                self.fee_bps,
                self.precisions[order.instrument.index()],
            ));
            return;
        }
        self.resting[order.instrument.index()].push_back(Resting {
            order,
            due_ts: order.ts.0.saturating_add(self.latency_ns),
        });
        self.open += 1;
    }

    #[inline]
    fn on_tick(&mut self, tick: &Tick, fills: &mut Vec<Fill>) {
        let i = tick.instrument.index();
        if self.resting[i].is_empty() {
            return;
        }
        let (latency, fee_bps, precisions) = (self.latency_ns, self.fee_bps, self.precisions[i]);
        let mut filled = 0;
        // Arrival order; with one latency per venue that is also due order, so market
        // orders fill FIFO. A limit that is not reached does not hold up the others.
        self.resting[i].retain(|r| {
            if tick.ts.0 < r.due_ts {
                return true;
            }
            let resting_limit = r.order.ts.0.saturating_add(latency) < tick.ts.0
                && matches!(r.order.order_type, OrderType::Limit(_));
            match Self::execution_price(&r.order, tick, resting_limit) {
                Some(price) => {
                    fills.push(make_fill(&r.order, tick, price, fee_bps, precisions));
                    filled += 1;
                    false
                }
                None => true,
            }
        });
        self.open -= filled;
    }

    fn cancel(&mut self, order_id: u64) -> bool {
        for queue in &mut self.resting {
            if let Some(at) = queue.iter().position(|r| r.order.id == order_id) {
                queue.remove(at);
                self.open -= 1;
                return true;
            }
        }
        false
    }

    fn open_orders(&self) -> usize {
        self.open
    }
}

fn fee(price: Price, order: &Order, fee_bps: Decimal, (pp, qp): (u8, u8)) -> Money {
    if fee_bps.mantissa == 0 {
        return Money::ZERO;
    }
    let notional = Money::notional(price, order.qty, pp, qp).0.abs();
    let divisor = i128::from(POW10[fee_bps.decimals as usize]) * 10_000;
    let product = notional.saturating_mul(i128::from(fee_bps.mantissa));
    let (quotient, remainder) = (product / divisor, product % divisor);
    let round_up = remainder * 2 > divisor || (remainder * 2 == divisor && quotient % 2 == 1);
    Money(quotient + i128::from(round_up))
}

fn make_fill(
    order: &Order,
    tick: &Tick,
    price: Price,
    fee_bps: Decimal,
    precisions: (u8, u8),
) -> Fill {
    Fill {
        order_id: order.id,
        correlation: order.correlation,
        ts: tick.ts,
        book: order.book,
        broker: order.broker,
        strategy: order.strategy,
        instrument: order.instrument,
        side: order.side,
        qty: order.qty,
        price,
        fee: fee(price, order, fee_bps, precisions),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InstrumentId, Nanos, Qty};

    fn specs() -> Vec<InstrumentSpec> {
        vec![InstrumentSpec {
            symbol: "X".into(),
            price_precision: 2,
            qty_precision: 0,
        }]
    }

    fn quote(ts: u64, bid: i64, ask: i64) -> Tick {
        Tick::quote(
            Nanos(ts),
            InstrumentId(0),
            Some(Price(bid)),
            Some(Price(ask)),
            None,
            None,
        )
    }

    fn order(id: u64, side: Side, ts: u64, order_type: OrderType) -> Order {
        Order {
            id,
            ts: Nanos(ts),
            side,
            qty: Qty(2),
            order_type,
            ..Order::default()
        }
    }

    fn fills_of(
        venue: &mut PaperVenue,
        submit: &[(Order, Tick)],
        ticks: &[Tick],
    ) -> Vec<(u64, u64, i64)> {
        let mut fills = Vec::new();
        for (o, t) in submit {
            venue.submit(*o, t, &mut fills);
        }
        for t in ticks {
            venue.on_tick(t, &mut fills);
        }
        fills
            .iter()
            .map(|f| (f.order_id, f.ts.0, f.price.0))
            .collect()
    }

    #[test]
    fn fill_rules_table() {
        let market = OrderType::Market;
        /// (name, latency, submissions, later ticks, expected (order id, ts, price) fills)
        type Case = (
            &'static str,
            u64,
            Vec<(Order, Tick)>,
            Vec<Tick>,
            Vec<(u64, u64, i64)>,
        );
        let cases: Vec<Case> = vec![
            (
                "zero latency fills on the signal tick at the ask",
                0,
                vec![(order(1, Side::Buy, 10, market), quote(10, 100, 102))],
                vec![],
                vec![(1, 10, 102)],
            ),
            (
                "sell at the bid",
                0,
                vec![(order(1, Side::Sell, 10, market), quote(10, 100, 102))],
                vec![],
                vec![(1, 10, 100)],
            ),
            (
                "latency waits for ts >= signal + latency",
                5,
                vec![(order(1, Side::Buy, 10, market), quote(10, 100, 102))],
                vec![quote(14, 100, 103), quote(15, 101, 104)],
                vec![(1, 15, 104)],
            ),
            (
                "pending fill FIFO on one tick",
                5,
                vec![
                    (order(1, Side::Buy, 10, market), quote(10, 100, 102)),
                    (order(2, Side::Sell, 10, market), quote(10, 100, 102)),
                ],
                vec![quote(20, 99, 101)],
                vec![(1, 20, 101), (2, 20, 99)],
            ),
            (
                "marketable limit fills at the touch",
                0,
                vec![(
                    order(1, Side::Buy, 10, OrderType::Limit(Price(105))),
                    quote(10, 100, 102),
                )],
                vec![],
                vec![(1, 10, 102)],
            ),
            (
                "resting limit fills at its price when reached",
                0,
                vec![(
                    order(1, Side::Buy, 10, OrderType::Limit(Price(99))),
                    quote(10, 100, 102),
                )],
                vec![quote(11, 98, 100), quote(12, 97, 99)],
                vec![(1, 12, 99)],
            ),
        ];
        for (name, latency, submit, ticks, expected) in cases {
            let mut venue = PaperVenue::new(latency, Decimal::default(), &specs());
            assert_eq!(fills_of(&mut venue, &submit, &ticks), expected, "{name}");
            assert_eq!(venue.open_orders(), 0, "{name}: all filled");
        }
    }

    #[test]
    fn trade_tick_fills_both_sides_at_its_price() {
        let mut venue = PaperVenue::new(0, Decimal::default(), &specs());
        let trade = Tick::trade(Nanos(1), InstrumentId(0), Price(150), None);
        let got = fills_of(
            &mut venue,
            &[
                (order(1, Side::Buy, 1, OrderType::Market), trade),
                (order(2, Side::Sell, 1, OrderType::Market), trade),
            ],
            &[],
        );
        assert_eq!(got, vec![(1, 1, 150), (2, 1, 150)]);
    }

    #[test]
    fn fee_is_exact_and_cancel_works() {
        // 2 × 1.01 = 2.02 notional; 2.5 bps → 0.000505.
        let venue = PaperVenue::new(
            0,
            Decimal {
                mantissa: 25,
                decimals: 1,
            },
            &specs(),
        );
        let o = order(1, Side::Buy, 0, OrderType::Market);
        assert_eq!(venue.fee(Price(101), &o), Money::parse("0.000505").unwrap());
        let mut venue = PaperVenue::new(10, Decimal::default(), &specs());
        let mut fills = Vec::new();
        venue.submit(o, &quote(0, 100, 101), &mut fills);
        assert_eq!(venue.open_orders(), 1);
        assert!(venue.cancel(1));
        assert!(!venue.cancel(1));
        venue.on_tick(&quote(100, 100, 101), &mut fills);
        assert!(fills.is_empty());
    }
}
