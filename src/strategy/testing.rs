//! A test harness for strategies: the real strategy stage and portfolio around one strategy
//! on one book, with the venue played by the test. Feed it ticks and it answers with the
//! requests the strategy made; answer those with the events a venue would send (`accept`,
//! `fill`, `reject`, `cancelled`, or any `OrderEvent`) and see how the strategy reacts.
//!
//! ```
//! use alpha_panda::domain::{InstrumentId, InstrumentSpec, Nanos, Price, Qty, Tick};
//! use alpha_panda::strategy::testing::Harness;
//! use alpha_panda::strategy::{Actions, Context, Strategy};
//!
//! /// Buys one lot on the first quote, once.
//! struct BuyOnce;
//! impl Strategy for BuyOnce {
//!     fn on_tick(&mut self, ctx: &Context<'_>, _tick: &Tick, out: &mut Actions) {
//!         if ctx.exposure(0).0 == 0 {
//!             let _ = out.market(0, alpha_panda::domain::Side::Buy, Qty(1));
//!         }
//!     }
//! }
//!
//! let spec = InstrumentSpec::new("X", 2, 0);
//! let mut h = Harness::new(Box::new(BuyOnce), &[spec]);
//! let quote = Tick::quote(Nanos(1), InstrumentId(0), Some(Price(100)), Some(Price(101)), None, None);
//! let id = h.tick(quote)[0].id;
//! assert!(h.tick(quote).is_empty(), "the open order counts: no second buy");
//! h.fill(id, Qty(1), Price(101));
//! assert_eq!(h.position(0), Qty(1));
//! ```

use super::book::OpenOrder;
use super::stage::{Book, StrategyStage, Views};
use super::{BookState, Strategy, StrategyKind};
use crate::domain::{
    BookId, BrokerId, ClientOrderId, Execution, InstrumentId, InstrumentSpec, InstrumentTable,
    Liquidity, Market, Money, OrderEvent, OrderEventKind, OrderRequest, Price, Qty, RejectReason,
    Tick,
};
use crate::portfolio::Portfolio;

/// What [`Harness::checkpoint`] keeps.
#[derive(Clone, Debug, PartialEq)]
pub struct HarnessState {
    stage: super::stage::StageState,
    portfolio: crate::portfolio::checkpoint::PortfolioState,
    market: Market,
    seq: u64,
    venue_ids: u64,
    last: Tick,
}

/// One strategy on one book (`BookId(0)`, `BrokerId(0)`), trading the instruments of
/// `specs` in that order (instrument `i` is slot `i` and `InstrumentId(i)`).
#[derive(Debug)]
pub struct Harness {
    stage: StrategyStage,
    market: Market,
    portfolio: Portfolio,
    requests: Vec<OrderRequest>,
    seq: u64,
    venue_ids: u64,
    last: Tick,
}

impl Harness {
    /// A user's strategy.
    pub fn new(strategy: Box<dyn Strategy>, specs: &[InstrumentSpec]) -> Harness {
        Harness::with_kind(
            StrategyKind::User {
                kind: "test",
                strategy,
            },
            specs,
        )
    }

    /// Any strategy kind (the built-ins' own tests use this).
    pub fn with_kind(strategy: StrategyKind, specs: &[InstrumentSpec]) -> Harness {
        let mut table = InstrumentTable::new();
        for spec in specs {
            let id = table.intern(&spec.symbol);
            // Precisions within bounds are the caller's business in a test.
            let _ = table.widen(id, spec.price_precision, spec.qty_precision);
        }
        let instruments = (0..specs.len() as u32).map(InstrumentId).collect();
        let book = Book::new(
            BookState::new(BookId(0), BrokerId(0), instruments),
            strategy,
        );
        let specs: Vec<InstrumentSpec> = table.iter().map(|(_, s)| s.clone()).collect();
        Harness {
            market: Market::new(specs.len()),
            stage: StrategyStage::new(vec![book], table, vec![false]),
            portfolio: Portfolio::new(1, 1, &specs),
            requests: Vec::with_capacity(64),
            seq: 0,
            venue_ids: 0,
            last: Tick::default(),
        }
    }

    /// Everything the harness holds, for a checkpoint test: the stage (books, timers, the
    /// strategy's state), the portfolio and the market. `None` when the strategy keeps no
    /// checkpoint.
    pub fn checkpoint(&self) -> Option<HarnessState> {
        Some(HarnessState {
            stage: self.stage.checkpoint().ok()??,
            portfolio: self.portfolio.checkpoint().ok()?,
            market: self.market.clone(),
            seq: self.seq,
            venue_ids: self.venue_ids,
            last: self.last,
        })
    }

    /// Puts a [`Harness::checkpoint`] into a harness built with the same strategy kind.
    ///
    /// # Errors
    /// A part does not fit (see the stages' `restore`).
    pub fn restore(&mut self, state: HarnessState) -> Result<(), String> {
        self.stage.restore(state.stage)?;
        self.portfolio.restore(state.portfolio)?;
        self.market.restore(state.market)?;
        self.seq = state.seq;
        self.venue_ids = state.venue_ids;
        self.last = state.last;
        Ok(())
    }

    /// The strategy's checkpoint (`Strategy::checkpoint`), to try a restore with.
    pub fn strategy_state(&self) -> Option<Vec<u8>> {
        self.stage.strategy_states().pop().flatten()
    }

    /// Puts a checkpoint into the strategy (`Strategy::restore`).
    ///
    /// # Errors
    /// As the strategy's `restore`.
    pub fn restore_strategy(&mut self, state: &[u8]) -> Result<(), String> {
        self.stage.restore_strategy(0, state)
    }

    /// A tick: marks, due timers, the strategy. Returns the requests it made.
    pub fn tick(&mut self, mut tick: Tick) -> &[OrderRequest] {
        tick.seq = self.seq;
        self.seq += 1;
        self.last = tick;
        self.requests.clear();
        self.market.on_tick(&tick);
        self.portfolio.on_tick(&tick);
        self.stage.advance(&tick);
        let views = Views {
            market: &self.market,
            portfolio: &self.portfolio,
        };
        self.stage.on_tick(&tick, views, &mut self.requests);
        &self.requests
    }

    /// Any order event, as a venue or risk would send it. Returns the requests the strategy
    /// made in reaction.
    pub fn event(&mut self, event: OrderEvent) -> &[OrderRequest] {
        self.requests.clear();
        self.portfolio.on_event(&event);
        let views = Views {
            market: &self.market,
            portfolio: &self.portfolio,
        };
        self.stage.on_event(&event, views, &mut self.requests);
        &self.requests
    }

    /// The open order `id` (panics if the book has no such order: a test error).
    fn open(&self, id: ClientOrderId) -> OpenOrder {
        *self
            .orders()
            .iter()
            .find(|o| o.id == id)
            .unwrap_or_else(|| panic!("order {id:?} is not open"))
    }

    fn event_for(&self, order: &OpenOrder, kind: OrderEventKind) -> OrderEvent {
        OrderEvent {
            id: order.id,
            book: BookId(0),
            broker: BrokerId(0),
            instrument: InstrumentId(order.slot as u32),
            side: order.side,
            correlation: self.last.seq,
            ts: self.last.ts,
            kind,
        }
    }

    /// The venue accepts open order `id`.
    pub fn accept(&mut self, id: ClientOrderId) -> &[OrderRequest] {
        let order = self.open(id);
        self.venue_ids += 1;
        let kind = OrderEventKind::Accepted {
            venue_id: self.venue_ids,
            qty: order.qty,
            order_type: order.order_type,
        };
        self.event(self.event_for(&order, kind))
    }

    /// Answers `request` as a venue that takes it: a new order is accepted, a modify takes
    /// effect, a cancel is confirmed. Returns the requests the strategy made in reaction.
    pub fn ack(&mut self, request: &OrderRequest) -> &[OrderRequest] {
        let order = self.open(request.id);
        let kind = match request.kind {
            crate::domain::RequestKind::New { .. } => {
                self.venue_ids += 1;
                OrderEventKind::Accepted {
                    venue_id: self.venue_ids,
                    qty: order.qty,
                    order_type: order.order_type,
                }
            }
            crate::domain::RequestKind::Modify {
                qty, order_type, ..
            } => OrderEventKind::Modified {
                qty,
                order_type,
                leaves: Qty(qty.0 - order.filled.0),
                old_leaves: order.leaves,
            },
            crate::domain::RequestKind::Cancel => OrderEventKind::Cancelled {
                leaves: order.leaves,
            },
        };
        self.event(self.event_for(&order, kind))
    }

    /// `qty` of open order `id` executes at `price` (partially while some stays open).
    pub fn fill(&mut self, id: ClientOrderId, qty: Qty, price: Price) -> &[OrderRequest] {
        let order = self.open(id);
        let execution = Execution {
            qty,
            price,
            fee: Money::ZERO,
            leaves: Qty(order.leaves.0 - qty.0),
            liquidity: match order.order_type {
                crate::domain::OrderType::Market => Liquidity::Taker,
                crate::domain::OrderType::Limit(_) => Liquidity::Maker,
            },
        };
        let kind = if execution.leaves.0 > 0 {
            OrderEventKind::PartiallyFilled(execution)
        } else {
            OrderEventKind::Filled(execution)
        };
        self.event(self.event_for(&order, kind))
    }

    /// Risk or the venue refuses open order `id`.
    pub fn reject(&mut self, id: ClientOrderId, reason: RejectReason) -> &[OrderRequest] {
        let order = self.open(id);
        let kind = OrderEventKind::Rejected {
            reason,
            qty: order.qty,
        };
        self.event(self.event_for(&order, kind))
    }

    /// The venue confirms the cancel of open order `id`.
    pub fn cancelled(&mut self, id: ClientOrderId) -> &[OrderRequest] {
        let order = self.open(id);
        let kind = OrderEventKind::Cancelled {
            leaves: order.leaves,
        };
        self.event(self.event_for(&order, kind))
    }

    /// Feeds `ticks` one by one (the venue never answering) and returns, per tick, the side
    /// of the new order it caused, if any. Rule strategies' tests read their signals so.
    pub fn sides(&mut self, ticks: &[Tick]) -> Vec<Option<crate::domain::Side>> {
        ticks
            .iter()
            .map(|&t| {
                self.tick(t)
                    .iter()
                    .find(|r| r.order().is_some())
                    .map(|r| r.side)
            })
            .collect()
    }

    /// The book's open orders.
    pub fn orders(&self) -> &[OpenOrder] {
        self.stage.books()[0].state.orders()
    }

    /// Filled position at `slot`.
    pub fn position(&self, slot: usize) -> Qty {
        let instrument = InstrumentId(slot as u32);
        Qty(self.portfolio.position(BookId(0), instrument).qty)
    }

    /// The stage's counters (requests, refused actions, timers fired, events).
    pub fn counters(&self) -> super::stage::StrategyCounters {
        self.stage.counters()
    }
}
