//! Strategy benches: the cost of one `Strategy::on_tick` call for each strategy kind.
//!
//! Workloads (group `strategy/on_tick`), one instrument, one slot, 100 000 two-sided quotes of
//! a deterministic random-walk mid (LCG seed, 5-decimal FX-like prices, 1-2 point half spread):
//! - `ema_cross`: fast 10 / slow 30 on the mid;
//! - `momentum`: lookback 50, threshold 1 bp;
//! - `mean_reversion`: window 200, entry z 2, exit z 0;
//! - `breakout`: window 100 on the mid.
//!
//! The timed region is the loop of `on_tick` calls over the pre-built ticks, each with a
//! `Context` of an empty book and a cleared `Actions` buffer, the strategy's state carried
//! from one iteration to the next (steady state). Orders the strategy writes are counted and
//! dropped (the book never sees them), so the strategy's own compute is all that is timed. It
//! leaves out tick generation and strategy construction; there is no dispatch, risk or
//! execution here (see `dispatch.rs` and `pipeline.rs`). Rates are ticks/s
//! (`Throughput::Elements`).

mod common;

use std::hint::black_box;

use alpha_panda::domain::{BookId, BrokerId, Decimal, InstrumentId, InstrumentTable, Nanos, Qty};
use alpha_panda::portfolio::Portfolio;
use alpha_panda::strategy::{
    Actions, BookState, Context, Market, Mode, PriceSource, SlotSpec, Strategy, StrategyKind,
    StrategyParams,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TICKS: usize = 100_000;
const PRICE_PRECISION: u8 = 5;

fn kinds() -> [(&'static str, StrategyParams); 4] {
    let price_source = PriceSource::Mid;
    let mode = Mode::LongFlat;
    [
        (
            "ema_cross",
            StrategyParams::EmaCross {
                fast: 10,
                slow: 30,
                price_source,
                mode,
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
                mode,
            },
        ),
        (
            "mean_reversion",
            StrategyParams::MeanReversion {
                window: 200,
                entry_z: 2.0,
                exit_z: 0.0,
                price_source,
                mode,
            },
        ),
        (
            "breakout",
            StrategyParams::Breakout {
                window: 100,
                price_source,
                mode,
            },
        ),
    ]
}

fn on_tick(c: &mut Criterion) {
    let ticks = common::random_walk_quotes(&[138_000], TICKS, 0x5eed_0001);
    let slot = SlotSpec {
        price_precision: PRICE_PRECISION,
        qty: Qty(1_000),
    };
    let mut table = InstrumentTable::new();
    let id = table.intern("BENCH");
    table
        .widen(id, PRICE_PRECISION, 0)
        .expect("5 decimals is within MAX_PRECISION");
    let specs: Vec<_> = table.iter().map(|(_, s)| s.clone()).collect();
    let book = BookState::new(BookId(0), BrokerId(0), vec![InstrumentId(0)]);
    let portfolio = Portfolio::new(1, 1, &specs);
    let market = Market::new(1);
    let ctx = Context::new(Nanos(0), 0, &book, &portfolio, &market, &table);
    let mut actions = Actions::new();
    let mut call = |strategy: &mut StrategyKind, tick| {
        actions.begin(0, 1, u32::MAX, usize::MAX);
        strategy.on_tick(&ctx, tick, &mut actions);
        actions.len()
    };
    let mut group = c.benchmark_group("strategy/on_tick");
    group.throughput(Throughput::Elements(ticks.len() as u64));
    for (name, params) in kinds() {
        let mut strategy = StrategyKind::rule(&params, &[slot]).expect("a rule strategy");
        // Outside the timed region: show that the series makes the strategy trade.
        let intents: usize = ticks.iter().map(|t| call(&mut strategy, t)).sum();
        eprintln!(
            "strategy/on_tick/{name}: {intents} intents per {} ticks",
            ticks.len()
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut intents = 0usize;
                for tick in &ticks {
                    intents += call(&mut strategy, black_box(tick));
                }
                intents
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion_config(3);
    targets = on_tick
}
criterion_main!(benches);
