//! The example strategies' own tests: `long_short_ema` and `passive_quoter` driven through the
//! public test harness (`alpha_panda::strategy::testing::Harness`) with the venue played by
//! the test. The examples are included as modules, as a user's crate would depend on them.

#[path = "../examples/long_short_ema.rs"]
mod long_short_ema;
#[path = "../examples/passive_quoter.rs"]
mod passive_quoter;

/// One instrument `X`, prices and quantities without decimals.
fn spec() -> alpha_panda::domain::InstrumentSpec {
    alpha_panda::domain::InstrumentSpec::new("X", 0, 0)
}

mod long_short_ema_tests {
    use super::long_short_ema::{LongShortEma, LongShortEmaConfig, registry};
    use alpha_panda::domain::{Decimal, InstrumentId, Nanos, Price, Qty, RejectReason, Tick};
    use alpha_panda::strategy::params::Quantity;
    use alpha_panda::strategy::testing::Harness;
    use alpha_panda::strategy::{PriceSource, Setup, UserKind};

    fn harness() -> Harness {
        let config = LongShortEmaConfig {
            fast: 2,
            slow: 4,
            quantity: Quantity(Decimal {
                mantissa: 5,
                decimals: 0,
            }),
            source: PriceSource::Last,
        };
        let specs = [super::spec()];
        let strategy = LongShortEma::build(&config, &Setup::new("t", "paper", &specs));
        Harness::new(Box::new(strategy), &specs)
    }

    fn trade(price: i64) -> Tick {
        Tick::trade(Nanos(0), InstrumentId(0), Price(price), None)
    }

    /// Feeds prices, filling every order at once; returns the signed order sizes.
    fn run(h: &mut Harness, prices: &[i64]) -> Vec<i64> {
        let mut sizes = Vec::new();
        for &p in prices {
            let orders: Vec<_> = h.tick(trade(p)).iter().filter_map(|r| r.order()).collect();
            for order in orders {
                sizes.push(order.side.sign() * order.qty.0);
                h.fill(order.id, order.qty, Price(p));
            }
        }
        sizes
    }

    #[test]
    fn enters_one_quantity_then_reverses_with_two() {
        let mut h = harness();
        let sizes = run(&mut h, &[10, 10, 10, 10, 20, 30, 5, 1, 1, 40, 50, 60]);
        assert_eq!(
            sizes,
            vec![5, -10, 10],
            "up from flat, down from long, up from short"
        );
        assert_eq!(h.position(0), Qty(5));
    }

    #[test]
    fn a_rejection_leaves_the_real_position_as_it_was() {
        let mut h = harness();
        let mut entry = None;
        for p in [10, 10, 10, 10, 20] {
            entry = entry.or(h.tick(trade(p)).first().map(|r| r.id));
        }
        h.reject(entry.expect("the cross up buys"), RejectReason::OrderRate);
        // The cross down finds the book flat: it sells one quantity, not two.
        let sizes = run(&mut h, &[30, 5, 1]);
        assert_eq!(sizes, vec![-5]);
    }

    #[test]
    fn params_are_checked_with_file_line_and_field() {
        let text = "id = \"x\"\nkind = \"long_short_ema\"\ninstruments = [\"X\"]\nbrokers = [\"paper\"]\n[params]\nfast = 30\nslow = 10\nquantity = \"1\"\ncolour = \"red\"\n";
        let mut errors = Vec::new();
        let parsed = alpha_panda::strategy::config::parse_strategy(
            std::path::Path::new("x.toml"),
            text,
            &registry(),
            &mut errors,
        );
        assert!(parsed.is_none());
        let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
        for needle in [
            "x.toml:7: field 'params.slow': expected an integer > fast (30), found 10",
            "x.toml:9: field 'params.colour': unknown field",
        ] {
            assert!(
                rendered.iter().any(|r| r.contains(needle)),
                "{needle} in {rendered:#?}"
            );
        }
    }
}

mod passive_quoter_tests {
    use super::passive_quoter::{PassiveQuoter, PassiveQuoterConfig};
    use alpha_panda::domain::{
        Decimal, InstrumentId, Nanos, OrderType, Price, Qty, RejectReason, RequestKind, Side, Tick,
        TimeInForce,
    };
    use alpha_panda::strategy::params::Quantity;
    use alpha_panda::strategy::testing::Harness;
    use alpha_panda::strategy::{Setup, UserKind};

    /// The pause after a rejection (the example's `PAUSE_NS`).
    const PAUSE_NS: u64 = 1_000_000_000;

    fn harness() -> Harness {
        let config = PassiveQuoterConfig {
            quantity: Quantity(Decimal {
                mantissa: 4,
                decimals: 0,
            }),
        };
        let specs = [super::spec()];
        let quoter = PassiveQuoter::build(&config, &Setup::new("t", "paper", &specs));
        Harness::new(Box::new(quoter), &specs)
    }

    fn quote(ts: u64, bid: i64, ask: i64) -> Tick {
        Tick::quote(
            Nanos(ts),
            InstrumentId(0),
            Some(Price(bid)),
            Some(Price(ask)),
            None,
            None,
        )
    }

    #[test]
    fn rests_at_the_bid_follows_it_and_sells_at_the_ask_once_long() {
        let mut h = harness();
        let first = h.tick(quote(1, 100, 102))[0];
        assert_eq!(
            (first.side, first.kind),
            (
                Side::Buy,
                RequestKind::New {
                    qty: Qty(4),
                    order_type: OrderType::Limit(Price(100)),
                    tif: TimeInForce::Gtc,
                    flatten: false
                }
            )
        );
        h.accept(first.id);
        assert!(
            h.tick(quote(2, 100, 103)).is_empty(),
            "the bid did not move"
        );
        let replace = h.tick(quote(3, 101, 103))[0];
        assert!(
            matches!(
                replace.kind,
                RequestKind::Modify {
                    order_type: OrderType::Limit(Price(101)),
                    ..
                }
            ),
            "{replace:?}"
        );
        assert!(h.ack(&replace).is_empty(), "the price moved with the bid");
        // A partial fill: long 1, and a BUY still open on the wrong side: cancel it.
        let after_partial = h.fill(first.id, Qty(1), Price(100))[0];
        assert_eq!(after_partial.kind, RequestKind::Cancel);
        let sell = h.cancelled(first.id)[0];
        assert_eq!(sell.side, Side::Sell);
        assert!(
            matches!(
                sell.kind,
                RequestKind::New {
                    qty: Qty(1),
                    order_type: OrderType::Limit(Price(103)),
                    ..
                }
            ),
            "{sell:?}"
        );
        assert!(
            h.fill(sell.id, Qty(1), Price(103))[0].side == Side::Buy,
            "flat again: back to the bid"
        );
        assert_eq!(h.position(0), Qty(0));
    }

    #[test]
    fn a_rejection_pauses_the_instrument_until_its_timer() {
        let mut h = harness();
        let order = h.tick(quote(1, 100, 102))[0];
        assert!(h.reject(order.id, RejectReason::PriceBand).is_empty());
        assert!(h.tick(quote(2, 100, 102)).is_empty(), "paused");
        let again = h.tick(quote(1 + PAUSE_NS, 100, 102));
        assert_eq!(
            again.len(),
            1,
            "the timer fired at the first tick after a second"
        );
        assert_eq!(h.counters().timers_fired, 1);
    }
}
