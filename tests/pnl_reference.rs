//! Exact PnL in the settlement currency, checked against an independent computation in
//! Python `Decimal` (`tests/pnl_reference.py`) over the real binary's outputs: the embedded
//! Binance excerpt with its real contract terms (COIN-M inverse, $100/$10 face, settled in
//! BTC/ETH; USDT-M linear) and a fee, so fees on inverse notionals are exercised too. Every
//! row's realized PnL and fees must match to the last of 18 decimals, and its round trips'
//! PnL must add up to realized minus fees. Without `python3` the test fails under `CI` and
//! prints `SKIPPED: python3 not found` otherwise.

mod common;

use std::process::Command;

use common::bin;
use serde_json::Value;

/// The embedded config's instruments, with a 2.5 bps fee.
const SPECS: &str = r#"{
  "BTCUSDT-SPOT": {"kind": "spot", "multiplier": "1", "fee_bps": "2.5"},
  "ETHUSDT-SPOT": {"kind": "spot", "multiplier": "1", "fee_bps": "2.5"},
  "BTCUSDT-USDM": {"kind": "linear", "multiplier": "1", "fee_bps": "2.5"},
  "ETHUSDT-USDM": {"kind": "linear", "multiplier": "1", "fee_bps": "2.5"},
  "BTCUSD-COINM": {"kind": "inverse", "multiplier": "100", "fee_bps": "2.5"},
  "ETHUSD-COINM": {"kind": "inverse", "multiplier": "10", "fee_bps": "2.5"}
}"#;

fn python() -> Option<&'static str> {
    let found = Command::new("python3").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 is required under CI"
        );
        eprintln!("SKIPPED: python3 not found");
    }
    found.then_some("python3")
}

#[test]
fn realized_pnl_and_fees_match_python_decimal() {
    let Some(python) = python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // The embedded engine config with a fee: its [instruments] and [portfolio] tables stay.
    let config =
        alpha_panda::config::engine::DEFAULT_ENGINE_TOML.replace("fee_bps = 0 ", "fee_bps = 2.5 ");
    assert_ne!(
        config,
        alpha_panda::config::engine::DEFAULT_ENGINE_TOML,
        "fee set"
    );
    let config_path = dir.path().join("engine.toml");
    std::fs::write(&config_path, config).expect("config");
    let out = dir.path().join("out");
    bin()
        .args(["backtest", "--strategies", "strategies", "--config"])
        .arg(&config_path)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let specs = dir.path().join("specs.json");
    std::fs::write(&specs, SPECS).expect("specs");
    let output = Command::new(python)
        .arg(common::project_root().join("tests/pnl_reference.py"))
        .arg(&specs)
        .arg(&out)
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let reference: Value = serde_json::from_slice(&output.stdout).expect("json");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary"))
            .expect("json");
    let decimal = |s: &str| -> i128 {
        alpha_panda::domain::Money::parse(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .0
    };
    let mut checked = 0;
    let mut inverse = 0;
    for row in summary["strategies"].as_array().expect("rows") {
        let key = format!(
            "{}|{}|{}",
            row["id"].as_str().expect("id"),
            row["broker"].as_str().expect("broker"),
            row["symbol"].as_str().expect("symbol")
        );
        let Some(r) = reference.get(&key) else {
            assert_eq!(row["fills"], 0, "{key}: fills but no reference");
            continue;
        };
        let realized = decimal(row["realized_pnl"].as_str().expect("realized"));
        let fees = decimal(row["fees"].as_str().expect("fees"));
        assert_eq!(
            realized,
            decimal(r["realized"].as_str().expect("ref")),
            "{key} realized"
        );
        assert_eq!(
            fees,
            decimal(r["fees"].as_str().expect("ref")),
            "{key} fees"
        );
        assert_eq!(
            fees,
            decimal(r["fees_engine"].as_str().expect("ref")),
            "{key} fills.csv fees"
        );
        // Round trips: closed and open ones together book every realized PnL and fee.
        assert_eq!(
            decimal(r["trips_pnl"].as_str().expect("ref")),
            realized - fees,
            "{key} trips"
        );
        assert!(fees > 0, "{key}: the fee applies");
        if row["symbol"].as_str().is_some_and(|s| s.ends_with("COINM")) {
            assert_eq!(row["currency"], "BTC", "{key} settles in the base coin");
            inverse += 1;
        }
        checked += 1;
    }
    assert!(
        checked >= 6 && inverse >= 1,
        "{checked} rows, {inverse} inverse"
    );
    // Totals never add currencies: one entry per settlement currency traded.
    let equity = summary["equity"].as_object().expect("per currency");
    assert_eq!(
        equity.keys().collect::<Vec<_>>(),
        ["USDT", "BTC"],
        "{equity:?}"
    );
    assert_eq!(summary["base_currency"]["currency"], "USDT");
}
