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
    #[inline(always)]
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

    /// Puts `venue` in place of broker `broker`'s (a live broker replacing the paper venue
    /// the build made); false when there is no such broker.
    pub fn replace_venue(&mut self, broker: usize, venue: VenueKind) -> bool {
        match self.venues.get_mut(broker) {
            Some(slot) => {
                *slot = venue;
                true
            }
            None => false,
        }
    }

    /// Events venues received since the last poll (live brokers).
    pub fn poll(&mut self, events: &mut Vec<OrderEvent>) {
        for venue in &mut self.venues {
            venue.poll(events);
        }
    }

    /// Whether broker `broker`'s venue is a live broker (its orders leave the box).
    #[inline]
    pub fn is_live(&self, broker: crate::domain::BrokerId) -> bool {
        matches!(self.venues.get(broker.0 as usize), Some(VenueKind::Kite(_)))
    }

    /// Orders open at every venue.
    pub fn open_orders(&self) -> usize {
        self.venues.iter().map(Venue::open_orders).sum()
    }

    /// The run state so far: every paper venue's. None with a live broker, whose state is
    /// the broker's (a restart reconciles with it instead).
    pub fn checkpoint(&self) -> Option<ExecutionState> {
        let venues = self
            .venues
            .iter()
            .map(|v| match v {
                VenueKind::Paper(p) => Some(p.checkpoint()),
                VenueKind::Kite(_) => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(ExecutionState {
            venues,
            requests: self.requests,
        })
    }

    /// Puts `state` into this stage, freshly built from the config it was taken under.
    ///
    /// # Errors
    /// Another number of venues, a live broker, or a venue of another shape.
    pub fn restore(&mut self, state: ExecutionState) -> Result<(), String> {
        if state.venues.len() != self.venues.len() {
            return Err(format!(
                "execution checkpoint: {} venues, this engine has {}",
                state.venues.len(),
                self.venues.len()
            ));
        }
        // Every venue is checked before any changes.
        for (venue, s) in self.venues.iter().zip(&state.venues) {
            match venue {
                VenueKind::Paper(p) => p.fits(s)?,
                VenueKind::Kite(_) => {
                    return Err("execution checkpoint: a live broker has no checkpoint".into());
                }
            }
        }
        for (venue, s) in self.venues.iter_mut().zip(state.venues) {
            if let VenueKind::Paper(p) = venue {
                p.restore(s)?;
            }
        }
        self.requests = state.requests;
        Ok(())
    }
}

/// What [`ExecutionStage::checkpoint`] keeps.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExecutionState {
    venues: Vec<super::paper::checkpoint::PaperState>,
    requests: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        BookId, BrokerId, ClientOrderId, InstrumentId, InstrumentSpec, Nanos, OrderType, Price,
        Qty, RequestKind, Side, TimeInForce,
    };
    use crate::execution::{FillSize, PaperVenue};

    #[test]
    fn requests_go_to_their_broker_at_the_latest_market() {
        let specs = [InstrumentSpec::new("X", 0, 0)];
        // Broker 0 fills at once, broker 1 only after a second.
        let venues = [0, 1_000_000_000]
            .map(|latency| {
                VenueKind::Paper(PaperVenue::new(
                    latency,
                    &crate::execution::cost::VenueCosts::default(),
                    FillSize::Order,
                    &specs,
                ))
            })
            .into();
        let mut stage = ExecutionStage::new(venues);
        let mut market = Market::new(1);
        let tick = Tick::quote(
            Nanos(5),
            InstrumentId(0),
            Some(Price(9)),
            Some(Price(11)),
            None,
            None,
        );
        let mut events = Vec::new();
        market.on_tick(&tick);
        stage.on_tick(&tick, &mut events);
        for broker in [0, 1] {
            let request = OrderRequest {
                id: ClientOrderId(broker),
                book: BookId(broker as u32),
                broker: BrokerId(broker as u32),
                instrument: InstrumentId(0),
                side: Side::Buy,
                correlation: 0,
                ts: Nanos(5),
                kind: RequestKind::New {
                    qty: Qty(1),
                    order_type: OrderType::Market,
                    tif: TimeInForce::Gtc,
                    flatten: false,
                },
            };
            stage.on_request(&request, &market, &mut events);
        }
        let seen: Vec<(u64, &str)> = events.iter().map(|e| (e.id.0, e.kind_name())).collect();
        assert_eq!(seen, [(0, "accepted"), (0, "filled"), (1, "accepted")]);
        assert_eq!((stage.requests, stage.open_orders()), (2, 1));
    }
}
