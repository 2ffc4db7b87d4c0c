//! Strategy benches: the cost of one `Strategy::on_tick` call for each strategy kind.
//!
//! Workloads (group `strategy/on_tick`), one instrument, one slot, 100 000 two-sided quotes of
//! a deterministic random-walk mid (LCG seed, 5-decimal FX-like prices, 1-2 point half spread):
//! - `ema_cross`: fast 10 / slow 30 on the mid;
//! - `momentum`: lookback 50, threshold 1 bp;
//! - `mean_reversion`: window 200, entry z 2, exit z 0;
//! - `breakout`: window 100 on the mid.
//!
//! The timed region is the loop of `on_tick` calls over the pre-built ticks, the strategy's
//! state carried from one iteration to the next (steady state). It leaves out tick generation
//! and strategy construction; there is no dispatch, risk or execution here (see `dispatch.rs`
//! and `pipeline.rs`). Rates are ticks/s (`Throughput::Elements`).

use std::hint::black_box;
use std::time::Duration;

use alpha_panda::config::engine::Decimal;
use alpha_panda::domain::{InstrumentId, Nanos, Price, Qty, Tick};
use alpha_panda::strategy::{PriceSource, SlotSpec, Strategy, StrategyKind, StrategyParams};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TICKS: usize = 100_000;
const PRICE_PRECISION: u8 = 5;
/// 2014-05-01T00:00:00Z in ns.
const START_NS: u64 = 1_398_902_400_000_000_000;

/// 64-bit LCG (Knuth's MMIX constants): deterministic and dependency-free.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Quotes of one instrument whose mid moves -3..=+3 points (of 1e-5) per tick from 1.38000.
fn random_walk_quotes(count: usize, seed: u64) -> Vec<Tick> {
    let mut rng = Lcg(seed);
    let mut mid: i64 = 138_000;
    let mut ts = START_NS;
    (0..count)
        .map(|seq| {
            ts += 1_000_000 + rng.below(50_000_000);
            mid = (mid + rng.below(7) as i64 - 3).max(1_000);
            let half_spread = 1 + rng.below(2) as i64;
            let mut tick = Tick::quote(
                Nanos(ts),
                InstrumentId(0),
                Some(Price(mid - half_spread)),
                Some(Price(mid + half_spread)),
                None,
                None,
            );
            tick.seq = seq as u64;
            tick
        })
        .collect()
}

fn kinds() -> [(&'static str, StrategyParams); 4] {
    let price_source = PriceSource::Mid;
    [
        (
            "ema_cross",
            StrategyParams::EmaCross {
                fast: 10,
                slow: 30,
                price_source,
            },
        ),
        (
            "momentum",
            StrategyParams::Momentum {
                lookback: 50,
                threshold_bps: Decimal {
                    mantissa: 1,
                    decimals: 0,
                },
                price_source,
            },
        ),
        (
            "mean_reversion",
            StrategyParams::MeanReversion {
                window: 200,
                entry_z: 2.0,
                exit_z: 0.0,
                price_source,
            },
        ),
        (
            "breakout",
            StrategyParams::Breakout {
                window: 100,
                price_source,
            },
        ),
    ]
}

fn on_tick(c: &mut Criterion) {
    let ticks = random_walk_quotes(TICKS, 0x5eed_0001);
    let slot = SlotSpec {
        price_precision: PRICE_PRECISION,
        qty: Qty(1_000),
    };
    let mut group = c.benchmark_group("strategy/on_tick");
    group.throughput(Throughput::Elements(ticks.len() as u64));
    for (name, params) in kinds() {
        let mut strategy = StrategyKind::new(&params, &[slot]);
        // Outside the timed region: show that the series makes the strategy trade.
        let intents = ticks
            .iter()
            .filter(|t| strategy.on_tick(t, 0).is_some())
            .count();
        eprintln!(
            "strategy/on_tick/{name}: {intents} intents per {} ticks",
            ticks.len()
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut intents = 0usize;
                for tick in &ticks {
                    intents += usize::from(strategy.on_tick(black_box(tick), 0).is_some());
                }
                intents
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = on_tick
}
criterion_main!(benches);
