//! The strategy stage: runs every book's strategy on the ticks of its instruments (through
//! the instrument index), delivers each order event to the book that owns the order, fires
//! timers on the event clock, and turns what the strategies write into `OrderRequest`s for
//! risk. A plain state machine: the runtime decides when each method runs.
//!
//! For one tick the runtime calls, in this order: `advance` (clock and seq; the market the
//! stage reads was updated by the runtime),
//! `on_event` for each event the tick's market data caused at the venue, `on_tick` (due
//! timers, then the strategies of the instrument), then `on_event` for every event the
//! requests caused, until no request is left. `awaits_venue` tells a threaded runtime
//! whether the venue can answer the tick's market data with events (a book has orders open on
//! the instrument), so it only waits for the venue when the answer can matter.
//!
//! Bounds that keep one tick finite: each callback writes at most `MAX_ACTIONS_PER_CALL`
//! actions, each book takes at most `MAX_ORDER_ACTIONS_PER_TICK` order actions per tick, and
//! timers set while timers fire wait for the next tick.

use std::collections::VecDeque;

use super::actions::{Action, Actions, MAX_ORDER_ACTIONS_PER_TICK};
use super::book::{BookState, MAX_OPEN_ORDERS, OrderRecord};
use super::compute::ComputeCharge;
use super::context::Context;
use super::index::StrategyIndex;
use super::timer::Timers;
use super::{Strategy, StrategyKind};
use crate::domain::Market;
use crate::domain::{
    BookId, BrokerId, ClientOrderId, InstrumentId, InstrumentTable, Nanos, OrderEvent,
    OrderEventKind, OrderRequest, OrderType, Qty, RejectReason, RequestKind, Side, Tick,
    TimeInForce,
};
use crate::ml::{InferenceMode, MlStrategy};
use crate::portfolio::{LOG_BUFFER, Portfolio, RecordLog};

/// The id canary orders carry: they only ever reach a null venue.
pub const CANARY_ORDER_ID: ClientOrderId = ClientOrderId(u64::MAX);

/// What the strategy stage reads of the other stages: the market and the portfolio (filled
/// positions). Owned by the runtime, lent for each call.
#[derive(Clone, Copy, Debug)]
pub struct Views<'a> {
    pub market: &'a Market,
    pub portfolio: &'a Portfolio,
}

/// One strategy instance and its book.
#[derive(Debug)]
pub struct Book {
    pub state: BookState,
    pub strategy: StrategyKind,
    /// Order actions left in the tick `budget_seq`.
    budget: u32,
    budget_seq: u64,
    /// Ticks of its instruments the strategy was run on.
    pub ticks: u64,
}

impl Book {
    pub fn new(state: BookState, strategy: StrategyKind) -> Book {
        Book {
            state,
            strategy,
            budget: MAX_ORDER_ACTIONS_PER_TICK,
            budget_seq: u64::MAX,
            ticks: 0,
        }
    }
}

/// What the stage counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StrategyCounters {
    /// New orders the strategies asked for.
    pub requests: u64,
    /// Actions refused when written (see `Actions`), and timers beyond the table.
    pub actions_refused: u64,
    pub timers_fired: u64,
    /// Order events delivered to books.
    pub events: u64,
    /// Orders sent by the kill switch's flatten.
    pub flatten_orders: u64,
}

/// The strategy stage: the instrument index, and the books with everything they share.
#[derive(Debug)]
pub struct StrategyStage {
    index: StrategyIndex,
    core: Core,
}

/// Everything but the index, so a tick can walk the index while the books change.
#[derive(Debug)]
struct Core {
    books: Vec<Book>,
    instruments: InstrumentTable,
    now: Nanos,
    /// Seq of the tick being handled: the budget epoch and the correlation of requests.
    seq: u64,
    timers: Timers,
    next_id: u64,
    actions: Actions,
    /// Answers the stage gives itself (a cancel or modify of an order the book does not
    /// have open), delivered within the same tick.
    local: VecDeque<OrderEvent>,
    /// Per broker: close every position when its kill switch trips.
    flatten_on_kill: Vec<bool>,
    counters: StrategyCounters,
    /// Every order that ended, for the orders report.
    orders: RecordLog<OrderRecord>,
    /// Compute time charged to the requests strategies write (`compute`).
    compute: ComputeCharge,
}

impl StrategyStage {
    /// A stage over `books` (book ids must be their positions), trading `instruments`.
    pub fn new(
        books: Vec<Book>,
        instruments: InstrumentTable,
        flatten_on_kill: Vec<bool>,
    ) -> StrategyStage {
        let subscriptions: Vec<Vec<InstrumentId>> =
            books.iter().map(|b| b.state.instruments.clone()).collect();
        let index = StrategyIndex::build(instruments.len(), &subscriptions);
        StrategyStage {
            index,
            core: Core {
                instruments,
                now: Nanos(0),
                seq: 0,
                timers: Timers::new(books.len()),
                next_id: 0,
                actions: Actions::new(),
                local: VecDeque::with_capacity(64),
                flatten_on_kill,
                counters: StrategyCounters::default(),
                orders: RecordLog::new(LOG_BUFFER),
                compute: ComputeCharge::off(),
                books,
            },
        }
    }

    /// Charges compute time to the requests strategies write (see `strategy::compute`).
    pub fn with_compute(mut self, compute: ComputeCharge) -> StrategyStage {
        self.core.compute = compute;
        self
    }

    /// The compute charger: its mode, measured samples and replay shortfall.
    pub fn compute_mut(&mut self) -> &mut ComputeCharge {
        &mut self.core.compute
    }

    pub fn books(&self) -> &[Book] {
        &self.core.books
    }

    pub fn counters(&self) -> StrategyCounters {
        self.core.counters()
    }

    pub fn max_fan_out(&self) -> usize {
        self.index.max_fan_out()
    }

    /// Whether any strategy trades the instrument.
    #[inline]
    pub fn is_traded(&self, instrument: InstrumentId) -> bool {
        !self.index.get(instrument).is_empty()
    }

    /// A new tick, before any event of the tick or strategy sees it: the event clock and the
    /// seq requests will carry.
    #[inline]
    pub fn advance(&mut self, tick: &Tick) {
        self.core.advance(tick);
    }

    /// Whether the venue may answer this tick's market data with order events: some book
    /// trading the instrument has an order open on it.
    #[inline]
    pub fn awaits_venue(&self, tick: &Tick) -> bool {
        self.index.get(tick.instrument).iter().any(|e| {
            self.core.books[e.book.0 as usize]
                .state
                .has_open(e.slot as usize)
        })
    }

    /// An event about a book's order: the book applies it, then its strategy reacts.
    #[inline]
    pub fn on_event(&mut self, event: &OrderEvent, views: Views<'_>, out: &mut Vec<OrderRequest>) {
        self.core.on_event(event, views, out);
    }

    /// Fires the timers due at the tick's time, then runs every strategy of its instrument.
    #[inline]
    pub fn on_tick(&mut self, tick: &Tick, views: Views<'_>, out: &mut Vec<OrderRequest>) {
        let StrategyStage { index, core } = self;
        if core.timers.due(core.now) {
            core.fire_timers(views, out);
        }
        for entry in index.get(tick.instrument) {
            core.on_tick(entry.book.0 as usize, entry.slot as usize, tick, views, out);
        }
        if !core.local.is_empty() {
            core.deliver_local(views, out);
        }
    }

    /// Canary: one smallest-lot market BUY per book trading the tick's instrument, without
    /// running (and so without changing) any strategy.
    pub fn canary_requests(&self, tick: &Tick, out: &mut Vec<OrderRequest>) {
        for entry in self.index.get(tick.instrument) {
            let book = &self.core.books[entry.book.0 as usize].state;
            out.push(OrderRequest {
                id: CANARY_ORDER_ID,
                book: book.id,
                broker: book.broker,
                instrument: tick.instrument,
                side: Side::Buy,
                correlation: tick.seq,
                ts: tick.ts,
                kind: RequestKind::New {
                    qty: Qty(1),
                    order_type: OrderType::Market,
                    tif: TimeInForce::Gtc,
                    flatten: false,
                },
            });
        }
    }

    /// Off the tick path: moves buffered order records to the log.
    pub fn flush_logs(&mut self) {
        self.core.orders.flush();
        self.core.compute.flush();
    }

    /// Ended orders and measured compute charges go to anonymous files in `dir` as the run
    /// goes (see `RecordLog::spill_to`).
    ///
    /// # Errors
    /// A file cannot be created.
    pub fn spill_logs_to(&mut self, dir: &std::path::Path) -> std::io::Result<()> {
        self.core.orders.spill_to(dir)?;
        self.core.compute.spill_to(dir)
    }

    /// Every order of the run: those that ended, in the order they ended, then those still
    /// open (by book, then id), giving up the log.
    pub fn take_orders(&mut self) -> Vec<OrderRecord> {
        self.core.take_orders()
    }

    /// ML strategies in book order, with their book.
    pub fn ml_strategies(&self) -> impl Iterator<Item = (BookId, &MlStrategy)> {
        self.core
            .books
            .iter()
            .filter_map(|b| b.strategy.as_ml().map(|ml| (b.state.id, ml)))
    }

    /// Inference errors of all ML strategies so far.
    pub fn inference_errors(&self) -> u64 {
        self.ml_strategies().map(|(_, ml)| ml.stats.errors).sum()
    }

    /// Hands each ML strategy's scoring latency off to observers (O(1) each, never waits).
    pub fn hand_off_inference(&mut self, t: &crate::metrics::telemetry::Telemetry) {
        for ((_, slot), ml) in t.inference.iter().zip(self.core.ml_strategies_mut()) {
            slot.offer(&mut ml.stats.latency);
        }
    }

    /// At the end of a run: takes back every handed-off scoring latency.
    pub fn take_back_inference(&mut self, t: &crate::metrics::telemetry::Telemetry) {
        for ((_, slot), ml) in t.inference.iter().zip(self.core.ml_strategies_mut()) {
            slot.take_back(&mut ml.stats.latency);
        }
    }

    /// Whether any strategy scores in batches (and so needs `prepare_chunk`).
    pub fn has_batched(&self) -> bool {
        self.ml_strategies()
            .any(|(_, ml)| ml.mode() == InferenceMode::Batched)
    }

    /// Batched ML strategies extract and score a whole chunk ahead of its dispatch. The
    /// ticks must already carry their `seq`. Features depend on ticks alone, never on fills.
    pub fn prepare_chunk(&mut self, ticks: &[Tick]) {
        for ml in self.core.ml_strategies_mut() {
            ml.begin_chunk();
        }
        for tick in ticks {
            for entry in self.index.get(tick.instrument) {
                if let Some(ml) = self.core.books[entry.book.0 as usize].strategy.as_ml_mut()
                    && ml.mode() == InferenceMode::Batched
                {
                    ml.prepare_tick(tick, entry.slot as usize);
                }
            }
        }
        for ml in self.core.ml_strategies_mut() {
            if ml.mode() == InferenceMode::Batched {
                ml.score_chunk();
            }
        }
    }
}

impl Core {
    fn counters(&self) -> StrategyCounters {
        StrategyCounters {
            actions_refused: self.counters.actions_refused + self.actions.refused(),
            ..self.counters
        }
    }

    /// Market data, before any event of the tick or strategy sees it: the event clock and
    /// the last quote or trade of the instrument.
    #[inline]
    fn advance(&mut self, tick: &Tick) {
        if tick.ts > self.now {
            self.now = tick.ts;
        }
        self.seq = tick.seq;
    }

    /// An event about a book's order: the book applies it, then its strategy reacts.
    fn on_event(&mut self, event: &OrderEvent, views: Views<'_>, out: &mut Vec<OrderRequest>) {
        self.deliver(event, views, out);
        self.deliver_local(views, out);
    }

    /// Runs book `b`'s strategy on a tick of its instrument at `slot`.
    #[inline]
    fn on_tick(
        &mut self,
        b: usize,
        slot: usize,
        tick: &Tick,
        views: Views<'_>,
        out: &mut Vec<OrderRequest>,
    ) {
        self.books[b].ticks += 1;
        self.callback(b, slot, views, out, |strategy, ctx, actions| {
            strategy.on_tick(ctx, tick, actions);
        });
    }

    fn fire_timers(&mut self, views: Views<'_>, out: &mut Vec<OrderRequest>) {
        self.timers.begin_round();
        while let Some(timer) = self.timers.pop_due(self.now) {
            self.counters.timers_fired += 1;
            self.callback(
                timer.book as usize,
                0,
                views,
                out,
                |strategy, ctx, actions| strategy.on_timer(ctx, timer.token, actions),
            );
            self.deliver_local(views, out);
        }
        self.timers.end_round();
    }

    fn deliver(&mut self, event: &OrderEvent, views: Views<'_>, out: &mut Vec<OrderRequest>) {
        let b = event.book.0 as usize;
        let Some(book) = self.books.get_mut(b) else {
            return;
        };
        let slot = book.state.slot_of(event.instrument).unwrap_or(0);
        if let Some(record) = book.state.apply(event, slot) {
            self.orders.record(record);
        }
        self.counters.events += 1;
        // The refusal that trips the kill switch: a new order's or a modify's.
        if let OrderEventKind::Rejected {
            reason: RejectReason::DailyLoss,
            ..
        }
        | OrderEventKind::ModifyRejected {
            reason: RejectReason::DailyLoss,
        } = event.kind
            && self
                .flatten_on_kill
                .get(event.broker.0 as usize)
                .copied()
                .unwrap_or(false)
        {
            // First, so the strategy already sees the flatten's orders when it reacts.
            self.flatten(event.broker, views, out);
        }
        if self.books[b].strategy.listens() {
            self.callback(b, slot, views, out, |strategy, ctx, actions| {
                strategy.on_order_event(ctx, event, actions);
            });
        }
    }

    fn deliver_local(&mut self, views: Views<'_>, out: &mut Vec<OrderRequest>) {
        while let Some(event) = self.local.pop_front() {
            self.deliver(&event, views, out);
        }
    }

    /// Runs one callback of book `b` and turns what it wrote into requests.
    #[inline]
    fn callback(
        &mut self,
        b: usize,
        slot: usize,
        views: Views<'_>,
        out: &mut Vec<OrderRequest>,
        call: impl FnOnce(&mut StrategyKind, &Context<'_>, &mut Actions),
    ) {
        let book = &mut self.books[b];
        if book.budget_seq != self.seq {
            book.budget = MAX_ORDER_ACTIONS_PER_TICK;
            book.budget_seq = self.seq;
        }
        let room = MAX_OPEN_ORDERS - book.state.orders().len();
        self.actions.begin(
            self.next_id,
            book.state.instruments.len(),
            book.budget,
            room,
        );
        let ctx = Context::new(
            self.now,
            slot,
            &book.state,
            views.portfolio,
            views.market,
            &self.instruments,
        );
        let started = self.compute.start();
        call(&mut book.strategy, &ctx, &mut self.actions);
        // Nothing written: budget and ids are as they were.
        if !self.actions.is_empty() {
            book.budget = self.actions.budget();
            self.next_id = self.actions.next_id();
            let charged = self.compute.charge(b, started);
            self.take_actions(b, out, charged);
        }
    }

    /// Turns the actions of book `b` into requests, stamped `charged` ns after the event
    /// time (its compute time, when charged).
    fn take_actions(&mut self, b: usize, out: &mut Vec<OrderRequest>, charged: u64) {
        let sent = Nanos(self.now.0.saturating_add(charged));
        let book = &mut self.books[b].state;
        for &action in self.actions.as_slice() {
            match action {
                Action::New {
                    id,
                    slot,
                    side,
                    qty,
                    order_type,
                    tif,
                } => {
                    self.counters.requests += 1;
                    out.push(
                        book.place(sent, self.seq, id, slot, side, qty, order_type, tif, false),
                    );
                }
                Action::Modify { id, price, qty } => match book.order_mut(id) {
                    Some(order) => {
                        order.modify_pending = true;
                        let order_type = match price {
                            Some(p) => OrderType::Limit(p),
                            None => order.order_type,
                        };
                        let kind = RequestKind::Modify {
                            qty: qty.unwrap_or(order.qty),
                            order_type,
                            filled: order.filled,
                            leaves: order.leaves,
                        };
                        let (slot, side) = (order.slot, order.side);
                        out.push(book.request(sent, self.seq, id, slot, side, kind));
                    }
                    None => self
                        .local
                        .push_back(book.unknown_order(self.now, self.seq, id, false)),
                },
                Action::Cancel { id } => match book.order_mut(id) {
                    Some(order) => {
                        order.cancel_pending = true;
                        let (slot, side) = (order.slot, order.side);
                        out.push(book.request(sent, self.seq, id, slot, side, RequestKind::Cancel));
                    }
                    None => self
                        .local
                        .push_back(book.unknown_order(self.now, self.seq, id, true)),
                },
                Action::SetTimer { at, token } => {
                    if !self.timers.set(b as u32, at, token) {
                        self.counters.actions_refused += 1;
                    }
                }
                Action::CancelTimer { token } => self.timers.cancel(b as u32, token),
            }
        }
    }

    /// The kill switch of `broker` tripped: cancel every open order of its books and close
    /// every filled position with a market order.
    fn flatten(&mut self, broker: BrokerId, views: Views<'_>, out: &mut Vec<OrderRequest>) {
        for book in self.books.iter_mut().filter(|b| b.state.broker == broker) {
            let state = &mut book.state;
            for at in 0..state.orders().len() {
                let order = state.orders()[at];
                if !order.cancel_pending
                    && let Some(o) = state.order_mut(order.id)
                {
                    o.cancel_pending = true;
                    out.push(state.request(
                        self.now,
                        self.seq,
                        order.id,
                        order.slot,
                        order.side,
                        RequestKind::Cancel,
                    ));
                }
            }
            for slot in 0..state.instruments.len() {
                let position = views
                    .portfolio
                    .position(state.id, state.instruments[slot])
                    .qty;
                if position == 0 || !state.has_room() {
                    continue;
                }
                let side = if position > 0 { Side::Sell } else { Side::Buy };
                let id = ClientOrderId(self.next_id);
                self.next_id += 1;
                self.counters.flatten_orders += 1;
                out.push(state.place(
                    self.now,
                    self.seq,
                    id,
                    slot,
                    side,
                    Qty(position.abs()),
                    OrderType::Market,
                    TimeInForce::Gtc,
                    true,
                ));
            }
        }
    }

    /// Every order of the run: those that ended, in the order they ended, then those still
    /// open (by book, then id), giving up the log.
    fn take_orders(&mut self) -> Vec<OrderRecord> {
        let mut orders = std::mem::replace(&mut self.orders, RecordLog::new(1)).into_vec();
        for book in &self.books {
            orders.extend(book.state.open_records(self.now));
        }
        orders
    }

    // ---- ML strategies ----

    fn ml_strategies_mut(&mut self) -> impl Iterator<Item = &mut MlStrategy> {
        self.books.iter_mut().filter_map(|b| b.strategy.as_ml_mut())
    }
}

#[cfg(test)]
#[path = "stage_tests.rs"]
mod tests;

#[path = "stage_checkpoint.rs"]
mod checkpoint;
pub use checkpoint::StageState;
