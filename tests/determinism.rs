//! Determinism: the same data and config give byte-identical fills and summaries (timings
//! aside), run after run and in the inline and threaded runtimes alike.

mod common;

use std::path::Path;

use common::{bin, excerpt, shared_data, without_timings};

fn run(data: &Path, strategies: &str, runtime: &str, out: &Path) -> (String, serde_json::Value) {
    let output = bin()
        .args(["backtest", "--data"])
        .arg(data)
        .args([
            "--strategies",
            strategies,
            "--runtime",
            runtime,
            "--json",
            "--out",
        ])
        .arg(out)
        .output()
        .expect("runs");
    let summary = common::json(&output);
    assert_eq!(summary["runtime"], runtime);
    (
        std::fs::read_to_string(out.join("fills.csv")).expect("fills"),
        without_timings(summary),
    )
}

fn assert_same_everywhere(data: &Path, strategies: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fills_a, summary_a) = run(data, strategies, "inline", &dir.path().join("a"));
    let (fills_b, summary_b) = run(data, strategies, "inline", &dir.path().join("b"));
    let (fills_t, summary_t) = run(data, strategies, "threaded", &dir.path().join("t"));
    assert!(fills_a.lines().count() > 1, "the case must trade");
    assert_eq!(fills_a, fills_b, "two inline runs");
    assert_eq!(summary_a, summary_b, "two inline runs");
    assert_eq!(fills_a, fills_t, "inline vs threaded fills");
    assert_eq!(summary_a, summary_t, "inline vs threaded summary");
}

#[test]
fn shipped_strategies_on_the_excerpt() {
    assert_same_everywhere(&excerpt(), "strategies");
}

#[test]
fn shipped_strategies_on_the_full_binance_set() {
    let Some(data) = shared_data("mixed_binance_l1_2024-08-08.csv") else {
        return;
    };
    assert_same_everywhere(&data, "strategies");
}

#[test]
fn ema_cross_on_the_fx_benchmark_set() {
    let Some(data) = shared_data("quotes_lean_fx_2014-05-01_07.csv") else {
        return;
    };
    assert_same_everywhere(&data, "benches/strategies/ema_cross_fx.toml");
}
