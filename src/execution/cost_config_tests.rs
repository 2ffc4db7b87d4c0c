//! Tests of the cost keys of `[venue.NAME]` and `[venue.NAME.instruments.SYMBOL]`, read by
//! `execution::config` into `cost::VenueCosts`.

use std::path::Path;

use super::tests::{bps, money};
use super::*;
use crate::config::EngineConfig;

fn parse(venue_lines: &str) -> Result<VenueCosts, Vec<String>> {
    let text = format!("[venue.paper]\n{venue_lines}");
    EngineConfig::parse(Path::new("e.toml"), &text)
        .map(|c| c.brokers[0].costs.clone())
        .map_err(|e| e.0.iter().map(ToString::to_string).collect())
}

#[test]
fn config_keys_table() {
    let base = Commission::default();
    let cases: [(&str, &str, Costs); 11] = [
        ("no keys: free", "", Costs::default()),
        (
            "fee_bps sets both",
            "fee_bps = 0.35\n",
            Costs {
                commission: Commission {
                    maker_bps: bps("0.35"),
                    taker_bps: bps("0.35"),
                    ..base
                },
                ..Costs::default()
            },
        ),
        (
            "maker and taker override fee_bps",
            "fee_bps = 3\nmaker_fee_bps = \"1\"\ntaker_fee_bps = 5\n",
            Costs {
                commission: Commission {
                    maker_bps: bps("1"),
                    taker_bps: bps("5"),
                    ..base
                },
                ..Costs::default()
            },
        ),
        (
            "fee_per_unit",
            "fee_per_unit = \"0.005\"\n",
            Costs {
                commission: Commission {
                    per_unit: money("0.005"),
                    ..base
                },
                ..Costs::default()
            },
        ),
        (
            "min_fee",
            "min_fee = 1\n",
            Costs {
                commission: Commission {
                    min_per_order: money("1"),
                    ..base
                },
                ..Costs::default()
            },
        ),
        (
            "buy and sell rates",
            "buy_fee_bps = 50\nsell_fee_bps = \"10.5\"\n",
            Costs {
                commission: Commission {
                    buy_bps: bps("50"),
                    sell_bps: bps("10.5"),
                    ..base
                },
                ..Costs::default()
            },
        ),
        ("slippage none", "slippage = \"none\"\n", Costs::default()),
        (
            "slippage ticks",
            "slippage = \"2 ticks\"\n",
            Costs {
                slippage: Slippage::Ticks(2),
                ..Costs::default()
            },
        ),
        (
            "slippage one tick",
            "slippage = \"1 tick\"\n",
            Costs {
                slippage: Slippage::Ticks(1),
                ..Costs::default()
            },
        ),
        (
            "slippage bps",
            "slippage = \"1.5 bps\"\n",
            Costs {
                slippage: Slippage::Bps(bps("1.5")),
                ..Costs::default()
            },
        ),
        (
            "upper bounds accepted",
            "fee_bps = 10000\nfee_per_unit = 1000000\nmin_fee = 1000000\n",
            Costs {
                commission: Commission {
                    maker_bps: Bps::MAX,
                    taker_bps: Bps::MAX,
                    per_unit: money("1000000"),
                    min_per_order: money("1000000"),
                    ..base
                },
                ..Costs::default()
            },
        ),
    ];
    for (name, lines, expected) in cases {
        let costs = parse(lines).unwrap_or_else(|e| panic!("{name}: {e:#?}"));
        assert_eq!(costs.default, expected, "{name}");
        assert!(costs.overrides.is_empty(), "{name}: no overrides");
    }
}

#[test]
fn config_instrument_overrides() {
    let text = "taker_fee_bps = 5\nmaker_fee_bps = 1\nslippage = \"1 tick\"\n\
                [venue.paper.instruments.BTCUSDT]\nfee_bps = 2\n\
                [venue.paper.instruments.SPY]\nfee_per_unit = \"0.005\"\nmin_fee = 1\nslippage = \"none\"\n";
    let costs = parse(text).expect("valid");
    let venue = Costs {
        commission: Commission {
            maker_bps: bps("1"),
            taker_bps: bps("5"),
            ..Commission::default()
        },
        slippage: Slippage::Ticks(1),
    };
    assert_eq!(costs.default, venue, "venue default");
    let expected = vec![
        (
            "BTCUSDT".to_owned(),
            Costs {
                commission: Commission {
                    maker_bps: bps("2"),
                    taker_bps: bps("2"),
                    ..venue.commission
                },
                ..venue
            },
        ),
        (
            "SPY".to_owned(),
            Costs {
                commission: Commission {
                    per_unit: money("0.005"),
                    min_per_order: money("1"),
                    ..venue.commission
                },
                slippage: Slippage::None,
            },
        ),
    ];
    assert_eq!(
        costs.overrides, expected,
        "overrides inherit the venue's keys"
    );
    assert_eq!(costs.for_symbol("SPY"), &expected[1].1, "lookup");
}

#[test]
fn config_errors_name_line_and_field() {
    let cases = [
        (
            "negative",
            "fee_bps = -1\n",
            "e.toml:2: field 'venue.paper.fee_bps': expected a decimal >= 0",
        ),
        (
            "not a number",
            "maker_fee_bps = \"x\"\n",
            "e.toml:2: field 'venue.paper.maker_fee_bps': expected a decimal number",
        ),
        (
            "above 100%",
            "\ntaker_fee_bps = 10001\n",
            "e.toml:3: field 'venue.paper.taker_fee_bps': expected bps in 0..=10000",
        ),
        (
            "too many decimals",
            "sell_fee_bps = \"0.0000000000001\"\n",
            "e.toml:2: field 'venue.paper.sell_fee_bps': at most 12 decimals",
        ),
        (
            "buy negative",
            "buy_fee_bps = -0.5\n",
            "e.toml:2: field 'venue.paper.buy_fee_bps': expected a decimal >= 0",
        ),
        (
            "per unit too big",
            "fee_per_unit = 1000001\n",
            "e.toml:2: field 'venue.paper.fee_per_unit': expected an amount in 0..=1000000",
        ),
        (
            "per unit too precise",
            "fee_per_unit = \"0.0000000000000000001\"\n",
            "e.toml:2: field 'venue.paper.fee_per_unit': expected at most 18 decimals, found 19",
        ),
        (
            "min negative",
            "min_fee = \"-1\"\n",
            "e.toml:2: field 'venue.paper.min_fee': expected a decimal >= 0",
        ),
        (
            "min too big",
            "min_fee = 2000000\n",
            "e.toml:2: field 'venue.paper.min_fee': expected an amount in 0..=1000000",
        ),
        (
            "slippage unknown model",
            "slippage = \"ticks\"\n",
            "e.toml:2: field 'venue.paper.slippage': expected \"none\", \"N ticks\" or \"X bps\", found \"ticks\"",
        ),
        (
            "slippage unknown unit",
            "slippage = \"2 pips\"\n",
            "e.toml:2: field 'venue.paper.slippage': expected \"none\", \"N ticks\" or \"X bps\"",
        ),
        (
            "slippage fractional ticks",
            "slippage = \"1.5 ticks\"\n",
            "e.toml:2: field 'venue.paper.slippage': expected a whole number of ticks in 0..=1000000",
        ),
        (
            "slippage too many ticks",
            "slippage = \"1000001 ticks\"\n",
            "e.toml:2: field 'venue.paper.slippage': expected a whole number of ticks in 0..=1000000",
        ),
        (
            "slippage negative bps",
            "slippage = \"-1 bps\"\n",
            "e.toml:2: field 'venue.paper.slippage': expected bps in 0..=10000",
        ),
        (
            "slippage not a string",
            "slippage = 2\n",
            "e.toml:2: field 'venue.paper.slippage': expected \"none\", \"N ticks\" or \"X bps\"",
        ),
        (
            "override bad value",
            "[venue.paper.instruments.X]\nfee_bps = \"abc\"\n",
            "e.toml:3: field 'venue.paper.instruments.X.fee_bps': expected a decimal number",
        ),
        (
            "override unknown key",
            "[venue.paper.instruments.X]\nfees = 1\n",
            "e.toml:3: field 'venue.paper.instruments.X.fees': unknown field",
        ),
        (
            "override not a table",
            "instruments = { X = 1 }\n",
            "e.toml:2: field 'venue.paper.instruments.X': expected a table",
        ),
        (
            "override venue-only key",
            "[venue.paper.instruments.X]\nlatency_ns = 1\n",
            "e.toml:3: field 'venue.paper.instruments.X.latency_ns': unknown field",
        ),
    ];
    for (name, lines, needle) in cases {
        let errors = parse(lines).expect_err(name);
        assert!(
            errors.iter().any(|e| e.contains(needle)),
            "{name}: missing {needle:?} in {errors:#?}"
        );
    }
}
