//! Tests of `stats`.
use super::*;

fn m(text: &str) -> Money {
    Money::parse(text).unwrap()
}

fn fill(ts: u64, qty: i64, price: i64, fee: i128, realized: &str) -> TripFill {
    TripFill {
        ts: Nanos(ts),
        qty,
        price,
        fee: Money(fee),
        realized: m(realized),
    }
}

fn vwap(notional: i128, qty: i128) -> Vwap {
    Vwap { notional, qty }
}

const E18: i128 = 1_000_000_000_000_000_000;

/// (side, entry_ts, exit_ts, entry (notional, qty), exit (notional, qty), pnl, fees,
/// holding_ns), money in raw units.
type Expected = (
    TripSide,
    u64,
    Option<u64>,
    (i128, i128),
    (i128, i128),
    i128,
    i128,
    u64,
);

fn trip((side, entry_ts, exit_ts, entry, exit, pnl, fees, holding_ns): Expected) -> RoundTrip {
    RoundTrip {
        side,
        entry_ts: Nanos(entry_ts),
        exit_ts: exit_ts.map(Nanos),
        entry_price: vwap(entry.0, entry.1),
        exit_price: vwap(exit.0, exit.1),
        quantity: entry.1,
        pnl: Money(pnl),
        fees: Money(fees),
        holding_ns,
    }
}

#[test]
#[rustfmt::skip]
fn round_trips_table() {
    use TripSide::{Long, Short};
    struct Case {
        name: &'static str,
        fills: Vec<TripFill>,
        expected: Vec<Expected>,
    }
    let cases = [
        Case { name: "empty input", fills: vec![], expected: vec![] },
        // +2 then -5: the sell closes 2 of 5, fee 7 raw * 2/5 = 2.8 -> 3 to the close.
        Case {
            name: "flip",
            fills: vec![fill(10, 2, 100, 5, "0"), fill(30, -5, 110, 7, "20")],
            expected: vec![
                (Long, 10, Some(30), (200, 2), (220, 2), 20 * E18 - 8, 8, 20),
                (Short, 30, None, (330, 3), (0, 0), -4, 4, 0),
            ],
        },
        // Fee 5 raw, half closes: 2.5 -> 2 (half-even), 3 to the new trip.
        Case {
            name: "flip fee tie rounds to even",
            fills: vec![fill(0, -1, 50, 0, "0"), fill(5, 2, 40, 5, "10")],
            expected: vec![
                (Short, 0, Some(5), (50, 1), (40, 1), 10 * E18 - 2, 2, 5),
                (Long, 5, None, (40, 1), (0, 0), -3, 3, 0),
            ],
        },
        Case {
            name: "partial close, add, then close",
            fills: vec![
                fill(0, 4, 100, 1, "0"),
                fill(10, -1, 104, 1, "4"),
                fill(20, 2, 110, 1, "0"),
                fill(40, -5, 108, 1, "-1.5"),
            ],
            expected: vec![(Long, 0, Some(40), (620, 6), (644, 6), 25 * E18 / 10 - 4, 4, 40)],
        },
        // The zero-quantity fill at ts 2 is flat: dropped. The one at ts 10 is booked.
        Case {
            name: "open trip at the end, after a closed one",
            fills: vec![
                fill(0, 1, 7, 0, "0"),
                fill(1, -1, 9, 0, "2"),
                fill(2, 0, 9, 1, "0"),
                fill(3, -2, 8, 1, "0"),
                fill(9, -1, 5, 1, "0"),
                fill(10, 0, 5, 1, "0"),
                fill(12, 1, 6, 1, "-1"),
            ],
            expected: vec![
                (Long, 0, Some(1), (7, 1), (9, 1), 2 * E18, 0, 1),
                (Short, 3, None, (21, 3), (6, 1), -E18 - 4, 4, 9),
            ],
        },
    ];
    for case in cases {
        let expected: Vec<RoundTrip> = case.expected.into_iter().map(trip).collect();
        assert_eq!(round_trips(&case.fills), expected, "{}", case.name);
    }
}

#[test]
fn vwap_rounds_half_even() {
    let cases = [
        ("exact", vwap(300, 3), Some(100)),
        ("tie down to even", vwap(5, 2), Some(2)),
        ("tie up to even", vwap(7, 2), Some(4)),
        ("negative tie", vwap(-5, 2), Some(-2)),
        ("above half", vwap(8, 3), Some(3)),
        ("no quantity", vwap(0, 0), None),
    ];
    for (name, v, expected) in cases {
        assert_eq!(v.price(), expected, "{name}");
    }
}

#[test]
fn pro_rata_keeps_sign_and_rounds_half_even() {
    let cases = [
        ("tie to even 2", 5, 1, 2, 2),
        ("tie to even 4", 7, 1, 2, 4),
        ("rebate", -7, 1, 2, -4),
        ("above half", 10, 2, 3, 7),
        ("huge fee", i128::MAX, 1, 2, i128::MAX / 2 + 1),
    ];
    for (name, fee, part, whole, expected) in cases {
        assert_eq!(pro_rata(Money(fee), part, whole), Money(expected), "{name}");
    }
}

fn input<'a>(equity: &'a [Money], trips: &'a [RoundTrip], capital: &str) -> StatsInput<'a> {
    StatsInput {
        equity,
        interval_s: 60.0,
        capital: (!capital.is_empty()).then(|| m(capital)),
        trips,
        exposure_ns: 30,
        span_ns: 120,
        traded_notional: m("5000"),
        fees: m("1.25"),
    }
}

fn closed(pnl: &str) -> RoundTrip {
    let pnl = m(pnl).0;
    trip((TripSide::Long, 0, Some(1), (1, 1), (1, 1), pnl, 0, 1))
}

#[test]
fn stats_table() {
    struct Case {
        name: &'static str,
        equity: Vec<&'static str>,
        trips: Vec<RoundTrip>,
        capital: &'static str,
        check: fn(&Stats) -> bool,
    }
    let cases = [
        Case {
            name: "empty input",
            equity: vec![],
            trips: vec![],
            capital: "1000",
            check: |s| {
                s.return_.is_none()
                    && s.sharpe.is_none()
                    && s.sortino.is_none()
                    && s.max_drawdown == Money::ZERO
                    && s.max_drawdown_duration_s == 0.0
                    && s.round_trips == 0
                    && s.win_rate.is_none()
                    && s.expectancy.is_none()
                    && s.profit_factor.is_none()
            },
        },
        Case {
            name: "all-winning trips: no profit factor",
            equity: vec!["0", "1"],
            trips: vec![closed("1"), closed("3"), closed("0.5")],
            capital: "1000",
            check: |s| {
                s.profit_factor.is_none()
                    && s.win_rate == Some(1.0)
                    && s.avg_win == Some(m("1.5"))
                    && s.avg_loss.is_none()
                    && s.expectancy == Some(m("1.5"))
            },
        },
        Case {
            name: "mixed trips; open trip ignored",
            equity: vec!["0", "1"],
            trips: vec![closed("3"), closed("-1"), closed("0"), {
                let mut t = closed("-50");
                t.exit_ts = None;
                t
            }],
            capital: "1000",
            check: |s| {
                s.round_trips == 3
                    && s.win_rate == Some(1.0 / 3.0)
                    && s.profit_factor == Some(3.0)
                    && s.avg_loss == Some(m("-1"))
                    && s.expectancy == Some(m("0.666666666666666667"))
            },
        },
        Case {
            name: "constant equity: no sharpe",
            equity: vec!["0", "0", "0", "0"],
            trips: vec![],
            capital: "1000",
            check: |s| {
                s.sharpe.is_none()
                    && s.sortino.is_none()
                    && s.volatility.is_none()
                    && s.calmar.is_none()
                    && s.return_ == Some(0.0)
            },
        },
        Case {
            name: "linear growth: zero stdev exactly",
            equity: vec!["0", "0.1", "0.2", "0.3"],
            trips: vec![],
            capital: "1000",
            check: |s| s.sharpe.is_none() && s.sortino.is_none(),
        },
        Case {
            name: "fewer than 2 samples",
            equity: vec!["5"],
            trips: vec![],
            capital: "1000",
            check: |s| s.sharpe.is_none() && s.volatility.is_none() && s.return_ == Some(0.005),
        },
        Case {
            // Peak 0 at sample 0, dip, back at 0 at sample 3 (3 samples), new peak 4 at
            // sample 4, then down to 1 until the end (2 samples).
            name: "drawdown and duration",
            equity: vec!["0", "-2", "-1", "0", "4", "3", "1"],
            trips: vec![],
            capital: "100",
            check: |s| {
                let ann = 0.01 * SECONDS_PER_YEAR / 120e-9;
                s.max_drawdown == m("3")
                    && s.max_drawdown_duration_s == 180.0
                    && s.calmar.is_some_and(|c| (c - ann / 0.03).abs() < 1e-6 * c)
                    && s.exposure == Some(0.25)
                    && s.turnover == Some(50.0)
            },
        },
        Case {
            name: "no capital: sharpe and sortino from pnl, nothing capital-relative",
            equity: vec!["0", "-2", "-1", "0", "4"],
            trips: vec![],
            capital: "",
            check: |s| {
                let ppy = SECONDS_PER_YEAR / 60.0;
                let diffs: [f64; 4] = [-2.0, 1.0, 1.0, 4.0];
                let std = (diffs.iter().map(|d| (d - 1.0).powi(2)).sum::<f64>() / 3.0).sqrt();
                s.return_.is_none()
                    && s.volatility.is_none()
                    && s.calmar.is_none()
                    && s.turnover.is_none()
                    && s.sharpe
                        .is_some_and(|x| (x - ppy.sqrt() / std).abs() < 1e-9 * x)
                    && s.sortino.is_some_and(|x| (x - ppy.sqrt()).abs() < 1e-9 * x)
            },
        },
    ];
    for case in cases {
        let equity: Vec<Money> = case.equity.iter().map(|e| m(e)).collect();
        let stats = compute(&input(&equity, &case.trips, case.capital));
        assert!((case.check)(&stats), "{}: {stats:?}", case.name);
    }
}

#[test]
fn scaled_returns_give_the_same_sharpe() {
    let equity: Vec<Money> = ["0", "3", "1", "4", "1", "5"]
        .iter()
        .map(|e| m(e))
        .collect();
    let with = compute(&input(&equity, &[], "1000"));
    let without = compute(&input(&equity, &[], ""));
    let (a, b) = (with.sharpe.unwrap(), without.sharpe.unwrap());
    assert!((a - b).abs() < 1e-12 * a.abs(), "{a} vs {b}");
    assert!(with.volatility.is_some() && without.volatility.is_none());
}

#[test]
fn json_keys_money_strings_and_nulls() {
    let stats = Stats {
        return_: Some(0.5),
        volatility: Some(f64::NAN),
        sharpe: None,
        sortino: Some(f64::INFINITY),
        max_drawdown: m("3"),
        max_drawdown_duration_s: 60.0,
        calmar: None,
        round_trips: 2,
        win_rate: Some(0.5),
        profit_factor: None,
        avg_win: Some(m("1.234")),
        avg_loss: None,
        expectancy: Some(m("-0.1")),
        exposure: Some(1.0),
        turnover: None,
        fees: m("0.000000000000000001"),
    };
    let json = stats.to_json();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected: Vec<&str> = "return volatility sharpe sortino max_drawdown \
        max_drawdown_duration_s calmar round_trips win_rate profit_factor avg_win avg_loss \
        expectancy exposure turnover fees"
        .split_whitespace()
        .collect();
    expected.sort_unstable();
    assert_eq!(keys, expected);
    let cases = [
        ("return", serde_json::json!(0.5)),
        ("volatility", Value::Null),
        ("sortino", Value::Null),
        ("max_drawdown", serde_json::json!("3.00")),
        ("round_trips", serde_json::json!(2)),
        ("avg_win", serde_json::json!("1.234")),
        ("expectancy", serde_json::json!("-0.10")),
        ("fees", serde_json::json!("0.000000000000000001")),
    ];
    for (key, value) in cases {
        assert_eq!(json[key], value, "{key}");
    }
}
