//! Paper venue: a simulated exchange, the same for backtests and for paper trading on live
//! data. It answers every request at once, in order, into the caller's event buffer, with no
//! allocation per tick once its per-instrument state and queues are sized (a resting order's
//! queue position lives in the order's own slot).
//!
//! Rules (latency in event time; `docs/FILL_MODELS.md` has the models in full):
//! - A new order is `Accepted` at once (a zero or negative quantity or limit price is
//!   `Rejected` with `INVALID_ORDER`). It *arrives* at `arrival = order.ts + md + entry`:
//!   `order.ts` is the exchange time of the tick that caused it, `md` the market-data latency
//!   (`md_latency`: none, the data's own `local_ts - ts` of the order instrument's last tick,
//!   a constant, or drawn from a file) and `entry` the order-entry latency (`latency_ns`, or
//!   drawn from `latency_file`). Both are drawn once per accepted order, in submission order,
//!   each from its own seeded generator (`latency_seed`): the same run draws the same delays,
//!   inline or threaded. The order is handled at the first tick of its instrument with
//!   `ts >= arrival` (a delay of 0: at once, against the last tick of the instrument, its
//!   events stamped with the order's time). Orders due by one tick are handled in arrival
//!   order (submission order among equal arrivals).
//! - On arrival a market order executes at the touch (BUY at the ask, SELL at the bid; a
//!   trade tick: its price); a limit order executes at the touch when that is at or better
//!   than its limit, and otherwise rests. An order that cannot execute on arrival because the
//!   touch is missing waits for a tick that has it. An IOC order's unexecuted rest expires on
//!   arrival. A limit order first handled on a tick later than its arrival time rested in
//!   between: it is handled as resting (below) from that tick on.
//! - A resting limit order, `queue = "none"` (default): it executes at its own price, as
//!   maker, on a later tick whose touch reaches it (BUY: ask <= limit; SELL: bid >= limit).
//!   Resting orders are served FIFO per instrument.
//! - A resting limit order, `queue = "conservative"` (not IOC): it joins behind the size
//!   displayed at its price on its side when it starts resting, and fills as maker at its
//!   price only from trades at its price beyond that volume, or whole when the market trades
//!   through its price (`queue` module). `fill_size` does not limit these fills; our orders
//!   share one tick's traded volume per side, FIFO.
//! - Fill size: `order` (default) fills the whole open quantity; `touch` fills at most the
//!   size shown at the touch of the tick (the trade's size on a trade tick), shared by every
//!   order that executes on that tick; the rest stays open (partial fills). Ticks without a
//!   size do not limit.
//! - Cancels and modifies take effect at once (no latency). A modify changes the limit price
//!   and/or total quantity of an open limit order, which loses its place in the queue (under
//!   `queue = "conservative"` it joins again, at the latest quote); it executes at once, as
//!   taker, if it became marketable. A market order cannot be modified; a new quantity must
//!   stay above what already filled (`INVALID_MODIFY`). A cancel or modify of an order the
//!   venue no longer holds is refused with `UNKNOWN_ORDER`.
//! - Costs (`execution::cost`, per instrument): a taker fill's price slips by the venue's
//!   slippage model (never past a limit order's own price); every fill pays commission on
//!   its notional in the settlement currency (maker or taker rate, per unit, a minimum on the
//!   order's first fill, side-dependent charges), rounded half-even to the `Money` unit.

pub mod checkpoint;
pub mod latency;
pub mod models;
pub mod queue;

use std::collections::VecDeque;

use super::config::{BrokerConfig, FillSize};
use super::cost::{Costs, FeeTable, VenueCosts};
use crate::domain::{
    Execution, InstrumentSpec, Liquidity, Money, Nanos, Order, OrderEvent, OrderEventKind,
    OrderRequest, OrderType, Price, Qty, RejectReason, RequestKind, Side, Tick, TickFlags,
    TickKind, TimeInForce,
};

pub use latency::{Latency, LatencyModel};
pub use models::PaperModels;
pub use queue::QueueModel;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Resting {
    order: Order,
    filled: i64,
    /// Earliest event time it may execute at: its arrival, ns.
    due_ts: u64,
    /// Its arrival was handled (what remains rests).
    arrived: bool,
    /// `queue = "conservative"`: volume ahead of it at its price (`queue::UNKNOWN`: not
    /// visible yet).
    ahead: i64,
}

impl Resting {
    fn leaves(&self) -> i64 {
        self.order.qty.0 - self.filled
    }
}

#[derive(Debug)]
pub struct PaperVenue {
    latency: Latency,
    md_latency: Latency,
    /// Orders may arrive in another order than they were submitted in.
    variable_latency: bool,
    /// Event time of the latest tick seen (any instrument), ns.
    now: u64,
    queue: QueueModel,
    /// Ticks are observed (data latency, quotes, touch size used) for `md_latency =
    /// "from_data"`, a queue or `fill_size = "touch"`.
    observe: bool,
    fill_size: FillSize,
    /// Per instrument: the commission of a fill, the costs (slippage), tick size (raw).
    fees: FeeTable,
    costs: Vec<Costs>,
    ticks: Vec<i64>,
    /// Resting orders per instrument, in arrival order.
    resting: Vec<VecDeque<Resting>>,
    /// How much of the latest tick's touch size was used, per instrument (BUY, SELL).
    used: Vec<[i64; 2]>,
    /// Per instrument: `local_ts - ts` of the last tick seen, ns (0 if negative or none).
    data_ns: Vec<u64>,
    /// Per instrument: the last quote seen, the book a queue joins (default: none yet).
    quotes: Vec<Tick>,
    next_venue_id: u64,
    open: usize,
}

impl PaperVenue {
    /// A venue with one constant order-entry latency, ns, and no queue model.
    pub fn new(
        latency_ns: u64,
        costs: &VenueCosts,
        fill_size: FillSize,
        specs: &[InstrumentSpec],
    ) -> PaperVenue {
        PaperVenue::with_models(PaperModels::constant(latency_ns), costs, fill_size, specs)
    }

    /// The venue `[venue.NAME]` configures.
    pub fn from_config(broker: &BrokerConfig, specs: &[InstrumentSpec]) -> PaperVenue {
        PaperVenue::with_models(
            PaperModels::from_config(broker),
            &broker.costs,
            broker.fill_size,
            specs,
        )
    }

    pub fn with_models(
        models: PaperModels,
        costs: &VenueCosts,
        fill_size: FillSize,
        specs: &[InstrumentSpec],
    ) -> PaperVenue {
        let variable_latency =
            models.latency.fixed().is_none() || models.md_latency.fixed().is_none();
        let observe = models.md_latency == Latency::FromData
            || models.latency == Latency::FromData
            || models.queue != QueueModel::None
            || fill_size == FillSize::Touch;
        PaperVenue {
            latency: models.latency,
            md_latency: models.md_latency,
            variable_latency,
            now: 0,
            queue: models.queue,
            observe,
            fill_size,
            costs: specs.iter().map(|s| *costs.for_symbol(&s.symbol)).collect(),
            ticks: specs.iter().map(|s| s.tick_size.max(1)).collect(),
            fees: FeeTable::new(costs, specs),
            resting: specs.iter().map(|_| VecDeque::with_capacity(64)).collect(),
            used: vec![[0; 2]; specs.len()],
            data_ns: vec![0; specs.len()],
            quotes: vec![Tick::default(); specs.len()],
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
        self.fees
            .fee(instrument, price, qty, side, liquidity, first_fill)
    }

    /// Market data: resting orders the tick makes executable execute.
    #[inline(always)]
    pub fn on_tick(&mut self, tick: &Tick, events: &mut Vec<OrderEvent>) {
        let i = tick.instrument.index();
        self.now = self.now.max(tick.ts.0);
        if self.observe {
            self.used[i] = [0, 0];
        }
        // Most ticks find nothing resting: that check stays inline, the work does not.
        if !self.resting[i].is_empty() {
            self.execute_resting(tick, events);
        }
        // After the orders: those arriving between the last tick and this one met the book
        // of the last tick.
        if self.observe {
            self.observe_tick(tick);
        }
    }

    /// What the latency and queue models read of a tick; off the default path.
    #[inline(never)]
    fn observe_tick(&mut self, tick: &Tick) {
        let i = tick.instrument.index();
        self.data_ns[i] = tick.local_ts.0.saturating_sub(tick.ts.0);
        if tick.kind == TickKind::Quote {
            self.quotes[i] = *tick;
        }
    }

    #[inline(never)]
    fn execute_resting(&mut self, tick: &Tick, events: &mut Vec<OrderEvent>) {
        let i = tick.instrument.index();
        let mut closed = 0;
        let mut at = 0;
        // Arrival order, so market orders fill FIFO. An order not due yet, or a limit that is
        // not reached, does not hold up the others.
        while at < self.resting[i].len() {
            if tick.ts.0 < self.resting[i][at].due_ts {
                at += 1;
                continue;
            }
            let mut r = self.resting[i][at];
            let arriving = !r.arrived;
            // An order rests (limit price, maker) once a tick after its arrival time passed.
            let resting = r.due_ts < tick.ts.0 && matches!(r.order.order_type, OrderType::Limit(_));
            if self.queued(&r) {
                self.execute_queued(&mut r, tick, arriving, resting, events);
            } else {
                self.execute(&mut r, tick, resting, events);
            }
            r.arrived = true;
            let expire = arriving && r.order.tif == TimeInForce::Ioc && r.leaves() > 0;
            if expire {
                events.push(OrderEvent::of(
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

    /// Whether `r` follows the queue model: a limit order that may rest.
    #[inline]
    fn queued(&self, r: &Resting) -> bool {
        self.queue == QueueModel::Conservative
            && r.order.tif != TimeInForce::Ioc
            && matches!(r.order.order_type, OrderType::Limit(_))
    }

    /// The book an order of instrument `i` joins at `tick`: the tick if it is a quote, else
    /// the last quote seen.
    #[inline]
    fn book<'t>(&'t self, i: usize, tick: &'t Tick) -> &'t Tick {
        if tick.kind == TickKind::Quote {
            tick
        } else {
            &self.quotes[i]
        }
    }

    /// `queue = "conservative"`: a limit order arriving on `tick` takes what it can as taker
    /// and joins the queue at this tick's book; one that arrived since the last tick joined
    /// at the last quote and, like every resting one, takes this tick's queue step.
    fn execute_queued(
        &mut self,
        r: &mut Resting,
        tick: &Tick,
        arriving: bool,
        resting: bool,
        events: &mut Vec<OrderEvent>,
    ) {
        let OrderType::Limit(price) = r.order.order_type else {
            return;
        };
        let i = r.order.instrument.index();
        if arriving && !resting {
            self.execute(r, tick, false, events);
            r.ahead = queue::join(r.order.side, price, self.book(i, tick));
            return;
        }
        if arriving {
            r.ahead = queue::join(r.order.side, price, &self.quotes[i]);
        }
        let side = usize::from(r.order.side == Side::Sell);
        let qty = match queue::step(r.order.side, price, &mut r.ahead, tick) {
            queue::Step::Hold => 0,
            queue::Step::Through => r.leaves(),
            // Our orders earlier in the queue took their part of this tick's volume first.
            queue::Step::Fill(beyond) => r.leaves().min(beyond - self.used[i][side]),
        };
        if qty > 0 {
            self.used[i][side] = self.used[i][side].saturating_add(qty);
            self.fill(r, tick, price, qty, Liquidity::Maker, events);
        }
    }

    /// Moves the venue's event clock to at least `ts` (`on_tick` does it with every tick: the
    /// runtimes give the venue every tick before the requests it causes).
    pub fn advance_to(&mut self, ts: Nanos) {
        self.now = self.now.max(ts.0);
    }

    /// A new order approved by risk; `market` is the latest tick of its instrument.
    pub fn submit(&mut self, order: &Order, market: &Tick, events: &mut Vec<OrderEvent>) {
        let invalid = order.qty.0 <= 0 || order.order_type.limit_price().is_some_and(|p| p.0 <= 0);
        if invalid {
            events.push(OrderEvent::of(
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
        events.push(OrderEvent::of(
            order,
            order.ts,
            OrderEventKind::Accepted {
                venue_id,
                qty: order.qty,
                order_type: order.order_type,
            },
        ));
        let i = order.instrument.index();
        // Both draws for every accepted order, in submission order: determinism.
        let data_ns = self.data_ns[i];
        let delay = self
            .md_latency
            .next_ns(data_ns)
            .saturating_add(self.latency.next_ns(data_ns));
        let mut r = Resting {
            order: *order,
            filled: 0,
            due_ts: order.ts.0.saturating_add(delay),
            arrived: false,
            ahead: queue::UNKNOWN,
        };
        // At once only when it is due now: an order stamped later than the last tick (a
        // strategy's compute time charged, `strategy::compute`) waits for a tick at or after
        // its time, like any latency.
        if r.due_ts <= self.now {
            self.execute(&mut r, market, false, events);
            if r.leaves() > 0 && r.order.tif == TimeInForce::Ioc {
                events.push(OrderEvent::of(
                    order,
                    order.ts,
                    OrderEventKind::Expired {
                        leaves: Qty(r.leaves()),
                    },
                ));
                return;
            }
            r.arrived = true;
            self.rejoin(&mut r, market);
        }
        if r.leaves() > 0 {
            self.enqueue(r);
            self.open += 1;
        }
    }

    /// Puts a new order in its instrument's queue: after every order that arrives no later.
    #[inline]
    fn enqueue(&mut self, r: Resting) {
        let queue = &mut self.resting[r.order.instrument.index()];
        // Due times are in arrival order unless latency varies or strategies' compute time
        // is charged: then an order goes after every pending one due no later.
        if r.arrived
            || (!self.variable_latency
                && queue
                    .back()
                    .is_none_or(|b| b.arrived || b.due_ts <= r.due_ts))
        {
            queue.push_back(r);
            return;
        }
        let mut at = queue.len();
        while at > 0 && !queue[at - 1].arrived && queue[at - 1].due_ts > r.due_ts {
            at -= 1;
        }
        queue.insert(at, r);
    }

    /// An arrived order that (still) rests joins the queue at `market`'s book.
    #[inline]
    fn rejoin(&self, r: &mut Resting, market: &Tick) {
        if let (true, OrderType::Limit(price)) = (self.queued(r), r.order.order_type) {
            r.ahead = queue::join(
                r.order.side,
                price,
                self.book(r.order.instrument.index(), market),
            );
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
                    events.push(OrderEvent::of(
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
                events.push(OrderEvent::of(
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
                    self.rejoin(&mut r, market);
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
        self.used[i][side] = self.used[i][side].saturating_add(qty);
        let liquidity = if resting {
            Liquidity::Maker
        } else {
            Liquidity::Taker
        };
        self.fill(r, tick, price, qty, liquidity, events);
    }

    /// Fills `qty` of `r` at `price` on `tick`.
    #[inline]
    fn fill(
        &self,
        r: &mut Resting,
        tick: &Tick,
        price: Price,
        qty: i64,
        liquidity: Liquidity,
        events: &mut Vec<OrderEvent>,
    ) {
        let i = r.order.instrument.index();
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
        events.push(OrderEvent::of(&r.order, tick.ts.max(r.order.ts), kind));
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod model_tests;
