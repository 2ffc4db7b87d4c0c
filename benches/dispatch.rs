//! Dispatch benches: the strategy stage per tick, i.e. `StrategyStage::on_market` and
//! `on_tick` (the instrument → strategies index lookup plus the `on_tick` of every strategy
//! subscribed to the tick's instrument), and the order events that answer what they ask.
//!
//! Workloads (group `dispatch/strategy_stage`), each over 65 536 pre-built two-sided quotes,
//! instruments picked uniformly at random, deterministic random-walk mids (LCG seed):
//! - `1x4`: one built-in EMA 10/30 strategy over 4 instruments (fan-out 1 per tick);
//! - `1x4_boxed`: the same EMA rule written against the public API and registered as a
//!   user's kind, so it runs behind `StrategyKind::User`'s `Box<dyn Strategy>`: the cost of
//!   the vtable call against the `match` of the built-ins (same ticks, same orders);
//! - `64x16`: 64 strategies over 16 instruments, each on one instrument, the four kinds
//!   (ema_cross, momentum, mean_reversion, breakout) in turn, so every instrument has one of
//!   each kind (fan-out 4 per tick).
//!
//! The engine is built once through `app::build` from strategy files parsed with
//! `parse_strategy`; its strategy stage and portfolio are taken out and fed the ticks. Each
//! request is answered at once with a fill at the touch (`Accepted` and `Filled` events
//! booked by the portfolio and delivered to the book), as the paper venue does with zero
//! latency, so the strategies see their real positions. The timed region is that per-tick
//! loop; strategy state carries over between iterations (steady state). It leaves out tick
//! generation, config parsing, engine construction, risk and the venue. Rates are ticks/s
//! (`Throughput::Elements`).

mod common;

use std::hint::black_box;
use std::path::Path;

use alpha_panda::config::EngineConfig;
use alpha_panda::domain::{
    Execution, InstrumentTable, Market, OrderEvent, OrderEventKind, OrderRequest, Qty, Tick,
};
use alpha_panda::portfolio::Portfolio;
use alpha_panda::strategy::config::parse_strategy;
use alpha_panda::strategy::ema_cross::{Cross, EmaCrossing};
use alpha_panda::strategy::params::Quantity;
use alpha_panda::strategy::stage::Views;
use alpha_panda::strategy::{
    Actions, Context, Mode, Params, Registry, Setup, Signals, Strategy, StrategyConfig,
    StrategyStage, UserKind, price_input,
};
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
        "ema_cross" | "boxed_ema" => "fast = 10\nslow = 30\n",
        "momentum" => "lookback = 50\nthreshold_bps = \"1\"\n",
        "mean_reversion" => "window = 200\nentry_z = \"2\"\nexit_z = \"0\"\n",
        _ => "window = 100\n",
    }
}

/// The built-in EMA cross rule (long/flat) written against the public strategy API only.
struct BoxedEma {
    slots: Vec<(EmaCrossing, u8, Qty)>,
}

impl Strategy for BoxedEma {
    fn on_tick(&mut self, ctx: &Context<'_>, tick: &Tick, out: &mut Actions) {
        let slot = ctx.slot();
        let (crossing, precision, qty) = &mut self.slots[slot];
        let Some(p) = price_input(alpha_panda::strategy::PriceSource::Mid, tick, *precision) else {
            return;
        };
        if let Some(cross) = crossing.update(p) {
            let signals = Signals::reversal(cross == Cross::Up, cross == Cross::Down);
            let _ = Mode::LongFlat.act(ctx, out, slot, *qty, signals);
        }
    }
}

impl UserKind for BoxedEma {
    type Config = (u32, u32, Quantity);

    fn configure(params: &mut Params<'_, '_, '_>) -> Option<Self::Config> {
        let fast = params.int("fast", 1, 1 << 20);
        let slow = params.int("slow", 2, 1 << 20);
        let quantity = params.quantity("quantity");
        let _ = params.price_source();
        Some((fast? as u32, slow? as u32, quantity?))
    }

    fn build(&(fast, slow, quantity): &Self::Config, setup: &Setup<'_>) -> BoxedEma {
        BoxedEma {
            slots: (0..setup.slots())
                .map(|s| {
                    let precision = setup.spec(s).price_precision;
                    (
                        EmaCrossing::new(fast, slow),
                        precision,
                        setup.qty(quantity, s),
                    )
                })
                .collect(),
        }
    }
}

fn registry() -> Registry {
    let mut registry = Registry::builtin();
    registry.register::<BoxedEma>("boxed_ema");
    registry
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
    let config = parse_strategy(
        Path::new(&format!("{id}.toml")),
        &text,
        &registry(),
        &mut errors,
    );
    assert!(
        errors.is_empty(),
        "bench strategy {id} does not parse: {errors:?}"
    );
    config.expect("no errors means a config")
}

fn stage(instruments: u32, strategies: &[StrategyConfig]) -> (StrategyStage, Portfolio, Market) {
    let engine = alpha_panda::app::build(
        &EngineConfig::default(),
        strategies,
        instrument_table(instruments),
    )
    .expect("bench strategies name only known instruments and the default broker");
    (engine.strategy, engine.portfolio, engine.market)
}

/// The events a zero-latency venue answers a new order with: accepted, filled at the touch.
fn answer(request: &OrderRequest, tick: &Tick, events: &mut Vec<OrderEvent>) {
    let Some(order) = request.order() else {
        return;
    };
    let price = match order.side {
        alpha_panda::domain::Side::Buy => tick.ask,
        alpha_panda::domain::Side::Sell => tick.bid,
    };
    let event = |kind| OrderEvent {
        id: order.id,
        book: order.book,
        broker: order.broker,
        instrument: order.instrument,
        side: order.side,
        correlation: order.correlation,
        ts: tick.ts,
        kind,
    };
    events.push(event(OrderEventKind::Accepted {
        venue_id: order.id.0,
        qty: order.qty,
        order_type: order.order_type,
    }));
    events.push(event(OrderEventKind::Filled(Execution {
        qty: order.qty,
        price,
        ..Execution::default()
    })));
}

/// One tick through the stage, requests answered; returns how many requests it made.
#[inline]
fn step(
    (stage, portfolio, market): &mut (StrategyStage, Portfolio, Market),
    tick: &Tick,
    requests: &mut Vec<OrderRequest>,
    events: &mut Vec<OrderEvent>,
) -> usize {
    market.on_tick(tick);
    portfolio.on_tick(tick);
    stage.advance(tick);
    requests.clear();
    let views = Views { market, portfolio };
    stage.on_tick(tick, views, requests);
    let made = requests.len();
    while !requests.is_empty() {
        events.clear();
        for request in requests.iter() {
            answer(request, tick, events);
        }
        requests.clear();
        for event in events.iter() {
            portfolio.on_event(event);
            stage.on_event(event, Views { market, portfolio }, requests);
        }
    }
    made
}

fn bench_case(c: &mut Criterion, name: &str, instruments: u32, strategies: &[StrategyConfig]) {
    let ticks = common::random_walk_quotes(
        &start_mids(instruments),
        TICKS,
        0xd15_0001 + u64::from(instruments),
    );
    let mut engine = stage(instruments, strategies);
    let mut requests = Vec::with_capacity(64 * engine.0.max_fan_out().max(1));
    let mut events = Vec::with_capacity(256);
    // Outside the timed region: show the fan-out and that the strategies trade.
    let mut total = 0usize;
    for tick in &ticks {
        total += step(&mut engine, tick, &mut requests, &mut events);
    }
    eprintln!(
        "dispatch/strategy_stage/{name}: {} strategies, fan-out {}, {total} orders per {} ticks",
        strategies.len(),
        engine.0.max_fan_out(),
        ticks.len()
    );
    let mut group = c.benchmark_group("dispatch/strategy_stage");
    group.throughput(Throughput::Elements(ticks.len() as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            let mut total = 0usize;
            for tick in &ticks {
                total += step(&mut engine, black_box(tick), &mut requests, &mut events);
            }
            total
        });
    });
    group.finish();
}

fn dispatch(c: &mut Criterion) {
    let four: Vec<String> = (0..4).map(symbol).collect();
    bench_case(c, "1x4", 4, &[strategy_config("ema_4", "ema_cross", &four)]);
    bench_case(
        c,
        "1x4_boxed",
        4,
        &[strategy_config("boxed_ema_4", "boxed_ema", &four)],
    );

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
