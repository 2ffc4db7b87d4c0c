//! Compute-time-aware backtests through the real binary on the embedded excerpt: a modelled
//! compute time moves fills later (never earlier) than a run that charges none, and a
//! measured run's recorded charges replay to byte-identical results.

mod common;

use common::bin;
use serde_json::Value;

fn run(dir: &std::path::Path, name: &str, compute: &str) -> (Value, String) {
    let config = format!(
        "{}\n[compute]\n{compute}\n",
        alpha_panda::config::engine::DEFAULT_ENGINE_TOML
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).expect("config");
    let out = dir.join(name);
    let stdout = bin()
        .args([
            "backtest",
            "--json",
            "--strategies",
            "strategies",
            "--config",
        ])
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let fills = std::fs::read_to_string(out.join("fills.csv")).expect("fills");
    (serde_json::from_slice(&stdout).expect("json"), fills)
}

/// `(order_id, ts_ns)` of each fill.
fn fill_times(fills: &str) -> Vec<(String, u64)> {
    fills
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (format!("{}:{}", f[2], f[12]), f[0].parse().expect("ts"))
        })
        .collect()
}

#[test]
fn modelled_compute_time_delays_fills() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, off) = run(dir.path(), "off", "mode = \"off\"");
    let (summary, slow) = run(
        dir.path(),
        "model",
        "mode = \"model\"\ndefault_ns = 50000000",
    );
    assert_ne!(off, slow, "50 ms per decision changes the fills");
    let first_off = fill_times(&off)[0].1;
    let first_slow = fill_times(&slow)[0].1;
    assert!(
        first_slow >= first_off + 50_000_000,
        "the first fill comes at least the compute time later: {first_off} vs {first_slow}"
    );
    assert_eq!(summary["compute"]["mode"], "model");
}

#[test]
fn measured_compute_time_replays_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let samples = dir.path().join("compute.csv");
    let s = samples.display().to_string();
    let (measured, measured_fills) = run(
        dir.path(),
        "measured",
        &format!("mode = \"measured\"\nsamples = {s:?}"),
    );
    let recorded = std::fs::read_to_string(&samples).expect("samples written");
    let n = recorded.lines().count() as u64;
    assert!(n > 0, "every charged decision is recorded");
    assert_eq!(measured["compute"]["charged"], n);
    let (replayed, replayed_fills) = run(
        dir.path(),
        "replay",
        &format!("mode = \"replay\"\nsamples = {s:?}"),
    );
    assert_eq!(
        measured_fills, replayed_fills,
        "replay reproduces the measured run"
    );
    assert_eq!(replayed["compute"]["replay_exhausted"], 0);
    assert_eq!(measured["equity"], replayed["equity"]);

    // A bad samples file is refused with its line.
    std::fs::write(&samples, "12\nlots\n").expect("write");
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[compute]\nmode = \"replay\"\nsamples = {s:?}\n",
            alpha_panda::config::engine::DEFAULT_ENGINE_TOML
        ),
    )
    .expect("config");
    let stderr = bin()
        .args(["backtest", "--strategies", "strategies", "--config"])
        .arg(&config)
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    assert!(
        String::from_utf8_lossy(&stderr).contains("compute.csv:2: expected a compute time"),
        "{}",
        String::from_utf8_lossy(&stderr)
    );
}
