//! Threaded runtime: the feed on the calling thread, then the strategy stage (with the
//! portfolio), risk and execution each on their own thread, joined by bounded rings used only
//! with `try_send`/`try_recv` and our own wait policy. Each stage thread runs the generic
//! stage loop over its worker (`workers`); the delivery rule and the barrier that keeps it
//! are described there and in `runtime`.
//!
//! Observability: each stage publishes its counters every `PUBLISH_EVERY` messages and
//! whenever its input ring runs empty, and hands its latency histograms off when an observer
//! asked; audit events leave as `Copy` values over a ring. A live run sends a canary tick
//! through every stage before the first real tick (`canary`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::{Sender, bounded};

use super::RunProgress;
use super::canary::{self, CANARY_LOOKAHEAD};
use super::config::WaitPolicy;
use super::control::RunControl;
use super::layout::PnlBuffer;
use super::message::{AuditEvent, CanaryCounts, ToExecution, ToRisk, ToStrategy};
use super::ring::Outbox;
use super::workers::{ExecutionWorker, Progress, RiskWorker, Shared, StrategyWorker};
use super::{Engine, EngineLayout, RunError, RunOutcome, TickSource, stage_loop};
use crate::clock::{LatencyTimer, Stopwatch};
use crate::domain::{OrderEvent, Tick};
use crate::metrics::telemetry::{FeedState, PUBLISH_EVERY, Ring, StageName};

/// Threads of this runtime: feed, strategy, risk, execution.
pub const STAGE_THREADS: usize = 4;

/// What a live run adds to a threaded run.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// Where stage threads send audit events; `None` = no audit log.
    pub audit: Option<Sender<AuditEvent>>,
    /// Send a canary tick through every stage before trading, and trade only if it passes.
    pub canary: bool,
    /// Journal ticks (feed) and orders and events (execution); ticks `0..replayed` came
    /// from the journal and are not journaled again.
    pub journal: Option<crate::journal::JournalLink>,
    /// The engine was restored from a checkpoint taken after this many ticks; the source
    /// holds the ticks after them.
    pub from: u64,
    /// Take a checkpoint every this many ticks (at the first chunk boundary past each
    /// multiple) and send it here.
    pub checkpoints: Option<(u64, Sender<super::checkpoint::Taken>)>,
}

/// Runs the engine with one thread per stage.
///
/// # Errors
/// See `RunError`.
pub fn run(
    engine: Engine,
    source: &mut (dyn TickSource + Send),
    progress: &mut dyn FnMut(RunProgress),
) -> Result<(EngineLayout, RunOutcome), RunError> {
    run_with(
        engine,
        source,
        progress,
        &RunOptions::default(),
        &RunControl::default(),
    )
}

/// `run` with a live run's extras (audit events, the canary) and its run control.
///
/// # Errors
/// See `RunError`.
#[allow(
    clippy::too_many_lines,
    reason = "the feed loop and the thread scope read best in one piece"
)]
pub fn run_with(
    engine: Engine,
    source: &mut (dyn TickSource + Send),
    progress: &mut dyn FnMut(RunProgress),
    options: &RunOptions,
    control: &RunControl,
) -> Result<(EngineLayout, RunOutcome), RunError> {
    let Engine {
        layout,
        config,
        telemetry,
        market,
        strategy,
        portfolio,
        risk,
        execution,
    } = engine;
    // Each stage thread keeps its own view of the market, fed the same ticks.
    let (risk_market, execution_market) = (market.clone(), market.clone());
    let capacity = config.runtime.ring_capacity;
    let policy = config.runtime.wait;
    let pins = config.runtime.pin;
    let sample_every = config.runtime.sample_every();
    let (tick_tx, tick_rx) = bounded::<ToStrategy>(capacity);
    let (risk_tx, risk_rx) = bounded::<ToRisk>(capacity);
    let (exec_tx, exec_rx) = bounded::<ToExecution>(capacity);
    let (to_risk_tx, to_risk_rx) = bounded::<OrderEvent>(capacity);
    let (to_strategy_tx, to_strategy_rx) = bounded::<OrderEvent>(capacity);
    let (canary_tx, canary_rx) = bounded::<CanaryCounts>(1);
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
    let mut subscribed = vec![false; layout.instruments.len()];
    for s in &layout.strategies {
        for i in &s.instruments {
            subscribed[i.index()] = true;
        }
    }
    let pnl = PnlBuffer::new(&layout);
    let t = &*telemetry;
    let progress_counters = Progress::default();
    let cut = options
        .checkpoints
        .as_ref()
        .map(|(_, sink)| super::checkpoint::Cut::new(sink.clone()));
    let checkpoint_every = options.checkpoints.as_ref().map_or(0, |(every, _)| *every);
    let shared = Shared {
        t,
        control,
        progress: &progress_counters,
        timer: &timer,
        audit: options.audit.as_ref(),
        cut: cut.as_ref(),
    };

    let execution_journal = options.journal.clone();
    let feed_journal = options.journal.as_ref();
    let replay_end = feed_journal.map_or(0, |j| j.replayed);
    let result = std::thread::scope(|scope| {
        let strategy_thread = scope.spawn(move || {
            let _abort = stage_loop::start(control, StageName::Strategy, pins.strategy);
            let out = Outbox::new(risk_tx, policy, Ring::StrategyToRisk, t, control);
            let mut worker = StrategyWorker::new(
                strategy,
                portfolio,
                market,
                out,
                to_strategy_rx,
                pnl,
                shared,
            );
            stage_loop::run(&mut worker, &tick_rx, policy);
            worker.finish()
        });
        let risk_thread = scope.spawn(move || {
            let _abort = stage_loop::start(control, StageName::Risk, pins.risk);
            let out = Outbox::new(exec_tx, policy, Ring::RiskToExecution, t, control);
            let mut worker = RiskWorker::new(risk, risk_market, out, to_risk_rx, shared);
            stage_loop::run(&mut worker, &risk_rx, policy);
            worker.finish()
        });
        let execution_thread = scope.spawn(move || {
            let _abort = stage_loop::start(control, StageName::Execution, pins.execution);
            let to_risk = Outbox::new(to_risk_tx, policy, Ring::ExecutionToRisk, t, control);
            let to_strategy = Outbox::new(
                to_strategy_tx,
                policy,
                Ring::ExecutionToStrategy,
                t,
                control,
            );
            let mut worker = ExecutionWorker::new(
                execution,
                execution_market,
                to_risk,
                to_strategy,
                canary_tx,
                shared,
            )
            .with_journal(execution_journal);
            stage_loop::run(&mut worker, &exec_rx, policy);
            worker.finish()
        });

        // The feed runs on the calling thread: the source need not move.
        stage_loop::pin(pins.feed, "feed");
        let mut tick_tx = Outbox::new(tick_tx, policy, Ring::FeedToStrategy, t, control);
        let mut chunk = Vec::with_capacity(super::inline::CHUNK);
        let mut load = Duration::ZERO;
        let mut seq = options.from;
        let mut next_checkpoint = options.from.saturating_add(checkpoint_every);
        if seq > 0 && seq == replay_end {
            // Restored from a checkpoint at the journal's last tick: nothing to replay.
            tracing::info!(target: "app", ticks = seq, seconds = wall.elapsed().as_secs_f64(), "journal replayed: state recovered; the feed resumes");
        }
        let mut ticks_by_class = [0u64; 3];
        let mut feed_error = None;
        let mut canary_pending = options.canary;
        if !options.canary {
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
                let found = chunk.iter().any(|tick| canary::usable(tick, &subscribed));
                if !found && !at_end && held.len() < CANARY_LOOKAHEAD {
                    held.extend_from_slice(&chunk);
                    continue;
                }
                if control.stop_requested() || (at_end && held.is_empty() && chunk.is_empty()) {
                    // Stopped (or out of data) before a tick to check with: the canary did not
                    // run, which is not a failure; nothing was traded.
                    t.shutting_down.store(true, Ordering::Release);
                    break 'feed;
                }
                canary_pending = false;
                held.extend_from_slice(&chunk);
                std::mem::swap(&mut held, &mut chunk);
                let pick = chunk
                    .iter()
                    .find(|tick| canary::usable(tick, &subscribed))
                    .or(chunk.first())
                    .copied()
                    .unwrap_or_default();
                canary::wait_for_stage_threads(control);
                let stamp = timer.stamp().max(1);
                tick_tx.send(ToStrategy::Canary(pick, stamp));
                let result = canary::result(canary::wait(&canary_rx), &layout, &pick);
                if result.passed {
                    tracing::info!(target: "app", latency_us = result.latency_ns as f64 / 1e3, instrument = %result.instrument, checked = result.checked, approved = result.approved, "canary passed; trading enabled");
                } else {
                    tracing::error!(target: "app", detail = %result.detail, "canary failed; trading stays disabled until restart");
                }
                let passed = result.passed;
                *t.canary.lock() = Some(result);
                if !passed {
                    // Stay up, not ready, so health shows why, until asked to stop.
                    while !control.stop_requested() {
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
                if let Some(journal) = feed_journal {
                    journal.tick(tick);
                }
                tick_tx.send(ToStrategy::Tick(*tick, stamp));
                seq += 1;
                if seq == replay_end {
                    tracing::info!(target: "app", ticks = seq, seconds = wall.elapsed().as_secs_f64(), "journal replayed: state recovered; the feed resumes");
                }
                if seq.is_multiple_of(PUBLISH_EVERY) {
                    publish(&tick_tx, seq, &ticks_by_class);
                }
            }
            publish(&tick_tx, seq, &ticks_by_class);
            if checkpoint_every > 0 && seq >= next_checkpoint && seq >= replay_end {
                tick_tx.send(ToStrategy::Checkpoint(seq));
                next_checkpoint = seq.saturating_add(checkpoint_every);
            }
            let (done, total) = source.progress();
            progress(RunProgress {
                done,
                total,
                ticks: seq,
            });
            if at_end || control.aborted() {
                break;
            }
        }
        publish(&tick_tx, seq, &ticks_by_class);
        let feed_full = tick_tx.full;
        drop(tick_tx);
        let wait = source.waited();
        let load = (load.saturating_sub(wait), wait);
        let strategy_out = strategy_thread.join();
        let risk_out = risk_thread.join();
        let execution_out = execution_thread.join();
        match (strategy_out, risk_out, execution_out) {
            (Ok(s), Ok(r), Ok(e)) => Ok((seq, load, feed_full, feed_error, s, r, e)),
            (Err(_), _, _) => Err(RunError::StagePanicked { stage: "strategy" }),
            (_, Err(_), _) => Err(RunError::StagePanicked { stage: "risk" }),
            (_, _, Err(_)) => Err(RunError::StagePanicked { stage: "execution" }),
        }
    });
    if telemetry.feed_state() != FeedState::Ended || telemetry.shutting_down.load(Ordering::Acquire)
    {
        telemetry.set_feed_state(FeedState::Stopped);
    }
    let (ticks, load, feed_full, feed_error, strategy_out, risk_out, execution_out) = result?;
    let (mut strategy, portfolio, strategy_latency, strategy_full) = strategy_out;
    let (risk, risk_latency, risk_full) = risk_out;
    let (_, execution_latency, to_risk_full, to_strategy_full) = execution_out;
    let mut latency = strategy_latency;
    latency.merge(&risk_latency);
    latency.merge(&execution_latency);
    let mut outcome = RunOutcome::from_stages(ticks, &mut strategy, portfolio, &risk, latency);
    let (load, wait) = load;
    outcome.load = load;
    outcome.wait = wait;
    outcome.run = wall.elapsed().saturating_sub(load + wait);
    outcome.ring_full = vec![
        ("feed_to_strategy", feed_full),
        ("strategy_to_risk", strategy_full),
        ("risk_to_execution", risk_full),
        ("execution_to_risk", to_risk_full),
        ("execution_to_strategy", to_strategy_full),
    ];
    match feed_error {
        Some(error) => Err(RunError::Input {
            error,
            partial: Box::new((layout, outcome)),
        }),
        None => Ok((layout, outcome)),
    }
}
