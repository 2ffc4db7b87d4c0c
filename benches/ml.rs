//! ML strategy benches, on the shipped models and the embedded Binance excerpt.
//!
//! Workloads, per model, over the ticks of its golden instrument only (what dispatch hands it):
//! - `ml/per_tick/<model>`: `MlStrategy::on_tick` in per-tick mode, as a live box runs it. Each
//!   tick updates the features; each scoring tick also runs one ONNX Runtime call on the
//!   preallocated tensors. Throughput is in ticks, so the time per element is the mean cost
//!   per tick. Non-scoring ticks (trades for a mid model) are cheap and pull the mean down.
//!   The `/scoring_only` variant feeds only the ticks that score: its time is the full cost of
//!   a scoring tick.
//! - `ml/batched/<model>`: the backtest path for one 4,096-tick chunk. That is
//!   `begin_chunk`, `prepare_tick` for every tick, one `score_chunk` call, and then `on_tick`
//!   consuming the scores. Its time per element is the amortised cost per tick.
//! - `ml/features/<model>`: feature extraction alone, per tick, as the live path runs it
//!   (`FeatureExtractor::update`).
//! - `ml/batch_features/<model>`: the same features as the backtest extracts them
//!   (`BatchExtractor`): `stage` for every tick of a 4,096-tick chunk, then `finish`, which
//!   computes the price-window columns one feature at a time. Per tick; same values.
//!
//! Model loading and tick decoding are outside the timed region. Strategy state carries over
//! between iterations (steady state). Before criterion starts, a p50/p99 of single scoring
//! ticks, timed one by one, is printed, because criterion reports means, not percentiles.

mod common;

use std::hint::black_box;
use std::path::PathBuf;

use alpha_panda::clock::LatencyTimer;
use alpha_panda::config::EngineConfig;
use alpha_panda::domain::{BookId, BrokerId, InstrumentId, InstrumentTable, Nanos, Qty, Tick};
use alpha_panda::feed::{DataSource, TickReader, scan_instruments};
use alpha_panda::ml::batch::Scratch;
use alpha_panda::ml::{BatchExtractor, FeatureExtractor, InferenceMode, MlStrategy, Model};
use alpha_panda::portfolio::Portfolio;
use alpha_panda::strategy::{Actions, BookState, Context, Market, SlotSpec, Strategy};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const MODELS: [(&str, &str); 3] = [
    ("ml_momentum", "BTCUSDT-SPOT"),
    ("ml_mean_reversion", "ETHUSDT-SPOT"),
    ("ml_breakout", "BTCUSDT-USDM"),
];
const CHUNK: usize = 4096;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The excerpt's ticks of `symbol`, and the slot the strategy trades it through.
fn ticks_of(symbol: &str) -> (Vec<Tick>, SlotSpec) {
    let sources = [DataSource::File(
        root().join("tests/data/binance_l1_2024-08-08_excerpt.csv"),
    )];
    let mut table = InstrumentTable::new();
    scan_instruments(&sources, &EngineConfig::default().instruments, &mut table).expect("scan");
    let id = table.find(symbol).expect("symbol in the excerpt");
    let mut reader = TickReader::open(&sources, &table, Default::default()).expect("open");
    let (mut all, mut chunk): (Vec<Tick>, Vec<Tick>) = (Vec::new(), Vec::new());
    while reader.read_chunk(&mut chunk, CHUNK).expect("read") > 0 {
        all.extend(chunk.iter().filter(|t| t.instrument == id));
    }
    for (seq, tick) in all.iter_mut().enumerate() {
        tick.seq = seq as u64;
    }
    let slot = SlotSpec {
        price_precision: table.spec(id).price_precision,
        qty: Qty(1),
    };
    (all, slot)
}

/// What an ML strategy's `on_tick` reads and writes: an empty book on one instrument, and an
/// action buffer cleared before each call (orders are counted, never booked).
struct Env {
    table: InstrumentTable,
    book: BookState,
    portfolio: Portfolio,
    market: Market,
    actions: Actions,
}

impl Env {
    fn new(slot: SlotSpec) -> Env {
        let mut table = InstrumentTable::new();
        let id = table.intern("ML");
        table
            .widen(id, slot.price_precision, 0)
            .expect("precision within bounds");
        let specs: Vec<_> = table.iter().map(|(_, s)| s.clone()).collect();
        Env {
            book: BookState::new(BookId(0), BrokerId(0), vec![InstrumentId(0)]),
            portfolio: Portfolio::new(1, 1, &specs),
            market: Market::new(1),
            actions: Actions::new(),
            table,
        }
    }

    #[inline]
    fn on_tick(&mut self, s: &mut MlStrategy, tick: &Tick) -> usize {
        let ctx = Context::new(
            Nanos(0),
            0,
            &self.book,
            &self.portfolio,
            &self.market,
            &self.table,
        );
        self.actions.begin(0, 1, u32::MAX, usize::MAX);
        s.on_tick(&ctx, tick, &mut self.actions);
        self.actions.len()
    }
}

fn strategy(model: &str, slot: SlotSpec, mode: InferenceMode) -> MlStrategy {
    let model = Model::load(&root().join(format!("models/{model}.onnx"))).expect("model loads");
    let (entry, exit) = (model.sidecar.entry_threshold, model.sidecar.exit_threshold);
    MlStrategy::new(model, &[slot], entry, exit, mode, CHUNK)
}

/// Ticks that score, found with a fresh extractor over the same sequence.
fn scoring_ticks(model: &str, ticks: &[Tick], slot: SlotSpec) -> Vec<Tick> {
    let probe = strategy(model, slot, InferenceMode::PerTick);
    let mut extractor = FeatureExtractor::new(&probe.model().sidecar.schema, slot.price_precision);
    let mut row = vec![0f32; probe.model().width()];
    ticks
        .iter()
        .filter(|t| extractor.update(t, &mut row))
        .copied()
        .collect()
}

/// p50/p99 of single ticks, each timed on its own: over every tick, and over the ticks that
/// scored (features, one ONNX Runtime call, decision).
fn print_percentiles(model: &str, ticks: &[Tick], slot: SlotSpec) {
    let mut s = strategy(model, slot, InferenceMode::PerTick);
    let mut env = Env::new(slot);
    let timer = LatencyTimer::default();
    let (mut all, mut scoring) = (Vec::new(), Vec::new());
    for round in 0..5 {
        for tick in ticks {
            let rows = s.stats.rows;
            let start = timer.stamp();
            black_box(env.on_tick(&mut s, black_box(tick)));
            let ns = timer.elapsed_ns(start, timer.stamp());
            if round > 0 {
                all.push(ns);
                if s.stats.rows > rows {
                    scoring.push(ns);
                }
            }
        }
    }
    // The naive call for comparison, in the same process (machine noise cancels in the
    // ratio): a fresh input tensor and output map per call, through the safe `run()`.
    let mut naive_model = Model::load(&root().join(format!("models/{model}.onnx"))).expect("model");
    let row = vec![0.5f32; naive_model.width()];
    let (mut naive, mut scores) = (Vec::new(), Vec::with_capacity(1));
    for _ in 0..20_000 {
        scores.clear();
        let start = timer.stamp();
        naive_model
            .score_batch(&row, 1, &mut scores)
            .expect("naive run");
        naive.push(timer.elapsed_ns(start, timer.stamp()));
    }
    all.sort_unstable();
    scoring.sort_unstable();
    naive.sort_unstable();
    let pct = |v: &[u64], q: f64| v[((v.len() - 1) as f64 * q) as usize];
    println!(
        "ml/{model}: every tick p50 {} ns p99 {} ns ({} ticks); scoring ticks p50 {} ns p99 {} ns ({} ticks); naive run() p50 {} ns ({:.2}x the scoring tick)",
        pct(&all, 0.5),
        pct(&all, 0.99),
        all.len(),
        pct(&scoring, 0.5),
        pct(&scoring, 0.99),
        scoring.len(),
        pct(&naive, 0.5),
        pct(&naive, 0.5) as f64 / pct(&scoring, 0.5) as f64
    );
}

fn bench(c: &mut Criterion) {
    for (model, symbol) in MODELS {
        let (ticks, slot) = ticks_of(symbol);
        print_percentiles(model, &ticks, slot);
        let only = scoring_ticks(model, &ticks, slot);

        let mut group = c.benchmark_group("ml/per_tick");
        group.throughput(Throughput::Elements(ticks.len() as u64));
        let mut s = strategy(model, slot, InferenceMode::PerTick);
        let mut env = Env::new(slot);
        group.bench_function(model, |b| {
            b.iter(|| {
                for tick in &ticks {
                    black_box(env.on_tick(&mut s, black_box(tick)));
                }
            })
        });
        group.throughput(Throughput::Elements(only.len() as u64));
        let mut s = strategy(model, slot, InferenceMode::PerTick);
        for tick in &ticks {
            env.on_tick(&mut s, tick);
        }
        group.bench_function(format!("{model}/scoring_only"), |b| {
            b.iter(|| {
                for tick in &only {
                    black_box(env.on_tick(&mut s, black_box(tick)));
                }
            })
        });
        group.finish();

        let mut group = c.benchmark_group("ml/batched");
        let chunk: Vec<Tick> = ticks.iter().take(CHUNK).copied().collect();
        group.throughput(Throughput::Elements(chunk.len() as u64));
        let mut s = strategy(model, slot, InferenceMode::Batched);
        group.bench_function(model, |b| {
            b.iter(|| {
                s.begin_chunk();
                for tick in &chunk {
                    s.prepare_tick(tick, 0);
                }
                s.score_chunk();
                for tick in &chunk {
                    black_box(env.on_tick(&mut s, black_box(tick)));
                }
            })
        });
        group.finish();

        let mut group = c.benchmark_group("ml/features");
        group.throughput(Throughput::Elements(ticks.len() as u64));
        let probe = strategy(model, slot, InferenceMode::PerTick);
        let schema = probe.model().sidecar.schema.clone();
        let mut row = vec![0f32; schema.len()];
        group.bench_function(model, |b| {
            b.iter_batched_ref(
                || FeatureExtractor::new(&schema, slot.price_precision),
                |extractor| {
                    for tick in &ticks {
                        black_box(extractor.update(black_box(tick), &mut row));
                    }
                },
                BatchSize::LargeInput,
            )
        });
        group.finish();

        let mut group = c.benchmark_group("ml/batch_features");
        group.throughput(Throughput::Elements(ticks.len() as u64));
        let width = schema.len();
        let mut rows = vec![0f32; CHUNK * width];
        let mut scratch = Scratch::new(&schema, CHUNK);
        group.bench_function(model, |b| {
            b.iter_batched_ref(
                || BatchExtractor::new(&schema, slot.price_precision, CHUNK),
                |extractor| {
                    for chunk in ticks.chunks(CHUNK) {
                        let mut n = 0;
                        for tick in chunk {
                            let at = n * width;
                            let row = &mut rows[at..at + width];
                            n += usize::from(extractor.stage(black_box(tick), at, row));
                        }
                        extractor.finish(&mut rows, &mut scratch);
                    }
                    black_box(&rows);
                },
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = common::criterion_config(3);
    targets = bench
}
criterion_main!(benches);
