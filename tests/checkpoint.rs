//! Checkpoints end to end on the real engine (inline runtime, the excerpt, the shipped rule
//! strategies): a run restored from a checkpoint taken mid-way, fed only the ticks after
//! it, ends exactly as the uninterrupted run, through bincode bytes as a restart would read
//! them.

mod common;

use alpha_panda::config::{EngineConfig, RuntimeMode};
use alpha_panda::domain::Tick;
use alpha_panda::feed::DataSource;
use alpha_panda::runtime::checkpoint::EngineState;
use alpha_panda::runtime::control::RunControl;
use alpha_panda::runtime::threaded::{self, RunOptions};
use alpha_panda::runtime::{Engine, RunOutcome, SliceSource, inline};

use common::{excerpt, project_root};

/// The rule strategies of `strategies/` (ML strategies keep no checkpoint yet).
fn engine() -> (Engine, Vec<Tick>) {
    engine_on(RuntimeMode::Inline)
}

fn engine_on(mode: RuntimeMode) -> (Engine, Vec<Tick>) {
    let mut config = EngineConfig::default();
    config.runtime.mode = mode;
    let files: Vec<_> = std::fs::read_dir(project_root().join("strategies"))
        .expect("strategies")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("ml_"))
        })
        .collect();
    assert!(files.len() >= 4, "{files:?}");
    let strategies = alpha_panda::strategy::load_strategies(&files).expect("valid");
    let mut assembled =
        alpha_panda::app::assemble(&config, &strategies, &[DataSource::File(excerpt())])
            .expect("assembled");
    let (mut ticks, mut chunk) = (Vec::new(), Vec::new());
    while assembled.reader.read_chunk(&mut chunk, 4096).expect("read") > 0 {
        ticks.extend_from_slice(&chunk);
    }
    (assembled.engine, ticks)
}

/// What a run's reports are made of, as text to compare.
fn results(outcome: &mut RunOutcome) -> String {
    let p = &outcome.portfolio;
    let curve = p.curve();
    let rows: Vec<Vec<alpha_panda::domain::Money>> =
        (0..curve.len()).map(|i| curve.row(i).to_vec()).collect();
    format!(
        "ticks {} signals {} orders {} rejections {:?} kill {:?} book_ticks {:?} counters {:?}\n\
         equity {:?} drawdown {:?} final {:?} curve {:?} {:?}\nfills {:?}\norders {:?}",
        outcome.ticks,
        outcome.signals,
        outcome.orders,
        outcome.rejections,
        outcome.kill_switch,
        outcome.book_ticks,
        outcome.strategy,
        p.equity(),
        p.max_drawdown(),
        p.final_sample(),
        curve.times(),
        rows,
        outcome.fills,
        outcome.order_log,
    )
}

#[test]
fn a_run_restored_from_a_checkpoint_ends_as_the_uninterrupted_one() {
    let (whole, ticks) = engine();
    let (_, mut want) =
        inline::run(whole, &mut SliceSource::new(&ticks), &mut |_| {}).expect("run");
    assert!(
        want.fills.len() > 20,
        "the strategies trade: {}",
        want.fills.len()
    );

    // The same run, checkpointed at the first chunk boundary past the middle.
    let middle = ticks.len() as u64 / 2;
    let (first, _) = engine();
    let mut taken: Option<(u64, Vec<u8>)> = None;
    let (_, mut again) = inline::run_from(
        first,
        &mut SliceSource::new(&ticks),
        &mut |_| {},
        0,
        &mut |seq, engine| {
            if taken.is_none() && seq >= middle {
                let state = engine
                    .checkpoint()
                    .expect("read back")
                    .expect("rule strategies keep state");
                let bytes = bincode::serde::encode_to_vec(&state, bincode::config::standard())
                    .expect("encode");
                taken = Some((seq, bytes));
            }
        },
    )
    .expect("run");
    assert_eq!(
        results(&mut again),
        results(&mut want),
        "taking a checkpoint changes nothing"
    );
    let (at, bytes) = taken.expect("a checkpoint was taken");
    assert!(at < ticks.len() as u64, "mid-run: {at} of {}", ticks.len());

    let (state, _): (EngineState, usize) =
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).expect("decode");
    let (mut resumed, _) = engine();
    resumed.restore(state).expect("restore");
    let rest = &ticks[at as usize..];
    let (_, mut got) = inline::run_from(
        resumed,
        &mut SliceSource::new(rest),
        &mut |_| {},
        at,
        &mut |_, _| {},
    )
    .expect("run");
    assert_eq!(results(&mut got), results(&mut want));
    eprintln!(
        "checkpoint at tick {at} of {}: {} bytes; {} fills, {} orders",
        ticks.len(),
        bytes.len(),
        want.fills.len(),
        want.order_log.len()
    );
}

/// The live runtime: checkpoints taken by the marker through the stage threads while the
/// feed goes on; restored into a fresh threaded engine, the rest of the run ends exactly as
/// the uninterrupted inline run (the runtimes agree, so this is the same reference).
#[test]
fn the_threaded_runtime_checkpoints_without_stopping_and_resumes_exactly() {
    let (whole, ticks) = engine();
    let (_, mut want) =
        inline::run(whole, &mut SliceSource::new(&ticks), &mut |_| {}).expect("run");

    let (first, _) = engine_on(RuntimeMode::Threaded);
    let (sink, taken) = crossbeam_channel::unbounded();
    let options = RunOptions {
        checkpoints: Some((8_000, sink)),
        ..RunOptions::default()
    };
    let (_, mut again) = threaded::run_with(
        first,
        &mut SliceSource::new(&ticks),
        &mut |_| {},
        &options,
        &RunControl::default(),
    )
    .expect("run");
    drop(options);
    assert_eq!(
        results(&mut again),
        results(&mut want),
        "taking checkpoints changes nothing"
    );
    let all: Vec<_> = taken.try_iter().collect();
    assert!(
        all.len() >= 3,
        "a checkpoint every 8,000 ticks: {:?}",
        all.iter().map(|t| t.0).collect::<Vec<_>>()
    );
    for (at, state) in all {
        let state = state.expect("rule strategies keep state");
        let bytes =
            bincode::serde::encode_to_vec(&state, bincode::config::standard()).expect("encode");
        let (state, _): (EngineState, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).expect("decode");
        let (mut resumed, _) = engine_on(RuntimeMode::Threaded);
        resumed.restore(state).expect("restore");
        let options = RunOptions {
            from: at,
            ..RunOptions::default()
        };
        let (_, mut got) = threaded::run_with(
            resumed,
            &mut SliceSource::new(&ticks[at as usize..]),
            &mut |_| {},
            &options,
            &RunControl::default(),
        )
        .expect("run");
        assert_eq!(
            results(&mut got),
            results(&mut want),
            "resumed at tick {at}"
        );
    }
}

/// A live config on the excerpt (20x, exits at the end) with a checkpoint every 5,000 ticks.
fn live_config(dir: &std::path::Path) -> std::path::PathBuf {
    let text = format!(
        r#"environment = "development"
[runtime]
mode = "threaded"
[feed]
kind = "replay"
path = "{data}"
speed = 20
at_end = "exit"
[metrics]
enabled = false
[logging]
dir = "{dir}/logs"
format = "json"
console = false
[output]
dir = "{dir}/out"
[journal]
checkpoint_every = 5000
[venue.paper]
kind = "paper"
[risk.paper]
max_position = "1000000"
max_open_orders = 1000
"#,
        data = excerpt().display(),
        dir = dir.display(),
    );
    let path = dir.join("engine.toml");
    std::fs::write(&path, text).expect("config");
    path
}

/// The shipped rule strategies, copied into `dir/strategies`.
fn rule_strategies(dir: &std::path::Path) -> std::path::PathBuf {
    let to = dir.join("strategies");
    std::fs::create_dir_all(&to).expect("dir");
    for entry in std::fs::read_dir(project_root().join("strategies")).expect("strategies") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".toml") && !name.starts_with("ml_") {
            std::fs::copy(&path, to.join(name)).expect("copy");
        }
    }
    to
}

fn live_run(config: &std::path::Path, strategies: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("alpha-panda"));
    cmd.arg("live")
        .arg("--config")
        .arg(config)
        .arg("--strategies")
        .arg(strategies)
        .current_dir(project_root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

fn checkpoints(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("out/journal")).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".apc"))
            .count()
    })
}

/// The real binary, killed with SIGKILL each time a new checkpoint file appears and
/// restarted: it recovers from the newest checkpoint (replaying only the ticks after it) and
/// ends with outputs byte-identical to an uninterrupted run's.
#[test]
fn live_killed_after_each_checkpoint_recovers_from_it_and_ends_as_if_never_interrupted() {
    let reference = tempfile::tempdir().expect("dir");
    let strategies = rule_strategies(reference.path());
    let status = live_run(&live_config(reference.path()), &strategies)
        .status()
        .expect("runs");
    assert!(status.success());
    let dir = tempfile::tempdir().expect("dir");
    let config = live_config(dir.path());
    let mut seen = 0;
    for _ in 0..4 {
        let mut child = live_run(&config, &strategies).spawn().expect("starts");
        for _ in 0..3000 {
            if checkpoints(dir.path()) > seen || child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        seen = checkpoints(dir.path()).max(seen);
    }
    let status = live_run(&config, &strategies).status().expect("runs");
    assert!(status.success());
    let log = std::fs::read_to_string(dir.path().join("logs/app.log")).expect("app.log");
    let recovered = log.matches("recovering from a checkpoint").count();
    assert!(
        recovered >= 2,
        "restarts recovered from checkpoints: {recovered}"
    );
    for file in ["fills.csv", "orders.csv", "trades.csv", "equity.csv"] {
        let want = std::fs::read(reference.path().join("out").join(file)).expect("reference");
        let got = std::fs::read(dir.path().join("out").join(file)).expect("recovered");
        assert!(want == got, "{file} differs from the uninterrupted run");
    }
}
