//! Paper venue tests: the fill rules with the default models, then latency and queue models.

use super::*;
use crate::domain::Decimal;
use crate::domain::{ClientOrderId, InstrumentId, Nanos};
use crate::execution::cost::{Bps, Slippage};

pub(super) fn specs() -> Vec<InstrumentSpec> {
    vec![InstrumentSpec::new("X", 2, 0)]
}

pub(super) fn quote(ts: u64, bid: i64, ask: i64) -> Tick {
    Tick::quote(
        Nanos(ts),
        InstrumentId(0),
        Some(Price(bid)),
        Some(Price(ask)),
        Some(Qty(3)),
        Some(Qty(3)),
    )
}

pub(super) fn order(id: u64, side: Side, ts: u64, order_type: OrderType) -> Order {
    Order {
        id: ClientOrderId(id),
        ts: Nanos(ts),
        side,
        qty: Qty(2),
        order_type,
        ..Order::default()
    }
}

/// Submits as the engine does: the venue has seen a tick at the order's time (the tick that
/// caused it, of whatever instrument).
fn submit_now(venue: &mut PaperVenue, order: &Order, market: &Tick, events: &mut Vec<OrderEvent>) {
    venue.advance_to(order.ts);
    venue.submit(order, market, events);
}

fn venue(latency: u64, fill_size: FillSize) -> PaperVenue {
    PaperVenue::new(latency, &VenueCosts::default(), fill_size, &specs())
}

/// `(order id, event kind name, ts, price of a fill)` of each event.
pub(super) fn summary(events: &[OrderEvent]) -> Vec<(u64, &'static str, u64, i64)> {
    events
        .iter()
        .map(|e| {
            let price = e.execution().map_or(0, |x| x.price.0);
            (e.id.0, e.kind_name(), e.ts.0, price)
        })
        .collect()
}

#[test]
fn fill_rules_table() {
    let market = OrderType::Market;
    /// (name, latency, submissions at a tick, later ticks, expected fill events)
    type Case = (
        &'static str,
        u64,
        Vec<(Order, Tick)>,
        Vec<Tick>,
        Vec<(u64, u64, i64)>,
    );
    let cases: Vec<Case> = vec![
        (
            "zero latency fills on the signal tick at the ask",
            0,
            vec![(order(1, Side::Buy, 10, market), quote(10, 100, 102))],
            vec![],
            vec![(1, 10, 102)],
        ),
        (
            "zero latency against an older quote fills at the order's time",
            0,
            vec![(order(1, Side::Buy, 12, market), quote(10, 100, 102))],
            vec![],
            vec![(1, 12, 102)],
        ),
        (
            "sell at the bid",
            0,
            vec![(order(1, Side::Sell, 10, market), quote(10, 100, 102))],
            vec![],
            vec![(1, 10, 100)],
        ),
        (
            "latency waits for ts >= signal + latency",
            5,
            vec![(order(1, Side::Buy, 10, market), quote(10, 100, 102))],
            vec![quote(14, 100, 103), quote(15, 101, 104)],
            vec![(1, 15, 104)],
        ),
        (
            "pending orders fill FIFO on one tick",
            5,
            vec![
                (order(1, Side::Buy, 10, market), quote(10, 100, 102)),
                (order(2, Side::Sell, 10, market), quote(10, 100, 102)),
            ],
            vec![quote(20, 99, 101)],
            vec![(1, 20, 101), (2, 20, 99)],
        ),
        (
            "marketable limit fills at the touch",
            0,
            vec![(
                order(1, Side::Buy, 10, OrderType::Limit(Price(105))),
                quote(10, 100, 102),
            )],
            vec![],
            vec![(1, 10, 102)],
        ),
        (
            "resting limit fills at its price when reached",
            0,
            vec![(
                order(1, Side::Buy, 10, OrderType::Limit(Price(99))),
                quote(10, 100, 102),
            )],
            vec![quote(11, 98, 100), quote(12, 97, 99)],
            vec![(1, 12, 99)],
        ),
        (
            "a trade tick fills both sides at its price",
            0,
            vec![
                (
                    order(1, Side::Buy, 1, market),
                    Tick::trade(Nanos(1), InstrumentId(0), Price(150), None),
                ),
                (
                    order(2, Side::Sell, 1, market),
                    Tick::trade(Nanos(1), InstrumentId(0), Price(150), None),
                ),
            ],
            vec![],
            vec![(1, 1, 150), (2, 1, 150)],
        ),
    ];
    for (name, latency, submit, ticks, expected) in cases {
        let mut venue = venue(latency, FillSize::Order);
        let mut events = Vec::new();
        for (o, t) in &submit {
            venue.on_tick(t, &mut events);
            submit_now(&mut venue, o, t, &mut events);
        }
        for t in &ticks {
            venue.on_tick(t, &mut events);
        }
        let fills: Vec<(u64, u64, i64)> = events
            .iter()
            .filter_map(|e| e.execution().map(|x| (e.id.0, e.ts.0, x.price.0)))
            .collect();
        assert_eq!(fills, expected, "{name}");
        let accepted = events
            .iter()
            .filter(|e| e.kind_name() == "accepted")
            .count();
        assert_eq!(accepted, submit.len(), "{name}: every order accepted");
        assert_eq!(venue.open_orders(), 0, "{name}: all filled");
    }
}

#[test]
fn makers_rest_and_takers_cross() {
    let mut venue = venue(0, FillSize::Order);
    let mut events = Vec::new();
    let t = quote(10, 100, 102);
    submit_now(
        &mut venue,
        &order(1, Side::Buy, 10, OrderType::Limit(Price(99))),
        &t,
        &mut events,
    );
    submit_now(
        &mut venue,
        &order(2, Side::Buy, 10, OrderType::Market),
        &t,
        &mut events,
    );
    venue.on_tick(&quote(11, 98, 99), &mut events);
    let liquidity: Vec<(u64, Liquidity)> = events
        .iter()
        .filter_map(|e| e.execution().map(|x| (e.id.0, x.liquidity)))
        .collect();
    assert_eq!(
        liquidity,
        vec![(2, Liquidity::Taker), (1, Liquidity::Maker)]
    );
}

#[test]
fn ioc_expires_what_does_not_fill_on_arrival() {
    let mut venue = venue(0, FillSize::Touch);
    let mut events = Vec::new();
    let t = quote(10, 100, 102);
    let mut ioc = order(1, Side::Buy, 10, OrderType::Limit(Price(102)));
    ioc.qty = Qty(5);
    ioc.tif = TimeInForce::Ioc;
    submit_now(&mut venue, &ioc, &t, &mut events);
    assert_eq!(
        summary(&events),
        vec![
            (1, "accepted", 10, 0),
            (1, "partially_filled", 10, 102),
            (1, "expired", 10, 0)
        ]
    );
    assert!(matches!(
        events[2].kind,
        OrderEventKind::Expired { leaves: Qty(2) }
    ));
    assert_eq!(venue.open_orders(), 0);
}

#[test]
fn touch_size_limits_fills_and_is_shared_within_a_tick() {
    let mut venue = venue(5, FillSize::Touch);
    let mut events = Vec::new();
    let t = quote(10, 100, 102);
    for id in [1, 2] {
        submit_now(
            &mut venue,
            &order(id, Side::Buy, 10, OrderType::Market),
            &t,
            &mut events,
        );
    }
    // 3 at the ask: order 1 takes 2, order 2 the last 1; then the rest on the next tick.
    venue.on_tick(&quote(15, 100, 102), &mut events);
    venue.on_tick(&quote(16, 100, 103), &mut events);
    let fills: Vec<(u64, i64, i64)> = events
        .iter()
        .filter_map(|e| e.execution().map(|x| (e.id.0, x.qty.0, x.leaves.0)))
        .collect();
    assert_eq!(fills, vec![(1, 2, 0), (2, 1, 1), (2, 1, 0)]);
}

#[test]
fn cancel_and_modify() {
    let mut venue = venue(0, FillSize::Order);
    let mut events = Vec::new();
    let t = quote(10, 100, 102);
    let resting = order(1, Side::Buy, 10, OrderType::Limit(Price(95)));
    submit_now(&mut venue, &resting, &t, &mut events);
    let request = |kind| OrderRequest {
        id: ClientOrderId(1),
        book: resting.book,
        broker: resting.broker,
        instrument: resting.instrument,
        side: Side::Buy,
        correlation: 11,
        ts: Nanos(11),
        kind,
    };
    let modify = |price, qty| {
        request(RequestKind::Modify {
            qty: Qty(qty),
            order_type: OrderType::Limit(Price(price)),
            filled: Qty(0),
            leaves: Qty(2),
        })
    };
    events.clear();
    venue.amend(&modify(96, 3), &t, &mut events);
    venue.amend(&modify(103, 3), &t, &mut events);
    assert_eq!(
        summary(&events),
        vec![
            (1, "modified", 11, 0),
            (1, "modified", 11, 0),
            (1, "filled", 10, 102)
        ],
        "a modify that crosses fills at once, at the touch"
    );
    events.clear();
    venue.amend(&request(RequestKind::Cancel), &t, &mut events);
    venue.amend(&modify(96, 1), &t, &mut events);
    assert_eq!(
        summary(&events),
        vec![(1, "cancel_rejected", 11, 0), (1, "modify_rejected", 11, 0)],
        "the order is gone"
    );
    submit_now(
        &mut venue,
        &order(2, Side::Buy, 10, OrderType::Limit(Price(95))),
        &t,
        &mut events,
    );
    events.clear();
    let mut cancel = request(RequestKind::Cancel);
    cancel.id = ClientOrderId(2);
    venue.amend(&cancel, &t, &mut events);
    assert!(matches!(
        events[0].kind,
        OrderEventKind::Cancelled { leaves: Qty(2) }
    ));
    assert_eq!(venue.open_orders(), 0);
}

#[test]
fn invalid_orders_and_modifies_are_refused() {
    let mut venue = venue(0, FillSize::Order);
    let mut events = Vec::new();
    let t = quote(10, 100, 102);
    let mut zero = order(1, Side::Buy, 10, OrderType::Market);
    zero.qty = Qty(0);
    submit_now(&mut venue, &zero, &t, &mut events);
    assert!(matches!(
        events[0].kind,
        OrderEventKind::Rejected {
            reason: RejectReason::InvalidOrder,
            ..
        }
    ));
    // A market order that cannot fill (no ask) rests; it cannot be modified.
    let one_sided = Tick::quote(
        Nanos(10),
        InstrumentId(0),
        Some(Price(100)),
        None,
        None,
        None,
    );
    submit_now(
        &mut venue,
        &order(2, Side::Buy, 10, OrderType::Market),
        &one_sided,
        &mut events,
    );
    events.clear();
    venue.amend(
        &OrderRequest {
            id: ClientOrderId(2),
            book: Default::default(),
            broker: Default::default(),
            instrument: InstrumentId(0),
            side: Side::Buy,
            correlation: 0,
            ts: Nanos(10),
            kind: RequestKind::Modify {
                qty: Qty(2),
                order_type: OrderType::Limit(Price(90)),
                filled: Qty(0),
                leaves: Qty(2),
            },
        },
        &one_sided,
        &mut events,
    );
    assert!(matches!(
        events[0].kind,
        OrderEventKind::ModifyRejected {
            reason: RejectReason::InvalidModify
        }
    ));
}

#[test]
fn costs_apply_per_fill_and_slippage_never_passes_a_limit() {
    let bps = |text: &str| {
        let (mantissa, decimals) =
            crate::domain::fixed::parse_mantissa(text.as_bytes()).expect("bps");
        Bps::from_decimal(Decimal { mantissa, decimals }).expect("bps")
    };
    let mut costs = VenueCosts::default();
    costs.default.commission.taker_bps = bps("2.5");
    costs.default.slippage = Slippage::Ticks(2);
    let mut venue = PaperVenue::new(0, &costs, FillSize::Order, &specs());
    // 2 × 1.01 = 2.02 notional; 2.5 bps → 0.000505.
    assert_eq!(
        venue.fee(Price(101), Qty(2), 0, Side::Buy, Liquidity::Taker, true),
        Money::parse("0.000505").expect("decimal")
    );
    let mut events = Vec::new();
    venue.on_tick(&quote(1, 100, 101), &mut events);
    submit_now(
        &mut venue,
        &order(1, Side::Buy, 1, OrderType::Market),
        &quote(1, 100, 101),
        &mut events,
    );
    submit_now(
        &mut venue,
        &order(2, Side::Buy, 1, OrderType::Limit(Price(102))),
        &quote(1, 100, 101),
        &mut events,
    );
    let prices: Vec<i64> = events
        .iter()
        .filter_map(|e| e.execution())
        .map(|x| x.price.0)
        .collect();
    assert_eq!(
        prices,
        [103, 102],
        "market slips 2 ticks; the limit caps it"
    );
}

#[test]
fn an_order_stamped_after_the_last_tick_waits_even_at_zero_latency() {
    // A strategy's compute time charged: the order is stamped 5 ns after the tick it saw.
    let mut venue = venue(0, FillSize::Order);
    let mut events = Vec::new();
    let t = quote(10, 100, 101);
    venue.on_tick(&t, &mut events);
    venue.submit(&order(1, Side::Buy, 15, OrderType::Market), &t, &mut events);
    assert_eq!(
        summary(&events),
        [(1, "accepted", 15, 0)],
        "not filled at the old touch"
    );
    venue.on_tick(&quote(12, 101, 102), &mut events);
    assert_eq!(
        events.len(),
        1,
        "a tick before the order's time does not fill it"
    );
    venue.on_tick(&quote(15, 104, 105), &mut events);
    assert_eq!(
        summary(&events)[1],
        (1, "filled", 15, 105),
        "the first tick at its time"
    );
}
