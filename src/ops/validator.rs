//! The pipeline validator: a watchdog thread that reads the published counters every
//! `interval_ms` and flags a pipeline that stopped doing its job.
//!
//! Findings (issue types are stable names, used in metrics, logs and `/health/detailed`):
//! - `no_recent_data` (feed): no tick for `no_data_secs` while the feed is live or ended.
//! - `no_signals` (strategy, per broker): ticks keep reaching strategies but none of the
//!   broker's strategies signalled for `no_signals_secs`; never raised for a broker with no
//!   registered strategy.
//! - `no_orders` (risk, per broker): signals for the broker keep coming but risk approved
//!   none for `no_orders_secs` (risk refuses everything).
//! - `no_fills` (execution, per broker): orders keep coming but none filled for
//!   `no_fills_secs`.
//!
//! "Keep coming" means more than one input since the last output, the latest within the
//! threshold: one refused signal followed by quiet is not a finding, and a finding clears
//! once its input has been quiet for the threshold.
//! - `stalled_stage` (strategy, risk, execution): input waiting in the stage's ring but the
//!   stage handled nothing for `stalled_secs`.
//! - `queue_saturated` (the ring's consumer): ring depth at or above `saturation_pct`.
//!
//! The rules are a pure function of successive observations (`Validator::step`), so they are
//! tested without threads or clocks; `spawn` runs them against a live `Telemetry`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::Environment;
use crate::config::fields::Fields;
use crate::metrics::Stage;
use crate::metrics::telemetry::{FeedState, Finding, Ring, StageName, Telemetry};

/// `[validator]`: the pipeline watchdog's thresholds, seconds of wall time.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatorConfig {
    /// How often the watchdog looks, ms.
    pub interval_ms: u64,
    /// No tick from the feed for this long: `no_recent_data`.
    pub no_data_secs: f64,
    /// Ticks reach a broker's strategies but no signal for this long: `no_signals`.
    pub no_signals_secs: f64,
    /// Signals but no order for the broker for this long: `no_orders`.
    pub no_orders_secs: f64,
    /// Orders but no fill for the broker for this long: `no_fills`.
    pub no_fills_secs: f64,
    /// A stage with input waiting that handled nothing for this long: `stalled_stage`.
    pub stalled_secs: f64,
    /// Ring depth at or above this share of capacity, percent: `queue_saturated`.
    pub saturation_pct: u8,
}

impl ValidatorConfig {
    /// Defaults per environment: production is told sooner.
    pub fn for_environment(environment: Environment) -> ValidatorConfig {
        let (no_data, no_signals, no_orders, no_fills, stalled) = match environment {
            Environment::Production => (5.0, 300.0, 10.0, 10.0, 2.0),
            Environment::Test => (10.0, 600.0, 30.0, 30.0, 5.0),
            Environment::Development => (30.0, 900.0, 60.0, 60.0, 10.0),
        };
        ValidatorConfig {
            interval_ms: 1000,
            no_data_secs: no_data,
            no_signals_secs: no_signals,
            no_orders_secs: no_orders,
            no_fills_secs: no_fills,
            stalled_secs: stalled,
            saturation_pct: 90,
        }
    }
}

/// Reads `[validator]` of `engine.toml` over the environment's defaults in `into`.
pub(crate) fn read_config(root: &mut Fields<'_, '_>, into: &mut ValidatorConfig) {
    let Some((table, offset)) = root.opt_table("validator") else {
        return;
    };
    let mut validator = root.sub(table, "validator", offset);
    if let Some(ms) = validator.opt_int("interval_ms", 10, 60_000) {
        into.interval_ms = ms as u64;
    }
    let mut seconds = |key, slot: &mut f64| {
        if let Some((mantissa, decimals, offset)) = validator.opt_non_negative_decimal(key) {
            let secs = mantissa as f64 / 10f64.powi(i32::from(decimals));
            if secs <= 0.0 {
                validator.invalid(key, offset, "expected seconds > 0");
            } else {
                *slot = secs;
            }
        }
    };
    seconds("no_data_secs", &mut into.no_data_secs);
    seconds("no_signals_secs", &mut into.no_signals_secs);
    seconds("no_orders_secs", &mut into.no_orders_secs);
    seconds("no_fills_secs", &mut into.no_fills_secs);
    seconds("stalled_secs", &mut into.stalled_secs);
    if let Some(pct) = validator.opt_int("saturation_pct", 1, 100) {
        into.saturation_pct = pct as u8;
    }
    validator.finish();
}

/// What the validator reads from the telemetry at one instant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observation {
    /// Unix time, ns.
    pub now_ns: u64,
    pub feed_state: Option<FeedState>,
    /// Messages handled per stage, in `StageName` order.
    pub stage_events: [u64; 4],
    /// Ticks that reached at least one strategy.
    pub dispatched: u64,
    /// Depth per ring, in `Ring` order.
    pub ring_depth: [u64; 5],
    pub ring_capacity: u64,
    pub brokers: Vec<BrokerObservation>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct BrokerObservation {
    pub name: String,
    pub registered: u64,
    pub attempts: u64,
    pub orders: u64,
    pub fills: u64,
}

impl Observation {
    /// Reads the telemetry now.
    pub fn of(t: &Telemetry, now_ns: u64) -> Observation {
        Observation {
            now_ns,
            feed_state: Some(t.feed_state()),
            stage_events: std::array::from_fn(|i| t.stage_events[i].get()),
            dispatched: t.dispatched_ticks.get(),
            ring_depth: std::array::from_fn(|i| t.ring_depth(Ring::ALL[i])),
            ring_capacity: t.shape.ring_capacity as u64,
            brokers: t
                .shape
                .brokers
                .iter()
                .zip(&t.brokers)
                .enumerate()
                .map(|(b, (name, broker))| BrokerObservation {
                    name: name.clone(),
                    registered: t.shape.strategies_registered.get(b).copied().unwrap_or(0),
                    attempts: broker.attempts.get(),
                    orders: broker.orders.get(),
                    fills: broker.fills.get(),
                })
                .collect(),
        }
    }
}

/// A finding raised or cleared by one step.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Raised(Finding),
    Cleared(Finding),
}

/// "Input keeps moving but output does not", ns.
#[derive(Clone, Copy, Debug, Default)]
struct Waiting {
    /// First input after the last output.
    since: Option<u64>,
    /// Last input, and whether more than one input came since `since`.
    last_input: u64,
    repeated: bool,
}

impl Waiting {
    /// Updates with whether input and output moved in this step; returns how long input
    /// has been waiting for output, ns, counted only while input keeps coming: more than
    /// one input since the last output, the latest within `window` ns. A single refused
    /// signal followed by quiet is not "risk refuses everything".
    fn update(&mut self, input_moved: bool, output_moved: bool, now: u64, window: u64) -> u64 {
        if output_moved {
            *self = Waiting::default();
            return 0;
        }
        if input_moved {
            match self.since {
                None => self.since = Some(now),
                Some(_) => self.repeated = true,
            }
            self.last_input = now;
        }
        match self.since {
            Some(since) if self.repeated && now.saturating_sub(self.last_input) <= window => {
                now.saturating_sub(since)
            }
            _ => 0,
        }
    }
}

/// The validator's memory between steps.
#[derive(Debug)]
pub struct Validator {
    config: ValidatorConfig,
    previous: Option<Observation>,
    /// When the feed last delivered a tick (or the validator started), ns.
    feed_moved_at: u64,
    no_signals: Vec<Waiting>,
    no_orders: Vec<Waiting>,
    no_fills: Vec<Waiting>,
    stalled: [Waiting; 4],
    active: Vec<Finding>,
}

const SECOND: f64 = 1e9;

impl Validator {
    pub fn new(config: ValidatorConfig) -> Validator {
        Validator {
            config,
            previous: None,
            feed_moved_at: 0,
            no_signals: Vec::new(),
            no_orders: Vec::new(),
            no_fills: Vec::new(),
            stalled: [Waiting::default(); 4],
            active: Vec::new(),
        }
    }

    pub fn active(&self) -> &[Finding] {
        &self.active
    }

    /// Applies one observation; returns what was raised and cleared, in a stable order.
    pub fn step(&mut self, obs: &Observation) -> Vec<Change> {
        let now = obs.now_ns;
        let previous = self.previous.take().unwrap_or_else(|| Observation {
            now_ns: now,
            brokers: obs
                .brokers
                .iter()
                .map(|b| BrokerObservation {
                    name: b.name.clone(),
                    ..BrokerObservation::default()
                })
                .collect(),
            ..Observation::default()
        });
        if self.feed_moved_at == 0 {
            self.feed_moved_at = now;
        }
        let brokers = obs.brokers.len();
        self.no_signals.resize(brokers, Waiting::default());
        self.no_orders.resize(brokers, Waiting::default());
        self.no_fills.resize(brokers, Waiting::default());
        let mut now_active: Vec<(&'static str, &'static str, String, String)> = Vec::new();
        let c = &self.config;

        // no_recent_data
        let feed = StageName::Feed as usize;
        if obs.stage_events[feed] != previous.stage_events[feed] {
            self.feed_moved_at = now;
        }
        let quiet = now.saturating_sub(self.feed_moved_at) as f64 / SECOND;
        if matches!(obs.feed_state, Some(FeedState::Live | FeedState::Ended))
            && quiet > c.no_data_secs
        {
            let state = obs.feed_state.map_or("unknown", FeedState::name);
            now_active.push((
                "no_recent_data",
                StageName::Feed.name(),
                String::new(),
                format!(
                    "no tick for {quiet:.1} s (threshold {} s); feed is {state}",
                    c.no_data_secs
                ),
            ));
        }

        // no_signals / no_orders / no_fills, per broker
        let dispatched_moved = obs.dispatched != previous.dispatched;
        for (b, broker) in obs.brokers.iter().enumerate() {
            let before = previous.brokers.get(b).cloned().unwrap_or_default();
            let attempts_moved = broker.attempts != before.attempts;
            let orders_moved = broker.orders != before.orders;
            let fills_moved = broker.fills != before.fills;
            let window = |secs: f64| (secs * SECOND) as u64;
            let waited = self.no_signals[b].update(
                dispatched_moved,
                attempts_moved,
                now,
                window(c.no_signals_secs),
            );
            let secs = waited as f64 / SECOND;
            if broker.registered > 0 && secs > c.no_signals_secs {
                now_active.push((
                    "no_signals",
                    StageName::Strategy.name(),
                    broker.name.clone(),
                    format!(
                        "ticks reach strategies but none of the {} registered for '{}' signalled for {secs:.1} s (threshold {} s)",
                        broker.registered, broker.name, c.no_signals_secs
                    ),
                ));
            }
            let secs = self.no_orders[b].update(
                attempts_moved,
                orders_moved,
                now,
                window(c.no_orders_secs),
            ) as f64
                / SECOND;
            if secs > c.no_orders_secs {
                now_active.push((
                    "no_orders",
                    StageName::Risk.name(),
                    broker.name.clone(),
                    format!(
                        "signals for '{}' but risk approved no order for {secs:.1} s (threshold {} s)",
                        broker.name, c.no_orders_secs
                    ),
                ));
            }
            let secs =
                self.no_fills[b].update(orders_moved, fills_moved, now, window(c.no_fills_secs))
                    as f64
                    / SECOND;
            if secs > c.no_fills_secs {
                now_active.push((
                    "no_fills",
                    StageName::Execution.name(),
                    broker.name.clone(),
                    format!(
                        "orders for '{}' but no fill for {secs:.1} s (threshold {} s)",
                        broker.name, c.no_fills_secs
                    ),
                ));
            }
        }

        // stalled_stage: input waiting, nothing handled.
        for (stage, ring) in [
            (StageName::Strategy, Ring::FeedToStrategy),
            (StageName::Risk, Ring::StrategyToRisk),
            (StageName::Execution, Ring::RiskToExecution),
        ] {
            let s = stage as usize;
            let handled = obs.stage_events[s] != previous.stage_events[s];
            let waiting = obs.ring_depth[ring as usize] > 0;
            // Waiting input is re-counted every step, so "keeps coming" holds while it waits.
            let secs = self.stalled[s].update(
                waiting,
                handled || !waiting,
                now,
                (c.stalled_secs * SECOND) as u64,
            ) as f64
                / SECOND;
            if secs > c.stalled_secs {
                now_active.push((
                    "stalled_stage",
                    stage.name(),
                    String::new(),
                    format!(
                        "{} messages wait in {} but {} handled none for {secs:.1} s (threshold {} s)",
                        obs.ring_depth[ring as usize],
                        ring.name(),
                        stage.name(),
                        c.stalled_secs
                    ),
                ));
            }
        }

        // queue_saturated
        if obs.ring_capacity > 0 {
            for ring in Ring::ALL {
                let depth = obs.ring_depth[ring as usize];
                if depth * 100 >= u64::from(c.saturation_pct) * obs.ring_capacity {
                    now_active.push((
                        "queue_saturated",
                        ring.consumer().name(),
                        String::new(),
                        format!(
                            "{} holds {depth} of {} slots (threshold {}%)",
                            ring.name(),
                            obs.ring_capacity,
                            c.saturation_pct
                        ),
                    ));
                }
            }
        }

        let mut changes = Vec::new();
        let key = |f: &Finding| (f.issue, f.stage, f.broker.clone());
        let mut next = Vec::with_capacity(now_active.len());
        for (issue, stage, broker, detail) in now_active {
            match self
                .active
                .iter()
                .position(|f| key(f) == (issue, stage, broker.clone()))
            {
                Some(i) => {
                    let mut f = self.active.swap_remove(i);
                    f.detail = detail;
                    next.push(f);
                }
                None => {
                    let f = Finding {
                        issue,
                        stage,
                        broker,
                        since_unix: now as f64 / SECOND,
                        detail,
                    };
                    changes.push(Change::Raised(f.clone()));
                    next.push(f);
                }
            }
        }
        for f in self.active.drain(..) {
            changes.push(Change::Cleared(f));
        }
        self.active = next;
        self.previous = Some(obs.clone());
        changes
    }
}

/// Runs the validator every `interval_ms` until `stop`; publishes findings, last activity
/// per stage and a performance line every `PERFORMANCE_EVERY` to the log.
pub fn spawn(
    telemetry: Arc<Telemetry>,
    config: ValidatorConfig,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("alpha-panda-validator".into())
        .spawn(move || run(&telemetry, config, &stop))
}

/// How often the validator logs throughput and latency to the `performance` channel.
pub const PERFORMANCE_EVERY: Duration = Duration::from_secs(10);

fn run(t: &Telemetry, config: ValidatorConfig, stop: &AtomicBool) {
    let interval = Duration::from_millis(config.interval_ms);
    let mut validator = Validator::new(config);
    let mut last_events = [u64::MAX; 4];
    let mut last_performance = (crate::clock::unix_now_ns(), 0u64);
    loop {
        let now = crate::clock::unix_now_ns();
        let obs = Observation::of(t, now);
        for (i, &events) in obs.stage_events.iter().enumerate() {
            if events != last_events[i] {
                if events > 0 {
                    t.last_activity_ns[i].store(now, Ordering::Relaxed);
                }
                last_events[i] = events;
            }
        }
        for change in validator.step(&obs) {
            match change {
                Change::Raised(f) => {
                    tracing::warn!(target: "app", issue = f.issue, stage = f.stage, broker = %f.broker, detail = %f.detail, "pipeline validator: finding raised");
                    let mut state = t.validator.lock();
                    let key = (f.stage, f.broker.clone(), f.issue);
                    match state.raised.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, n)) => *n += 1,
                        None => state.raised.push((key, 1)),
                    }
                }
                Change::Cleared(f) => {
                    tracing::info!(target: "app", issue = f.issue, stage = f.stage, broker = %f.broker, "pipeline validator: finding cleared");
                }
            }
        }
        {
            let mut state = t.validator.lock();
            state.active = validator.active().to_vec();
            state.last_run_unix = now as f64 / SECOND;
        }
        if Duration::from_nanos(now.saturating_sub(last_performance.0)) >= PERFORMANCE_EVERY {
            let ticks = obs.stage_events[StageName::Feed as usize];
            let secs = now.saturating_sub(last_performance.0) as f64 / SECOND;
            let latency = t.latency();
            let tick_to_order = latency.summary(Stage::TickToOrder);
            let strategy = latency.summary(Stage::Strategy);
            tracing::info!(
                target: "performance",
                ticks_per_sec = (ticks - last_performance.1.min(ticks)) as f64 / secs,
                ticks,
                strategy_p99_ns = strategy.p99,
                tick_to_order_p50_ns = tick_to_order.p50,
                tick_to_order_p99_ns = tick_to_order.p99,
                ring_depth = ?obs.ring_depth,
                "throughput and latency"
            );
            t.request_snapshot();
            last_performance = (now, ticks);
        }
        // Sleep in short slices so a stop is seen quickly.
        let mut slept = Duration::ZERO;
        while slept < interval {
            if stop.load(Ordering::Acquire) {
                return;
            }
            let slice = (interval - slept).min(Duration::from_millis(20));
            std::thread::sleep(slice);
            slept += slice;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Environment;

    const S: u64 = 1_000_000_000;

    fn config() -> ValidatorConfig {
        ValidatorConfig {
            interval_ms: 1000,
            no_data_secs: 5.0,
            no_signals_secs: 10.0,
            no_orders_secs: 10.0,
            no_fills_secs: 10.0,
            stalled_secs: 3.0,
            saturation_pct: 90,
        }
    }

    fn obs(now_s: u64) -> Observation {
        Observation {
            now_ns: now_s * S,
            feed_state: Some(FeedState::Live),
            ring_capacity: 100,
            brokers: vec![BrokerObservation {
                name: "paper".into(),
                registered: 1,
                ..BrokerObservation::default()
            }],
            ..Observation::default()
        }
    }

    fn raised(changes: &[Change]) -> Vec<(&'static str, &'static str, String)> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::Raised(f) => Some((f.issue, f.stage, f.broker.clone())),
                Change::Cleared(_) => None,
            })
            .collect()
    }

    /// Ticks flow through every stage at second `s`; the broker's order attempts, orders
    /// and fills stand at `[attempts, orders, fills]`.
    fn flow(s: u64, o: &mut Observation, [attempts, orders, fills]: [u64; 3]) {
        o.stage_events = [s * 10; 4];
        o.dispatched = s * 10;
        o.brokers[0].attempts = attempts;
        o.brokers[0].orders = orders;
        o.brokers[0].fills = fills;
    }

    /// Runs a scripted sequence of observations, one per second, and returns what the last
    /// step raised and which findings are active then.
    struct Case {
        name: &'static str,
        script: fn(u64, &mut Observation),
        steps: u64,
        active: &'static [(&'static str, &'static str, &'static str)],
    }

    #[test]
    fn findings_table() {
        let cases = [
            Case {
                name: "healthy flow raises nothing",
                script: |s, o| {
                    flow(s, o, [s, s, s]);
                },
                steps: 30,
                active: &[],
            },
            Case {
                name: "feed silent",
                script: |_, o| o.stage_events = [7; 4],
                steps: 8,
                active: &[("no_recent_data", "feed", "")],
            },
            Case {
                name: "feed silent but still starting (canary) is not a finding",
                script: |_, o| o.feed_state = Some(FeedState::Starting),
                steps: 8,
                active: &[],
            },
            Case {
                name: "ticks but no signals",
                script: |s, o| {
                    flow(s, o, [0, 0, 0]);
                },
                steps: 13,
                active: &[("no_signals", "strategy", "paper")],
            },
            Case {
                name: "no signals suppressed without registered strategies",
                script: |s, o| {
                    flow(s, o, [0, 0, 0]);
                    o.brokers[0].registered = 0;
                },
                steps: 13,
                active: &[],
            },
            Case {
                name: "signals but no orders",
                script: |s, o| {
                    flow(s, o, [s, 0, 0]);
                },
                steps: 13,
                active: &[("no_orders", "risk", "paper")],
            },
            Case {
                name: "orders but no fills",
                script: |s, o| {
                    flow(s, o, [s, s, 0]);
                },
                steps: 13,
                active: &[("no_fills", "execution", "paper")],
            },
            Case {
                name: "risk stage stuck with input waiting",
                script: |s, o| {
                    o.stage_events = [s * 10, s * 10, 5, 5];
                    o.dispatched = s * 10;
                    o.brokers[0].attempts = s;
                    o.brokers[0].orders = s;
                    o.brokers[0].fills = s;
                    o.ring_depth[Ring::StrategyToRisk as usize] = 50;
                },
                steps: 6,
                active: &[("stalled_stage", "risk", "")],
            },
            Case {
                name: "ring nearly full",
                script: |s, o| {
                    flow(s, o, [s, s, s]);
                    o.ring_depth[Ring::FeedToStrategy as usize] = 95;
                },
                steps: 2,
                active: &[("queue_saturated", "strategy", "")],
            },
        ];
        for case in cases {
            let mut v = Validator::new(config());
            let mut all_raised = Vec::new();
            for s in 1..=case.steps {
                let mut o = obs(s);
                (case.script)(s, &mut o);
                all_raised.extend(raised(&v.step(&o)));
            }
            let active: Vec<_> = v
                .active()
                .iter()
                .map(|f| (f.issue, f.stage, f.broker.as_str()))
                .collect();
            assert_eq!(active, case.active.to_vec(), "{}", case.name);
            assert_eq!(
                all_raised.len(),
                case.active.len(),
                "{}: raised once each",
                case.name
            );
        }
    }

    #[test]
    fn one_refused_signal_then_quiet_is_not_a_finding_but_steady_refusals_are() {
        let mut v = Validator::new(config());
        for s in 1..=30 {
            let mut o = obs(s);
            flow(s, &mut o, [1, 0, 0]);
            v.step(&o);
        }
        assert!(
            v.active().iter().all(|f| f.issue != "no_orders"),
            "{:?}",
            v.active()
        );
        let mut v = Validator::new(config());
        for s in 1..=35 {
            let mut o = obs(s);
            // A refusal every second until 20 s, then signals stop.
            flow(s, &mut o, [s.min(20), 0, 0]);
            v.step(&o);
            if s == 13 {
                assert!(
                    v.active().iter().any(|f| f.issue == "no_orders"),
                    "raised while refusals keep coming: {:?}",
                    v.active()
                );
            }
        }
        assert!(v.active().iter().all(|f| f.issue != "no_orders"));
    }

    #[test]
    fn a_finding_clears_when_the_flow_resumes() {
        let mut v = Validator::new(config());
        for s in 1..=8 {
            v.step(&obs(s));
        }
        assert_eq!(v.active().len(), 1);
        let mut o = obs(9);
        o.stage_events[StageName::Feed as usize] = 1;
        let changes = v.step(&o);
        assert!(
            matches!(&changes[..], [Change::Cleared(f)] if f.issue == "no_recent_data"),
            "{changes:?}"
        );
        assert!(v.active().is_empty());
    }

    #[test]
    fn environment_defaults_are_stricter_in_production() {
        let p = ValidatorConfig::for_environment(Environment::Production);
        let d = ValidatorConfig::for_environment(Environment::Development);
        assert!(p.no_data_secs < d.no_data_secs);
        assert!(p.stalled_secs < d.stalled_secs);
    }
}
