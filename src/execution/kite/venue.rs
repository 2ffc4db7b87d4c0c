//! The Kite venue as the execution stage sees it: requests become commands for the REST
//! thread, answers and order updates become order events in `poll`.
//!
//! An order update from the ticker socket that cannot be read, or that names an order this
//! run does not know, is offered to the dead-letter sink (`kite_order_update`) with its
//! text; `offer` never waits, so the execution stage is never held up by the sink.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, unbounded};
use serde_json::Value;

use super::config::KiteVenueConfig;
use super::rest::{self, Answer, Command, Rest};
use super::shadow::Shadow;
use super::tracker::Tracker;
use super::wire::{parse_order, update_data};
use crate::dlq::{DeadLetters, Letter, Origin, Source};
use crate::domain::fixed::DecimalDisplay;
use crate::domain::{
    InstrumentSpec, Nanos, Order, OrderEvent, OrderEventKind, OrderRequest, OrderType,
    RejectReason, RequestKind, Side, Tick, TimeInForce,
};
use crate::execution::Venue as _;
use crate::execution::cost::{FeeTable, VenueCosts};

/// One instrument as Kite names it.
#[derive(Clone, Debug)]
struct Listing {
    exchange: String,
    tradingsymbol: String,
    precision: u8,
}

/// What starting a Kite venue needs.
#[derive(Debug)]
pub struct KiteVenueStart<'a> {
    pub config: &'a KiteVenueConfig,
    pub api_key: &'a str,
    pub access_token: &'a str,
    /// By `InstrumentId`; symbols are `EXCHANGE:TRADINGSYMBOL`.
    pub specs: &'a [InstrumentSpec],
    /// The venue's commission model: Kite's order API reports no charges, so fills book this
    /// estimate (the contract note is the final word).
    pub costs: &'a VenueCosts,
    /// Order updates from the ticker socket (its JSON text), when the feed is Kite's.
    pub updates: Option<Receiver<String>>,
    pub shadow: Option<Shadow>,
    pub telemetry: Option<Arc<crate::metrics::telemetry::Telemetry>>,
    /// Where order updates it cannot use go.
    pub dead_letters: Option<DeadLetters>,
}

#[derive(Debug)]
pub struct KiteVenue {
    commands: Option<Sender<Command>>,
    answers: Receiver<Answer>,
    /// Order updates from the ticker socket (its JSON text), when the feed is Kite's.
    updates: Option<Receiver<String>>,
    tracker: Tracker,
    listings: Vec<Listing>,
    /// `ap{run:08x}-`: tags are unique across restarts, at most 20 characters.
    tag_prefix: String,
    product: String,
    market_protection: i64,
    open: Arc<AtomicUsize>,
    halted: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    scratch: Vec<Answer>,
    cancel_on_stop: bool,
    /// `shadow = true`: the paper venue that gets the same orders and ticks.
    shadow: Option<Shadow>,
    dead_letters: Option<DeadLetters>,
}

impl KiteVenue {
    /// Starts the REST thread.
    ///
    /// # Errors
    /// The thread cannot be spawned.
    pub fn start(start: KiteVenueStart<'_>) -> std::io::Result<KiteVenue> {
        let KiteVenueStart {
            config,
            api_key,
            access_token,
            specs,
            costs,
            updates,
            shadow,
            telemetry,
            dead_letters,
        } = start;
        let listings = specs
            .iter()
            .map(|s| {
                let (exchange, tradingsymbol) = s.symbol.split_once(':').unwrap_or(("", &s.symbol));
                Listing {
                    exchange: exchange.to_owned(),
                    tradingsymbol: tradingsymbol.to_owned(),
                    precision: s.price_precision,
                }
            })
            .collect();
        let (command_tx, command_rx) = unbounded();
        let (answer_tx, answer_rx) = unbounded();
        let open = Arc::new(AtomicUsize::new(0));
        let halted = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let rest = Rest {
            root: config.root_url.clone(),
            authorization: format!("token {api_key}:{access_token}"),
            max_per_second: config.max_orders_per_second as usize,
            poll: Duration::from_millis(config.poll_ms),
            open: Arc::clone(&open),
            halted: Arc::clone(&halted),
            stop: Arc::clone(&stop),
            telemetry,
        };
        let thread = std::thread::Builder::new()
            .name("alpha-panda-kite-rest".into())
            .spawn(move || rest::run(&rest, &command_rx, &answer_tx))?;
        let run = (crate::clock::receive_now_ns() / 1_000_000_000) as u32;
        Ok(KiteVenue {
            commands: Some(command_tx),
            answers: answer_rx,
            updates,
            tracker: Tracker::new(FeeTable::new(costs, specs)),
            listings,
            tag_prefix: super::wire::tag_prefix(run),
            product: config.product.clone(),
            market_protection: config.market_protection,
            open,
            halted,
            stop,
            thread: Some(thread),
            scratch: Vec::new(),
            cancel_on_stop: config.cancel_on_stop,
            shadow,
            dead_letters,
        })
    }

    /// Whether Kite refused the session (trading on this venue stopped).
    pub fn halted(&self) -> bool {
        self.halted.load(Ordering::Acquire)
    }

    /// Cancels every open order (a graceful stop), then stops the REST thread once they are
    /// sent.
    pub fn shutdown(&mut self, cancel_open: bool) {
        if cancel_open {
            let mut events = Vec::new();
            self.poll(&mut events);
            let ids = self.tracker.open_ids();
            for client in &ids {
                if let (Some(kite_id), Some(commands)) =
                    (self.tracker.kite_id_of(*client), &self.commands)
                {
                    let _ = commands.send(Command::Cancel {
                        client: *client,
                        kite_id: kite_id.to_owned(),
                    });
                }
            }
            tracing::info!(target: "trading", open = ids.len(), "kite venue: cancelling open orders on stop");
        }
        self.stop.store(true, Ordering::Release);
        self.commands = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn now(&self) -> Nanos {
        Nanos(crate::clock::receive_now_ns())
    }

    fn price_text(&self, order_type: OrderType, instrument: usize) -> Option<String> {
        match order_type {
            OrderType::Market => None,
            OrderType::Limit(p) => {
                let precision = self.listings.get(instrument).map_or(2, |l| l.precision);
                Some(DecimalDisplay::fixed(p.0, precision).to_string())
            }
        }
    }

    /// The client id behind a Kite order JSON: its tag when it is ours, else its id.
    fn client_of(&self, v: &Value) -> Option<u64> {
        let by_tag = v
            .get("tag")
            .and_then(Value::as_str)
            .and_then(|t| t.strip_prefix(&self.tag_prefix))
            .and_then(|n| n.parse().ok());
        by_tag.or_else(|| {
            let id = v.get("order_id")?;
            let id = id.as_str().map_or_else(|| id.to_string(), str::to_owned);
            self.tracker.client_of(&id)
        })
    }

    /// Applies one Kite order object. `Err`: why it was of no use (unreadable, or an order
    /// this run does not know).
    fn apply_json(&mut self, v: &Value, events: &mut Vec<OrderEvent>) -> Result<(), String> {
        let client = self.client_of(v);
        let precision = client
            .and_then(|c| self.tracker.open(c))
            .and_then(|o| self.listings.get(o.instrument.index()))
            .map_or(2, |l| l.precision);
        match parse_order(v, |_| precision) {
            Ok(order) => {
                let now = self.now();
                let foreign = self.tracker.foreign;
                self.tracker.apply(&order, client, now, events);
                if self.tracker.foreign == foreign {
                    return Ok(());
                }
                Err(format!(
                    "kite order update for order {} (tag {}), which is not one of this run's orders",
                    order.order_id,
                    order.tag.as_deref().unwrap_or("none")
                ))
            }
            Err(e) => {
                let message = format!("kite venue: an order update it cannot read: {e}");
                tracing::warn!(target: "error", "{message}");
                Err(message)
            }
        }
    }

    /// An order update from the socket the venue could not use, to the dead-letter sink.
    fn dead_letter(&self, reason: String, text: String) {
        if let Some(sink) = &self.dead_letters {
            let origin = Origin::Socket {
                name: crate::dlq::KITE_TICKER.into(),
            };
            sink.offer(Letter::now(
                Source::KiteOrderUpdate,
                reason,
                origin,
                text.into_bytes(),
            ));
        }
    }
}

impl Drop for KiteVenue {
    /// The end of a run: open orders are cancelled (`cancel_on_stop`) before the REST thread
    /// stops.
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown(self.cancel_on_stop);
        }
    }
}

impl crate::execution::Venue for KiteVenue {
    fn on_tick(&mut self, tick: &Tick, _: &mut Vec<OrderEvent>) {
        if let Some(shadow) = &mut self.shadow {
            shadow.on_tick(tick);
        }
    }

    fn submit(&mut self, order: &Order, market: &Tick, events: &mut Vec<OrderEvent>) {
        self.tracker.placed(*order);
        let now = self.now();
        if let Some(shadow) = &mut self.shadow {
            shadow.submit(order, market, now.0);
        }
        let (Some(listing), false) = (self.listings.get(order.instrument.index()), self.halted())
        else {
            self.tracker
                .refused(order.id.0, RejectReason::BrokerUnavailable, now, events);
            return;
        };
        let tag = format!("{}{}", self.tag_prefix, order.id.0);
        let mut form: Vec<(&'static str, String)> = vec![
            ("exchange", listing.exchange.clone()),
            ("tradingsymbol", listing.tradingsymbol.clone()),
            (
                "transaction_type",
                match order.side {
                    Side::Buy => "BUY".into(),
                    Side::Sell => "SELL".into(),
                },
            ),
            ("quantity", order.qty.0.to_string()),
            ("product", self.product.clone()),
            (
                "validity",
                match order.tif {
                    TimeInForce::Ioc => "IOC".into(),
                    TimeInForce::Gtc => "DAY".into(),
                },
            ),
            ("tag", tag.clone()),
        ];
        match self.price_text(order.order_type, order.instrument.index()) {
            Some(price) => {
                form.push(("order_type", "LIMIT".into()));
                form.push(("price", price));
            }
            None => {
                form.push(("order_type", "MARKET".into()));
                form.push(("market_protection", self.market_protection.to_string()));
            }
        }
        self.open
            .store(self.tracker.open_count(), Ordering::Release);
        let sent = self.commands.as_ref().is_some_and(|c| {
            c.send(Command::Place {
                client: order.id.0,
                form,
                tag,
                tick_ns: order.ts.0,
            })
            .is_ok()
        });
        if !sent {
            self.tracker
                .refused(order.id.0, RejectReason::BrokerUnavailable, now, events);
        }
    }

    fn amend(&mut self, request: &OrderRequest, market: &Tick, events: &mut Vec<OrderEvent>) {
        if let Some(shadow) = &mut self.shadow {
            shadow.amend(request, market);
        }
        let client = request.id.0;
        let now = self.now();
        let kite_id = self.tracker.kite_id_of(client).map(str::to_owned);
        let (Some(order), Some(kite_id)) = (self.tracker.open(client).copied(), kite_id) else {
            let kind = match request.kind {
                RequestKind::Cancel => OrderEventKind::CancelRejected {
                    reason: RejectReason::UnknownOrder,
                },
                _ => OrderEventKind::ModifyRejected {
                    reason: RejectReason::UnknownOrder,
                },
            };
            events.push(OrderEvent {
                id: request.id,
                book: request.book,
                broker: request.broker,
                instrument: request.instrument,
                side: request.side,
                correlation: request.correlation,
                ts: now,
                kind,
            });
            return;
        };
        let command = match request.kind {
            RequestKind::Cancel => Command::Cancel { client, kite_id },
            RequestKind::Modify {
                qty, order_type, ..
            } => {
                let mut form = vec![("quantity", qty.0.to_string())];
                if let Some(price) = self.price_text(order_type, order.instrument.index()) {
                    form.push(("price", price));
                }
                Command::Modify {
                    client,
                    kite_id,
                    form,
                }
            }
            RequestKind::New { .. } => return,
        };
        if let Some(c) = &self.commands {
            let _ = c.send(command);
        }
    }

    fn poll(&mut self, events: &mut Vec<OrderEvent>) {
        let from = events.len();
        self.poll_real(events);
        if let Some(shadow) = &mut self.shadow
            && events.len() > from
        {
            shadow.observe_real(&events[from..], crate::clock::receive_now_ns());
        }
    }

    fn open_orders(&self) -> usize {
        self.tracker.open_count()
    }
}

impl KiteVenue {
    /// Kite's answers and order updates since the last call, as engine events.
    fn poll_real(&mut self, events: &mut Vec<OrderEvent>) {
        let mut answers = std::mem::take(&mut self.scratch);
        answers.extend(self.answers.try_iter());
        for answer in answers.drain(..) {
            let now = self.now();
            match answer {
                Answer::Placed { client, kite_id } => self.tracker.named(client, &kite_id),
                Answer::Refused {
                    client,
                    reason,
                    message,
                } => {
                    tracing::warn!(target: "trading", order = client, reason = reason.code(), "kite refused the order: {message}");
                    self.tracker.refused(client, reason, now, events);
                }
                Answer::ModifyRefused { client, message }
                | Answer::CancelRefused { client, message } => {
                    tracing::warn!(target: "trading", order = client, "kite refused a change: {message}");
                }
                // Every poll lists the day's orders, others' too: not dead letters.
                Answer::Orders(rows) => {
                    for row in &rows {
                        let _ = self.apply_json(row, events);
                    }
                }
            }
        }
        self.scratch = answers;
        let updates: Vec<String> = self
            .updates
            .as_ref()
            .map(|u| u.try_iter().collect())
            .unwrap_or_default();
        for text in updates {
            let applied = update_data(&text).and_then(|data| self.apply_json(&data, events));
            if let Err(reason) = applied {
                self.dead_letter(reason, text);
            }
        }
        self.open
            .store(self.tracker.open_count(), Ordering::Release);
    }
}
