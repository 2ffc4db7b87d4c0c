//! The backtest run mode: assemble, optionally serve the metrics endpoint while the run goes,
//! run with the configured runtime, and build the summary. Writing the results is
//! `Backtest::write`. With an output directory, rows skipped under `bad_rows = "skip"` go to
//! its `dead_letters/` file as the run reads them (`app::dead_letters`).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::assemble;
use crate::config::{BadRowPolicy, EngineConfig};
use crate::feed::DataSource;
use crate::ops::server::MetricsServer;
use crate::report::{self, FeedCounts, Summary};
use crate::runtime::{EngineLayout, RunControl, RunError, RunOutcome, RunProgress};
use crate::strategy::StrategyConfig;

/// A finished backtest.
#[derive(Debug)]
pub struct Backtest {
    pub summary: Summary,
    pub layout: EngineLayout,
    pub outcome: RunOutcome,
    /// What the dead-letter writer did, when the run had an output directory.
    pub dead_letters: Option<crate::dlq::WriterReport>,
}

impl Backtest {
    /// Writes `summary.json`, `fills.csv`, `orders.csv`, `equity.svg` and `report.html`
    /// (its header names what `meta` says the run read) to `dir`.
    ///
    /// # Errors
    /// The directory or a file cannot be written.
    pub fn write(&self, dir: &Path, meta: &report::RunMeta) -> Result<()> {
        report::write_outputs(dir, &self.summary, &self.layout, &self.outcome, meta)
            .with_context(|| format!("writing results to {}", dir.display()))
    }
}

/// Runs a backtest of `strategies` over `sources`. With `serve_metrics` (or `[metrics]
/// enabled = true`) the metrics endpoint serves the run's counters meanwhile; its address
/// goes to `on_metrics`. With `output_dir`, skipped rows are written to its dead-letter
/// file.
///
/// # Errors
/// Configuration that does not fit the data, unreadable data, a bad row under
/// `bad_rows = "reject"`, or a metrics address that cannot be bound.
pub fn run(
    config: &EngineConfig,
    strategies: &[StrategyConfig],
    sources: &[DataSource],
    serve_metrics: bool,
    on_metrics: &mut dyn FnMut(std::net::SocketAddr),
    progress: &mut dyn FnMut(RunProgress),
    output_dir: Option<&Path>,
) -> Result<Backtest> {
    let assembled = assemble(config, strategies, sources)?;
    let (engine, mut reader) = (assembled.engine, assembled.reader);
    let mut dead_letters = match output_dir {
        Some(dir) => {
            let table = &engine.layout.instruments;
            let telemetry = Arc::clone(&engine.telemetry);
            let writer = super::dead_letters::start(dir, None, table, telemetry)
                .context("starting the dead-letter writer")?;
            reader.set_dead_letters(&writer.handle());
            Some(writer)
        }
        None => None,
    };
    let control = Arc::new(RunControl::new());
    let server = if serve_metrics || config.metrics.enabled == Some(true) {
        let server = MetricsServer::start(
            config.metrics.addr,
            Arc::clone(&engine.telemetry),
            Arc::clone(&control),
        )
        .with_context(|| format!("serving metrics on {}", config.metrics.addr))?;
        on_metrics(server.local_addr());
        Some(server)
    } else {
        None
    };
    let result = engine.run(&mut reader, progress);
    if let Some(server) = server {
        server.shutdown();
    }
    let dead_letters = dead_letters.as_mut().map(super::dead_letters::finish);
    let (layout, mut outcome) = match result {
        Ok(done) => done,
        Err(RunError::Input { error, .. }) => return Err(error.into()),
        Err(e) => return Err(e.into()),
    };
    outcome.load += assembled.load;
    super::write_compute_samples(config, &outcome)?;
    let stats = reader.stats();
    let counts = FeedCounts {
        quotes: stats.quotes,
        trades: stats.trades,
        skipped_rows: stats.skipped_rows,
    };
    if config.bad_rows == BadRowPolicy::Skip {
        for example in &stats.skipped_examples {
            tracing::warn!(target: "market_data", "skipped bad row: {example}");
        }
    }
    let summary = Summary::build(&layout, &outcome, config.runtime.mode.name(), counts);
    Ok(Backtest {
        summary,
        layout,
        outcome,
        dead_letters,
    })
}
