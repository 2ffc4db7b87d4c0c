//! Execution: the `Venue` contract, the closed set of venues (`VenueKind`, one per broker)
//! and the stage that routes requests to them.
//!
//! The contract is asynchronous in shape: a request returns at once; what happens to the
//! order comes back as `OrderEvent`s written into a caller-owned buffer, when the request is
//! made, on market data, or when the venue is polled. The paper venue answers at once; a live
//! broker answers later, from its own I/O thread, through `poll`.

pub mod config;
pub mod cost;
pub mod kite;
pub mod paper;
pub mod stage;

use crate::domain::{Order, OrderEvent, OrderRequest, Tick};

pub use config::{BrokerConfig, FillSize};
pub use paper::{PaperModels, PaperVenue};
pub use stage::ExecutionStage;

/// A broker's venue.
pub trait Venue {
    /// Market data: the venue may execute resting orders.
    fn on_tick(&mut self, tick: &Tick, events: &mut Vec<OrderEvent>);
    /// A new order risk approved; `market` is the latest tick of its instrument.
    fn submit(&mut self, order: &Order, market: &Tick, events: &mut Vec<OrderEvent>);
    /// A cancel or modify of an open order; `market` as for `submit`.
    fn amend(&mut self, request: &OrderRequest, market: &Tick, events: &mut Vec<OrderEvent>);
    /// Events that arrived since the last call (a live broker's); none for the paper venue.
    fn poll(&mut self, events: &mut Vec<OrderEvent>) {
        let _ = events;
    }
    /// Orders accepted and not yet closed.
    fn open_orders(&self) -> usize;
}

/// The venues config can pick, dispatched by `match`.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "the paper venue runs on every tick: inline, not behind a pointer; one per broker"
)]
pub enum VenueKind {
    Paper(PaperVenue),
    /// Zerodha Kite Connect (live runs only).
    Kite(Box<kite::KiteVenue>),
}

impl Venue for VenueKind {
    #[inline(always)]
    fn on_tick(&mut self, tick: &Tick, events: &mut Vec<OrderEvent>) {
        match self {
            VenueKind::Paper(v) => v.on_tick(tick, events),
            VenueKind::Kite(v) => v.on_tick(tick, events),
        }
    }

    #[inline]
    fn submit(&mut self, order: &Order, market: &Tick, events: &mut Vec<OrderEvent>) {
        match self {
            VenueKind::Paper(v) => v.submit(order, market, events),
            VenueKind::Kite(v) => v.submit(order, market, events),
        }
    }

    #[inline]
    fn amend(&mut self, request: &OrderRequest, market: &Tick, events: &mut Vec<OrderEvent>) {
        match self {
            VenueKind::Paper(v) => v.amend(request, market, events),
            VenueKind::Kite(v) => v.amend(request, market, events),
        }
    }

    fn open_orders(&self) -> usize {
        match self {
            VenueKind::Paper(v) => v.open_orders(),
            VenueKind::Kite(v) => v.open_orders(),
        }
    }

    fn poll(&mut self, events: &mut Vec<OrderEvent>) {
        match self {
            VenueKind::Paper(_) => {}
            VenueKind::Kite(v) => v.poll(events),
        }
    }
}
