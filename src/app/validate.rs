//! The rules that make an engine config and its strategy files fit together, in one place:
//! the engine build refuses what is `Fatal` (and, in production, every `Problem`), preflight
//! reports every finding with the policy of its environment. The wording is the same for
//! both, and every finding names the file, line and field it is about where there is one.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::{ConfigError, EngineConfig, MlInference, RuntimeMode};
use crate::domain::InstrumentTable;
use crate::strategy::StrategyConfig;
use crate::strategy::config::PriceSource;

/// How bad one finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing, never blocks (small rings).
    Advisory,
    /// Blocks in production, a warning elsewhere.
    Problem,
    /// No run survives it.
    Fatal,
}

/// One finding, and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// File, line and field, where the finding is about one.
    pub file: Option<PathBuf>,
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl Finding {
    fn at(
        severity: Severity,
        s: &StrategyConfig,
        line: usize,
        field: &str,
        message: String,
    ) -> Finding {
        Finding {
            severity,
            file: Some(s.file.clone()),
            line,
            field: field.to_owned(),
            message,
        }
    }

    fn engine(severity: Severity, field: &str, message: String) -> Finding {
        Finding {
            severity,
            file: None,
            line: 0,
            field: field.to_owned(),
            message,
        }
    }

    /// As a config error (the build's wording), with `<engine config>` for engine-wide ones.
    pub fn to_config_error(&self) -> ConfigError {
        ConfigError {
            file: self
                .file
                .clone()
                .unwrap_or_else(|| PathBuf::from("<engine config>")),
            line: self.line,
            field: self.field.clone(),
            message: self.message.clone(),
        }
    }

    /// One line for reports: `file:line: field 'name': message` where it has a place.
    pub fn render(&self) -> String {
        match &self.file {
            Some(_) => self.to_config_error().to_string(),
            None => self.message.clone(),
        }
    }
}

/// Strategy files against the engine config: duplicate ids, unknown and disabled brokers,
/// enabled brokers nobody trades through, runtime settings that do not go together.
pub fn config(config: &EngineConfig, strategies: &[StrategyConfig]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut first_of: BTreeMap<&str, &StrategyConfig> = BTreeMap::new();
    for s in strategies {
        match first_of.get(s.id.as_str()) {
            Some(first) => findings.push(Finding::at(
                Severity::Fatal,
                s,
                1,
                "id",
                format!(
                    "duplicate strategy id '{}', also in {}",
                    s.id,
                    first.file.display()
                ),
            )),
            None => {
                first_of.insert(&s.id, s);
            }
        }
    }
    let known = config
        .brokers
        .iter()
        .map(|b| b.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut named = vec![false; config.brokers.len()];
    for s in strategies {
        for (name, line) in &s.brokers {
            match config.broker_index(name) {
                Some(b) => {
                    named[b] = true;
                    if !config.brokers[b].enabled {
                        findings.push(Finding::at(
                            Severity::Problem,
                            s,
                            *line,
                            "brokers",
                            format!("broker '{name}' is disabled: the strategy does not trade through it"),
                        ));
                    }
                }
                None => findings.push(Finding::at(
                    Severity::Fatal,
                    s,
                    *line,
                    "brokers",
                    format!("unknown broker '{name}' (configured: {known})"),
                )),
            }
        }
    }
    for (broker, named) in config.brokers.iter().zip(&named) {
        if broker.enabled && !named {
            findings.push(Finding::engine(
                Severity::Problem,
                "venue",
                format!(
                    "broker '{}' is enabled but no strategy trades through it",
                    broker.name
                ),
            ));
        }
    }
    if config.runtime.ml_inference == MlInference::Batched
        && config.runtime.mode == RuntimeMode::Threaded
    {
        findings.push(Finding::engine(
            Severity::Fatal,
            "runtime.ml_inference",
            "\"batched\" needs the inline runtime: threaded strategies see one tick at a time (use \"per_tick\" or \"auto\")".into(),
        ));
    }
    findings
}

/// Every strategy instrument is in the data.
pub fn instruments(strategies: &[StrategyConfig], table: &InstrumentTable) -> Vec<Finding> {
    let mut findings = Vec::new();
    for s in strategies {
        for (symbol, line) in &s.instruments {
            let Some(id) = table.find(symbol) else {
                findings.push(Finding::at(
                    Severity::Problem,
                    s,
                    *line,
                    "instruments",
                    format!("instrument '{symbol}' is not in the data"),
                ));
                continue;
            };
            // A price the data never provides: the strategy would silently never trade.
            let (quotes, trades) = table.data_kinds(id);
            let missing = match s.params.price_source() {
                Some(PriceSource::Mid) if !quotes => Some(("mid", "quotes (bid/ask)", "last")),
                Some(PriceSource::Last) if !trades => Some(("last", "trades (last)", "mid")),
                _ => None,
            };
            if let Some((source, kind, other)) = missing {
                findings.push(Finding::at(
                    Severity::Advisory,
                    s,
                    *line,
                    "instruments",
                    format!(
                        "price_source = \"{source}\" but the data has no {kind} for '{symbol}': this strategy will never trade it; use price_source = \"{other}\""
                    ),
                ));
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::config::parse_strategy;
    use crate::strategy::registry::Registry;

    fn strategy(id: &str, broker: &str, instrument: &str) -> StrategyConfig {
        let text = format!(
            "id = \"{id}\"\nkind = \"ema_cross\"\ninstruments = [\"{instrument}\"]\nbrokers = [\"{broker}\"]\n[params]\nfast = 2\nslow = 3\nquantity = \"1\"\n"
        );
        let mut errors = Vec::new();
        parse_strategy(
            std::path::Path::new(&format!("{id}.toml")),
            &text,
            &Registry::builtin(),
            &mut errors,
        )
        .expect("valid")
    }

    #[test]
    fn findings_table() {
        let engine = EngineConfig::parse(
            std::path::Path::new("e.toml"),
            "[venue.paper]\n[venue.off]\nenabled = false\n[venue.idle]\n[runtime]\nmode = \"threaded\"\nml_inference = \"batched\"\n",
        )
        .expect("valid engine config");
        let strategies = [
            strategy("a", "paper", "X"),
            strategy("a", "paper", "X"),
            strategy("b", "nope", "X"),
            strategy("c", "off", "Y"),
        ];
        let rendered: Vec<(Severity, String)> = config(&engine, &strategies)
            .iter()
            .map(|f| (f.severity, f.to_config_error().to_string()))
            .collect();
        let expected = [
            (
                Severity::Fatal,
                "a.toml:1: field 'id': duplicate strategy id 'a', also in a.toml",
            ),
            (
                Severity::Fatal,
                "b.toml:4: field 'brokers': unknown broker 'nope' (configured: idle, off, paper)",
            ),
            (
                Severity::Problem,
                "c.toml:4: field 'brokers': broker 'off' is disabled: the strategy does not trade through it",
            ),
            (
                Severity::Problem,
                "<engine config>:0: field 'venue': broker 'idle' is enabled but no strategy trades through it",
            ),
            (
                Severity::Fatal,
                "<engine config>:0: field 'runtime.ml_inference': \"batched\" needs the inline runtime",
            ),
        ];
        for (severity, needle) in expected {
            assert!(
                rendered
                    .iter()
                    .any(|(s, r)| *s == severity && r.starts_with(needle)),
                "missing {needle:?} in {rendered:#?}"
            );
        }
        assert_eq!(rendered.len(), expected.len(), "{rendered:#?}");
        let mut table = InstrumentTable::new();
        table.intern("X");
        let missing = instruments(&strategies, &table);
        assert_eq!(missing.len(), 1);
        assert_eq!(
            missing[0].render(),
            "c.toml:3: field 'instruments': instrument 'Y' is not in the data"
        );
    }
}
