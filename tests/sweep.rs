//! `alpha-panda sweep` through the real binary on the embedded excerpt: the table is the
//! same whatever `--jobs`, every variant equals a standalone backtest of its strategy file,
//! sweep files (ranges, random search) work, and bad grids are refused with exit 2 naming
//! the variant and field.

mod common;

use common::bin;
use serde_json::Value;

const BASE: &str = "strategies/ema_cross_btcusdt_spot.toml";

fn sweep_json(dir: &std::path::Path, jobs: &str) -> Value {
    bin()
        .args([
            "sweep",
            "--strategy",
            BASE,
            "--grid",
            "fast=5,10,20",
            "--grid",
            "slow=30,60",
        ])
        .args(["--jobs", jobs, "--out"])
        .arg(dir)
        .assert()
        .success();
    let text = std::fs::read_to_string(dir.join("sweep.json")).expect("sweep.json");
    serde_json::from_str(&text).expect("json")
}

#[test]
fn table_is_the_same_for_any_jobs_and_each_variant_is_a_standalone_backtest() {
    let one = tempfile::tempdir().expect("tempdir");
    let two = tempfile::tempdir().expect("tempdir");
    let a = sweep_json(one.path(), "1");
    let b = sweep_json(two.path(), "2");
    assert_eq!(a["rows"], b["rows"], "jobs 1 vs 2");
    assert_eq!(a["jobs"], 1);
    let rows = a["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 6);
    let pnl = |r: &Value| {
        r["net_pnl"]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .expect("pnl")
    };
    assert!(
        rows.windows(2).all(|w| pnl(&w[0]) >= pnl(&w[1])),
        "sorted by net_pnl desc"
    );
    let csv = std::fs::read_to_string(one.path().join("sweep.csv")).expect("csv");
    assert!(
        csv.starts_with("variant,fast,slow,fills,net_pnl,currency,return,volatility,sharpe,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 7);
    let html = std::fs::read_to_string(one.path().join("sweep.html")).expect("html");
    assert!(
        html.contains("net_pnl by fast (rows) and slow (columns)"),
        "heatmap for a 2-D grid"
    );
    for row in rows {
        let id = row["variant"].as_str().expect("id");
        let file = one.path().join("variants").join(format!("{id}.toml"));
        let out = bin()
            .args(["backtest", "--json", "--strategies"])
            .arg(&file)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let standalone: Value = serde_json::from_slice(&out).expect("summary");
        assert_eq!(row["fills"], standalone["fills"], "{id} fills");
        assert_eq!(row["net_pnl"], standalone["equity"]["USDT"], "{id} net pnl");
        for key in ["sharpe", "max_drawdown", "round_trips", "win_rate", "fees"] {
            assert_eq!(row[key], standalone["stats"]["USDT"][key], "{id} {key}");
        }
        let text = std::fs::read_to_string(&file).expect("variant file");
        let fast = row["fast"].as_str().expect("fast");
        assert!(text.contains(&format!("fast = {fast}")), "{id}: {text}");
    }
}

#[test]
fn sweep_file_with_range_and_random_search() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("sweep.toml");
    let base = common::project_root().join(BASE);
    std::fs::write(
        &file,
        format!(
            "strategy = {:?}\n[grid]\nfast = {{ min = 4, max = 12, step = 2 }}\nslow = [40, 80]\n[random]\nsamples = 4\nseed = 11\n",
            base.display().to_string()
        ),
    )
    .expect("write");
    let out = bin()
        .args(["sweep", "--json", "--sort", "variant:asc", "--sweep"])
        .arg(&file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let rows: Value = serde_json::from_slice(&out).expect("json");
    let ids: Vec<&str> = rows
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["variant"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 4, "4 of the 10 grid points");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let again = bin()
        .args(["sweep", "--json", "--sort", "variant:asc", "--sweep"])
        .arg(&file)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(out, again, "seeded: the same sample");
}

#[test]
fn bad_grids_are_refused_with_the_variant_and_field() {
    let cases: [(&[&str], &str); 4] = [
        (&["--grid", "fast"], "expected NAME=V1,V2"),
        (&["--grid", "fast=0,5"], "#v001"),
        (&["--grid", "colour=1,2"], "colour"),
        (
            &["--grid", "fast=5", "--sort", "luck"],
            "unknown column 'luck'",
        ),
    ];
    for (args, needle) in cases {
        let output = bin()
            .args(["sweep", "--strategy", BASE])
            .args(args)
            .assert()
            .code(2)
            .get_output()
            .stderr
            .clone();
        let stderr = String::from_utf8_lossy(&output);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    bin().args(["sweep", "--grid", "fast=5"]).assert().code(2);
}
