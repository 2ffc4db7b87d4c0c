//! `engine.toml`: the root of the engine configuration. It picks the environment, lays that
//! environment's overlay over the file, and has each section read by its owner: `[runtime]`
//! (runtime), `[data]`, `[instruments]` and `[feed]` (feed), `[venue.NAME]` (execution),
//! `[risk.NAME]` (risk), `[portfolio]` (portfolio), `[metrics]` (metrics), `[logging]` and `[validator]` (ops).
//! `[output]` is read here. Every problem of every section is reported at once.

use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::environment::Environment;
use super::fields::{Fields, Source, parse_document};
use super::instruments::InstrumentConfig;
use super::{ConfigError, ConfigErrors};
use crate::execution::BrokerConfig;
use crate::feed::config::{BadRowPolicy, FeedConfig};
use crate::metrics::config::MetricsConfig;
use crate::ops::logging::LoggingConfig;
use crate::ops::validator::ValidatorConfig;
use crate::runtime::config::RuntimeConfig;

/// The configuration used when no `--config` is given.
pub const DEFAULT_ENGINE_TOML: &str = include_str!("default_engine.toml");

#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    pub environment: Environment,
    pub runtime: RuntimeConfig,
    pub bad_rows: BadRowPolicy,
    /// `[instruments.SYMBOL]` tables, then the rows of `[data] instruments_file`.
    pub instruments: Vec<InstrumentConfig>,
    /// `[data] instruments_file`, resolved against the config file's folder.
    pub instruments_file: Option<PathBuf>,
    /// `[compute]`: compute time charged to the simulated clock.
    pub compute: crate::strategy::compute::ComputeConfig,
    /// `[portfolio]`: capital and the base currency of the reports.
    pub portfolio: crate::portfolio::config::PortfolioConfig,
    /// In file order; the index is the `BrokerId`.
    pub brokers: Vec<BrokerConfig>,
    pub feed: FeedConfig,
    pub metrics: MetricsConfig,
    pub logging: LoggingConfig,
    /// Where runs write summary.json, fills.csv, pnl_snapshot.json, preflight_summary.json.
    pub output_dir: PathBuf,
    pub validator: ValidatorConfig,
    /// `[journal]`: live runs only.
    pub journal: crate::journal::JournalConfig,
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
        let text = super::read_file(path)?;
        let mut config = EngineConfig::parse_for(path, &text, environment)?;
        // Paths in a file are relative to the file, not to wherever the engine starts.
        let base = path.parent().unwrap_or(Path::new("."));
        let kite = config.feed.kite.as_mut();
        let (kite_instruments, kite_record) = match kite {
            Some(k) => (Some(&mut k.instruments), k.record.as_mut()),
            None => (None, None),
        };
        for path in [
            config.feed.path.as_mut(),
            kite_instruments,
            kite_record,
            config.instruments_file.as_mut(),
            config.compute.samples.as_mut(),
            Some(&mut config.logging.dir),
            Some(&mut config.output_dir),
            config.journal.dir.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        if let Some(file) = config.instruments_file.clone() {
            super::instruments::read_file(&file, &mut config.instruments).map_err(ConfigErrors)?;
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
            instruments_file: None,
            portfolio: Default::default(),
            compute: Default::default(),
            brokers: Vec::new(),
            feed: FeedConfig::default(),
            metrics: MetricsConfig::default(),
            logging: LoggingConfig::default(),
            output_dir: PathBuf::from("out"),
            validator: ValidatorConfig::for_environment(environment),
            journal: Default::default(),
        };
        let mut root = Fields::new(&source, doc.get_ref(), "", 0, &mut errors);
        // Validated here; the value itself was taken above.
        let _ = root.opt_choice("environment", &["development", "test", "production"]);
        crate::runtime::config::read(&mut root, &mut config.runtime);
        crate::feed::config::read_data(
            &mut root,
            &mut config.bad_rows,
            &mut config.instruments_file,
        );
        super::instruments::read(&mut root, &mut config.instruments);
        crate::portfolio::config::read(&mut root, &mut config.portfolio);
        crate::strategy::compute::read(&mut root, &mut config.compute);
        read_brokers(&mut root, &mut config.brokers);
        crate::feed::config::read_feed(&mut root, &mut config.feed);
        crate::metrics::config::read(&mut root, &mut config.metrics);
        crate::ops::logging::read_config(&mut root, &mut config.logging);
        if let Some((table, offset)) = root.opt_table("output") {
            let mut output = root.sub(table, "output", offset);
            if let Some((dir, _)) = output.opt_str("dir") {
                config.output_dir = PathBuf::from(dir);
            }
            output.finish();
        }
        crate::ops::validator::read_config(&mut root, &mut config.validator);
        crate::journal::config::read(&mut root, &mut config.journal);
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

/// `[venue.NAME]` (one broker each, in file order) and their `[risk.NAME]` limits.
fn read_brokers(root: &mut Fields<'_, '_>, brokers: &mut Vec<BrokerConfig>) {
    let mut venue_names = Vec::new();
    if let Some((table, offset)) = root.opt_table("venue") {
        let mut venues = root.sub(table, "venue", offset);
        for (name, _) in table.iter() {
            let name = name.get_ref().as_ref();
            let Some((inner, inner_offset)) = venues.opt_table(name) else {
                continue;
            };
            let mut venue = venues.sub(inner, name, inner_offset);
            brokers.push(crate::execution::config::read(name, &mut venue));
            venue.finish();
            venue_names.push(name.to_owned());
        }
        venues.finish();
    }
    if brokers.is_empty() {
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
            let limits = crate::risk::config::read(&mut risk);
            risk.finish();
            match brokers.iter_mut().find(|b| b.name == name) {
                Some(broker) => broker.risk = limits,
                None => risks.invalid(
                    name,
                    inner_offset,
                    format!(
                        "no venue named '{name}' (known: {})",
                        venue_names.join(", ")
                    ),
                ),
            }
        }
        risks.finish();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AtEnd, LogFormat, RuntimeMode};
    use crate::domain::{Decimal, Money};

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
