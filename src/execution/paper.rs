//! Paper venue: a simulated exchange, the same for backtests and for paper trading on live
//! data. It answers every request at once, in order, into the caller's event buffer.
//!
//! Rules (one latency per venue, `latency_ns`, in event time):
//! - A new order is `Accepted` at once (a zero or negative quantity or limit price is
//!   `Rejected` with `INVALID_ORDER`). It *arrives* at the first tick of its instrument with
//!   `ts >= ts_order + latency` (latency 0: at once, against the last tick of the instrument,
//!   its events stamped with the order's time).
//! - On arrival a market order executes at the touch (BUY at the ask, SELL at the bid; a
//!   trade tick: its price); a limit order executes at the touch when that is at or better
//!   than its limit, and otherwise rests. An order that cannot execute on arrival because the
//!   touch is missing waits for a tick that has it. An IOC order's unexecuted rest expires on
//!   arrival.
//! - A resting limit order executes at its own price, as maker, on a later tick whose touch
//!   reaches it (BUY: ask <= limit; SELL: bid >= limit). Resting orders are served FIFO per
//!   instrument.
//! - Fill size: `order` (default) fills the whole open quantity; `touch` fills at most the
//!   size shown at the touch of the tick (the trade's size on a trade tick), shared by every
//!   order that executes on that tick; the rest stays open (partial fills). Ticks without a
//!   size do not limit.
//! - Cancels and modifies take effect at once (no latency). A modify changes the limit price
//!   and/or total quantity of an open limit order, which loses its place in the queue; it
//!   executes at once, as taker, if it became marketable. A market order cannot be modified;
//!   a new quantity must stay above what already filled (`INVALID_MODIFY`). A cancel or
//!   modify of an order the venue no longer holds is refused with `UNKNOWN_ORDER`.
//! - Costs (`execution::cost`, per instrument): a taker fill's price slips by the venue's
//!   slippage model (never past a limit order's own price); every fill pays commission on
//!   its notional in the settlement currency (maker or taker rate, per unit, a minimum on the
//!   order's first fill, side-dependent charges), rounded half-even to the `Money` unit.

use std::collections::VecDeque;

use super::config::FillSize;
use super::cost::{Costs, VenueCosts};
use crate::domain::{
    Execution, InstrumentSpec, Liquidity, Money, Nanos, Order, OrderEvent, OrderEventKind,
    OrderRequest, OrderType, Price, Qty, RejectReason, RequestKind, Side, Tick, TickFlags,
    TimeInForce, Valuation,
};

#[derive(Clone, Copy, Debug)]
struct Resting {
    order: Order,
    filled: i64,
    /// Earliest event time it may execute at.
    due_ts: u64,
    /// Its arrival was handled (what remains rests).
    arrived: bool,
}

impl Resting {
    fn leaves(&self) -> i64 {
        self.order.qty.0 - self.filled
    }
}

#[derive(Debug)]
pub struct PaperVenue {
    latency_ns: u64,
    fill_size: FillSize,
    /// Per instrument: how a fill's notional is valued (settlement currency), its costs,
    /// tick size (raw) and quantity precision.
    valuations: Vec<Valuation>,
    costs: Vec<Costs>,
    ticks: Vec<i64>,
    qty_precisions: Vec<u8>,
    /// Resting orders per instrument, in arrival order.
    resting: Vec<VecDeque<Resting>>,
    /// How much of the latest tick's touch size was used, per instrument (BUY, SELL).
    used: Vec<[i64; 2]>,
    next_venue_id: u64,
    open: usize,
}

impl PaperVenue {
    pub fn new(
        latency_ns: u64,
        costs: &VenueCosts,
        fill_size: FillSize,
        specs: &[InstrumentSpec],
    ) -> PaperVenue {
        PaperVenue {
            latency_ns,
            fill_size,
            costs: specs.iter().map(|s| *costs.for_symbol(&s.symbol)).collect(),
            ticks: specs.iter().map(|s| s.tick_size.max(1)).collect(),
            qty_precisions: specs.iter().map(|s| s.qty_precision).collect(),
            // Specs were validated at build (`apply_terms`); zero values nothing.
            valuations: specs
                .iter()
                .map(|s| s.valuation().unwrap_or(Valuation::Linear { half_unit: 0 }))
                .collect(),
            resting: specs.iter().map(|_| VecDeque::with_capacity(64)).collect(),
            used: vec![[0; 2]; specs.len()],
            next_venue_id: 1,
            open: 0,
        }
    }

    /// Orders accepted and not yet closed.
    pub fn open_orders(&self) -> usize {
        self.open
    }

    /// The commission of one fill on `instrument` (see `cost::Commission`).
    pub fn fee(
        &self,
        price: Price,
        qty: Qty,
        instrument: usize,
        side: Side,
        liquidity: Liquidity,
        first_fill: bool,
    ) -> Money {
        self.costs[instrument].commission.commission(
            self.valuations[instrument].settlement_notional(qty, price),
            qty,
            self.qty_precisions[instrument],
            side,
            liquidity,
            first_fill,
        )
    }

    /// Market data: resting orders the tick makes executable execute.
    #[inline]
    pub fn on_tick(&mut self, tick: &Tick, events: &mut Vec<OrderEvent>) {
        let i = tick.instrument.index();
        self.used[i] = [0, 0];
        // Most ticks find nothing resting: that check stays inline, the work does not.
        if !self.resting[i].is_empty() {
            self.execute_resting(tick, events);
        }
    }

    #[inline(never)]
    fn execute_resting(&mut self, tick: &Tick, events: &mut Vec<OrderEvent>) {
        let i = tick.instrument.index();
        let mut closed = 0;
        let mut at = 0;
        // Arrival order; with one latency per venue that is also due order, so market
        // orders fill FIFO. A limit that is not reached does not hold up the others.
        while at < self.resting[i].len() {
            if tick.ts.0 < self.resting[i][at].due_ts {
                at += 1;
                continue;
            }
            let mut r = self.resting[i][at];
            let arriving = !r.arrived;
            // An order rests (limit price, maker) once a tick after its arrival time passed.
            let resting = r.order.ts.0.saturating_add(self.latency_ns) < tick.ts.0
                && matches!(r.order.order_type, OrderType::Limit(_));
            self.execute(&mut r, tick, resting, events);
            r.arrived = true;
            let expire = arriving && r.order.tif == TimeInForce::Ioc && r.leaves() > 0;
            if expire {
                events.push(event(
                    &r.order,
                    tick.ts,
                    OrderEventKind::Expired {
                        leaves: Qty(r.leaves()),
                    },
                ));
            }
            if r.leaves() == 0 || expire {
                self.resting[i].remove(at);
                closed += 1;
            } else {
                self.resting[i][at] = r;
                at += 1;
            }
        }
        self.open -= closed;
    }

    /// A new order approved by risk; `market` is the latest tick of its instrument.
    pub fn submit(&mut self, order: &Order, market: &Tick, events: &mut Vec<OrderEvent>) {
        let invalid = order.qty.0 <= 0 || order.order_type.limit_price().is_some_and(|p| p.0 <= 0);
        if invalid {
            events.push(event(
                order,
                order.ts,
                OrderEventKind::Rejected {
                    reason: RejectReason::InvalidOrder,
                    qty: order.qty,
                },
            ));
            return;
        }
        let venue_id = self.next_venue_id;
        self.next_venue_id += 1;
        events.push(event(
            order,
            order.ts,
            OrderEventKind::Accepted {
                venue_id,
                qty: order.qty,
                order_type: order.order_type,
            },
        ));
        let mut r = Resting {
            order: *order,
            filled: 0,
            due_ts: order.ts.0.saturating_add(self.latency_ns),
            arrived: false,
        };
        if self.latency_ns == 0 {
            self.execute(&mut r, market, false, events);
            if r.leaves() > 0 && r.order.tif == TimeInForce::Ioc {
                events.push(event(
                    order,
                    order.ts,
                    OrderEventKind::Expired {
                        leaves: Qty(r.leaves()),
                    },
                ));
                return;
            }
            r.arrived = true;
        }
        if r.leaves() > 0 {
            self.resting[order.instrument.index()].push_back(r);
            self.open += 1;
        }
    }

    /// A cancel or modify of an open order; `market` is the latest tick of its instrument.
    pub fn amend(&mut self, request: &OrderRequest, market: &Tick, events: &mut Vec<OrderEvent>) {
        let i = request.instrument.index();
        let Some(at) = self.resting[i]
            .iter()
            .position(|r| r.order.id == request.id)
        else {
            events.push(request.refusal(RejectReason::UnknownOrder));
            return;
        };
        match request.kind {
            RequestKind::Cancel => {
                let r = self.resting[i].remove(at);
                self.open -= 1;
                if let Some(r) = r {
                    events.push(event(
                        &r.order,
                        request.ts,
                        OrderEventKind::Cancelled {
                            leaves: Qty(r.leaves()),
                        },
                    ));
                }
            }
            RequestKind::Modify {
                qty, order_type, ..
            } => {
                let mut r = self.resting[i][at];
                let valid = matches!(r.order.order_type, OrderType::Limit(_))
                    && matches!(order_type, OrderType::Limit(p) if p.0 > 0)
                    && qty.0 > r.filled;
                if !valid {
                    events.push(request.refusal(RejectReason::InvalidModify));
                    return;
                }
                let old_leaves = r.leaves();
                r.order.qty = qty;
                r.order.order_type = order_type;
                events.push(event(
                    &r.order,
                    request.ts,
                    OrderEventKind::Modified {
                        qty,
                        order_type,
                        leaves: Qty(r.leaves()),
                        old_leaves: Qty(old_leaves),
                    },
                ));
                // A modified order goes to the back of the queue.
                self.resting[i].remove(at);
                if r.arrived {
                    self.execute(&mut r, market, false, events);
                }
                if r.leaves() > 0 {
                    self.resting[i].push_back(r);
                } else {
                    self.open -= 1;
                }
            }
            RequestKind::New { .. } => {}
        }
    }

    /// Executes what it can of `r` on `tick`: at the limit price as maker when `resting`,
    /// else at the touch as taker.
    #[inline]
    fn execute(
        &mut self,
        r: &mut Resting,
        tick: &Tick,
        resting: bool,
        events: &mut Vec<OrderEvent>,
    ) {
        let (touch, size_flag, size) = match r.order.side {
            Side::Buy => (tick.buy_price(), TickFlags::ASK_SIZE, tick.ask_size),
            Side::Sell => (tick.sell_price(), TickFlags::BID_SIZE, tick.bid_size),
        };
        let Some(touch) = touch else {
            return;
        };
        let price = match r.order.order_type {
            OrderType::Market => touch,
            OrderType::Limit(limit) => {
                let reached = match r.order.side {
                    Side::Buy => touch <= limit,
                    Side::Sell => touch >= limit,
                };
                if !reached {
                    return;
                }
                if resting { limit } else { touch }
            }
        };
        let i = r.order.instrument.index();
        // A taker pays the slippage, never past its own limit.
        let price = if resting {
            price
        } else {
            let slipped = self.costs[i]
                .slippage
                .apply(price, r.order.side, self.ticks[i]);
            match (r.order.order_type, r.order.side) {
                (OrderType::Limit(limit), Side::Buy) => slipped.min(limit),
                (OrderType::Limit(limit), Side::Sell) => slipped.max(limit),
                (OrderType::Market, _) => slipped,
            }
        };
        let side = usize::from(r.order.side == Side::Sell);
        let mut qty = r.leaves();
        if self.fill_size == FillSize::Touch && tick.flags.has(size_flag) {
            qty = qty.min((size.0 - self.used[i][side]).max(0));
            if qty == 0 {
                return;
            }
        }
        self.used[i][side] += qty;
        let liquidity = if resting {
            Liquidity::Maker
        } else {
            Liquidity::Taker
        };
        let fee = self.fee(price, Qty(qty), i, r.order.side, liquidity, r.filled == 0);
        r.filled += qty;
        let execution = Execution {
            qty: Qty(qty),
            price,
            fee,
            leaves: Qty(r.leaves()),
            liquidity,
        };
        let kind = if r.leaves() > 0 {
            OrderEventKind::PartiallyFilled(execution)
        } else {
            OrderEventKind::Filled(execution)
        };
        // Never before the order: at zero latency an order on another instrument than the
        // current tick's executes against that instrument's older last quote.
        events.push(event(&r.order, tick.ts.max(r.order.ts), kind));
    }
}

/// An event about `order` at `ts`, correlated with the tick that caused the order.
#[inline]
fn event(order: &Order, ts: Nanos, kind: OrderEventKind) -> OrderEvent {
    OrderEvent {
        id: order.id,
        book: order.book,
        broker: order.broker,
        instrument: order.instrument,
        side: order.side,
        correlation: order.correlation,
        ts,
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Decimal;
    use crate::domain::{ClientOrderId, InstrumentId, Nanos};
    use crate::execution::cost::{Bps, Slippage};

    fn specs() -> Vec<InstrumentSpec> {
        vec![InstrumentSpec::new("X", 2, 0)]
    }

    fn quote(ts: u64, bid: i64, ask: i64) -> Tick {
        Tick::quote(
            Nanos(ts),
            InstrumentId(0),
            Some(Price(bid)),
            Some(Price(ask)),
            Some(Qty(3)),
            Some(Qty(3)),
        )
    }

    fn order(id: u64, side: Side, ts: u64, order_type: OrderType) -> Order {
        Order {
            id: ClientOrderId(id),
            ts: Nanos(ts),
            side,
            qty: Qty(2),
            order_type,
            ..Order::default()
        }
    }

    fn venue(latency: u64, fill_size: FillSize) -> PaperVenue {
        PaperVenue::new(latency, &VenueCosts::default(), fill_size, &specs())
    }

    /// `(order id, event kind name, ts, price of a fill)` of each event.
    fn summary(events: &[OrderEvent]) -> Vec<(u64, &'static str, u64, i64)> {
        events
            .iter()
            .map(|e| {
                let price = e.execution().map_or(0, |x| x.price.0);
                (e.id.0, e.kind_name(), e.ts.0, price)
            })
            .collect()
    }

    #[test]
    fn fill_rules_table() {
        let market = OrderType::Market;
        /// (name, latency, submissions at a tick, later ticks, expected fill events)
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
                "zero latency against an older quote fills at the order's time",
                0,
                vec![(order(1, Side::Buy, 12, market), quote(10, 100, 102))],
                vec![],
                vec![(1, 12, 102)],
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
                "pending orders fill FIFO on one tick",
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
            (
                "a trade tick fills both sides at its price",
                0,
                vec![
                    (
                        order(1, Side::Buy, 1, market),
                        Tick::trade(Nanos(1), InstrumentId(0), Price(150), None),
                    ),
                    (
                        order(2, Side::Sell, 1, market),
                        Tick::trade(Nanos(1), InstrumentId(0), Price(150), None),
                    ),
                ],
                vec![],
                vec![(1, 1, 150), (2, 1, 150)],
            ),
        ];
        for (name, latency, submit, ticks, expected) in cases {
            let mut venue = venue(latency, FillSize::Order);
            let mut events = Vec::new();
            for (o, t) in &submit {
                venue.on_tick(t, &mut events);
                venue.submit(o, t, &mut events);
            }
            for t in &ticks {
                venue.on_tick(t, &mut events);
            }
            let fills: Vec<(u64, u64, i64)> = events
                .iter()
                .filter_map(|e| e.execution().map(|x| (e.id.0, e.ts.0, x.price.0)))
                .collect();
            assert_eq!(fills, expected, "{name}");
            let accepted = events
                .iter()
                .filter(|e| e.kind_name() == "accepted")
                .count();
            assert_eq!(accepted, submit.len(), "{name}: every order accepted");
            assert_eq!(venue.open_orders(), 0, "{name}: all filled");
        }
    }

    #[test]
    fn makers_rest_and_takers_cross() {
        let mut venue = venue(0, FillSize::Order);
        let mut events = Vec::new();
        let t = quote(10, 100, 102);
        venue.submit(
            &order(1, Side::Buy, 10, OrderType::Limit(Price(99))),
            &t,
            &mut events,
        );
        venue.submit(&order(2, Side::Buy, 10, OrderType::Market), &t, &mut events);
        venue.on_tick(&quote(11, 98, 99), &mut events);
        let liquidity: Vec<(u64, Liquidity)> = events
            .iter()
            .filter_map(|e| e.execution().map(|x| (e.id.0, x.liquidity)))
            .collect();
        assert_eq!(
            liquidity,
            vec![(2, Liquidity::Taker), (1, Liquidity::Maker)]
        );
    }

    #[test]
    fn ioc_expires_what_does_not_fill_on_arrival() {
        let mut venue = venue(0, FillSize::Touch);
        let mut events = Vec::new();
        let t = quote(10, 100, 102);
        let mut ioc = order(1, Side::Buy, 10, OrderType::Limit(Price(102)));
        ioc.qty = Qty(5);
        ioc.tif = TimeInForce::Ioc;
        venue.submit(&ioc, &t, &mut events);
        assert_eq!(
            summary(&events),
            vec![
                (1, "accepted", 10, 0),
                (1, "partially_filled", 10, 102),
                (1, "expired", 10, 0)
            ]
        );
        assert!(matches!(
            events[2].kind,
            OrderEventKind::Expired { leaves: Qty(2) }
        ));
        assert_eq!(venue.open_orders(), 0);
    }

    #[test]
    fn touch_size_limits_fills_and_is_shared_within_a_tick() {
        let mut venue = venue(5, FillSize::Touch);
        let mut events = Vec::new();
        let t = quote(10, 100, 102);
        for id in [1, 2] {
            venue.submit(
                &order(id, Side::Buy, 10, OrderType::Market),
                &t,
                &mut events,
            );
        }
        // 3 at the ask: order 1 takes 2, order 2 the last 1; then the rest on the next tick.
        venue.on_tick(&quote(15, 100, 102), &mut events);
        venue.on_tick(&quote(16, 100, 103), &mut events);
        let fills: Vec<(u64, i64, i64)> = events
            .iter()
            .filter_map(|e| e.execution().map(|x| (e.id.0, x.qty.0, x.leaves.0)))
            .collect();
        assert_eq!(fills, vec![(1, 2, 0), (2, 1, 1), (2, 1, 0)]);
    }

    #[test]
    fn cancel_and_modify() {
        let mut venue = venue(0, FillSize::Order);
        let mut events = Vec::new();
        let t = quote(10, 100, 102);
        let resting = order(1, Side::Buy, 10, OrderType::Limit(Price(95)));
        venue.submit(&resting, &t, &mut events);
        let request = |kind| OrderRequest {
            id: ClientOrderId(1),
            book: resting.book,
            broker: resting.broker,
            instrument: resting.instrument,
            side: Side::Buy,
            correlation: 11,
            ts: Nanos(11),
            kind,
        };
        let modify = |price, qty| {
            request(RequestKind::Modify {
                qty: Qty(qty),
                order_type: OrderType::Limit(Price(price)),
                filled: Qty(0),
                leaves: Qty(2),
            })
        };
        events.clear();
        venue.amend(&modify(96, 3), &t, &mut events);
        venue.amend(&modify(103, 3), &t, &mut events);
        assert_eq!(
            summary(&events),
            vec![
                (1, "modified", 11, 0),
                (1, "modified", 11, 0),
                (1, "filled", 10, 102)
            ],
            "a modify that crosses fills at once, at the touch"
        );
        events.clear();
        venue.amend(&request(RequestKind::Cancel), &t, &mut events);
        venue.amend(&modify(96, 1), &t, &mut events);
        assert_eq!(
            summary(&events),
            vec![(1, "cancel_rejected", 11, 0), (1, "modify_rejected", 11, 0)],
            "the order is gone"
        );
        venue.submit(
            &order(2, Side::Buy, 10, OrderType::Limit(Price(95))),
            &t,
            &mut events,
        );
        events.clear();
        let mut cancel = request(RequestKind::Cancel);
        cancel.id = ClientOrderId(2);
        venue.amend(&cancel, &t, &mut events);
        assert!(matches!(
            events[0].kind,
            OrderEventKind::Cancelled { leaves: Qty(2) }
        ));
        assert_eq!(venue.open_orders(), 0);
    }

    #[test]
    fn invalid_orders_and_modifies_are_refused() {
        let mut venue = venue(0, FillSize::Order);
        let mut events = Vec::new();
        let t = quote(10, 100, 102);
        let mut zero = order(1, Side::Buy, 10, OrderType::Market);
        zero.qty = Qty(0);
        venue.submit(&zero, &t, &mut events);
        assert!(matches!(
            events[0].kind,
            OrderEventKind::Rejected {
                reason: RejectReason::InvalidOrder,
                ..
            }
        ));
        // A market order that cannot fill (no ask) rests; it cannot be modified.
        let one_sided = Tick::quote(
            Nanos(10),
            InstrumentId(0),
            Some(Price(100)),
            None,
            None,
            None,
        );
        venue.submit(
            &order(2, Side::Buy, 10, OrderType::Market),
            &one_sided,
            &mut events,
        );
        events.clear();
        venue.amend(
            &OrderRequest {
                id: ClientOrderId(2),
                book: Default::default(),
                broker: Default::default(),
                instrument: InstrumentId(0),
                side: Side::Buy,
                correlation: 0,
                ts: Nanos(10),
                kind: RequestKind::Modify {
                    qty: Qty(2),
                    order_type: OrderType::Limit(Price(90)),
                    filled: Qty(0),
                    leaves: Qty(2),
                },
            },
            &one_sided,
            &mut events,
        );
        assert!(matches!(
            events[0].kind,
            OrderEventKind::ModifyRejected {
                reason: RejectReason::InvalidModify
            }
        ));
    }

    #[test]
    fn costs_apply_per_fill_and_slippage_never_passes_a_limit() {
        let bps = |text: &str| {
            let (mantissa, decimals) =
                crate::domain::fixed::parse_mantissa(text.as_bytes()).expect("bps");
            Bps::from_decimal(Decimal { mantissa, decimals }).expect("bps")
        };
        let mut costs = VenueCosts::default();
        costs.default.commission.taker_bps = bps("2.5");
        costs.default.slippage = Slippage::Ticks(2);
        let mut venue = PaperVenue::new(0, &costs, FillSize::Order, &specs());
        // 2 × 1.01 = 2.02 notional; 2.5 bps → 0.000505.
        assert_eq!(
            venue.fee(Price(101), Qty(2), 0, Side::Buy, Liquidity::Taker, true),
            Money::parse("0.000505").expect("decimal")
        );
        let mut events = Vec::new();
        venue.on_tick(&quote(1, 100, 101), &mut events);
        venue.submit(
            &order(1, Side::Buy, 1, OrderType::Market),
            &quote(1, 100, 101),
            &mut events,
        );
        venue.submit(
            &order(2, Side::Buy, 1, OrderType::Limit(Price(102))),
            &quote(1, 100, 101),
            &mut events,
        );
        let prices: Vec<i64> = events
            .iter()
            .filter_map(|e| e.execution())
            .map(|x| x.price.0)
            .collect();
        assert_eq!(
            prices,
            [103, 102],
            "market slips 2 ticks; the limit caps it"
        );
    }
}
