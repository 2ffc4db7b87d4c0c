//! The real binary on real data: default run, `backtest` with `--json` and `--out`,
//! `convert`, merged files, and the exit codes.

mod common;

use common::{bin, excerpt, json, shared_data};
use predicates::prelude::*;

#[test]
fn default_run_reports_everything_on_embedded_data() {
    let output = bin().output().expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "ticks 40000",
        "orders",
        "fills",
        "rejections",
        "max drawdown",
        "ema_cross_btcusdt_spot",
        "latency (ns)",
        "strategy",
        // The excerpt spans minutes: its annualised ratios are flagged.
        "min of data; under a day they say little",
    ] {
        assert!(text.contains(needle), "report lacks {needle:?}:\n{text}");
    }
}

#[test]
fn json_summary_has_the_documented_fields() {
    let summary = json(
        &bin()
            .args(["backtest", "--strategies", "strategies", "--json"])
            .output()
            .expect("runs"),
    );
    for key in [
        "ticks",
        "load_seconds",
        "run_seconds",
        "ticks_per_second",
        "signals",
        "orders",
        "fills",
        "rejections",
        "strategies",
        "latency_ns",
        "models",
        "inference",
        "stats_interval_s",
        "stats_span_s",
    ] {
        assert!(summary.get(key).is_some(), "missing {key}");
    }
    assert_eq!(summary["ticks"], 40_000);
    let span = summary["stats_span_s"].as_f64().expect("seconds");
    assert!(
        (10.0..3600.0).contains(&span),
        "the excerpt spans about a minute: {span}"
    );
    let rows = summary["strategies"].as_array().expect("array");
    assert_eq!(rows.len(), 8, "5 rule and 3 ML strategies");
    let models = summary["models"].as_array().expect("models");
    assert_eq!(models.len(), 3);
    for model in models {
        assert_eq!(model["loaded"], true, "{model}");
        assert!(model["rows_scored"].as_u64() > Some(1000), "{model}");
        let id = model["strategy"].as_str().expect("id");
        let inference = &summary["inference"][id];
        assert_eq!(
            inference["mode"], "batched",
            "inline backtests batch: {inference}"
        );
        assert_eq!(inference["errors"], 0);
    }
    for row in rows {
        for key in [
            "id",
            "broker",
            "orders",
            "fills",
            "realized_pnl",
            "position",
        ] {
            assert!(row.get(key).is_some(), "row lacks {key}: {row}");
        }
        assert!(
            row["realized_pnl"].is_string() && row["position"].is_string(),
            "money as strings: {row}"
        );
    }
    let strategy = &summary["latency_ns"]["strategy"];
    for key in ["p50", "p99", "p999", "max"] {
        assert!(strategy[key].as_u64().is_some(), "latency lacks {key}");
    }
    let fills: u64 = rows
        .iter()
        .map(|r| r["fills"].as_u64().expect("count"))
        .sum();
    assert_eq!(summary["fills"].as_u64(), Some(fills), "fills add up");
    assert!(fills > 0, "the default strategies trade the excerpt");
}

#[test]
fn out_dir_holds_summary_fills_and_plot() {
    let dir = tempfile::tempdir().expect("tempdir");
    bin()
        .args(["backtest", "--data"])
        .arg(excerpt())
        .args(["--strategies", "strategies", "--out"])
        .arg(dir.path())
        .assert()
        .success();
    let fills = std::fs::read_to_string(dir.path().join("fills.csv")).expect("fills.csv");
    let mut lines = fills.lines();
    assert_eq!(
        lines.next(),
        Some(
            "ts_ns,correlation,strategy,broker,symbol,side,qty,price,fee,model,model_version,feature_schema_hash,order_id,liquidity,time,position"
        )
    );
    let first: Vec<&str> = lines
        .next()
        .expect("at least one fill")
        .split(',')
        .collect();
    assert_eq!(first.len(), 16);
    assert!(first[5] == "BUY" || first[5] == "SELL");
    assert!(
        first[14].starts_with("2024-08-08T23:54:") && first[14].ends_with('Z'),
        "{}",
        first[14]
    );
    assert!(
        first[15] == first[6] || first[15] == format!("-{}", first[6]),
        "position after the first fill"
    );
    assert_eq!(
        first[13], "taker",
        "the shipped strategies send market orders"
    );
    // BTCUSDT-SPOT: 2 price decimals, 5 quantity decimals in the data.
    if let Some(btc) = fills.lines().find(|l| l.contains(",BTCUSDT-SPOT,")) {
        let f: Vec<&str> = btc.split(',').collect();
        assert_eq!(f[6], "0.01000", "qty at the instrument precision");
        assert_eq!(
            f[7].split('.').nth(1).map(str::len),
            Some(2),
            "price at the instrument precision"
        );
    }
    // Fills of ML strategies name the model that decided them; rule strategies' do not.
    let sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("models/ml_momentum.json").expect("sidecar"))
            .expect("json");
    let ml_fill = fills
        .lines()
        .find(|l| l.contains(",ml_momentum_btcusdt_spot,"))
        .expect("the ML momentum strategy trades the excerpt");
    let f: Vec<&str> = ml_fill.split(',').collect();
    assert_eq!(f[9], "ml_momentum");
    assert_eq!(f[10], sidecar["version"].as_str().expect("version"));
    assert_eq!(
        f[11],
        sidecar["feature_schema_hash"].as_str().expect("hash")
    );
    let rule_fill = fills
        .lines()
        .find(|l| l.contains(",ema_cross_btcusdt_spot,"))
        .expect("ema cross trades");
    let f: Vec<&str> = rule_fill.split(',').collect();
    assert_eq!(&f[9..12], &["", "", ""], "{rule_fill}");
    // Every fill names its order, and orders.csv has that order, filled.
    let orders = std::fs::read_to_string(dir.path().join("orders.csv")).expect("orders.csv");
    assert!(
        orders.starts_with("order_id,placed_ts_ns,correlation,strategy,broker,symbol,side,type,tif,qty,limit_price,filled_qty,status,reason,replaces,closed_ts_ns\n"),
        "{orders}"
    );
    let order = orders
        .lines()
        .find(|l| l.split(',').next() == Some(f[12]))
        .expect("the fill's order is in orders.csv");
    assert!(
        order.contains(",ema_cross_btcusdt_spot,paper,BTCUSDT-SPOT,"),
        "{order}"
    );
    assert!(order.contains(",filled,"), "{order}");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("summary.json")).expect("summary"),
    )
    .expect("json");
    assert_eq!(summary["ticks"], 40_000);
    let svg = std::fs::read_to_string(dir.path().join("equity.svg")).expect("svg");
    assert!(
        svg.starts_with("<svg") && svg.contains("polyline"),
        "an SVG line chart"
    );
}

#[test]
fn fx_benchmark_case_runs_on_shared_data() {
    let Some(data) = shared_data("quotes_lean_fx_2014-05-01_07.csv") else {
        return;
    };
    let summary = json(
        &bin()
            .args(["backtest", "--data"])
            .arg(&data)
            .args([
                "--strategies",
                "benches/strategies/ema_cross_fx.toml",
                "--json",
            ])
            .output()
            .expect("runs"),
    );
    assert_eq!(summary["ticks"], 1_233_532);
    assert_eq!(summary["quotes"], 1_233_532);
    assert_eq!(
        summary["orders"], summary["fills"],
        "latency 0: every order fills"
    );
    assert_eq!(summary["strategies"].as_array().map(Vec::len), Some(4));
}

#[test]
fn merged_files_are_read_in_time_order() {
    let (Some(audusd), Some(eurusd)) = (
        shared_data("quotes_truefx_audusd_2020-01.csv"),
        shared_data("quotes_histdata_eurusd_2020-01.csv"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let strategy = dir.path().join("fx.toml");
    std::fs::write(
        &strategy,
        "id = \"ema_fx\"\nkind = \"ema_cross\"\ninstruments = [\"AUDUSD\", \"EURUSD\"]\nbrokers = [\"paper\"]\n[params]\nfast = 10\nslow = 30\nquantity = \"1000\"\n",
    )
    .expect("write");
    let out = dir.path().join("out");
    let output = bin()
        .args(["backtest", "--data"])
        .arg(&audusd)
        .arg("--data")
        .arg(&eurusd)
        .arg("--strategies")
        .arg(&strategy)
        .arg("--out")
        .arg(&out)
        .arg("--json")
        .output()
        .expect("runs");
    let summary = json(&output);
    assert_eq!(summary["ticks"], 100_000 + 99_308);
    let fills = std::fs::read_to_string(out.join("fills.csv")).expect("fills");
    let times: Vec<u64> = fills
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .next()
                .and_then(|t| t.parse().ok())
                .expect("ts")
        })
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "fills in time order across merged files"
    );
    assert!(fills.contains(",AUDUSD,") && fills.contains(",EURUSD,"));
}

#[test]
fn trades_only_equities_with_last_price() {
    let Some(data) = shared_data("trades_lean_us_equities_2013-10-07_08.csv") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let strategy = dir.path().join("spy.toml");
    std::fs::write(
        &strategy,
        "id = \"breakout_spy\"\nkind = \"breakout\"\ninstruments = [\"SPY\"]\nbrokers = [\"paper\"]\n[params]\nwindow = 500\nquantity = \"100\"\nprice_source = \"last\"\n",
    )
    .expect("write");
    let summary = json(
        &bin()
            .args(["backtest", "--data"])
            .arg(&data)
            .arg("--strategies")
            .arg(&strategy)
            .arg("--json")
            .output()
            .expect("runs"),
    );
    assert_eq!(summary["trades"], 1_042_557);
    assert!(
        summary["fills"].as_u64().expect("count") > 0,
        "breakout trades SPY"
    );
}

#[test]
fn convert_then_backtest_binary_gives_the_same_fills() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin_path = dir.path().join("excerpt.dat");
    bin()
        .args(["convert", "--data"])
        .arg(excerpt())
        .arg("--out")
        .arg(&bin_path)
        .assert()
        .success()
        .stdout(predicate::str::contains("converted 40000 rows"));
    let run = |data: &std::path::Path, out: &std::path::Path| {
        bin()
            .args(["backtest", "--data"])
            .arg(data)
            .args(["--strategies", "strategies", "--out"])
            .arg(out)
            .assert()
            .success();
        std::fs::read_to_string(out.join("fills.csv")).expect("fills")
    };
    let from_csv = run(&excerpt(), &dir.path().join("csv"));
    let from_bin = run(&bin_path, &dir.path().join("bin"));
    assert_eq!(from_csv, from_bin);
}

#[test]
fn missing_data_file_is_an_error_with_exit_code_2() {
    bin()
        .args([
            "backtest",
            "--data",
            "no/such/file.csv",
            "--strategies",
            "strategies",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no/such/file.csv"));
}

#[test]
fn bad_row_is_rejected_with_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("bad.csv");
    std::fs::write(
        &data,
        "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n1723161254000000001,BTCUSDT-SPOT,1.0,1.1,,,,\n1723161254000000002,BTCUSDT-SPOT,abc,1.1,,,,\n1723161254000000003,BTCUSDT-SPOT,1.0,1.1,,,,\n",
    )
    .expect("write");
    bin()
        .args(["backtest", "--data"])
        .arg(&data)
        .args(["--strategies", "strategies"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.csv:3").and(predicate::str::contains("bid")));
    let config = dir.path().join("skip.toml");
    let engine = alpha_panda::config::engine::DEFAULT_ENGINE_TOML
        .replace("bad_rows = \"reject\"", "bad_rows = \"skip\"");
    std::fs::write(&config, engine).expect("write");
    let summary = json(
        &bin()
            .args(["backtest", "--data"])
            .arg(&data)
            .args(["--strategies", "strategies", "--json", "--config"])
            .arg(&config)
            .output()
            .expect("runs"),
    );
    assert_eq!(summary["skipped_rows"], 1);
    assert_eq!(summary["ticks"], 2);
}
