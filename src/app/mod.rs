//! The application around the engine: the one start-up assembly every run mode uses
//! (config files → scan the data → fit precisions → open the feed → build the engine), and
//! the run modes (`backtest`, `live`, `preflight`) that the CLI, the tests and the benches
//! call. `validate` holds the config rules the build and preflight share.

pub mod backtest;
pub mod build;
pub mod checkpoints;
pub mod dead_letters;
pub mod journal;
pub mod kite;
pub mod live;
pub mod preflight;
pub mod sweep;
pub mod validate;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use build::{build, fit_precisions};

use crate::clock::Stopwatch;
use crate::config::{ConfigError, ConfigErrors, EngineConfig, Environment};
use crate::domain::InstrumentTable;
use crate::feed::{self, DataSource, TickReader};
use crate::runtime::Engine;
use crate::strategy::registry::Registry;
use crate::strategy::{StrategyConfig, config::load_strategies_with};

/// Reads the engine config (the embedded default when `path` is `None`; `environment`
/// picks the overlay, else the file's) and every strategy file, reporting every problem of
/// every file at once.
///
/// # Errors
/// Every problem of every file.
pub fn load_configs(
    path: Option<&Path>,
    environment: Option<Environment>,
    strategies: &[PathBuf],
    registry: &Registry,
) -> Result<(EngineConfig, Vec<StrategyConfig>), ConfigErrors> {
    let engine = match path {
        Some(p) => EngineConfig::load_for(p, environment),
        None => Ok(EngineConfig::default_for(environment)),
    };
    match (engine, load_strategies_with(strategies, registry)) {
        (Ok(e), Ok(s)) => Ok((e, s)),
        (e, s) => {
            let mut all: Vec<ConfigError> = Vec::new();
            for list in [e.err(), s.err()].into_iter().flatten() {
                all.extend(list.0);
            }
            Err(ConfigErrors(all))
        }
    }
}

/// An engine built for its data, and the reader of that data.
#[derive(Debug)]
pub struct Assembled {
    pub engine: Engine,
    pub reader: TickReader,
    /// Scan, precision fitting and opening the feed.
    pub load: Duration,
}

/// The start-up every run makes: scan the data (symbols and precisions), fit quantity
/// precisions to the strategies, open the feed at the final precisions, build the engine.
///
/// # Errors
/// Unreadable data, or configuration that does not fit the data.
pub fn assemble(
    config: &EngineConfig,
    strategies: &[StrategyConfig],
    sources: &[DataSource],
) -> Result<Assembled, crate::Error> {
    let watch = Stopwatch::start();
    let mut instruments = InstrumentTable::new();
    feed::scan_instruments(sources, &config.instruments, &mut instruments)?;
    fit_precisions(&mut instruments, config, strategies)?;
    let reader = TickReader::open(sources, &instruments, config.bad_rows)?;
    let load = watch.elapsed();
    let engine = build(config, strategies, instruments)?;
    for check in engine.layout.model_checks.iter().filter(|c| c.ok) {
        tracing::info!(target: "app", strategy = %check.strategy, model = ?check.resolved, hash = ?check.feature_schema_hash, load_ms = check.load_ms, "model loaded");
    }
    Ok(Assembled {
        engine,
        reader,
        load,
    })
}

/// Writes a measured run's compute charges to `[compute] samples` (one ns value per line,
/// in the order they were charged), so `mode = "replay"` reproduces the run.
///
/// # Errors
/// The file cannot be written.
pub fn write_compute_samples(
    config: &EngineConfig,
    outcome: &crate::runtime::RunOutcome,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::fmt::Write as _;
    let (crate::strategy::compute::ComputeMode::Measured, Some(path)) =
        (config.compute.mode, &config.compute.samples)
    else {
        return Ok(());
    };
    let mut text = String::with_capacity(outcome.compute.samples.len() * 8);
    for ns in &outcome.compute.samples {
        let _ = writeln!(text, "{ns}");
    }
    std::fs::write(path, text)
        .with_context(|| format!("writing compute samples to {}", path.display()))
}

/// The embedded default data: an excerpt of the Binance L1 sample (see tests/data/README.md).
const EMBEDDED_DATA: &[u8] = include_bytes!("../../tests/data/binance_l1_2024-08-08_excerpt.csv");
const EMBEDDED_NAME: &str = "<embedded binance_l1_2024-08-08_excerpt.csv>";

/// The tick files to read: `data`, or the embedded excerpt when none is given.
pub fn data_sources(data: &[PathBuf]) -> Vec<DataSource> {
    if data.is_empty() {
        vec![DataSource::Embedded {
            name: EMBEDDED_NAME,
            bytes: EMBEDDED_DATA,
        }]
    } else {
        data.iter().cloned().map(DataSource::File).collect()
    }
}
