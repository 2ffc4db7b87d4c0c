//! Dispatch benches: `StrategyStage::on_tick`, i.e. the instrument → strategies index lookup
//! plus the `on_tick` of every strategy subscribed to the tick's instrument.
//!
//! Workloads (group `dispatch/strategy_stage`), each over 65 536 pre-built two-sided quotes,
//! instruments picked uniformly at random, deterministic random-walk mids (LCG seed):
//! - `1x4`: one EMA 10/30 strategy over 4 instruments (fan-out 1 per tick);
//! - `64x16`: 64 strategies over 16 instruments, each on one instrument, the four kinds
//!   (ema_cross, momentum, mean_reversion, breakout) in turn, so every instrument has one of
//!   each kind (fan-out 4 per tick).
//!
//! The engine is built once through `Engine::build` from strategy files parsed with
//! `parse_strategy`; its `StrategyStage` is taken out and fed the ticks. The timed region is
//! the per-tick loop (clear the signal buffer, dispatch); strategy state carries over between
//! iterations (steady state). It leaves out tick generation, config parsing, engine
//! construction, and everything after the stage (risk, execution, portfolio). Rates are
//! ticks/s (`Throughput::Elements`).

mod common;

use std::hint::black_box;
use std::path::Path;

use alpha_panda::config::EngineConfig;
use alpha_panda::domain::InstrumentTable;
use alpha_panda::pipeline::{Engine, StrategyStage};
use alpha_panda::strategy::StrategyConfig;
use alpha_panda::strategy::config::parse_strategy;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TICKS: usize = 1 << 16;
const PRICE_PRECISION: u8 = 5;

/// Start mids 1.00000, 1.05000, ... for `instruments` ids.
fn start_mids(instruments: u32) -> Vec<i64> {
    (0..i64::from(instruments))
        .map(|i| 100_000 + 5_000 * i)
        .collect()
}

fn symbol(i: u32) -> String {
    format!("SYM{i:02}-BENCH")
}

fn instrument_table(count: u32) -> InstrumentTable {
    let mut table = InstrumentTable::new();
    for i in 0..count {
        let id = table.intern(&symbol(i));
        table
            .widen(id, PRICE_PRECISION, 0)
            .expect("5 decimals is within MAX_PRECISION");
    }
    table
}

/// `[params]` lines (without quantity and price source) of each kind.
fn params_of(kind: &str) -> &'static str {
    match kind {
        "ema_cross" => "fast = 10\nslow = 30\n",
        "momentum" => "lookback = 50\nthreshold_bps = \"1\"\n",
        "mean_reversion" => "window = 200\nentry_z = \"2\"\nexit_z = \"0\"\n",
        _ => "window = 100\n",
    }
}

fn strategy_config(id: &str, kind: &str, instruments: &[String]) -> StrategyConfig {
    let list = instruments
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "id = \"{id}\"\nkind = \"{kind}\"\ninstruments = [{list}]\nbrokers = [\"paper\"]\n\n[params]\n{}quantity = \"1000\"\nprice_source = \"mid\"\n",
        params_of(kind)
    );
    let mut errors = Vec::new();
    let config = parse_strategy(Path::new(&format!("{id}.toml")), &text, &mut errors);
    assert!(
        errors.is_empty(),
        "bench strategy {id} does not parse: {errors:?}"
    );
    config.expect("no errors means a config")
}

fn stage(instruments: u32, strategies: &[StrategyConfig]) -> StrategyStage {
    let engine = Engine::build(
        &EngineConfig::default(),
        strategies,
        instrument_table(instruments),
    )
    .expect("bench strategies name only known instruments and the default broker");
    engine.strategy
}

fn bench_case(c: &mut Criterion, name: &str, instruments: u32, strategies: &[StrategyConfig]) {
    let ticks = common::random_walk_quotes(
        &start_mids(instruments),
        TICKS,
        0xd15_0001 + u64::from(instruments),
    );
    let mut stage = stage(instruments, strategies);
    let mut signals = Vec::with_capacity(stage.max_fan_out().max(1));
    // Outside the timed region: show the fan-out and that the strategies signal.
    let mut total = 0usize;
    for tick in &ticks {
        signals.clear();
        stage.on_tick(tick, &mut signals);
        total += signals.len();
    }
    eprintln!(
        "dispatch/strategy_stage/{name}: {} strategies, fan-out {}, {total} signals per {} ticks",
        strategies.len(),
        stage.max_fan_out(),
        ticks.len()
    );
    let mut group = c.benchmark_group("dispatch/strategy_stage");
    group.throughput(Throughput::Elements(ticks.len() as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            let mut total = 0usize;
            for tick in &ticks {
                signals.clear();
                stage.on_tick(black_box(tick), &mut signals);
                total += signals.len();
            }
            total
        });
    });
    group.finish();
}

fn dispatch(c: &mut Criterion) {
    let four: Vec<String> = (0..4).map(symbol).collect();
    bench_case(c, "1x4", 4, &[strategy_config("ema_4", "ema_cross", &four)]);

    let kinds = ["ema_cross", "momentum", "mean_reversion", "breakout"];
    let many: Vec<StrategyConfig> = (0..64u32)
        .map(|i| {
            let kind = kinds[(i / 16) as usize];
            strategy_config(&format!("{kind}_{i:02}"), kind, &[symbol(i % 16)])
        })
        .collect();
    bench_case(c, "64x16", 16, &many);
}

criterion_group! {
    name = benches;
    config = common::criterion_config(3);
    targets = dispatch
}
criterion_main!(benches);
