//! `alpha-panda sweep`: a parameter grid (or a sweep file) over one strategy file, every
//! variant in its own engine, in parallel; prints the table, writes it with `--out`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use crate::app::sweep::{self, Grid, SortKey, SweepSpec};
use crate::app::{data_sources, load_configs};
use crate::strategy::registry::Registry;

#[derive(Args, Debug)]
pub(crate) struct SweepArgs {
    /// Tick file (.csv or binary); repeat to merge by time. Default: the embedded excerpt.
    #[arg(long = "data", value_name = "FILE")]
    data: Vec<PathBuf>,
    /// The base strategy file; each variant is a copy with the swept [params] replaced.
    #[arg(long, value_name = "FILE")]
    strategy: Option<PathBuf>,
    /// A swept parameter of [params] and its values, e.g. `--grid fast=5,10,20`; repeatable.
    #[arg(long = "grid", value_name = "NAME=V1,V2,...")]
    grid: Vec<String>,
    /// A sweep file: [grid] (value lists or { min, max, step } ranges), optional
    /// `strategy = "FILE"` and [random] samples/seed for a random search.
    #[arg(long = "sweep", value_name = "FILE", conflicts_with = "grid")]
    sweep: Option<PathBuf>,
    /// Engine configuration. Default: the embedded engine.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Worker threads. Default: every core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: Option<u16>,
    /// Column to sort by, descending (`COLUMN:asc` ascending): net_pnl (default), fills,
    /// variant, or a statistic (sharpe, max_drawdown, win_rate, ...).
    #[arg(long, value_name = "COLUMN", default_value = "net_pnl")]
    sort: String,
    /// Directory for sweep.csv, sweep.json, sweep.html and variants/*.toml.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the table as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub(crate) fn sweep(args: SweepArgs, registry: &Registry) -> Result<()> {
    let grid = match &args.sweep {
        Some(path) => Grid::from_file(path)?,
        None => Grid::from_args(&args.grid).map_err(anyhow::Error::msg)?,
    };
    let strategy = match (args.strategy.clone(), grid.strategy.clone()) {
        (Some(s), _) | (None, Some(s)) => s,
        (None, None) => {
            bail!("no strategy: give --strategy FILE (or `strategy = \"FILE\"` in the sweep file)")
        }
    };
    let sort = SortKey::parse(&args.sort).map_err(anyhow::Error::msg)?;
    let (config, _) = load_configs(args.config.as_deref(), None, &[], registry)?;
    let jobs = args
        .jobs
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let sources = data_sources(&args.data);
    let bar = super::progress::Progress::new();
    let result = sweep::run(
        &SweepSpec {
            config: &config,
            strategy: &strategy,
            grid: &grid,
            sources: &sources,
            jobs,
            sort,
        },
        registry,
        &|done, total| bar.update(done as u64, total as u64, 0),
    );
    bar.finish();
    let sweep = result?;
    if let Some(dir) = &args.out {
        sweep::write_outputs(dir, &sweep)?;
    }
    if args.json {
        let rows: Vec<serde_json::Value> = sweep
            .rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "variant": r.variant.id,
                    "params": sweep.axes.iter().zip(&r.variant.values).map(|(a, v)| (a.clone(), serde_json::Value::from(v.clone()))).collect::<serde_json::Map<_, _>>(),
                    "fills": r.fills,
                    "net_pnl": r.net_pnl,
                    "currency": r.currency,
                    "stats": r.stats,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let variants = sweep.rows.len() as f64;
    println!(
        "Alpha Panda sweep: {} variants over {} ticks, {} jobs: load {:.2} s, run {:.2} s ({:.0} ticks x variants/s)",
        sweep.rows.len(),
        sweep.ticks,
        sweep.jobs,
        sweep.load_seconds,
        sweep.run_seconds,
        sweep.ticks as f64 * variants / sweep.run_seconds.max(1e-9)
    );
    let params = sweep.axes.join(" ");
    println!(
        "  {:<8} {:<24} {:>7} {:>20} {:>6} {:>9} {:>8} {:>14} {:>6} {:>6}",
        "variant",
        params,
        "fills",
        "net_pnl",
        "ccy",
        "return%",
        "sharpe",
        "max dd",
        "trips",
        "win%"
    );
    for r in sweep.rows.iter().take(30) {
        // Short runs make small returns: enough digits to see them.
        let pct = |k: &str| {
            r.stats[k]
                .as_f64()
                .map_or("-".to_owned(), |x| format!("{:.4}", x * 100.0))
        };
        let num = |k: &str, scale: f64| {
            r.stats[k]
                .as_f64()
                .map_or("-".to_owned(), |x| format!("{:.2}", x * scale))
        };
        println!(
            "  {:<8} {:<24} {:>7} {:>20} {:>6} {:>9} {:>8} {:>14} {:>6} {:>6}",
            r.variant.id,
            r.variant.values.join(" "),
            r.fills,
            r.net_pnl.as_deref().unwrap_or("-"),
            r.currency.as_deref().unwrap_or("-"),
            pct("return"),
            num("sharpe", 1.0),
            r.stats["max_drawdown"].as_str().unwrap_or("-"),
            r.stats["round_trips"].as_u64().unwrap_or(0),
            num("win_rate", 100.0),
        );
    }
    if sweep.rows.len() > 30 {
        println!("  ... {} more (see --out)", sweep.rows.len() - 30);
    }
    if let Some(r) = sweep
        .rows
        .iter()
        .find(|r| r.net_pnl.is_none() && r.currencies.len() > 1)
    {
        println!(
            "\n  net_pnl and statistics are empty: variant {} settles in {} currencies ({}),\n  which are never added. Name the currencies in [instruments.SYMBOL] (quote_currency = \"USD\"\n  on USD-quoted pairs totals them in USD), or set [portfolio] base_currency with rates\n  (docs/RESEARCH.md).",
            r.variant.id,
            r.currencies.len(),
            r.currencies.join(", ")
        );
    }
    if let Some(dir) = &args.out {
        println!(
            "\n  wrote {}/sweep.csv, sweep.json, sweep.html, variants/",
            dir.display()
        );
    }
    Ok(())
}
