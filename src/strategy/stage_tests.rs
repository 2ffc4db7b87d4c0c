//! Tests of `stage`.
use super::*;
use crate::domain::{InstrumentSpec, Price};
use crate::strategy::testing::Harness;

/// Records what it was called with; does what `plan` says on each tick.
struct Probe {
    log: std::sync::Arc<parking_lot::Mutex<Vec<String>>>,
    plan: fn(&Context<'_>, &mut Actions, u64),
    ticks: u64,
}

impl Strategy for Probe {
    fn on_tick(&mut self, ctx: &Context<'_>, _: &Tick, out: &mut Actions) {
        self.ticks += 1;
        self.log.lock().push(format!("tick {}", ctx.now().0));
        (self.plan)(ctx, out, self.ticks);
    }
    fn on_order_event(&mut self, ctx: &Context<'_>, e: &OrderEvent, out: &mut Actions) {
        self.log
            .lock()
            .push(format!("event {} {}", e.kind_name(), ctx.now().0));
        // Answer every rejection with a new order: the tick budget must stop it.
        if matches!(e.kind, OrderEventKind::Rejected { .. }) {
            let _ = out.market(0, Side::Buy, Qty(1));
        }
    }
    fn on_timer(&mut self, ctx: &Context<'_>, token: u64, out: &mut Actions) {
        self.log
            .lock()
            .push(format!("timer {token} {}", ctx.now().0));
        if token == 1 {
            // Set while timers fire, already due: waits for the next tick.
            let _ = out.set_timer(ctx.now(), 9);
        }
    }
}

fn probe(
    plan: fn(&Context<'_>, &mut Actions, u64),
) -> (Harness, std::sync::Arc<parking_lot::Mutex<Vec<String>>>) {
    let log = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let spec = InstrumentSpec::new("X", 0, 0);
    let strategy = Probe {
        log: std::sync::Arc::clone(&log),
        plan,
        ticks: 0,
    };
    (Harness::new(Box::new(strategy), &[spec]), log)
}

fn quote(ts: u64) -> Tick {
    Tick::quote(
        Nanos(ts),
        InstrumentId(0),
        Some(Price(10)),
        Some(Price(11)),
        None,
        None,
    )
}

#[test]
fn timers_fire_at_the_first_tick_at_or_after_their_deadline_in_order() {
    let (mut h, log) = probe(|_, out, n| {
        if n == 1 {
            // Out of order and with a tie: they fire by deadline, then by setting order.
            let _ = out.set_timer(Nanos(30), 3);
            let _ = out.set_timer(Nanos(20), 1);
            let _ = out.set_timer(Nanos(20), 2);
            let _ = out.set_timer(Nanos(50), 4);
            let _ = out.cancel_timer(4);
        }
    });
    for ts in [10, 19, 25, 40, 41] {
        h.tick(quote(ts));
    }
    let log = log.lock().clone();
    assert_eq!(
        log,
        [
            "tick 10",
            "tick 19",
            "timer 1 25",
            "timer 2 25",
            "tick 25",
            "timer 9 40",
            "timer 3 40",
            "tick 40",
            "tick 41"
        ]
    );
    assert_eq!(h.counters().timers_fired, 4);
}

#[test]
fn a_cancel_of_an_unknown_order_is_answered_within_the_call() {
    let (mut h, log) = probe(|_, out, n| {
        if n == 1 {
            let _ = out.cancel(ClientOrderId(77));
        }
    });
    assert!(h.tick(quote(5)).is_empty(), "nothing to send");
    assert_eq!(log.lock().clone(), ["tick 5", "event cancel_rejected 5"]);
}

#[test]
fn the_tick_budget_ends_a_retry_loop() {
    let (mut h, _) = probe(|_, out, n| {
        if n == 1 {
            let _ = out.market(0, Side::Buy, Qty(1));
        }
    });
    let mut pending: Vec<ClientOrderId> = h.tick(quote(5)).iter().map(|r| r.id).collect();
    let mut sent = pending.len();
    while let Some(id) = pending.pop() {
        let more: Vec<ClientOrderId> = h
            .reject(id, RejectReason::OrderRate)
            .iter()
            .map(|r| r.id)
            .collect();
        sent += more.len();
        pending.extend(more);
    }
    assert_eq!(
        sent, MAX_ORDER_ACTIONS_PER_TICK as usize,
        "one tick's budget"
    );
    assert!(h.counters().actions_refused >= 1, "the refusal is counted");
    // A new tick brings a new budget.
    let (mut h2, _) = probe(|_, out, _| {
        let _ = out.market(0, Side::Buy, Qty(1));
    });
    assert_eq!(h2.tick(quote(1)).len(), 1);
    assert_eq!(h2.tick(quote(2)).len(), 1);
}

#[test]
fn a_tripped_kill_switch_flattens_every_book_of_its_broker() {
    let spec = InstrumentSpec::new("X", 0, 0);
    let mut table = InstrumentTable::new();
    table.intern("X");
    let rule = |qty| {
        StrategyKind::rule(
            &crate::strategy::StrategyParams::Breakout {
                window: 1,
                price_source: crate::strategy::PriceSource::Mid,
                mode: crate::strategy::Mode::LongFlat,
            },
            &[crate::strategy::SlotSpec {
                price_precision: 0,
                qty: Qty(qty),
            }],
        )
        .expect("a rule strategy")
    };
    let books = vec![
        Book::new(
            BookState::new(BookId(0), BrokerId(0), vec![InstrumentId(0)]),
            rule(1),
        ),
        Book::new(
            BookState::new(BookId(1), BrokerId(0), vec![InstrumentId(0)]),
            rule(1),
        ),
        Book::new(
            BookState::new(BookId(2), BrokerId(1), vec![InstrumentId(0)]),
            rule(1),
        ),
    ];
    let mut stage = StrategyStage::new(books, table, vec![true, true]);
    let mut portfolio = Portfolio::new(3, 2, &[spec]);
    let market = Market::new(1);
    let mut out = Vec::new();
    let event = |book: u32, broker: u32, kind| OrderEvent {
        id: ClientOrderId(u64::from(book) + 100),
        book: BookId(book),
        broker: BrokerId(broker),
        instrument: InstrumentId(0),
        side: Side::Buy,
        correlation: 0,
        ts: Nanos(1),
        kind,
    };
    // Books 0 and 2 hold 3 each (orders placed elsewhere, accepted, filled).
    for (book, broker) in [(0, 0), (2, 1)] {
        for kind in [
            OrderEventKind::Accepted {
                venue_id: 1,
                qty: Qty(3),
                order_type: OrderType::Market,
            },
            OrderEventKind::Filled(crate::domain::Execution {
                qty: Qty(3),
                price: Price(10),
                ..Default::default()
            }),
        ] {
            let e = event(book, broker, kind);
            portfolio.on_event(&e);
            let views = Views {
                market: &market,
                portfolio: &portfolio,
            };
            stage.on_event(&e, views, &mut out);
        }
    }
    // Book 1 has an order resting, then its next order trips the switch.
    let accepted = event(
        1,
        0,
        OrderEventKind::Accepted {
            venue_id: 2,
            qty: Qty(1),
            order_type: OrderType::Limit(Price(9)),
        },
    );
    let views = Views {
        market: &market,
        portfolio: &portfolio,
    };
    stage.on_event(&accepted, views, &mut out);
    assert!(out.is_empty());
    let mut tripped = event(
        1,
        0,
        OrderEventKind::Rejected {
            reason: RejectReason::DailyLoss,
            qty: Qty(1),
        },
    );
    tripped.id = ClientOrderId(999);
    stage.on_event(&tripped, views, &mut out);
    let sent: Vec<(BookId, Side, RequestKind)> =
        out.iter().map(|r| (r.book, r.side, r.kind)).collect();
    assert_eq!(
        sent,
        vec![
            (
                BookId(0),
                Side::Sell,
                RequestKind::New {
                    qty: Qty(3),
                    order_type: OrderType::Market,
                    tif: TimeInForce::Gtc,
                    flatten: true
                }
            ),
            (BookId(1), Side::Buy, RequestKind::Cancel),
        ],
        "broker 0's position closed and its resting order cancelled; broker 1 untouched"
    );
    assert_eq!(stage.counters().flatten_orders, 1);

    // A modify can trip the switch too: broker 1's book is flattened.
    out.clear();
    let modify_tripped = event(
        2,
        1,
        OrderEventKind::ModifyRejected {
            reason: RejectReason::DailyLoss,
        },
    );
    stage.on_event(&modify_tripped, views, &mut out);
    let sent: Vec<(BookId, Side)> = out
        .iter()
        .filter(|r| matches!(r.kind, RequestKind::New { flatten: true, .. }))
        .map(|r| (r.book, r.side))
        .collect();
    assert_eq!(sent, vec![(BookId(2), Side::Sell)]);
    assert_eq!(stage.counters().flatten_orders, 2);
}
