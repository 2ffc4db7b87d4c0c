//! Live counters of a running engine, shared between the stage threads that write them and
//! the observers (metrics endpoint, health, validator) that read them.
//!
//! Contract:
//! - Every value has one writer thread. Stages keep their own plain counters on the hot path
//!   and *publish* them here at publish points (every `PUBLISH_EVERY` messages, whenever
//!   their input ring runs empty, and when an output ring is found full), with relaxed stores: no lock, no allocation, no syscall,
//!   and nothing shared touched on the other messages.
//! - Latency histograms stay owned by their stage thread. An observer asks for fresh
//!   numbers (`request_snapshot`); at its next publish point each thread hands its
//!   recording off in O(1) (`Handoff`: a swap with an empty spare, `try_lock`, no copy) and
//!   continues with the spare. Observers read the total of what was handed off; at the end
//!   of a run each thread takes it all back, so its final histograms are complete.
//! - Observers never block a stage: what they read may be up to one publish point old.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use parking_lot::Mutex;

use super::LatencyRecorder;
use super::handoff::Handoff;
use crate::risk::RejectReason;

/// Messages a stage handles between two publishes while busy: bounds how stale a ring
/// depth (sent − received, published by two threads) can be.
pub const PUBLISH_EVERY: u64 = 64;

/// A pipeline stage as observers name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageName {
    Feed,
    Strategy,
    Risk,
    Execution,
}

impl StageName {
    pub const ALL: [StageName; 4] = [
        StageName::Feed,
        StageName::Strategy,
        StageName::Risk,
        StageName::Execution,
    ];

    pub fn name(self) -> &'static str {
        super::catalog::STAGES[self as usize]
    }
}

/// A ring of the threaded runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ring {
    FeedToStrategy,
    StrategyToRisk,
    RiskToExecution,
    ExecutionToRisk,
    ExecutionToStrategy,
}

impl Ring {
    pub const ALL: [Ring; 5] = [
        Ring::FeedToStrategy,
        Ring::StrategyToRisk,
        Ring::RiskToExecution,
        Ring::ExecutionToRisk,
        Ring::ExecutionToStrategy,
    ];

    pub fn name(self) -> &'static str {
        super::catalog::RINGS[self as usize]
    }

    /// The stage that drains the ring.
    pub fn consumer(self) -> StageName {
        match self {
            Ring::FeedToStrategy | Ring::ExecutionToStrategy => StageName::Strategy,
            Ring::StrategyToRisk | Ring::ExecutionToRisk => StageName::Risk,
            Ring::RiskToExecution => StageName::Execution,
        }
    }
}

/// Instrument class, the `class` label of tick counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstrumentClass {
    Fx,
    Equity,
    Crypto,
}

impl InstrumentClass {
    pub const ALL: [InstrumentClass; 3] = [
        InstrumentClass::Fx,
        InstrumentClass::Equity,
        InstrumentClass::Crypto,
    ];

    pub fn name(self) -> &'static str {
        match self {
            InstrumentClass::Fx => "fx",
            InstrumentClass::Equity => "equity",
            InstrumentClass::Crypto => "crypto",
        }
    }

    /// Classifies a symbol by convention: crypto pairs quote in a coin or stablecoin or
    /// carry a venue product suffix (`BTCUSDT-SPOT`, `ETHUSD-COINM`); FX pairs are two ISO
    /// currency codes (`EURUSD`, `NZDUSD-OANDA`); anything else is an equity ticker.
    pub fn of_symbol(symbol: &str) -> InstrumentClass {
        const CRYPTO_SUFFIXES: [&str; 4] = ["-SPOT", "-USDM", "-COINM", "-PERP"];
        const CRYPTO_QUOTES: [&str; 6] = ["USDT", "USDC", "BUSD", "BTC", "ETH", "FDUSD"];
        const CURRENCIES: [&str; 18] = [
            "USD", "EUR", "JPY", "GBP", "AUD", "NZD", "CAD", "CHF", "SEK", "NOK", "DKK", "HKD",
            "SGD", "CNH", "MXN", "ZAR", "TRY", "PLN",
        ];
        if CRYPTO_SUFFIXES.iter().any(|s| symbol.ends_with(s)) {
            return InstrumentClass::Crypto;
        }
        let base = symbol.split('-').next().unwrap_or(symbol);
        if base.len() > 4 && CRYPTO_QUOTES.iter().any(|q| base.ends_with(q)) {
            return InstrumentClass::Crypto;
        }
        if base.len() == 6 && CURRENCIES.contains(&&base[..3]) && CURRENCIES.contains(&&base[3..]) {
            return InstrumentClass::Fx;
        }
        InstrumentClass::Equity
    }
}

/// Inputs set aside instead of processed, the `kind` label of `alpha_panda_dlq_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DlqKind {
    /// A feed row that failed to parse, skipped under `bad_rows = "skip"`.
    BadRow,
    /// A model call that failed; the strategy held its position.
    Inference,
    /// An audit event dropped because the audit ring was full (fills stay in fills.csv).
    AuditDropped,
    /// A live feed message that could not be decoded or parsed (its first bytes are logged).
    FeedMessage,
    /// Live market data dropped because the feed → engine ring was full (oldest first).
    FeedDropped,
}

impl DlqKind {
    pub const ALL: [DlqKind; 5] = [
        DlqKind::BadRow,
        DlqKind::Inference,
        DlqKind::AuditDropped,
        DlqKind::FeedMessage,
        DlqKind::FeedDropped,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DlqKind::BadRow => "bad_row",
            DlqKind::Inference => "inference",
            DlqKind::AuditDropped => "audit_dropped",
            DlqKind::FeedMessage => "feed_message",
            DlqKind::FeedDropped => "feed_dropped",
        }
    }
}

/// Connections the metrics endpoint closed without serving their request, the `reason`
/// label of `alpha_panda_http_connections_dropped_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpDrop {
    /// Over the cap on open connections (answered 503 when the socket takes it).
    Limit,
    /// The request head was not complete within the deadline (an idle or slow client).
    Timeout,
    /// The request head was over the size limit (answered 431).
    TooLarge,
    /// The process was out of file descriptors: taken on a spare descriptor and closed.
    NoDescriptor,
}

impl HttpDrop {
    pub const ALL: [HttpDrop; 4] = [
        HttpDrop::Limit,
        HttpDrop::Timeout,
        HttpDrop::TooLarge,
        HttpDrop::NoDescriptor,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HttpDrop::Limit => "limit",
            HttpDrop::Timeout => "timeout",
            HttpDrop::TooLarge => "too_large",
            HttpDrop::NoDescriptor => "no_descriptor",
        }
    }
}

/// Where the feed is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FeedState {
    /// Opened, canary not yet through.
    Starting = 0,
    /// Delivering ticks.
    Live = 1,
    /// The replay file is over; no more data will come.
    Ended = 2,
    /// Shut down.
    Stopped = 3,
    /// A live socket feed lost its connection and is reconnecting.
    Disconnected = 4,
}

impl FeedState {
    pub fn name(self) -> &'static str {
        match self {
            FeedState::Starting => "starting",
            FeedState::Live => "live",
            FeedState::Ended => "ended",
            FeedState::Stopped => "stopped",
            FeedState::Disconnected => "disconnected",
        }
    }

    fn from_u8(v: u8) -> FeedState {
        match v {
            1 => FeedState::Live,
            2 => FeedState::Ended,
            3 => FeedState::Stopped,
            4 => FeedState::Disconnected,
            _ => FeedState::Starting,
        }
    }
}

/// A relaxed counter with one writer: `set` publishes the writer's own running total.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Published(AtomicU64);

impl Published {
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }

    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Per-broker published values.
#[derive(Debug, Default)]
pub struct BrokerTelemetry {
    /// New orders the broker's strategies asked for, before risk.
    pub attempts: Published,
    pub orders: Published,
    pub fills: Published,
    pub rejections: [AtomicU64; RejectReason::ALL.len()],
    pub kill_switch: AtomicBool,
    pub open_positions: AtomicU64,
    /// Per settlement currency (`TelemetryShape::currencies`): realized, unrealized, fees,
    /// net, as `f64` bits (display only; never added across currencies).
    pub pnl: Vec<[AtomicU64; 4]>,
}

/// PnL components in `BrokerTelemetry::pnl` order.
pub const PNL_COMPONENTS: [&str; 4] = ["realized", "unrealized", "fees", "net"];

/// The result of the canary tick.
#[derive(Clone, Debug, PartialEq)]
pub struct CanaryResult {
    pub passed: bool,
    /// Feed send to venue acknowledgement, ns.
    pub latency_ns: u64,
    pub instrument: String,
    /// Canary orders risk approved, and checked.
    pub approved: u64,
    pub checked: u64,
    pub detail: String,
}

/// One active validator finding.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Finding {
    pub issue: &'static str,
    pub stage: &'static str,
    /// Broker name, or empty when the finding is not about one broker.
    pub broker: String,
    /// Unix time the finding was raised, s.
    pub since_unix: f64,
    pub detail: String,
}

/// What the validator publishes: active findings and how often each kind was raised.
#[derive(Clone, Debug, Default)]
pub struct ValidatorState {
    pub active: Vec<Finding>,
    /// `(stage, broker, issue) → times raised`, in first-raised order.
    pub raised: Vec<((&'static str, String, &'static str), u64)>,
    /// Unix time of the validator's last pass, s.
    pub last_run_unix: f64,
}

/// Shape of the engine, fixed at start-up.
#[derive(Clone, Debug, Default)]
pub struct TelemetryShape {
    pub brokers: Vec<String>,
    pub brokers_enabled: Vec<bool>,
    pub strategies_registered: Vec<u64>,
    pub strategies_configured: Vec<u64>,
    pub ring_capacity: usize,
    /// Class of each instrument, by `InstrumentId`.
    pub instrument_classes: Vec<InstrumentClass>,
    pub feed_kind: &'static str,
    pub environment: &'static str,
    pub model_loads_ok: u64,
    pub model_loads_failed: u64,
    /// Names of the books of the registered ML strategies, in book order.
    pub ml_strategies: Vec<String>,
    /// Settlement currency names, by `CurrencyId` (at least one slot is always kept).
    pub currencies: Vec<String>,
}

impl TelemetryShape {
    /// Index of the instrument's class in `Telemetry::ticks_by_class`; `None` for an id
    /// outside the table.
    #[inline]
    pub fn class_index(&self, instrument: crate::domain::InstrumentId) -> Option<usize> {
        self.instrument_classes
            .get(instrument.index())
            .map(|&c| c as usize)
    }
}

/// The shared state. Create once per run, share as `Arc<Telemetry>`.
#[derive(Debug)]
pub struct Telemetry {
    pub shape: TelemetryShape,
    /// Unix time the engine started, s.
    pub start_unix: f64,
    pub ticks_by_class: [Published; 3],
    pub stage_events: [Published; 4],
    /// Ticks the strategy stage dispatched to at least one strategy.
    pub dispatched_ticks: Published,
    pub signals: Published,
    pub ring_sent: [Published; 5],
    pub ring_received: [Published; 5],
    pub ring_full: [Published; 5],
    pub dlq: [AtomicU64; 5],
    /// Dead letters handed to the writer, by [`crate::dlq::Source`].
    pub dead_letters: [AtomicU64; crate::dlq::Source::COUNT],
    /// Dead letters counted but not written (full queue, write error).
    pub dead_letters_dropped: AtomicU64,
    /// Metrics endpoint connections dropped, by [`HttpDrop`].
    pub http_dropped: [AtomicU64; 4],
    /// Metrics endpoint connections being served now.
    pub http_open: AtomicU64,
    pub brokers: Vec<BrokerTelemetry>,
    feed_state: AtomicU8,
    pub preflight_ok: AtomicBool,
    pub canary: Mutex<Option<CanaryResult>>,
    /// Shadowed live venues: broker name → the shadow's report (`execution::kite::shadow`).
    pub shadow: Mutex<Vec<(String, std::sync::Arc<Mutex<serde_json::Value>>)>>,
    /// The live run's journal counters, once it is open.
    pub journal: Mutex<Option<std::sync::Arc<crate::journal::JournalShared>>>,
    pub shutting_down: AtomicBool,
    /// Someone reads this telemetry (a metrics endpoint runs). Backtests publish only then.
    pub observed: AtomicBool,
    /// Last activity per stage, unix ns (written by the validator, which sees counters move).
    pub last_activity_ns: [AtomicU64; 4],
    pub validator: Mutex<ValidatorState>,
    snapshot_generation: AtomicU64,
    /// Latency hand-off per recording thread (strategy, risk, execution).
    latency_slots: [Handoff<LatencyRecorder>; 5],
    /// ML scoring latency hand-off per ML strategy, in strategy order.
    pub inference: Vec<(String, Handoff<hdrhistogram::Histogram<u64>>)>,
}

/// A recording thread's slot for latency copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LatencySlot {
    Strategy = 0,
    Risk = 1,
    Execution = 2,
    /// A live socket feed's thread (`Stage::Feed`).
    Feed = 3,
    /// A live broker's REST thread (`Stage::TickToWire`).
    Wire = 4,
}

impl Telemetry {
    pub fn new(shape: TelemetryShape) -> Telemetry {
        let inference = shape
            .ml_strategies
            .iter()
            .map(|id| (id.clone(), Handoff::new(super::latency_histogram)))
            .collect();
        let brokers = shape
            .brokers
            .iter()
            .map(|_| BrokerTelemetry {
                pnl: (0..shape.currencies.len().max(1))
                    .map(|_| Default::default())
                    .collect(),
                ..BrokerTelemetry::default()
            })
            .collect();
        Telemetry {
            shape,
            start_unix: crate::clock::unix_now_secs(),
            ticks_by_class: Default::default(),
            stage_events: Default::default(),
            dispatched_ticks: Published::default(),
            signals: Published::default(),
            ring_sent: Default::default(),
            ring_received: Default::default(),
            ring_full: Default::default(),
            dlq: Default::default(),
            dead_letters: Default::default(),
            dead_letters_dropped: AtomicU64::new(0),
            http_dropped: Default::default(),
            http_open: AtomicU64::new(0),
            brokers,
            feed_state: AtomicU8::new(FeedState::Starting as u8),
            preflight_ok: AtomicBool::new(false),
            canary: Mutex::new(None),
            shadow: Mutex::new(Vec::new()),
            journal: Mutex::new(None),
            shutting_down: AtomicBool::new(false),
            observed: AtomicBool::new(false),
            last_activity_ns: Default::default(),
            validator: Mutex::new(ValidatorState::default()),
            snapshot_generation: AtomicU64::new(0),
            latency_slots: std::array::from_fn(|_| Handoff::new(LatencyRecorder::default)),
            inference,
        }
    }

    pub fn feed_state(&self) -> FeedState {
        FeedState::from_u8(self.feed_state.load(Ordering::Acquire))
    }

    pub fn set_feed_state(&self, state: FeedState) {
        self.feed_state.store(state as u8, Ordering::Release);
    }

    /// Messages waiting in a ring (published counters; may trail by one publish point, so
    /// the difference is capped at the ring's capacity).
    pub fn ring_depth(&self, ring: Ring) -> u64 {
        let i = ring as usize;
        self.ring_sent[i]
            .get()
            .saturating_sub(self.ring_received[i].get())
            .min(self.shape.ring_capacity as u64)
    }

    #[inline]
    pub fn count_dlq(&self, kind: DlqKind, n: u64) {
        self.dlq[kind as usize].fetch_add(n, Ordering::Relaxed);
    }

    #[inline]
    pub fn count_http_drop(&self, reason: HttpDrop) {
        self.http_dropped[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Asks every recording thread for fresh latency (and execution for PnL): each answers
    /// at its next publish point once the generation moved past the one it answered.
    pub fn request_snapshot(&self) {
        self.snapshot_generation.fetch_add(1, Ordering::Relaxed);
    }

    /// The generation a recording thread compares with the one it last answered.
    #[inline]
    pub fn snapshot_generation(&self) -> u64 {
        self.snapshot_generation.load(Ordering::Relaxed)
    }

    /// Stage thread: hands its latency recording off to observers (O(1), never waits);
    /// `own` continues empty. Returns whether it happened.
    pub fn hand_off_latency(&self, slot: LatencySlot, own: &mut LatencyRecorder) -> bool {
        self.latency_slots[slot as usize].offer(own)
    }

    /// Stage thread, at the end of a run: takes back everything handed off into `own`.
    pub fn take_back_latency(&self, slot: LatencySlot, own: &mut LatencyRecorder) {
        self.latency_slots[slot as usize].take_back(own);
    }

    /// Reads what one thread handed off, without merging (and so without allocating).
    pub fn read_latency<R>(&self, slot: LatencySlot, f: impl FnOnce(&LatencyRecorder) -> R) -> R {
        self.latency_slots[slot as usize].read(f)
    }

    /// Everything the threads handed off, merged.
    pub fn latency(&self) -> LatencyRecorder {
        let mut merged = LatencyRecorder::default();
        for slot in &self.latency_slots {
            slot.read(|handed_off| merged.merge(handed_off));
        }
        merged
    }

    /// Visits each ML strategy's handed-off scoring latency, in strategy order.
    pub fn for_each_inference(&self, mut f: impl FnMut(&str, &hdrhistogram::Histogram<u64>)) {
        for (strategy, slot) in &self.inference {
            slot.read(|h| f(strategy, h));
        }
    }

    /// Why the engine is not ready, empty when it is.
    pub fn not_ready_reasons(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if !self.preflight_ok.load(Ordering::Acquire) {
            reasons.push("preflight has not passed".to_owned());
        }
        match &*self.canary.lock() {
            None => reasons.push("canary tick not yet through".to_owned()),
            Some(c) if !c.passed => reasons.push(format!("canary failed: {}", c.detail)),
            Some(_) => {}
        }
        if self.shape.strategies_registered.iter().sum::<u64>() == 0 {
            reasons.push("no strategy registered".to_owned());
        }
        let feed = self.feed_state();
        if feed != FeedState::Live {
            reasons.push(format!("feed is {}", feed.name()));
        }
        for (name, broker) in self.shape.brokers.iter().zip(&self.brokers) {
            if broker.kill_switch.load(Ordering::Relaxed) {
                reasons.push(format!("kill switch tripped on broker '{name}'"));
            }
        }
        if self.shutting_down.load(Ordering::Acquire) {
            reasons.push("shutting down".to_owned());
        }
        reasons
    }

    /// Every shadowed venue's comparison, by broker (`None` without a shadow).
    pub fn shadow_report(&self) -> Option<serde_json::Value> {
        let shadows = self.shadow.lock();
        (!shadows.is_empty()).then(|| {
            serde_json::Value::Object(
                shadows
                    .iter()
                    .map(|(name, report)| (name.clone(), report.lock().clone()))
                    .collect(),
            )
        })
    }

    pub fn ready(&self) -> bool {
        self.not_ready_reasons().is_empty()
    }
}

/// Stores an `f64` in an `AtomicU64`.
#[inline]
pub fn store_f64(cell: &AtomicU64, v: f64) {
    cell.store(v.to_bits(), Ordering::Relaxed);
}

#[inline]
pub fn load_f64(cell: &AtomicU64) -> f64 {
    f64::from_bits(cell.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Stage;

    #[test]
    fn classifies_the_shared_data_symbols() {
        let cases = [
            ("BTCUSDT-SPOT", InstrumentClass::Crypto),
            ("ETHUSD-COINM", InstrumentClass::Crypto),
            ("ETHUSDT-USDM", InstrumentClass::Crypto),
            ("EURUSD", InstrumentClass::Fx),
            ("NZDUSD-OANDA", InstrumentClass::Fx),
            ("AUDUSD", InstrumentClass::Fx),
            ("SPY", InstrumentClass::Equity),
            ("BAC", InstrumentClass::Equity),
            ("IBM", InstrumentClass::Equity),
        ];
        for (symbol, class) in cases {
            assert_eq!(InstrumentClass::of_symbol(symbol), class, "{symbol}");
        }
    }

    #[test]
    fn readiness_lists_every_reason_until_ready() {
        let t = Telemetry::new(TelemetryShape {
            brokers: vec!["paper".into()],
            strategies_registered: vec![1],
            ..TelemetryShape::default()
        });
        assert_eq!(
            t.not_ready_reasons().len(),
            3,
            "{:?}",
            t.not_ready_reasons()
        );
        t.preflight_ok.store(true, Ordering::Release);
        *t.canary.lock() = Some(CanaryResult {
            passed: true,
            latency_ns: 1,
            instrument: "X".into(),
            approved: 1,
            checked: 1,
            detail: String::new(),
        });
        t.set_feed_state(FeedState::Live);
        assert!(t.ready(), "{:?}", t.not_ready_reasons());
        t.brokers[0].kill_switch.store(true, Ordering::Relaxed);
        assert_eq!(
            t.not_ready_reasons(),
            vec!["kill switch tripped on broker 'paper'".to_owned()]
        );
    }

    #[test]
    fn latency_is_handed_off_and_taken_back() {
        let t = Telemetry::new(TelemetryShape::default());
        let mut mine = LatencyRecorder::default();
        mine.record(Stage::Risk, 500);
        assert!(t.hand_off_latency(LatencySlot::Risk, &mut mine));
        assert_eq!(t.latency().summary(Stage::Risk).count, 1);
        mine.record(Stage::Risk, 700);
        assert!(t.hand_off_latency(LatencySlot::Risk, &mut mine));
        mine.record(Stage::Risk, 900);
        assert_eq!(t.latency().summary(Stage::Risk).count, 2);
        t.take_back_latency(LatencySlot::Risk, &mut mine);
        assert_eq!(mine.summary(Stage::Risk).count, 3);
    }
}
