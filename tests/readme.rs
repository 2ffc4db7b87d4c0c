//! The README's "Write your own strategy" works as written: the program it shows is
//! `examples/dip_buyer.rs` verbatim, and that binary, run on the embedded excerpt with the
//! README's strategy file, trades as the README says (two market BUYs, one take-profit SELL
//! filled as maker at its limit, never short). Bad `[params]` get file:line:field errors.

mod common;

use std::path::Path;

/// The README's block fenced by `fence` + `lang` that starts with `first_line` (the Rust
/// program is fenced with four backticks, as its doc comments hold fenced blocks).
fn readme_block(fence: &str, lang: &str, first_line: &str) -> String {
    let readme = std::fs::read_to_string(common::project_root().join("README.md"))
        .expect("README.md is readable");
    let open = format!("\n{fence}{lang}\n");
    let close = format!("\n{fence}\n");
    let mut rest = readme.as_str();
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let end = body.find(&close).expect("a closed fence") + 1;
        if body.starts_with(first_line) {
            return body[..end].to_owned();
        }
        rest = &body[end..];
    }
    panic!("README.md has no {fence}{lang} block starting with {first_line:?}");
}

fn strategy_file(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("dip.toml");
    std::fs::write(&path, text).expect("write the strategy file");
    path
}

#[test]
fn the_readme_shows_the_dip_buyer_example_verbatim() {
    let example = std::fs::read_to_string(common::project_root().join("examples/dip_buyer.rs"))
        .expect("examples/dip_buyer.rs");
    let shown = readme_block("````", "rust", "//! `dip_buyer`");
    assert_eq!(
        shown, example,
        "README.md's strategy differs from examples/dip_buyer.rs: paste the file into it"
    );
}

#[test]
fn the_readme_strategy_trades_as_described() {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = readme_block("```", "toml", "id = \"dip_btc\"");
    let strategies = strategy_file(dir.path(), &toml);
    let out = dir.path().join("out");
    common::example("dip_buyer")
        .arg("backtest")
        .arg("--strategies")
        .arg(&strategies)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();

    let fills = common::csv_rows(&out.join("fills.csv"));
    let sides: Vec<(&str, &str)> = fills
        .iter()
        .map(|f| (f["side"].as_str(), f["liquidity"].as_str()))
        .collect();
    assert_eq!(
        sides,
        [("BUY", "taker"), ("SELL", "maker"), ("BUY", "taker")],
        "two market buys and one take-profit at the limit"
    );
    // Prices have two decimals on this instrument: compare in cents, exactly.
    let cents = |s: &str| -> i64 { s.replace('.', "").parse().expect("a price") };
    let (bought, sold) = (cents(&fills[0]["price"]), cents(&fills[1]["price"]));
    assert!(
        sold * 10_000 >= bought * 10_002,
        "the exit is at least profit_bps = 2 above the entry: {bought} -> {sold}"
    );

    let orders = common::csv_rows(&out.join("orders.csv"));
    let exit = orders
        .iter()
        .find(|o| o["side"] == "SELL")
        .expect("the take-profit order");
    assert_eq!(exit["type"], "limit");
    assert_eq!(
        exit["limit_price"], fills[1]["price"],
        "a maker fill at its own limit"
    );
    let open: Vec<_> = orders.iter().filter(|o| o["status"] == "open").collect();
    assert_eq!(
        open.len(),
        1,
        "the second position's exit is resting at the end"
    );
    assert_eq!(open[0]["side"], "SELL");
    assert_eq!(open[0]["closed_ts_ns"], "", "an open order has not closed");
    assert_eq!(
        fills[1]["correlation"], exit["correlation"],
        "a fill carries the correlation of the tick its order was placed on"
    );
}

#[test]
fn bad_params_of_a_user_kind_are_reported_with_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = readme_block("```", "toml", "id = \"dip_btc\"")
        .replace("drop_bps = 2", "drop_bps = 0")
        .replace("profit_bps = 2", "profit_bps = \"two\"");
    let strategies = strategy_file(dir.path(), &toml);
    let output = common::example("dip_buyer")
        .arg("backtest")
        .arg("--strategies")
        .arg(&strategies)
        .output()
        .expect("run the example");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "dip.toml:7: field 'params.drop_bps': expected integer in 1..=9999, found 0",
        "dip.toml:8: field 'params.profit_bps'",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in:\n{stderr}");
    }
}

#[test]
fn a_misspelt_kind_or_key_gets_one_clear_error_each() {
    let dir = tempfile::tempdir().expect("tempdir");
    let readme = readme_block("```", "toml", "id = \"dip_btc\"");
    for (toml, expected, absent) in [
        (
            readme.replace("kind = \"dip_buyer\"", "kind = \"dip_buyr\""),
            "dip.toml:2: field 'kind': expected one of ema_cross | momentum | mean_reversion | breakout | ml | dip_buyer, found \"dip_buyr\"",
            "params.",
        ),
        (
            readme.replace("drop_bps = 2", "drop = 2"),
            "dip.toml:7: field 'params.drop': unknown field (known: quantity, drop_bps, profit_bps)",
            "quantity, quantity",
        ),
    ] {
        let strategies = strategy_file(dir.path(), &toml);
        let output = common::example("dip_buyer")
            .arg("backtest")
            .arg("--strategies")
            .arg(&strategies)
            .output()
            .expect("run the example");
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{expected:?} in:\n{stderr}");
        assert!(!stderr.contains(absent), "no {absent:?} in:\n{stderr}");
    }
}
