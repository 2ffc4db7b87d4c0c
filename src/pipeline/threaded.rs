//! Threaded runtime: feed, strategy, risk and execution each on their own thread, joined by
//! bounded crossbeam rings used only with `try_send`/`try_recv` and our own wait policy
//! (a blocked crossbeam side parks, and waking it takes a lock).
//!
//! Same results as inline: ticks and signals travel in order through one ring per hop, and
//! before risk decides anything that depends on fills (a signal, a new UTC day) it waits
//! until execution has handled every message risk sent and applies the fills that came
//! back. Signals are rare, so ticks still flow pipelined.
//!
//! Observability: each stage publishes its counters to the shared `Telemetry` every
//! `PUBLISH_EVERY` messages and whenever its input ring runs empty, and copies its latency
//! histograms when an observer asked; audit events leave as `Copy` values over a ring.
//! A live run can send a canary tick through every stage (strategy index, a dry risk check
//! on a copy of the risk state, a null venue) before the first real tick.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError, bounded};

use super::{
    AuditEvent, Engine, EngineLayout, ExecutionStage, RiskStage, RunControl, RunOutcome,
    StrategyStage, TickSource,
};
use crate::clock::{LatencyTimer, Stopwatch};
use crate::config::WaitPolicy;
use crate::domain::{BrokerId, Fill, Order, Signal, Tick};
use crate::metrics::telemetry::{
    CanaryResult, DlqKind, FeedState, LatencySlot, PUBLISH_EVERY, Ring, StageName, Telemetry,
};
use crate::metrics::{LatencyRecorder, Stage};
use crate::risk::{RejectReason, RiskEngine};

/// Threads of this runtime: feed, strategy, risk, execution.
pub const STAGE_THREADS: usize = 4;

/// Spins, then yields, then sleeps, per the configured policy. Used only while a ring is
/// empty or full, outside the measured path.
#[derive(Debug)]
pub struct Waiter {
    policy: WaitPolicy,
    rounds: u32,
}

impl Waiter {
    pub fn new(policy: WaitPolicy) -> Waiter {
        Waiter { policy, rounds: 0 }
    }

    #[inline]
    pub fn reset(&mut self) {
        self.rounds = 0;
    }

    #[inline]
    pub fn wait(&mut self) {
        self.rounds = self.rounds.saturating_add(1);
        match (self.policy, self.rounds) {
            (WaitPolicy::Spin, _) | (_, 0..=64) => std::hint::spin_loop(),
            (WaitPolicy::SpinThenYield, _) | (WaitPolicy::Park, 65..=256) => {
                std::thread::yield_now()
            }
            (WaitPolicy::Park, _) => std::thread::sleep(std::time::Duration::from_micros(50)),
        }
    }
}

/// Ticks the feed reads ahead looking for a canary tick (one a strategy trades, with a
/// price to buy at) before settling for the first tick it has.
pub const CANARY_LOOKAHEAD: usize = 1 << 16;

/// How long the feed waits for the canary to come back before calling it failed.
pub const CANARY_TIMEOUT: Duration = Duration::from_secs(5);

/// The producer side of one ring: the sender, its wait state and its counters.
struct Outbox<'t, T> {
    tx: Sender<T>,
    waiter: Waiter,
    ring: Ring,
    telemetry: &'t Telemetry,
    /// Messages delivered.
    sent: u64,
    /// Full episodes: messages that found the ring full, however long they waited.
    full: u64,
}

impl<'t, T> Outbox<'t, T> {
    fn new(tx: Sender<T>, policy: WaitPolicy, ring: Ring, telemetry: &'t Telemetry) -> Self {
        Outbox {
            tx,
            waiter: Waiter::new(policy),
            ring,
            telemetry,
            sent: 0,
            full: 0,
        }
    }

    #[inline]
    fn send(&mut self, msg: T) -> bool {
        self.send_or(msg, || {})
    }

    /// Sends, waiting while the ring is full; `on_full` runs while waiting (risk drains
    /// returning fills there, so two stages never wait on each other). Gives up when a
    /// stage thread has panicked, so the run can end and report it; returns whether the
    /// message was delivered.
    #[inline]
    fn send_or(&mut self, mut msg: T, mut on_full: impl FnMut()) -> bool {
        let mut waited = false;
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => {
                    self.waiter.reset();
                    self.sent += 1;
                    return true;
                }
                Err(TrySendError::Full(back)) => {
                    if !waited {
                        self.full += 1;
                        waited = true;
                        // Observers see the ring as full as it is, not one publish point ago.
                        self.telemetry.ring_sent[self.ring as usize].set(self.sent);
                    }
                    if self.telemetry.aborted.load(Ordering::Relaxed) {
                        return false;
                    }
                    msg = back;
                    on_full();
                    self.waiter.wait();
                }
                // The consumer is gone only after a panic there; join reports it.
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
    }

    /// Publishes the ring's sent and full counts.
    fn publish(&self) {
        let t = self.telemetry;
        t.ring_sent[self.ring as usize].set(self.sent);
        t.ring_full[self.ring as usize].set(self.full);
    }
}

/// Wait rounds between two idle publishes while a ring stays empty.
const IDLE_PUBLISH_ROUNDS: u32 = 256;

/// Receives, waiting while the ring is empty; `None` when the producer is gone. `on_idle`
/// runs when the ring is found empty and then every `IDLE_PUBLISH_ROUNDS` wait rounds, so
/// an idle stage still answers snapshot requests (stages publish their counters there).
#[inline]
fn recv<T>(rx: &Receiver<T>, waiter: &mut Waiter, on_idle: &mut dyn FnMut()) -> Option<T> {
    let mut rounds = 0u32;
    loop {
        match rx.try_recv() {
            Ok(msg) => {
                waiter.reset();
                return Some(msg);
            }
            Err(TryRecvError::Empty) => {
                if rounds.is_multiple_of(IDLE_PUBLISH_ROUNDS) {
                    on_idle();
                }
                rounds = rounds.wrapping_add(1);
                waiter.wait();
            }
            Err(TryRecvError::Disconnected) => return None,
        }
    }
}

/// Sends an audit event without waiting; a full audit ring costs the event, counted.
#[inline]
fn audit(tx: Option<&Sender<AuditEvent>>, event: AuditEvent, telemetry: &Telemetry) {
    if let Some(tx) = tx
        && let Err(TrySendError::Full(_)) = tx.try_send(event)
    {
        telemetry.count_dlq(DlqKind::AuditDropped, 1);
    }
}

/// Marks the run aborted if the thread holding it unwinds.
struct AbortOnPanic<'a>(&'a Telemetry);

impl Drop for AbortOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.aborted.store(true, Ordering::Relaxed);
        }
    }
}

/// A stage thread's start: pinned if configured, marked started (the canary waits for
/// every stage), and marking the run aborted if it later panics (keep the guard alive).
fn stage_thread_started(t: &Telemetry, stage: StageName, core: Option<usize>) -> AbortOnPanic<'_> {
    pin(core, stage.name());
    t.stage_started[stage as usize].store(true, Ordering::Release);
    AbortOnPanic(t)
}

/// Pins the calling thread to `core` if configured.
fn pin(core: Option<usize>, stage: &str) {
    if let Some(id) = core
        && !core_affinity::set_for_current(core_affinity::CoreId { id })
    {
        tracing::warn!(target: "performance", stage, core = id, "could not pin the stage thread to its core");
    }
}

/// Feed → strategy. A canary is handled by every stage without changing any state.
#[derive(Clone, Copy, Debug)]
enum ToStrategy {
    Tick(Tick, u64),
    Canary(Tick, u64),
}

/// Strategy → risk. `stamp` is the latency-timer stamp of the send (0 = not sampled).
#[derive(Clone, Copy, Debug)]
enum ToRisk {
    Tick(Tick, u64),
    Signal(Signal, u64),
    CanaryStart(Tick),
    CanarySignal(Signal),
    CanaryEnd(u64),
}

/// Risk → execution. The `u64` is the stamp the tick was taken in by the strategy stage.
#[derive(Clone, Copy, Debug)]
enum ToExecution {
    Tick(Tick, u64),
    Order(Order, u64),
    /// A canary order risk approved; the null venue only counts it.
    CanaryOrder,
    CanaryEnd(CanaryCounts),
}

/// What the canary met on its way, carried from risk to execution and back to the feed.
#[derive(Clone, Copy, Debug, Default)]
struct CanaryCounts {
    stamp: u64,
    /// Feed send to the null venue's acknowledgement, ns.
    latency_ns: u64,
    checked: u32,
    approved: u32,
    acked: u32,
    refused: Option<(BrokerId, RejectReason)>,
}

/// Bytes of one slot of each ring (feed → strategy, strategy → risk, risk → execution,
/// execution → risk): the message and the slot's stamp, for memory estimates.
pub const fn ring_slot_bytes() -> [usize; 4] {
    const STAMP: usize = std::mem::size_of::<usize>();
    [
        std::mem::size_of::<ToStrategy>() + STAMP,
        std::mem::size_of::<ToRisk>() + STAMP,
        std::mem::size_of::<ToExecution>() + STAMP,
        std::mem::size_of::<Fill>() + STAMP,
    ]
}

/// Runs the engine with one thread per stage.
///
/// # Errors
/// The source's first error; every tick before it has been processed.
pub fn run(
    engine: Engine,
    source: &mut (dyn TickSource + Send),
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(EngineLayout, RunOutcome), crate::Error> {
    run_with(engine, source, progress, &RunControl::default())
}

/// `run` with a live run's extras: audit events and the canary.
///
/// # Errors
/// The source's first error; every tick before it has been processed.
pub fn run_with(
    engine: Engine,
    source: &mut (dyn TickSource + Send),
    progress: &mut dyn FnMut(u64, u64),
    control: &RunControl,
) -> Result<(EngineLayout, RunOutcome), crate::Error> {
    let Engine {
        layout,
        config,
        telemetry,
        strategy,
        risk,
        execution,
    } = engine;
    let capacity = config.runtime.ring_capacity;
    let policy = config.runtime.wait;
    let pins = config.runtime.pin;
    let sample_every = config.runtime.sample_every();
    let (tick_tx, tick_rx) = bounded::<ToStrategy>(capacity);
    let (risk_tx, risk_rx) = bounded::<ToRisk>(capacity);
    let (exec_tx, exec_rx) = bounded::<ToExecution>(capacity);
    let (fill_tx, fill_rx) = bounded::<Fill>(capacity);
    let (canary_tx, canary_rx) = bounded::<CanaryCounts>(1);
    let processed = &AtomicU64::new(0);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    if policy == WaitPolicy::Spin && cores < STAGE_THREADS {
        tracing::warn!(
            target: "performance",
            cores,
            threads = STAGE_THREADS,
            "wait = \"spin\" with more stage threads than cores: spinning threads starve each other; use spin_then_yield or park"
        );
    }
    let wall = Stopwatch::start();
    // One calibrated timer for all threads: stamps taken on one thread are read on another.
    let timer = LatencyTimer::default();
    let (strategy_timer, risk_timer, execution_timer) =
        (timer.clone(), timer.clone(), timer.clone());
    let mut subscribed = vec![false; layout.instruments.iter().count()];
    for s in &layout.strategies {
        for i in &s.instruments {
            subscribed[i.index()] = true;
        }
    }
    let pnl = super::PnlBuffer::new(&layout);
    // Scoped threads borrow what they share.
    let t = &*telemetry;
    let audit = control.audit.as_ref();

    let result = std::thread::scope(|scope| {
        let strategy_thread = scope.spawn(move || {
            let _abort = stage_thread_started(t, StageName::Strategy, pins.strategy);
            strategy_loop(strategy, tick_rx, risk_tx, policy, strategy_timer, t, audit)
        });
        let risk_thread = scope.spawn(move || {
            let _abort = stage_thread_started(t, StageName::Risk, pins.risk);
            risk_loop(
                risk, risk_rx, exec_tx, fill_rx, processed, policy, risk_timer, t, audit,
            )
        });
        let execution_thread = scope.spawn(move || {
            let _abort = stage_thread_started(t, StageName::Execution, pins.execution);
            execution_loop(
                execution,
                exec_rx,
                fill_tx,
                canary_tx,
                processed,
                policy,
                execution_timer,
                t,
                audit,
                pnl,
            )
        });

        // The feed runs on the calling thread: the source need not move.
        pin(pins.feed, "feed");
        let mut tick_tx = Outbox::new(tick_tx, policy, Ring::FeedToStrategy, t);
        let mut chunk = Vec::with_capacity(super::inline::CHUNK);
        let mut load = std::time::Duration::ZERO;
        let mut seq = 0u64;
        let mut ticks_by_class = [0u64; 3];
        let mut feed_error = None;
        let mut canary_pending = control.canary;
        if !control.canary {
            t.set_feed_state(FeedState::Live);
        }
        let publish = |out: &Outbox<'_, ToStrategy>, seq: u64, by_class: &[u64; 3]| {
            out.publish();
            t.stage_events[StageName::Feed as usize].set(seq);
            for (cell, &n) in t.ticks_by_class.iter().zip(by_class) {
                cell.set(n);
            }
        };
        // Ticks read while looking for the canary's tick, delivered once it passed.
        let mut held: Vec<Tick> = Vec::new();
        'feed: loop {
            let watch = Stopwatch::start();
            let read = source.read_chunk(&mut chunk, super::inline::CHUNK);
            load += watch.elapsed();
            let at_end = match read {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => {
                    feed_error = Some(e);
                    break;
                }
            };
            if canary_pending {
                // The canary needs a tick a strategy trades, with a price to buy at.
                let usable = |tick: &Tick| {
                    subscribed
                        .get(tick.instrument.index())
                        .copied()
                        .unwrap_or(false)
                        && tick.buy_price().is_some()
                };
                let found = chunk.iter().any(usable);
                if !found && !at_end && held.len() < CANARY_LOOKAHEAD {
                    held.extend_from_slice(&chunk);
                    continue;
                }
                canary_pending = false;
                held.extend_from_slice(&chunk);
                std::mem::swap(&mut held, &mut chunk);
                let pick = chunk
                    .iter()
                    .find(|tick| usable(tick))
                    .or(chunk.first())
                    .copied()
                    .unwrap_or_default();
                wait_for_stage_threads(t);
                let stamp = timer.stamp().max(1);
                tick_tx.send(ToStrategy::Canary(pick, stamp));
                let result = canary_result(wait_canary(&canary_rx), &layout, &pick);
                if result.passed {
                    tracing::info!(target: "app", latency_us = result.latency_ns as f64 / 1e3, instrument = %result.instrument, checked = result.checked, approved = result.approved, "canary passed; trading enabled");
                } else {
                    tracing::error!(target: "app", detail = %result.detail, "canary failed; trading stays disabled until restart");
                }
                let passed = result.passed;
                *t.canary.lock() = Some(result);
                if !passed {
                    // Stay up, not ready, so health shows why, until asked to stop.
                    let stopped = || {
                        control
                            .stop
                            .as_ref()
                            .is_none_or(|s| s.load(Ordering::Acquire))
                    };
                    while !stopped() {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    t.shutting_down.store(true, Ordering::Release);
                    break 'feed;
                }
                if t.feed_state() == FeedState::Starting {
                    t.set_feed_state(FeedState::Live);
                }
            } else if at_end {
                break;
            }
            for tick in &mut chunk {
                tick.seq = seq;
                if let Some(class) = t.shape.class_index(tick.instrument) {
                    ticks_by_class[class] += 1;
                }
                let stamp = if crate::metrics::sampled(seq, sample_every) {
                    timer.stamp()
                } else {
                    0
                };
                tick_tx.send(ToStrategy::Tick(*tick, stamp));
                seq += 1;
                if seq.is_multiple_of(PUBLISH_EVERY) {
                    publish(&tick_tx, seq, &ticks_by_class);
                }
            }
            publish(&tick_tx, seq, &ticks_by_class);
            let (done, total) = source.progress();
            progress(done, total);
            if at_end || t.aborted.load(Ordering::Relaxed) {
                break;
            }
        }
        publish(&tick_tx, seq, &ticks_by_class);
        let feed_full = tick_tx.full;
        drop(tick_tx);
        let strategy_out = strategy_thread.join();
        let risk_out = risk_thread.join();
        let execution_out = execution_thread.join();
        match (strategy_out, risk_out, execution_out) {
            (Ok(s), Ok(r), Ok(e)) => Ok((seq, load, feed_full, feed_error, s, r, e)),
            _ => Err(crate::Error::Runtime(
                "a pipeline stage thread panicked".into(),
            )),
        }
    });
    if telemetry.feed_state() != FeedState::Ended || telemetry.shutting_down.load(Ordering::Acquire)
    {
        telemetry.set_feed_state(FeedState::Stopped);
    }
    let (
        ticks,
        load,
        feed_full,
        feed_error,
        (strategy_latency, strategy_full, ml),
        risk_out,
        execution_out,
    ) = result?;
    if let Some(e) = feed_error {
        return Err(e);
    }
    let (risk, risk_latency, risk_full) = risk_out;
    let (execution, execution_latency, fill_full) = execution_out;
    let mut latency = strategy_latency;
    latency.merge(&risk_latency);
    latency.merge(&execution_latency);
    let kill_switch = (0..layout.brokers.len())
        .map(|b| risk.engine.kill_switch_tripped(b))
        .collect();
    let run = wall.elapsed().saturating_sub(load);
    Ok((
        layout,
        RunOutcome {
            ticks,
            signals: risk.signals,
            orders: risk.orders,
            rejections: risk.rejections(),
            kill_switch,
            ring_full: vec![
                ("feed_to_strategy", feed_full),
                ("strategy_to_risk", strategy_full),
                ("risk_to_execution", risk_full),
                ("execution_to_risk", fill_full),
            ],
            load,
            run,
            portfolio: execution.portfolio,
            fills: execution.fill_log,
            latency,
            ml,
        },
    ))
}

/// Waits (up to `CANARY_TIMEOUT`) until every stage thread runs, so the canary's latency
/// is that of the hops, not of thread start-up.
fn wait_for_stage_threads(t: &Telemetry) {
    let watch = Stopwatch::start();
    let started = || {
        [StageName::Strategy, StageName::Risk, StageName::Execution]
            .iter()
            .all(|&s| t.stage_started[s as usize].load(Ordering::Acquire))
    };
    while !started() && watch.elapsed() < CANARY_TIMEOUT {
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Polls for the canary's answer up to `CANARY_TIMEOUT` (polling, not a blocking receive,
/// which would register a waker).
fn wait_canary(rx: &Receiver<CanaryCounts>) -> Option<CanaryCounts> {
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
fn canary_result(counts: Option<CanaryCounts>, layout: &EngineLayout, tick: &Tick) -> CanaryResult {
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
    let latency_ns = c.latency_ns;
    let (passed, detail) = match c.refused {
        Some((broker, reason)) => (
            false,
            format!(
                "risk refused a one-lot canary order on {instrument} for broker '{}': {}",
                layout
                    .brokers
                    .get(broker.0 as usize)
                    .map_or("?", String::as_str),
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
        latency_ns,
        instrument,
        approved: u64::from(c.approved),
        checked: u64::from(c.checked),
        detail,
    }
}

/// The strategy thread's published counters.
#[derive(Default)]
struct StrategyCounters {
    events: u64,
    /// Ticks that reached at least one strategy.
    dispatched: u64,
    signals: u64,
    inference_errors: u64,
    generation: u64,
}

impl StrategyCounters {
    fn publish(
        &mut self,
        t: &Telemetry,
        stage: &mut StrategyStage,
        out: &Outbox<'_, ToRisk>,
        latency: &mut LatencyRecorder,
    ) {
        t.stage_events[StageName::Strategy as usize].set(self.events);
        t.ring_received[Ring::FeedToStrategy as usize].set(self.events);
        t.dispatched_ticks.set(self.dispatched);
        t.signals.set(self.signals);
        out.publish();
        let errors = stage.inference_errors();
        if errors > self.inference_errors {
            t.count_dlq(DlqKind::Inference, errors - self.inference_errors);
            self.inference_errors = errors;
        }
        let generation = t.snapshot_generation();
        if generation != self.generation && t.hand_off_latency(LatencySlot::Strategy, latency) {
            stage.hand_off_inference(t);
            self.generation = generation;
        }
    }
}

#[allow(
    clippy::while_let_loop,
    reason = "the idle closure borrows the stage; a while-let scrutinee would hold that borrow through the body"
)]
fn strategy_loop(
    mut stage: StrategyStage,
    rx: Receiver<ToStrategy>,
    tx: Sender<ToRisk>,
    policy: WaitPolicy,
    timer: LatencyTimer,
    t: &Telemetry,
    audit_tx: Option<&Sender<AuditEvent>>,
) -> (LatencyRecorder, u64, Vec<super::MlRunStats>) {
    let mut latency = LatencyRecorder::default();
    let mut in_wait = Waiter::new(policy);
    let mut tx = Outbox::new(tx, policy, Ring::StrategyToRisk, t);
    let mut c = StrategyCounters::default();
    let mut signals = Vec::with_capacity(stage.max_fan_out().max(1));
    loop {
        let Some(msg) = recv(&rx, &mut in_wait, &mut || {
            c.publish(t, &mut stage, &tx, &mut latency);
        }) else {
            break;
        };
        c.events += 1;
        let (tick, stamp) = match msg {
            ToStrategy::Tick(tick, stamp) => (tick, stamp),
            ToStrategy::Canary(tick, stamp) => {
                signals.clear();
                stage.canary_signals(&tick, &mut signals);
                let mut out = |msg| {
                    tx.send(msg);
                };
                out(ToRisk::CanaryStart(tick));
                for signal in &signals {
                    out(ToRisk::CanarySignal(*signal));
                }
                out(ToRisk::CanaryEnd(stamp));
                continue;
            }
        };
        let start = if stamp != 0 {
            let now = timer.stamp();
            latency.record(Stage::FeedToStrategy, timer.elapsed_ns(stamp, now));
            now
        } else {
            0
        };
        signals.clear();
        stage.on_tick(&tick, &mut signals);
        c.dispatched += u64::from(stage.is_traded(tick.instrument));
        let end = if stamp != 0 {
            let end = timer.stamp();
            latency.record(Stage::Strategy, timer.elapsed_ns(start, end));
            end
        } else {
            0
        };
        tx.send(ToRisk::Tick(tick, end));
        for signal in &signals {
            tx.send(ToRisk::Signal(*signal, start));
            c.signals += 1;
            audit(audit_tx, AuditEvent::Signal(*signal), t);
        }
        if c.events.is_multiple_of(PUBLISH_EVERY) {
            c.publish(t, &mut stage, &tx, &mut latency);
        }
    }
    c.publish(t, &mut stage, &tx, &mut latency);
    t.take_back_latency(LatencySlot::Strategy, &mut latency);
    stage.take_back_inference(t);
    (latency, tx.full, stage.ml_stats())
}

/// The risk thread's published counters.
#[derive(Default)]
struct RiskCounters {
    events: u64,
    fills_received: u64,
    generation: u64,
}

impl RiskCounters {
    fn publish(
        &mut self,
        t: &Telemetry,
        stage: &RiskStage,
        out: &Outbox<'_, ToExecution>,
        latency: &mut LatencyRecorder,
    ) {
        t.stage_events[StageName::Risk as usize].set(self.events);
        t.ring_received[Ring::StrategyToRisk as usize].set(self.events);
        t.ring_received[Ring::ExecutionToRisk as usize].set(self.fills_received);
        out.publish();
        stage.publish(t);
        let generation = t.snapshot_generation();
        if generation != self.generation && t.hand_off_latency(LatencySlot::Risk, latency) {
            self.generation = generation;
        }
    }
}

/// The canary's state in the risk thread: a copy of the risk state it is checked against.
struct RiskCanary {
    dry: RiskEngine,
    counts: CanaryCounts,
}

#[allow(clippy::too_many_arguments)]
#[allow(
    clippy::while_let_loop,
    reason = "the idle closure borrows the stage; a while-let scrutinee would hold that borrow through the body"
)]
fn risk_loop(
    mut stage: RiskStage,
    rx: Receiver<ToRisk>,
    tx: Sender<ToExecution>,
    fills: Receiver<Fill>,
    processed: &AtomicU64,
    policy: WaitPolicy,
    timer: LatencyTimer,
    t: &Telemetry,
    audit_tx: Option<&Sender<AuditEvent>>,
) -> (RiskStage, LatencyRecorder, u64) {
    let mut latency = LatencyRecorder::default();
    let (mut in_wait, mut sync_wait) = (Waiter::new(policy), Waiter::new(policy));
    let mut tx = Outbox::new(tx, policy, Ring::RiskToExecution, t);
    let mut c = RiskCounters::default();
    let mut orders = Vec::with_capacity(16);
    let mut canary: Option<RiskCanary> = None;
    let mut refused = Vec::new();
    // Applies every fill caused by what risk has sent so far.
    // A dead execution thread will never catch up: stop waiting once the run is aborted.
    let sync = |stage: &mut RiskStage, sent: u64, received: &mut u64, waiter: &mut Waiter| {
        while processed.load(Ordering::Acquire) < sent && !t.aborted.load(Ordering::Relaxed) {
            *received += drain_fills(stage, &fills);
            waiter.wait();
        }
        waiter.reset();
        *received += drain_fills(stage, &fills);
    };
    loop {
        let Some(msg) = recv(&rx, &mut in_wait, &mut || {
            c.publish(t, &stage, &tx, &mut latency);
        }) else {
            break;
        };
        c.events += 1;
        match msg {
            ToRisk::Tick(tick, stamp) => {
                if stage.engine.needs_fills_before(&tick) {
                    sync(&mut stage, tx.sent, &mut c.fills_received, &mut sync_wait);
                }
                if stamp != 0 {
                    latency.record(
                        Stage::StrategyToRisk,
                        timer.elapsed_ns(stamp, timer.stamp()),
                    );
                }
                stage.on_tick(&tick);
                let out_stamp = if stamp != 0 { timer.stamp() } else { 0 };
                let mut drained = 0;
                tx.send_or(ToExecution::Tick(tick, out_stamp), || {
                    drained += drain_fills(&mut stage, &fills)
                });
                c.fills_received += drained;
            }
            ToRisk::Signal(signal, tick_start) => {
                sync(&mut stage, tx.sent, &mut c.fills_received, &mut sync_wait);
                orders.clear();
                let risk_start = timer.stamp();
                stage.on_signal(&signal, &mut orders);
                latency.record(Stage::Risk, timer.elapsed_ns(risk_start, timer.stamp()));
                for &(order, reason) in &stage.last_rejections {
                    audit(audit_tx, AuditEvent::Reject(order, reason), t);
                }
                for order in &orders {
                    let mut drained = 0;
                    tx.send_or(ToExecution::Order(*order, tick_start), || {
                        drained += drain_fills(&mut stage, &fills)
                    });
                    c.fills_received += drained;
                }
            }
            ToRisk::CanaryStart(tick) => {
                let mut dry = stage.engine.clone();
                dry.on_tick(&tick);
                canary = Some(RiskCanary {
                    dry,
                    counts: CanaryCounts::default(),
                });
            }
            ToRisk::CanarySignal(signal) => {
                if let Some(canary) = &mut canary {
                    orders.clear();
                    refused.clear();
                    stage.canary_orders(&mut canary.dry, &signal, &mut orders, &mut refused);
                    canary.counts.checked += (orders.len() + refused.len()) as u32;
                    canary.counts.approved += orders.len() as u32;
                    if canary.counts.refused.is_none() {
                        canary.counts.refused = refused.first().copied();
                    }
                    for _ in &orders {
                        tx.send(ToExecution::CanaryOrder);
                    }
                }
            }
            ToRisk::CanaryEnd(stamp) => {
                let mut counts = canary.take().map(|c| c.counts).unwrap_or_default();
                counts.stamp = stamp;
                tx.send(ToExecution::CanaryEnd(counts));
            }
        }
        if c.events.is_multiple_of(PUBLISH_EVERY) {
            c.publish(t, &stage, &tx, &mut latency);
        }
    }
    // Fills of the last orders, so risk's final state matches inline.
    sync(&mut stage, tx.sent, &mut c.fills_received, &mut sync_wait);
    c.publish(t, &stage, &tx, &mut latency);
    t.take_back_latency(LatencySlot::Risk, &mut latency);
    (stage, latency, tx.full)
}

/// Applies every fill execution has sent back so far; returns how many.
#[inline]
fn drain_fills(stage: &mut RiskStage, fills: &Receiver<Fill>) -> u64 {
    let mut n = 0;
    while let Ok(fill) = fills.try_recv() {
        stage.engine.on_fill(&fill);
        n += 1;
    }
    n
}

/// The execution thread's published counters.
struct ExecutionCounters {
    events: u64,
    generation: u64,
    pnl_generation: u64,
    pnl: super::PnlBuffer,
}

impl ExecutionCounters {
    fn publish(
        &mut self,
        t: &Telemetry,
        stage: &ExecutionStage,
        out: &Outbox<'_, Fill>,
        latency: &mut LatencyRecorder,
    ) {
        t.stage_events[StageName::Execution as usize].set(self.events);
        t.ring_received[Ring::RiskToExecution as usize].set(self.events);
        out.publish();
        stage.publish(t, &mut self.pnl, &mut self.pnl_generation);
        let generation = t.snapshot_generation();
        if generation != self.generation && t.hand_off_latency(LatencySlot::Execution, latency) {
            self.generation = generation;
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[allow(
    clippy::while_let_loop,
    reason = "the idle closure borrows the stage; a while-let scrutinee would hold that borrow through the body"
)]
fn execution_loop(
    mut stage: ExecutionStage,
    rx: Receiver<ToExecution>,
    tx: Sender<Fill>,
    canary_tx: Sender<CanaryCounts>,
    processed: &AtomicU64,
    policy: WaitPolicy,
    timer: LatencyTimer,
    t: &Telemetry,
    audit_tx: Option<&Sender<AuditEvent>>,
    pnl: super::PnlBuffer,
) -> (ExecutionStage, LatencyRecorder, u64) {
    let mut latency = LatencyRecorder::default();
    let mut in_wait = Waiter::new(policy);
    let mut tx = Outbox::new(tx, policy, Ring::ExecutionToRisk, t);
    let mut c = ExecutionCounters {
        events: 0,
        generation: 0,
        pnl_generation: 0,
        pnl,
    };
    let mut fills = Vec::with_capacity(1024);
    let mut current: Vec<Tick> = vec![Tick::default(); stage.instrument_count()];
    let mut canary_acked = 0u32;
    loop {
        let Some(msg) = recv(&rx, &mut in_wait, &mut || {
            c.publish(t, &stage, &tx, &mut latency);
        }) else {
            break;
        };
        c.events += 1;
        fills.clear();
        match msg {
            ToExecution::Tick(tick, stamp) => {
                if stamp != 0 {
                    latency.record(
                        Stage::RiskToExecution,
                        timer.elapsed_ns(stamp, timer.stamp()),
                    );
                }
                current[tick.instrument.index()] = tick;
                stage.on_tick(&tick, &mut fills);
            }
            ToExecution::Order(order, tick_start) => {
                let start = timer.stamp();
                stage.on_order(order, &current[order.instrument.index()], &mut fills);
                let end = timer.stamp();
                latency.record(Stage::Execution, timer.elapsed_ns(start, end));
                if tick_start != 0 {
                    latency.record(Stage::TickToOrder, timer.elapsed_ns(tick_start, end));
                }
                audit(audit_tx, AuditEvent::Order(order), t);
            }
            // The null venue: acknowledges, never fills, books nothing.
            ToExecution::CanaryOrder => canary_acked += 1,
            ToExecution::CanaryEnd(mut counts) => {
                counts.acked = canary_acked;
                counts.latency_ns = timer.elapsed_ns(counts.stamp, timer.stamp());
                canary_acked = 0;
                let _ = canary_tx.try_send(counts);
            }
        }
        for fill in &fills {
            tx.send(*fill);
            audit(audit_tx, AuditEvent::Fill(*fill), t);
        }
        processed.store(c.events, Ordering::Release);
        if c.events.is_multiple_of(PUBLISH_EVERY) {
            c.publish(t, &stage, &tx, &mut latency);
        }
    }
    c.publish(t, &stage, &tx, &mut latency);
    t.take_back_latency(LatencySlot::Execution, &mut latency);
    (stage, latency, tx.full)
}
