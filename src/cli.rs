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
use alpha_panda::strategy::{StrategyConfig, StrategyParams, load_strategies};

/// The embedded default data: an excerpt of the Binance L1 sample (see tests/data/README.md).
const EMBEDDED_DATA: &[u8] = include_bytes!("../tests/data/binance_l1_2024-08-08_excerpt.csv");
const EMBEDDED_NAME: &str = "<embedded binance_l1_2024-08-08_excerpt.csv>";

#[derive(Parser, Debug)]
#[command(
    name = "alpha-panda",
    version,
    about = "Embedded algorithmic trading engine: backtests over tick data"
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
    init_logging();
    let result = match cli.command {
        None => backtest(BacktestArgs::default()),
        Some(Command::Backtest(args)) => backtest(args),
        Some(Command::Convert(args)) => convert(args),
        Some(Command::Preflight(args)) => preflight(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
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
    let bar = Progress::new();
    let mut on_progress = |done: u64, total: u64| bar.update(done, total);
    let (layout, mut outcome) = engine.run(&mut reader, &mut on_progress)?;
    bar.finish();
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

/// One preflight check.
#[derive(Debug, serde::Serialize)]
struct Check {
    name: String,
    status: &'static str,
    detail: String,
    duration_ms: f64,
}

fn preflight(args: PreflightArgs) -> Result<()> {
    let mut checks = Vec::new();
    let mut timed = |name: String, run: &mut dyn FnMut() -> (&'static str, String)| {
        let watch = Stopwatch::start();
        let (status, detail) = run();
        checks.push(Check {
            name,
            status,
            detail,
            duration_ms: watch.elapsed().as_secs_f64() * 1e3,
        });
    };
    let mut loaded = None;
    timed("config".into(), &mut || match load_configs(
        args.inputs.config.as_ref(),
        &args.inputs.strategies,
    ) {
        Ok((config, strategies)) => {
            let detail = format!(
                "{} strategies, {} brokers, environment {:?}",
                strategies.len(),
                config.brokers.len(),
                config.environment
            );
            loaded = Some((config, strategies));
            ("pass", detail)
        }
        Err(e) => ("fail", format!("{e:#}")),
    });
    let Some((config, strategies)) = loaded else {
        return finish_preflight(&checks, args.json);
    };
    let production = config.environment == alpha_panda::config::Environment::Production;
    // What a strategy that cannot run costs: production refuses to start, the others
    // disable the strategy and go on.
    let soft = if production { "fail" } else { "warn" };
    let sources = data_sources(&args.inputs.data);
    let mut instruments = InstrumentTable::new();
    timed(
        "data instruments".into(),
        &mut || match feed::scan_instruments(&sources, &config.instruments, &mut instruments) {
            Ok(_) => {
                let missing: Vec<String> = strategies
                    .iter()
                    .flat_map(|s| {
                        s.instruments
                            .iter()
                            .filter(|(sym, _)| instruments.find(sym).is_none())
                            .map(move |(sym, line)| {
                                format!("{}:{line}: {sym} ({})", s.file.display(), s.id)
                            })
                    })
                    .collect();
                if missing.is_empty() {
                    (
                        "pass",
                        format!("{} instruments in the data", instruments.iter().count()),
                    )
                } else {
                    (soft, format!("not in the data: {}", missing.join(", ")))
                }
            }
            Err(e) => ("fail", e.to_string()),
        },
    );
    let ml: Vec<&StrategyConfig> = strategies
        .iter()
        .filter(|s| matches!(s.params, StrategyParams::Ml { .. }))
        .collect();
    if !ml.is_empty() {
        timed(
            "onnx runtime".into(),
            &mut || match alpha_panda::ml::runtime::environment() {
                Ok((_, path)) => ("pass", format!("loaded {}", path.display())),
                Err(e) => (soft, e),
            },
        );
    }
    for s in ml {
        let StrategyParams::Ml { model, .. } = &s.params else {
            continue;
        };
        let watch = Stopwatch::start();
        let (_, check) = alpha_panda::ml::load_model(&s.id, &s.file, model);
        let detail = if check.ok {
            format!(
                "{} v{} from {}, schema {}, test inference ok",
                check.name.as_deref().unwrap_or("?"),
                check.version.as_deref().unwrap_or("?"),
                check
                    .resolved
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string()),
                check.feature_schema_hash.as_deref().unwrap_or("?")
            )
        } else {
            check.problems.join("; ")
        };
        checks.push(Check {
            name: format!("model {} ({})", s.id, s.file.display()),
            status: if check.ok { "pass" } else { soft },
            detail,
            duration_ms: watch.elapsed().as_secs_f64() * 1e3,
        });
    }
    finish_preflight(&checks, args.json)
}

fn finish_preflight(checks: &[Check], json: bool) -> Result<()> {
    let failed = checks.iter().filter(|c| c.status == "fail").count();
    let warned = checks.iter().filter(|c| c.status == "warn").count();
    if json {
        let out = serde_json::json!({
            "ok": failed == 0,
            "failed": failed,
            "warnings": warned,
            "checks": checks,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        for c in checks {
            println!(
                "  {:<4} {:<52} {:>8.1} ms  {}",
                c.status.to_uppercase(),
                c.name,
                c.duration_ms,
                c.detail
            );
        }
        println!(
            "preflight: {} checks, {failed} failed, {warned} warnings",
            checks.len()
        );
    }
    if failed > 0 {
        bail!("preflight failed: {failed} check(s) failed; the engine would refuse to start");
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
