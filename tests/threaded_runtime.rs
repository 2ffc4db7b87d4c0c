//! The threaded runtime's live extras through the public API: the canary picks a tick a
//! strategy can trade, and faults end the run with an error instead of hanging it.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use alpha_panda::config::{EngineConfig, RuntimeMode};
use alpha_panda::domain::{InstrumentId, Tick};
use alpha_panda::runtime::{Engine, RunControl, RunOptions, SliceSource, TickSource, threaded};

/// Ticks per chunk of `SmallChunks`, as a paced live feed delivers them.
const SMALL_CHUNK: usize = 500;

/// A source that delivers at most `SMALL_CHUNK` ticks per read.
struct SmallChunks<'a>(SliceSource<'a>);

impl TickSource for SmallChunks<'_> {
    fn read_chunk(&mut self, buf: &mut Vec<Tick>, max: usize) -> Result<usize, alpha_panda::Error> {
        self.0.read_chunk(buf, max.min(SMALL_CHUNK))
    }
}

/// The excerpt's ticks and an engine over them (threaded, rings of `capacity`).
fn engine_and_ticks(capacity: usize) -> (Engine, Vec<Tick>) {
    let mut config = EngineConfig::default();
    config.runtime.mode = RuntimeMode::Threaded;
    config.runtime.ring_capacity = capacity;
    let (engine, ticks) = common::excerpt_engine(&config);
    (engine, ticks)
}

#[test]
fn the_canary_waits_for_a_tick_a_strategy_trades() {
    let (engine, ticks) = engine_and_ticks(4096);
    // No shipped strategy trades ETHUSD-COINM: put all of its ticks first.
    let untraded = engine
        .layout
        .instruments
        .find("ETHUSD-COINM")
        .expect("the excerpt has ETHUSD-COINM");
    let (mut reordered, rest): (Vec<Tick>, Vec<Tick>) =
        ticks.iter().partition(|t| t.instrument == untraded);
    let lead = reordered.len();
    assert!(
        lead > 2 * SMALL_CHUNK,
        "several chunks of untraded ticks ({lead})"
    );
    reordered.extend(rest);
    let telemetry = std::sync::Arc::clone(&engine.telemetry);
    let options = RunOptions {
        canary: true,
        journal: None,
        ..RunOptions::default()
    };
    let mut source = SmallChunks(SliceSource::new(&reordered));
    let (_, outcome) = threaded::run_with(
        engine,
        &mut source,
        &mut |_| {},
        &options,
        &RunControl::new(),
    )
    .expect("run");
    let canary = telemetry.canary.lock().clone().expect("the canary ran");
    assert!(canary.passed, "{canary:?}");
    assert_ne!(canary.instrument, "ETHUSD-COINM", "{canary:?}");
    assert!(
        canary.checked > 0 && canary.approved == canary.checked,
        "{canary:?}"
    );
    assert_eq!(
        outcome.ticks,
        reordered.len() as u64,
        "the ticks read ahead for the canary are all delivered"
    );
}

#[test]
fn a_panicking_stage_thread_ends_the_run_with_an_error() {
    // Small rings, so the producers find them full once a consumer is gone.
    let (engine, mut ticks) = engine_and_ticks(64);
    // A tick of an instrument the engine never registered: indexing per-instrument state
    // with it panics in a stage thread (a stand-in for any bug there).
    let bad = Tick {
        instrument: InstrumentId(1_000_000),
        ..ticks[100]
    };
    ticks.insert(5_000, bad);

    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut source = SliceSource::new(&ticks);
        let result = threaded::run_with(
            engine,
            &mut source,
            &mut |_| {},
            &RunOptions::default(),
            &RunControl::new(),
        );
        let _ = done_tx.send(result.map(|(_, outcome)| outcome.ticks));
    });
    match done_rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Err(e)) => assert!(e.to_string().contains("panicked"), "{e}"),
        Ok(Ok(ticks)) => panic!("the run finished normally over {ticks} ticks"),
        Err(_) => panic!("the run hung after a stage thread panicked"),
    }
}
