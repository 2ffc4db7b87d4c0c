//! A paper venue's run state for a checkpoint: its clock, resting orders (with their fills,
//! arrival times and queue places), the touch already used, data latencies, last quotes, the
//! next venue id, and where each sampled latency generator stands. Fees, costs and models
//! come from the config the venue is rebuilt from; a state of another shape is refused.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::latency::Latency;
use super::{PaperVenue, Resting};
use crate::domain::Tick;

/// What [`PaperVenue::checkpoint`] keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperState {
    now: u64,
    resting: Vec<VecDeque<Resting>>,
    used: Vec<[i64; 2]>,
    data_ns: Vec<u64>,
    quotes: Vec<Tick>,
    next_venue_id: u64,
    open: usize,
    latency_rng: Option<u64>,
    md_latency_rng: Option<u64>,
}

fn rng(latency: &Latency) -> Option<u64> {
    match latency {
        Latency::Sampled(s) => Some(s.rng_state()),
        Latency::Constant(_) | Latency::FromData => None,
    }
}

fn set_rng(latency: &mut Latency, state: Option<u64>, what: &str) -> Result<(), String> {
    match (latency, state) {
        (Latency::Sampled(s), Some(state)) => {
            s.set_rng_state(state);
            Ok(())
        }
        (Latency::Constant(_) | Latency::FromData, None) => Ok(()),
        _ => Err(format!(
            "paper venue checkpoint: the {what} model is not the one the state was taken with"
        )),
    }
}

impl PaperVenue {
    /// The run state so far.
    pub fn checkpoint(&self) -> PaperState {
        PaperState {
            now: self.now,
            resting: self.resting.clone(),
            used: self.used.clone(),
            data_ns: self.data_ns.clone(),
            quotes: self.quotes.clone(),
            next_venue_id: self.next_venue_id,
            open: self.open,
            latency_rng: rng(&self.latency),
            md_latency_rng: rng(&self.md_latency),
        }
    }

    /// Whether `state` fits this venue (instruments, latency models, open count).
    ///
    /// # Errors
    /// It does not, and why.
    pub fn fits(&self, state: &PaperState) -> Result<(), String> {
        let instruments = self.resting.len();
        let lengths = [
            state.resting.len(),
            state.used.len(),
            state.data_ns.len(),
            state.quotes.len(),
        ];
        if lengths.iter().any(|&n| n != instruments) {
            return Err(format!(
                "paper venue checkpoint: {lengths:?} instruments, this venue has {instruments}"
            ));
        }
        let resting: usize = state.resting.iter().map(VecDeque::len).sum();
        if resting != state.open {
            return Err(format!(
                "paper venue checkpoint: {resting} resting orders but {} open",
                state.open
            ));
        }
        set_rng(
            &mut self.latency.clone(),
            state.latency_rng,
            "order latency",
        )?;
        set_rng(
            &mut self.md_latency.clone(),
            state.md_latency_rng,
            "market-data latency",
        )
    }

    /// Puts `state` into this venue, freshly built from the config it was taken under.
    ///
    /// # Errors
    /// As [`PaperVenue::fits`]; nothing is changed then.
    pub fn restore(&mut self, state: PaperState) -> Result<(), String> {
        self.fits(&state)?;
        let mut latency = self.latency.clone();
        let mut md_latency = self.md_latency.clone();
        set_rng(&mut latency, state.latency_rng, "order latency")?;
        set_rng(&mut md_latency, state.md_latency_rng, "market-data latency")?;
        self.latency = latency;
        self.md_latency = md_latency;
        self.now = state.now;
        for (queue, orders) in self.resting.iter_mut().zip(state.resting) {
            queue.clear();
            queue.extend(orders);
        }
        self.used = state.used;
        self.data_ns = state.data_ns;
        self.quotes = state.quotes;
        self.next_venue_id = state.next_venue_id;
        self.open = state.open;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::latency::{LatencyTable, Sampler};
    use super::super::models::PaperModels;
    use super::super::queue::QueueModel;
    use super::super::tests::{order, specs, summary};
    use super::*;
    use crate::domain::{Nanos, OrderEvent, OrderType, Price, Qty, Side};
    use crate::execution::config::FillSize;
    use crate::execution::cost::VenueCosts;

    fn fresh() -> PaperVenue {
        let models = PaperModels {
            latency: Latency::Sampled(Sampler::new(LatencyTable::Samples((1..=40).collect()), 7)),
            md_latency: Latency::FromData,
            queue: QueueModel::Conservative,
        };
        PaperVenue::with_models(models, &VenueCosts::default(), FillSize::Touch, &specs())
    }

    /// A quote every 10 ns drifting around 100; on most ticks an order: limits that rest
    /// and queue, market orders that take the touch, a cancel now and then.
    fn step(venue: &mut PaperVenue, i: u64, events: &mut Vec<OrderEvent>) {
        let ts = 1_000 + i * 10;
        let mid = 100 + (i % 17) as i64 - 8;
        let mut tick = Tick::quote(
            Nanos(ts),
            crate::domain::InstrumentId(0),
            Some(Price(mid - 1)),
            Some(Price(mid + 1)),
            Some(Qty(1 + (i % 4) as i64)),
            Some(Qty(1 + (i % 3) as i64)),
        );
        // The data's own delay, which the market-data latency model adds.
        tick.local_ts = Nanos(ts + 2 + i % 5);
        venue.on_tick(&tick, events);
        let side = if i.is_multiple_of(2) {
            Side::Buy
        } else {
            Side::Sell
        };
        let order_type = match i % 4 {
            0 => OrderType::Market,
            1 | 2 => OrderType::Limit(Price(if side == Side::Buy { mid - 1 } else { mid + 1 })),
            _ => {
                let cancel = crate::domain::OrderRequest {
                    id: crate::domain::ClientOrderId(i - 2),
                    book: crate::domain::BookId(0),
                    broker: crate::domain::BrokerId(0),
                    instrument: crate::domain::InstrumentId(0),
                    side: Side::Buy,
                    correlation: i,
                    ts: Nanos(ts),
                    kind: crate::domain::RequestKind::Cancel,
                };
                venue.advance_to(Nanos(ts));
                venue.amend(&cancel, &tick, events);
                return;
            }
        };
        venue.advance_to(Nanos(ts));
        venue.submit(&order(i, side, ts, order_type), &tick, events);
    }

    #[test]
    fn a_restored_venue_fills_exactly_as_the_uninterrupted_one() {
        let (mut whole, mut first) = (fresh(), fresh());
        let (mut e_whole, mut e_first) = (Vec::new(), Vec::new());
        // The cut after a market order took part of the touch.
        for i in 0..401 {
            step(&mut whole, i, &mut e_whole);
            step(&mut first, i, &mut e_first);
        }
        let state = first.checkpoint();
        assert!(state.open > 0, "orders rest at the cut");
        assert!(
            state.used.iter().any(|u| *u != [0, 0]) && state.data_ns.iter().any(|&d| d > 0),
            "touch used and data delay at the cut: {:?} {:?}",
            state.used,
            state.data_ns
        );
        let bytes = bincode::serde::encode_to_vec(&state, bincode::config::standard()).unwrap();
        let (decoded, _): (PaperState, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
        let mut resumed = fresh();
        resumed.restore(decoded).unwrap();
        assert_eq!(resumed.checkpoint(), state);
        let (mut e_rest, mut e_resumed) = (Vec::new(), Vec::new());
        for i in 401..1_000 {
            step(&mut whole, i, &mut e_rest);
            step(&mut resumed, i, &mut e_resumed);
        }
        let got = summary(&e_resumed);
        assert_eq!(got, summary(&e_rest));
        let names: std::collections::BTreeSet<&str> = got.iter().map(|e| e.1).collect();
        assert!(
            names.len() >= 4,
            "fills, partial fills, cancels, accepts: {names:?}"
        );
        assert_eq!(resumed.checkpoint(), whole.checkpoint());
    }

    #[test]
    fn a_state_from_another_model_or_shape_is_refused() {
        let mut venue = fresh();
        let mut events = Vec::new();
        for i in 0..50 {
            step(&mut venue, i, &mut events);
        }
        let state = venue.checkpoint();
        let mut constant = PaperVenue::new(5, &VenueCosts::default(), FillSize::Touch, &specs());
        let err = constant.restore(state.clone()).unwrap_err();
        assert!(err.contains("order latency"), "{err}");
        let mut wider = PaperVenue::with_models(
            PaperModels {
                latency: Latency::Sampled(Sampler::new(LatencyTable::Samples(vec![1]), 7)),
                md_latency: Latency::FromData,
                queue: QueueModel::Conservative,
            },
            &VenueCosts::default(),
            FillSize::Touch,
            &[specs()[0].clone(), specs()[0].clone()],
        );
        let err = wider.restore(state).unwrap_err();
        assert!(err.contains("instruments"), "{err}");
    }

    #[test]
    fn the_execution_stage_keeps_every_venue_and_refuses_another_shape() {
        use crate::execution::{ExecutionStage, VenueKind};
        let mut first = fresh();
        let mut events = Vec::new();
        for i in 0..101 {
            step(&mut first, i, &mut events);
        }
        let stage = ExecutionStage::new(vec![VenueKind::Paper(fresh()), VenueKind::Paper(first)]);
        let state = stage.checkpoint().expect("paper venues only");
        let mut resumed =
            ExecutionStage::new(vec![VenueKind::Paper(fresh()), VenueKind::Paper(fresh())]);
        resumed.restore(state.clone()).unwrap();
        assert_eq!(resumed.checkpoint(), Some(state.clone()));
        let mut one = ExecutionStage::new(vec![VenueKind::Paper(fresh())]);
        assert!(one.restore(state).unwrap_err().contains("venues"));
    }

    #[test]
    fn the_market_comes_back_whole_for_the_same_instruments() {
        use crate::domain::Market;
        let mut market = Market::new(2);
        market.on_tick(&Tick::quote(
            Nanos(5),
            crate::domain::InstrumentId(1),
            Some(Price(9)),
            Some(Price(11)),
            None,
            None,
        ));
        let bytes = bincode::serde::encode_to_vec(&market, bincode::config::standard()).unwrap();
        let (state, _): (Market, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
        let mut fresh_market = Market::new(2);
        fresh_market.restore(state.clone()).unwrap();
        assert_eq!(fresh_market, market);
        assert!(
            Market::new(3)
                .restore(state)
                .unwrap_err()
                .contains("instruments")
        );
    }
}
