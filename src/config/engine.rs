//! `engine.toml`: environment, runtime mode, data policy, instrument precisions, and per
//! broker a venue (`[venue.NAME]`) and risk limits (`[risk.NAME]`).

use std::path::Path;

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
    pub ring_capacity: usize,
    pub wait: WaitPolicy,
    /// Per-tick stage latency is timed on 1 of this many ticks (timing costs ~10 ns a read).
    pub latency_sample_every: u64,
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

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            mode: RuntimeMode::Inline,
            ring_capacity: 8192,
            wait: WaitPolicy::SpinThenYield,
            latency_sample_every: 16,
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
    /// Delay between a signal and the earliest tick that can fill it, ns of event time.
    pub latency_ns: u64,
    pub fee_bps: Decimal,
    pub risk: RiskLimits,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    pub environment: Environment,
    pub runtime: RuntimeConfig,
    pub bad_rows: BadRowPolicy,
    pub instruments: Vec<InstrumentOverride>,
    /// In file order; the index is the `BrokerId`.
    pub brokers: Vec<BrokerConfig>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig::parse(Path::new("<embedded engine.toml>"), DEFAULT_ENGINE_TOML)
            .expect("the embedded engine.toml is valid (tested)")
    }
}

impl EngineConfig {
    /// Reads and validates an engine file.
    ///
    /// # Errors
    /// Every problem in the file, each with line and field.
    pub fn load(path: &Path) -> Result<EngineConfig, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.to_owned(),
                line: 0,
                field: String::new(),
                message: format!("cannot read: {e}"),
            }])
        })?;
        EngineConfig::parse(path, &text)
    }

    /// Validates engine TOML text; `path` is used in messages.
    ///
    /// # Errors
    /// Every problem in the text, each with line and field.
    pub fn parse(path: &Path, text: &str) -> Result<EngineConfig, ConfigErrors> {
        let source = Source { path, text };
        let doc = parse_document(&source).map_err(ConfigErrors)?;
        let mut errors = Vec::new();
        let mut config = EngineConfig {
            environment: Environment::Development,
            runtime: RuntimeConfig::default(),
            bad_rows: BadRowPolicy::Reject,
            instruments: Vec::new(),
            brokers: Vec::new(),
        };
        let mut root = Fields::new(&source, doc.get_ref(), "", 0, &mut errors);
        if let Some((env, _)) =
            root.opt_choice("environment", &["development", "test", "production"])
        {
            config.environment = match env.as_str() {
                "production" => Environment::Production,
                "test" => Environment::Test,
                _ => Environment::Development,
            };
        }
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
                config.runtime.latency_sample_every = n as u64;
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
                let latency_ns = venue.opt_int("latency_ns", 0, i64::MAX).unwrap_or(0) as u64;
                let fee_bps = venue
                    .opt_non_negative_decimal("fee_bps")
                    .map(|(mantissa, decimals, _)| Decimal { mantissa, decimals })
                    .unwrap_or_default();
                venue.finish();
                venue_names.push((name.to_owned(), inner_offset));
                config.brokers.push(BrokerConfig {
                    name: name.to_owned(),
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
}
