//! The live Kite feed: the ticker socket's thread decodes every binary message into ticks and
//! hands them to the engine through a bounded ring; `KiteSource` is the engine's end of it.
//!
//! Contract:
//! - The socket thread never blocks on the engine: when the ring is full, the oldest market
//!   data of the instrument whose tick arrives is dropped (counted as `feed_dropped` dead
//!   letters; see `ring`). Order updates never share that ring: they go, unconditionally,
//!   to their own channel.
//! - Kite's repeats of an instrument's last trade are not trades (see `trades`): neither
//!   ticks nor recording carry them.
//! - Every (re)connect subscribes the run's tokens and sets the configured mode (JSON text
//!   messages), so a reconnect re-subscribes; ticks carry the local receive time
//!   (`ReceiveClock`, monotonic), the exchange time feeds the `feed` latency histogram.
//! - Text messages: `{"type":"order",...}` goes to the order channel; `{"type":"error",...}`
//!   is logged on the `error` channel and counted; anything else that is not a known
//!   message is counted (`feed_message` dead letters) and its first bytes logged.
//! - With a dead-letter sink, a binary message that does not decode to its end or holds
//!   packets of a length Kite does not define (`kite_frame`), and a text message that is not
//!   Kite JSON (`kite_text`), are offered to it with their bytes. `offer` never waits: a
//!   full dead-letter queue drops the letter (counted), never market data.
//! - `record` writes one CSV row per decoded packet (see `record`), flushed at least every
//!   `RECORD_FLUSH` and at stop.
//! - `KiteSource::read_chunk` waits for ticks in slices of at most `WAIT`, so a stop request
//!   is seen within that time: the socket thread closes the link, the ticks it queued are
//!   delivered, then the stream ends (0 ticks). Time spent waiting for ticks is reported as
//!   `TickSource::waited` (the market's pace, not the engine's load).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded, unbounded};

use super::ring::Ring;
use super::trades::TradeFilter;
use super::{Decoder, Recorder, TokenMap};
use crate::clock::Stopwatch;
use crate::config::{KiteFeedConfig, TickerMode};
use crate::dlq::{DeadLetters, Letter, Origin, Source};
use crate::domain::{InstrumentTable, Nanos, Tick};
use crate::feed::socket::{self, Disconnect, SocketConfig, SocketHandler};
use crate::metrics::telemetry::{DlqKind, FeedState, LatencySlot, Telemetry};
use crate::metrics::{LatencyRecorder, Stage};
use crate::runtime::{RunControl, TickSource};

/// Ticks queued between the socket thread and the engine.
pub const RING: usize = 16_384;
/// Longest wait of `read_chunk` for a tick before it looks at the stop flag.
pub const WAIT: Duration = Duration::from_millis(20);
/// Longest time a recorded row waits in the recorder's buffer.
pub const RECORD_FLUSH: Duration = Duration::from_millis(500);
/// Malformed messages whose first bytes are logged (the rest are only counted).
const LOGGED_MALFORMED: u64 = 20;

/// What the feed has seen, readable from any thread.
#[derive(Debug, Default)]
pub struct KiteCounters {
    pub connects: AtomicU64,
    pub messages: AtomicU64,
    pub packets: AtomicU64,
    pub ticks: AtomicU64,
    pub quotes: AtomicU64,
    pub trades: AtomicU64,
    /// Market data dropped because the ring to the engine was full (each a newer tick of
    /// the same instrument and kind replaced it).
    pub dropped: AtomicU64,
    /// Quote and full packets whose last trade repeated the previous packet's (not a trade).
    pub repeated_trades: AtomicU64,
    /// Packets of tokens the run did not subscribe.
    pub unknown_tokens: AtomicU64,
    /// Binary messages that could not be decoded to their end, and unknown packet lengths.
    pub decode_errors: AtomicU64,
    /// `{"type":"error"}` messages from Kite.
    pub kite_errors: AtomicU64,
    /// Text that is neither an order update nor an error.
    pub malformed: AtomicU64,
    pub order_updates: AtomicU64,
    /// Connected and subscribed right now.
    pub subscribed: AtomicBool,
}

/// What starting the feed needs besides the config section.
#[derive(Debug)]
pub struct KiteFeedStart<'a> {
    pub config: &'a KiteFeedConfig,
    pub api_key: String,
    pub access_token: String,
    pub tokens: TokenMap,
    pub instruments: &'a InstrumentTable,
    pub telemetry: Arc<Telemetry>,
    pub control: Arc<RunControl>,
    /// Where messages that cannot be used go.
    pub dead_letters: Option<DeadLetters>,
}

/// A text message of the ticker socket, as the feed tells them apart.
#[derive(Clone, Debug, PartialEq)]
pub enum TextMessage {
    /// `{"type":"order",...}`: for the venue.
    Order(serde_json::Value),
    /// `{"type":"error","data":...}`: Kite's message (the `data` as JSON text).
    Error(String),
    /// Another Kite message type (e.g. "message"): not ours to act on.
    Other(String),
    /// Not Kite JSON (not JSON, or no string `type`); why.
    NotKite(String),
}

impl TextMessage {
    /// The rule `on_text` applies.
    pub fn classify(text: &str) -> TextMessage {
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                return TextMessage::NotKite(format!("text message that is not Kite JSON: {e}"));
            }
        };
        match value.get("type").and_then(serde_json::Value::as_str) {
            Some("order") => TextMessage::Order(value),
            Some("error") => TextMessage::Error(
                value
                    .get("data")
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            ),
            Some(other) => TextMessage::Other(other.to_owned()),
            None => TextMessage::NotKite(
                "text message that is not Kite JSON: no string field 'type'".to_owned(),
            ),
        }
    }
}

/// The engine's end of the feed.
#[derive(Debug)]
pub struct KiteSource {
    ticks: Receiver<Tick>,
    orders: Receiver<String>,
    control: Arc<RunControl>,
    telemetry: Arc<Telemetry>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<FeedHandler>>,
    counters: Arc<KiteCounters>,
    /// Ticks still parked when the socket thread stopped, delivered after the ring's.
    tail: std::vec::IntoIter<Tick>,
    /// Time `read_chunk` spent waiting for market data that had not arrived.
    waited: Duration,
}

impl KiteSource {
    /// Opens the recording (if any) and starts the socket thread.
    ///
    /// # Errors
    /// The recording cannot be created, or the thread cannot be spawned.
    pub fn start(start: KiteFeedStart<'_>) -> std::io::Result<KiteSource> {
        let KiteFeedStart {
            config,
            api_key,
            access_token,
            tokens,
            instruments,
            telemetry,
            control,
            dead_letters,
        } = start;
        let recorder = config.record.as_deref().map(open_recording).transpose()?;
        let (tick_tx, tick_rx) = bounded(RING);
        let (order_tx, order_rx) = unbounded();
        let counters = Arc::new(KiteCounters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let handler = FeedHandler {
            decoder: Decoder::new(),
            subscriptions: subscriptions(&tokens, config.mode),
            tokens,
            symbols: instruments.iter().map(|(_, s)| s.symbol.clone()).collect(),
            ring: Ring::new(tick_tx, instruments.len()),
            trades: TradeFilter::new(instruments.len()),
            orders: order_tx,
            recorder,
            last_flush: Stopwatch::start(),
            latency: LatencyRecorder::default(),
            latency_generation: 0,
            telemetry: Arc::clone(&telemetry),
            counters: Arc::clone(&counters),
            dead_letters,
        };
        let url = format!(
            "{}{}api_key={api_key}&access_token={access_token}",
            config.url,
            if config.url.contains('?') { "&" } else { "?" }
        );
        let socket = SocketConfig {
            url,
            dead_after: Duration::from_secs(5),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            name: "alpha-panda-kite-feed".into(),
        };
        let thread = socket::spawn(socket, handler, Arc::clone(&stop))?;
        Ok(KiteSource {
            ticks: tick_rx,
            orders: order_rx,
            control,
            telemetry,
            stop,
            thread: Some(thread),
            counters,
            tail: Vec::new().into_iter(),
            waited: Duration::ZERO,
        })
    }

    pub fn counters(&self) -> &Arc<KiteCounters> {
        &self.counters
    }

    /// Order updates from the ticker socket (raw JSON text), for the Kite venue.
    pub fn order_updates(&self) -> Receiver<String> {
        self.orders.clone()
    }

    /// Stops the socket thread and flushes the recording; idempotent.
    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take()
            && let Ok(mut handler) = thread.join()
        {
            self.tail = handler.finish().into_iter();
        }
    }
}

impl Drop for KiteSource {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl TickSource for KiteSource {
    fn read_chunk(&mut self, buf: &mut Vec<Tick>, max: usize) -> Result<usize, crate::Error> {
        buf.clear();
        loop {
            if self.control.stop_requested() {
                self.telemetry.shutting_down.store(true, Ordering::Release);
                // The socket thread stops first; what it queued is still delivered, so the
                // engine processes exactly the packets the recording holds.
                self.shutdown();
                while buf.len() < max {
                    match self.ticks.try_recv() {
                        Ok(tick) => buf.push(tick),
                        Err(_) => break,
                    }
                }
                buf.extend(self.tail.by_ref().take(max - buf.len()));
                return Ok(buf.len());
            }
            let watch = Stopwatch::start();
            let got = self.ticks.recv_timeout(WAIT);
            self.waited += watch.elapsed();
            match got {
                Ok(tick) => {
                    buf.push(tick);
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
        while buf.len() < max {
            match self.ticks.try_recv() {
                Ok(tick) => buf.push(tick),
                Err(_) => break,
            }
        }
        Ok(buf.len())
    }

    fn waited(&self) -> Duration {
        self.waited
    }
}

fn open_recording(path: &Path) -> std::io::Result<Recorder<File>> {
    Recorder::create(path).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot create the recording {}: {e}", path.display()),
        )
    })
}

/// Subscribe, then set the mode, for every token (Kite starts a token in `quote`).
fn subscriptions(tokens: &TokenMap, mode: TickerMode) -> Vec<String> {
    let list = tokens
        .tokens()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(",");
    vec![
        format!("{{\"a\":\"subscribe\",\"v\":[{list}]}}"),
        format!("{{\"a\":\"mode\",\"v\":[\"{}\",[{list}]]}}", mode.name()),
    ]
}

/// The socket thread's state.
struct FeedHandler {
    decoder: Decoder,
    subscriptions: Vec<String>,
    tokens: TokenMap,
    /// Engine symbol per `InstrumentId`, for the recording.
    symbols: Vec<String>,
    ring: Ring,
    trades: TradeFilter,
    orders: Sender<String>,
    recorder: Option<Recorder<File>>,
    last_flush: Stopwatch,
    latency: LatencyRecorder,
    latency_generation: u64,
    telemetry: Arc<Telemetry>,
    counters: Arc<KiteCounters>,
    dead_letters: Option<DeadLetters>,
}

impl FeedHandler {
    fn malformed(&mut self, source: Source, what: String, bytes: &[u8]) {
        let n = self.counters.malformed.fetch_add(1, Ordering::Relaxed) + 1;
        self.telemetry.count_dlq(DlqKind::FeedMessage, 1);
        if n <= LOGGED_MALFORMED {
            let head = &bytes[..bytes.len().min(64)];
            tracing::warn!(target: "error", count = n, len = bytes.len(), head = %String::from_utf8_lossy(head), "kite feed: {what}");
        }
        self.dead_letter(source, what, bytes);
    }

    /// Offers a message the feed cannot use to the dead-letter sink (never waits).
    fn dead_letter(&self, source: Source, reason: String, bytes: &[u8]) {
        if let Some(sink) = &self.dead_letters {
            let origin = Origin::Socket {
                name: crate::dlq::KITE_TICKER.into(),
            };
            sink.offer(Letter::now(source, reason, origin, bytes.to_vec()));
        }
    }

    fn flush_recording(&mut self, force: bool) {
        if let Some(recorder) = &mut self.recorder
            && (force || self.last_flush.elapsed() >= RECORD_FLUSH)
        {
            if let Err(e) = recorder.flush() {
                tracing::error!(target: "error", "kite feed: the recording stopped: {e}");
                self.recorder = None;
            }
            self.last_flush = Stopwatch::start();
        }
    }

    /// At stop: the recording flushed, every latency recorded handed to telemetry (folded
    /// first, so the slot is free for the last interval). Returns the ticks still parked.
    fn finish(&mut self) -> Vec<Tick> {
        self.flush_recording(true);
        self.telemetry.read_latency(LatencySlot::Feed, |_| ());
        let _ = self
            .telemetry
            .hand_off_latency(LatencySlot::Feed, &mut self.latency);
        self.telemetry.read_latency(LatencySlot::Feed, |_| ());
        self.ring.take_parked()
    }
}

impl SocketHandler for FeedHandler {
    fn on_connected(&mut self) -> Vec<String> {
        let n = self.counters.connects.fetch_add(1, Ordering::Relaxed) + 1;
        self.counters.subscribed.store(true, Ordering::Release);
        self.telemetry.set_feed_state(FeedState::Live);
        tracing::info!(target: "market_data", connects = n, tokens = self.tokens.len(), "kite ticker connected; subscribing");
        self.subscriptions.clone()
    }

    fn on_binary(&mut self, bytes: &[u8]) {
        let received = Nanos(crate::clock::receive_now_ns());
        if self.ring.waiting() > 0 {
            self.ring.drain();
        }
        self.counters.messages.fetch_add(1, Ordering::Relaxed);
        let errors_before = self.decoder.stats().unknown_lengths;
        let mut failed = None;
        let mut decoded = 0u64;
        let Self {
            decoder,
            tokens,
            symbols,
            ring,
            trades,
            recorder,
            latency,
            telemetry,
            counters,
            ..
        } = self;
        for packet in decoder.packets(bytes) {
            let packet = match packet {
                Ok(packet) => packet,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            decoded += 1;
            let Some(id) = tokens.get(packet.token) else {
                counters.unknown_tokens.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let mut packet = packet;
            if trades.dedup(id, &mut packet) {
                counters.repeated_trades.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(r) = recorder
                && let Some(symbol) = symbols.get(id.index())
                && let Err(e) = r.record(received, symbol, &packet)
            {
                tracing::error!(target: "error", "kite feed: the recording stopped: {e}");
                *recorder = None;
            }
            let Some(ticks) = packet.to_ticks(id, received) else {
                continue;
            };
            if let Some(exchange) = ticks.exchange_ts {
                latency.record(Stage::Feed, received.0.saturating_sub(exchange.0));
            }
            for tick in [Some(ticks.first), ticks.second].into_iter().flatten() {
                counters.ticks.fetch_add(1, Ordering::Relaxed);
                let kind = if tick.is_trade() {
                    &counters.trades
                } else {
                    &counters.quotes
                };
                kind.fetch_add(1, Ordering::Relaxed);
                let dropped = ring.push(tick);
                if dropped > 0 {
                    counters.dropped.fetch_add(dropped, Ordering::Relaxed);
                    telemetry.count_dlq(DlqKind::FeedDropped, dropped);
                }
            }
        }
        self.counters.packets.fetch_add(decoded, Ordering::Relaxed);
        let unknown = self.decoder.stats().unknown_lengths - errors_before;
        if unknown > 0 {
            self.counters
                .decode_errors
                .fetch_add(unknown, Ordering::Relaxed);
        }
        if let Some(e) = failed {
            self.counters.decode_errors.fetch_add(1, Ordering::Relaxed);
            self.malformed(Source::KiteFrame, e.to_string(), bytes);
        } else if unknown > 0 {
            let reason = crate::dlq::replay::unknown_lengths_reason(bytes.len(), unknown);
            self.dead_letter(Source::KiteFrame, reason, bytes);
        }
        let requested = self.telemetry.snapshot_generation();
        if requested != self.latency_generation
            && self
                .telemetry
                .hand_off_latency(LatencySlot::Feed, &mut self.latency)
        {
            self.latency_generation = requested;
        }
        self.flush_recording(false);
    }

    fn on_text(&mut self, text: &str) {
        self.counters.messages.fetch_add(1, Ordering::Relaxed);
        match TextMessage::classify(text) {
            TextMessage::Order(_) => {
                self.counters.order_updates.fetch_add(1, Ordering::Relaxed);
                let _ = self.orders.send(text.to_owned());
            }
            TextMessage::Error(message) => {
                let n = self.counters.kite_errors.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::error!(target: "error", count = n, "kite ticker error: {message}");
            }
            // Kite sends other informational messages (e.g. "message"): not ours to act on.
            TextMessage::Other(_) => {}
            TextMessage::NotKite(why) => self.malformed(Source::KiteText, why, text.as_bytes()),
        }
    }

    fn on_idle(&mut self) {
        // Parked ticks must not wait for the next message once the engine has caught up.
        if self.ring.waiting() > 0 {
            self.ring.drain();
        }
        self.flush_recording(false);
    }

    fn on_disconnected(&mut self, why: &Disconnect, retry_in: Duration) {
        self.counters.subscribed.store(false, Ordering::Release);
        // Not ready while the link is down (`/health/ready` says "feed is disconnected").
        if !self.telemetry.shutting_down.load(Ordering::Acquire) {
            self.telemetry.set_feed_state(FeedState::Disconnected);
        }
        self.flush_recording(true);
        match why {
            Disconnect::Refused(status @ (401 | 403)) => tracing::error!(
                target: "error",
                status,
                "kite ticker refused the access token: log in again (alpha-panda kite session) and restart; retrying in {retry_in:?}"
            ),
            other => tracing::warn!(
                target: "market_data",
                "kite ticker disconnected ({other:?}); reconnecting in {retry_in:?}"
            ),
        }
    }
}
