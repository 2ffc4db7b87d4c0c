//! The canary: before a live run trades, one tick goes through every stage without changing
//! any state. The strategy stage makes a one-lot market BUY for each book trading the tick's
//! instrument (no strategy runs); risk checks them against a *copy* of its state; a null
//! venue acknowledges what risk approved. Trading starts only if every canary order passes.

use std::time::Duration;

use crossbeam_channel::Receiver;

use super::control::RunControl;
use super::layout::EngineLayout;
use super::message::CanaryCounts;
use crate::clock::Stopwatch;
use crate::domain::{Market, OrderRequest, Tick};
use crate::metrics::telemetry::{CanaryResult, StageName};
use crate::risk::RiskEngine;

/// Ticks the feed reads ahead looking for a canary tick (one a strategy trades, with a
/// price to buy at) before settling for the first tick it has.
pub const CANARY_LOOKAHEAD: usize = 1 << 16;

/// How long the feed waits for the canary to come back before calling it failed.
pub const CANARY_TIMEOUT: Duration = Duration::from_secs(5);

/// The canary in the risk thread: a copy of the risk state and of the market it is checked
/// against.
pub(crate) struct RiskCanary {
    dry: RiskEngine,
    market: Market,
    counts: CanaryCounts,
}

impl RiskCanary {
    pub(crate) fn new(engine: &RiskEngine, market: &Market, tick: &Tick) -> RiskCanary {
        let mut dry = engine.clone();
        let mut market = market.clone();
        market.on_tick(tick);
        dry.on_tick(tick);
        RiskCanary {
            dry,
            market,
            counts: CanaryCounts::default(),
        }
    }

    /// Checks one canary order against the copy; true when approved.
    pub(crate) fn check(&mut self, request: &OrderRequest) -> bool {
        self.counts.checked += 1;
        match self.dry.check(request, &self.market) {
            Ok(()) => {
                self.counts.approved += 1;
                true
            }
            Err(reason) => {
                self.counts.refused.get_or_insert((request.broker, reason));
                false
            }
        }
    }

    pub(crate) fn counts(self) -> CanaryCounts {
        self.counts
    }
}

/// Whether `tick` can carry the canary: a strategy trades its instrument, and it has a price
/// to buy at.
pub(crate) fn usable(tick: &Tick, subscribed: &[bool]) -> bool {
    subscribed
        .get(tick.instrument.index())
        .copied()
        .unwrap_or(false)
        && tick.buy_price().is_some()
}

/// Waits (up to `CANARY_TIMEOUT`) until every stage thread runs, so the canary's latency is
/// that of the hops, not of thread start-up.
pub(crate) fn wait_for_stage_threads(control: &RunControl) {
    let watch = Stopwatch::start();
    let started = || {
        [StageName::Strategy, StageName::Risk, StageName::Execution]
            .iter()
            .all(|&s| control.started(s))
    };
    while !started() && watch.elapsed() < CANARY_TIMEOUT {
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Polls for the canary's answer up to `CANARY_TIMEOUT` (polling, not a blocking receive,
/// which would register a waker).
pub(crate) fn wait(rx: &Receiver<CanaryCounts>) -> Option<CanaryCounts> {
    let watch = Stopwatch::start();
    loop {
        if let Ok(counts) = rx.try_recv() {
            return Some(counts);
        }
        if watch.elapsed() > CANARY_TIMEOUT {
            return None;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Turns what came back from the canary (or nothing, on timeout) into its result.
pub(crate) fn result(
    counts: Option<CanaryCounts>,
    layout: &EngineLayout,
    tick: &Tick,
) -> CanaryResult {
    let instrument = layout
        .instruments
        .iter()
        .nth(tick.instrument.index())
        .map_or_else(String::new, |(_, spec)| spec.symbol.clone());
    let Some(c) = counts else {
        return CanaryResult {
            passed: false,
            latency_ns: 0,
            instrument,
            approved: 0,
            checked: 0,
            detail: format!(
                "no answer from the pipeline within {} s",
                CANARY_TIMEOUT.as_secs()
            ),
        };
    };
    let (passed, detail) = match c.refused {
        Some((broker, reason)) => (
            false,
            format!(
                "risk refused a one-lot canary order on {instrument} for broker '{}': {}",
                layout.broker_name(broker),
                reason.code()
            ),
        ),
        None if c.checked == 0 => (
            true,
            format!("no strategy trades {instrument}: rings and stages checked, no order"),
        ),
        None => (
            true,
            format!(
                "{} canary orders on {instrument} approved by risk, {} acknowledged by the null venue",
                c.approved, c.acked
            ),
        ),
    };
    CanaryResult {
        passed,
        latency_ns: c.latency_ns,
        instrument,
        approved: u64::from(c.approved),
        checked: u64::from(c.checked),
        detail,
    }
}
