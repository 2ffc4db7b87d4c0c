//! `alpha-panda live`: logging, signal handlers and exit codes around `app::live::run`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use clap::Args;
use nix::sys::signal::{SigSet, Signal};

use crate::app::live::{self, LiveError, LiveRun};
use crate::app::load_configs;
use crate::config::Environment;
use crate::ops::logging;
use crate::ops::run_lock::{self, RunLock};
use crate::strategy::registry::Registry;

#[derive(Args, Debug)]
pub struct LiveArgs {
    /// Engine configuration: [feed], [metrics], [logging], [output], [validator], venues, risk.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Strategy file (.toml) or directory of them; repeatable.
    #[arg(long = "strategies", value_name = "PATH", required = true)]
    pub strategies: Vec<PathBuf>,
    /// Replay this tick file instead of the config's `[feed] path`; repeat to merge files.
    #[arg(long = "data", value_name = "FILE")]
    pub data: Vec<PathBuf>,
    /// Run as this environment (its overlay applied) instead of the file's `environment`.
    #[arg(long, value_name = "ENV", value_parser = ["development", "test", "production"])]
    pub env: Option<String>,
}

/// Exit codes: 0 a clean stop (also one before the canary ran), 1 stopped after a failed
/// canary (no trading happened), 2 refused to start or failed.
pub fn live(args: LiveArgs, registry: &Registry) -> Result<ExitCode> {
    // First SIGINT/SIGTERM: graceful stop. A second one: exit at once (code 130). Installed
    // first, so a stop during start-up is graceful too.
    let stop = Arc::new(AtomicBool::new(false));
    // One registration per signal, counted by a thread: with two handlers per signal (a
    // conditional exit, then the flag) a signal landing between the two registrations was
    // lost, and the run never stopped. Before registration the default action applies.
    // Blocked while the handlers are registered: signal-hook installs its handler before it
    // publishes the action, and a signal in between ran the default-less fallback and was
    // lost (a SIGTERM right after spawn left the run going for good). Blocked, it waits and
    // is delivered to the installed handler at the unblock.
    let mut stop_signals = SigSet::empty();
    stop_signals.add(Signal::SIGINT);
    stop_signals.add(Signal::SIGTERM);
    stop_signals
        .thread_block()
        .context("blocking SIGINT/SIGTERM during handler set-up")?;
    let signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]);
    // Unblocked whatever the outcome: threads started later inherit this thread's mask.
    stop_signals
        .thread_unblock()
        .context("unblocking SIGINT/SIGTERM after handler set-up")?;
    let mut signals = signals.context("installing signal handlers")?;
    let flag = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("alpha-panda-signals".into())
        .spawn(move || {
            for _ in signals.forever() {
                if flag.swap(true, std::sync::atomic::Ordering::AcqRel) {
                    signal_hook::low_level::exit(130);
                }
            }
        })
        .context("starting the signal thread")?;
    let environment = args.env.as_deref().and_then(Environment::parse);
    // Nothing runs on a config problem, so nothing is written: every problem goes to stderr.
    let (mut config, strategies) =
        load_configs(Some(&args.config), environment, &args.strategies, registry)?;
    // Before anything is written: a second instance must not append to this one's logs.
    let run_id = run_lock::new_run_id();
    let journal_dir = config.journal.dir_for(&config.output_dir);
    let mut dirs: Vec<&std::path::Path> = vec![&config.logging.dir, &config.output_dir];
    if config.journal.enabled {
        dirs.push(&journal_dir);
    }
    let lock = RunLock::acquire(&dirs, &run_id)?;
    config.logging.run_id = Some(run_id.clone());
    let _log_guard = logging::init(&config.logging).with_context(|| {
        format!(
            "starting the log channels in {}",
            config.logging.dir.display()
        )
    })?;
    for line in lock.taken_over() {
        tracing::warn!(target: "app", "run lock {line}");
    }
    tracing::info!(target: "app", run_id = %run_id, "run started");

    let outcome = live::run(LiveRun {
        config,
        strategies,
        data: args.data,
        config_path: Some(args.config),
        stop,
        run_id: Some(run_id),
    });
    // `lock` outlives `_log_guard` (declared first, dropped last): the last log lines are
    // on disk before another run may take the directories.
    match outcome {
        Ok(outcome) => {
            eprintln!(
                "stopped: {} ticks, {} signals, {} orders, {} fills; results in {}",
                outcome.summary.ticks,
                outcome.summary.signals,
                outcome.summary.orders,
                outcome.summary.fills,
                outcome.output_dir.display()
            );
            let never_scored = outcome.summary.models_that_never_scored();
            for line in &never_scored {
                // To the error log as well: a live box is read from its logs.
                tracing::error!(target: "error", "{line}");
                eprintln!("error: {line}");
            }
            match outcome.canary_passed {
                Some(true) if !never_scored.is_empty() => Ok(ExitCode::from(1)),
                Some(true) => Ok(ExitCode::SUCCESS),
                Some(false) => {
                    eprintln!(
                        "error: the canary tick failed, so no trading happened (see app.log)"
                    );
                    Ok(ExitCode::from(1))
                }
                None => {
                    eprintln!("stopped before the canary ran: nothing traded");
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        Err(LiveError::Preflight {
            failed,
            text,
            summary,
        }) => {
            eprint!("{text}");
            Err(anyhow::anyhow!(
                "preflight failed ({failed} check(s)); the engine refuses to start{}",
                summary.map_or(String::new(), |p| format!(" (summary: {})", p.display()))
            ))
        }
        Err(e) => {
            let e = anyhow::Error::from(e);
            // A live box is read from its logs: the reason it stopped belongs in error.log too.
            tracing::error!(target: "app", error = format!("{e:#}"), "live run failed");
            Err(e)
        }
    }
}
