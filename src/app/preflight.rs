//! The preflight run mode: load the config and strategy files, run every check without
//! trading (`ops::preflight`), and write `preflight_summary.json`.

use std::path::{Path, PathBuf};

use super::{data_sources, load_configs};
use crate::clock::Stopwatch;
use crate::config::EngineConfig;
use crate::feed::DataSource;
use crate::ops::preflight::{self, PreflightInput, PreflightReport};
use crate::strategy::registry::Registry;

/// What a preflight found and where its summary went.
#[derive(Debug)]
pub struct Preflight {
    pub report: PreflightReport,
    /// The directory of `preflight_summary.json`.
    pub out: PathBuf,
    /// The summary's path, or why it could not be written.
    pub written: std::io::Result<PathBuf>,
}

/// Runs preflight on a run's inputs. `data` empty: the embedded excerpt, or with `live` the
/// config's `[feed] path`. `out`: the config's output dir when `None`.
pub fn run(
    config: Option<&Path>,
    strategies: &[PathBuf],
    data: &[PathBuf],
    live: bool,
    out: Option<&Path>,
    registry: &Registry,
) -> Preflight {
    let watch = Stopwatch::start();
    let loaded = load_configs(config, None, strategies, registry);
    let load_ms = watch.elapsed().as_secs_f64() * 1e3;
    let (config_loaded, strategies) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            // The engine file alone may still load: its environment and output dir apply.
            let engine = match config {
                Some(p) => EngineConfig::load(p).ok(),
                None => Some(EngineConfig::default()),
            };
            let environment = engine.as_ref().map(|c| c.environment).unwrap_or_default();
            let out = out.map_or_else(
                || engine.map_or_else(|| EngineConfig::default().output_dir, |c| c.output_dir),
                Path::to_path_buf,
            );
            let mut report = preflight::config_failed(environment, e.to_string());
            for check in &mut report.checks {
                check.duration_ms = load_ms;
            }
            let written = report.write_summary(&out);
            return Preflight {
                report,
                out,
                written,
            };
        }
    };
    let sources: Vec<DataSource> = match (&config_loaded.feed.path, live && data.is_empty()) {
        (Some(path), true) => vec![DataSource::File(path.clone())],
        (None, true) => Vec::new(),
        (_, false) => data_sources(data),
    };
    let mut report = preflight::run(&PreflightInput {
        config: &config_loaded,
        strategies: &strategies,
        sources: &sources,
        live,
    });
    if let Some(check) = report.checks.iter_mut().find(|c| c.name == "config") {
        check.duration_ms += load_ms;
    }
    let out = out.map_or_else(|| config_loaded.output_dir.clone(), Path::to_path_buf);
    let written = report.write_summary(&out);
    Preflight {
        report,
        out,
        written,
    }
}
