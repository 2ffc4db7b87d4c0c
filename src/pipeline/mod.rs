//! The pipeline: the stages as plain state machines, the engine that wires them from
//! config, and two runtimes over the same stages: `inline` (one thread, deterministic,
//! default for backtests) and `threaded` (one thread per stage, bounded rings).
//! Only this module knows about threads and queues.

pub mod inline;
pub mod threaded;

use std::sync::Arc;
use std::time::Duration;

use tracing::warn;

use crate::config::{
    ConfigError, ConfigErrors, EngineConfig, Environment, MlInference, RuntimeMode,
};
use crate::domain::fixed::POW10;
use crate::domain::{
    BookId, BrokerId, Fill, InstrumentId, InstrumentTable, Order, Qty, Signal, StrategyId, Tick,
};
use crate::execution::{PaperVenue, Venue};
use crate::metrics::LatencyRecorder;
use crate::metrics::telemetry::{InstrumentClass, Telemetry, TelemetryShape, store_f64};
use crate::ml::{InferenceMode, MlStrategy};
use crate::portfolio::{MAX_COMBINED_PRECISION, Portfolio};
use crate::risk::{RejectReason, RiskEngine};
use crate::strategy::{
    SlotSpec, Strategy, StrategyConfig, StrategyIndex, StrategyKind, StrategyParams,
};

/// Fills kept in memory before the log has to grow (start-up allocation).
pub const FILL_LOG_CAPACITY: usize = 1 << 16;

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

/// A registered strategy: what reports need to name it.
#[derive(Clone, Debug)]
pub struct StrategyInfo {
    pub id: String,
    pub kind: &'static str,
    pub instruments: Vec<InstrumentId>,
    pub books: Vec<BookId>,
    /// The model of an ML strategy: what its signals and fills are audited with.
    pub model: Option<ModelInfo>,
}

/// Identity of the model behind an ML strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
    pub feature_schema_hash: String,
    pub inference: &'static str,
    pub entry_threshold: f64,
    pub exit_threshold: f64,
}

/// A book: one strategy trading through one broker.
#[derive(Clone, Copy, Debug)]
pub struct BookInfo {
    pub strategy: StrategyId,
    pub broker: BrokerId,
}

/// Static facts of a built engine, shared by its stages and its reports.
#[derive(Clone, Debug)]
pub struct EngineLayout {
    pub instruments: InstrumentTable,
    pub brokers: Vec<String>,
    pub strategies: Vec<StrategyInfo>,
    pub books: Vec<BookInfo>,
    /// Strategies in the config files, registered or not.
    pub configured: usize,
    /// Per broker: strategies in the config files that name it, registered or not.
    pub configured_per_broker: Vec<usize>,
    /// Why each strategy that is not registered was left out.
    pub disabled: Vec<String>,
    /// Model load results of the ML strategies, registered or not.
    pub model_checks: Vec<crate::ml::ModelCheck>,
}

/// Strategy stage: dispatch through the instrument index.
#[derive(Debug)]
pub struct StrategyStage {
    strategies: Vec<StrategyKind>,
    index: StrategyIndex,
}

impl StrategyStage {
    /// Runs every strategy of the tick's instrument, appending their signals to `out`.
    #[inline]
    pub fn on_tick(&mut self, tick: &Tick, out: &mut Vec<Signal>) {
        for entry in self.index.get(tick.instrument) {
            let strategy = &mut self.strategies[entry.strategy.0 as usize];
            if let Some(intent) = strategy.on_tick(tick, entry.slot as usize) {
                out.push(Signal {
                    correlation: tick.seq,
                    ts: tick.ts,
                    strategy: entry.strategy,
                    instrument: tick.instrument,
                    side: intent.side,
                    qty: intent.qty,
                    order_type: intent.order_type,
                });
            }
        }
    }

    pub fn max_fan_out(&self) -> usize {
        self.index.max_fan_out()
    }

    /// Whether any strategy trades the instrument (counted by observers, not on dispatch).
    #[inline]
    pub fn is_traded(&self, instrument: InstrumentId) -> bool {
        !self.index.get(instrument).is_empty()
    }

    /// Canary: one smallest-lot buy per strategy trading the tick's instrument, without
    /// running (and so without changing) any strategy.
    pub fn canary_signals(&self, tick: &Tick, out: &mut Vec<Signal>) {
        for entry in self.index.get(tick.instrument) {
            out.push(Signal {
                correlation: tick.seq,
                ts: tick.ts,
                strategy: entry.strategy,
                instrument: tick.instrument,
                side: crate::domain::Side::Buy,
                qty: Qty(1),
                order_type: crate::domain::OrderType::Market,
            });
        }
    }

    /// Hands each ML strategy's scoring latency off to observers (O(1) each, never waits).
    pub fn hand_off_inference(&mut self, t: &Telemetry) {
        for ((_, slot), ml) in t.inference.iter().zip(self.ml_strategies_mut()) {
            slot.offer(&mut ml.stats.latency);
        }
    }

    /// At the end of a run: takes back every handed-off scoring latency.
    pub fn take_back_inference(&mut self, t: &Telemetry) {
        for ((_, slot), ml) in t.inference.iter().zip(self.ml_strategies_mut()) {
            slot.take_back(&mut ml.stats.latency);
        }
    }

    fn ml_strategies_mut(&mut self) -> impl Iterator<Item = &mut MlStrategy> {
        self.strategies.iter_mut().filter_map(|s| match s {
            StrategyKind::Ml(ml) => Some(&mut **ml),
            _ => None,
        })
    }

    /// Inference errors of all ML strategies so far.
    pub fn inference_errors(&self) -> u64 {
        self.strategies
            .iter()
            .map(|s| match s {
                StrategyKind::Ml(ml) => ml.stats.errors,
                _ => 0,
            })
            .sum()
    }

    /// Whether any strategy scores in batches (and so needs `prepare_chunk`).
    pub fn has_batched(&self) -> bool {
        self.strategies
            .iter()
            .any(|s| matches!(s, StrategyKind::Ml(ml) if ml.mode() == InferenceMode::Batched))
    }

    /// Batched ML strategies extract and score a whole chunk ahead of its dispatch. The
    /// ticks must already carry their `seq`.
    pub fn prepare_chunk(&mut self, ticks: &[Tick]) {
        for strategy in &mut self.strategies {
            if let StrategyKind::Ml(ml) = strategy {
                ml.begin_chunk();
            }
        }
        for tick in ticks {
            for entry in self.index.get(tick.instrument) {
                if let StrategyKind::Ml(ml) = &mut self.strategies[entry.strategy.0 as usize]
                    && ml.mode() == InferenceMode::Batched
                {
                    ml.prepare_tick(tick, entry.slot as usize);
                }
            }
        }
        for strategy in &mut self.strategies {
            if let StrategyKind::Ml(ml) = strategy
                && ml.mode() == InferenceMode::Batched
            {
                ml.score_chunk();
            }
        }
    }

    /// Inference counters of each ML strategy.
    pub fn ml_stats(&self) -> Vec<MlRunStats> {
        self.strategies
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                StrategyKind::Ml(ml) => Some(MlRunStats {
                    strategy: StrategyId(i as u32),
                    rows: ml.stats.rows,
                    calls: ml.stats.calls,
                    errors: ml.stats.errors,
                    latency: ml.stats.latency_summary(),
                }),
                _ => None,
            })
            .collect()
    }
}

/// What one ML strategy did in a run.
#[derive(Clone, Debug)]
pub struct MlRunStats {
    pub strategy: StrategyId,
    /// Feature rows scored.
    pub rows: u64,
    /// Calls into ONNX Runtime.
    pub calls: u64,
    pub errors: u64,
    /// Per scoring tick (per-tick mode) or per chunk call (batched), ns.
    pub latency: crate::metrics::LatencySummary,
}

/// Risk stage: splits a signal into one order per book and checks each.
#[derive(Debug)]
pub struct RiskStage {
    pub engine: RiskEngine,
    /// Books of each strategy, with their broker.
    books_of: Vec<Vec<(BookId, BrokerId)>>,
    next_order_id: u64,
    pub signals: u64,
    pub orders: u64,
    /// Per broker: orders built from signals (before risk), approved, refused by reason.
    pub broker_attempts: Vec<u64>,
    pub broker_orders: Vec<u64>,
    pub broker_rejections: Vec<[u64; RejectReason::ALL.len()]>,
    /// Refusals of the last `on_signal` call, for the audit log.
    pub last_rejections: Vec<(Order, RejectReason)>,
}

impl RiskStage {
    #[inline]
    pub fn on_tick(&mut self, tick: &Tick) {
        self.engine.on_tick(tick);
    }

    /// Checks the signal's order for every book of its strategy; approved orders go to `out`.
    #[inline]
    pub fn on_signal(&mut self, signal: &Signal, out: &mut Vec<Order>) {
        self.signals += 1;
        self.last_rejections.clear();
        for &(book, broker) in &self.books_of[signal.strategy.0 as usize] {
            let order = order_for(signal, book, broker, self.next_order_id);
            let b = broker.0 as usize;
            self.broker_attempts[b] += 1;
            match self.engine.check(&order) {
                Ok(()) => {
                    self.next_order_id += 1;
                    self.orders += 1;
                    self.broker_orders[b] += 1;
                    out.push(order);
                }
                Err(reason) => {
                    self.broker_rejections[b][reason.index()] += 1;
                    if self.last_rejections.len() < self.last_rejections.capacity() {
                        self.last_rejections.push((order, reason));
                    }
                }
            }
        }
    }

    /// Canary: the signal's orders checked against a copy of the risk state (`dry`), so
    /// nothing real changes. Approved orders go to `out`; refusals are returned with names.
    pub fn canary_orders(
        &self,
        dry: &mut RiskEngine,
        signal: &Signal,
        out: &mut Vec<Order>,
        refused: &mut Vec<(BrokerId, RejectReason)>,
    ) {
        for &(book, broker) in &self.books_of[signal.strategy.0 as usize] {
            let order = order_for(signal, book, broker, u64::MAX);
            match dry.check(&order) {
                Ok(()) => out.push(order),
                Err(reason) => refused.push((broker, reason)),
            }
        }
    }

    /// Publishes the per-broker counters and kill switches.
    pub fn publish(&self, t: &Telemetry) {
        use std::sync::atomic::Ordering::Relaxed;
        for (b, broker) in t.brokers.iter().enumerate() {
            broker.attempts.set(self.broker_attempts[b]);
            broker.orders.set(self.broker_orders[b]);
            for (cell, &n) in broker.rejections.iter().zip(&self.broker_rejections[b]) {
                cell.store(n, Relaxed);
            }
            broker
                .kill_switch
                .store(self.engine.kill_switch_tripped(b), Relaxed);
        }
    }

    pub fn rejections(&self) -> Vec<(RejectReason, u64)> {
        RejectReason::ALL
            .iter()
            .map(|&r| (r, self.engine.rejections[r.index()]))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// The order a signal makes for one book.
#[inline]
fn order_for(signal: &Signal, book: BookId, broker: BrokerId, id: u64) -> Order {
    Order {
        id,
        correlation: signal.correlation,
        ts: signal.ts,
        book,
        broker,
        strategy: signal.strategy,
        instrument: signal.instrument,
        side: signal.side,
        qty: signal.qty,
        order_type: signal.order_type,
    }
}

/// Execution stage: a venue per broker, and the portfolio that books their fills.
#[derive(Debug)]
pub struct ExecutionStage {
    venues: Vec<PaperVenue>,
    pub portfolio: Portfolio,
    pub fill_log: Vec<Fill>,
    pub fills_by_broker: Vec<u64>,
}

impl ExecutionStage {
    /// Market data: marks, then fills of resting orders (appended to `fills` and booked).
    #[inline]
    pub fn on_tick(&mut self, tick: &Tick, fills: &mut Vec<Fill>) {
        self.portfolio.on_tick(tick);
        let start = fills.len();
        for venue in &mut self.venues {
            venue.on_tick(tick, fills);
        }
        self.book(fills, start);
    }

    /// An approved order raised on `tick`.
    #[inline]
    pub fn on_order(&mut self, order: Order, tick: &Tick, fills: &mut Vec<Fill>) {
        self.portfolio.on_order(order.book, order.instrument);
        let start = fills.len();
        self.venues[order.broker.0 as usize].submit(order, tick, fills);
        self.book(fills, start);
    }

    pub fn instrument_count(&self) -> usize {
        self.portfolio.instrument_count()
    }

    #[inline]
    fn book(&mut self, fills: &[Fill], start: usize) {
        for fill in &fills[start..] {
            self.portfolio.on_fill(fill);
            self.fill_log.push(*fill);
            self.fills_by_broker[fill.broker.0 as usize] += 1;
        }
    }

    /// Publishes fills per broker, and positions and PnL when an observer asked for them
    /// since `published` (a generation) — computed into `buffer`, so nothing allocates.
    pub fn publish(&self, t: &Telemetry, buffer: &mut PnlBuffer, published: &mut u64) {
        for (broker, &fills) in t.brokers.iter().zip(&self.fills_by_broker) {
            broker.fills.set(fills);
        }
        let requested = t.snapshot_generation();
        if requested != *published {
            self.broker_pnl(&buffer.positions, &mut buffer.totals);
            for (broker, (open, pnl)) in t.brokers.iter().zip(&buffer.totals) {
                broker
                    .open_positions
                    .store(*open, std::sync::atomic::Ordering::Relaxed);
                for (cell, &v) in broker.pnl.iter().zip(pnl) {
                    store_f64(cell, v.to_f64());
                }
            }
            *published = requested;
        }
    }

    /// Per broker: open positions and exact PnL (realized, unrealized, fees, net) in quote
    /// currency, written into `out` (one entry per broker). Walks the (book, instrument)
    /// pairs that can hold a position: call on request, not per tick.
    pub fn broker_pnl(
        &self,
        positions: &[(BookId, BrokerId, InstrumentId)],
        out: &mut [(u64, [crate::domain::Money; 4])],
    ) {
        for entry in out.iter_mut() {
            *entry = (0, [crate::domain::Money::ZERO; 4]);
        }
        for &(book, broker, instrument) in positions {
            let Some((open, pnl)) = out.get_mut(broker.0 as usize) else {
                continue;
            };
            let r = self.portfolio.report(book, instrument);
            *open += u64::from(r.position.0 != 0);
            for (slot, money) in pnl
                .iter_mut()
                .zip([r.realized, r.unrealized, r.fees, r.net])
            {
                *slot += money;
            }
        }
    }
}

/// What the audit log records, sent by the stage threads to the audit writer over a ring
/// (a `Copy` value: no formatting or I/O on the stage threads).
#[derive(Clone, Copy, Debug)]
pub enum AuditEvent {
    Signal(Signal),
    Order(Order),
    Reject(Order, RejectReason),
    Fill(Fill),
}

/// Per broker (open positions, PnL components), reused between PnL publishes.
#[derive(Debug)]
pub struct PnlBuffer {
    /// (book, its broker, an instrument its strategy trades): where positions can be.
    positions: Vec<(BookId, BrokerId, InstrumentId)>,
    totals: Vec<(u64, [crate::domain::Money; 4])>,
}

impl PnlBuffer {
    pub fn new(layout: &EngineLayout) -> PnlBuffer {
        let positions = layout
            .books
            .iter()
            .enumerate()
            .flat_map(|(b, book)| {
                layout.strategies[book.strategy.0 as usize]
                    .instruments
                    .iter()
                    .map(move |&i| (BookId(b as u32), book.broker, i))
            })
            .collect();
        PnlBuffer {
            positions,
            totals: vec![(0, [crate::domain::Money::ZERO; 4]); layout.brokers.len()],
        }
    }
}

/// What a live run adds to the threaded runtime.
#[derive(Debug, Default)]
pub struct RunControl {
    /// Where stage threads send audit events; `None` = no audit log.
    pub audit: Option<crossbeam_channel::Sender<AuditEvent>>,
    /// Send a canary tick through every stage before trading, and trade only if it passes.
    pub canary: bool,
    /// The stop request (signals); a run whose canary failed waits for it.
    pub stop: Option<Arc<std::sync::atomic::AtomicBool>>,
}

/// Everything a run produces.
#[derive(Debug)]
pub struct RunOutcome {
    pub ticks: u64,
    pub signals: u64,
    pub orders: u64,
    pub rejections: Vec<(RejectReason, u64)>,
    pub kill_switch: Vec<bool>,
    /// `(ring, times a producer found it full)`, threaded runtime only.
    pub ring_full: Vec<(&'static str, u64)>,
    pub load: Duration,
    pub run: Duration,
    pub portfolio: Portfolio,
    pub fills: Vec<Fill>,
    pub latency: LatencyRecorder,
    pub ml: Vec<MlRunStats>,
}

/// A built engine: layout plus stages, ready for one run.
#[derive(Debug)]
pub struct Engine {
    pub layout: EngineLayout,
    pub config: EngineConfig,
    /// Live counters for observers (metrics, health, validator).
    pub telemetry: Arc<Telemetry>,
    pub strategy: StrategyStage,
    pub risk: RiskStage,
    pub execution: ExecutionStage,
}

impl Engine {
    /// Widens instrument quantity precisions to fit every strategy's quantity. Call before
    /// opening the feed, so sizes are read at the final precision.
    ///
    /// # Errors
    /// A quantity finer than a precision fixed by config, or combined precision too large.
    pub fn fit_precisions(
        instruments: &mut InstrumentTable,
        config: &EngineConfig,
        strategies: &[StrategyConfig],
    ) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        for s in strategies {
            for (symbol, line) in &s.instruments {
                let Some(id) = instruments.find(symbol) else {
                    continue;
                };
                let fixed = config.instruments.iter().find(|o| &o.symbol == symbol);
                let spec = instruments.spec(id);
                if let Some(fixed) = fixed {
                    if s.quantity.decimals > fixed.qty_precision {
                        errors.push(ConfigError {
                            file: s.file.clone(),
                            line: *line,
                            field: "params.quantity".into(),
                            message: format!(
                                "{} decimals, but {symbol} has qty_precision {} in the engine config",
                                s.quantity.decimals, fixed.qty_precision
                            ),
                        });
                    }
                } else if s.quantity.decimals > spec.qty_precision
                    && let Err(e) = instruments.widen(id, 0, s.quantity.decimals)
                {
                    errors.push(ConfigError {
                        file: s.file.clone(),
                        line: *line,
                        field: "params.quantity".into(),
                        message: e.to_string(),
                    });
                }
            }
        }
        for (_, spec) in instruments.iter() {
            if spec.price_precision + spec.qty_precision > MAX_COMBINED_PRECISION {
                errors.push(ConfigError {
                    file: "<data>".into(),
                    line: 0,
                    field: spec.symbol.clone(),
                    message: format!(
                        "price precision {} + quantity precision {} exceeds {MAX_COMBINED_PRECISION}",
                        spec.price_precision, spec.qty_precision
                    ),
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Builds the stages. Strategies naming unknown brokers are errors; instruments absent
    /// from the data are skipped with a warning (in production: an error), and a strategy
    /// left with none is not registered.
    ///
    /// # Errors
    /// Every configuration problem, with file, line and field.
    pub fn build(
        config: &EngineConfig,
        strategies: &[StrategyConfig],
        instruments: InstrumentTable,
    ) -> Result<Engine, ConfigErrors> {
        let mut errors = Vec::new();
        let mut disabled = Vec::new();
        let mut infos = Vec::new();
        let mut books = Vec::new();
        let mut books_of = Vec::new();
        let mut kinds = Vec::new();
        let mut subscriptions = Vec::new();
        let mut configured_per_broker = vec![0; config.brokers.len()];
        let mut model_checks = Vec::new();
        let inference = match (config.runtime.ml_inference, config.runtime.mode) {
            (MlInference::PerTick, _) | (MlInference::Auto, RuntimeMode::Threaded) => {
                InferenceMode::PerTick
            }
            (MlInference::Batched, RuntimeMode::Threaded) => {
                errors.push(ConfigError {
                    file: "<engine config>".into(),
                    line: 0,
                    field: "runtime.ml_inference".into(),
                    message: "\"batched\" needs the inline runtime: threaded strategies see one tick at a time (use \"per_tick\" or \"auto\")".into(),
                });
                InferenceMode::PerTick
            }
            (MlInference::Batched | MlInference::Auto, RuntimeMode::Inline) => {
                InferenceMode::Batched
            }
        };
        for s in strategies {
            let mut brokers = Vec::new();
            for (name, line) in &s.brokers {
                match config.broker_index(name) {
                    // A disabled broker takes no orders: no book for it (preflight reports
                    // the strategy; production refuses to start).
                    Some(b) if !config.brokers[b].enabled => {
                        configured_per_broker[b] += 1;
                        warn!(target: "app", strategy = %s.id, file = %s.file.display(), line, broker = %name, "broker is disabled; the strategy will not trade through it");
                    }
                    Some(b) => {
                        configured_per_broker[b] += 1;
                        brokers.push(BrokerId(b as u32));
                    }
                    None => errors.push(ConfigError {
                        file: s.file.clone(),
                        line: *line,
                        field: "brokers".into(),
                        message: format!(
                            "unknown broker '{name}' (configured: {})",
                            config
                                .brokers
                                .iter()
                                .map(|b| b.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    }),
                }
            }
            let mut ids = Vec::new();
            let mut slots = Vec::new();
            for (symbol, line) in &s.instruments {
                match instruments.find(symbol) {
                    Some(id) => {
                        let spec = instruments.spec(id);
                        let scale = POW10[(spec.qty_precision
                            - s.quantity.decimals.min(spec.qty_precision))
                            as usize];
                        ids.push(id);
                        slots.push(SlotSpec {
                            price_precision: spec.price_precision,
                            qty: Qty(s.quantity.mantissa * scale),
                        });
                    }
                    None if config.environment == Environment::Production => {
                        errors.push(ConfigError {
                            file: s.file.clone(),
                            line: *line,
                            field: "instruments".into(),
                            message: format!("instrument '{symbol}' is not in the data"),
                        })
                    }
                    None => {
                        warn!(target: "app", strategy = %s.id, file = %s.file.display(), line, symbol = %symbol, "instrument not in the data; strategy will not trade it");
                    }
                }
            }
            if ids.is_empty() {
                if config.environment != Environment::Production {
                    disabled.push(format!(
                        "{} ({}): none of its instruments is in the data",
                        s.id,
                        s.file.display()
                    ));
                }
                continue;
            }
            if brokers.is_empty() && !s.brokers.is_empty() {
                disabled.push(format!(
                    "{} ({}): every broker it names is disabled",
                    s.id,
                    s.file.display()
                ));
                continue;
            }
            let (kind, model) = match &s.params {
                StrategyParams::Ml {
                    model,
                    model_line,
                    entry_threshold,
                    exit_threshold,
                } => {
                    let (loaded, check) = crate::ml::load_model(&s.id, &s.file, model);
                    model_checks.push(check.clone());
                    let Some(loaded) = loaded else {
                        if config.environment == Environment::Production {
                            errors.extend(check.problems.iter().map(|p| ConfigError {
                                file: s.file.clone(),
                                line: *model_line,
                                field: "model".into(),
                                message: p.clone(),
                            }));
                        } else {
                            let reason = check.problems.join("; ");
                            warn!(target: "app", strategy = %s.id, file = %s.file.display(), model = %model, "ML strategy disabled: {reason}");
                            disabled.push(format!("{} ({}): {reason}", s.id, s.file.display()));
                        }
                        continue;
                    };
                    let entry = entry_threshold.unwrap_or(loaded.sidecar.entry_threshold);
                    let exit = exit_threshold.unwrap_or(loaded.sidecar.exit_threshold);
                    if exit >= entry {
                        errors.push(ConfigError {
                            file: s.file.clone(),
                            line: *model_line,
                            field: "params.exit_threshold".into(),
                            message: format!(
                                "exit threshold {exit} must be below entry threshold {entry} (the sidecar's, unless the strategy file sets them)"
                            ),
                        });
                        continue;
                    }
                    let info = ModelInfo {
                        name: loaded.sidecar.name.clone(),
                        version: loaded.sidecar.version.clone(),
                        feature_schema_hash: loaded.sidecar.feature_schema_hash.clone(),
                        inference: inference.name(),
                        entry_threshold: entry,
                        exit_threshold: exit,
                    };
                    let strategy =
                        MlStrategy::new(loaded, &slots, entry, exit, inference, inline::CHUNK);
                    (StrategyKind::Ml(Box::new(strategy)), Some(info))
                }
                params => match StrategyKind::rule(params, &slots) {
                    Some(kind) => (kind, None),
                    None => continue,
                },
            };
            let strategy = StrategyId(infos.len() as u32);
            let mut own_books = Vec::new();
            for &broker in &brokers {
                let book = BookId(books.len() as u32);
                books.push(BookInfo { strategy, broker });
                own_books.push((book, broker));
            }
            infos.push(StrategyInfo {
                id: s.id.clone(),
                kind: kind.kind_name(),
                instruments: ids.clone(),
                books: own_books.iter().map(|(b, _)| *b).collect(),
                model,
            });
            kinds.push(kind);
            subscriptions.push(ids);
            books_of.push(own_books);
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        let specs: Vec<_> = instruments.iter().map(|(_, s)| s.clone()).collect();
        let index = StrategyIndex::build(specs.len(), &subscriptions);
        let brokers = config.brokers.len();
        let mut registered = vec![0u64; brokers];
        for own in &books_of {
            for &(_, broker) in own {
                registered[broker.0 as usize] += 1;
            }
        }
        let loads_ok = model_checks.iter().filter(|c| c.ok).count() as u64;
        let telemetry = Arc::new(Telemetry::new(TelemetryShape {
            brokers: config.brokers.iter().map(|b| b.name.clone()).collect(),
            brokers_enabled: config.brokers.iter().map(|b| b.enabled).collect(),
            strategies_registered: registered,
            strategies_configured: configured_per_broker.iter().map(|&n| n as u64).collect(),
            ring_capacity: config.runtime.ring_capacity,
            instrument_classes: specs
                .iter()
                .map(|s| InstrumentClass::of_symbol(&s.symbol))
                .collect(),
            // A live run names its own feed (`replay`); a backtest reads files.
            feed_kind: "backtest",
            environment: config.environment.name(),
            model_loads_ok: loads_ok,
            model_loads_failed: model_checks.len() as u64 - loads_ok,
            ml_strategies: infos
                .iter()
                .filter(|i| i.model.is_some())
                .map(|i| i.id.clone())
                .collect(),
        }));
        let limits: Vec<_> = config.brokers.iter().map(|b| b.risk.clone()).collect();
        let venues = config
            .brokers
            .iter()
            .map(|b| PaperVenue::new(b.latency_ns, b.fee_bps, &specs))
            .collect();
        Ok(Engine {
            layout: EngineLayout {
                instruments,
                brokers: config.brokers.iter().map(|b| b.name.clone()).collect(),
                configured: strategies.len(),
                configured_per_broker,
                strategies: infos,
                books: books.clone(),
                disabled,
                model_checks,
            },
            config: config.clone(),
            telemetry,
            strategy: StrategyStage {
                strategies: kinds,
                index,
            },
            risk: RiskStage {
                engine: RiskEngine::new(&limits, &specs),
                books_of,
                next_order_id: 0,
                signals: 0,
                orders: 0,
                broker_attempts: vec![0; brokers],
                broker_orders: vec![0; brokers],
                broker_rejections: vec![[0; RejectReason::ALL.len()]; brokers],
                last_rejections: Vec::with_capacity(brokers),
            },
            execution: ExecutionStage {
                venues,
                portfolio: Portfolio::new(books.len(), &specs),
                fill_log: Vec::with_capacity(FILL_LOG_CAPACITY),
                fills_by_broker: vec![0; brokers],
            },
        })
    }

    /// Runs with the runtime the config selects.
    ///
    /// # Errors
    /// An error of the tick source (e.g. a bad row under the `reject` policy).
    pub fn run(
        self,
        source: &mut (dyn TickSource + Send),
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(EngineLayout, RunOutcome), crate::Error> {
        match self.config.runtime.mode {
            crate::config::RuntimeMode::Inline => inline::run(self, source, progress),
            crate::config::RuntimeMode::Threaded => threaded::run(self, source, progress),
        }
    }
}
