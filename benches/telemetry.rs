//! Telemetry benches: what observing a running engine costs, on the stage threads and on
//! the scraping thread.
//!
//! Workloads (group `telemetry`):
//! - `latency_hand_off`: one stage thread's answer to a snapshot request: its latency
//!   recording (three stages recorded, as the execution thread has) swapped with the
//!   observer's empty spare. This is the pause a scrape causes on a stage thread. The
//!   observer's fold that recycles the spare runs between iterations, outside the timing.
//! - `observer_fold`: the scraping thread's side of the same hand-off: folding the
//!   handed-off interval into the total and clearing it as the next spare.
//! - `clock_read`: one `LatencyTimer::stamp`, the cycle-counter read every timed hop takes.
//! - `histogram_record`: one `LatencyRecorder::record` of a varying value (tick-to-order
//!   takes four stamps and four records on a sampled order tick).
//! - `render`: one `/metrics` exposition of a two-broker engine with every hop recorded
//!   and three ML strategies: the scraping thread's cost.
//!
//! The timed regions leave out building the recorders and the telemetry.

mod common;

use std::hint::black_box;
use std::time::Duration;

use alpha_panda::clock::{LatencyTimer, Stopwatch};
use alpha_panda::metrics::telemetry::{LatencySlot, Telemetry, TelemetryShape};
use alpha_panda::metrics::{LatencyRecorder, Stage, exposition};
use criterion::{Criterion, criterion_group, criterion_main};

fn recorded() -> LatencyRecorder {
    let mut latency = LatencyRecorder::default();
    let mut rng = common::Lcg(7);
    for _ in 0..100_000 {
        for stage in [Stage::RiskToExecution, Stage::Execution, Stage::TickToOrder] {
            latency.record(stage, 200 + rng.below(50_000));
        }
    }
    latency
}

fn telemetry() -> Telemetry {
    Telemetry::new(TelemetryShape {
        brokers: vec!["paper".into(), "kite".into()],
        brokers_enabled: vec![true, true],
        strategies_registered: vec![5, 3],
        strategies_configured: vec![5, 3],
        ring_capacity: 8192,
        feed_kind: "replay",
        environment: "production",
        ml_strategies: vec!["ml_a".into(), "ml_b".into(), "ml_c".into()],
        ..TelemetryShape::default()
    })
}

fn latency_hand_off(c: &mut Criterion) {
    let mut group = c.benchmark_group("telemetry");
    let t = telemetry();
    let mut own = recorded();
    group.bench_function("latency_hand_off", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                // The observer folds the previous interval, freeing the spare.
                black_box(t.latency());
                let watch = Stopwatch::start();
                black_box(t.hand_off_latency(LatencySlot::Execution, &mut own));
                timed += watch.elapsed();
            }
            timed
        });
    });
    group.bench_function("observer_fold", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let mut interval = recorded();
                t.hand_off_latency(LatencySlot::Execution, &mut interval);
                let watch = Stopwatch::start();
                black_box(t.latency());
                timed += watch.elapsed();
            }
            timed
        });
    });
    group.finish();
}

fn hop_timing(c: &mut Criterion) {
    let mut group = c.benchmark_group("telemetry");
    let timer = LatencyTimer::default();
    group.bench_function("clock_read", |b| b.iter(|| black_box(timer.stamp())));
    let mut latency = recorded();
    let mut rng = common::Lcg(11);
    let values: Vec<u64> = (0..4096).map(|_| 20 + rng.below(400)).collect();
    let mut i = 0;
    group.bench_function("histogram_record", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            latency.record(Stage::TickToOrder, black_box(values[i]));
        });
    });
    black_box(&latency);
    group.finish();
}

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("telemetry");
    let t = telemetry();
    t.request_snapshot();
    for slot in [
        LatencySlot::Strategy,
        LatencySlot::Risk,
        LatencySlot::Execution,
    ] {
        t.hand_off_latency(slot, &mut recorded());
    }
    let mut out = String::with_capacity(64 * 1024);
    group.bench_function("render", |b| {
        b.iter(|| {
            out.clear();
            exposition::render(black_box(&t), &mut out);
            black_box(out.len())
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion_config(3);
    targets = latency_hand_off, hop_timing, render
}
criterion_main!(benches);
