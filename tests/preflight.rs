//! `alpha-panda preflight` end to end: exit codes per environment, the JSON report on
//! stdout and `preflight_summary.json` in `--out`, credentials named but never shown.

mod common;

use std::path::{Path, PathBuf};

use common::{bin, project_root};

/// The shipped default engine config in `environment`, each `(from, to)` edit applied and
/// `extra` appended (a second `[venue.*]` table, say).
fn engine_toml(dir: &Path, environment: &str, edits: &[(&str, &str)], extra: &str) -> PathBuf {
    let mut text = std::fs::read_to_string(project_root().join("src/config/default_engine.toml"))
        .expect("default config")
        .replace(
            "environment = \"development\"",
            &format!("environment = \"{environment}\""),
        );
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} not in the default config");
        text = text.replace(from, to);
    }
    let path = dir.join(format!("{environment}.toml"));
    std::fs::write(&path, format!("{text}\n{extra}")).expect("write config");
    path
}

struct Run {
    code: Option<i32>,
    stdout: serde_json::Value,
    stderr: String,
    summary: serde_json::Value,
    summary_text: String,
}

fn preflight(config: &Path, out: &Path, env: &[(&str, &str)]) -> Run {
    let mut cmd = bin();
    cmd.args([
        "preflight",
        "--json",
        "--strategies",
        "strategies",
        "--config",
    ])
    .arg(config)
    .arg("--out")
    .arg(out);
    for (name, value) in env {
        cmd.env(name, value);
    }
    let output = cmd.output().expect("runs");
    let stdout = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let path = out.join("preflight_summary.json");
    let summary_text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} not written: {e}", path.display()));
    let summary = serde_json::from_str(&summary_text).expect("summary is JSON");
    Run {
        code: output.status.code(),
        stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        summary,
        summary_text,
    }
}

fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {report:#}"))
}

/// Every check has a name, a status, a duration, a reason and a policy.
fn assert_complete(report: &serde_json::Value) {
    let checks = report["checks"].as_array().expect("checks");
    assert!(!checks.is_empty());
    for c in checks {
        assert!(c["name"].as_str().is_some_and(|n| !n.is_empty()), "{c}");
        assert!(
            ["pass", "warn", "fail"].contains(&c["status"].as_str().unwrap_or("")),
            "{c}"
        );
        assert!(c["duration_ms"].as_f64().is_some_and(|d| d >= 0.0), "{c}");
        assert!(c["reason"].as_str().is_some_and(|r| !r.is_empty()), "{c}");
        assert!(
            ["block", "warn", "fatal"].contains(&c["policy"].as_str().unwrap_or("")),
            "{c}"
        );
    }
    let failed = checks.iter().filter(|c| c["status"] == "fail").count();
    let warned = checks.iter().filter(|c| c["status"] == "warn").count();
    assert_eq!(report["failed"], failed);
    assert_eq!(report["warnings"], warned);
    assert_eq!(report["ok"], failed == 0);
}

const NAMES: [&str; 8] = [
    "config",
    "instruments",
    "credentials",
    "onnx_runtime",
    "model ml_breakout_btcusdt_usdm",
    "model ml_mean_reversion_ethusdt_spot",
    "model ml_momentum_btcusdt_spot",
    "rings",
];

#[test]
fn shipped_config_passes_in_production_and_development() {
    let dir = tempfile::tempdir().expect("tempdir");
    for environment in ["production", "development"] {
        let config = engine_toml(dir.path(), environment, &[], "");
        let out = dir.path().join(format!("out-{environment}"));
        let run = preflight(&config, &out, &[]);
        assert_eq!(
            run.code,
            Some(0),
            "{environment}: {}\n{}",
            run.stdout,
            run.stderr
        );
        assert_eq!(run.summary, run.stdout, "the summary is the printed report");
        assert_eq!(run.summary["environment"], environment);
        assert_eq!(
            run.summary["policy"],
            if environment == "production" {
                "block"
            } else {
                "warn"
            }
        );
        assert_complete(&run.summary);
        let names: Vec<&str> = run.summary["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, NAMES, "{:#}", run.summary);
        for c in run.summary["checks"].as_array().expect("checks") {
            assert_eq!(c["status"], "pass", "{c}");
        }
    }
}

#[test]
fn a_broker_without_strategies_blocks_production_and_warns_in_development() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = "[venue.spare]\nkind = \"paper\"\n";
    let production = preflight(
        &engine_toml(dir.path(), "production", &[], extra),
        &dir.path().join("prod"),
        &[],
    );
    assert_eq!(production.code, Some(2), "{}", production.stderr);
    assert!(
        production
            .stderr
            .contains("preflight failed: 1 check(s) failed")
    );
    assert_complete(&production.summary);
    let c = check(&production.summary, "config");
    assert_eq!(
        (&c["status"], &c["policy"]),
        (&"fail".into(), &"block".into())
    );
    assert!(
        c["reason"].as_str().is_some_and(
            |r| r.contains("broker 'spare' is enabled but no strategy trades through it")
        ),
        "{c}"
    );

    let development = preflight(
        &engine_toml(dir.path(), "development", &[], extra),
        &dir.path().join("dev"),
        &[],
    );
    assert_eq!(development.code, Some(0), "{}", development.stderr);
    assert_complete(&development.summary);
    let c = check(&development.summary, "config");
    assert_eq!(
        (&c["status"], &c["policy"]),
        (&"warn".into(), &"warn".into())
    );
    assert_eq!(development.summary["warnings"], 1);
}

#[test]
fn credentials_are_named_never_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `paper` needs both variables; only one is set.
    let config = engine_toml(
        dir.path(),
        "production",
        &[(
            "[venue.paper]\n",
            "[venue.paper]\ncredentials_env = [\"AP_PREFLIGHT_KEY\", \"AP_PREFLIGHT_SECRET\"]\n",
        )],
        "",
    );
    let secret = "very-secret-value-1234";
    let out = dir.path().join("out");
    let missing = preflight(
        &config,
        &out,
        &[("AP_PREFLIGHT_KEY", secret), ("AP_PREFLIGHT_SECRET", "")],
    );
    assert_eq!(missing.code, Some(2));
    let c = check(&missing.summary, "credentials");
    assert_eq!(c["status"], "fail", "{c}");
    let reason = c["reason"].as_str().expect("reason");
    assert!(reason.contains("AP_PREFLIGHT_SECRET"), "{reason}");
    assert!(
        !reason.contains("AP_PREFLIGHT_KEY"),
        "set variables are not listed: {reason}"
    );
    for text in [
        &missing.summary_text,
        &missing.stdout.to_string(),
        &missing.stderr,
    ] {
        assert!(!text.contains(secret), "credential value leaked:\n{text}");
    }

    let present = preflight(
        &config,
        &out,
        &[
            ("AP_PREFLIGHT_KEY", secret),
            ("AP_PREFLIGHT_SECRET", secret),
        ],
    );
    assert_eq!(present.code, Some(0), "{}", present.stderr);
    assert_eq!(check(&present.summary, "credentials")["status"], "pass");
    assert!(!present.summary_text.contains(secret));
}

#[test]
fn a_config_that_does_not_load_fails_with_a_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("broken.toml");
    std::fs::write(
        &config,
        "environment = \"development\"\n[venue.paper]\n[runtime]\nring_capacity = 1000\n",
    )
    .expect("write");
    let out = dir.path().join("out");
    let run = preflight(&config, &out, &[]);
    assert_eq!(run.code, Some(2));
    assert_complete(&run.summary);
    let c = check(&run.summary, "config");
    assert_eq!(
        (&c["status"], &c["policy"]),
        (&"fail".into(), &"fatal".into())
    );
    assert!(
        c["reason"]
            .as_str()
            .is_some_and(|r| r.contains("broken.toml:4") && r.contains("power of two")),
        "{c}"
    );
}

#[test]
fn live_checks_fail_on_an_unwritable_directory_in_every_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").expect("write");
    let logs = file.join("logs");
    for environment in ["development", "production"] {
        let logs_dir = format!("dir = {:?}", logs.display().to_string());
        let config = engine_toml(
            dir.path(),
            environment,
            &[
                ("dir = \"logs\"", &logs_dir),
                ("# enabled = true", "enabled = false"),
            ],
            "",
        );
        let out = dir.path().join(format!("out-{environment}"));
        let output = bin()
            .args(["preflight", "--json", "--live", "--data"])
            .arg(common::excerpt())
            .args(["--strategies", "strategies", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(&out)
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(2), "{environment}");
        let report: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("stdout is JSON");
        assert_complete(&report);
        let c = check(&report, "directories");
        assert_eq!(
            (&c["status"], &c["policy"]),
            (&"fail".into(), &"fatal".into())
        );
        assert!(
            c["reason"]
                .as_str()
                .is_some_and(|r| r.contains("logging.dir")),
            "{c}"
        );
        assert!(out.join("preflight_summary.json").is_file());
        assert!(
            report["checks"]
                .as_array()
                .expect("checks")
                .iter()
                .all(|c| c["name"] != "metrics_endpoint"),
            "metrics disabled"
        );
    }
}

#[test]
fn table_output_names_every_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let output = bin()
        .args(["preflight", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for name in NAMES {
        assert!(
            stdout.contains(&format!("PASS {name}")),
            "{name} in:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("preflight: 8 checks, 0 failed, 0 warnings"),
        "{stdout}"
    );
    assert!(stdout.contains("preflight_summary.json"), "{stdout}");
    assert!(out.join("preflight_summary.json").is_file());
}
