//! Inline runtime: one thread calls the stages in order for each tick. Deterministic and the
//! lowest tick-to-order latency when everything fits one core; the default for backtests.
//!
//! Per tick: risk sees the tick (marks, day roll), execution marks the portfolio and fills
//! resting orders, strategies run, and each signal is checked and submitted at once (so an
//! order with zero latency fills on its own tick before the next signal is checked).
//!
//! Counters are published to the engine's `Telemetry` once per chunk while something
//! observes it, so a backtest can be watched on the metrics endpoint when asked
//! (`backtest --metrics`).

use super::{Engine, EngineLayout, PnlBuffer, RunOutcome, TickSource};
use crate::clock::{LatencyTimer, Stopwatch};
use crate::domain::{Fill, Order, Signal, Tick};
use crate::metrics::telemetry::{FeedState, LatencySlot, StageName};
use crate::metrics::{LatencyRecorder, Stage};

/// Ticks per chunk read from the source: big enough to amortise the read call, small enough
/// to stay in cache.
pub const CHUNK: usize = 4096;

/// Reusable per-tick buffers, allocated once.
#[derive(Debug)]
pub struct InlineBuffers {
    signals: Vec<Signal>,
    orders: Vec<Order>,
    fills: Vec<Fill>,
}

impl InlineBuffers {
    pub fn new(engine: &Engine) -> InlineBuffers {
        let fan_out = engine.strategy.max_fan_out().max(1);
        let brokers = engine.layout.brokers.len().max(1);
        InlineBuffers {
            signals: Vec::with_capacity(fan_out),
            orders: Vec::with_capacity(brokers),
            fills: Vec::with_capacity(1024),
        }
    }
}

/// Processes one tick through every stage. `seq` numbers the tick.
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
    engine.risk.on_tick(tick);
    buffers.fills.clear();
    engine.execution.on_tick(tick, &mut buffers.fills);
    for fill in &buffers.fills {
        engine.risk.engine.on_fill(fill);
    }
    buffers.signals.clear();
    let strategy_start = if sampled { timer.stamp() } else { 0 };
    engine.strategy.on_tick(tick, &mut buffers.signals);
    if sampled {
        latency.record(
            Stage::Strategy,
            timer.elapsed_ns(strategy_start, timer.stamp()),
        );
    }
    for signal in &buffers.signals {
        buffers.orders.clear();
        let risk_start = timer.stamp();
        engine.risk.on_signal(signal, &mut buffers.orders);
        let risk_end = timer.stamp();
        latency.record(Stage::Risk, timer.elapsed_ns(risk_start, risk_end));
        for order in &buffers.orders {
            buffers.fills.clear();
            let exec_start = timer.stamp();
            engine.execution.on_order(*order, tick, &mut buffers.fills);
            let exec_end = timer.stamp();
            latency.record(Stage::Execution, timer.elapsed_ns(exec_start, exec_end));
            if sampled {
                latency.record(Stage::TickToOrder, timer.elapsed_ns(start, exec_end));
            }
            for fill in &buffers.fills {
                engine.risk.engine.on_fill(fill);
            }
        }
    }
}

/// Runs the whole source through the engine on this thread.
///
/// # Errors
/// The source's first error; everything before it has been processed.
pub fn run(
    mut engine: Engine,
    source: &mut (dyn TickSource + Send),
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(EngineLayout, RunOutcome), crate::Error> {
    let timer = LatencyTimer::default();
    let mut latency = LatencyRecorder::default();
    let mut buffers = InlineBuffers::new(&engine);
    let mut chunk = Vec::with_capacity(CHUNK);
    let sample_every = engine.config.runtime.sample_every();
    let (mut load, mut run) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    let mut seq = 0u64;
    let batched = engine.strategy.has_batched();
    let telemetry = std::sync::Arc::clone(&engine.telemetry);
    let (mut ticks_by_class, mut dispatched) = ([0u64; 3], 0u64);
    let (mut pnl, mut pnl_published, mut latency_published) =
        (PnlBuffer::new(&engine.layout), 0u64, 0u64);
    telemetry.set_feed_state(FeedState::Live);
    loop {
        let watch = Stopwatch::start();
        let n = source.read_chunk(&mut chunk, CHUNK)?;
        load += watch.elapsed();
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
        run += watch.elapsed();
        // Backtests publish only when watched (`backtest --metrics`).
        if !telemetry
            .observed
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            let (done, total) = source.progress();
            progress(done, total);
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
        let orders = engine.risk.orders;
        for (stage, events) in [
            (StageName::Feed, seq),
            (StageName::Strategy, seq),
            (StageName::Risk, seq + engine.risk.signals),
            (StageName::Execution, seq + orders),
        ] {
            t.stage_events[stage as usize].set(events);
        }
        t.dispatched_ticks.set(dispatched);
        t.signals.set(engine.risk.signals);
        engine.risk.publish(t);
        engine.execution.publish(t, &mut pnl, &mut pnl_published);
        let generation = t.snapshot_generation();
        if generation != latency_published
            && t.hand_off_latency(LatencySlot::Strategy, &mut latency)
        {
            engine.strategy.hand_off_inference(t);
            latency_published = generation;
        }
        let (done, total) = source.progress();
        progress(done, total);
    }
    telemetry.set_feed_state(FeedState::Ended);
    telemetry.take_back_latency(LatencySlot::Strategy, &mut latency);
    engine.strategy.take_back_inference(&telemetry);
    let kill_switch = (0..engine.layout.brokers.len())
        .map(|b| engine.risk.engine.kill_switch_tripped(b))
        .collect();
    let outcome = RunOutcome {
        ticks: seq,
        signals: engine.risk.signals,
        orders: engine.risk.orders,
        rejections: engine.risk.rejections(),
        kill_switch,
        ring_full: Vec::new(),
        load,
        run,
        portfolio: engine.execution.portfolio,
        fills: engine.execution.fill_log,
        latency,
        ml: engine.strategy.ml_stats(),
    };
    Ok((engine.layout, outcome))
}
