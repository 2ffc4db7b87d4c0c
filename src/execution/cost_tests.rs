//! Tests of `cost`.

use super::*;

pub(super) fn bps(text: &str) -> Bps {
    let (mantissa, decimals) =
        crate::domain::fixed::parse_mantissa(text.as_bytes()).expect("decimal");
    Bps::from_decimal(Decimal { mantissa, decimals }).expect("bps in range")
}

pub(super) fn money(text: &str) -> Money {
    Money::parse(text).expect("money")
}

#[test]
fn bps_from_decimal_table() {
    let d = |mantissa, decimals| Decimal { mantissa, decimals };
    let cases = [
        ("integer", d(5, 0), Some(5 * POW10[12] as u64)),
        ("fraction", d(35, 2), Some(35 * POW10[10] as u64)),
        ("smallest", d(1, 12), Some(1)),
        ("max", d(10_000, 0), Some(Bps::MAX.raw())),
        ("above max", d(10_001, 0), None),
        ("too many decimals", d(1, 13), None),
        ("negative", d(-1, 0), None),
        ("overflow", d(i64::MAX, 0), None),
    ];
    for (name, decimal, expected) in cases {
        assert_eq!(Bps::from_decimal(decimal).map(Bps::raw), expected, "{name}");
    }
    assert_eq!(bps("2.50").to_string(), "2.5", "display trims zeros");
}

#[test]
fn bps_rounds_half_even() {
    // 1 bps of `raw` money units is raw / 10^4 units.
    let one = Commission {
        taker_bps: bps("1"),
        ..Commission::default()
    };
    let cases = [
        ("exact", 20_000, 2),
        ("half rounds to even (down)", 5_000, 0),
        ("half rounds to even (up)", 15_000, 2),
        ("half rounds to even (stays)", 25_000, 2),
        ("above half rounds up", 25_001, 3),
        ("below half rounds down", 14_999, 1),
        ("sign of notional ignored", -15_000, 2),
    ];
    for (name, notional, expected) in cases {
        let fee = one.commission(
            Money(notional),
            Qty(1),
            0,
            Side::Buy,
            Liquidity::Taker,
            false,
        );
        assert_eq!(fee, Money(expected), "{name}");
    }
    // 2 × 1.01 = 2.02 notional; 2.5 bps → 0.000505 (the paper venue's own example).
    let fee = Commission {
        taker_bps: bps("2.5"),
        ..Commission::default()
    }
    .commission(
        Money::notional(Price(101), Qty(2), 2, 0),
        Qty(2),
        0,
        Side::Sell,
        Liquidity::Taker,
        true,
    );
    assert_eq!(fee, money("0.000505"), "decimal rate");
}

#[test]
fn commission_table() {
    struct Case {
        name: &'static str,
        commission: Commission,
        notional: &'static str,
        qty: Qty,
        qty_precision: u8,
        side: Side,
        liquidity: Liquidity,
        first_fill: bool,
        expected: &'static str,
    }
    let maker_taker = Commission {
        maker_bps: bps("1"),
        taker_bps: bps("5"),
        ..Commission::default()
    };
    let per_share = Commission {
        per_unit: money("0.005"),
        ..Commission::default()
    };
    let with_min = Commission {
        taker_bps: bps("10"),
        min_per_order: money("1"),
        ..Commission::default()
    };
    let taxed = Commission {
        taker_bps: bps("10"),
        sell_bps: bps("20"),
        buy_bps: bps("5"),
        min_per_order: money("1"),
        ..Commission::default()
    };
    let case = |name, commission, notional, qty, qp, side, liquidity, first, expected| Case {
        name,
        commission,
        notional,
        qty: Qty(qty),
        qty_precision: qp,
        side,
        liquidity,
        first_fill: first,
        expected,
    };
    use Liquidity::{Maker, Taker};
    use Side::{Buy, Sell};
    let cases = [
        case(
            "zero",
            Commission::default(),
            "1000",
            10,
            0,
            Buy,
            Taker,
            true,
            "0",
        ),
        case(
            "maker rate",
            maker_taker,
            "10000",
            1,
            0,
            Buy,
            Maker,
            false,
            "1",
        ),
        case(
            "taker rate",
            maker_taker,
            "10000",
            1,
            0,
            Buy,
            Taker,
            false,
            "5",
        ),
        case(
            "per unit, whole",
            per_share,
            "0",
            100,
            0,
            Buy,
            Taker,
            false,
            "0.5",
        ),
        case(
            "per unit, 1.5 units",
            per_share,
            "0",
            15,
            1,
            Buy,
            Taker,
            false,
            "0.0075",
        ),
        case(
            "per unit, 0.001 units",
            per_share,
            "0",
            1,
            3,
            Sell,
            Maker,
            false,
            "0.000005",
        ),
        case(
            "per unit, short qty sign ignored",
            per_share,
            "0",
            -100,
            0,
            Sell,
            Taker,
            false,
            "0.5",
        ),
        case(
            "min lifts first fill",
            with_min,
            "100",
            1,
            0,
            Buy,
            Taker,
            true,
            "1",
        ),
        case(
            "min not on later fills",
            with_min,
            "100",
            1,
            0,
            Buy,
            Taker,
            false,
            "0.1",
        ),
        case(
            "fee above min kept",
            with_min,
            "5000",
            1,
            0,
            Buy,
            Taker,
            true,
            "5",
        ),
        case(
            "sell tax added",
            taxed,
            "5000",
            1,
            0,
            Sell,
            Taker,
            false,
            "15",
        ),
        case(
            "buy rate added",
            taxed,
            "5000",
            1,
            0,
            Buy,
            Taker,
            false,
            "7.5",
        ),
        case(
            "tax outside the min",
            taxed,
            "100",
            1,
            0,
            Sell,
            Taker,
            true,
            "1.2",
        ),
        case(
            "min with tax, later fill",
            taxed,
            "100",
            1,
            0,
            Sell,
            Taker,
            false,
            "0.3",
        ),
    ];
    for c in cases {
        let fee = c.commission.commission(
            money(c.notional),
            c.qty,
            c.qty_precision,
            c.side,
            c.liquidity,
            c.first_fill,
        );
        assert_eq!(fee, money(c.expected), "{}", c.name);
    }
}

#[test]
fn per_unit_rounds_half_even() {
    // 1e-18 per unit × 0.5 and × 1.5 units: halves go to the even neighbour.
    let tiny = Commission {
        per_unit: Money(1),
        ..Commission::default()
    };
    for (name, qty, expected) in [("0.5 → 0", 5, 0), ("1.5 → 2", 15, 2), ("2.5 → 2", 25, 2)] {
        let fee = tiny.commission(Money(0), Qty(qty), 1, Side::Buy, Liquidity::Taker, false);
        assert_eq!(fee, Money(expected), "{name}");
    }
}

#[test]
fn absurd_input_saturates() {
    let all = Commission {
        maker_bps: Bps::MAX,
        taker_bps: Bps::MAX,
        buy_bps: Bps::MAX,
        sell_bps: Bps::MAX,
        per_unit: Money(i128::MAX),
        min_per_order: Money(i128::MAX),
    };
    let cases = [
        ("max notional", Money(i128::MAX), Qty(1), 0),
        ("min notional", Money(i128::MIN), Qty(1), 0),
        ("max qty", Money(0), Qty(i64::MAX), 0),
        ("min qty", Money(0), Qty(i64::MIN), 0),
        ("precision beyond 18", Money(0), Qty(i64::MAX), 40),
    ];
    for (name, notional, qty, qp) in cases {
        for first in [false, true] {
            let fee = all.commission(notional, qty, qp, Side::Sell, Liquidity::Taker, first);
            assert_eq!(fee, Money(i128::MAX), "{name}, first fill {first}");
        }
    }
    let negative = Commission {
        per_unit: Money(-5),
        min_per_order: Money(-5),
        ..Commission::default()
    };
    assert_eq!(
        negative.commission(Money(0), Qty(10), 0, Side::Buy, Liquidity::Taker, true),
        Money(0),
        "negative amounts count as zero"
    );
}

#[test]
fn mul_div_table() {
    let cases = [
        ("zero", 0, 5, 3, 0),
        ("exact", 10, 3, 5, 6),
        ("half to even", 5, 1, 2, 2),
        ("wide product", u128::MAX, 2, 2, u128::MAX),
        (
            "wide product, half to even",
            u128::MAX / 3,
            6,
            4,
            1u128 << 127,
        ),
        ("quotient overflows", u128::MAX, 3, 2, u128::MAX),
        ("divisor 0 read as 1", 7, 1, 0, 7),
    ];
    for (name, a, b, d, expected) in cases {
        assert_eq!(mul_div_half_even(a, b, d), expected, "{name}");
    }
}

#[test]
fn slippage_table() {
    use Side::{Buy, Sell};
    let cases = [
        ("none buy", Slippage::None, 1000, Buy, 1, 1000),
        (
            "none keeps even a zero price",
            Slippage::None,
            0,
            Sell,
            5,
            0,
        ),
        (
            "ticks buy pays more",
            Slippage::Ticks(2),
            1000,
            Buy,
            5,
            1010,
        ),
        (
            "ticks sell receives less",
            Slippage::Ticks(2),
            1000,
            Sell,
            5,
            990,
        ),
        ("zero ticks", Slippage::Ticks(0), 1000, Sell, 5, 1000),
        (
            "ticks sell floored at one tick",
            Slippage::Ticks(3),
            10,
            Sell,
            5,
            5,
        ),
        (
            "ticks buy saturates",
            Slippage::Ticks(u32::MAX),
            i64::MAX - 1,
            Buy,
            5,
            i64::MAX,
        ),
        // 10 bps of 10000 = 10 raw = 2 ticks of 5.
        (
            "bps exact buy",
            Slippage::Bps(bps("10")),
            10_000,
            Buy,
            5,
            10_010,
        ),
        (
            "bps exact sell",
            Slippage::Bps(bps("10")),
            10_000,
            Sell,
            5,
            9_990,
        ),
        // 1 bps of 10000 = 1 raw: less than a tick of 5, rounded against the trader.
        (
            "bps buy rounds up",
            Slippage::Bps(bps("1")),
            10_000,
            Buy,
            5,
            10_005,
        ),
        (
            "bps sell rounds down",
            Slippage::Bps(bps("1")),
            10_000,
            Sell,
            5,
            9_995,
        ),
        (
            "bps 2.5 of 1000, tick 1",
            Slippage::Bps(bps("2.5")),
            1000,
            Buy,
            1,
            1001,
        ),
        ("zero bps", Slippage::Bps(Bps::ZERO), 1000, Buy, 1, 1000),
        (
            "bps 100% sell floored",
            Slippage::Bps(Bps::MAX),
            1000,
            Sell,
            1,
            1,
        ),
        (
            "bps huge price",
            Slippage::Bps(Bps::MAX),
            i64::MAX,
            Buy,
            1,
            i64::MAX,
        ),
        (
            "tick below 1 read as 1",
            Slippage::Ticks(1),
            1000,
            Sell,
            0,
            999,
        ),
    ];
    for (name, slippage, price, side, tick, expected) in cases {
        assert_eq!(
            slippage.apply(Price(price), side, tick),
            Price(expected),
            "{name}"
        );
    }
}

#[test]
fn overrides_are_chosen_by_symbol() {
    let default = Costs {
        commission: Commission {
            taker_bps: bps("1"),
            ..Commission::default()
        },
        slippage: Slippage::None,
    };
    let btc = Costs {
        slippage: Slippage::Ticks(1),
        ..default
    };
    let costs = VenueCosts {
        default,
        overrides: vec![("BTCUSDT".to_owned(), btc)],
    };
    let cases = [
        ("override", "BTCUSDT", btc),
        ("unknown symbol: default", "ETHUSDT", default),
        ("case sensitive", "btcusdt", default),
    ];
    for (name, symbol, expected) in cases {
        assert_eq!(*costs.for_symbol(symbol), expected, "{name}");
    }
}

mod property_tests {
    use super::super::*;
    use proptest::prelude::*;

    proptest! {
        /// Where the product fits `u128`, the limb division matches the direct one.
        #[test]
        fn mul_div_matches_narrow_arithmetic(a in any::<u64>(), b in any::<u64>(), d in 1u64..) {
            let product = u128::from(a) * u128::from(b);
            let (d128, q) = (u128::from(d), product / u128::from(d));
            let r = product % d128;
            let expected = q + u128::from(r * 2 > d128 || (r * 2 == d128 && q % 2 == 1));
            prop_assert_eq!(mul_div_half_even(u128::from(a), b, d), expected);
        }

        /// Slippage never favours the trader and never leaves the tick floor.
        #[test]
        fn slippage_is_adverse(price in 1i64..1_000_000_000, tick in 1i64..1000, rate in 0u64..=Bps::MAX.raw(), n in 0u32..1000) {
            for model in [Slippage::Ticks(n), Slippage::Bps(Bps(rate))] {
                let buy = model.apply(Price(price), Side::Buy, tick);
                let sell = model.apply(Price(price), Side::Sell, tick);
                prop_assert!(buy >= Price(price));
                prop_assert!(sell <= Price(price.max(tick)));
                prop_assert!(sell >= Price(tick));
                prop_assert_eq!((buy.0 - price) % tick, 0);
            }
        }
    }
}
