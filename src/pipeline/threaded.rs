//! Threaded runtime: feed, strategy, risk and execution each on their own thread, joined by
//! bounded crossbeam rings used only with `try_send`/`try_recv` and our own wait policy
//! (a blocked crossbeam side parks, and waking it takes a lock).
//!
//! Same results as inline: ticks and signals travel in order through one ring per hop, and
//! before risk decides anything that depends on fills (a signal, a new UTC day) it waits
//! until execution has handled every message risk sent and applies the fills that came
//! back. Signals are rare, so ticks still flow pipelined.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError, bounded};

use super::{
    Engine, EngineLayout, ExecutionStage, RiskStage, RunOutcome, StrategyStage, TickSource,
};
use crate::clock::{LatencyTimer, Stopwatch};
use crate::config::WaitPolicy;
use crate::domain::{Fill, Order, Signal, Tick};
use crate::metrics::{LatencyRecorder, Stage};

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

/// Sends, waiting while the ring is full; counts full events. `on_full` runs while waiting
/// (risk drains returning fills there, so two stages never wait on each other).
#[inline]
fn send<T>(
    tx: &Sender<T>,
    mut msg: T,
    waiter: &mut Waiter,
    full: &mut u64,
    mut on_full: impl FnMut(),
) {
    loop {
        match tx.try_send(msg) {
            Ok(()) => {
                waiter.reset();
                return;
            }
            Err(TrySendError::Full(back)) => {
                *full += 1;
                msg = back;
                on_full();
                waiter.wait();
            }
            // The consumer is gone only after a panic there; join reports it.
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

/// Receives, waiting while the ring is empty; `None` when the producer is gone.
#[inline]
fn recv<T>(rx: &Receiver<T>, waiter: &mut Waiter) -> Option<T> {
    loop {
        match rx.try_recv() {
            Ok(msg) => {
                waiter.reset();
                return Some(msg);
            }
            Err(TryRecvError::Empty) => waiter.wait(),
            Err(TryRecvError::Disconnected) => return None,
        }
    }
}

/// Strategy → risk. `stamp` is the latency-timer stamp of the send (0 = not sampled).
#[derive(Clone, Copy, Debug)]
enum ToRisk {
    Tick(Tick, u64),
    Signal(Signal, u64),
}

/// Risk → execution. The `u64` is the stamp the tick was taken in by the strategy stage.
#[derive(Clone, Copy, Debug)]
enum ToExecution {
    Tick(Tick, u64),
    Order(Order, u64),
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
    let Engine {
        layout,
        config,
        strategy,
        risk,
        execution,
    } = engine;
    let capacity = config.runtime.ring_capacity;
    let policy = config.runtime.wait;
    let sample_every = config.runtime.latency_sample_every.max(1);
    let (tick_tx, tick_rx) = bounded::<(Tick, u64)>(capacity);
    let (risk_tx, risk_rx) = bounded::<ToRisk>(capacity);
    let (exec_tx, exec_rx) = bounded::<ToExecution>(capacity);
    let (fill_tx, fill_rx) = bounded::<Fill>(capacity);
    let processed = Arc::new(AtomicU64::new(0));
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

    let result = std::thread::scope(|scope| {
        let strategy_thread =
            scope.spawn(move || strategy_loop(strategy, tick_rx, risk_tx, policy, strategy_timer));
        let processed_by_risk = Arc::clone(&processed);
        let risk_thread = scope.spawn(move || {
            risk_loop(
                risk,
                risk_rx,
                exec_tx,
                fill_rx,
                &processed_by_risk,
                policy,
                risk_timer,
            )
        });
        let execution_thread = scope.spawn(move || {
            execution_loop(
                execution,
                exec_rx,
                fill_tx,
                &processed,
                policy,
                execution_timer,
            )
        });

        // The feed runs on the calling thread: the source need not move.
        let mut waiter = Waiter::new(policy);
        let mut chunk = Vec::with_capacity(super::inline::CHUNK);
        let mut feed_full = 0u64;
        let mut load = std::time::Duration::ZERO;
        let mut seq = 0u64;
        let mut feed_error = None;
        loop {
            let watch = Stopwatch::start();
            let read = source.read_chunk(&mut chunk, super::inline::CHUNK);
            load += watch.elapsed();
            match read {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    feed_error = Some(e);
                    break;
                }
            }
            for tick in &mut chunk {
                tick.seq = seq;
                let stamp = if seq.is_multiple_of(sample_every) {
                    timer.stamp()
                } else {
                    0
                };
                send(&tick_tx, (*tick, stamp), &mut waiter, &mut feed_full, || {});
                seq += 1;
            }
            let (done, total) = source.progress();
            progress(done, total);
        }
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

fn strategy_loop(
    mut stage: StrategyStage,
    rx: Receiver<(Tick, u64)>,
    tx: Sender<ToRisk>,
    policy: WaitPolicy,
    timer: LatencyTimer,
) -> (LatencyRecorder, u64, Vec<super::MlRunStats>) {
    let mut latency = LatencyRecorder::default();
    let (mut in_wait, mut out_wait) = (Waiter::new(policy), Waiter::new(policy));
    let mut full = 0u64;
    let mut signals = Vec::with_capacity(stage.max_fan_out().max(1));
    while let Some((tick, stamp)) = recv(&rx, &mut in_wait) {
        let start = if stamp != 0 {
            let now = timer.stamp();
            latency.record(Stage::FeedToStrategy, timer.elapsed_ns(stamp, now));
            now
        } else {
            0
        };
        signals.clear();
        stage.on_tick(&tick, &mut signals);
        let end = if stamp != 0 {
            let end = timer.stamp();
            latency.record(Stage::Strategy, timer.elapsed_ns(start, end));
            end
        } else {
            0
        };
        send(
            &tx,
            ToRisk::Tick(tick, end),
            &mut out_wait,
            &mut full,
            || {},
        );
        for signal in &signals {
            send(
                &tx,
                ToRisk::Signal(*signal, start),
                &mut out_wait,
                &mut full,
                || {},
            );
        }
    }
    (latency, full, stage.ml_stats())
}

fn risk_loop(
    mut stage: RiskStage,
    rx: Receiver<ToRisk>,
    tx: Sender<ToExecution>,
    fills: Receiver<Fill>,
    processed: &AtomicU64,
    policy: WaitPolicy,
    timer: LatencyTimer,
) -> (RiskStage, LatencyRecorder, u64) {
    let mut latency = LatencyRecorder::default();
    let (mut in_wait, mut out_wait, mut sync_wait) = (
        Waiter::new(policy),
        Waiter::new(policy),
        Waiter::new(policy),
    );
    let mut full = 0u64;
    let mut sent = 0u64;
    let mut orders = Vec::with_capacity(16);
    // Applies every fill caused by what risk has sent so far.
    let sync = |stage: &mut RiskStage, sent: u64, waiter: &mut Waiter| {
        while processed.load(Ordering::Acquire) < sent {
            drain_fills(stage, &fills);
            waiter.wait();
        }
        waiter.reset();
        drain_fills(stage, &fills);
    };
    while let Some(msg) = recv(&rx, &mut in_wait) {
        match msg {
            ToRisk::Tick(tick, stamp) => {
                if stage.engine.needs_fills_before(&tick) {
                    sync(&mut stage, sent, &mut sync_wait);
                }
                if stamp != 0 {
                    latency.record(
                        Stage::StrategyToRisk,
                        timer.elapsed_ns(stamp, timer.stamp()),
                    );
                }
                stage.on_tick(&tick);
                let out_stamp = if stamp != 0 { timer.stamp() } else { 0 };
                send(
                    &tx,
                    ToExecution::Tick(tick, out_stamp),
                    &mut out_wait,
                    &mut full,
                    || drain_fills(&mut stage, &fills),
                );
                sent += 1;
            }
            ToRisk::Signal(signal, tick_start) => {
                sync(&mut stage, sent, &mut sync_wait);
                orders.clear();
                let risk_start = timer.stamp();
                stage.on_signal(&signal, &mut orders);
                latency.record(Stage::Risk, timer.elapsed_ns(risk_start, timer.stamp()));
                for order in &orders {
                    send(
                        &tx,
                        ToExecution::Order(*order, tick_start),
                        &mut out_wait,
                        &mut full,
                        || drain_fills(&mut stage, &fills),
                    );
                    sent += 1;
                }
            }
        }
    }
    drop(tx);
    // Fills of the last orders, so risk's final state matches inline.
    sync(&mut stage, sent, &mut sync_wait);
    (stage, latency, full)
}

/// Applies every fill execution has sent back so far.
#[inline]
fn drain_fills(stage: &mut RiskStage, fills: &Receiver<Fill>) {
    while let Ok(fill) = fills.try_recv() {
        stage.engine.on_fill(&fill);
    }
}

fn execution_loop(
    mut stage: ExecutionStage,
    rx: Receiver<ToExecution>,
    tx: Sender<Fill>,
    processed: &AtomicU64,
    policy: WaitPolicy,
    timer: LatencyTimer,
) -> (ExecutionStage, LatencyRecorder, u64) {
    let mut latency = LatencyRecorder::default();
    let (mut in_wait, mut out_wait) = (Waiter::new(policy), Waiter::new(policy));
    let mut full = 0u64;
    let mut fills = Vec::with_capacity(1024);
    let mut current: Vec<Tick> = vec![Tick::default(); stage.instrument_count()];
    let mut count = 0u64;
    while let Some(msg) = recv(&rx, &mut in_wait) {
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
            }
        }
        for fill in &fills {
            send(&tx, *fill, &mut out_wait, &mut full, || {});
        }
        count += 1;
        processed.store(count, Ordering::Release);
    }
    (stage, latency, full)
}
