//! `engine.toml`: environment, runtime mode, data policy, instrument precisions, and per
//! broker a venue (`[venue.NAME]`) and risk limits (`[risk.NAME]`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::fields::{Fields, Source, parse_document};
use super::{ConfigError, ConfigErrors};
use crate::domain::Money;
use crate::domain::fixed::{MAX_PRECISION, MONEY_SCALE, POW10};

/// The configuration used when no `--config` is given.
pub const DEFAULT_ENGINE_TOML: &str = include_str!("default_engine.toml");

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Environment {
    #[default]
    Development,
    Test,
    Production,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RuntimeMode {
    /// One thread calls every stage in order.
    #[default]
    Inline,
    /// One thread per stage, bounded rings between them.
    Threaded,
}

/// What a stage does while its input ring is empty or its output ring is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WaitPolicy {
    /// Busy-spin: lowest latency, burns the core.
    Spin,
    /// Spin a while, then yield the core to the OS.
    #[default]
    SpinThenYield,
    /// Spin, yield, then sleep briefly.
    Park,
}

/// What the feed does with a bad row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BadRowPolicy {
    /// Stop the run with an error naming the file and line.
    #[default]
    Reject,
    /// Count it, keep the first few in the report, continue.
    Skip,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeConfig {
    pub mode: RuntimeMode,
    pub pin: StagePinning,
    pub ring_capacity: usize,
    pub wait: WaitPolicy,
    /// Per-tick stage latency is timed on 1 of this many ticks (timing costs ~10 ns a read).
    /// Unset: `DEFAULT_SAMPLE_EVERY` in backtests, every tick live (see `sample_every`).
    pub latency_sample_every: Option<u64>,
    pub ml_inference: MlInference,
}

/// How ML strategies call their model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MlInference {
    /// Batched in the inline runtime, per tick in the threaded one.
    #[default]
    Auto,
    /// One row per scoring event, as live trading does.
    PerTick,
    /// Each chunk's rows in one call (inline runtime only).
    Batched,
}

/// Latency sampling of backtests when the config does not set it: 1 tick in 16 keeps the
/// cost of timing (two cycle-counter reads per hop) off the throughput.
pub const DEFAULT_SAMPLE_EVERY: u64 = 16;

impl RuntimeConfig {
    /// Ticks per latency sample: the configured value, else `DEFAULT_SAMPLE_EVERY`.
    pub fn sample_every(&self) -> u64 {
        self.latency_sample_every
            .unwrap_or(DEFAULT_SAMPLE_EVERY)
            .max(1)
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            mode: RuntimeMode::Inline,
            pin: StagePinning::default(),
            ring_capacity: 8192,
            wait: WaitPolicy::SpinThenYield,
            latency_sample_every: None,
            ml_inference: MlInference::Auto,
        }
    }
}

/// Precision set by config instead of inferred from the data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentOverride {
    pub symbol: String,
    pub price_precision: u8,
    pub qty_precision: u8,
}

/// An exact non-negative decimal rate, `mantissa * 10^-decimals`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decimal {
    pub mantissa: i64,
    pub decimals: u8,
}

/// Risk limits of one broker. `None` = no limit. Quantities and amounts are exact decimals
/// held as `Money` (18 decimals) and converted to each instrument's precision at start-up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RiskLimits {
    pub max_position: Option<Money>,
    pub max_order_qty: Option<Money>,
    pub max_notional: Option<Money>,
    pub max_open_orders: Option<u32>,
    pub max_orders_per_second: Option<u32>,
    pub price_band_bps: Option<u32>,
    pub max_daily_loss: Option<Money>,
    pub kill_switch: bool,
}

/// One broker: its paper venue and risk limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConfig {
    pub name: String,
    /// A disabled broker takes no orders; strategies naming it are a config problem.
    pub enabled: bool,
    /// Environment variables the broker needs (API keys of a live broker). Names only:
    /// values are read from the environment and never logged.
    pub credentials_env: Vec<String>,
    /// Delay between a signal and the earliest tick that can fill it, ns of event time.
    pub latency_ns: u64,
    pub fee_bps: Decimal,
    pub risk: RiskLimits,
}

/// Where the live runtime's ticks come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FeedKind {
    /// A tick file replayed in event-time order, paced against the wall clock.
    #[default]
    Replay,
}

/// What a replay feed does when its file ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AtEnd {
    /// Stay up (metrics, health) with no data until SIGINT/SIGTERM.
    #[default]
    Idle,
    /// Shut down gracefully as if signalled.
    Exit,
}

/// `[feed]`: the live runtime's market data.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedConfig {
    pub kind: FeedKind,
    /// Tick file (CSV or binary); relative paths resolve against the config file's folder.
    pub path: Option<PathBuf>,
    /// Replay pace: event time runs `speed` times faster than wall time; 0 = unpaced.
    pub speed: f64,
    pub at_end: AtEnd,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            kind: FeedKind::Replay,
            path: None,
            speed: 1.0,
            at_end: AtEnd::Idle,
        }
    }
}

/// `[metrics]`: the Prometheus and health HTTP endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// `None`: on for `live`, off for backtests.
    pub enabled: Option<bool>,
    pub addr: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

/// Log line format of the channel files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Json,
    Text,
}

/// `[logging]`: one file per channel under `dir`, plus the console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggingConfig {
    pub dir: PathBuf,
    pub format: LogFormat,
    /// Also log to stderr.
    pub console: bool,
    /// `tracing` filter directive for the files (`info`, `debug`, `app=debug,info`).
    pub level: String,
    /// The console's filter directive (`RUST_LOG` overrides it).
    pub console_level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            dir: PathBuf::from("logs"),
            format: LogFormat::Json,
            console: true,
            level: "info".into(),
            console_level: "warn,app=info".into(),
        }
    }
}

/// `[validator]`: the pipeline watchdog's thresholds, seconds of wall time.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatorConfig {
    /// How often the watchdog looks, ms.
    pub interval_ms: u64,
    /// No tick from the feed for this long: `no_recent_data`.
    pub no_data_secs: f64,
    /// Ticks reach a broker's strategies but no signal for this long: `no_signals`.
    pub no_signals_secs: f64,
    /// Signals but no order for the broker for this long: `no_orders`.
    pub no_orders_secs: f64,
    /// Orders but no fill for the broker for this long: `no_fills`.
    pub no_fills_secs: f64,
    /// A stage with input waiting that handled nothing for this long: `stalled_stage`.
    pub stalled_secs: f64,
    /// Ring depth at or above this share of capacity, percent: `queue_saturated`.
    pub saturation_pct: u8,
}

impl ValidatorConfig {
    /// Defaults per environment: production is told sooner.
    pub fn for_environment(environment: Environment) -> ValidatorConfig {
        let (no_data, no_signals, no_orders, no_fills, stalled) = match environment {
            Environment::Production => (5.0, 300.0, 10.0, 10.0, 2.0),
            Environment::Test => (10.0, 600.0, 30.0, 30.0, 5.0),
            Environment::Development => (30.0, 900.0, 60.0, 60.0, 10.0),
        };
        ValidatorConfig {
            interval_ms: 1000,
            no_data_secs: no_data,
            no_signals_secs: no_signals,
            no_orders_secs: no_orders,
            no_fills_secs: no_fills,
            stalled_secs: stalled,
            saturation_pct: 90,
        }
    }
}

/// Optional CPU core per stage thread of the threaded runtime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StagePinning {
    pub feed: Option<usize>,
    pub strategy: Option<usize>,
    pub risk: Option<usize>,
    pub execution: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    pub environment: Environment,
    pub runtime: RuntimeConfig,
    pub bad_rows: BadRowPolicy,
    pub instruments: Vec<InstrumentOverride>,
    /// In file order; the index is the `BrokerId`.
    pub brokers: Vec<BrokerConfig>,
    pub feed: FeedConfig,
    pub metrics: MetricsConfig,
    pub logging: LoggingConfig,
    /// Where runs write summary.json, fills.csv, pnl_snapshot.json, preflight_summary.json.
    pub output_dir: PathBuf,
    pub validator: ValidatorConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig::default_for(None)
    }
}

impl EngineConfig {
    /// Reads and validates an engine file.
    ///
    /// # Errors
    /// Every problem in the file, each with line and field.
    pub fn load(path: &Path) -> Result<EngineConfig, ConfigErrors> {
        EngineConfig::load_for(path, None)
    }

    /// Like `load`, with the environment (and so the overlay applied) chosen by the caller
    /// instead of the file's `environment` key.
    ///
    /// # Errors
    /// Every problem in the file, each with line and field.
    pub fn load_for(
        path: &Path,
        environment: Option<Environment>,
    ) -> Result<EngineConfig, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.to_owned(),
                line: 0,
                field: String::new(),
                message: format!("cannot read: {e}"),
            }])
        })?;
        let mut config = EngineConfig::parse_for(path, &text, environment)?;
        // Paths in a file are relative to the file, not to wherever the engine starts.
        let base = path.parent().unwrap_or(Path::new("."));
        for path in [
            config.feed.path.as_mut(),
            Some(&mut config.logging.dir),
            Some(&mut config.output_dir),
        ]
        .into_iter()
        .flatten()
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        Ok(config)
    }

    /// The embedded defaults for an environment (its overlay applied).
    pub fn default_for(environment: Option<Environment>) -> EngineConfig {
        EngineConfig::parse_for(
            Path::new("<embedded engine.toml>"),
            DEFAULT_ENGINE_TOML,
            environment,
        )
        .expect("the embedded engine.toml is valid in every environment (tested)")
    }

    /// Validates engine TOML text; `path` is used in messages.
    ///
    /// # Errors
    /// Every problem in the text, each with line and field.
    pub fn parse(path: &Path, text: &str) -> Result<EngineConfig, ConfigErrors> {
        EngineConfig::parse_for(path, text, None)
    }

    /// Validates engine TOML text for an environment. The environment is the caller's, else
    /// the file's `environment`, else development; its `[environments.NAME]` table is laid
    /// over the rest of the file (tables merge key by key, values replace) before reading,
    /// so a problem in an overlay is reported at the overlay's line.
    ///
    /// # Errors
    /// Every problem in the text, each with line and field.
    pub fn parse_for(
        path: &Path,
        text: &str,
        environment: Option<Environment>,
    ) -> Result<EngineConfig, ConfigErrors> {
        let source = Source { path, text };
        let mut doc = parse_document(&source).map_err(ConfigErrors)?;
        let mut errors = Vec::new();
        let file_environment = match doc.get_ref().get("environment").map(|v| v.get_ref()) {
            Some(DeValue::String(s)) => Environment::parse(s),
            _ => None,
        };
        let environment = environment.or(file_environment).unwrap_or_default();
        apply_overlay(&source, doc.get_mut(), environment, &mut errors);
        let mut config = EngineConfig {
            environment,
            runtime: RuntimeConfig::default(),
            bad_rows: BadRowPolicy::Reject,
            instruments: Vec::new(),
            brokers: Vec::new(),
            feed: FeedConfig::default(),
            metrics: MetricsConfig::default(),
            logging: LoggingConfig::default(),
            output_dir: PathBuf::from("out"),
            validator: ValidatorConfig::for_environment(environment),
        };
        let mut root = Fields::new(&source, doc.get_ref(), "", 0, &mut errors);
        // Validated here; the value itself was taken above.
        let _ = root.opt_choice("environment", &["development", "test", "production"]);
        if let Some((table, offset)) = root.opt_table("runtime") {
            let mut runtime = root.sub(table, "runtime", offset);
            if let Some((mode, _)) = runtime.opt_choice("mode", &["inline", "threaded"]) {
                config.runtime.mode = if mode == "threaded" {
                    RuntimeMode::Threaded
                } else {
                    RuntimeMode::Inline
                };
            }
            if let Some(capacity) = runtime.opt_int("ring_capacity", 2, 1 << 24) {
                let offset = runtime
                    .get("ring_capacity")
                    .map_or(offset, |v| v.span().start);
                if (capacity as u64).is_power_of_two() {
                    config.runtime.ring_capacity = capacity as usize;
                } else {
                    runtime.invalid(
                        "ring_capacity",
                        offset,
                        format!("expected a power of two, found {capacity}"),
                    );
                }
            }
            if let Some((wait, _)) =
                runtime.opt_choice("wait", &["spin", "spin_then_yield", "park"])
            {
                config.runtime.wait = match wait.as_str() {
                    "spin" => WaitPolicy::Spin,
                    "park" => WaitPolicy::Park,
                    _ => WaitPolicy::SpinThenYield,
                };
            }
            if let Some(n) = runtime.opt_int("latency_sample_every", 1, 1 << 20) {
                config.runtime.latency_sample_every = Some(n as u64);
            }
            if let Some((table, offset)) = runtime.opt_table("pin") {
                let mut pin = runtime.sub(table, "pin", offset);
                let mut core = |key| pin.opt_int(key, 0, 1023).map(|c| c as usize);
                config.runtime.pin = StagePinning {
                    feed: core("feed"),
                    strategy: core("strategy"),
                    risk: core("risk"),
                    execution: core("execution"),
                };
                // Checked against this machine by preflight, not here: the file is written
                // for the box it runs on, which need not be the one validating it.
                pin.finish();
            }
            if let Some((mode, _)) =
                runtime.opt_choice("ml_inference", &["auto", "per_tick", "batched"])
            {
                config.runtime.ml_inference = match mode.as_str() {
                    "per_tick" => MlInference::PerTick,
                    "batched" => MlInference::Batched,
                    _ => MlInference::Auto,
                };
            }
            runtime.finish();
        }
        if let Some((table, offset)) = root.opt_table("data") {
            let mut data = root.sub(table, "data", offset);
            if let Some((policy, _)) = data.opt_choice("bad_rows", &["reject", "skip"]) {
                config.bad_rows = if policy == "skip" {
                    BadRowPolicy::Skip
                } else {
                    BadRowPolicy::Reject
                };
            }
            data.finish();
        }
        if let Some((table, offset)) = root.opt_table("instruments") {
            let mut instruments = root.sub(table, "instruments", offset);
            for (symbol, value) in table.iter() {
                let symbol = symbol.get_ref().as_ref();
                let Some((inner, inner_offset)) = instruments.opt_table(symbol) else {
                    continue;
                };
                let mut spec = instruments.sub(inner, symbol, inner_offset);
                let max = i64::from(MAX_PRECISION);
                let price = spec.req_int("price_precision", 0, max);
                let qty = spec.req_int("qty_precision", 0, max);
                spec.finish();
                if let (Some(price), Some(qty)) = (price, qty) {
                    config.instruments.push(InstrumentOverride {
                        symbol: symbol.to_owned(),
                        price_precision: price as u8,
                        qty_precision: qty as u8,
                    });
                }
                let _ = value;
            }
            instruments.finish();
        }
        let mut venue_names = Vec::new();
        if let Some((table, offset)) = root.opt_table("venue") {
            let mut venues = root.sub(table, "venue", offset);
            for (name, _) in table.iter() {
                let name = name.get_ref().as_ref();
                let Some((inner, inner_offset)) = venues.opt_table(name) else {
                    continue;
                };
                let mut venue = venues.sub(inner, name, inner_offset);
                let _ = venue.opt_choice("kind", &["paper"]);
                let enabled = venue.opt_bool("enabled").unwrap_or(true);
                let credentials_env = venue
                    .opt_str_list("credentials_env")
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(name, _)| name)
                    .collect();
                let latency_ns = venue.opt_int("latency_ns", 0, i64::MAX).unwrap_or(0) as u64;
                let fee_bps = venue
                    .opt_non_negative_decimal("fee_bps")
                    .map(|(mantissa, decimals, _)| Decimal { mantissa, decimals })
                    .unwrap_or_default();
                venue.finish();
                venue_names.push((name.to_owned(), inner_offset));
                config.brokers.push(BrokerConfig {
                    name: name.to_owned(),
                    enabled,
                    credentials_env,
                    latency_ns,
                    fee_bps,
                    risk: RiskLimits::default(),
                });
            }
            venues.finish();
        }
        if config.brokers.is_empty() {
            root.invalid(
                "venue",
                0,
                "no broker configured: add a [venue.NAME] table (e.g. [venue.paper])",
            );
        }
        if let Some((table, offset)) = root.opt_table("risk") {
            let mut risks = root.sub(table, "risk", offset);
            for (name, _) in table.iter() {
                let name = name.get_ref().as_ref();
                let Some((inner, inner_offset)) = risks.opt_table(name) else {
                    continue;
                };
                let mut risk = risks.sub(inner, name, inner_offset);
                let limits = read_risk(&mut risk);
                risk.finish();
                match config.brokers.iter_mut().find(|b| b.name == name) {
                    Some(broker) => broker.risk = limits,
                    None => risks.invalid(
                        name,
                        inner_offset,
                        format!(
                            "no venue named '{name}' (known: {})",
                            join_names(&venue_names)
                        ),
                    ),
                }
            }
            risks.finish();
        }
        read_operability(&mut root, &mut config);
        root.finish();
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    pub fn broker_index(&self, name: &str) -> Option<usize> {
        self.brokers.iter().position(|b| b.name == name)
    }
}

impl Environment {
    pub fn parse(name: &str) -> Option<Environment> {
        match name {
            "development" => Some(Environment::Development),
            "test" => Some(Environment::Test),
            "production" => Some(Environment::Production),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Test => "test",
            Environment::Production => "production",
        }
    }
}

/// Lays `[environments.<environment>]` over the document and removes `[environments]`.
fn apply_overlay<'a>(
    source: &Source<'a>,
    doc: &mut DeTable<'a>,
    environment: Environment,
    errors: &mut Vec<ConfigError>,
) {
    let Some(overlays) = doc.remove("environments") else {
        return;
    };
    let offset = overlays.span().start;
    let DeValue::Table(overlays) = overlays.into_inner() else {
        errors.push(source.error(offset, "environments", "expected a table"));
        return;
    };
    let mut chosen = None;
    for (name, overlay) in overlays {
        if Environment::parse(name.get_ref()).is_none() {
            errors.push(source.error(
                name.span().start,
                &format!("environments.{}", name.get_ref()),
                "expected one of development | test | production",
            ));
            continue;
        }
        if name.get_ref() == environment.name() {
            chosen = Some(overlay);
        }
    }
    let Some(overlay) = chosen else {
        return;
    };
    let offset = overlay.span().start;
    match overlay.into_inner() {
        DeValue::Table(overlay) => {
            if overlay.contains_key("environment") {
                errors.push(source.error(
                    offset,
                    &format!("environments.{}.environment", environment.name()),
                    "an overlay cannot change the environment",
                ));
            }
            merge_tables(doc, overlay);
        }
        _ => errors.push(source.error(
            offset,
            &format!("environments.{}", environment.name()),
            "expected a table",
        )),
    }
}

fn merge_tables<'a>(base: &mut DeTable<'a>, overlay: DeTable<'a>) {
    for (key, value) in overlay {
        let both_tables = matches!(value.get_ref(), DeValue::Table(_))
            && matches!(
                base.get(key.get_ref().as_ref()).map(|v| v.get_ref()),
                Some(DeValue::Table(_))
            );
        if both_tables {
            let Some(existing) = base.get_mut(key.get_ref().as_ref()) else {
                continue;
            };
            if let (DeValue::Table(into), DeValue::Table(from)) =
                (existing.get_mut(), value.into_inner())
            {
                merge_tables(into, from);
            }
        } else {
            base.remove(key.get_ref().as_ref());
            base.insert(key, value);
        }
    }
}

/// `[feed]`, `[metrics]`, `[logging]`, `[output]`, `[validator]`.
fn read_operability(root: &mut Fields<'_, '_>, config: &mut EngineConfig) {
    if let Some((table, offset)) = root.opt_table("feed") {
        let mut feed = root.sub(table, "feed", offset);
        let _ = feed.opt_choice("kind", &["replay"]);
        if let Some((path, _)) = feed.opt_str("path") {
            config.feed.path = Some(PathBuf::from(path));
        }
        if let Some((mantissa, decimals, offset)) = feed.opt_non_negative_decimal("speed") {
            let speed = mantissa as f64 / 10f64.powi(i32::from(decimals));
            if speed != 0.0 && !(1e-6..=1e6).contains(&speed) {
                feed.invalid(
                    "speed",
                    offset,
                    format!("expected 0 (unpaced) or 0.000001 to 1000000, found {speed}"),
                );
            } else {
                config.feed.speed = speed;
            }
        }
        if let Some((at_end, _)) = feed.opt_choice("at_end", &["idle", "exit"]) {
            config.feed.at_end = if at_end == "exit" {
                AtEnd::Exit
            } else {
                AtEnd::Idle
            };
        }
        feed.finish();
    }
    if let Some((table, offset)) = root.opt_table("metrics") {
        let mut metrics = root.sub(table, "metrics", offset);
        config.metrics.enabled = metrics.opt_bool("enabled");
        if let Some((addr, offset)) = metrics.opt_str("addr") {
            match addr.parse::<SocketAddr>() {
                Ok(addr) => config.metrics.addr = addr,
                Err(_) => metrics.invalid(
                    "addr",
                    offset,
                    format!("expected IP:PORT like \"127.0.0.1:9464\", found \"{addr}\""),
                ),
            }
        }
        metrics.finish();
    }
    if let Some((table, offset)) = root.opt_table("logging") {
        let mut logging = root.sub(table, "logging", offset);
        if let Some((dir, _)) = logging.opt_str("dir") {
            config.logging.dir = PathBuf::from(dir);
        }
        if let Some((format, _)) = logging.opt_choice("format", &["json", "text"]) {
            config.logging.format = if format == "text" {
                LogFormat::Text
            } else {
                LogFormat::Json
            };
        }
        if let Some(console) = logging.opt_bool("console") {
            config.logging.console = console;
        }
        for key in ["level", "console_level"] {
            if let Some((level, offset)) = logging.opt_str(key) {
                match crate::ops::logging::check_level(&level) {
                    Ok(()) if key == "level" => config.logging.level = level,
                    Ok(()) => config.logging.console_level = level,
                    Err(e) => logging.invalid(key, offset, e),
                }
            }
        }
        logging.finish();
    }
    if let Some((table, offset)) = root.opt_table("output") {
        let mut output = root.sub(table, "output", offset);
        if let Some((dir, _)) = output.opt_str("dir") {
            config.output_dir = PathBuf::from(dir);
        }
        output.finish();
    }
    if let Some((table, offset)) = root.opt_table("validator") {
        let mut validator = root.sub(table, "validator", offset);
        let v = &mut config.validator;
        if let Some(ms) = validator.opt_int("interval_ms", 10, 60_000) {
            v.interval_ms = ms as u64;
        }
        let mut seconds = |key, into: &mut f64| {
            if let Some((mantissa, decimals, offset)) = validator.opt_non_negative_decimal(key) {
                let secs = mantissa as f64 / 10f64.powi(i32::from(decimals));
                if secs <= 0.0 {
                    validator.invalid(key, offset, "expected seconds > 0");
                } else {
                    *into = secs;
                }
            }
        };
        seconds("no_data_secs", &mut v.no_data_secs);
        seconds("no_signals_secs", &mut v.no_signals_secs);
        seconds("no_orders_secs", &mut v.no_orders_secs);
        seconds("no_fills_secs", &mut v.no_fills_secs);
        seconds("stalled_secs", &mut v.stalled_secs);
        if let Some(pct) = validator.opt_int("saturation_pct", 1, 100) {
            v.saturation_pct = pct as u8;
        }
        validator.finish();
    }
}

fn join_names(names: &[(String, usize)]) -> String {
    names
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_risk(fields: &mut Fields<'_, '_>) -> RiskLimits {
    let money = |fields: &mut Fields<'_, '_>, key: &'static str| {
        let (mantissa, decimals, offset) = fields.opt_non_negative_decimal(key)?;
        if decimals > MONEY_SCALE {
            fields.invalid(key, offset, format!("at most {MONEY_SCALE} decimals"));
            return None;
        }
        let scaled = i128::from(mantissa) * i128::from(POW10[(MONEY_SCALE - decimals) as usize]);
        Some(Money(scaled))
    };
    let max_position = money(fields, "max_position");
    let max_order_qty = money(fields, "max_order_qty");
    let max_notional = money(fields, "max_notional");
    let max_daily_loss = money(fields, "max_daily_loss");
    let as_u32 = |v: Option<i64>| v.map(|n| n as u32);
    RiskLimits {
        max_position,
        max_order_qty,
        max_notional,
        max_daily_loss,
        max_open_orders: as_u32(fields.opt_int("max_open_orders", 1, i64::from(u32::MAX))),
        max_orders_per_second: as_u32(fields.opt_int(
            "max_orders_per_second",
            1,
            i64::from(u32::MAX),
        )),
        price_band_bps: as_u32(fields.opt_int("price_band_bps", 1, 1_000_000)),
        kill_switch: fields.opt_bool("kill_switch").unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let config = EngineConfig::default();
        assert_eq!(config.brokers.len(), 1);
        assert_eq!(config.brokers[0].name, "paper");
        assert_eq!(config.runtime.mode, RuntimeMode::Inline);
        assert_eq!(config.brokers[0].risk.max_open_orders, Some(1000));
        assert_eq!(
            config.brokers[0].risk.max_position,
            Money::parse("1000000").ok()
        );
    }

    #[test]
    fn every_error_is_reported_with_line_and_field() {
        let text = "environment = \"prod\"\n[runtime]\nring_capacity = 1000\nspeed = 3\n[venue.paper]\nfee_bps = \"x\"\n[risk.other]\nmax_open_orders = 0\n";
        let errors = EngineConfig::parse(Path::new("e.toml"), text)
            .unwrap_err()
            .0;
        let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let expect = [
            "e.toml:1: field 'environment': expected one of development | test | production, found \"prod\"",
            "e.toml:3: field 'runtime.ring_capacity': expected a power of two, found 1000",
            "e.toml:4: field 'runtime.speed': unknown field",
            "e.toml:6: field 'venue.paper.fee_bps': expected a decimal number",
            "e.toml:8: field 'risk.other.max_open_orders': expected integer",
            "field 'risk.other': no venue named 'other' (known: paper)",
        ];
        for needle in expect {
            assert!(
                rendered.iter().any(|r| r.contains(needle)),
                "missing {needle:?} in {rendered:#?}"
            );
        }
    }

    #[test]
    fn decimals_are_read_from_source_text() {
        let text = "[venue.paper]\nfee_bps = 0.35\n[risk.paper]\nmax_position = 2.5\n";
        let config = EngineConfig::parse(Path::new("e.toml"), text).unwrap();
        assert_eq!(
            config.brokers[0].fee_bps,
            Decimal {
                mantissa: 35,
                decimals: 2
            }
        );
        assert_eq!(
            config.brokers[0].risk.max_position,
            Money::parse("2.5").ok()
        );
    }

    #[test]
    fn environment_overlay_is_laid_over_the_file() {
        let text = "environment = \"development\"\n[venue.paper]\n[validator]\nno_data_secs = 30\nstalled_secs = 8\n[environments.production.validator]\nno_data_secs = 2\n[environments.production.metrics]\naddr = \"127.0.0.1:9999\"\n[environments.test]\noutput = { dir = \"test-out\" }\n";
        let dev = EngineConfig::parse(Path::new("e.toml"), text).unwrap();
        assert_eq!(dev.validator.no_data_secs, 30.0);
        assert_eq!(dev.metrics.addr.port(), 9464);
        let prod =
            EngineConfig::parse_for(Path::new("e.toml"), text, Some(Environment::Production))
                .unwrap();
        assert_eq!(prod.environment, Environment::Production);
        assert_eq!(prod.validator.no_data_secs, 2.0, "overlay value wins");
        assert_eq!(prod.validator.stalled_secs, 8.0, "tables merge key by key");
        assert_eq!(prod.metrics.addr.port(), 9999);
        let test =
            EngineConfig::parse_for(Path::new("e.toml"), text, Some(Environment::Test)).unwrap();
        assert_eq!(test.output_dir, PathBuf::from("test-out"));
    }

    #[test]
    fn overlay_problems_point_at_the_overlay_lines() {
        let text = "environment = \"production\"\n[venue.paper]\n[environments.production.feed]\nspeed = -1\n[environments.staging]\nx = 1\n[environments.production]\nenvironment = \"test\"\n";
        let errors = EngineConfig::parse(Path::new("e.toml"), text)
            .unwrap_err()
            .0;
        let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
        for needle in [
            "e.toml:4: field 'feed.speed': expected a decimal >= 0",
            "e.toml:5: field 'environments.staging': expected one of development | test | production",
            "field 'environments.production.environment': an overlay cannot change the environment",
        ] {
            assert!(
                rendered.iter().any(|r| r.contains(needle)),
                "missing {needle:?} in {rendered:#?}"
            );
        }
    }

    #[test]
    fn operability_sections_are_read_and_checked() {
        let text = "[venue.paper]\nenabled = false\ncredentials_env = [\"KITE_KEY\"]\n[runtime.pin]\nfeed = 0\nrisk = 1\n[feed]\npath = \"t.csv\"\nspeed = 2.5\nat_end = \"exit\"\n[metrics]\nenabled = true\naddr = \"localhost\"\n[logging]\nformat = \"text\"\nlevel = \"inof\"\n";
        let errors = EngineConfig::parse(Path::new("e.toml"), text)
            .unwrap_err()
            .0;
        let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(rendered.len(), 2, "{rendered:#?}");
        assert!(rendered[0].contains("e.toml:13: field 'metrics.addr': expected IP:PORT"));
        assert!(rendered[1].contains("e.toml:16: field 'logging.level':"));
        let fixed = text
            .replace("\"localhost\"", "\"127.0.0.1:1\"")
            .replace("inof", "debug");
        let config = EngineConfig::parse(Path::new("e.toml"), &fixed).unwrap();
        assert!(!config.brokers[0].enabled);
        assert_eq!(
            config.brokers[0].credentials_env,
            vec!["KITE_KEY".to_owned()]
        );
        assert_eq!(config.runtime.pin.feed, Some(0));
        assert_eq!(config.runtime.pin.risk, Some(1));
        assert_eq!(config.runtime.pin.strategy, None);
        assert_eq!(config.feed.speed, 2.5);
        assert_eq!(config.feed.at_end, AtEnd::Exit);
        assert_eq!(config.metrics.enabled, Some(true));
        assert_eq!(config.logging.format, LogFormat::Text);
    }

    #[test]
    fn replay_speed_is_zero_or_within_bounds() {
        for (speed, ok) in [
            ("0", true),
            ("0.000001", true),
            ("1000000", true),
            ("0.000000000000000001", false),
            ("2000000", false),
        ] {
            let text = format!("[venue.paper]\n[feed]\nspeed = {speed}\n");
            let result = EngineConfig::parse(Path::new("e.toml"), &text);
            assert_eq!(result.is_ok(), ok, "speed {speed}: {result:?}");
            if let Err(e) = result {
                assert!(
                    e.to_string().contains(
                        "e.toml:3: field 'feed.speed': expected 0 (unpaced) or 0.000001 to 1000000"
                    ),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn relative_paths_resolve_against_the_config_file() {
        let dir = std::env::temp_dir().join(format!("alpha-panda-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("engine.toml");
        std::fs::write(
            &path,
            "[venue.paper]\n[feed]\npath = \"ticks.csv\"\n[logging]\ndir = \"/abs/logs\"\n",
        )
        .unwrap();
        let config = EngineConfig::load(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(config.feed.path, Some(dir.join("ticks.csv")));
        assert_eq!(config.logging.dir, PathBuf::from("/abs/logs"));
        assert_eq!(config.output_dir, dir.join("out"));
    }

    #[test]
    fn embedded_default_is_valid_in_every_environment() {
        for env in [
            Environment::Development,
            Environment::Test,
            Environment::Production,
        ] {
            let config = EngineConfig::default_for(Some(env));
            assert_eq!(config.environment, env);
        }
        let prod = EngineConfig::default_for(Some(Environment::Production));
        assert!(
            !prod.logging.console,
            "the embedded production overlay applies"
        );
    }
}
