//! ML strategies end to end with real ONNX Runtime inference: the Rust extractor and Rust
//! inference against the golden files Python wrote, batched against per-tick inference, and
//! what happens to a strategy whose model is missing, broken or trained on other features.

mod common;

use std::path::{Path, PathBuf};

use alpha_panda::config::EngineConfig;
use alpha_panda::domain::{InstrumentTable, Tick};
use alpha_panda::feed::{DataSource, TickReader, scan_instruments};
use alpha_panda::ml::{FeatureExtractor, Model, Sidecar};
use common::{bin, excerpt, project_root};

const MODELS: [&str; 3] = ["ml_momentum", "ml_mean_reversion", "ml_breakout"];

struct Golden {
    symbol: String,
    scored_total: usize,
    hash: String,
    /// `(CSV line, features, score)`.
    rows: Vec<(usize, Vec<f32>, f32)>,
}

fn golden(model: &str) -> Golden {
    let path = project_root().join(format!("tests/data/golden/{model}.json"));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("golden file")).expect("json");
    Golden {
        symbol: v["symbol"].as_str().expect("symbol").to_owned(),
        scored_total: v["scored_total"].as_u64().expect("scored_total") as usize,
        hash: v["feature_schema_hash"].as_str().expect("hash").to_owned(),
        rows: v["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| {
                (
                    r["line"].as_u64().expect("line") as usize,
                    r["features"]
                        .as_array()
                        .expect("features")
                        .iter()
                        .map(|f| f.as_f64().expect("number") as f32)
                        .collect(),
                    r["score"].as_f64().expect("score") as f32,
                )
            })
            .collect(),
    }
}

fn excerpt_ticks() -> (InstrumentTable, Vec<Tick>) {
    let sources = [DataSource::File(excerpt())];
    let mut table = InstrumentTable::new();
    scan_instruments(&sources, &EngineConfig::default().instruments, &mut table).expect("scan");
    let mut reader = TickReader::open(&sources, &table, Default::default()).expect("open");
    let (mut all, mut chunk) = (Vec::new(), Vec::new());
    while reader.read_chunk(&mut chunk, 4096).expect("read") > 0 {
        all.extend_from_slice(&chunk);
    }
    (table, all)
}

fn model_path(model: &str) -> PathBuf {
    project_root().join(format!("models/{model}.onnx"))
}

fn close(a: f32, b: f32, tolerance: f64) -> bool {
    (f64::from(a) - f64::from(b)).abs() <= tolerance * f64::from(b).abs().max(1.0)
}

#[test]
fn rust_extractor_reproduces_the_golden_feature_vectors() {
    let (table, ticks) = excerpt_ticks();
    for model in MODELS {
        let golden = golden(model);
        let sidecar = Sidecar::load(&model_path(model).with_extension("json")).expect("sidecar");
        assert_eq!(sidecar.feature_schema_hash, golden.hash, "{model}");
        let id = table
            .find(&golden.symbol)
            .expect("golden symbol in the excerpt");
        let mut extractor = FeatureExtractor::new(&sidecar.schema, table.spec(id).price_precision);
        let mut row = vec![0f32; sidecar.schema.len()];
        let mut scored = Vec::new();
        for (index, tick) in ticks.iter().enumerate() {
            // One tick per CSV row here, after the header line.
            if tick.instrument == id && extractor.update(tick, &mut row) {
                scored.push((index + 2, row.clone()));
            }
        }
        assert_eq!(scored.len(), golden.scored_total, "{model}: scoring events");
        for ((line, features), (golden_line, golden_features, _)) in scored.iter().zip(&golden.rows)
        {
            assert_eq!(
                line, golden_line,
                "{model}: scoring events at the same ticks"
            );
            for (i, (a, b)) in features.iter().zip(golden_features).enumerate() {
                assert!(
                    close(*a, *b, 1e-6),
                    "{model} line {line} feature {i} ({:?}): rust {a} python {b}",
                    sidecar.schema.features[i]
                );
            }
        }
        assert!(golden.rows.len() >= 200, "{model}: a meaningful golden set");
    }
}

#[test]
fn rust_inference_matches_python_onnxruntime_scores() {
    for model in MODELS {
        let golden = golden(model);
        let mut loaded = Model::load(&model_path(model)).expect("model loads");
        let width = loaded.width();
        let mut flat = Vec::new();
        for (line, features, score) in &golden.rows {
            let live = loaded.score(features).expect("live inference");
            assert!(
                close(live, *score, 1e-6),
                "{model} line {line}: rust {live} python {score}"
            );
            flat.extend_from_slice(features);
        }
        let mut batch = Vec::new();
        loaded
            .score_batch(&flat, flat.len() / width, &mut batch)
            .expect("batched inference");
        assert_eq!(batch.len(), golden.rows.len());
        for ((line, features, _), batched) in golden.rows.iter().zip(&batch) {
            let live = loaded.score(features).expect("live inference");
            assert_eq!(
                live.to_bits(),
                batched.to_bits(),
                "{model} line {line}: per-row and batched scores differ"
            );
        }
    }
}

fn engine_toml(dir: &Path, environment: &str, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(project_root().join("src/config/default_engine.toml"))
        .expect("default config")
        .replace(
            "environment = \"development\"",
            &format!("environment = \"{environment}\""),
        )
        .replace("ml_inference = \"auto\"", extra);
    let path = dir.join(format!("{environment}.toml"));
    std::fs::write(&path, text).expect("write config");
    path
}

/// Runs `alpha-panda <args>` and returns its output (any exit code).
fn run(args: &[&std::ffi::OsStr]) -> std::process::Output {
    bin().args(args).output().expect("runs")
}

/// Runs `alpha-panda <args>`, expects exit code 2 and every needle on stderr.
fn fails_with(args: &[&std::ffi::OsStr], needles: &[&str]) -> std::process::Output {
    let output = run(args);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in needles {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
    output
}

fn fills_with(inference: &str, runtime: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = engine_toml(
        dir.path(),
        "development",
        &format!("ml_inference = \"{inference}\""),
    );
    let out = dir.path().join("out");
    let output = bin()
        .args([
            "backtest",
            "--strategies",
            "strategies",
            "--runtime",
            runtime,
            "--json",
            "--config",
        ])
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("runs");
    let summary = common::json(&output);
    for (id, row) in summary["inference"].as_object().expect("inference") {
        assert_eq!(row["mode"], inference, "{id}");
    }
    std::fs::read_to_string(out.join("fills.csv")).expect("fills")
}

#[test]
fn batched_and_per_tick_inference_give_the_same_fills() {
    let batched = fills_with("batched", "inline");
    let per_tick = fills_with("per_tick", "inline");
    let threaded = fills_with("per_tick", "threaded");
    assert!(
        batched.lines().filter(|l| l.contains(",ml_")).count() > 20,
        "the ML strategies must trade for this to prove anything"
    );
    assert_eq!(batched, per_tick, "inline: batched vs per tick");
    assert_eq!(batched, threaded, "inline batched vs threaded per tick");
}

/// A strategy folder with one good ML strategy and three broken ones: a missing model, a
/// sidecar whose features were edited (hash mismatch), and a file that is not ONNX.
fn broken_models(dir: &Path) -> PathBuf {
    let models = dir.join("models");
    std::fs::create_dir_all(&models).expect("mkdir");
    let root = project_root();
    for name in ["ml_momentum", "ml_mean_reversion"] {
        for ext in ["onnx", "json"] {
            std::fs::copy(
                root.join(format!("models/{name}.{ext}")),
                models.join(format!("{name}.{ext}")),
            )
            .expect("copy model");
        }
    }
    let sidecar = models.join("ml_mean_reversion.json");
    let text = std::fs::read_to_string(&sidecar)
        .expect("sidecar")
        .replacen("\"n\": 50", "\"n\": 60", 1);
    std::fs::write(&sidecar, text).expect("edit sidecar");
    std::fs::write(models.join("garbage.onnx"), b"not an onnx model").expect("garbage");
    std::fs::copy(
        root.join("models/ml_momentum.json"),
        models.join("garbage.json"),
    )
    .expect("sidecar");
    let strategies = dir.join("strategies");
    std::fs::create_dir_all(&strategies).expect("mkdir");
    let strategy = |id: &str, model: &str| {
        std::fs::write(
            strategies.join(format!("{id}.toml")),
            format!(
                "id = \"{id}\"\nkind = \"ml\"\nmodel = \"{model}\"\ninstruments = [\"BTCUSDT-SPOT\"]\nbrokers = [\"paper\"]\n[params]\nquantity = \"0.01\"\n"
            ),
        )
        .expect("strategy file");
    };
    strategy("good", "./models/ml_momentum.onnx");
    strategy("missing", "models/nowhere.onnx");
    strategy("mismatch", "models/ml_mean_reversion.onnx");
    strategy("garbage", "models/garbage.onnx");
    strategies
}

#[test]
fn development_disables_each_broken_model_with_one_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let strategies = broken_models(dir.path());
    let config = engine_toml(dir.path(), "development", "ml_inference = \"auto\"");
    let output = run(&[
        "backtest".as_ref(),
        "--json".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--strategies".as_ref(),
        strategies.as_os_str(),
    ]);
    let summary = common::json(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("ML strategy disabled"))
        .collect();
    assert_eq!(warnings.len(), 3, "one WARN per broken model:\n{stderr}");
    for (id, reason) in [
        ("missing", "not found"),
        ("mismatch", "feature_schema_hash"),
        ("garbage", "ONNX Runtime cannot load the model"),
    ] {
        let line = warnings
            .iter()
            .find(|w| w.contains(&format!("{id}.toml")))
            .unwrap_or_else(|| panic!("no warning names {id}.toml:\n{stderr}"));
        assert!(line.contains("WARN") && line.contains(reason), "{line}");
    }
    assert_eq!(summary["configured_strategies"], 4);
    assert_eq!(summary["registered_strategies"], 1);
    assert_eq!(summary["brokers"][0]["configured_strategies"], 4);
    assert_eq!(summary["brokers"][0]["registered_strategies"], 1);
    let models = summary["models"].as_array().expect("models");
    let loaded: Vec<bool> = models.iter().map(|m| m["loaded"] == true).collect();
    assert_eq!(loaded.iter().filter(|l| **l).count(), 1, "{models:#?}");
}

#[test]
fn production_refuses_to_start_and_lists_every_model_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let strategies = broken_models(dir.path());
    let config = engine_toml(dir.path(), "production", "ml_inference = \"auto\"");
    let output = fails_with(
        &[
            "backtest".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
            "--strategies".as_ref(),
            strategies.as_os_str(),
        ],
        &[
            "missing.toml:3: field 'model': model file 'models/nowhere.onnx' not found",
            "mismatch.toml:3: field 'model':",
            "feature_schema_hash",
            "garbage.toml:3: field 'model':",
        ],
    );
    assert!(output.stdout.is_empty(), "no trading output");

    let preflight = run(&[
        "preflight".as_ref(),
        "--json".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--strategies".as_ref(),
        strategies.as_os_str(),
    ]);
    assert_eq!(preflight.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&preflight.stdout).expect("json");
    assert_eq!(report["ok"], false);
    assert_eq!(report["failed"], 3, "{report:#}");
}

#[test]
fn preflight_passes_on_the_shipped_models() {
    let output = bin().args(["preflight", "--json"]).output().expect("runs");
    let report = common::json(&output);
    assert_eq!(report["ok"], true, "{report:#}");
    let checks = report["checks"].as_array().expect("checks");
    let models: Vec<&serde_json::Value> = checks
        .iter()
        .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("model ")))
        .collect();
    assert_eq!(models.len(), 3);
    for check in models {
        assert_eq!(check["status"], "pass", "{check}");
        assert!(
            check["detail"]
                .as_str()
                .is_some_and(|d| d.contains("sha256:") && d.contains("test inference ok")),
            "{check}"
        );
    }
}

#[test]
fn a_missing_runtime_is_explained_and_rule_strategies_do_not_need_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = engine_toml(dir.path(), "production", "ml_inference = \"auto\"");
    let without_runtime = |strategy: &str| {
        bin()
            .env(
                "ORT_DYLIB_PATH",
                dir.path().join("no-such-libonnxruntime.so"),
            )
            .args(["backtest", "--strategies", strategy, "--config"])
            .arg(&config)
            .output()
            .expect("runs")
    };
    let output = without_runtime("strategies/ml_momentum_btcusdt_spot.toml");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ORT_DYLIB_PATH is set to")
            && stderr.contains("python3 scripts/fetch_onnxruntime.py"),
        "{stderr}"
    );
    let rules_only = without_runtime("strategies/ema_cross_btcusdt_spot.toml");
    assert!(
        rules_only.status.success(),
        "{}",
        String::from_utf8_lossy(&rules_only.stderr)
    );
}

#[test]
fn strategy_file_errors_of_ml_strategies_name_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "id = \"bad\"\nkind = \"ml\"\ninstruments = [\"BTCUSDT-SPOT\"]\nbrokers = [\"paper\"]\n[params]\nquantity = \"1\"\nentry_threshold = \"1.5\"\nprice_source = \"mid\"\n",
    )
    .expect("write");
    fails_with(
        &[
            "backtest".as_ref(),
            "--strategies".as_ref(),
            file.as_os_str(),
        ],
        &[
            "bad.toml:1: field 'model': missing",
            "bad.toml:7: field 'params.entry_threshold': expected a probability between 0 and 1",
            "bad.toml:8: field 'params.price_source': not an ML parameter",
        ],
    );
}
