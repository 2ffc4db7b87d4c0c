//! Shadow simulation: a paper venue beside the Kite venue gets the same orders and the same
//! market data, and what it would have filled is compared with what Kite filled, per
//! strategy book. This is how far a backtest's fills can be trusted on this market.
//!
//! Per book: orders sent; orders with any fill, real and simulated (fill rate); for orders
//! both filled, the real average price minus the simulated one in ticks, signed so that
//! positive is worse for the strategy (paid more on a buy, got less on a sell); and the time
//! from the order to its first fill, real and simulated. The simulated venue's events never
//! reach the engine. Updated on order events only, never per tick; observers read a JSON
//! copy through a mutex the venue only `try_lock`s.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::domain::{Order, OrderEvent, OrderEventKind, OrderRequest, Side, Tick};
use crate::execution::PaperVenue;

/// One order's fills, real and simulated.
#[derive(Clone, Copy, Debug, Default)]
struct Leg {
    qty: i64,
    /// Σ qty × price, raw.
    notional: i128,
    first_fill_ns: Option<u64>,
}

impl Leg {
    fn add(&mut self, qty: i64, price: i64, ts: u64) {
        self.qty += qty;
        self.notional += i128::from(qty) * i128::from(price);
        self.first_fill_ns.get_or_insert(ts);
    }

    fn average(&self) -> Option<f64> {
        (self.qty > 0).then(|| self.notional as f64 / self.qty as f64)
    }
}

#[derive(Clone, Copy, Debug)]
struct Tracked {
    book: u32,
    side: Side,
    sent_ns: u64,
    tick: i64,
    real: Leg,
    sim: Leg,
    /// Counted in the price difference (once per order).
    settled: bool,
}

/// Per-book totals.
#[derive(Clone, Debug, Default)]
struct BookStats {
    orders: u64,
    real_filled: u64,
    sim_filled: u64,
    both_filled: u64,
    /// Σ price difference in ticks over `both_filled`.
    price_diff_ticks: f64,
    real_latency_ns: Vec<u64>,
    sim_latency_ns: Vec<u64>,
}

#[derive(Debug)]
pub struct Shadow {
    venue: PaperVenue,
    events: Vec<OrderEvent>,
    orders: HashMap<u64, Tracked>,
    books: Vec<BookStats>,
    /// Book names, by `BookId`.
    names: Vec<String>,
    /// Tick size per instrument, raw.
    ticks: Vec<i64>,
    report: Arc<Mutex<Value>>,
}

impl Shadow {
    pub fn new(venue: PaperVenue, names: Vec<String>, ticks: Vec<i64>) -> Shadow {
        Shadow {
            venue,
            events: Vec::with_capacity(64),
            orders: HashMap::new(),
            books: vec![BookStats::default(); names.len()],
            names,
            ticks,
            report: Arc::new(Mutex::new(Value::Null)),
        }
    }

    /// The comparison as JSON (per book), for the summary and `/health/detailed`.
    pub fn report(&self) -> Arc<Mutex<Value>> {
        Arc::clone(&self.report)
    }

    pub fn on_tick(&mut self, tick: &Tick) {
        self.events.clear();
        self.venue.on_tick(tick, &mut self.events);
        if !self.events.is_empty() {
            self.take_simulated();
        }
    }

    pub fn submit(&mut self, order: &Order, market: &Tick, now_ns: u64) {
        let tick = self
            .ticks
            .get(order.instrument.index())
            .copied()
            .unwrap_or(1)
            .max(1);
        self.orders.insert(
            order.id.0,
            Tracked {
                book: order.book.0,
                side: order.side,
                sent_ns: now_ns,
                tick,
                real: Leg::default(),
                sim: Leg::default(),
                settled: false,
            },
        );
        if let Some(b) = self.books.get_mut(order.book.0 as usize) {
            b.orders += 1;
        }
        self.events.clear();
        self.venue.submit(order, market, &mut self.events);
        self.take_simulated();
    }

    pub fn amend(&mut self, request: &OrderRequest, market: &Tick) {
        self.events.clear();
        self.venue.amend(request, market, &mut self.events);
        self.take_simulated();
    }

    /// The real venue's events, as the engine gets them; `now_ns` stamps their arrival.
    pub fn observe_real(&mut self, events: &[OrderEvent], now_ns: u64) {
        let mut changed = false;
        for e in events {
            if let Some(x) = e.execution()
                && let Some(t) = self.orders.get_mut(&e.id.0)
            {
                let first = t.real.qty == 0;
                t.real.add(x.qty.0, x.price.0, now_ns);
                if first && let Some(b) = self.books.get_mut(t.book as usize) {
                    b.real_filled += 1;
                    b.real_latency_ns.push(now_ns.saturating_sub(t.sent_ns));
                }
                changed |= settle(&mut self.books, t);
            }
        }
        if changed || !events.is_empty() {
            self.publish();
        }
    }

    fn take_simulated(&mut self) {
        let mut changed = false;
        for e in &self.events {
            let (OrderEventKind::PartiallyFilled(x) | OrderEventKind::Filled(x)) = e.kind else {
                continue;
            };
            let Some(t) = self.orders.get_mut(&e.id.0) else {
                continue;
            };
            let first = t.sim.qty == 0;
            // Simulated time is event time: the fill's tick minus the order's tick.
            t.sim.add(x.qty.0, x.price.0, e.ts.0);
            if first && let Some(b) = self.books.get_mut(t.book as usize) {
                b.sim_filled += 1;
                b.sim_latency_ns.push(e.ts.0.saturating_sub(t.sent_ns));
            }
            changed |= settle(&mut self.books, t);
        }
        if changed {
            self.publish();
        }
    }

    fn publish(&self) {
        let books: serde_json::Map<String, Value> = self
            .books
            .iter()
            .zip(&self.names)
            .map(|(b, name)| {
                let rate = |n: u64| if b.orders == 0 { Value::Null } else { json!(n as f64 / b.orders as f64) };
                let median = |v: &[u64]| {
                    let mut v = v.to_vec();
                    v.sort_unstable();
                    v.get(v.len() / 2).map_or(Value::Null, |x| json!(x))
                };
                (
                    name.clone(),
                    json!({
                        "orders": b.orders,
                        "fill_rate_real": rate(b.real_filled),
                        "fill_rate_sim": rate(b.sim_filled),
                        "both_filled": b.both_filled,
                        "price_diff_ticks_mean": if b.both_filled == 0 { Value::Null } else { json!(b.price_diff_ticks / b.both_filled as f64) },
                        "latency_to_fill_ns_p50_real": median(&b.real_latency_ns),
                        "latency_to_fill_ns_p50_sim": median(&b.sim_latency_ns),
                    }),
                )
            })
            .collect();
        if let Some(mut report) = self.report.try_lock() {
            *report = Value::Object(books);
        }
    }
}

/// Once both legs of an order have filled something, its price difference is counted (once).
fn settle(books: &mut [BookStats], t: &mut Tracked) -> bool {
    let (Some(real), Some(sim)) = (t.real.average(), t.sim.average()) else {
        return false;
    };
    if t.settled {
        return false;
    }
    let Some(b) = books.get_mut(t.book as usize) else {
        return false;
    };
    let sign = match t.side {
        Side::Buy => 1.0,
        Side::Sell => -1.0,
    };
    b.both_filled += 1;
    b.price_diff_ticks += sign * (real - sim) / t.tick as f64;
    t.settled = true;
    true
}
