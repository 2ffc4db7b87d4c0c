//! The risk stage's run state for a checkpoint: per broker the filled and open quantities,
//! open orders, cash and held instruments (in their order), the rate-limit bucket, the
//! daily-loss baseline and the kill-switch latch; per book the positions; the marks, the next
//! day boundary and every counter the summary reports. Limits and instruments come from the
//! config the stage is rebuilt from; a state of another shape is refused.

use serde::{Deserialize, Serialize};

use super::stage::RiskStage;
use super::{BrokerRisk, RiskEngine};
use crate::domain::{Money, RejectReason};

/// One broker's part of [`RiskState`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct BrokerState {
    position: Vec<i64>,
    pending: Vec<i64>,
    open_orders: u32,
    cash: Vec<Money>,
    held: Vec<u32>,
    tokens: u128,
    last_refill: u64,
    day: u64,
    day_start_equity: Vec<Money>,
    killed: bool,
}

/// What [`RiskStage::checkpoint`] keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskState {
    brokers: Vec<BrokerState>,
    book_position: Vec<i64>,
    book_pending: Vec<i64>,
    marks_x2: Vec<i64>,
    next_day_ns: u64,
    rejections: Vec<u64>,
    broker_attempts: Vec<u64>,
    broker_orders: Vec<u64>,
    broker_rejections: Vec<Vec<u64>>,
}

impl BrokerRisk {
    fn state(&self) -> BrokerState {
        BrokerState {
            position: self.position.clone(),
            pending: self.pending.clone(),
            open_orders: self.open_orders,
            cash: self.cash.clone(),
            held: self.held.clone(),
            tokens: self.tokens,
            last_refill: self.last_refill,
            day: self.day,
            day_start_equity: self.day_start_equity.clone(),
            killed: self.killed,
        }
    }

    fn fits(&self, s: &BrokerState) -> Result<(), String> {
        let instruments = self.per_instrument.len();
        same("broker instruments", s.position.len(), instruments)?;
        same("broker open quantities", s.pending.len(), instruments)?;
        same("broker currencies", s.cash.len(), self.cash.len())?;
        same(
            "broker day baselines",
            s.day_start_equity.len(),
            self.cash.len(),
        )?;
        if s.held.iter().any(|&i| i as usize >= instruments) {
            return Err("risk checkpoint: a held instrument out of range".into());
        }
        Ok(())
    }

    fn restore(&mut self, s: BrokerState) {
        self.position = s.position;
        self.pending = s.pending;
        self.open_orders = s.open_orders;
        self.cash = s.cash;
        self.held.clear();
        self.held.extend_from_slice(&s.held);
        self.tokens = s.tokens;
        self.last_refill = s.last_refill;
        self.day = s.day;
        self.day_start_equity = s.day_start_equity;
        self.killed = s.killed;
    }
}

fn same(what: &str, got: usize, want: usize) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "risk checkpoint: {got} {what}, this engine has {want}"
        ))
    }
}

impl RiskStage {
    /// The run state so far.
    pub fn checkpoint(&self) -> RiskState {
        let e: &RiskEngine = &self.engine;
        RiskState {
            brokers: e.brokers.iter().map(BrokerRisk::state).collect(),
            book_position: e.book_position.clone(),
            book_pending: e.book_pending.clone(),
            marks_x2: e.marks_x2.clone(),
            next_day_ns: e.next_day_ns,
            rejections: e.rejections.to_vec(),
            broker_attempts: self.broker_attempts.clone(),
            broker_orders: self.broker_orders.clone(),
            broker_rejections: self.broker_rejections.iter().map(|r| r.to_vec()).collect(),
        }
    }

    /// Puts `state` into this stage, freshly built from the config it was taken under.
    ///
    /// # Errors
    /// The state has another shape (brokers, books, instruments, currencies).
    pub fn restore(&mut self, state: RiskState) -> Result<(), String> {
        let e = &mut self.engine;
        same("brokers", state.brokers.len(), e.brokers.len())?;
        same(
            "book positions",
            state.book_position.len(),
            e.book_position.len(),
        )?;
        same(
            "book open quantities",
            state.book_pending.len(),
            e.book_pending.len(),
        )?;
        same("marks", state.marks_x2.len(), e.marks_x2.len())?;
        same(
            "broker counters",
            state.broker_attempts.len(),
            self.broker_attempts.len(),
        )?;
        same(
            "broker counters",
            state.broker_orders.len(),
            self.broker_orders.len(),
        )?;
        same(
            "broker rejections",
            state.broker_rejections.len(),
            self.broker_rejections.len(),
        )?;
        let rejections: [u64; RejectReason::ALL.len()] =
            state.rejections.as_slice().try_into().map_err(|_| {
                format!("risk checkpoint: {} reject reasons", state.rejections.len())
            })?;
        let mut per_broker = Vec::with_capacity(state.broker_rejections.len());
        for r in &state.broker_rejections {
            let r: [u64; RejectReason::ALL.len()] = r
                .as_slice()
                .try_into()
                .map_err(|_| format!("risk checkpoint: {} reject reasons", r.len()))?;
            per_broker.push(r);
        }
        for (broker, s) in e.brokers.iter().zip(&state.brokers) {
            broker.fits(s)?;
        }
        // Nothing is changed before everything fits.
        for (broker, s) in e.brokers.iter_mut().zip(state.brokers) {
            broker.restore(s);
        }
        e.book_position = state.book_position;
        e.book_pending = state.book_pending;
        e.marks_x2 = state.marks_x2;
        e.next_day_ns = state.next_day_ns;
        e.rejections = rejections;
        self.broker_attempts = state.broker_attempts;
        self.broker_orders = state.broker_orders;
        self.broker_rejections = per_broker;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        BookId, BrokerId, ClientOrderId, Execution, InstrumentId, InstrumentSpec, Market, Nanos,
        OrderEvent, OrderEventKind, OrderRequest, OrderType, Price, Qty, RequestKind, Side, Tick,
        TimeInForce,
    };
    use crate::risk::RiskLimits;
    use crate::risk::stage::Decision;

    const DAY_NS: u64 = 86_400_000_000_000;

    fn fresh() -> RiskStage {
        let limits = RiskLimits {
            max_position: Money::parse("12").ok(),
            max_strategy_position: Money::parse("8").ok(),
            max_open_orders: Some(3),
            max_orders_per_second: Some(2),
            max_daily_loss: Money::parse("1000").ok(),
            ..RiskLimits::default()
        };
        let specs = [
            InstrumentSpec::new("X", 2, 0),
            InstrumentSpec::new("Y", 1, 0),
        ];
        RiskStage::new(RiskEngine::new(&[limits.clone(), limits], 2, &specs), 2)
    }

    /// Ticks every 0.15 s, a UTC midnight at tick 500, prices sliding (daily loss), a request on
    /// most ticks, filled, cancelled or left open in turn.
    fn step(stage: &mut RiskStage, market: &mut Market, i: u64, log: &mut Vec<String>) {
        let ts = 19_000 * DAY_NS + DAY_NS - 75_000_000_000 + i * 150_000_000;
        let instrument = InstrumentId((i % 2) as u32);
        let mid = 10_000 - (i % 500) as i64 * 3;
        let tick = Tick::quote(
            Nanos(ts),
            instrument,
            Some(Price(mid - 2)),
            Some(Price(mid + 2)),
            None,
            None,
        );
        market.on_tick(&tick);
        stage.on_tick(&tick);
        if i % 5 == 4 {
            return;
        }
        let side = if i % 7 < 5 { Side::Buy } else { Side::Sell };
        let qty = 1 + (i % 3) as i64;
        let request = OrderRequest {
            id: ClientOrderId(i),
            book: BookId((i / 2 % 2) as u32),
            broker: BrokerId((i / 4 % 2) as u32),
            instrument,
            side,
            correlation: i,
            ts: Nanos(ts),
            kind: RequestKind::New {
                qty: Qty(qty),
                order_type: OrderType::Market,
                tif: TimeInForce::Gtc,
                flatten: false,
            },
        };
        let decision = stage.on_request(&request, market);
        log.push(format!("{i}:{decision:?}"));
        if decision != Decision::Pass {
            return;
        }
        let kind = match i % 3 {
            0 => OrderEventKind::Cancelled { leaves: Qty(qty) },
            _ => OrderEventKind::Filled(Execution {
                qty: Qty(qty),
                price: Price(mid),
                fee: Money(i128::from(i % 5)),
                ..Execution::default()
            }),
        };
        stage.on_event(&OrderEvent {
            id: request.id,
            book: request.book,
            broker: request.broker,
            instrument,
            side,
            correlation: i,
            ts: Nanos(ts),
            kind,
        });
    }

    #[test]
    fn a_restored_risk_stage_decides_exactly_as_the_uninterrupted_one() {
        let (mut whole, mut first) = (fresh(), fresh());
        let (mut m_whole, mut m_first) = (Market::new(2), Market::new(2));
        let (mut log_whole, mut log_first) = (Vec::new(), Vec::new());
        for i in 0..1_500 {
            step(&mut whole, &mut m_whole, i, &mut log_whole);
            step(&mut first, &mut m_first, i, &mut log_first);
        }
        let state = first.checkpoint();
        let bytes = bincode::serde::encode_to_vec(&state, bincode::config::standard()).unwrap();
        let (decoded, _): (RiskState, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
        assert_eq!(decoded, state);
        let mut resumed = fresh();
        resumed.restore(decoded).unwrap();
        assert_eq!(resumed.checkpoint(), state, "everything kept is put back");
        let mut m_resumed = m_first.clone();
        let mut log_resumed = Vec::new();
        let mut log_rest = Vec::new();
        for i in 1_500..4_000 {
            step(&mut whole, &mut m_whole, i, &mut log_rest);
            step(&mut resumed, &mut m_resumed, i, &mut log_resumed);
        }
        assert_eq!(log_resumed, log_rest);
        let refused = log_rest.iter().filter(|l| l.contains("Refuse")).count();
        let mut reasons: Vec<String> = log_rest
            .iter()
            .filter_map(|l| {
                l.split("reason: ")
                    .nth(1)
                    .map(|r| r[..r.find(',').unwrap_or(r.len())].to_owned())
            })
            .collect();
        reasons.sort();
        reasons.dedup();
        assert!(
            refused > 100 && refused < log_rest.len() - 100 && reasons.len() >= 3,
            "both decisions and several reasons happen: {refused} of {}, {reasons:?}",
            log_rest.len()
        );
        assert_eq!(resumed.checkpoint(), whole.checkpoint());
        assert_eq!(
            (
                resumed.requests(),
                resumed.orders(),
                resumed.rejections(),
                resumed.kill_switches()
            ),
            (
                whole.requests(),
                whole.orders(),
                whole.rejections(),
                whole.kill_switches()
            )
        );
    }

    #[test]
    fn a_state_of_another_shape_is_refused_and_nothing_changes() {
        let mut stage = fresh();
        let mut market = Market::new(2);
        for i in 0..50 {
            step(&mut stage, &mut market, i, &mut Vec::new());
        }
        let mut state = stage.checkpoint();
        state.brokers[1].position.push(0);
        let mut target = fresh();
        let before = target.checkpoint();
        let err = target.restore(state).unwrap_err();
        assert!(err.contains("broker instruments"), "{err}");
        assert_eq!(target.checkpoint(), before);
    }
}
