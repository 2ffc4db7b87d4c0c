//! The execution stage: market data to every venue, each approved request to its broker's
//! venue, and the venues' events out into the caller's buffer, in the order they happen.

use super::{Venue, VenueKind};
use crate::domain::{Market, OrderEvent, OrderRequest, Tick};

#[derive(Debug)]
pub struct ExecutionStage {
    venues: Vec<VenueKind>,
    /// Requests handed to venues (new orders, cancels, modifies).
    pub requests: u64,
}

impl ExecutionStage {
    /// One venue per broker, by `BrokerId`.
    pub fn new(venues: Vec<VenueKind>) -> ExecutionStage {
        ExecutionStage {
            venues,
            requests: 0,
        }
    }

    /// Market data for every venue.
    #[inline]
    pub fn on_tick(&mut self, tick: &Tick, events: &mut Vec<OrderEvent>) {
        for venue in &mut self.venues {
            venue.on_tick(tick, events);
        }
    }

    /// A request risk passed, to its broker's venue, at `market`.
    #[inline]
    pub fn on_request(
        &mut self,
        request: &OrderRequest,
        market: &Market,
        events: &mut Vec<OrderEvent>,
    ) {
        self.requests += 1;
        let Some(venue) = self.venues.get_mut(request.broker.0 as usize) else {
            return;
        };
        let latest = market.latest(request.instrument);
        match request.order() {
            Some(order) => venue.submit(&order, latest, events),
            None => venue.amend(request, latest, events),
        }
    }

    /// Events venues received since the last poll (live brokers).
    pub fn poll(&mut self, events: &mut Vec<OrderEvent>) {
        for venue in &mut self.venues {
            venue.poll(events);
        }
    }

    /// Orders open at every venue.
    pub fn open_orders(&self) -> usize {
        self.venues.iter().map(Venue::open_orders).sum()
    }
}
