//! Runtimes: how the stages are driven. The stages are plain state machines (`strategy`,
//! `risk`, `execution`, `portfolio`); a runtime calls them and moves messages between them.
//!
//! - `inline`: one thread calls every stage in order for each tick. Deterministic, and the
//!   lowest tick-to-order latency when everything fits one core; the default for backtests.
//! - `threaded`: feed, strategy (with the portfolio), risk and execution on their own
//!   threads, joined by bounded rings (`ring`) carrying the messages of `message`, each stage
//!   thread running the one generic stage loop (`stage_loop`).
//!
//! When an order event is delivered (both runtimes): every event caused by tick *i* — the
//! venue's answer to tick *i*'s market data, to the requests strategies made on tick *i*, and
//! to the requests those events caused in turn — reaches its strategy before any strategy
//! sees tick *i + 1*. Within a tick: the venue sees the market data first, the events it
//! causes are delivered, due timers fire, the strategies of the instrument run, then their
//! requests go through risk and the venue and the answers are delivered, until no request is
//! left. The threaded runtime waits for the venue only when an answer can come (a request
//! was sent, or an order is open on the tick's instrument), so ticks stay pipelined
//! otherwise; both runtimes give byte-identical fills.

pub mod canary;
pub mod checkpoint;
pub mod config;
pub mod control;
pub mod inline;
pub mod layout;
pub mod message;
pub mod publish;
pub mod ring;
pub mod stage_loop;
pub mod threaded;
mod workers;

use std::sync::Arc;
use std::time::Duration;

use crate::config::EngineConfig;
use crate::domain::{BookId, Fill, Market, RejectReason, Tick};
use crate::execution::ExecutionStage;
use crate::metrics::LatencyRecorder;
use crate::metrics::telemetry::Telemetry;
use crate::portfolio::Portfolio;
use crate::risk::RiskStage;
use crate::strategy::StrategyStage;
use crate::strategy::stage::StrategyCounters;

pub use control::RunControl;
pub use layout::{BookInfo, EngineLayout, ModelInfo, PnlBuffer, StrategyInfo};
pub use message::AuditEvent;
pub use threaded::RunOptions;

/// A stream of ticks in time order, read a chunk at a time.
pub trait TickSource {
    /// Clears `buf` and appends up to `max` ticks; 0 = end of data.
    ///
    /// # Errors
    /// Whatever the source finds wrong with its input.
    fn read_chunk(&mut self, buf: &mut Vec<Tick>, max: usize) -> Result<usize, crate::Error>;
    /// `(done, total)` in the source's own units (bytes for files), for progress bars.
    fn progress(&self) -> (u64, u64) {
        (0, 0)
    }
    /// Time `read_chunk` has spent waiting for data that had not arrived yet (a live
    /// socket's market pace), so far: counted as `wait`, not as the feed's load.
    fn waited(&self) -> Duration {
        Duration::ZERO
    }
}

impl TickSource for crate::feed::TickReader {
    fn read_chunk(&mut self, buf: &mut Vec<Tick>, max: usize) -> Result<usize, crate::Error> {
        Ok(crate::feed::TickReader::read_chunk(self, buf, max)?)
    }

    fn progress(&self) -> (u64, u64) {
        let stats = self.stats();
        (stats.bytes_read, stats.bytes_total)
    }
}

/// How far a run is: the source's progress (`done` of `total`, bytes for files) and the
/// ticks processed so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunProgress {
    pub done: u64,
    pub total: u64,
    pub ticks: u64,
}

/// Ticks from memory (tests, benches).
#[derive(Debug)]
pub struct SliceSource<'a> {
    ticks: &'a [Tick],
    at: usize,
}

impl<'a> SliceSource<'a> {
    pub fn new(ticks: &'a [Tick]) -> Self {
        SliceSource { ticks, at: 0 }
    }
}

impl TickSource for SliceSource<'_> {
    fn read_chunk(&mut self, buf: &mut Vec<Tick>, max: usize) -> Result<usize, crate::Error> {
        buf.clear();
        let end = (self.at + max).min(self.ticks.len());
        buf.extend_from_slice(&self.ticks[self.at..end]);
        let n = end - self.at;
        self.at = end;
        Ok(n)
    }

    fn progress(&self) -> (u64, u64) {
        (self.at as u64, self.ticks.len() as u64)
    }
}

/// A built engine: layout plus stages, ready for one run.
#[derive(Debug)]
pub struct Engine {
    pub layout: EngineLayout,
    pub config: EngineConfig,
    /// Live counters for observers (metrics, health, validator).
    pub telemetry: Arc<Telemetry>,
    /// Last quote and trade per instrument, read by every stage (the threaded runtime gives
    /// each stage thread its own copy).
    pub market: Market,
    pub strategy: StrategyStage,
    pub portfolio: Portfolio,
    pub risk: RiskStage,
    pub execution: ExecutionStage,
}

impl Engine {
    /// A run with no set end (live): the fill, order and compute logs go to anonymous files
    /// in `dir` as it goes, so its memory does not grow with its length.
    ///
    /// # Errors
    /// A file cannot be created in `dir`.
    pub fn spill_logs_to(&mut self, dir: &std::path::Path) -> std::io::Result<()> {
        self.portfolio.spill_logs_to(dir)?;
        self.strategy.spill_logs_to(dir)
    }

    /// Runs with the runtime the config selects.
    ///
    /// # Errors
    /// See `RunError`.
    pub fn run(
        self,
        source: &mut (dyn TickSource + Send),
        progress: &mut dyn FnMut(RunProgress),
    ) -> Result<(EngineLayout, RunOutcome), RunError> {
        match self.config.runtime.mode {
            config::RuntimeMode::Inline => inline::run(self, source, progress),
            config::RuntimeMode::Threaded => threaded::run(self, source, progress),
        }
    }
}

/// How a run that did not go through all its data ended.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The input failed (a bad row, an unreadable file). Every tick before it went through
    /// the stages, which then stopped cleanly: `partial` holds the results so far.
    #[error("{error}")]
    Input {
        error: crate::Error,
        partial: Box<(EngineLayout, RunOutcome)>,
    },
    /// A stage thread panicked: the run's state cannot be trusted and nothing is written.
    #[error("the {stage} stage thread panicked; the run stopped and its state is lost")]
    StagePanicked { stage: &'static str },
}

/// What one ML strategy (one book) did in a run.
#[derive(Clone, Debug)]
pub struct MlRunStats {
    pub book: BookId,
    /// Feature rows scored.
    pub rows: u64,
    /// Calls into ONNX Runtime.
    pub calls: u64,
    pub errors: u64,
    /// Per scoring tick (per-tick mode) or per chunk call (batched), ns.
    pub latency: crate::metrics::LatencySummary,
}

impl MlRunStats {
    /// Every ML strategy of the stage, in book order.
    pub fn of(stage: &StrategyStage) -> Vec<MlRunStats> {
        stage
            .ml_strategies()
            .map(|(book, ml)| MlRunStats {
                book,
                rows: ml.stats.rows,
                calls: ml.stats.calls,
                errors: ml.stats.errors,
                latency: ml.stats.latency_summary(),
            })
            .collect()
    }
}

/// Everything a run produces.
#[derive(Debug)]
pub struct RunOutcome {
    pub ticks: u64,
    /// New orders the strategies asked for.
    pub signals: u64,
    /// New orders risk approved.
    pub orders: u64,
    pub rejections: Vec<(RejectReason, u64)>,
    pub kill_switch: Vec<bool>,
    /// `(ring, times a producer found it full)`, threaded runtime only.
    pub ring_full: Vec<(&'static str, u64)>,
    pub load: Duration,
    pub run: Duration,
    /// Part of `run` the feed spent waiting for market data (live socket feeds).
    pub wait: Duration,
    pub portfolio: Portfolio,
    pub fills: Vec<Fill>,
    /// Every order: those that ended in the order they ended, then those still open.
    pub order_log: Vec<crate::strategy::OrderRecord>,
    pub latency: LatencyRecorder,
    pub ml: Vec<MlRunStats>,
    pub strategy: StrategyCounters,
    /// Compute time charging: its mode, every measured charge in order (ns), and replay
    /// charges asked for beyond the samples.
    pub compute: ComputeOutcome,
    /// Ticks each book's strategy was run on, by `BookId`.
    pub book_ticks: Vec<u64>,
}

/// What `[compute]` charged in a run.
#[derive(Clone, Debug, Default)]
pub struct ComputeOutcome {
    pub mode: crate::strategy::compute::ComputeMode,
    pub samples: Vec<u32>,
    pub exhausted: u64,
}

impl RunOutcome {
    /// The outcome of stages that have finished a run.
    pub(crate) fn from_stages(
        ticks: u64,
        strategy: &mut StrategyStage,
        mut portfolio: Portfolio,
        risk: &RiskStage,
        latency: LatencyRecorder,
    ) -> RunOutcome {
        let fills = portfolio.take_fills();
        let orders = strategy.take_orders();
        RunOutcome {
            ticks,
            signals: risk.requests(),
            orders: risk.orders(),
            rejections: risk.rejections(),
            kill_switch: risk.kill_switches(),
            ring_full: Vec::new(),
            load: Duration::ZERO,
            run: Duration::ZERO,
            wait: Duration::ZERO,
            portfolio,
            fills,
            order_log: orders,
            latency,
            ml: MlRunStats::of(strategy),
            book_ticks: strategy.books().iter().map(|b| b.ticks).collect(),
            strategy: strategy.counters(),
            compute: {
                let compute = strategy.compute_mut();
                compute.flush();
                ComputeOutcome {
                    mode: compute.mode(),
                    samples: compute.take_samples(),
                    exhausted: compute.exhausted,
                }
            },
        }
    }
}
