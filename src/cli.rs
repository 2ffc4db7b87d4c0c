//! Command line: `backtest` (the default), `convert`. Parsed in two steps: raw clap args,
//! then validated settings; errors print their whole chain and exit with code 2.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use alpha_panda::clock::Stopwatch;
use alpha_panda::config::{BadRowPolicy, ConfigError, ConfigErrors, EngineConfig, RuntimeMode};
use alpha_panda::domain::InstrumentTable;
use alpha_panda::feed::{self, DataSource, TickReader};
use alpha_panda::pipeline::Engine;
use alpha_panda::report::{self, FeedCounts, Summary};
use alpha_panda::strategy::{StrategyConfig, load_strategies};

/// The embedded default data: an excerpt of the Binance L1 sample (see tests/data/README.md).
const EMBEDDED_DATA: &[u8] = include_bytes!("../tests/data/binance_l1_2024-08-08_excerpt.csv");
const EMBEDDED_NAME: &str = "<embedded binance_l1_2024-08-08_excerpt.csv>";

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
    Live(crate::live_cmd::LiveArgs),
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
    /// Directory for summary.json, fills.csv and equity.svg.
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

pub fn main() -> ExitCode {
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
        Some(Command::Live(args)) => crate::live_cmd::live(args),
        None => with_stderr_logs(|| backtest(BacktestArgs::default())),
        Some(Command::Backtest(args)) => with_stderr_logs(|| backtest(args)),
        Some(Command::Convert(args)) => with_stderr_logs(|| convert(args)),
        Some(Command::Preflight(args)) => with_stderr_logs(|| preflight(args)),
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

fn load_engine_config(path: Option<&PathBuf>) -> Result<EngineConfig, ConfigErrors> {
    match path {
        Some(p) => EngineConfig::load(p),
        None => Ok(EngineConfig::default()),
    }
}

/// The engine config and every strategy file, with all problems of all files at once.
fn load_configs(
    config: Option<&PathBuf>,
    strategies: &[PathBuf],
) -> Result<(EngineConfig, Vec<StrategyConfig>)> {
    let strategy_paths = if strategies.is_empty() {
        let default = PathBuf::from("strategies");
        if !default.is_dir() {
            bail!(
                "no --strategies given and no ./strategies directory here (run from the project root or pass --strategies PATH)"
            );
        }
        vec![default]
    } else {
        strategies.to_vec()
    };
    match (load_engine_config(config), load_strategies(&strategy_paths)) {
        (Ok(e), Ok(s)) => Ok((e, s)),
        (e, s) => {
            let mut all: Vec<ConfigError> = Vec::new();
            if let Err(ConfigErrors(list)) = e {
                all.extend(list);
            }
            if let Err(ConfigErrors(list)) = s {
                all.extend(list);
            }
            Err(ConfigErrors(all).into())
        }
    }
}

fn data_sources(data: &[PathBuf]) -> Vec<DataSource> {
    if data.is_empty() {
        vec![DataSource::Embedded {
            name: EMBEDDED_NAME,
            bytes: EMBEDDED_DATA,
        }]
    } else {
        data.iter().cloned().map(DataSource::File).collect()
    }
}

fn backtest(args: BacktestArgs) -> Result<()> {
    let (mut engine_config, strategies) =
        load_configs(args.inputs.config.as_ref(), &args.inputs.strategies)?;
    if let Some(mode) = &args.runtime {
        engine_config.runtime.mode = if mode == "threaded" {
            RuntimeMode::Threaded
        } else {
            RuntimeMode::Inline
        };
    }
    let sources = data_sources(&args.inputs.data);

    let scan_watch = Stopwatch::start();
    let mut instruments = InstrumentTable::new();
    feed::scan_instruments(&sources, &engine_config.instruments, &mut instruments)?;
    Engine::fit_precisions(&mut instruments, &engine_config, &strategies)?;
    let mut reader = TickReader::open(&sources, &instruments, engine_config.bad_rows)?;
    let scan_time = scan_watch.elapsed();

    let engine = Engine::build(&engine_config, &strategies, instruments)?;
    for check in engine.layout.model_checks.iter().filter(|c| c.ok) {
        tracing::info!(target: "app", strategy = %check.strategy, model = ?check.resolved, hash = ?check.feature_schema_hash, load_ms = check.load_ms, "model loaded");
    }
    let runtime = match engine_config.runtime.mode {
        RuntimeMode::Inline => "inline",
        RuntimeMode::Threaded => "threaded",
    };
    let server = if args.metrics || engine_config.metrics.enabled == Some(true) {
        let server = alpha_panda::ops::server::MetricsServer::start(
            engine_config.metrics.addr,
            std::sync::Arc::clone(&engine.telemetry),
        )?;
        eprintln!("metrics: http://{}/metrics", server.local_addr());
        Some(server)
    } else {
        None
    };
    let bar = Progress::new();
    let mut on_progress = |done: u64, total: u64| bar.update(done, total);
    let (layout, mut outcome) = engine.run(&mut reader, &mut on_progress)?;
    bar.finish();
    if let Some(server) = server {
        server.shutdown();
    }
    outcome.load += scan_time;

    let stats = reader.stats();
    let counts = FeedCounts {
        quotes: stats.quotes,
        trades: stats.trades,
        skipped_rows: stats.skipped_rows,
    };
    if engine_config.bad_rows == BadRowPolicy::Skip {
        for example in &stats.skipped_examples {
            tracing::warn!(target: "market_data", "skipped bad row: {example}");
        }
    }
    let summary = Summary::build(&layout, &outcome, runtime, counts);
    if let Some(dir) = &args.out {
        report::write_outputs(dir, &summary, &layout, &outcome)
            .with_context(|| format!("writing results to {}", dir.display()))?;
    }
    if args.json {
        println!("{}", summary.to_json());
    } else {
        print!("{}", summary.render_text());
        if let Some(dir) = &args.out {
            println!(
                "\n  wrote {}/summary.json, fills.csv, equity.svg",
                dir.display()
            );
        }
    }
    Ok(())
}

fn convert(args: ConvertArgs) -> Result<()> {
    let config = load_engine_config(args.config.as_ref())?;
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

/// Runs the library preflight (`alpha_panda::ops::preflight`) on the run's inputs.
fn preflight(args: PreflightArgs) -> Result<()> {
    use alpha_panda::ops::preflight::{self, PreflightInput};
    let watch = Stopwatch::start();
    let loaded = load_configs(args.inputs.config.as_ref(), &args.inputs.strategies);
    let load_ms = watch.elapsed().as_secs_f64() * 1e3;
    let (config, strategies) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            // The engine file alone may still load: its environment and output dir apply.
            let engine = load_engine_config(args.inputs.config.as_ref()).ok();
            let environment = engine.as_ref().map(|c| c.environment).unwrap_or_default();
            let out = args.out.clone().unwrap_or_else(|| {
                engine.map_or_else(|| EngineConfig::default().output_dir, |c| c.output_dir)
            });
            let mut report = preflight::config_failed(environment, format!("{e:#}"));
            for check in &mut report.checks {
                check.duration_ms = load_ms;
            }
            return finish_preflight(&report, args.json, &out);
        }
    };
    let sources = match (&config.feed.path, args.live && args.inputs.data.is_empty()) {
        (Some(path), true) => vec![DataSource::File(path.clone())],
        (None, true) => Vec::new(),
        (_, false) => data_sources(&args.inputs.data),
    };
    let mut report = preflight::run(&PreflightInput {
        config: &config,
        strategies: &strategies,
        sources: &sources,
        live: args.live,
    });
    if let Some(check) = report.checks.iter_mut().find(|c| c.name == "config") {
        check.duration_ms += load_ms;
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| config.output_dir.clone());
    finish_preflight(&report, args.json, &out)
}

/// Writes `<out>/preflight_summary.json`, prints the table or the JSON, and fails (exit 2)
/// when the run would not start or the summary could not be written.
fn finish_preflight(
    report: &alpha_panda::ops::preflight::PreflightReport,
    json: bool,
    out: &std::path::Path,
) -> Result<()> {
    let written = report.write_summary(out);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
        );
    } else {
        print!("{}", report.render_text());
        if let Ok(path) = &written {
            println!("  wrote {}", path.display());
        }
    }
    written.with_context(|| format!("writing the preflight summary to {}", out.display()))?;
    if !report.ok() {
        bail!(
            "preflight failed: {} check(s) failed; the engine would refuse to start",
            report.failed()
        );
    }
    Ok(())
}

/// A progress bar on stderr, shown only on a terminal and only once a run passes one second.
struct Progress {
    bar: ProgressBar,
    watch: Stopwatch,
    tty: bool,
}

impl Progress {
    fn new() -> Progress {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg}",
        ) {
            bar.set_style(style);
        }
        Progress {
            bar,
            watch: Stopwatch::start(),
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn update(&self, done: u64, total: u64) {
        if self.tty && self.bar.is_hidden() && self.watch.elapsed() > Duration::from_secs(1) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        self.bar.set_length(total.max(1));
        self.bar.set_position(done);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
