//! Tests of `risk`.
use super::*;
use crate::domain::{BookId, BrokerId, ClientOrderId, InstrumentId, Nanos, Qty, TimeInForce};

fn spec() -> InstrumentSpec {
    InstrumentSpec::new("X", 2, 0)
}

fn order(side: Side, qty: i64, ts: u64) -> Order {
    Order {
        id: ClientOrderId(0),
        correlation: 0,
        ts: Nanos(ts),
        book: BookId(0),
        broker: BrokerId(0),
        instrument: InstrumentId(0),
        side,
        qty: Qty(qty),
        order_type: OrderType::Market,
        tif: TimeInForce::Gtc,
    }
}

/// The whole of an order executed.
fn filled(side: Side, qty: i64, price: i64) -> OrderEvent {
    OrderEvent::test_fill(side, qty, price, crate::domain::Money::ZERO)
}

fn money(s: &str) -> Option<Money> {
    Some(Money::parse(s).unwrap())
}

/// Risk and the market it reads, fed the same ticks.
struct Risk {
    engine: RiskEngine,
    market: Market,
}

impl Risk {
    fn new(engine: RiskEngine) -> Risk {
        Risk {
            engine,
            market: Market::new(1),
        }
    }

    fn on_tick(&mut self, tick: &Tick) {
        self.market.on_tick(tick);
        self.engine.on_tick(tick);
    }

    /// A quote of instrument 0 at `ts`.
    fn quote(&mut self, ts: u64, bid: i64, ask: i64) {
        self.on_tick(&Tick::quote(
            Nanos(ts),
            InstrumentId(0),
            Some(Price(bid)),
            Some(Price(ask)),
            None,
            None,
        ));
    }

    fn check_order(&mut self, order: &Order) -> Result<(), RejectReason> {
        self.engine.check_order(order, &self.market)
    }

    fn on_event(&mut self, event: &OrderEvent) {
        self.engine.on_event(event);
    }
}

fn engine(limits: RiskLimits) -> Risk {
    let mut risk = Risk::new(RiskEngine::new(&[limits], 1, &[spec()]));
    risk.quote(0, 10_000, 10_002);
    risk
}

#[test]
fn tick_and_lot_sizes_are_enforced_before_the_rate_limit() {
    let mut spec = spec();
    (spec.tick_size, spec.lot_size) = (5, 10);
    let limits = RiskLimits {
        max_orders_per_second: Some(1),
        ..RiskLimits::default()
    };
    let mut risk = Risk::new(RiskEngine::new(&[limits], 1, &[spec]));
    risk.quote(0, 10_000, 10_005);
    let limit = |price, qty| Order {
        order_type: OrderType::Limit(Price(price)),
        ..order(Side::Buy, qty, 1)
    };
    let cases = [
        (
            "odd lot",
            order(Side::Buy, 15, 1),
            Err(RejectReason::LotSize),
        ),
        ("off tick", limit(10_003, 10), Err(RejectReason::TickSize)),
        ("on both", limit(10_005, 20), Ok(())),
        (
            "rate still has no token",
            order(Side::Buy, 10, 1),
            Err(RejectReason::OrderRate),
        ),
    ];
    for (name, o, expected) in cases {
        assert_eq!(risk.check_order(&o), expected, "{name}");
    }
    assert_eq!(
        (RejectReason::TickSize.code(), RejectReason::LotSize.code()),
        ("TICK_SIZE", "LOT_SIZE")
    );
}

#[test]
fn limits_table() {
    struct Case {
        name: &'static str,
        limits: RiskLimits,
        orders: Vec<Order>,
        expected: Vec<Result<(), RejectReason>>,
    }
    let cases = [
        Case {
            name: "order quantity",
            limits: RiskLimits {
                max_order_qty: money("5"),
                ..RiskLimits::default()
            },
            orders: vec![order(Side::Buy, 5, 0), order(Side::Buy, 6, 0)],
            expected: vec![Ok(()), Err(RejectReason::MaxOrderQty)],
        },
        Case {
            name: "notional at the ask",
            limits: RiskLimits {
                max_notional: money("500.09"),
                ..RiskLimits::default()
            },
            orders: vec![order(Side::Buy, 5, 0), order(Side::Sell, 5, 0)],
            expected: vec![Err(RejectReason::MaxNotional), Ok(())],
        },
        Case {
            name: "position counts pending orders",
            limits: RiskLimits {
                max_position: money("3"),
                ..RiskLimits::default()
            },
            orders: vec![
                order(Side::Buy, 2, 0),
                order(Side::Buy, 2, 0),
                order(Side::Sell, 5, 0),
            ],
            expected: vec![Ok(()), Err(RejectReason::MaxPosition), Ok(())],
        },
        Case {
            name: "open orders",
            limits: RiskLimits {
                max_open_orders: Some(1),
                ..RiskLimits::default()
            },
            orders: vec![order(Side::Buy, 1, 0), order(Side::Buy, 1, 0)],
            expected: vec![Ok(()), Err(RejectReason::MaxOpenOrders)],
        },
        Case {
            name: "rate refills on the engine clock",
            limits: RiskLimits {
                max_orders_per_second: Some(2),
                ..RiskLimits::default()
            },
            orders: vec![
                order(Side::Buy, 1, 0),
                order(Side::Buy, 1, 0),
                order(Side::Buy, 1, 1),
                order(Side::Buy, 1, 500_000_000),
            ],
            expected: vec![Ok(()), Ok(()), Err(RejectReason::OrderRate), Ok(())],
        },
        Case {
            name: "kill switch from config",
            limits: RiskLimits {
                kill_switch: true,
                ..RiskLimits::default()
            },
            orders: vec![order(Side::Buy, 1, 0)],
            expected: vec![Err(RejectReason::KillSwitch)],
        },
    ];
    for case in cases {
        let mut risk = engine(case.limits);
        let got: Vec<_> = case.orders.iter().map(|o| risk.check_order(o)).collect();
        assert_eq!(got, case.expected, "{}", case.name);
    }
}

#[test]
fn price_band_and_daily_loss_latch() {
    let mut risk = Risk::new(RiskEngine::new(
        &[RiskLimits {
            price_band_bps: Some(100),
            max_daily_loss: money("1"),
            kill_switch_mode: KillSwitchMode::BlockAll,
            ..RiskLimits::default()
        }],
        1,
        &[spec()],
    ));
    // A quote whose ask is 3% above its mid: a fat-finger market BUY.
    risk.quote(0, 10_000, 10_600);
    assert_eq!(
        risk.check_order(&order(Side::Buy, 1, 0)),
        Err(RejectReason::PriceBand)
    );
    risk.quote(1, 10_000, 10_002);
    assert_eq!(risk.check_order(&order(Side::Buy, 1, 1)), Ok(()));
    risk.on_event(&filled(Side::Buy, 1, 10_002));
    // Mid falls by 2.00: loss 2.01 > 1 → daily loss, then the latch holds.
    risk.quote(2, 9_800, 9_802);
    assert_eq!(
        risk.check_order(&order(Side::Sell, 1, 2)),
        Err(RejectReason::DailyLoss)
    );
    assert_eq!(
        risk.check_order(&order(Side::Sell, 1, 2)),
        Err(RejectReason::KillSwitch)
    );
    assert!(risk.engine.kill_switch_tripped(0));
    assert_eq!(risk.engine.rejections[RejectReason::KillSwitch.index()], 1);
}

#[test]
fn a_tripped_switch_lets_reducing_orders_through_unless_blocking_all() {
    for (mode, sell_passes) in [
        (KillSwitchMode::AllowReducing, true),
        (KillSwitchMode::BlockAll, false),
    ] {
        let mut risk = engine(RiskLimits {
            max_daily_loss: money("1"),
            kill_switch_mode: mode,
            ..RiskLimits::default()
        });
        assert_eq!(risk.check_order(&order(Side::Buy, 2, 0)), Ok(()));
        risk.on_event(&filled(Side::Buy, 2, 10_002));
        // Mid down 2.00 on 2 units: a loss over 1 trips the switch on the next order.
        risk.quote(1, 9_800, 9_802);
        assert_eq!(
            risk.check_order(&order(Side::Buy, 1, 1)),
            Err(RejectReason::DailyLoss),
            "{mode:?}: trips"
        );
        assert_eq!(
            risk.check_order(&order(Side::Buy, 1, 1)),
            Err(RejectReason::KillSwitch),
            "{mode:?}: adding is refused"
        );
        assert_eq!(
            risk.check_order(&order(Side::Sell, 3, 1)),
            Err(RejectReason::KillSwitch),
            "{mode:?}: flipping short is not reducing"
        );
        assert_eq!(
            risk.check_order(&order(Side::Sell, 2, 1)).is_ok(),
            sell_passes,
            "{mode:?}: closing"
        );
    }
}

#[test]
fn venue_events_release_open_quantity() {
    let mut risk = engine(RiskLimits {
        max_position: money("3"),
        max_open_orders: Some(1),
        ..RiskLimits::default()
    });
    assert_eq!(risk.check_order(&order(Side::Buy, 3, 0)), Ok(()));
    assert_eq!(
        risk.check_order(&order(Side::Buy, 1, 0)),
        Err(RejectReason::MaxOpenOrders)
    );
    let mut cancelled = filled(Side::Buy, 0, 0);
    cancelled.kind = OrderEventKind::Cancelled { leaves: Qty(3) };
    risk.on_event(&cancelled);
    assert_eq!(
        risk.check_order(&order(Side::Buy, 3, 0)),
        Ok(()),
        "the cancel released the order and its quantity"
    );
}
