//! The tick path allocates nothing after warm-up: a counting global allocator watches every
//! stage (feed decode excluded) while the shipped strategies, the three ML strategies among
//! them, and the two example strategies of users run over real ticks with order events
//! flowing back: market orders, resting limit orders that are modified, cancelled and
//! partly filled at the touch size, refusals and timers. ML strategies score per tick here,
//! as live trading does; ONNX Runtime's own C++ allocations go through its arena and the C
//! allocator, which this counter does not see. What it proves is that our side of the call
//! allocates nothing.

mod common;

#[path = "../examples/long_short_ema.rs"]
#[allow(dead_code, reason = "only the strategy is used here")]
mod long_short_ema;
#[path = "../examples/passive_quoter.rs"]
#[allow(dead_code, reason = "only the strategy is used here")]
mod passive_quoter;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use alpha_panda::clock::LatencyTimer;
use alpha_panda::config::{EngineConfig, MlInference};
use alpha_panda::domain::Tick;
use alpha_panda::metrics::LatencyRecorder;
use alpha_panda::runtime::MlRunStats;
use alpha_panda::runtime::inline::{InlineBuffers, process_tick};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts.
#[allow(
    unsafe_code,
    reason = "a global allocator is an unsafe trait; this one only counts and forwards"
)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The counter is process-wide: the tests of this binary take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The shipped strategies plus both examples, on the excerpt, with partial fills at the touch
/// size and a rate limit that refuses now and then (so refusals and timers happen too).
fn engine_with_examples(config: &EngineConfig) -> (alpha_panda::runtime::Engine, Vec<Tick>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut paths = vec![common::project_root().join("strategies")];
    for (id, kind, instruments, params) in [
        (
            "quoter",
            "passive_quoter",
            "\"BTCUSDT-SPOT\", \"ETHUSDT-SPOT\"",
            "",
        ),
        (
            "lse",
            "long_short_ema",
            "\"BTCUSDT-USDM\", \"ETHUSDT-USDM\"",
            "fast = 5\nslow = 20\n",
        ),
    ] {
        let path = dir.path().join(format!("{id}.toml"));
        std::fs::write(
            &path,
            format!(
                "id = \"{id}\"\nkind = \"{kind}\"\ninstruments = [{instruments}]\nbrokers = [\"paper\"]\n[params]\n{params}quantity = \"0.01\"\n"
            ),
        )
        .expect("write");
        paths.push(path);
    }
    let mut registry = alpha_panda::strategy::Registry::builtin();
    registry.register::<passive_quoter::PassiveQuoter>("passive_quoter");
    registry.register::<long_short_ema::LongShortEma>("long_short_ema");
    let strategies = alpha_panda::strategy::config::load_strategies_with(&paths, &registry)
        .expect("strategies are valid");
    let sources = [alpha_panda::feed::DataSource::File(common::excerpt())];
    let mut assembled =
        alpha_panda::app::assemble(config, &strategies, &sources).expect("assembled");
    let (mut ticks, mut chunk) = (Vec::new(), Vec::new());
    while assembled.reader.read_chunk(&mut chunk, 4096).expect("read") > 0 {
        ticks.extend_from_slice(&chunk);
    }
    (assembled.engine, ticks)
}

/// The default config with partial fills and a binding rate limit.
fn busy_config() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.brokers[0].fill_size = alpha_panda::execution::FillSize::Touch;
    config.brokers[0].risk.max_orders_per_second = Some(20);
    config
}

#[test]
fn zero_allocations_per_tick_after_warm_up() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut config = busy_config();
    config.runtime.ml_inference = MlInference::PerTick;
    let (mut engine, mut ticks) = engine_with_examples(&config);
    let mut buffers = InlineBuffers::new(&engine);
    let timer = LatencyTimer::default();
    let mut latency = LatencyRecorder::default();

    let (warm_up, measured) = ticks.split_at_mut(10_000);
    for (seq, tick) in warm_up.iter_mut().enumerate() {
        process_tick(
            &mut engine,
            tick,
            seq as u64,
            &mut buffers,
            &timer,
            &mut latency,
            seq % 16 == 0,
        );
    }
    let fills_before = engine.portfolio.fill_count();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for (i, tick) in measured.iter_mut().enumerate() {
        let seq = (i + 10_000) as u64;
        // Every tick sampled: timing and histograms are on the path too.
        process_tick(
            &mut engine,
            tick,
            seq,
            &mut buffers,
            &timer,
            &mut latency,
            true,
        );
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    let fills = engine.portfolio.fill_count() - fills_before;
    let scored: u64 = MlRunStats::of(&engine.strategy)
        .iter()
        .map(|m| m.rows)
        .sum();
    assert!(
        scored > 5_000,
        "the ML strategies must score on the measured ticks ({scored})"
    );
    assert!(
        fills > 0,
        "the measured ticks must produce fills, or the test proves little"
    );
    assert_eq!(
        allocations,
        0,
        "{allocations} allocations over {} ticks ({fills} fills)",
        measured.len()
    );
}

/// Allocations made by one threaded run over `ticks`, with the live extras on (canary,
/// audit events) and an observer asking for metric snapshots all along.
/// Returns allocations, fills, and the smaller of (audit events seen, latency samples the
/// observer saw handed off).
fn threaded_run_allocations(ticks: &[Tick]) -> (u64, usize, u64) {
    use alpha_panda::metrics::Stage;
    use alpha_panda::metrics::telemetry::LatencySlot;
    use alpha_panda::runtime::{RunControl, RunOptions, SliceSource, threaded};
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    let mut config = busy_config();
    config.runtime.mode = alpha_panda::config::RuntimeMode::Threaded;
    let (engine, _) = engine_with_examples(&config);
    let telemetry = Arc::clone(&engine.telemetry);
    let (audit_tx, audit_rx) = crossbeam_channel::bounded(1 << 16);
    let done = Arc::new(AtomicBool::new(false));
    let observer_done = Arc::clone(&done);
    // Asks for snapshots (latency copies, PnL) and drains audit events, allocating nothing.
    let observer = std::thread::spawn(move || {
        let mut events = 0u64;
        let mut handed_off = 0u64;
        while !observer_done.load(Ordering::Acquire) {
            telemetry.request_snapshot();
            // Reading folds each handed-off interval and frees the spare for the next one.
            for slot in [
                LatencySlot::Strategy,
                LatencySlot::Risk,
                LatencySlot::Execution,
            ] {
                handed_off += telemetry.read_latency(slot, |l| l.summary(Stage::Strategy).count);
            }
            telemetry.for_each_inference(|_, h| handed_off += h.len());
            while audit_rx.try_recv().is_ok() {
                events += 1;
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        (events, handed_off)
    });
    // The journal is on, as in a live run: ticks and order events go to its thread.
    let journal_dir = tempfile::tempdir().expect("temp dir");
    let writer = alpha_panda::journal::writer::SegmentWriter::create(journal_dir.path(), 0, 64)
        .expect("segment");
    let start = alpha_panda::journal::Entry::End(alpha_panda::journal::EndRecord {
        ticks: 0,
        wall_ns: 0,
    });
    let journal = alpha_panda::journal::writer::spawn(
        writer,
        start,
        &alpha_panda::journal::JournalConfig::default(),
        0,
        Box::new(|| {}),
    )
    .expect("journal thread");
    let options = RunOptions {
        audit: Some(audit_tx),
        canary: true,
        journal: Some(journal.link.clone()),
        ..RunOptions::default()
    };
    let control = RunControl::new();
    let mut source = SliceSource::new(ticks);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let (_, outcome) =
        threaded::run_with(engine, &mut source, &mut |_| {}, &options, &control).expect("run");
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    drop(options);
    let shared = std::sync::Arc::clone(&journal.link.shared);
    drop(journal.link);
    journal.thread.join().expect("journal thread");
    assert_eq!(
        shared.records.load(Ordering::Relaxed),
        1 + ticks.len() as u64 + shared.exec_written.load(Ordering::Relaxed),
        "every tick and order event journaled"
    );
    done.store(true, Ordering::Release);
    let (audited, handed_off) = observer.join().expect("observer");
    (allocations, outcome.fills.len(), audited.min(handed_off))
}

#[test]
fn threaded_runtime_allocations_do_not_grow_with_ticks() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (_, ticks) = engine_with_examples(&busy_config());

    // The first run in a process pays one-time set-up (thread-locals, runtime calibration).
    threaded_run_allocations(&ticks[..1_000]);
    let (short, short_fills, _) = threaded_run_allocations(&ticks[..20_000]);
    let (long, long_fills, audited) = threaded_run_allocations(&ticks);
    assert!(
        audited > 0,
        "audit events flowed and stage threads handed their latency off"
    );
    assert!(
        long_fills > short_fills,
        "the extra ticks must trade ({short_fills} vs {long_fills} fills)"
    );
    // Start-up and shutdown allocate the same in both runs (give or take a thread-local
    // or two set up depending on which thread gets there first); per tick, per signal and
    // per fill nothing does, metric publishing and snapshot copies included. 20,000 more
    // ticks with their signals and fills would add thousands.
    assert!(
        long <= short + 4,
        "allocations: {short} over 20,000 ticks vs {long} over {} ticks",
        ticks.len()
    );
}
