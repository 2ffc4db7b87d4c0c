//! Preflight: everything a run needs, checked before it starts, without trading.
//!
//! Used by the `preflight` command and at the start of every `live` run. Each check is
//! timed and ends `pass`, `warn` or `fail` with a reason naming file:line where known.
//! What a problem costs depends on the environment: production refuses to start on any
//! problem (policy `block`), development and test report it and go on (policy `warn`).
//! Problems no run survives (config that does not load, data that cannot be read,
//! directories that cannot be written) fail in every environment (policy `fatal`).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::app::validate::{self, Severity};
use crate::clock::Stopwatch;
use crate::config::{EngineConfig, Environment};
use crate::domain::InstrumentTable;
use crate::feed::{self, DataSource};
use crate::strategy::{StrategyConfig, StrategyParams};

mod host;
#[cfg(test)]
use host::pinning_problems;
use host::{check_directories, check_metrics_endpoint, check_rings, unique_suffix};

/// File `write_summary` writes.
pub const SUMMARY_FILE: &str = "preflight_summary.json";

/// Below this many slots a ring fills during a burst and the feed waits behind it.
pub const MIN_RING_CAPACITY: usize = 1024;

/// The `policy` of a check whose failure no environment survives.
pub const FATAL: &str = "fatal";

/// Outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
        }
    }
}

/// What a problem costs in an environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Any problem fails its check and the run does not start (production).
    Block,
    /// Problems are warnings; the run starts (development, test).
    Warn,
}

impl Policy {
    pub fn for_environment(environment: Environment) -> Policy {
        match environment {
            Environment::Production => Policy::Block,
            Environment::Development | Environment::Test => Policy::Warn,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Block => "block",
            Policy::Warn => "warn",
        }
    }
}

/// One timed check.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CheckResult {
    pub name: String,
    pub status: CheckStatus,
    pub duration_ms: f64,
    /// What was found: the problems (file:line where known), then what was checked.
    pub reason: String,
    /// What a problem of this check costs: `"block"`, `"warn"` or `"fatal"`.
    pub policy: &'static str,
}

/// Every check of one preflight.
#[derive(Clone, Debug, PartialEq)]
pub struct PreflightReport {
    pub environment: Environment,
    pub policy: Policy,
    pub checks: Vec<CheckResult>,
}

impl PreflightReport {
    /// No check failed: the run may start.
    pub fn ok(&self) -> bool {
        self.failed() == 0
    }

    /// Checks that failed.
    pub fn failed(&self) -> usize {
        self.count(CheckStatus::Fail)
    }

    /// Checks that passed with a warning.
    pub fn warnings(&self) -> usize {
        self.count(CheckStatus::Warn)
    }

    fn count(&self, status: CheckStatus) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// `{schema_version, ok, environment, policy, failed, warnings, checks: [{name, status,
    /// duration_ms, reason, policy, detail}]}` (`docs/schemas/preflight_summary.schema.json`).
    /// `detail` repeats `reason` for readers of the older format.
    pub fn to_json(&self) -> serde_json::Value {
        let checks: Vec<serde_json::Value> = self
            .checks
            .iter()
            .map(|c| {
                serde_json::json!({
                    "name": c.name,
                    "status": c.status,
                    "duration_ms": c.duration_ms,
                    "reason": c.reason,
                    "policy": c.policy,
                    "detail": c.reason,
                })
            })
            .collect();
        serde_json::json!({
            "schema_version": crate::report::schema::PREFLIGHT_SUMMARY_JSON,
            "ok": self.ok(),
            "environment": self.environment.name(),
            "policy": self.policy,
            "failed": self.failed(),
            "warnings": self.warnings(),
            "checks": checks,
        })
    }

    /// One line per check and a count line, as the `preflight` command prints them.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let policy = if c.status == CheckStatus::Pass {
                String::new()
            } else {
                format!("[{}] ", c.policy)
            };
            out.push_str(&format!(
                "  {:<4} {:<40} {:>8.1} ms  {policy}{}\n",
                c.status.as_str().to_uppercase(),
                c.name,
                c.duration_ms,
                c.reason
            ));
        }
        out.push_str(&format!(
            "preflight: {} checks, {} failed, {} warnings (environment {}, policy {})\n",
            self.checks.len(),
            self.failed(),
            self.warnings(),
            self.environment.name(),
            self.policy.as_str()
        ));
        out
    }

    /// Writes `<dir>/preflight_summary.json` (creating `dir`) through a temporary file and a
    /// rename, so a reader sees the old summary or the new one, never half of one.
    ///
    /// # Errors
    /// The path that could not be created, written or renamed.
    pub fn write_summary(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let with_path = |path: &Path, e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| with_path(dir, e))?;
        let path = dir.join(SUMMARY_FILE);
        let tmp = dir.join(format!(".{SUMMARY_FILE}.{}.tmp", unique_suffix()));
        let mut text =
            serde_json::to_string_pretty(&self.to_json()).map_err(std::io::Error::other)?;
        text.push('\n');
        let written = std::fs::File::create(&tmp)
            .and_then(|mut file| {
                file.write_all(text.as_bytes())?;
                file.sync_all()
            })
            .map_err(|e| with_path(&tmp, e))
            .and_then(|()| std::fs::rename(&tmp, &path).map_err(|e| with_path(&path, e)));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map(|()| path)
    }
}

/// What a preflight looks at. `sources` is the data the run would read; `live` adds the
/// checks of a live run (writable directories, the metrics endpoint).
#[derive(Clone, Copy, Debug)]
pub struct PreflightInput<'a> {
    pub config: &'a EngineConfig,
    pub strategies: &'a [StrategyConfig],
    pub sources: &'a [DataSource],
    pub live: bool,
}

/// Runs every check that applies.
pub fn run(input: &PreflightInput<'_>) -> PreflightReport {
    let config = input.config;
    let policy = Policy::for_environment(config.environment);
    let mut checks = Vec::new();
    checks.push(timed("config", policy, || {
        check_config(config, input.strategies)
    }));
    checks.push(timed("instruments", policy, || {
        check_instruments(config, input.strategies, input.sources)
    }));
    checks.push(timed("credentials", policy, || {
        check_credentials(config, &process_env_has)
    }));
    let ml: Vec<(&StrategyConfig, &str, usize)> = input
        .strategies
        .iter()
        .filter_map(|s| match &s.params {
            StrategyParams::Ml {
                model, model_line, ..
            } => Some((s, model.as_str(), *model_line)),
            _ => None,
        })
        .collect();
    if !ml.is_empty() {
        checks.push(timed("onnx_runtime", policy, check_onnx_runtime));
    }
    for (s, model, line) in ml {
        checks.push(timed(&format!("model {}", s.id), policy, || {
            check_model(s, model, line)
        }));
    }
    let cores = std::thread::available_parallelism()
        .map(std::num::NonZeroUsize::get)
        .map_err(|e| e.to_string());
    checks.push(timed("rings", policy, || {
        check_rings(
            config,
            input.live,
            cores.as_ref().copied().map_err(String::as_str),
        )
    }));
    if input.live {
        checks.push(timed("directories", policy, || check_directories(config)));
        if config.metrics.enabled != Some(false) {
            checks.push(timed("metrics_endpoint", policy, || {
                check_metrics_endpoint(config)
            }));
        }
    }
    PreflightReport {
        environment: config.environment,
        policy,
        checks,
    }
}

/// The report when the config files themselves do not load: one failed `config` check.
pub fn config_failed(environment: Environment, message: impl Into<String>) -> PreflightReport {
    PreflightReport {
        environment,
        policy: Policy::for_environment(environment),
        checks: vec![CheckResult {
            name: "config".into(),
            status: CheckStatus::Fail,
            duration_ms: 0.0,
            reason: message.into(),
            policy: FATAL,
        }],
    }
}

/// What one check found: its problems, then a line on what it looked at.
#[derive(Debug, Default)]
struct Findings {
    problems: Vec<(Severity, String)>,
    summary: String,
    /// A failure of this check is fatal in every environment.
    fatal_check: bool,
}

impl Findings {
    fn push(&mut self, severity: Severity, problem: String) {
        self.problems.push((severity, problem));
    }
}

fn timed(name: &str, policy: Policy, check: impl FnOnce() -> Findings) -> CheckResult {
    let watch = Stopwatch::start();
    let findings = check();
    let duration_ms = watch.elapsed().as_secs_f64() * 1e3;
    let worst = findings.problems.iter().map(|(s, _)| *s).max();
    let status = match (worst, policy) {
        (None, _) => CheckStatus::Pass,
        (Some(Severity::Fatal), _) | (Some(Severity::Problem), Policy::Block) => CheckStatus::Fail,
        (Some(Severity::Advisory | Severity::Problem), _) => CheckStatus::Warn,
    };
    let fatal = findings.fatal_check || worst == Some(Severity::Fatal);
    let mut parts: Vec<String> = findings.problems.into_iter().map(|(_, p)| p).collect();
    if !findings.summary.is_empty() {
        parts.push(findings.summary);
    }
    CheckResult {
        name: name.to_owned(),
        status,
        duration_ms,
        reason: parts.join("; "),
        policy: if fatal { FATAL } else { policy.as_str() },
    }
}

/// Brokers against strategies and runtime settings (`app::validate::config`, the rules the
/// build applies too).
fn check_config(config: &EngineConfig, strategies: &[StrategyConfig]) -> Findings {
    let mut f = Findings::default();
    for finding in validate::config(config, strategies) {
        f.push(finding.severity, finding.render());
    }
    let enabled = config.brokers.iter().filter(|b| b.enabled).count();
    f.summary = format!(
        "{}, {} ({enabled} enabled), environment {}",
        counted(strategies.len(), "strategy", "strategies"),
        counted(config.brokers.len(), "broker", "brokers"),
        config.environment.name()
    );
    f
}

/// Every strategy instrument is in the data; the data itself can be read.
fn check_instruments(
    config: &EngineConfig,
    strategies: &[StrategyConfig],
    sources: &[DataSource],
) -> Findings {
    let mut f = Findings::default();
    if let (crate::config::FeedKind::Kite, Some(kite)) = (config.feed.kind, &config.feed.kite) {
        match crate::app::kite::fit_instruments(config, kite, strategies) {
            Ok(fit) => {
                for finding in validate::instruments(strategies, &fit.table) {
                    f.push(finding.severity, finding.render());
                }
                f.summary = format!(
                    "{} from the Kite instruments file {}",
                    counted(fit.tokens.len(), "instrument", "instruments"),
                    kite.instruments.display()
                );
            }
            Err(errors) => f.push(Severity::Fatal, errors.to_string()),
        }
        return f;
    }
    if sources.is_empty() {
        f.push(
            Severity::Fatal,
            "no data source (set [feed] path in the engine config or pass --data)".into(),
        );
        return f;
    }
    let mut table = InstrumentTable::new();
    if let Err(e) = feed::scan_instruments(sources, &config.instruments, &mut table) {
        f.push(Severity::Fatal, format!("cannot read the data: {e}"));
        return f;
    }
    for finding in validate::instruments(strategies, &table) {
        f.push(finding.severity, finding.render());
    }
    let names: Vec<String> = sources.iter().map(DataSource::name).collect();
    f.summary = format!(
        "{} in {}",
        counted(table.iter().count(), "instrument", "instruments"),
        names.join(", ")
    );
    f
}

/// `1 broker`, `2 brokers`.
fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Whether the process environment holds a non-empty value for `name`. Never returns or
/// logs the value.
fn process_env_has(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// Every enabled broker's `credentials_env` variables are set and non-empty. Names only.
fn check_credentials(config: &EngineConfig, is_set: &dyn Fn(&str) -> bool) -> Findings {
    let mut f = Findings::default();
    let mut checked = 0;
    let feed: Vec<String> = config
        .feed
        .kite
        .iter()
        .filter(|_| config.feed.kind == crate::config::FeedKind::Kite)
        .flat_map(|k| [k.api_key_env.clone(), k.access_token_env.clone()])
        .chain(
            config
                .brokers
                .iter()
                .filter(|b| b.enabled)
                .filter_map(|b| b.kite.as_ref())
                .flat_map(|k| [k.api_key_env.clone(), k.access_token_env.clone()]),
        )
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let missing_feed: Vec<&str> = feed
        .iter()
        .map(String::as_str)
        .filter(|name| !is_set(name))
        .collect();
    checked += feed.len();
    if !missing_feed.is_empty() {
        f.push(
            Severity::Problem,
            format!(
                "Kite is missing credentials: {} not set or empty",
                missing_feed.join(", ")
            ),
        );
    }
    for broker in config.brokers.iter().filter(|b| b.enabled) {
        let mut missing = Vec::new();
        for name in &broker.credentials_env {
            checked += 1;
            let valid = !name.is_empty() && !name.contains(['=', '\0']);
            if !valid {
                f.push(
                    Severity::Problem,
                    format!(
                        "broker '{}': credentials_env names {name:?}, which is not a valid environment variable name",
                        broker.name
                    ),
                );
            } else if !is_set(name) {
                missing.push(name.as_str());
            }
        }
        if !missing.is_empty() {
            f.push(
                Severity::Problem,
                format!(
                    "broker '{}' is missing credentials: {} not set or empty",
                    broker.name,
                    missing.join(", ")
                ),
            );
        }
    }
    f.summary = if checked == 0 {
        "no enabled broker needs credentials".into()
    } else {
        format!("{checked} credential variables checked (names only)")
    };
    f
}

fn check_onnx_runtime() -> Findings {
    let mut f = Findings::default();
    match crate::ml::runtime::environment() {
        Ok((_, path)) => f.summary = format!("loaded {}", path.display()),
        Err(e) => f.push(Severity::Problem, e),
    }
    f
}

/// Loads the model of one ML strategy and runs its test inference.
fn check_model(s: &StrategyConfig, model: &str, model_line: usize) -> Findings {
    let mut f = Findings::default();
    let (loaded, check) = crate::ml::load_model(&s.id, &s.file, model);
    if let Some(why) = loaded.as_ref().and_then(|m| m.single_row()) {
        f.push(
            Severity::Advisory,
            format!(
                "{}:{model_line}: the model takes one row per call ({why}): batched inference falls back to per tick",
                s.file.display()
            ),
        );
    }
    if check.ok {
        f.summary = format!(
            "{} v{} from {}, schema {}, test inference ok",
            check.name.as_deref().unwrap_or("?"),
            check.version.as_deref().unwrap_or("?"),
            check
                .resolved
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string()),
            check.feature_schema_hash.as_deref().unwrap_or("?")
        );
    } else {
        for problem in check.problems {
            f.push(
                Severity::Problem,
                format!("{}:{model_line}: {problem}", s.file.display()),
            );
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RuntimeMode, StagePinning};
    use crate::strategy::config::parse_strategy;

    const CSV: &[u8] = b"ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n\
1723161254024619568,ETHUSDT-SPOT,2683.80,2683.81,3.0292,31.4395,,\n\
1723161254087891268,BTCUSDT-SPOT,61837.63,61837.64,3.78826,1.54698,,\n";

    fn sources() -> Vec<DataSource> {
        vec![DataSource::Embedded {
            name: "<test data>",
            bytes: CSV,
        }]
    }

    fn engine(environment: Environment, extra: &str) -> EngineConfig {
        let text = format!("[venue.paper]\n{extra}");
        EngineConfig::parse_for(Path::new("engine.toml"), &text, Some(environment))
            .unwrap_or_else(|e| panic!("engine config: {e}"))
    }

    fn strategy(id: &str, instrument: &str, broker: &str) -> StrategyConfig {
        let text = format!(
            "id = \"{id}\"\nkind = \"breakout\"\ninstruments = [\"{instrument}\"]\nbrokers = [\"{broker}\"]\n[params]\nwindow = 5\nquantity = \"1\"\n"
        );
        let mut errors = Vec::new();
        let parsed = parse_strategy(
            Path::new(&format!("strategies/{id}.toml")),
            &text,
            &crate::strategy::Registry::builtin(),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        parsed.expect("valid strategy")
    }

    fn check<'r>(report: &'r PreflightReport, name: &str) -> &'r CheckResult {
        report
            .checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check {name} in {report:#?}"))
    }

    fn report(
        environment: Environment,
        extra: &str,
        strategies: &[StrategyConfig],
    ) -> PreflightReport {
        let config = engine(environment, extra);
        run(&PreflightInput {
            config: &config,
            strategies,
            sources: &sources(),
            live: false,
        })
    }

    /// A path under a regular file: creating it fails even as root.
    fn unwritable(dir: &Path) -> PathBuf {
        let file = dir.join("a-file");
        std::fs::write(&file, b"x").expect("write file");
        file.join("sub")
    }

    #[test]
    fn checks_pass_warn_or_fail_by_environment() {
        use CheckStatus::{Fail, Pass, Warn};
        let ok = || vec![strategy("s1", "BTCUSDT-SPOT", "paper")];
        /// (case, engine extra, strategies, check, dev/test status, prod status, prod
        /// policy, needle in the reason)
        type Case = (
            &'static str,
            &'static str,
            Vec<StrategyConfig>,
            &'static str,
            CheckStatus,
            CheckStatus,
            &'static str,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                "all good",
                "",
                ok(),
                "config",
                Pass,
                Pass,
                "block",
                "1 strategy, 1 broker (1 enabled)",
            ),
            (
                "all good",
                "",
                ok(),
                "instruments",
                Pass,
                Pass,
                "block",
                "2 instruments in <test data>",
            ),
            (
                "all good",
                "",
                ok(),
                "credentials",
                Pass,
                Pass,
                "block",
                "no enabled broker needs credentials",
            ),
            (
                "all good",
                "",
                ok(),
                "rings",
                Pass,
                Pass,
                "block",
                "inline runtime uses no rings",
            ),
            (
                "broker without strategies",
                "[venue.other]\n",
                ok(),
                "config",
                Warn,
                Fail,
                "block",
                "broker 'other' is enabled but no strategy trades through it",
            ),
            (
                "disabled broker named by a strategy",
                "[venue.off]\nenabled = false\n",
                vec![
                    strategy("s1", "BTCUSDT-SPOT", "paper"),
                    strategy("s2", "BTCUSDT-SPOT", "off"),
                ],
                "config",
                Warn,
                Fail,
                "block",
                "strategies/s2.toml:4: field 'brokers': broker 'off' is disabled",
            ),
            (
                "unknown broker",
                "",
                vec![
                    strategy("s1", "BTCUSDT-SPOT", "paper"),
                    strategy("s2", "BTCUSDT-SPOT", "nowhere"),
                ],
                "config",
                Fail,
                Fail,
                "fatal",
                "strategies/s2.toml:4: field 'brokers': unknown broker 'nowhere' (configured: paper)",
            ),
            (
                "duplicate ids",
                "",
                vec![
                    strategy("s1", "BTCUSDT-SPOT", "paper"),
                    strategy("s1", "ETHUSDT-SPOT", "paper"),
                ],
                "config",
                Fail,
                Fail,
                "fatal",
                "duplicate strategy id 's1'",
            ),
            (
                "instrument not in the data",
                "",
                vec![strategy("s1", "XRPUSDT-SPOT", "paper")],
                "instruments",
                Warn,
                Fail,
                "block",
                "strategies/s1.toml:3: field 'instruments': instrument 'XRPUSDT-SPOT' is not in the data",
            ),
            (
                "missing credentials",
                "credentials_env = [\"ALPHA_PANDA_PREFLIGHT_TEST_UNSET_KEY\"]\n",
                ok(),
                "credentials",
                Warn,
                Fail,
                "block",
                "broker 'paper' is missing credentials: ALPHA_PANDA_PREFLIGHT_TEST_UNSET_KEY not set or empty",
            ),
            (
                "small rings, threaded",
                "[runtime]\nmode = \"threaded\"\nring_capacity = 256\n",
                ok(),
                "rings",
                Warn,
                Warn,
                "block",
                "small rings stall the feed behind bursts",
            ),
            (
                "two stages on one core",
                "[runtime]\nmode = \"threaded\"\n[runtime.pin]\nfeed = 0\nrisk = 0\n",
                ok(),
                "rings",
                Warn,
                Fail,
                "block",
                "runtime.pin: feed and risk share core 0",
            ),
            (
                "core this machine lacks",
                "[runtime]\nmode = \"threaded\"\n[runtime.pin]\nexecution = 1023\n",
                ok(),
                "rings",
                Warn,
                Fail,
                "block",
                "runtime.pin.execution = 1023, but this machine has",
            ),
            (
                "pinning ignored inline",
                "[runtime.pin]\nfeed = 0\nrisk = 0\n",
                ok(),
                "rings",
                Pass,
                Pass,
                "block",
                "runtime.pin ignored by the inline runtime",
            ),
        ];
        for (case, extra, strategies, name, dev, prod, prod_policy, needle) in cases {
            for (environment, expected, policy) in [
                (
                    Environment::Development,
                    dev,
                    if prod_policy == FATAL { FATAL } else { "warn" },
                ),
                (
                    Environment::Test,
                    dev,
                    if prod_policy == FATAL { FATAL } else { "warn" },
                ),
                (Environment::Production, prod, prod_policy),
            ] {
                let report = report(environment, extra, &strategies);
                let c = check(&report, name);
                assert_eq!(c.status, expected, "{case} in {environment:?}: {c:#?}");
                assert_eq!(c.policy, policy, "{case} in {environment:?}: {c:#?}");
                assert!(
                    c.reason.contains(needle),
                    "{case}: {needle:?} not in {c:#?}"
                );
                assert!(c.duration_ms >= 0.0);
                assert_eq!(report.ok(), report.failed() == 0);
            }
        }
    }

    #[test]
    fn report_counts_and_json() {
        let strategies = [strategy("s1", "XRPUSDT-SPOT", "paper")];
        let dev = report(Environment::Development, "[venue.other]\n", &strategies);
        assert!(dev.ok(), "{dev:#?}");
        assert_eq!((dev.failed(), dev.warnings()), (0, 2));
        let prod = report(Environment::Production, "[venue.other]\n", &strategies);
        assert!(!prod.ok());
        assert_eq!((prod.failed(), prod.warnings()), (2, 0));
        let json = prod.to_json();
        assert_eq!(
            json["schema_version"],
            crate::report::schema::PREFLIGHT_SUMMARY_JSON
        );
        assert_eq!(json["ok"], false);
        assert_eq!(json["environment"], "production");
        assert_eq!(json["policy"], "block");
        assert_eq!(json["failed"], 2);
        let checks = json["checks"].as_array().expect("checks");
        assert_eq!(checks.len(), prod.checks.len());
        for c in checks {
            for key in ["name", "status", "duration_ms", "reason", "policy"] {
                assert!(!c[key].is_null(), "{key} missing in {c}");
            }
        }
        assert_eq!(checks[0]["status"], "fail");
        let text = prod.render_text();
        assert!(text.contains("FAIL config"), "{text}");
        assert!(
            text.contains("2 failed, 0 warnings (environment production, policy block)"),
            "{text}"
        );
    }

    #[test]
    fn credentials_are_named_never_valued() {
        let config = engine(
            Environment::Production,
            "credentials_env = [\"API_KEY\", \"API_SECRET\", \"EMPTY\"]\n[venue.off]\nenabled = false\ncredentials_env = [\"OFF_KEY\"]\n",
        );
        let values = [("API_KEY", "s3cr3t-key-value"), ("EMPTY", "")];
        let is_set = |name: &str| values.iter().any(|(n, v)| *n == name && !v.is_empty());
        let f = check_credentials(&config, &is_set);
        let problems: Vec<&str> = f.problems.iter().map(|(_, p)| p.as_str()).collect();
        assert_eq!(
            problems,
            ["broker 'paper' is missing credentials: API_SECRET, EMPTY not set or empty"]
        );
        assert!(
            !problems
                .iter()
                .any(|p| p.contains("s3cr3t") || p.contains("API_KEY"))
        );
        assert!(
            !problems.iter().any(|p| p.contains("OFF_KEY")),
            "disabled brokers need none"
        );
        let all_set = |_: &str| true;
        assert!(check_credentials(&config, &all_set).problems.is_empty());
    }

    #[test]
    fn pinning_against_the_machine() {
        let pin = StagePinning {
            feed: Some(0),
            strategy: Some(1),
            risk: Some(2),
            execution: Some(3),
        };
        assert!(pinning_problems(&pin, Ok(4)).is_empty());
        let problems = pinning_problems(&pin, Ok(2));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0]
                .1
                .contains("runtime.pin.risk = 2, but this machine has 2 cores (0..=1)")
        );
        let shared = StagePinning {
            strategy: Some(5),
            execution: Some(5),
            ..StagePinning::default()
        };
        let problems = pinning_problems(&shared, Ok(8));
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0]
                .1
                .contains("strategy and execution share core 5")
        );
        let unknown = pinning_problems(&shared, Err("unsupported"));
        assert_eq!(unknown[0].0, Severity::Advisory);
        assert!(pinning_problems(&StagePinning::default(), Ok(1)).is_empty());
    }

    #[test]
    fn rings_report_memory_and_power_of_two() {
        let mut config = engine(Environment::Production, "[runtime]\nmode = \"threaded\"\n");
        let f = check_rings(&config, false, Ok(8));
        assert!(f.problems.is_empty(), "{f:?}");
        assert!(f.summary.contains("5 rings x 8192 slots"), "{f:?}");
        config.runtime.ring_capacity = 1000;
        let f = check_rings(&config, false, Ok(8));
        assert_eq!(f.problems[0].0, Severity::Fatal);
        assert!(f.problems[0].1.contains("1000 is not a power of two"));
        config.runtime.mode = RuntimeMode::Inline;
        config.runtime.ring_capacity = 64;
        assert!(check_rings(&config, false, Ok(8)).problems.is_empty());
        assert_eq!(
            check_rings(&config, true, Ok(8)).problems[0].0,
            Severity::Advisory
        );
    }

    #[test]
    fn data_that_cannot_be_read_is_fatal_everywhere() {
        let strategies = [strategy("s1", "BTCUSDT-SPOT", "paper")];
        for environment in [Environment::Development, Environment::Production] {
            let config = engine(environment, "");
            for sources in [
                vec![DataSource::File(PathBuf::from("/no/such/ticks.csv"))],
                Vec::new(),
            ] {
                let report = run(&PreflightInput {
                    config: &config,
                    strategies: &strategies,
                    sources: &sources,
                    live: false,
                });
                let c = check(&report, "instruments");
                assert_eq!((c.status, c.policy), (CheckStatus::Fail, FATAL), "{c:#?}");
                assert!(!report.ok());
            }
        }
    }

    #[test]
    fn live_checks_directories_and_metrics() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let strategies = [strategy("s1", "BTCUSDT-SPOT", "paper")];
        let run_live = |environment, logs: &Path, out: &Path, metrics: &str| {
            let extra = format!(
                "[logging]\ndir = {:?}\n[output]\ndir = {:?}\n[metrics]\n{metrics}\n",
                logs.display().to_string(),
                out.display().to_string()
            );
            let config = engine(environment, &extra);
            run(&PreflightInput {
                config: &config,
                strategies: &strategies,
                sources: &sources(),
                live: true,
            })
        };
        let logs = tmp.path().join("logs");
        let out = tmp.path().join("out");
        let ok = run_live(
            Environment::Production,
            &logs,
            &out,
            "addr = \"127.0.0.1:0\"",
        );
        assert_eq!(
            check(&ok, "directories").status,
            CheckStatus::Pass,
            "{ok:#?}"
        );
        assert_eq!(check(&ok, "directories").policy, FATAL);
        assert_eq!(
            check(&ok, "metrics_endpoint").status,
            CheckStatus::Pass,
            "{ok:#?}"
        );
        assert!(logs.is_dir() && out.is_dir());
        assert_eq!(
            std::fs::read_dir(&logs).expect("logs").count(),
            0,
            "probe removed"
        );

        let bad = unwritable(tmp.path());
        for environment in [
            Environment::Development,
            Environment::Test,
            Environment::Production,
        ] {
            let report = run_live(environment, &bad, &out, "enabled = false");
            let c = check(&report, "directories");
            assert_eq!((c.status, c.policy), (CheckStatus::Fail, FATAL), "{c:#?}");
            assert!(c.reason.contains("logging.dir: cannot create"), "{c:#?}");
            assert!(!report.ok());
            assert!(report.checks.iter().all(|c| c.name != "metrics_endpoint"));
        }

        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = taken.local_addr().expect("addr");
        let metrics = format!("addr = \"{addr}\"");
        let dev = run_live(Environment::Development, &logs, &out, &metrics);
        assert_eq!(
            check(&dev, "metrics_endpoint").status,
            CheckStatus::Warn,
            "{dev:#?}"
        );
        let prod = run_live(Environment::Production, &logs, &out, &metrics);
        let c = check(&prod, "metrics_endpoint");
        assert_eq!((c.status, c.policy), (CheckStatus::Fail, "block"), "{c:#?}");
        assert!(
            c.reason
                .contains(&format!("cannot bind metrics.addr {addr}"))
        );
    }

    #[test]
    fn not_live_skips_live_checks() {
        let report = report(
            Environment::Production,
            "",
            &[strategy("s1", "BTCUSDT-SPOT", "paper")],
        );
        assert!(report.ok(), "{report:#?}");
        let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["config", "instruments", "credentials", "rings"]);
    }

    #[test]
    fn missing_model_is_a_problem_not_fatal() {
        let text = "id = \"m\"\nkind = \"ml\"\nmodel = \"models/nowhere.onnx\"\ninstruments = [\"BTCUSDT-SPOT\"]\nbrokers = [\"paper\"]\n[params]\nquantity = \"1\"\n";
        let mut errors = Vec::new();
        let s = parse_strategy(
            Path::new("strategies/m.toml"),
            text,
            &crate::strategy::Registry::builtin(),
            &mut errors,
        )
        .expect("valid");
        let f = check_model(&s, "models/nowhere.onnx", 3);
        assert_eq!(f.problems.len(), 1, "{f:?}");
        assert_eq!(f.problems[0].0, Severity::Problem);
        assert!(
            f.problems[0]
                .1
                .starts_with("strategies/m.toml:3: model file 'models/nowhere.onnx' not found"),
            "{f:?}"
        );
    }

    #[test]
    fn config_failed_is_fatal() {
        let report = config_failed(Environment::Development, "engine.toml:3: bad");
        assert!(!report.ok());
        assert_eq!(report.policy, Policy::Warn);
        assert_eq!(report.checks[0].policy, FATAL);
        assert_eq!(report.checks[0].reason, "engine.toml:3: bad");
    }

    #[test]
    fn summary_is_written_atomically() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let report = config_failed(Environment::Production, "nope");
        let dir = tmp.path().join("nested/out");
        let path = report.write_summary(&dir).expect("write");
        assert_eq!(path, dir.join(SUMMARY_FILE));
        let back: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        assert_eq!(back, report.to_json());
        let names: Vec<String> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [SUMMARY_FILE], "no temporary file left");
        let err = report
            .write_summary(&unwritable(tmp.path()))
            .expect_err("under a file");
        assert!(err.to_string().contains("a-file"), "{err}");
    }
}
