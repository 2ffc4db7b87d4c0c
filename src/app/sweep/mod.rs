//! Parameter sweeps: one strategy file, many parameter sets (`grid`), each run as its own
//! engine — its own books, risk state, venue and portfolio — over ticks read once and shared
//! by every variant, in parallel on a rayon pool of `jobs` threads.
//!
//! Contract:
//! - The data is scanned and read once, at the precisions every variant needs together
//!   (`fit_precisions` over all variants), so each variant sees the same ticks a standalone
//!   backtest of it would; variants run with the inline runtime, and a variant's fills equal
//!   a standalone `backtest` of its strategy file (written to `variants/` with `--out`).
//! - Results come back in variant order whatever `jobs` is, then are sorted by the chosen
//!   metric (ties in variant order): the table is the same for every `jobs`.
//! - A variant's `net_pnl` is its total in its one settlement currency, else the
//!   `[portfolio] base_currency` total, else empty; its `stats` are the currency's (`stats`
//!   keys of the summary), empty when it trades more than one currency.

pub mod grid;
mod output;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rayon::prelude::*;

pub use grid::{Axis, Grid, Variant};
pub use output::write_outputs;

use super::build::{build, fit_precisions};
use crate::clock::Stopwatch;
use crate::config::{ConfigErrors, EngineConfig, RuntimeMode};
use crate::domain::{InstrumentTable, Money, Tick};
use crate::feed::{self, DataSource, TickReader};
use crate::report::{FeedCounts, Summary};
use crate::runtime::SliceSource;
use crate::strategy::StrategyConfig;
use crate::strategy::config::parse_strategy;
use crate::strategy::registry::Registry;

/// The statistics columns of the table, in order (the summary's `stats` keys).
pub const STAT_KEYS: [&str; 16] = [
    "return",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_duration_s",
    "calmar",
    "round_trips",
    "win_rate",
    "profit_factor",
    "avg_win",
    "avg_loss",
    "expectancy",
    "exposure",
    "turnover",
    "fees",
];

/// One variant's row.
#[derive(Clone, Debug, PartialEq)]
pub struct VariantRow {
    pub variant: Variant,
    pub fills: u64,
    /// Net PnL as a decimal string; `None` when it spans currencies with no base total.
    pub net_pnl: Option<String>,
    pub currency: Option<String>,
    /// The summary's `stats` of the variant's currency (`Null` across currencies).
    pub stats: serde_json::Value,
    /// The settlement currencies it trades (more than one and no base total: `net_pnl` and
    /// `stats` are empty, and the CLI says why).
    pub currencies: Vec<String>,
}

/// How the table is sorted: a column name, descending unless `ascending`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortKey {
    pub column: String,
    pub ascending: bool,
}

impl SortKey {
    /// `COLUMN` (descending) or `COLUMN:asc` / `COLUMN:desc`.
    ///
    /// # Errors
    /// An unknown column or direction.
    pub fn parse(text: &str) -> Result<SortKey, String> {
        let (column, direction) = text.split_once(':').unwrap_or((text, "desc"));
        let known =
            ["net_pnl", "fills", "variant"].contains(&column) || STAT_KEYS.contains(&column);
        if !known {
            return Err(format!(
                "--sort {text}: unknown column '{column}'; expected net_pnl, fills, variant or one of {}",
                STAT_KEYS.join(", ")
            ));
        }
        let ascending = match direction {
            "asc" => true,
            "desc" => false,
            other => {
                return Err(format!(
                    "--sort {text}: direction '{other}', expected asc or desc"
                ));
            }
        };
        Ok(SortKey {
            column: column.to_owned(),
            ascending,
        })
    }
}

/// A finished sweep.
#[derive(Debug)]
pub struct Sweep {
    pub axes: Vec<String>,
    /// Sorted by `sort`.
    pub rows: Vec<VariantRow>,
    pub sort: SortKey,
    /// Each variant's strategy file text, in variant order.
    pub files: Vec<(String, String)>,
    pub ticks: u64,
    pub jobs: usize,
    pub load_seconds: f64,
    pub run_seconds: f64,
}

/// What `run` needs.
#[derive(Debug)]
pub struct SweepSpec<'a> {
    pub config: &'a EngineConfig,
    /// The base strategy file.
    pub strategy: &'a Path,
    pub grid: &'a Grid,
    pub sources: &'a [DataSource],
    /// Worker threads (≥ 1).
    pub jobs: usize,
    pub sort: SortKey,
}

/// Runs every variant; `progress(done, total)` is called as variants finish (from worker
/// threads).
///
/// # Errors
/// An unreadable or invalid base file, a variant whose parameters its kind refuses (all of
/// them listed, by variant and field), unreadable data, or a variant whose run fails.
pub fn run(
    spec: &SweepSpec<'_>,
    registry: &Registry,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Sweep> {
    let text = std::fs::read_to_string(spec.strategy)
        .with_context(|| format!("reading {}", spec.strategy.display()))?;
    let base: toml::Table = toml::from_str(&text)
        .with_context(|| format!("{}: not a TOML table", spec.strategy.display()))?;
    let variants = spec.grid.variants().map_err(anyhow::Error::msg)?;
    let mut errors = Vec::new();
    let mut strategies: Vec<StrategyConfig> = Vec::with_capacity(variants.len());
    let mut files = Vec::with_capacity(variants.len());
    for variant in &variants {
        let mut table = base.clone();
        let params = table
            .entry("params")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(params) = params.as_table_mut() else {
            bail!("{}: [params] is not a table", spec.strategy.display());
        };
        for (axis, value) in spec.grid.axes.iter().zip(&variant.values) {
            params.insert(axis.name.clone(), grid::toml_value(value));
        }
        let variant_text = toml::to_string(&table).context("writing a variant's strategy file")?;
        let name = PathBuf::from(format!("{}#{}", spec.strategy.display(), variant.id));
        if let Some(s) = parse_strategy(&name, &variant_text, registry, &mut errors) {
            strategies.push(s);
        }
        files.push((variant.id.clone(), variant_text));
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors).into());
    }
    let mut config = spec.config.clone();
    config.runtime.mode = RuntimeMode::Inline;
    config.metrics.enabled = Some(false);

    let watch = Stopwatch::start();
    let mut instruments = InstrumentTable::new();
    feed::scan_instruments(spec.sources, &config.instruments, &mut instruments)?;
    fit_precisions(&mut instruments, &config, &strategies)?;
    let ticks = read_all(spec.sources, &instruments, &config)?;
    let load_seconds = watch.elapsed().as_secs_f64();

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(spec.jobs.max(1))
        .build()
        .context("starting the sweep's worker threads")?;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let total = strategies.len();
    let watch = Stopwatch::start();
    let results: Vec<Result<VariantRow>> = pool.install(|| {
        strategies
            .par_iter()
            .zip(variants.par_iter())
            .map(|(strategy, variant)| {
                let row = run_variant(&config, strategy, variant, &instruments, &ticks);
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress(n, total);
                row
            })
            .collect()
    });
    let run_seconds = watch.elapsed().as_secs_f64();
    let mut rows = results.into_iter().collect::<Result<Vec<_>>>()?;
    sort_rows(&mut rows, &spec.sort);
    Ok(Sweep {
        axes: spec.grid.axes.iter().map(|a| a.name.clone()).collect(),
        rows,
        sort: spec.sort.clone(),
        files,
        ticks: ticks.len() as u64,
        jobs: spec.jobs.max(1),
        load_seconds,
        run_seconds,
    })
}

/// Every tick of the sources, at the final precisions.
fn read_all(
    sources: &[DataSource],
    instruments: &InstrumentTable,
    config: &EngineConfig,
) -> Result<Vec<Tick>> {
    let mut reader = TickReader::open(sources, instruments, config.bad_rows)?;
    let mut ticks = Vec::new();
    let mut chunk = Vec::with_capacity(crate::runtime::inline::CHUNK);
    while reader.read_chunk(&mut chunk, crate::runtime::inline::CHUNK)? > 0 {
        ticks.extend_from_slice(&chunk);
    }
    Ok(ticks)
}

/// One variant as its own engine over the shared ticks.
fn run_variant(
    config: &EngineConfig,
    strategy: &StrategyConfig,
    variant: &Variant,
    instruments: &InstrumentTable,
    ticks: &[Tick],
) -> Result<VariantRow> {
    let engine = build(config, std::slice::from_ref(strategy), instruments.clone())
        .with_context(|| format!("variant {}", variant.id))?;
    let (layout, outcome) = engine
        .run(&mut SliceSource::new(ticks), &mut |_| {})
        .map_err(|e| anyhow::anyhow!("variant {}: {e}", variant.id))?;
    let summary = Summary::build(&layout, &outcome, "inline", FeedCounts::default());
    let currencies = summary.equity.0.iter().map(|(c, _)| c.clone()).collect();
    let single = (summary.equity.0.len() == 1).then(|| summary.equity.0[0].clone());
    let (net_pnl, currency, stats) = match (single, &summary.base_currency) {
        (Some((currency, equity)), _) => {
            let stats = summary.stats.get(&currency).cloned().unwrap_or_default();
            (Some(equity), Some(currency), stats)
        }
        (None, Some(base)) => (
            Some(base.equity.clone()),
            Some(base.currency.clone()),
            serde_json::Value::Null,
        ),
        (None, None) => (None, None, serde_json::Value::Null),
    };
    Ok(VariantRow {
        variant: variant.clone(),
        fills: summary.fills,
        net_pnl,
        currency,
        stats,
        currencies,
    })
}

/// Sorts by the key's column, missing values last, ties in variant order.
fn sort_rows(rows: &mut [VariantRow], key: &SortKey) {
    let value = |row: &VariantRow| -> Option<f64> {
        match key.column.as_str() {
            "variant" => None,
            "fills" => Some(row.fills as f64),
            "net_pnl" => row
                .net_pnl
                .as_deref()
                .and_then(|m| Money::parse(m).ok())
                .map(Money::to_f64),
            column => match &row.stats[column] {
                serde_json::Value::Number(n) => n.as_f64(),
                serde_json::Value::String(s) => Money::parse(s).ok().map(Money::to_f64),
                _ => None,
            },
        }
    };
    rows.sort_by(|a, b| {
        let order = match (value(a), value(b)) {
            (Some(x), Some(y)) => {
                let o = x.total_cmp(&y);
                if key.ascending { o } else { o.reverse() }
            }
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        order.then_with(|| a.variant.id.cmp(&b.variant.id))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, pnl: Option<&str>) -> VariantRow {
        VariantRow {
            variant: Variant {
                id: id.into(),
                values: vec![],
            },
            fills: 1,
            net_pnl: pnl.map(str::to_owned),
            currency: None,
            stats: serde_json::Value::Null,
            currencies: vec![],
        }
    }

    #[test]
    fn sort_is_by_value_then_variant_with_missing_last() {
        let mut rows = vec![
            row("v1", Some("1")),
            row("v2", None),
            row("v3", Some("5")),
            row("v4", Some("1")),
        ];
        sort_rows(&mut rows, &SortKey::parse("net_pnl").expect("key"));
        let ids: Vec<&str> = rows.iter().map(|r| r.variant.id.as_str()).collect();
        assert_eq!(ids, ["v3", "v1", "v4", "v2"]);
        sort_rows(&mut rows, &SortKey::parse("net_pnl:asc").expect("key"));
        let ids: Vec<&str> = rows.iter().map(|r| r.variant.id.as_str()).collect();
        assert_eq!(ids, ["v1", "v4", "v3", "v2"]);
        assert!(SortKey::parse("colour").is_err());
        assert!(SortKey::parse("sharpe:up").is_err());
    }
}
