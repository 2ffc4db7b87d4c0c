//! `alpha-panda live`: the threaded runtime on a live feed (a replay of a tick file for
//! now), with everything an operator needs around it.
//!
//! Order of a run:
//! 1. preflight (the same checks as `alpha-panda preflight`), summary written to the output
//!    dir; a blocking failure refuses to start;
//! 2. engine built (threaded runtime, per-tick inference), metrics/health endpoint,
//!    validator and audit writer started;
//! 3. a canary tick through every stage; trading starts only if it passes;
//! 4. ticks until a stop request (SIGINT/SIGTERM, or the end of the replay with
//!    `at_end = "exit"`), then a graceful stop: the feed stops, every ring drains, the
//!    results (summary, fills, PnL snapshot) are written, observers stop; the caller drops
//!    the log guard last, which flushes the log files.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::bounded;

use crate::config::{ConfigErrors, EngineConfig, FeedKind, RuntimeMode};
use crate::execution::VenueKind;
use crate::execution::kite::shadow::Shadow;
use crate::execution::kite::{KiteVenue, KiteVenueStart, OrdersMode};
use crate::feed::kite::live::{KiteFeedStart, KiteSource};
use crate::feed::{DataSource, ReplaySource};
use crate::journal::recover::Replay;
use crate::metrics::telemetry::LatencySlot;
use crate::ops::audit::{AUDIT_RING, write_audit};
use crate::ops::preflight::{self, PreflightInput, PreflightReport};
use crate::ops::server::MetricsServer;
use crate::report::{self, FeedCounts, Summary};
use crate::runtime::{AuditEvent, RunControl, RunError, RunOptions, TickSource, threaded};
use crate::strategy::StrategyConfig;

/// Why a live run did not start or did not finish cleanly.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(
        "preflight failed ({failed} check(s)); the engine refuses to start. Summary: {}\n{text}",
        summary.as_ref().map_or_else(|| "not written".to_owned(), |p| p.display().to_string())
    )]
    Preflight {
        failed: usize,
        text: String,
        summary: Option<PathBuf>,
    },
    #[error("no replay data: set [feed] path in the engine config or pass --data FILE")]
    NoData,
    #[error(
        "venue '{0}' is Kite with orders = \"off\": the engine refuses to start rather than send real orders by accident. Set orders = \"live\" in [venue.{0}] to trade, or use kind = \"paper\" to paper trade on live data"
    )]
    OrdersOff(String),
    #[error("reconciliation with Kite for venue '{0}' failed: {1}")]
    Reconcile(String, String),
    #[error(
        "the environment variable {0} is not set or empty (it holds a Kite credential; see `alpha-panda kite session`)"
    )]
    Credentials(String),
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error(transparent)]
    Engine(#[from] crate::Error),
    /// The run stopped on bad input; the results up to it were written.
    #[error("{error} (results up to here are in {})", dir.display())]
    Stopped { error: crate::Error, dir: PathBuf },
    #[error(transparent)]
    Run(#[from] RunError),
    /// The journal cannot be recovered from or refuses this run.
    #[error("{0}")]
    Journal(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What a live run needs.
#[derive(Debug)]
pub struct LiveRun {
    pub config: EngineConfig,
    pub strategies: Vec<StrategyConfig>,
    /// Replay files; empty = `[feed] path`.
    pub data: Vec<PathBuf>,
    /// The engine config file, named in `report.html`.
    pub config_path: Option<PathBuf>,
    /// Set by the signal handlers (or a test) to stop the run gracefully.
    pub stop: Arc<AtomicBool>,
    /// The run's id (its log lines carry it too), written into `summary.json`.
    pub run_id: Option<String>,
}

/// How a live run ended.
#[derive(Debug)]
pub struct LiveOutcome {
    pub summary: Summary,
    pub preflight: PreflightReport,
    /// The canary's verdict; `None` when the run stopped before it ran (nothing traded).
    pub canary_passed: Option<bool>,
    pub output_dir: PathBuf,
}

/// Runs until a stop request; see the module docs for the order of events.
///
/// # Errors
/// A refused preflight, a config or data problem, an endpoint that cannot bind, or a feed
/// error during the run (every tick before it was processed and the results are written).
pub fn run(live: LiveRun) -> Result<LiveOutcome, LiveError> {
    let LiveRun {
        mut config,
        strategies,
        data,
        config_path,
        stop,
        run_id,
    } = live;
    config.runtime.mode = RuntimeMode::Threaded;
    if let Some(broker) = config.brokers.iter().find(|b| {
        b.enabled
            && b.kite
                .as_ref()
                .is_some_and(|k| k.orders != OrdersMode::Live)
    }) {
        return Err(LiveError::OrdersOff(broker.name.clone()));
    }
    // A live strategy's compute time is real: charging it again would delay its orders twice.
    if config.compute.mode != crate::strategy::compute::ComputeMode::Off {
        tracing::warn!(target: "app", mode = config.compute.mode.name(), "[compute] charges compute time in backtests only; live runs ignore it");
        config.compute.mode = crate::strategy::compute::ComputeMode::Off;
    }
    // Live ticks arrive far below the engine's capacity: time every one, so every order
    // has its tick-to-order latency, unless the config says otherwise.
    config.runtime.latency_sample_every.get_or_insert(1);
    let kite = config
        .feed
        .kite
        .clone()
        .filter(|_| config.feed.kind == FeedKind::Kite);
    let sources: Vec<DataSource> = if kite.is_some() {
        Vec::new()
    } else {
        let paths = if data.is_empty() {
            config.feed.path.clone().into_iter().collect::<Vec<_>>()
        } else {
            data
        };
        if paths.is_empty() {
            return Err(LiveError::NoData);
        }
        paths.into_iter().map(DataSource::File).collect()
    };

    let report = preflight::run(&PreflightInput {
        config: &config,
        strategies: &strategies,
        sources: &sources,
        live: true,
    });
    let summary_path = report.write_summary(&config.output_dir).ok();
    for check in &report.checks {
        let status = check.status.as_str();
        match status {
            "pass" => {
                tracing::info!(target: "app", check = %check.name, status, policy = check.policy, duration_ms = check.duration_ms, reason = %check.reason, "preflight")
            }
            _ => {
                tracing::warn!(target: "app", check = %check.name, status, policy = check.policy, duration_ms = check.duration_ms, reason = %check.reason, "preflight")
            }
        }
    }
    if !report.ok() {
        return Err(LiveError::Preflight {
            failed: report.failed(),
            text: report.render_text(),
            summary: summary_path,
        });
    }

    let live_broker = config.brokers.iter().any(|b| b.enabled && b.kite.is_some());
    let mut journal = super::journal::open(&config, &strategies, &sources, live_broker)
        .map_err(LiveError::Journal)?;
    let replay = journal.as_ref().map_or(0, |j| j.replay);

    let (mut engine, mut feed) = match &kite {
        Some(kite) => {
            let fit = super::kite::fit_instruments(&config, kite, &strategies)?;
            let engine = super::build(&fit.config, &strategies, fit.table.clone())?;
            (engine, Feed::Kite(Box::new(fit)))
        }
        None => {
            let assembled = super::assemble(&config, &strategies, &sources)?;
            (assembled.engine, Feed::Replay(assembled.reader))
        }
    };
    if let Some(t) = Arc::get_mut(&mut engine.telemetry) {
        t.shape.feed_kind = if kite.is_some() { "kite" } else { "replay" };
    }
    // A live run has no set end: its fills and orders go to disk as it goes, so its memory
    // does not grow with its length.
    engine.spill_logs_to(&config.output_dir).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "output.dir {}: cannot create the run's spill file: {e}",
                config.output_dir.display()
            ),
        )
    })?;
    let telemetry = Arc::clone(&engine.telemetry);
    telemetry.preflight_ok.store(true, Ordering::Release);
    let mut dead_letters = super::dead_letters::start(
        &config.output_dir,
        run_id.as_deref(),
        &engine.layout.instruments,
        Arc::clone(&telemetry),
    )?;
    if let Feed::Replay(reader) = &mut feed {
        reader.set_dead_letters(&dead_letters.handle());
    }
    for line in &engine.layout.disabled {
        tracing::warn!(target: "app", "strategy disabled: {line}");
    }
    let control = Arc::new(RunControl::with_stop(stop));

    let server = match config.metrics.enabled {
        Some(false) => None,
        _ => {
            let server = MetricsServer::start(
                config.metrics.addr,
                Arc::clone(&telemetry),
                Arc::clone(&control),
            )?;
            tracing::info!(target: "app", addr = %server.local_addr(), "metrics and health endpoint listening");
            Some(server)
        }
    };
    let observers_stop = Arc::new(AtomicBool::new(false));
    let validator = crate::ops::validator::spawn(
        Arc::clone(&telemetry),
        config.validator.clone(),
        Arc::clone(&observers_stop),
    )?;
    let (audit_tx, audit_rx) = bounded::<AuditEvent>(AUDIT_RING);
    let audit_layout = engine.layout.clone();
    let audit = std::thread::Builder::new()
        .name("alpha-panda-audit".into())
        .spawn(move || write_audit(&audit_rx, &audit_layout))?;

    tracing::info!(
        target: "app",
        environment = config.environment.name(),
        strategies = engine.layout.strategies.len(),
        books = engine.layout.books.len(),
        brokers = engine.layout.brokers.len(),
        speed = config.feed.speed,
        "live run starting"
    );
    let source = match feed {
        Feed::Replay(reader) => {
            let (sources, table, policy) = (
                sources.clone(),
                engine.layout.instruments.clone(),
                config.bad_rows,
            );
            let mut replay = ReplaySource::new(
                reader,
                config.feed.speed,
                config.feed.at_end,
                Arc::clone(&control),
                Arc::clone(&telemetry),
            )
            .with_reopen(Box::new(move || {
                crate::feed::TickReader::open(&sources, &table, policy)
            }));
            if let Some(last) = journal.as_ref().and_then(|j| j.scan.last_tick) {
                replay.skip(j_ticks(journal.as_ref()), &last)?;
            }
            LiveSource::Replay(Box::new(replay))
        }
        Feed::Kite(fit) => {
            let Some(kite) = &kite else {
                unreachable!("a Kite feed comes from a Kite config");
            };
            LiveSource::Kite(KiteSource::start(KiteFeedStart {
                config: kite,
                api_key: secret(&kite.api_key_env)?,
                access_token: secret(&kite.access_token_env)?,
                tokens: fit.tokens.clone(),
                instruments: &fit.table,
                telemetry: Arc::clone(&telemetry),
                control: Arc::clone(&control),
                dead_letters: Some(dead_letters.handle()),
            })?)
        }
    };
    // Live brokers take the place of the paper venues the build made.
    for (b, broker) in config.brokers.iter().enumerate() {
        let (Some(k), true) = (&broker.kite, broker.enabled) else {
            continue;
        };
        let updates = match &source {
            LiveSource::Kite(feed) => Some(feed.order_updates()),
            LiveSource::Replay(_) => None,
        };
        let specs: Vec<_> = engine
            .layout
            .instruments
            .iter()
            .map(|(_, s)| s.clone())
            .collect();
        let (api_key, token) = (secret(&k.api_key_env)?, secret(&k.access_token_env)?);
        let authorization = format!("token {api_key}:{token}");
        let production = config.environment == crate::config::Environment::Production;
        let mismatches =
            super::kite::reconcile_broker(&mut engine, b, &k.root_url, &authorization, production)
                .map_err(|why| LiveError::Reconcile(broker.name.clone(), why))?;
        for m in &mismatches {
            tracing::warn!(target: "trading", broker = %broker.name, "reconciliation mismatch: {m}");
        }
        if !mismatches.is_empty() && production {
            return Err(LiveError::Reconcile(
                broker.name.clone(),
                format!(
                    "production refuses to trade on what it cannot explain:\n  {}",
                    mismatches.join("\n  ")
                ),
            ));
        }
        let shadow = k.shadow.then(|| {
            let names = (0..engine.layout.books.len())
                .map(|i| engine.layout.book_name(crate::domain::BookId(i as u32)))
                .collect();
            let ticks = specs.iter().map(|s| s.tick_size).collect();
            Shadow::new(
                crate::execution::PaperVenue::from_config(broker, &specs),
                names,
                ticks,
            )
        });
        if let Some(shadow) = &shadow {
            telemetry
                .shadow
                .lock()
                .push((broker.name.clone(), shadow.report()));
        }
        let venue = KiteVenue::start(KiteVenueStart {
            config: k,
            api_key: &api_key,
            access_token: &token,
            specs: &specs,
            costs: &broker.costs,
            updates,
            shadow,
            telemetry: Some(Arc::clone(&telemetry)),
            dead_letters: Some(dead_letters.handle()),
        })?;
        engine
            .execution
            .replace_venue(b, VenueKind::Kite(Box::new(venue)));
        tracing::warn!(target: "trading", broker = %broker.name, root = %k.root_url, product = %k.product, "LIVE ORDERS: broker {} sends real orders to Kite", broker.name);
    }
    let journal_dir = journal
        .as_ref()
        .map_or_else(PathBuf::new, |j| j.dir.clone());
    let finished_journal = journal.as_ref().is_some_and(|j| j.finished);
    let (from, checkpoint_writer) =
        super::checkpoints::recover(&mut engine, journal.as_ref(), &config, live_broker)
            .map_err(LiveError::Journal)?;
    let writer = match journal.as_mut() {
        Some(j) => j
            .spawn(
                &config,
                &engine.layout,
                run_id.as_deref().unwrap_or(""),
                &control,
            )
            .map_err(LiveError::Journal)?,
        None => None,
    };
    if let Some(w) = &writer {
        *telemetry.journal.lock() = Some(Arc::clone(&w.link.shared));
    }
    let mut source = Replay::new(&journal_dir, replay, source)
        .map_err(|e| LiveError::Journal(e.to_string()))?
        .from(from);
    if finished_journal {
        source = source.without_rest();
    }
    let options = RunOptions {
        audit: Some(audit_tx),
        canary: true,
        journal: writer.as_ref().map(|w| w.link.clone()),
        from,
        checkpoints: checkpoint_writer
            .as_ref()
            .map(|w| (config.journal.checkpoint_every, w.0.clone())),
    };
    let result = threaded::run_with(engine, &mut source, &mut |_| {}, &options, &control);
    telemetry.shutting_down.store(true, Ordering::Release);
    drop(options);
    if let Some((sink, thread)) = checkpoint_writer {
        drop(sink);
        let _ = thread.join();
    }
    tracing::info!(target: "app", "feed stopped and rings drained; writing results");

    // Bad input stops the feed, not the engine: what ran up to it is written all the same.
    let (finished, stopped_by) = match result {
        Ok(done) => (Ok(done), None),
        Err(RunError::Input { error, partial }) => {
            tracing::error!(target: "error", "the feed stopped: {error}");
            (Ok(*partial), Some(error))
        }
        Err(fatal) => {
            tracing::error!(target: "error", "{fatal}");
            (Err(LiveError::from(fatal)), None)
        }
    };
    if let LiveSource::Kite(kite) = source.rest_mut() {
        kite.shutdown();
    }
    let data_done = stopped_by.is_none() && source.rest().ended();
    super::dead_letters::finish(&mut dead_letters);
    let written = finished.and_then(|(layout, mut outcome)| {
        let counts = source.rest().counts();
        // The feed thread's exchange → receive latency joins the run's histograms.
        telemetry.read_latency(LatencySlot::Feed, |feed| outcome.latency.merge(feed));
        telemetry.read_latency(LatencySlot::Wire, |wire| outcome.latency.merge(wire));
        let mut summary = Summary::build(&layout, &outcome, "threaded", counts);
        summary.shadow = telemetry.shadow_report();
        summary.run_id.clone_from(&run_id);
        let meta = report::RunMeta {
            mode: "live",
            data: match &kite {
                Some(k) => vec![format!("kite ticker {}", k.url)],
                None => sources.iter().map(DataSource::name).collect(),
            },
            config: config_path,
        };
        report::write_outputs(&config.output_dir, &summary, &layout, &outcome, &meta)
            .map_err(crate::Error::from)?;
        report::write_pnl_snapshot(&config.output_dir, &summary)?;
        Ok(summary)
    });
    // The end record only once the results of all the data are on disk.
    let end = (data_done && written.is_ok()).then(|| written.as_ref().map_or(0, |s| s.ticks));
    let journal_failure = super::journal::close(writer, end);

    // Observers stop after the results are on disk, so health answers during the drain.
    observers_stop.store(true, Ordering::Release);
    if let Some(server) = server {
        server.shutdown();
    }
    let _ = validator.join();
    let _ = audit.join();
    let summary = written?;
    if let Some(why) = journal_failure {
        return Err(LiveError::Journal(format!(
            "the journal failed, so orders were refused from then on and the run stopped: {why} (results up to here are in {})",
            config.output_dir.display()
        )));
    }
    if let Some(error) = stopped_by {
        return Err(LiveError::Stopped {
            error,
            dir: config.output_dir,
        });
    }
    let canary_passed = telemetry.canary.lock().as_ref().map(|c| c.passed);
    tracing::info!(target: "app", ticks = summary.ticks, fills = summary.fills, output = %config.output_dir.display(), "live run stopped");
    Ok(LiveOutcome {
        summary,
        preflight: report,
        canary_passed,
        output_dir: config.output_dir,
    })
}

/// Where a live run's ticks come from, as the config chose.
enum Feed {
    Replay(crate::feed::TickReader),
    Kite(Box<super::kite::KiteInstrumentsFit>),
}

/// Ticks a journal holds (0 without one).
fn j_ticks(journal: Option<&super::journal::JournalStart>) -> u64 {
    journal.map_or(0, |j| j.replay)
}

/// The started feed.
enum LiveSource {
    Replay(Box<ReplaySource>),
    Kite(KiteSource),
}

impl LiveSource {
    /// Whether the data ran out (a replay that reached its end); a socket never does.
    fn ended(&self) -> bool {
        match self {
            LiveSource::Replay(replay) => replay.ended(),
            LiveSource::Kite(_) => false,
        }
    }

    /// Quotes, trades and skipped rows delivered, for the summary.
    fn counts(&self) -> FeedCounts {
        match self {
            LiveSource::Replay(replay) => {
                let stats = replay.reader().stats();
                FeedCounts {
                    quotes: stats.quotes,
                    trades: stats.trades,
                    skipped_rows: stats.skipped_rows,
                }
            }
            LiveSource::Kite(kite) => {
                let c = kite.counters();
                FeedCounts {
                    quotes: c.quotes.load(Ordering::Relaxed),
                    trades: c.trades.load(Ordering::Relaxed),
                    skipped_rows: c.dropped.load(Ordering::Relaxed),
                }
            }
        }
    }
}

impl TickSource for LiveSource {
    fn read_chunk(
        &mut self,
        buf: &mut Vec<crate::domain::Tick>,
        max: usize,
    ) -> Result<usize, crate::Error> {
        match self {
            LiveSource::Replay(s) => s.read_chunk(buf, max),
            LiveSource::Kite(s) => s.read_chunk(buf, max),
        }
    }

    fn waited(&self) -> std::time::Duration {
        match self {
            LiveSource::Replay(s) => s.waited(),
            LiveSource::Kite(s) => s.waited(),
        }
    }
}

/// A credential from the environment variable the config names; the value is never logged.
fn secret(name: &str) -> Result<String, LiveError> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => Err(LiveError::Credentials(name.to_owned())),
    }
}
