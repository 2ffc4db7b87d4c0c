//! The command line: `backtest` (the default), `convert`, `preflight`, `live`, `sweep`, `kite`,
//! `journal`, `dlq`. Parsed in two
//! steps (raw clap args, then validated settings) and handed to the run modes of `app`;
//! errors print their whole chain and exit with code 2.
//!
//! A user's crate runs the same command line with its own strategy kinds registered:
//! `alpha_panda::cli::main(registry)` from its `main`.

mod dlq;
mod journal;
mod kite;
mod live;
mod progress;
mod sweep;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::app::{self, data_sources, load_configs};
use crate::config::{EngineConfig, RuntimeMode};
use crate::feed::{self, DataSource};
use crate::strategy::registry::Registry;

#[derive(Parser, Debug)]
#[command(
    name = "alpha-panda",
    version,
    about = "Embedded algorithmic trading engine: backtests over tick data, live runs on a replay feed"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run tick files through strategy files and report fills, PnL and latency.
    Backtest(BacktestArgs),
    /// Convert a CSV tick file to the compact binary format.
    Convert(ConvertArgs),
    /// Check config, strategy files, data instruments, ONNX Runtime and every model
    /// without trading. Exit 0 when the run would start, 2 when it would not.
    Preflight(PreflightArgs),
    /// Run the threaded engine on a live feed (a paced replay of a tick file) with metrics,
    /// health, validator and log channels, until SIGINT/SIGTERM; then drain, write results
    /// and exit 0.
    Live(live::LiveArgs),
    /// Run one strategy file over a parameter grid (or a sweep file): every variant in its
    /// own engine, in parallel, over ticks read once; a table sorted by a metric.
    Sweep(sweep::SweepArgs),
    /// Zerodha Kite helpers: `kite session --request-token T` (the daily login).
    Kite(kite::KiteArgs),
    /// Read a live run's journal: `verify`, `inspect`, `export` (CSV, JSON lines), `archive`.
    Journal(journal::JournalArgs),
    /// Dead letters (inputs a run could not use): `dlq list|show N|replay [PATH]`.
    Dlq(dlq::DlqArgs),
}

/// What a run reads: data, strategies, engine config. Shared by `backtest` and `preflight`.
#[derive(Args, Debug, Default)]
struct RunInputs {
    /// Tick file (.csv or binary, detected by content); repeat to merge files by time.
    /// Default: the embedded Binance excerpt.
    #[arg(long = "data", value_name = "FILE")]
    data: Vec<PathBuf>,
    /// Strategy file (.toml) or directory of them; repeatable. Default: ./strategies.
    #[arg(long = "strategies", value_name = "PATH")]
    strategies: Vec<PathBuf>,
    /// Engine configuration. Default: the embedded engine.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Args, Debug, Default)]
struct PreflightArgs {
    #[command(flatten)]
    inputs: RunInputs,
    /// Print the checks as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Directory for preflight_summary.json. Default: the config's output dir.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Also run the checks of a live run: log and output directories writable, metrics
    /// address free; the data is the config's [feed] path unless --data is given.
    #[arg(long)]
    live: bool,
}

#[derive(Args, Debug, Default)]
struct BacktestArgs {
    #[command(flatten)]
    inputs: RunInputs,
    /// Directory for summary.json, fills.csv, equity.svg and report.html.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the summary as one JSON object on stdout instead of the text report.
    #[arg(long)]
    json: bool,
    /// Override the runtime of the config: inline or threaded.
    #[arg(long, value_name = "MODE", value_parser = ["inline", "threaded"])]
    runtime: Option<String>,
    /// Serve /metrics and /health on the config's [metrics] addr while the backtest runs
    /// (also on when the config sets `[metrics] enabled = true`).
    #[arg(long)]
    metrics: bool,
    /// Exit 1 when a configured strategy is not registered (its instruments are not in the
    /// data, its model did not load, ...) or never ran on a tick.
    #[arg(long)]
    strict: bool,
}

#[derive(Args, Debug)]
struct ConvertArgs {
    /// CSV tick file to convert.
    #[arg(long = "data", value_name = "FILE.csv")]
    data: PathBuf,
    /// Binary file to write.
    #[arg(long, value_name = "FILE.bin")]
    out: PathBuf,
    /// Engine configuration (instrument precisions, bad-row policy).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Runs the command line with the strategy kinds of `registry` (the built-ins, plus any a
/// user's crate registered) and returns the process exit code: 0 success, 1 a run that
/// found problems (a live canary failed, an ML model that never gave a usable score, a
/// `--strict` backtest with a strategy left out), 2 an error.
pub fn main(registry: Registry) -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        // A live run installs its own log channels.
        Some(Command::Live(args)) => live::live(args, &registry),
        None => {
            init_logging();
            backtest(BacktestArgs::default(), &registry)
        }
        Some(Command::Backtest(args)) => {
            init_logging();
            backtest(args, &registry)
        }
        Some(Command::Convert(args)) => with_stderr_logs(|| convert(args)),
        Some(Command::Preflight(args)) => with_stderr_logs(|| preflight(args, &registry)),
        Some(Command::Sweep(args)) => with_stderr_logs(|| sweep::sweep(args, &registry)),
        Some(Command::Kite(args)) => with_stderr_logs(|| kite::kite(args)),
        Some(Command::Journal(args)) => with_stderr_logs(|| journal::journal(args)),
        Some(Command::Dlq(args)) => {
            init_logging();
            dlq::dlq(args)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

/// Commands other than `live` log warnings to stderr only.
fn with_stderr_logs(run: impl FnOnce() -> Result<()>) -> Result<ExitCode> {
    init_logging();
    run().map(|()| ExitCode::SUCCESS)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The strategy paths to read: those given, else `./strategies`.
fn strategy_paths(given: &[PathBuf]) -> Result<Vec<PathBuf>> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    let default = PathBuf::from("strategies");
    if !default.is_dir() {
        bail!(
            "no --strategies given and no ./strategies directory here (run from the project root or pass --strategies PATH)"
        );
    }
    Ok(vec![default])
}

/// Runs a backtest and prints or writes its results; exit 1 when an ML strategy's every
/// inference failed, or under `--strict` when a configured strategy did not take part.
fn backtest(args: BacktestArgs, registry: &Registry) -> Result<ExitCode> {
    let paths = strategy_paths(&args.inputs.strategies)?;
    let (mut config, strategies) =
        load_configs(args.inputs.config.as_deref(), None, &paths, registry)?;
    if let Some(mode) = &args.runtime {
        config.runtime.mode = if mode == "threaded" {
            RuntimeMode::Threaded
        } else {
            RuntimeMode::Inline
        };
    }
    let sources = data_sources(&args.inputs.data);
    let bar = progress::Progress::new();
    let result = app::backtest::run(
        &config,
        &strategies,
        &sources,
        args.metrics,
        &mut |addr| eprintln!("metrics: http://{addr}/metrics"),
        &mut |p| bar.update(p.done, p.total, p.ticks),
        args.out.as_deref(),
    );
    bar.finish();
    let backtest = result?;
    if let Some(dir) = &args.out {
        let meta = crate::report::RunMeta {
            mode: "backtest",
            data: sources.iter().map(DataSource::name).collect(),
            config: args.inputs.config.clone(),
        };
        backtest.write(dir, &meta)?;
    }
    if args.json {
        println!("{}", backtest.summary.to_json());
    } else {
        print!("{}", backtest.summary.render_text());
        if let Some(dir) = &args.out {
            println!(
                "\n  wrote {}/summary.json, fills.csv, orders.csv, equity.csv, trades.csv, equity.svg, report.html",
                dir.display()
            );
        }
    }
    if let Some(line) = backtest
        .dead_letters
        .as_ref()
        .and_then(app::dead_letters::describe)
    {
        eprintln!("{line}");
    }
    let summary = &backtest.summary;
    let never_scored = summary.models_that_never_scored();
    for line in &never_scored {
        eprintln!("error: {line}");
    }
    if !never_scored.is_empty() {
        return Ok(ExitCode::from(1));
    }
    if args.strict
        && !(summary.disabled_strategies.is_empty() && summary.idle_strategies.is_empty())
    {
        for reason in &summary.disabled_strategies {
            eprintln!("strict: not registered: {reason}");
        }
        for id in &summary.idle_strategies {
            eprintln!("strict: {id} never ran on a tick (no data for its instruments)");
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn convert(args: ConvertArgs) -> Result<()> {
    let config = match &args.config {
        Some(p) => EngineConfig::load(p)?,
        None => EngineConfig::default(),
    };
    let stats = feed::convert_to_binary(
        &DataSource::File(args.data.clone()),
        &args.out,
        &config.instruments,
        config.bad_rows,
    )?;
    println!(
        "converted {} rows ({} ticks, {} skipped) from {} ({} bytes) to {} ({} bytes)",
        stats.rows,
        stats.ticks,
        stats.skipped_rows,
        args.data.display(),
        stats.bytes_in,
        args.out.display(),
        stats.bytes_out
    );
    Ok(())
}

/// Runs `app::preflight` and prints its table or JSON; fails (exit 2) when the run would not
/// start or the summary could not be written.
fn preflight(args: PreflightArgs, registry: &Registry) -> Result<()> {
    let paths = strategy_paths(&args.inputs.strategies)?;
    let run = app::preflight::run(
        args.inputs.config.as_deref(),
        &paths,
        &args.inputs.data,
        args.live,
        args.out.as_deref(),
        registry,
    );
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&run.report.to_json()).unwrap_or_default()
        );
    } else {
        print!("{}", run.report.render_text());
        if let Ok(path) = &run.written {
            println!("  wrote {}", path.display());
        }
    }
    let out = run.out.display().to_string();
    run.written
        .with_context(|| format!("writing the preflight summary to {out}"))?;
    if !run.report.ok() {
        bail!(
            "preflight failed: {} check(s) failed; the engine would refuse to start",
            run.report.failed()
        );
    }
    Ok(())
}
