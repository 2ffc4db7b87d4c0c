//! Publishing a stage's counters to the shared `Telemetry`: relaxed stores of plain counters
//! the stage keeps itself, at publish points the runtime picks (every `PUBLISH_EVERY`
//! messages and when idle in the threaded runtime, once per chunk in the inline one), so the
//! tick path never touches shared memory.

use std::sync::atomic::Ordering::Relaxed;

use super::layout::PnlBuffer;
use crate::metrics::LatencyRecorder;
use crate::metrics::telemetry::{DlqKind, LatencySlot, Telemetry, store_f64};
use crate::portfolio::Portfolio;
use crate::risk::RiskStage;
use crate::strategy::StrategyStage;

/// Risk's per-broker counters (attempts, approvals, refusals by reason) and kill switches.
pub fn risk(t: &Telemetry, risk: &RiskStage) {
    for (b, broker) in t.brokers.iter().enumerate() {
        broker.attempts.set(risk.broker_attempts[b]);
        broker.orders.set(risk.broker_orders[b]);
        for (cell, &n) in broker.rejections.iter().zip(&risk.broker_rejections[b]) {
            cell.store(n, Relaxed);
        }
        broker
            .kill_switch
            .store(risk.engine.kill_switch_tripped(b), Relaxed);
    }
}

/// Fills per broker; positions and PnL when an observer asked for them since `published`
/// (a snapshot generation), computed into `buffer` so nothing allocates.
pub fn portfolio(
    t: &Telemetry,
    portfolio: &Portfolio,
    buffer: &mut PnlBuffer,
    published: &mut u64,
) {
    for (broker, &fills) in t.brokers.iter().zip(portfolio.fills_by_broker()) {
        broker.fills.set(fills);
    }
    let requested = t.snapshot_generation();
    if requested != *published {
        portfolio.broker_pnl(&buffer.positions, &mut buffer.totals);
        let currencies = portfolio.currency_count();
        for (broker, totals) in t.brokers.iter().zip(buffer.totals.chunks(currencies)) {
            broker
                .open_positions
                .store(totals.iter().map(|(open, _)| open).sum(), Relaxed);
            for (cells, (_, pnl)) in broker.pnl.iter().zip(totals) {
                for (cell, &v) in cells.iter().zip(pnl) {
                    store_f64(cell, v.to_f64());
                }
            }
        }
        *published = requested;
    }
}

/// The strategy stage's counters: ticks dispatched, new orders asked for, and inference
/// errors as dead letters (counted since `counted`).
pub fn strategy(t: &Telemetry, stage: &StrategyStage, dispatched: u64, counted_errors: &mut u64) {
    t.dispatched_ticks.set(dispatched);
    t.signals.set(stage.counters().requests);
    let errors = stage.inference_errors();
    if errors > *counted_errors {
        t.count_dlq(DlqKind::Inference, errors - *counted_errors);
        *counted_errors = errors;
    }
}

/// Hands a thread's latency recording (and, for the strategy thread, each ML strategy's
/// scoring latency) off to observers once per snapshot generation; O(1), never waits.
pub fn latency(
    t: &Telemetry,
    slot: LatencySlot,
    recorder: &mut LatencyRecorder,
    strategy: Option<&mut StrategyStage>,
    generation: &mut u64,
) {
    let requested = t.snapshot_generation();
    if requested != *generation && t.hand_off_latency(slot, recorder) {
        if let Some(stage) = strategy {
            stage.hand_off_inference(t);
        }
        *generation = requested;
    }
}
