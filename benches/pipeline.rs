//! End-to-end benches: the whole engine (risk marks, execution and portfolio, strategy
//! dispatch, risk checks, paper fills) over a synthetic tick stream.
//!
//! Data: 262 144 two-sided quotes over 4 FX instruments (the symbols of
//! `benches/strategies/ema_cross_fx.toml`), instruments mixed uniformly at random,
//! deterministic random-walk mids at 5 decimals (LCG seed), 1-50 ms apart. Strategy: EMA 10/30
//! on the mid of all four instruments, quantity 1000, broker `paper`; `EngineConfig::default()`
//! otherwise. Real data is not used: reading it needs the feed module, outside what this bench
//! should depend on.
//!
//! Workloads (group `pipeline`), rates in ticks/s (`Throughput::Elements`):
//! - `inline`: `Engine::run` with the inline runtime over a `SliceSource`;
//! - `threaded`: the same with `runtime.mode = Threaded` (feed on the calling thread plus
//!   strategy, risk and execution threads, spawned and joined inside the timed region);
//! - `inline_process_tick`: `runtime::inline::process_tick` called directly for each tick
//!   (latency sampled 1 in 16 as the runtime does), without the source, chunking and
//!   stopwatches of `Engine::run`.
//!
//! `iter_batched` (one engine per iteration) keeps out of the timed region: tick generation,
//! strategy parsing, `Engine::build`, the latency recorder and buffers, and dropping the run
//! outcome.

mod common;

use std::hint::black_box;
use std::path::Path;

use alpha_panda::clock::LatencyTimer;
use alpha_panda::config::{EngineConfig, RuntimeMode};
use alpha_panda::domain::{InstrumentTable, Tick};
use alpha_panda::metrics::LatencyRecorder;
use alpha_panda::runtime::inline::{InlineBuffers, process_tick};
use alpha_panda::runtime::{Engine, SliceSource};
use alpha_panda::strategy::config::parse_strategy;
use alpha_panda::strategy::{Registry, StrategyConfig};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const TICKS: usize = 1 << 18;
const PRICE_PRECISION: u8 = 5;
const SYMBOLS: [&str; 4] = ["EURUSD-FXCM", "NZDUSD-FXCM", "EURUSD-OANDA", "NZDUSD-OANDA"];
/// Start mids, raw at 5 decimals.
const START_MIDS: [i64; 4] = [138_700, 86_700, 138_710, 86_710];
const LATENCY_SAMPLE_EVERY: u64 = 16;

const STRATEGY_TOML: &str = r#"
id = "ema_cross_fx"
kind = "ema_cross"
instruments = ["EURUSD-FXCM", "NZDUSD-FXCM", "EURUSD-OANDA", "NZDUSD-OANDA"]
brokers = ["paper"]

[params]
fast = 10
slow = 30
quantity = "1000"
price_source = "mid"
"#;

fn instrument_table() -> InstrumentTable {
    let mut table = InstrumentTable::new();
    for symbol in SYMBOLS {
        let id = table.intern(symbol);
        table
            .widen(id, PRICE_PRECISION, 0)
            .expect("5 decimals is within MAX_PRECISION");
    }
    table
}

fn strategies() -> Vec<StrategyConfig> {
    let mut errors = Vec::new();
    let config = parse_strategy(
        Path::new("ema_cross_fx.toml"),
        STRATEGY_TOML,
        &Registry::builtin(),
        &mut errors,
    );
    assert!(
        errors.is_empty(),
        "bench strategy does not parse: {errors:?}"
    );
    vec![config.expect("no errors means a config")]
}

struct Case {
    config: EngineConfig,
    strategies: Vec<StrategyConfig>,
    instruments: InstrumentTable,
}

impl Case {
    fn new(mode: RuntimeMode) -> Case {
        let mut config = EngineConfig::default();
        config.runtime.mode = mode;
        Case {
            config,
            strategies: strategies(),
            instruments: instrument_table(),
        }
    }

    fn engine(&self) -> Engine {
        alpha_panda::app::build(&self.config, &self.strategies, self.instruments.clone())
            .expect("the bench strategy names only known instruments and the default broker")
    }

    /// One untimed run, to show the workload trades and both runtimes agree.
    fn describe(&self, name: &str, ticks: &[Tick]) {
        let (_, outcome) = self
            .engine()
            .run(&mut SliceSource::new(ticks), &mut |_| {})
            .expect("a slice source cannot fail");
        eprintln!(
            "pipeline/{name}: {} ticks, {} signals, {} orders, {} fills, rejections {:?}",
            outcome.ticks,
            outcome.signals,
            outcome.orders,
            outcome.fills.len(),
            outcome.rejections
        );
    }
}

fn pipeline(c: &mut Criterion) {
    let ticks = common::random_walk_quotes(&START_MIDS, TICKS, 0xfeed_0001);
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(ticks.len() as u64));

    for (name, mode) in [
        ("inline", RuntimeMode::Inline),
        ("threaded", RuntimeMode::Threaded),
    ] {
        let case = Case::new(mode);
        case.describe(name, &ticks);
        group.bench_function(name, |b| {
            b.iter_batched(
                || case.engine(),
                |engine| {
                    let mut source = SliceSource::new(&ticks);
                    engine
                        .run(&mut source, &mut |_| {})
                        .expect("a slice source cannot fail")
                },
                BatchSize::PerIteration,
            );
        });
    }

    let case = Case::new(RuntimeMode::Inline);
    let timer = LatencyTimer::default();
    group.bench_function("inline_process_tick", |b| {
        b.iter_batched(
            || {
                let engine = case.engine();
                let buffers = InlineBuffers::new(&engine);
                (engine, buffers, LatencyRecorder::default())
            },
            |(mut engine, mut buffers, mut latency)| {
                for (seq, tick) in (0u64..).zip(&ticks) {
                    let mut tick = *black_box(tick);
                    let sampled = seq.is_multiple_of(LATENCY_SAMPLE_EVERY);
                    process_tick(
                        &mut engine,
                        &mut tick,
                        seq,
                        &mut buffers,
                        &timer,
                        &mut latency,
                        sampled,
                    );
                }
                (engine, latency)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion_config(4);
    targets = pipeline
}
criterion_main!(benches);
