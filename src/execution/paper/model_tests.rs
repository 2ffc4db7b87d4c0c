//! Paper venue tests of the latency and queue models (the default rules are in `tests`).

use super::tests::{order, quote, specs, summary};
use super::*;
use crate::domain::{ClientOrderId, InstrumentId};

fn book(ts: u64, bid: i64, bid_size: i64, ask: i64, ask_size: i64) -> Tick {
    Tick::quote(
        Nanos(ts),
        InstrumentId(0),
        Some(Price(bid)),
        Some(Price(ask)),
        Some(Qty(bid_size)),
        Some(Qty(ask_size)),
    )
}

fn trade(ts: u64, price: i64, size: i64) -> Tick {
    Tick::trade(Nanos(ts), InstrumentId(0), Price(price), Some(Qty(size)))
}

/// A quote received `delay` ns after the exchange stamped it.
fn late(mut tick: Tick, delay: u64) -> Tick {
    tick.local_ts = Nanos(tick.ts.0 + delay);
    tick
}

fn limit(id: u64, side: Side, ts: u64, price: i64, qty: i64) -> Order {
    let mut o = order(id, side, ts, OrderType::Limit(Price(price)));
    o.qty = Qty(qty);
    o
}

fn modelled(models: PaperModels, fill_size: FillSize) -> PaperVenue {
    PaperVenue::with_models(models, &VenueCosts::default(), fill_size, &specs())
}

/// `(order id, qty, price, liquidity)` of each fill.
fn fills(events: &[OrderEvent]) -> Vec<(u64, i64, i64, Liquidity)> {
    events
        .iter()
        .filter_map(|e| {
            e.execution()
                .map(|x| (e.id.0, x.qty.0, x.price.0, x.liquidity))
        })
        .collect()
}

#[test]
fn default_config_builds_the_default_models() {
    let config = crate::config::EngineConfig::default();
    let broker = &config.brokers[0];
    assert_eq!(
        PaperModels::from_config(broker),
        PaperModels::constant(broker.latency_ns),
        "no new keys: one constant latency, no market-data latency, no queue"
    );
}

#[test]
fn arrival_time_table() {
    struct Case {
        name: &'static str,
        md: Latency,
        entry: u64,
        /// The tick before the order: exchange ts 10, received `data_delay` later.
        data_delay: u64,
        /// Fill time on ticks at 11..=30.
        fill_ts: u64,
    }
    let cases = [
        Case {
            name: "entry latency only",
            md: Latency::Constant(0),
            entry: 5,
            data_delay: 3,
            fill_ts: 15,
        },
        Case {
            name: "md from data adds local_ts - ts of the last tick",
            md: Latency::FromData,
            entry: 5,
            data_delay: 3,
            fill_ts: 18,
        },
        Case {
            name: "md constant",
            md: Latency::Constant(4),
            entry: 0,
            data_delay: 3,
            fill_ts: 14,
        },
        Case {
            name: "md from data, one clock: no delay, fills at once",
            md: Latency::FromData,
            entry: 0,
            data_delay: 0,
            fill_ts: 10,
        },
        Case {
            name: "md from data only",
            md: Latency::FromData,
            entry: 0,
            data_delay: 7,
            fill_ts: 17,
        },
    ];
    for c in cases {
        let models = PaperModels {
            latency: Latency::Constant(c.entry),
            md_latency: c.md,
            queue: QueueModel::None,
        };
        let mut venue = modelled(models, FillSize::Order);
        let mut events = Vec::new();
        let signal = late(quote(10, 100, 102), c.data_delay);
        venue.on_tick(&signal, &mut events);
        venue.submit(
            &order(1, Side::Buy, 10, OrderType::Market),
            &signal,
            &mut events,
        );
        for ts in 11..=30 {
            // Later ticks' own delays do not matter: the draw was at submission.
            venue.on_tick(&late(quote(ts, 100, 102), 100), &mut events);
        }
        let filled: Vec<u64> = events
            .iter()
            .filter(|e| e.execution().is_some())
            .map(|e| e.ts.0)
            .collect();
        assert_eq!(filled, [c.fill_ts], "{}", c.name);
    }
}

#[test]
fn orders_with_different_delays_are_served_in_arrival_order() {
    let models = PaperModels {
        md_latency: Latency::FromData,
        ..PaperModels::constant(0)
    };
    let mut venue = modelled(models, FillSize::Touch);
    let mut events = Vec::new();
    // Order 1 sees data 10 ns late (arrives at 20), order 2 data 2 ns late (arrives at 13).
    for (id, tick) in [
        (1, late(quote(10, 100, 102), 10)),
        (2, late(quote(11, 100, 102), 2)),
    ] {
        venue.on_tick(&tick, &mut events);
        venue.submit(
            &order(id, Side::Buy, tick.ts.0, OrderType::Market),
            &tick,
            &mut events,
        );
    }
    // 3 at the ask: order 2 arrived first and takes 2, order 1 the last 1.
    venue.on_tick(&quote(25, 100, 102), &mut events);
    let taken: Vec<(u64, i64)> = fills(&events).iter().map(|f| (f.0, f.1)).collect();
    assert_eq!(taken, [(2, 2), (1, 1)]);
}

#[test]
fn drawn_latencies_repeat_per_seed_through_the_venue() {
    let run = |seed: u64| {
        let table = latency::LatencyTable::Samples((1..=20).collect());
        let models = PaperModels {
            latency: Latency::Sampled(latency::Sampler::new(table, seed)),
            ..PaperModels::default()
        };
        let mut venue = modelled(models, FillSize::Order);
        let mut events = Vec::new();
        let t = quote(10, 100, 102);
        venue.on_tick(&t, &mut events);
        for id in 0..16 {
            venue.submit(
                &order(id, Side::Buy, 10, OrderType::Market),
                &t,
                &mut events,
            );
        }
        for ts in 11..=40 {
            venue.on_tick(&quote(ts, 100, 102), &mut events);
        }
        summary(&events)
    };
    let cases = [("same seed", 42, 42, true), ("other seed", 42, 7, false)];
    for (name, a, b, same) in cases {
        assert_eq!(run(a) == run(b), same, "{name}");
    }
    let filled = run(42).iter().filter(|e| e.1 == "filled").count();
    assert_eq!(filled, 16, "every order fills once it arrives");
}

#[test]
fn queue_rules_table() {
    use Liquidity::{Maker, Taker};
    struct Case {
        name: &'static str,
        queue: QueueModel,
        latency: u64,
        fill_size: FillSize,
        orders: Vec<Order>,
        /// The quote the orders are submitted at (the venue saw it first).
        at: Tick,
        ticks: Vec<Tick>,
        fills: Vec<(u64, i64, i64, Liquidity)>,
        open: usize,
    }
    let conservative = |name, orders, at, ticks, fills, open| Case {
        name,
        queue: QueueModel::Conservative,
        latency: 0,
        fill_size: FillSize::Order,
        orders,
        at,
        ticks,
        fills,
        open,
    };
    let cases = [
        conservative(
            "worked example of docs/FILL_MODELS.md",
            vec![limit(1, Side::Buy, 10, 100, 5)],
            book(10, 100, 8, 101, 4),
            vec![
                trade(11, 100, 3),
                book(12, 100, 4, 101, 4),
                book(13, 100, 10, 101, 4),
                trade(14, 100, 6),
                trade(15, 100, 1),
                trade(16, 99, 1),
            ],
            vec![(1, 2, 100, Maker), (1, 1, 100, Maker), (1, 2, 100, Maker)],
            0,
        ),
        conservative(
            "joins behind the displayed size; trades deplete it first",
            vec![limit(1, Side::Sell, 10, 101, 2)],
            book(10, 100, 1, 101, 3),
            vec![trade(11, 101, 3), trade(12, 101, 1)],
            vec![(1, 1, 101, Maker)],
            1,
        ),
        conservative(
            "a smaller size shown caps the queue",
            vec![limit(1, Side::Buy, 10, 100, 2)],
            book(10, 100, 8, 101, 4),
            vec![book(11, 100, 1, 101, 4), trade(12, 100, 2)],
            vec![(1, 1, 100, Maker)],
            1,
        ),
        conservative(
            "a larger size shown never raises it",
            vec![limit(1, Side::Buy, 10, 100, 2)],
            book(10, 100, 1, 101, 4),
            vec![book(11, 100, 9, 101, 4), trade(12, 100, 3)],
            vec![(1, 2, 100, Maker)],
            0,
        ),
        conservative(
            "better than the touch: nothing ahead",
            vec![limit(1, Side::Buy, 10, 101, 2)],
            book(10, 100, 5, 102, 5),
            vec![trade(11, 101, 5)],
            vec![(1, 2, 101, Maker)],
            0,
        ),
        conservative(
            "worse than the touch: unknown until the touch reaches it",
            vec![limit(1, Side::Buy, 10, 99, 2)],
            book(10, 100, 3, 101, 3),
            vec![trade(11, 99, 5), book(12, 99, 4, 100, 1), trade(13, 99, 5)],
            vec![(1, 1, 99, Maker)],
            1,
        ),
        conservative(
            "a trade-through fills all, whatever the queue",
            vec![limit(1, Side::Sell, 10, 101, 2)],
            book(10, 100, 5, 101, 9),
            vec![book(11, 102, 1, 103, 1)],
            vec![(1, 2, 101, Maker)],
            0,
        ),
        conservative(
            "the ask reaching a buy is not a fill: its bid level is empty, a trade fills",
            vec![limit(1, Side::Buy, 10, 100, 2)],
            book(10, 100, 5, 101, 5),
            vec![book(11, 99, 5, 100, 5), trade(12, 100, 2)],
            vec![(1, 2, 100, Maker)],
            0,
        ),
        Case {
            name: "without a queue the ask reaching a buy fills it",
            queue: QueueModel::None,
            ..conservative(
                "",
                vec![limit(1, Side::Buy, 10, 100, 2)],
                book(10, 100, 5, 101, 5),
                vec![book(11, 99, 5, 100, 5)],
                vec![(1, 2, 100, Maker)],
                0,
            )
        },
        conservative(
            "our orders share a trade at their price, FIFO",
            vec![
                limit(1, Side::Buy, 10, 101, 2),
                limit(2, Side::Buy, 10, 101, 2),
            ],
            book(10, 100, 5, 102, 5),
            vec![trade(11, 101, 3)],
            vec![(1, 2, 101, Maker), (2, 1, 101, Maker)],
            1,
        ),
        Case {
            name: "arriving on its tick: takes the touch as taker, the rest joins",
            fill_size: FillSize::Touch,
            ..conservative(
                "",
                vec![limit(1, Side::Buy, 10, 101, 5)],
                book(10, 100, 2, 101, 3),
                vec![trade(11, 101, 1)],
                vec![(1, 3, 101, Taker), (1, 1, 101, Maker)],
                1,
            )
        },
        Case {
            name: "arriving between ticks: joins the last quote, then this tick's step",
            latency: 5,
            ..conservative(
                "",
                vec![limit(1, Side::Buy, 10, 100, 2)],
                book(10, 100, 6, 101, 1),
                vec![trade(20, 100, 7)],
                vec![(1, 1, 100, Maker)],
                1,
            )
        },
        Case {
            name: "arriving on its tick with latency: joins this tick's book",
            latency: 5,
            ..conservative(
                "",
                vec![limit(1, Side::Buy, 10, 100, 2)],
                book(10, 100, 6, 101, 1),
                vec![book(15, 100, 1, 101, 1), trade(16, 100, 2)],
                vec![(1, 1, 100, Maker)],
                1,
            )
        },
        conservative(
            "IOC never queues",
            vec![{
                let mut ioc = limit(1, Side::Buy, 10, 99, 2);
                ioc.tif = TimeInForce::Ioc;
                ioc
            }],
            book(10, 100, 6, 101, 1),
            vec![trade(11, 99, 9)],
            vec![],
            0,
        ),
    ];
    for c in cases {
        let models = PaperModels {
            queue: c.queue,
            ..PaperModels::constant(c.latency)
        };
        let mut venue = modelled(models, c.fill_size);
        let mut events = Vec::new();
        venue.on_tick(&c.at, &mut events);
        for o in &c.orders {
            venue.submit(o, &c.at, &mut events);
        }
        for t in &c.ticks {
            venue.on_tick(t, &mut events);
        }
        assert_eq!(fills(&events), c.fills, "{}", c.name);
        assert_eq!(venue.open_orders(), c.open, "{}: open orders", c.name);
    }
}

#[test]
fn a_modify_joins_the_queue_again() {
    let models = PaperModels {
        queue: QueueModel::Conservative,
        ..PaperModels::constant(0)
    };
    let mut venue = modelled(models, FillSize::Order);
    let mut events = Vec::new();
    let at = book(10, 100, 1, 101, 1);
    venue.on_tick(&at, &mut events);
    venue.submit(&limit(1, Side::Buy, 10, 100, 2), &at, &mut events);
    // Front of the queue after a trade of 1; the modify loses that place behind 5.
    venue.on_tick(&trade(11, 100, 1), &mut events);
    let market = book(12, 100, 5, 101, 1);
    venue.on_tick(&market, &mut events);
    venue.amend(
        &OrderRequest {
            id: ClientOrderId(1),
            book: Default::default(),
            broker: Default::default(),
            instrument: InstrumentId(0),
            side: Side::Buy,
            correlation: 0,
            ts: Nanos(12),
            kind: RequestKind::Modify {
                qty: Qty(3),
                order_type: OrderType::Limit(Price(100)),
                filled: Qty(0),
                leaves: Qty(2),
            },
        },
        &market,
        &mut events,
    );
    venue.on_tick(&trade(13, 100, 6), &mut events);
    assert_eq!(fills(&events), [(1, 1, 100, Liquidity::Maker)]);
}
