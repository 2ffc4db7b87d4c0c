//! Inline runtime: one thread calls the stages in order for each tick. Deterministic and the
//! lowest tick-to-order latency when everything fits one core; the default for backtests.
//!
//! Per tick (see the delivery rule in `runtime`): the market takes the tick, risk sees it
//! (marks, day roll), the venues see it and answer with events (resting orders executing),
//! the portfolio marks,
//! the events are booked and delivered, then the strategies of the instrument run. Their
//! requests are checked and sent one by one, each venue answer applied to risk before the
//! next request is checked; the answers are then booked and delivered, and the requests
//! they cause go round again until none is left.
//!
//! Counters are published to the engine's `Telemetry` once per chunk while something
//! observes it (`backtest --metrics`); buffered fills move to the fill log between chunks.

use super::layout::PnlBuffer;
use super::{Engine, EngineLayout, RunError, RunOutcome, RunProgress, TickSource, publish};
use crate::clock::{LatencyTimer, Stopwatch};
use crate::domain::{Market, OrderEvent, OrderRequest, RequestKind, Tick};
use crate::metrics::telemetry::{FeedState, LatencySlot, StageName};
use crate::metrics::{LatencyRecorder, Stage};
use crate::portfolio::Portfolio;
use crate::risk::{Decision, RiskStage};
use crate::strategy::StrategyStage;
use crate::strategy::stage::Views;

/// Ticks per chunk read from the source: big enough to amortise the read call, small enough
/// to stay in cache.
pub const CHUNK: usize = 4096;

/// Reusable per-tick buffers, allocated once.
#[derive(Debug)]
pub struct InlineBuffers {
    requests: Vec<OrderRequest>,
    /// Requests of the round being sent (swapped with `requests`).
    sending: Vec<OrderRequest>,
    events: Vec<OrderEvent>,
}

impl InlineBuffers {
    pub fn new(engine: &Engine) -> InlineBuffers {
        let fan_out = engine.strategy.max_fan_out().max(1);
        InlineBuffers {
            requests: Vec::with_capacity(64 * fan_out),
            sending: Vec::with_capacity(64 * fan_out),
            events: Vec::with_capacity(1024),
        }
    }
}

/// Processes one tick through every stage. `seq` numbers the tick; `sampled` times the
/// tick's strategy dispatch and its tick-to-order latency (risk and execution are timed on
/// every request).
#[inline]
pub fn process_tick(
    engine: &mut Engine,
    tick: &mut Tick,
    seq: u64,
    buffers: &mut InlineBuffers,
    timer: &LatencyTimer,
    latency: &mut LatencyRecorder,
    sampled: bool,
) {
    tick.seq = seq;
    let start = if sampled { timer.stamp() } else { 0 };
    let Engine {
        market,
        strategy,
        portfolio,
        risk,
        execution,
        ..
    } = engine;
    market.on_tick(tick);
    risk.on_tick(tick);
    buffers.events.clear();
    execution.on_tick(tick, &mut buffers.events);
    for event in &buffers.events {
        risk.on_event(event);
    }
    portfolio.on_tick(tick);
    strategy.advance(tick);
    buffers.requests.clear();
    deliver(
        &buffers.events,
        market,
        strategy,
        portfolio,
        &mut buffers.requests,
    );
    let views = Views { market, portfolio };
    strategy.on_tick(tick, views, &mut buffers.requests);
    let mut stamp = start;
    if sampled {
        stamp = timer.stamp();
        latency.record(Stage::Strategy, timer.elapsed_ns(start, stamp));
    }
    while !buffers.requests.is_empty() {
        std::mem::swap(&mut buffers.requests, &mut buffers.sending);
        buffers.events.clear();
        for request in &buffers.sending {
            stamp = send(
                request,
                market,
                risk,
                execution,
                &mut buffers.events,
                timer,
                latency,
                sampled.then_some(start),
                stamp,
            );
        }
        buffers.sending.clear();
        deliver(
            &buffers.events,
            market,
            strategy,
            portfolio,
            &mut buffers.requests,
        );
        // The next round's first risk check starts after the delivery, not before it.
        stamp = 0;
    }
}

/// One request through risk and, if it passes, the venue; the venue's answers are applied to
/// risk at once, so the next request is checked against them. Returns the last stamp taken.
#[allow(
    clippy::too_many_arguments,
    reason = "the stages and the timing of one hop"
)]
#[inline]
fn send(
    request: &OrderRequest,
    market: &Market,
    risk: &mut RiskStage,
    execution: &mut crate::execution::ExecutionStage,
    events: &mut Vec<OrderEvent>,
    timer: &LatencyTimer,
    latency: &mut LatencyRecorder,
    tick_start: Option<u64>,
    stamp: u64,
) -> u64 {
    let risk_start = if stamp == 0 { timer.stamp() } else { stamp };
    let decision = risk.on_request(request, market);
    let risk_end = timer.stamp();
    latency.record(Stage::Risk, timer.elapsed_ns(risk_start, risk_end));
    match decision {
        Decision::Pass => {
            let from = events.len();
            execution.on_request(request, market, events);
            let exec_end = timer.stamp();
            latency.record(Stage::Execution, timer.elapsed_ns(risk_end, exec_end));
            if let (Some(start), RequestKind::New { .. }) = (tick_start, request.kind) {
                latency.record(Stage::TickToOrder, timer.elapsed_ns(start, exec_end));
            }
            for event in &events[from..] {
                risk.on_event(event);
            }
            exec_end
        }
        Decision::Refuse(event) => {
            events.push(event);
            risk_end
        }
    }
}

/// Books events in the portfolio and delivers them to their strategies.
#[inline]
fn deliver(
    events: &[OrderEvent],
    market: &Market,
    strategy: &mut StrategyStage,
    portfolio: &mut Portfolio,
    requests: &mut Vec<OrderRequest>,
) {
    for event in events {
        portfolio.on_event(event);
        strategy.on_event(event, Views { market, portfolio }, requests);
    }
}

/// Runs the whole source through the engine on this thread.
///
/// # Errors
/// The source's first error (`RunError::Input`, with the results of every tick before it).
pub fn run(
    engine: Engine,
    source: &mut (dyn TickSource + Send),
    progress: &mut dyn FnMut(RunProgress),
) -> Result<(EngineLayout, RunOutcome), RunError> {
    run_from(engine, source, progress, 0, &mut |_, _| {})
}

/// [`run`] for an engine restored from a checkpoint taken after `from` ticks (the source
/// holds the ticks after them), calling `between(ticks so far, engine)` at every chunk
/// boundary, where the engine is between two ticks and a checkpoint may be taken.
///
/// # Errors
/// As [`run`].
pub fn run_from(
    mut engine: Engine,
    source: &mut (dyn TickSource + Send),
    progress: &mut dyn FnMut(RunProgress),
    from: u64,
    between: &mut dyn FnMut(u64, &Engine),
) -> Result<(EngineLayout, RunOutcome), RunError> {
    let timer = LatencyTimer::default();
    let mut latency = LatencyRecorder::default();
    let mut buffers = InlineBuffers::new(&engine);
    let mut chunk = Vec::with_capacity(CHUNK);
    let sample_every = engine.config.runtime.sample_every();
    let (mut load, mut run) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    let mut seq = from;
    let batched = engine.strategy.has_batched();
    let telemetry = std::sync::Arc::clone(&engine.telemetry);
    let (mut ticks_by_class, mut dispatched) = ([0u64; 3], 0u64);
    let mut pnl = PnlBuffer::new(&engine.layout);
    let (mut pnl_published, mut latency_published, mut errors_counted) = (0u64, 0u64, 0u64);
    telemetry.set_feed_state(FeedState::Live);
    let mut error = None;
    loop {
        let watch = Stopwatch::start();
        let read = source.read_chunk(&mut chunk, CHUNK);
        load += watch.elapsed();
        let n = match read {
            Ok(n) => n,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        if n == 0 {
            break;
        }
        let watch = Stopwatch::start();
        if batched {
            for (i, tick) in chunk.iter_mut().enumerate() {
                tick.seq = seq + i as u64;
            }
            engine.strategy.prepare_chunk(&chunk);
        }
        for tick in chunk.iter_mut() {
            process_tick(
                &mut engine,
                tick,
                seq,
                &mut buffers,
                &timer,
                &mut latency,
                crate::metrics::sampled(seq, sample_every),
            );
            seq += 1;
        }
        engine.portfolio.flush_logs();
        engine.strategy.flush_logs();
        run += watch.elapsed();
        between(seq, &engine);
        // Backtests publish only when watched (`backtest --metrics`).
        if !telemetry
            .observed
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            let (done, total) = source.progress();
            progress(RunProgress {
                done,
                total,
                ticks: seq,
            });
            continue;
        }
        for tick in &chunk {
            if let Some(class) = telemetry.shape.class_index(tick.instrument) {
                ticks_by_class[class] += 1;
            }
            dispatched += u64::from(engine.strategy.is_traded(tick.instrument));
        }
        let t = &*telemetry;
        for (cell, &n) in t.ticks_by_class.iter().zip(&ticks_by_class) {
            cell.set(n);
        }
        let (requests, orders) = (engine.risk.requests(), engine.execution.requests);
        for (stage, events) in [
            (StageName::Feed, seq),
            (StageName::Strategy, seq),
            (StageName::Risk, seq + requests),
            (StageName::Execution, seq + orders),
        ] {
            t.stage_events[stage as usize].set(events);
        }
        publish::strategy(t, &engine.strategy, dispatched, &mut errors_counted);
        publish::risk(t, &engine.risk);
        publish::portfolio(t, &engine.portfolio, &mut pnl, &mut pnl_published);
        publish::latency(
            t,
            LatencySlot::Strategy,
            &mut latency,
            Some(&mut engine.strategy),
            &mut latency_published,
        );
        let (done, total) = source.progress();
        progress(RunProgress {
            done,
            total,
            ticks: seq,
        });
    }
    telemetry.set_feed_state(FeedState::Ended);
    let wait = source.waited();
    telemetry.take_back_latency(LatencySlot::Strategy, &mut latency);
    engine.strategy.take_back_inference(&telemetry);
    let Engine {
        layout,
        mut strategy,
        portfolio,
        risk,
        ..
    } = engine;
    let mut outcome = RunOutcome::from_stages(seq, &mut strategy, portfolio, &risk, latency);
    outcome.load = load.saturating_sub(wait);
    outcome.wait = wait;
    outcome.run = run;
    match error {
        Some(error) => Err(RunError::Input {
            error,
            partial: Box::new((layout, outcome)),
        }),
        None => Ok((layout, outcome)),
    }
}
