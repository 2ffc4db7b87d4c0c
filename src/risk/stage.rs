//! The risk stage: checks each request of the strategies against its broker's and its
//! book's limits, passes approved ones on to execution and answers refused ones with a
//! rejection event for the book (a cancel or modify gets a cancel/modify rejection). Order
//! events coming back from the venue keep its view of positions and open orders current.
//! Counters per broker feed the metrics.

use crate::domain::{Market, OrderEvent, OrderRequest, RejectReason, RequestKind, Tick};

use super::RiskEngine;

/// What risk decided about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// On to the venue.
    Pass,
    /// Refused: this event goes back to the book (through execution, so a book's events
    /// keep one order).
    Refuse(OrderEvent),
}

#[derive(Debug)]
pub struct RiskStage {
    pub engine: RiskEngine,
    /// Per broker: new orders asked for (before risk), approved, refused by reason.
    pub broker_attempts: Vec<u64>,
    pub broker_orders: Vec<u64>,
    pub broker_rejections: Vec<[u64; RejectReason::ALL.len()]>,
}

impl RiskStage {
    pub fn new(engine: RiskEngine, brokers: usize) -> RiskStage {
        RiskStage {
            engine,
            broker_attempts: vec![0; brokers],
            broker_orders: vec![0; brokers],
            broker_rejections: vec![[0; RejectReason::ALL.len()]; brokers],
        }
    }

    #[inline]
    pub fn on_tick(&mut self, tick: &Tick) {
        self.engine.on_tick(tick);
    }

    /// Checks one request against `market`.
    #[inline]
    pub fn on_request(&mut self, request: &OrderRequest, market: &Market) -> Decision {
        let b = request.broker.0 as usize;
        let new = matches!(request.kind, RequestKind::New { .. });
        if new {
            self.broker_attempts[b] += 1;
        }
        match self.engine.check(request, market) {
            Ok(()) => {
                if new {
                    self.broker_orders[b] += 1;
                }
                Decision::Pass
            }
            Err(reason) => {
                self.broker_rejections[b][reason.index()] += 1;
                Decision::Refuse(request.refusal(reason))
            }
        }
    }

    /// An event from the venue about an order risk passed.
    #[inline]
    pub fn on_event(&mut self, event: &OrderEvent) {
        self.engine.on_event(event);
    }

    /// New orders the strategies asked for, over every broker.
    pub fn requests(&self) -> u64 {
        self.broker_attempts.iter().sum()
    }

    /// New orders approved, over every broker.
    pub fn orders(&self) -> u64 {
        self.broker_orders.iter().sum()
    }

    /// Refusals by reason, in the fixed order of `RejectReason::ALL`, zeros left out.
    pub fn rejections(&self) -> Vec<(RejectReason, u64)> {
        RejectReason::ALL
            .iter()
            .map(|&r| (r, self.engine.rejections[r.index()]))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Kill switch state per broker.
    pub fn kill_switches(&self) -> Vec<bool> {
        (0..self.broker_orders.len())
            .map(|b| self.engine.kill_switch_tripped(b))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        BookId, BrokerId, ClientOrderId, InstrumentId, InstrumentSpec, Nanos, OrderEventKind,
        OrderType, Price, Qty, Side, TimeInForce,
    };
    use crate::risk::RiskLimits;

    fn stage(limits: RiskLimits) -> (RiskStage, Market) {
        let spec = InstrumentSpec::new("X", 2, 0);
        let mut stage = RiskStage::new(RiskEngine::new(&[limits], 2, &[spec]), 1);
        let tick = Tick::quote(
            Nanos(0),
            InstrumentId(0),
            Some(Price(10_000)),
            Some(Price(10_002)),
            None,
            None,
        );
        let mut market = Market::new(1);
        market.on_tick(&tick);
        stage.on_tick(&tick);
        (stage, market)
    }

    fn request(book: u32, kind: RequestKind) -> OrderRequest {
        OrderRequest {
            id: ClientOrderId(1),
            book: BookId(book),
            broker: BrokerId(0),
            instrument: InstrumentId(0),
            side: Side::Buy,
            correlation: 3,
            ts: Nanos(0),
            kind,
        }
    }

    fn new_order(qty: i64) -> RequestKind {
        RequestKind::New {
            qty: Qty(qty),
            order_type: OrderType::Market,
            tif: TimeInForce::Gtc,
            flatten: false,
        }
    }

    #[test]
    fn refusals_become_events_for_the_book_and_cancels_pass() {
        let (mut stage, market) = stage(RiskLimits {
            max_order_qty: crate::domain::Money::parse("5").ok(),
            ..RiskLimits::default()
        });
        assert_eq!(
            stage.on_request(&request(0, new_order(5)), &market),
            Decision::Pass
        );
        let Decision::Refuse(event) = stage.on_request(&request(1, new_order(6)), &market) else {
            panic!("over the order quantity limit");
        };
        assert_eq!(
            (event.book, event.correlation, event.kind),
            (
                BookId(1),
                3,
                OrderEventKind::Rejected {
                    reason: RejectReason::MaxOrderQty,
                    qty: Qty(6)
                }
            )
        );
        assert_eq!(
            stage.on_request(&request(0, RequestKind::Cancel), &market),
            Decision::Pass
        );
        assert_eq!((stage.requests(), stage.orders()), (2, 1));
        assert_eq!(stage.rejections(), vec![(RejectReason::MaxOrderQty, 1)]);
    }

    #[test]
    fn per_strategy_limits_isolate_books_on_one_broker() {
        let (mut stage, market) = stage(RiskLimits {
            max_strategy_position: crate::domain::Money::parse("3").ok(),
            ..RiskLimits::default()
        });
        assert_eq!(
            stage.on_request(&request(0, new_order(3)), &market),
            Decision::Pass
        );
        assert!(matches!(
            stage.on_request(&request(0, new_order(1)), &market),
            Decision::Refuse(e) if matches!(e.kind, OrderEventKind::Rejected { reason: RejectReason::StrategyPosition, .. })
        ));
        assert_eq!(
            stage.on_request(&request(1, new_order(3)), &market),
            Decision::Pass,
            "another book has its own limit"
        );
    }
}
