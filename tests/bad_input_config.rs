//! Bad-input matrix for config values that validation once accepted and that then panicked
//! or aborted (issue 12): each case is the input, the expected exit code and the expected
//! `file:line: field` message, run through the real binary (`backtest`, then `preflight`,
//! which must refuse the same input). Also the ML models that misbehave only on data
//! (`tests/data/models/`, written by `scripts/make_test_models.py`): NaN scores and a model
//! that takes one row per call.

mod common;

use std::path::{Path, PathBuf};

use common::{bin, project_root};

/// Which file of a case holds the bad value.
#[derive(Clone, Copy)]
enum File {
    Engine,
    Strategy,
}

/// One row of the matrix: `text` is the whole file named by `file` (the other is a valid
/// default), and `expected` is the `file:line: field '…': message` stderr must contain.
struct Case {
    name: &'static str,
    file: File,
    text: &'static str,
    expected: &'static str,
}

const EMA: &str = "id = \"s\"\nkind = \"ema_cross\"\ninstruments = [\"BTCUSDT-SPOT\"]\nbrokers = [\"paper\"]\n[params]\nfast = 10\nslow = 30\nquantity = \"0.01\"\n";

fn cases() -> Vec<Case> {
    vec![
        // Item 1: more decimals than any scaling reaches (was a POW10 index panic, exit 101).
        Case {
            name: "fee_bps with 19 decimals",
            file: File::Engine,
            text: "[venue.paper]\nfee_bps = \"0.0000000000000000001\"\n",
            expected: "engine.toml:2: field 'venue.paper.fee_bps': expected at most 18 decimals, found 19",
        },
        Case {
            name: "fee_bps as a TOML float with 25 decimals",
            file: File::Engine,
            text: "[venue.paper]\n\nfee_bps = 0.0000000000000000000000001\n",
            expected: "engine.toml:3: field 'venue.paper.fee_bps': expected at most 18 decimals, found 25",
        },
        Case {
            name: "taker_fee_bps with 13 decimals (bps are finer than 12 only in error)",
            file: File::Engine,
            text: "[venue.paper]\ntaker_fee_bps = \"0.0000000000001\"\n",
            expected: "engine.toml:2: field 'venue.paper.taker_fee_bps': at most 12 decimals of a bps",
        },
        Case {
            name: "min_fee with 19 decimals",
            file: File::Engine,
            text: "[venue.paper]\nmin_fee = \"1.0000000000000000000\"\n",
            expected: "engine.toml:2: field 'venue.paper.min_fee': expected at most 18 decimals, found 19",
        },
        Case {
            name: "risk max_notional with 19 decimals",
            file: File::Engine,
            text: "[venue.paper]\n[risk.paper]\nmax_notional = \"0.0000000000000000001\"\n",
            expected: "engine.toml:3: field 'risk.paper.max_notional': expected at most 18 decimals, found 19",
        },
        Case {
            name: "ML entry_threshold with 19 decimals",
            file: File::Strategy,
            text: "id = \"s\"\nkind = \"ml\"\nmodel = \"models/ml_momentum.onnx\"\ninstruments = [\"BTCUSDT-SPOT\"]\nbrokers = [\"paper\"]\n[params]\nquantity = \"0.01\"\nentry_threshold = \"0.6000000000000000001\"\n",
            expected: "s.toml:8: field 'params.entry_threshold': expected at most 18 decimals, found 19",
        },
        Case {
            name: "momentum threshold_bps with 9 decimals, at its own line",
            file: File::Strategy,
            text: "id = \"s\"\nkind = \"momentum\"\ninstruments = [\"BTCUSDT-SPOT\"]\nbrokers = [\"paper\"]\n[params]\nlookback = 5\nthreshold_bps = \"0.000000001\"\nquantity = \"0.01\"\n",
            expected: "s.toml:7: field 'params.threshold_bps': expected at most 8 decimals, found 9",
        },
        // Item 2: windows and rings that asked for tens of GiB (was SIGABRT).
        Case {
            name: "ema_cross slow of ~4e9",
            file: File::Strategy,
            text: "id = \"s\"\nkind = \"ema_cross\"\ninstruments = [\"BTCUSDT-SPOT\"]\nbrokers = [\"paper\"]\n[params]\nfast = 10\nslow = 4000000000\nquantity = \"0.01\"\n",
            expected: "s.toml:7: field 'params.slow': expected integer in 1..=1000000, found 4000000000",
        },
        Case {
            name: "momentum lookback of u32::MAX",
            file: File::Strategy,
            text: "id = \"s\"\nkind = \"momentum\"\ninstruments = [\"BTCUSDT-SPOT\"]\nbrokers = [\"paper\"]\n[params]\nlookback = 4294967295\nthreshold_bps = 1\nquantity = \"0.01\"\n",
            expected: "s.toml:6: field 'params.lookback': expected integer in 1..=1000000, found 4294967295",
        },
        Case {
            name: "mean_reversion window of ~4e9",
            file: File::Strategy,
            text: "id = \"s\"\nkind = \"mean_reversion\"\ninstruments = [\"BTCUSDT-SPOT\"]\nbrokers = [\"paper\"]\n[params]\nwindow = 4000000000\nentry_z = 2\nquantity = \"0.01\"\n",
            expected: "s.toml:6: field 'params.window': expected integer in 2..=1000000, found 4000000000",
        },
        Case {
            name: "breakout window one past the bound",
            file: File::Strategy,
            text: "id = \"s\"\nkind = \"breakout\"\ninstruments = [\"BTCUSDT-SPOT\"]\nbrokers = [\"paper\"]\n[params]\nwindow = 1000001\nquantity = \"0.01\"\n",
            expected: "s.toml:6: field 'params.window': expected integer in 1..=1000000, found 1000001",
        },
        Case {
            name: "ring_capacity of 2^24 (8.5 GiB of rings)",
            file: File::Engine,
            text: "[runtime]\nmode = \"threaded\"\nring_capacity = 16777216\n[venue.paper]\n",
            expected: "engine.toml:3: field 'runtime.ring_capacity': expected integer in 2..=524288, found 16777216",
        },
    ]
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// Writes the case's files; returns `(strategy file, engine config)`.
fn files(dir: &Path, case: &Case) -> (PathBuf, PathBuf) {
    let (strategy, engine) = match case.file {
        File::Engine => (EMA, case.text),
        File::Strategy => (case.text, "[venue.paper]\n"),
    };
    (
        write(dir, "s.toml", strategy),
        write(dir, "engine.toml", engine),
    )
}

#[test]
fn values_that_used_to_panic_or_abort_are_config_errors_in_backtest() {
    for case in cases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (strategy, engine) = files(dir.path(), &case);
        let output = bin()
            .args(["backtest", "--strategies"])
            .arg(&strategy)
            .arg("--config")
            .arg(&engine)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{}: {stderr}", case.name);
        assert!(
            stderr.contains(case.expected),
            "{}: missing {:?} in:\n{stderr}",
            case.name,
            case.expected
        );
    }
}

#[test]
fn preflight_refuses_the_same_values() {
    for case in cases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (strategy, engine) = files(dir.path(), &case);
        let output = bin()
            .args(["preflight", "--strategies"])
            .arg(&strategy)
            .arg("--config")
            .arg(&engine)
            .arg("--out")
            .arg(dir.path().join("out"))
            .output()
            .expect("runs");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.status.code(), Some(2), "{}: {all}", case.name);
        assert!(
            all.contains(case.expected),
            "{}: missing {:?} in:\n{all}",
            case.name,
            case.expected
        );
    }
}

/// A strategy file trading BTCUSDT-SPOT with the test model `model` (`tests/data/models/`).
fn ml_strategy(dir: &Path, model: &Path) -> PathBuf {
    write(
        dir,
        "ml.toml",
        &format!(
            "id = \"ml_test\"\nkind = \"ml\"\nmodel = \"{}\"\ninstruments = [\"BTCUSDT-SPOT\"]\nbrokers = [\"paper\"]\n[params]\nquantity = \"0.01\"\n",
            model.display()
        ),
    )
}

fn test_model(name: &str) -> PathBuf {
    project_root().join(format!("tests/data/models/{name}.onnx"))
}

#[test]
fn a_feature_window_of_4e9_in_a_sidecar_is_refused_in_production() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("wide.onnx");
    std::fs::copy(test_model("nan_score"), &model).expect("copy model");
    let sidecar = std::fs::read_to_string(project_root().join("tests/data/models/nan_score.json"))
        .expect("sidecar")
        .replace(
            "{\n      \"name\": \"spread_bps\"\n    }",
            "{\"name\": \"zscore\", \"params\": {\"n\": 4000000000}}",
        );
    assert!(sidecar.contains("4000000000"), "the edit applied");
    std::fs::write(dir.path().join("wide.json"), sidecar).expect("write sidecar");
    let strategy = ml_strategy(dir.path(), &model);
    let engine = common::engine_config(
        dir.path(),
        "prod.toml",
        &[(
            "environment = \"development\"",
            "environment = \"production\"",
        )],
    );
    let output = bin()
        .args(["backtest", "--strategies"])
        .arg(&strategy)
        .arg("--config")
        .arg(&engine)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    // The strategy file's line and field, then the sidecar's own field.
    let needle =
        "wide.json: field 'features[0]': param 'n' must be in 2..=1000000, found 4000000000";
    assert!(
        stderr.contains("ml.toml:3: field 'model'") && stderr.contains(needle),
        "missing {needle:?} in:\n{stderr}"
    );
}

/// Runs a backtest of `strategy` on the embedded data with `extra` arguments; returns the
/// exit code, the JSON summary (`--out`) and stderr.
fn ml_backtest(
    dir: &Path,
    strategy: &Path,
    extra: &[&str],
) -> (Option<i32>, serde_json::Value, String) {
    let out = dir.join("out");
    let output = bin()
        .args(["backtest", "--strategies"])
        .arg(strategy)
        .arg("--out")
        .arg(&out)
        .args(extra)
        .output()
        .expect("runs");
    let summary = std::fs::read_to_string(out.join("summary.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    (
        output.status.code(),
        summary,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn nan_scores_are_inference_errors_and_a_model_that_never_scored_exits_1() {
    // Batched (inline) and per tick (threaded): both paths count the NaNs.
    for (mode, extra) in [
        ("batched", &[][..]),
        ("per_tick", &["--runtime", "threaded"][..]),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let strategy = ml_strategy(dir.path(), &test_model("nan_score"));
        let (code, summary, stderr) = ml_backtest(dir.path(), &strategy, extra);
        assert_eq!(code, Some(1), "{mode}: {stderr}");
        assert!(
            stderr.contains("error: ML strategy ml_test: every inference failed"),
            "{mode}: {stderr}"
        );
        let inference = &summary["inference"]["ml_test"];
        assert_eq!(inference["mode"], mode, "{summary:#}");
        assert!(
            inference["errors"].as_u64().unwrap_or(0) > 1000,
            "{mode}: NaN scores counted: {inference:#}"
        );
        assert_eq!(
            summary["models"][0]["rows_scored"], 0,
            "{mode}: {summary:#}"
        );
        assert_eq!(summary["fills"], 0, "{mode}: no signal taken from a NaN");
    }
}

#[test]
fn a_model_with_a_fixed_batch_of_one_is_scored_per_tick_not_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let strategy = ml_strategy(dir.path(), &test_model("batch_one"));
    let (code, summary, stderr) = ml_backtest(dir.path(), &strategy, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("model takes one row per call") && stderr.contains("fixed batch dimension"),
        "{stderr}"
    );
    let inference = &summary["inference"]["ml_test"];
    assert_eq!(inference["mode"], "per_tick", "{summary:#}");
    assert_eq!(inference["errors"], 0, "{summary:#}");
    let rows = summary["models"][0]["rows_scored"].as_u64().unwrap_or(0);
    assert!(rows > 1000, "{summary:#}");
    assert_eq!(inference["calls"].as_u64(), Some(rows), "{summary:#}");

    let output = bin()
        .args(["preflight", "--strategies"])
        .arg(&strategy)
        .arg("--out")
        .arg(dir.path().join("preflight"))
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("ml.toml:3: the model takes one row per call"),
        "{stdout}"
    );
}
