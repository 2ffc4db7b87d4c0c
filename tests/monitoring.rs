//! The monitoring assets under `monitoring/`: the Prometheus alert rules and their unit
//! tests, the example Prometheus config and the Grafana dashboard. `promtool` checks and
//! runs the rules; the rest is checked against the exported metric set
//! (`alpha_panda::metrics::catalog`), so a renamed metric or label value breaks here and
//! not silently in production.
//!
//! The `promtool` tests skip (with a `SKIPPED` line on stderr) when Prometheus is not
//! installed, except under CI (env `CI` set), where they fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use alpha_panda::config::EngineConfig;
use alpha_panda::metrics::Stage;
use alpha_panda::metrics::catalog::{self, MetricDef, MetricType};
use alpha_panda::risk::RejectReason;
use serde_json::Value;

const ALERTS: &str = "monitoring/prometheus/alerts.yml";
const ALERTS_TEST: &str = "monitoring/prometheus/alerts_test.yml";
const CONFIG: &str = "monitoring/prometheus/prometheus.yml";
const DASHBOARD: &str = "monitoring/grafana/alpha-panda.json";

/// The alerts operations relies on.
const REQUIRED_ALERTS: [&str; 8] = [
    "AlphaPandaDown",
    "AlphaPandaStageStalled",
    "AlphaPandaRingSaturated",
    "AlphaPandaLatencyP99OverBudget",
    "AlphaPandaRejectionsSpike",
    "AlphaPandaKillSwitchTripped",
    "AlphaPandaModelLoadFailure",
    "AlphaPandaNotReady",
];

/// Metric families deliberately not on the dashboard. Empty: every family has a panel.
const NOT_ON_DASHBOARD: [&str; 0] = [];

/// The Prometheus job name of the engine, as the rules select it.
const JOB: &str = "alpha-panda";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------
// promtool

/// `promtool` set to run in the project root, or `None` when it is not on PATH: then the
/// test fails under CI (env `CI` set, CI installs Prometheus) and otherwise says it skipped.
fn promtool(test: &str) -> Option<Command> {
    let exe = format!("promtool{}", std::env::consts::EXE_SUFFIX);
    let found: Option<PathBuf> = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(&exe))
            .find(|path| path.is_file())
    });
    match found {
        Some(path) => {
            let mut cmd = Command::new(path);
            cmd.current_dir(root());
            Some(cmd)
        }
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "monitoring::{test}: promtool not found on PATH and CI is set: \
                 CI must install Prometheus (apt-get install -y prometheus)"
            );
            eprintln!(
                "SKIPPED monitoring::{test}: promtool not found on PATH \
                 (apt-get install -y prometheus)"
            );
            None
        }
    }
}

/// Runs `promtool args...` in the project root and fails the test unless it succeeds.
fn run_promtool(test: &str, args: &[&str]) {
    let Some(mut cmd) = promtool(test) else {
        return;
    };
    let output = cmd.args(args).output().expect("promtool runs");
    assert!(
        output.status.success(),
        "promtool {} failed ({}):\n{}\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
#[cfg_attr(
    prometheus_missing,
    ignore = "needs Prometheus: promtool/prometheus not on PATH (apt-get install -y prometheus)"
)]
fn promtool_check_rules() {
    run_promtool("promtool_check_rules", &["check", "rules", ALERTS]);
}

#[test]
#[cfg_attr(
    prometheus_missing,
    ignore = "needs Prometheus: promtool/prometheus not on PATH (apt-get install -y prometheus)"
)]
fn promtool_test_rules() {
    run_promtool("promtool_test_rules", &["test", "rules", ALERTS_TEST]);
}

#[test]
#[cfg_attr(
    prometheus_missing,
    ignore = "needs Prometheus: promtool/prometheus not on PATH (apt-get install -y prometheus)"
)]
fn promtool_check_config() {
    run_promtool("promtool_check_config", &["check", "config", CONFIG]);
}

/// Every dashboard query, with Grafana's variables filled in, is valid PromQL: promtool
/// checks them as recording rules of a scratch rule file.
#[test]
#[cfg_attr(
    prometheus_missing,
    ignore = "needs Prometheus: promtool/prometheus not on PATH (apt-get install -y prometheus)"
)]
fn promtool_parses_dashboard_queries() {
    let queries = dashboard_queries(&dashboard());
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (title, expr)) in queries.iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "1m")
            .replace("$__interval", "1m")
            .replace("$instance", ".*")
            .replace("$broker", ".*");
        assert!(
            !expr.contains('$'),
            "panel {title:?}: unknown variable in {expr}"
        );
        // A JSON string is a YAML double-quoted scalar.
        let quoted = serde_json::to_string(&expr).expect("a string serializes");
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("dashboard_queries.yml");
    std::fs::write(&file, rules).expect("write scratch rules");
    run_promtool(
        "promtool_parses_dashboard_queries",
        &["check", "rules", file.to_str().expect("utf-8 temp path")],
    );
}

// ---------------------------------------------------------------------------------------
// Scanners (no regex crate): series names and label matchers in PromQL-bearing text.

/// Every match of `alpha_panda_[a-z0-9_]+` in `text`, in order.
fn series_tokens(text: &str) -> Vec<&str> {
    const PREFIX: &str = "alpha_panda_";
    let mut tokens = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(PREFIX) {
        let start = from + at;
        let body = start + PREFIX.len();
        let len = text[body..]
            .bytes()
            .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
            .count();
        if len > 0 {
            tokens.push(&text[start..body + len]);
        }
        from = body + len;
    }
    tokens
}

/// `(label, value)` of every `label="v"`, `label=~"v"`, `label!="v"` and `label!~"v"`
/// matcher in PromQL text (quotes unescaped).
fn label_matchers(text: &str) -> Vec<(&str, &str)> {
    let bytes = text.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let op_len = ["=~\"", "!~\"", "!=\"", "=\""]
            .iter()
            .find(|op| bytes[i..].starts_with(op.as_bytes()))
            .map(|op| op.len());
        let Some(op_len) = op_len else {
            i += 1;
            continue;
        };
        // `==` and `a="`-inside-a-string are not matchers: require a label name right before.
        let mut start = i;
        while start > 0 && is_ident(bytes[start - 1]) {
            start -= 1;
        }
        let value_start = i + op_len;
        let Some(value_len) = text[value_start..].find('"') else {
            break;
        };
        if start < i && !bytes[start].is_ascii_digit() {
            found.push((&text[start..i], &text[value_start..value_start + value_len]));
        }
        i = value_start + value_len + 1;
    }
    found
}

/// The family a series name belongs to (`x_bucket` of histogram `x`, and so on).
fn family_of(series: &str) -> Option<&'static MetricDef> {
    catalog::METRICS.iter().find(|m| {
        let suffixes: &[&str] = match m.kind {
            MetricType::Counter | MetricType::Gauge => &[""],
            MetricType::Summary => &["", "_sum", "_count"],
            MetricType::Histogram => &["", "_sum", "_count", "_bucket"],
        };
        series
            .strip_prefix(m.name)
            .is_some_and(|rest| suffixes.contains(&rest))
    })
}

/// Series names in `text` the engine does not export.
fn unknown_series(text: &str) -> BTreeSet<String> {
    let exported = catalog::series_names();
    series_tokens(text)
        .into_iter()
        .filter(|t| !exported.iter().any(|e| e == t))
        .map(str::to_owned)
        .collect()
}

/// Closed label value sets: label name to the values the engine exports.
fn closed_label_values() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let mut stages: BTreeSet<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
    stages.extend(catalog::STAGES);
    BTreeMap::from([
        ("stage", stages),
        ("ring", catalog::RINGS.into_iter().collect()),
        ("issue", catalog::ISSUES.into_iter().collect()),
        (
            "reason",
            RejectReason::ALL.iter().map(|r| r.code()).collect(),
        ),
        ("result", BTreeSet::from(["success", "failure"])),
    ])
}

/// Matcher values of closed-set labels in `text` that the engine never exports. Regex
/// alternatives (`a|b`) are checked one by one; patterns and variables are skipped.
fn unknown_label_values(text: &str) -> Vec<String> {
    let closed = closed_label_values();
    let mut bad = Vec::new();
    for (label, value) in label_matchers(text) {
        let Some(allowed) = closed.get(label) else {
            continue;
        };
        for alternative in value.split('|') {
            let literal = alternative
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !alternative.is_empty() && literal && !allowed.contains(alternative) {
                bad.push(format!("{label}=\"{alternative}\""));
            }
        }
    }
    bad
}

#[test]
fn scanners_find_names_and_matchers() {
    let text = r#"rate(alpha_panda_rejections_total{reason!="KILL_SWITCH"}[5m]) > 0
        and xalpha_panda_ready == 1 and alpha_panda_ and alpha_panda_Bogus
        and stage:alpha_panda_stage_latency_seconds:p99 and "alpha_panda_made_up_total""#;
    assert_eq!(
        series_tokens(text),
        [
            "alpha_panda_rejections_total",
            "alpha_panda_ready",
            "alpha_panda_stage_latency_seconds",
            "alpha_panda_made_up_total",
        ]
    );
    assert_eq!(
        unknown_series(text),
        BTreeSet::from(["alpha_panda_made_up_total".to_owned()])
    );

    let promql = r#"x{stage=~"risk|tick_to_order|nope", ring="feed_to_strategy", broker!=""}
        == 1 and y{issue!~"stalled_stage", reason="MADE_UP", stage=~".*", instance=~"$instance"}"#;
    assert_eq!(
        label_matchers(promql),
        [
            ("stage", "risk|tick_to_order|nope"),
            ("ring", "feed_to_strategy"),
            ("broker", ""),
            ("issue", "stalled_stage"),
            ("reason", "MADE_UP"),
            ("stage", ".*"),
            ("instance", "$instance"),
        ]
    );
    assert_eq!(
        unknown_label_values(promql),
        ["stage=\"nope\"", "reason=\"MADE_UP\""]
    );

    assert_eq!(
        family_of("alpha_panda_stage_latency_seconds_bucket").map(|m| m.name),
        Some("alpha_panda_stage_latency_seconds")
    );
    assert_eq!(
        family_of("alpha_panda_stage_latency_quantiles_seconds_count").map(|m| m.name),
        Some("alpha_panda_stage_latency_quantiles_seconds")
    );
    assert_eq!(family_of("alpha_panda_ready_bucket"), None);
    assert_eq!(family_of("alpha_panda_ticks"), None);
}

// ---------------------------------------------------------------------------------------
// Rule files

/// `(name, lines of its rule)` of every alert in a rule file, in order.
fn alert_blocks(rules: &str) -> Vec<(String, Vec<&str>)> {
    let mut blocks: Vec<(String, Vec<&str>)> = Vec::new();
    let mut in_alert = false;
    for line in rules.lines() {
        let trimmed = line.trim_start();
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            blocks.push((name.trim().to_owned(), Vec::new()));
            in_alert = true;
        } else if trimmed.starts_with("- record:") || trimmed.starts_with("- name:") {
            in_alert = false;
        } else if in_alert && let Some((_, lines)) = blocks.last_mut() {
            lines.push(trimmed);
        }
    }
    blocks
}

#[test]
fn rule_files_name_only_exported_series_and_label_values() {
    for file in [ALERTS, ALERTS_TEST] {
        let text = read(file);
        assert!(
            !series_tokens(&text).is_empty(),
            "{file} names no alpha_panda series"
        );
        let unknown = unknown_series(&text);
        assert!(
            unknown.is_empty(),
            "{file} names series the engine does not export (see src/metrics/catalog.rs): {unknown:?}"
        );
        let bad = unknown_label_values(&text);
        assert!(
            bad.is_empty(),
            "{file} matches label values the engine never exports: {bad:?}"
        );
    }
}

#[test]
fn required_alerts_exist_with_for_severity_and_annotations() {
    let rules = read(ALERTS);
    assert!(
        rules.lines().any(|l| l.trim() == "- name: alpha-panda"),
        "{ALERTS} has no rule group alpha-panda"
    );
    let blocks = alert_blocks(&rules);
    let names: Vec<&str> = blocks.iter().map(|(n, _)| n.as_str()).collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(
        unique.len(),
        names.len(),
        "duplicate alert names: {names:?}"
    );
    for required in REQUIRED_ALERTS {
        assert!(
            unique.contains(required),
            "{ALERTS} lacks alert {required}; has {names:?}"
        );
    }
    for (name, lines) in &blocks {
        let field = |key: &str| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(key).map(str::trim))
                .unwrap_or_else(|| panic!("alert {name} has no {key}"))
        };
        field("expr:");
        field("for:");
        let severity = field("severity:");
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "alert {name}: severity {severity:?}"
        );
        assert!(
            field("summary:").contains("{{"),
            "alert {name}: summary uses no template"
        );
        assert!(
            field("description:").contains("$labels."),
            "alert {name}: description names no label"
        );
    }
    assert!(
        rules.contains(&format!("up{{job=\"{JOB}\"}}")),
        "{ALERTS}: AlphaPandaDown must watch up{{job=\"{JOB}\"}}"
    );
}

/// Every alert of alerts.yml has a firing case (`exp_alerts:` with alerts) and a quiet case
/// (`exp_alerts: []`) in alerts_test.yml, and the tests name no alert that does not exist
/// (promtool passes a quiet case of a misspelt alert).
#[test]
fn every_alert_is_tested_firing_and_not_firing() {
    let defined: BTreeSet<String> = alert_blocks(&read(ALERTS))
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let tests = read(ALERTS_TEST);
    assert!(
        tests.lines().any(|l| l.trim() == "- alerts.yml"),
        "{ALERTS_TEST} does not load alerts.yml"
    );
    let lines: Vec<&str> = tests
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut firing = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = line.strip_prefix("alertname:") else {
            continue;
        };
        let name = name.trim().to_owned();
        assert!(
            defined.contains(&name),
            "{ALERTS_TEST} tests alert {name}, which {ALERTS} does not define"
        );
        match lines.get(i + 1).copied() {
            Some("exp_alerts: []") => quiet.insert(name),
            Some("exp_alerts:")
                if lines
                    .get(i + 2)
                    .is_some_and(|l| l.starts_with("- exp_labels")) =>
            {
                firing.insert(name)
            }
            other => panic!("{ALERTS_TEST}: alertname {name} followed by {other:?}"),
        };
    }
    for name in &defined {
        assert!(firing.contains(name), "no firing test case for {name}");
        assert!(quiet.contains(name), "no not-firing test case for {name}");
    }
}

#[test]
fn example_config_scrapes_the_engine_and_loads_the_rules() {
    let config = read(CONFIG);
    let addr = EngineConfig::default().metrics.addr.to_string();
    for needle in [
        format!("job_name: {JOB}"),
        format!("\"{addr}\""),
        "scrape_interval: 5s".to_owned(),
        "- alerts.yml".to_owned(),
    ] {
        assert!(config.contains(&needle), "{CONFIG} lacks {needle:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Dashboard

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"))
}

/// Every panel, rows' nested panels included.
fn all_panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in panels.as_array().into_iter().flatten() {
            out.push(panel);
            if let Some(nested) = panel.get("panels") {
                walk(nested, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// `(panel title, expr)` of every query target.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for panel in all_panels(dashboard) {
        let title = panel["title"].as_str().unwrap_or("?");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("panel {title:?}: a target without expr"));
            queries.push((title.to_owned(), expr.to_owned()));
        }
    }
    queries
}

#[test]
fn dashboard_is_valid_with_unique_ids_and_templated_datasource() {
    let dash = dashboard();
    let schema = dash["schemaVersion"].as_u64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    assert!(dash["uid"].as_str().is_some_and(|u| !u.is_empty()));

    let variables = dash["templating"]["list"].as_array().expect("templating");
    let datasource = variables
        .iter()
        .find(|v| v["name"] == "DS_PROMETHEUS")
        .expect("a DS_PROMETHEUS variable");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        assert_eq!(
            variable["datasource"]["uid"], "${DS_PROMETHEUS}",
            "variable {}: datasource",
            variable["name"]
        );
    }

    let panels = all_panels(&dash);
    let mut ids = BTreeSet::new();
    for panel in &panels {
        let title = panel["title"].as_str().expect("every panel has a title");
        let id = panel["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("{title:?}: no id"));
        assert!(ids.insert(id), "panel id {id} ({title:?}) is not unique");
        assert!(
            panel["gridPos"]["w"].as_u64().is_some(),
            "{title:?}: no gridPos"
        );
        if panel["type"] == "row" {
            continue;
        }
        let targets = panel["targets"].as_array();
        assert!(
            targets.is_some_and(|t| !t.is_empty()),
            "{title:?}: no query"
        );
        let sources = std::iter::once(&panel["datasource"])
            .chain(targets.into_iter().flatten().map(|t| &t["datasource"]));
        for source in sources {
            assert_eq!(
                source["type"], "prometheus",
                "{title:?}: datasource {source}"
            );
            assert_eq!(
                source["uid"], "${DS_PROMETHEUS}",
                "{title:?}: datasource {source}"
            );
        }
    }
    assert!(panels.len() > 10, "only {} panels", panels.len());
}

#[test]
fn dashboard_names_only_exported_series_and_label_values() {
    let text = read(DASHBOARD);
    let unknown = unknown_series(&text);
    assert!(
        unknown.is_empty(),
        "{DASHBOARD} names series the engine does not export (see src/metrics/catalog.rs): {unknown:?}"
    );
    for (title, expr) in dashboard_queries(&dashboard()) {
        let families: Vec<_> = series_tokens(&expr)
            .into_iter()
            .filter_map(family_of)
            .collect();
        assert!(
            !families.is_empty(),
            "panel {title:?}: query references no exported metric: {expr}"
        );
        let bad = unknown_label_values(&expr);
        assert!(
            bad.is_empty(),
            "panel {title:?}: label values the engine never exports: {bad:?}"
        );
    }
}

#[test]
fn dashboard_covers_every_metric_family() {
    for name in NOT_ON_DASHBOARD {
        assert!(
            catalog::METRICS.iter().any(|m| m.name == name),
            "NOT_ON_DASHBOARD names {name}, which is not a metric family"
        );
    }
    let used: BTreeSet<&str> = dashboard_queries(&dashboard())
        .iter()
        .flat_map(|(_, expr)| series_tokens(expr).into_iter().filter_map(family_of))
        .map(|m| m.name)
        .collect();
    let missing: Vec<&str> = catalog::METRICS
        .iter()
        .map(|m| m.name)
        .filter(|name| !used.contains(name) && !NOT_ON_DASHBOARD.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "metric families on no dashboard panel: {missing:?}"
    );
}
