//! The two-way engine through the real binaries: order events reach the strategies, so their
//! decisions follow their real positions through rejections and kill switches; risk limits
//! per strategy isolate variants on one broker; and every case gives the same bytes in the
//! inline and the threaded runtime.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{bin, csv_rows, engine_config, excerpt, shared_data, without_timings};

/// Writes a strategy file.
fn strategy(dir: &Path, id: &str, body: &str) -> PathBuf {
    let path = dir.join(format!("{id}.toml"));
    std::fs::write(&path, format!("id = \"{id}\"\n{body}")).expect("write strategy");
    path
}

fn ema(dir: &Path, id: &str, symbol: &str, fast: u32, slow: u32, qty: &str) -> PathBuf {
    strategy(
        dir,
        id,
        &format!(
            "kind = \"ema_cross\"\ninstruments = [\"{symbol}\"]\nbrokers = [\"paper\"]\n[params]\nfast = {fast}\nslow = {slow}\nquantity = \"{qty}\"\nprice_source = \"mid\"\n"
        ),
    )
}

/// What a backtest left: its summary (timings removed), fills.csv and orders.csv.
struct Run {
    summary: serde_json::Value,
    fills: String,
    orders: String,
    out: PathBuf,
}

fn backtest(
    cmd: assert_cmd::Command,
    data: &Path,
    strategies: &Path,
    config: Option<&Path>,
    runtime: &str,
    out: &Path,
) -> Run {
    let mut cmd = cmd;
    cmd.args(["backtest", "--json", "--runtime", runtime, "--data"])
        .arg(data)
        .arg("--strategies")
        .arg(strategies)
        .arg("--out")
        .arg(out);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    let summary = common::json(&cmd.output().expect("runs"));
    let read = |name: &str| std::fs::read_to_string(out.join(name)).expect(name);
    Run {
        summary: without_timings(summary),
        fills: read("fills.csv"),
        orders: read("orders.csv"),
        out: out.to_owned(),
    }
}

/// Runs inline and threaded and checks they agree byte for byte; returns the inline run.
fn both_runtimes(
    cmd: impl Fn() -> assert_cmd::Command,
    data: &Path,
    strategies: &Path,
    config: Option<&Path>,
    dir: &Path,
) -> Run {
    let inline = backtest(
        cmd(),
        data,
        strategies,
        config,
        "inline",
        &dir.join("inline"),
    );
    let threaded = backtest(
        cmd(),
        data,
        strategies,
        config,
        "threaded",
        &dir.join("threaded"),
    );
    assert_eq!(
        inline.fills, threaded.fills,
        "fills.csv, inline vs threaded"
    );
    assert_eq!(
        inline.orders, threaded.orders,
        "orders.csv, inline vs threaded"
    );
    assert_eq!(
        inline.summary, threaded.summary,
        "summary, inline vs threaded"
    );
    inline
}

/// Running position per (strategy, symbol) after each fill, raw decimals as f64 (exact for
/// the few decimals these cases use).
fn running_positions(fills: &Path) -> BTreeMap<(String, String), Vec<f64>> {
    let mut out: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let mut position: BTreeMap<(String, String), f64> = BTreeMap::new();
    for row in csv_rows(fills) {
        let key = (row["strategy"].clone(), row["symbol"].clone());
        let qty: f64 = row["qty"].parse().expect("qty");
        let signed = if row["side"] == "BUY" { qty } else { -qty };
        let p = position.entry(key.clone()).or_default();
        *p = ((*p + signed) * 1e9).round() / 1e9;
        out.entry(key).or_default().push(*p);
    }
    out
}

fn rejections(summary: &serde_json::Value, code: &str) -> u64 {
    summary["rejections"][code].as_u64().unwrap_or(0)
}

/// The case: a long/flat EMA whose orders the rate limit keeps refusing. Every
/// refusal reaches the strategy, and its running position stays within [0, quantity].
#[test]
fn a_rate_limited_long_flat_strategy_never_goes_short_or_above_its_quantity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let strategies = dir.path().join("s");
    std::fs::create_dir(&strategies).expect("dir");
    ema(&strategies, "ema_fast_btc", "BTCUSDT-SPOT", 2, 5, "0.01");
    ema(&strategies, "ema_fast_eth", "ETHUSDT-SPOT", 2, 5, "0.1");
    let config = engine_config(
        dir.path(),
        "rate.toml",
        &[("max_orders_per_second = 1000", "max_orders_per_second = 1")],
    );
    let run = both_runtimes(bin, &excerpt(), &strategies, Some(&config), dir.path());
    let refused = rejections(&run.summary, "ORDER_RATE");
    assert!(refused > 10, "the rate limit binds: {refused} refusals");
    for ((id, symbol), path) in running_positions(&run.out.join("fills.csv")) {
        let qty = if symbol == "BTCUSDT-SPOT" { 0.01 } else { 0.1 };
        assert!(
            path.iter().all(|&p| (0.0..=qty + 1e-12).contains(&p)),
            "{id} {symbol} left [0, {qty}]: {path:?}"
        );
    }
    // Counted per strategy row, and every refused order is in orders.csv with its code.
    let rows: u64 = run.summary["strategies"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["rejections"].as_u64().expect("count"))
        .sum();
    assert_eq!(rows, refused);
    let rejected = csv_rows(&run.out.join("orders.csv"))
        .into_iter()
        .filter(|o| o["status"] == "rejected" && o["reason"] == "ORDER_RATE")
        .count() as u64;
    assert_eq!(rejected, refused);
    assert!(run.summary["order_events"].as_u64().expect("events") > refused);
}

/// The same on the issue's own data: SPY trades, EMA 10/30, one order per second.
#[test]
fn the_spy_rate_limit_case_stays_long_or_flat() {
    let Some(data) = shared_data("trades_lean_us_equities_2013-10-07_08.csv") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let file = strategy(
        dir.path(),
        "ema_spy",
        "kind = \"ema_cross\"\ninstruments = [\"SPY\"]\nbrokers = [\"paper\"]\n[params]\nfast = 10\nslow = 30\nquantity = \"100\"\nprice_source = \"last\"\n",
    );
    let config = engine_config(
        dir.path(),
        "rate.toml",
        &[("max_orders_per_second = 1000", "max_orders_per_second = 1")],
    );
    let run = backtest(
        bin(),
        &data,
        &file,
        Some(&config),
        "inline",
        &dir.path().join("o"),
    );
    assert!(rejections(&run.summary, "ORDER_RATE") > 1000);
    let positions = running_positions(&run.out.join("fills.csv"));
    let path = &positions[&("ema_spy".to_owned(), "SPY".to_owned())];
    let (low, high) = path
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &p| (l.min(p), h.max(p)));
    assert!(low >= 0.0 && high <= 100.0, "position ranged {low}..{high}");
}

/// A tripped kill switch: `allow_reducing` (the default) lets only orders through that
/// reduce a position, `block_all` none, and `flatten_on_kill` closes every position.
#[test]
fn the_kill_switch_modes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let strategies = dir.path().join("s");
    std::fs::create_dir(&strategies).expect("dir");
    ema(&strategies, "ema_btc", "BTCUSDT-SPOT", 2, 5, "0.5");
    ema(&strategies, "ema_eth", "ETHUSDT-SPOT", 2, 5, "5");
    // Fees of 10 bps make every round trip lose: the daily loss limit is reached in minutes.
    let limit = (
        "max_daily_loss = \"1000000000\"",
        "max_daily_loss = \"100\"",
    );
    let fees = ("fee_bps = 0 ", "fee_bps = 10 ");
    let cases = [
        ("allow_reducing", vec![limit, fees]),
        (
            "block_all",
            vec![
                limit,
                fees,
                (
                    "kill_switch_mode = \"allow_reducing\"",
                    "kill_switch_mode = \"block_all\"",
                ),
            ],
        ),
        (
            "flatten",
            vec![
                limit,
                fees,
                ("flatten_on_kill = false", "flatten_on_kill = true"),
            ],
        ),
    ];
    for (name, replacements) in cases {
        let case = dir.path().join(name);
        std::fs::create_dir(&case).expect("dir");
        let config = engine_config(&case, "engine.toml", &replacements);
        let run = both_runtimes(bin, &excerpt(), &strategies, Some(&config), &case);
        assert_eq!(
            run.summary["brokers"][0]["kill_switch"], true,
            "{name}: tripped"
        );
        let orders = csv_rows(&run.out.join("orders.csv"));
        let tripped_at: u64 = orders
            .iter()
            .find(|o| o["reason"] == "DAILY_LOSS")
            .map(|o| o["closed_ts_ns"].parse().expect("ts"))
            .unwrap_or_else(|| panic!("{name}: a DAILY_LOSS refusal"));
        let fills = csv_rows(&run.out.join("fills.csv"));
        let mut position: BTreeMap<String, f64> = BTreeMap::new();
        let mut after = 0;
        for fill in &fills {
            let ts: u64 = fill["ts_ns"].parse().expect("ts");
            let qty: f64 = fill["qty"].parse().expect("qty");
            let signed = if fill["side"] == "BUY" { qty } else { -qty };
            let p = position.entry(fill["strategy"].clone()).or_default();
            if ts > tripped_at {
                after += 1;
                assert!(
                    (*p + signed).abs() < p.abs() + 1e-12,
                    "{name}: a fill after the trip that does not reduce: {fill:?}"
                );
            }
            *p += signed;
        }
        let refused_after = rejections(&run.summary, "KILL_SWITCH");
        match name {
            "block_all" => assert_eq!(after, 0, "{name}: nothing fills after the trip"),
            "flatten" => {
                assert!(run.summary["flatten_orders"].as_u64().expect("count") >= 1);
                assert!(
                    position.values().all(|p| p.abs() < 1e-12),
                    "{name}: every position closed: {position:?}"
                );
            }
            _ => assert!(
                refused_after > 0,
                "{name}: entries after the trip are refused"
            ),
        }
    }
}

/// 27 EMA variants on one broker. With a broker-wide position limit they compete for it but
/// none goes short or above its quantity; with a per-strategy limit each trades exactly as
/// it would alone.
#[test]
fn per_strategy_limits_isolate_variants_on_one_broker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let variants = dir.path().join("variants");
    std::fs::create_dir(&variants).expect("dir");
    let mut ids = Vec::new();
    for fast in [2, 3, 4] {
        for slow in 5..14 {
            let id = format!("ema_{fast}_{slow}");
            ema(&variants, &id, "BTCUSDT-SPOT", fast, slow, "0.01");
            ids.push(id);
        }
    }
    assert_eq!(ids.len(), 27);
    let shared_limit = engine_config(
        dir.path(),
        "shared.toml",
        &[("max_position = \"1000000\"", "max_position = \"0.05\"")],
    );
    let run = backtest(
        bin(),
        &excerpt(),
        &variants,
        Some(&shared_limit),
        "inline",
        &dir.path().join("shared"),
    );
    assert!(
        rejections(&run.summary, "POSITION_LIMIT") > 0,
        "the broker limit binds"
    );
    for ((id, _), path) in running_positions(&run.out.join("fills.csv")) {
        assert!(
            path.iter().all(|&p| (0.0..=0.01 + 1e-12).contains(&p)),
            "{id} left [0, 0.01]: {path:?}"
        );
    }

    let own_limit = engine_config(
        dir.path(),
        "own.toml",
        &[(
            "max_position = \"1000000\"",
            "max_position = \"1000000\"\nmax_strategy_position = \"0.01\"",
        )],
    );
    let together = backtest(
        bin(),
        &excerpt(),
        &variants,
        Some(&own_limit),
        "inline",
        &dir.path().join("own"),
    );
    assert_eq!(rejections(&together.summary, "STRATEGY_POSITION_LIMIT"), 0);
    let fills_of = |fills: &str, id: &str| -> Vec<String> {
        fills
            .lines()
            .filter(|l| l.contains(&format!(",{id},")))
            .map(|l| {
                // Order ids depend on what else runs; everything else must match.
                let cols: Vec<&str> = l.split(',').collect();
                cols[..12].join(",")
            })
            .collect()
    };
    for id in ["ema_2_5", "ema_3_9", "ema_4_13"] {
        let alone = backtest(
            bin(),
            &excerpt(),
            &variants.join(format!("{id}.toml")),
            Some(&own_limit),
            "inline",
            &dir.path().join(id),
        );
        let (a, b) = (fills_of(&alone.fills, id), fills_of(&together.fills, id));
        assert!(!a.is_empty(), "{id} trades");
        assert_eq!(a, b, "{id}: the same fills alone and among 26 others");
    }

    // A quantity above its own limit is refused with the strategy's code, never filled.
    let big = dir.path().join("big.toml");
    std::fs::write(
        &big,
        std::fs::read_to_string(variants.join("ema_2_5.toml"))
            .expect("read")
            .replace("quantity = \"0.01\"", "quantity = \"0.02\""),
    )
    .expect("write");
    let refused = backtest(
        bin(),
        &excerpt(),
        &big,
        Some(&own_limit),
        "inline",
        &dir.path().join("big"),
    );
    assert_eq!(refused.summary["fills"], 0);
    assert!(rejections(&refused.summary, "STRATEGY_POSITION_LIMIT") > 0);
}

/// `long_short_ema`, a user's kind, through its own binary: it holds short positions, and
/// its fills equal the built-in `ema_cross` in `long_short` mode.
#[test]
fn the_long_short_example_goes_short_and_matches_the_built_in_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = "instruments = [\"BTCUSDT-SPOT\", \"ETHUSDT-USDM\"]\nbrokers = [\"paper\"]\n[params]\nfast = 10\nslow = 30\nquantity = \"0.01\"\n";
    let user = strategy(
        dir.path(),
        "lse",
        &format!("kind = \"long_short_ema\"\n{body}"),
    );
    let builtin_dir = dir.path().join("builtin");
    std::fs::create_dir(&builtin_dir).expect("dir");
    let builtin = strategy(
        &builtin_dir,
        "lse",
        &format!("kind = \"ema_cross\"\n{body}mode = \"long_short\"\n"),
    );
    let example = || common::example("long_short_ema");
    let run = both_runtimes(example, &excerpt(), &user, None, &dir.path().join("user"));
    let positions = running_positions(&run.out.join("fills.csv"));
    assert!(
        positions.values().flatten().any(|&p| p < 0.0),
        "it goes short: {positions:?}"
    );
    let reference = backtest(
        bin(),
        &excerpt(),
        &builtin,
        None,
        "inline",
        &dir.path().join("ref"),
    );
    assert_eq!(
        run.fills, reference.fills,
        "fill for fill the built-in long/short EMA"
    );
    // Two-slot rings and a yielding wait policy: the same bytes again.
    let tiny = engine_config(
        dir.path(),
        "tiny.toml",
        &[("ring_capacity = 8192", "ring_capacity = 2")],
    );
    let squeezed = backtest(
        example(),
        &excerpt(),
        &user,
        Some(&tiny),
        "threaded",
        &dir.path().join("tiny"),
    );
    assert_eq!(squeezed.fills, run.fills, "2-slot rings");
}

/// `passive_quoter`, a user's kind working limit orders: its fills are maker fills at its
/// own limit prices, it cancels and replaces, partial fills happen at the touch size, and
/// both runtimes agree, also when rejections pause it on timers.
#[test]
fn the_quoter_example_rests_replaces_and_cancels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let quoter = strategy(
        dir.path(),
        "quoter",
        "kind = \"passive_quoter\"\ninstruments = [\"BTCUSDT-SPOT\", \"ETHUSDT-SPOT\"]\nbrokers = [\"paper\"]\n[params]\nquantity = \"0.01\"\n",
    );
    let touch = engine_config(
        dir.path(),
        "touch.toml",
        &[("fill_size = \"order\"", "fill_size = \"touch\"")],
    );
    let example = || common::example("passive_quoter");
    let run = both_runtimes(
        example,
        &excerpt(),
        &quoter,
        Some(&touch),
        &dir.path().join("touch"),
    );
    let orders: BTreeMap<String, BTreeMap<String, String>> = csv_rows(&run.out.join("orders.csv"))
        .into_iter()
        .map(|o| (o["order_id"].clone(), o))
        .collect();
    let fills = csv_rows(&run.out.join("fills.csv"));
    assert!(
        fills.len() > 50,
        "the quoter trades ({} fills)",
        fills.len()
    );
    // Its own prices: a BUY rests at the bid of a quote it saw, a SELL at the ask, so every
    // fill's price is the bid (ask) of a quote between the order's placing and the fill.
    let quotes: Vec<(String, u64, f64, f64)> = csv_rows(&excerpt())
        .into_iter()
        .filter(|q| !q["bid"].is_empty() && !q["ask"].is_empty())
        .map(|q| {
            let ts = q["ts_ns"].parse().expect("ts");
            let bid = q["bid"].parse().expect("bid");
            let ask = q["ask"].parse().expect("ask");
            (q["symbol"].clone(), ts, bid, ask)
        })
        .collect();
    let mut per_order: BTreeMap<&str, usize> = BTreeMap::new();
    for fill in &fills {
        let order = &orders[&fill["order_id"]];
        assert_eq!(fill["liquidity"], "maker", "{fill:?}");
        assert_eq!(order["type"], "limit", "{order:?}");
        let placed: u64 = order["placed_ts_ns"].parse().expect("ts");
        let at: u64 = fill["ts_ns"].parse().expect("ts");
        let price: f64 = fill["price"].parse().expect("price");
        let of_symbol = || quotes.iter().filter(|q| q.0 == fill["symbol"]);
        // An order placed on another instrument's tick quotes the last quote before it.
        let from = of_symbol()
            .map(|q| q.1)
            .filter(|&ts| ts <= placed)
            .max()
            .unwrap_or(0);
        let quoted = of_symbol().any(|(_, ts, bid, ask)| {
            let touch = if fill["side"] == "BUY" { bid } else { ask };
            (from..=at).contains(ts) && (touch - price).abs() < 1e-9
        });
        assert!(
            quoted,
            "a fill at a price it never quoted: {fill:?} {order:?}"
        );
        *per_order.entry(fill["order_id"].as_str()).or_default() += 1;
    }
    assert!(
        per_order.values().any(|&n| n > 1),
        "partial fills at the touch size"
    );
    for row in run.summary["strategies"].as_array().expect("rows") {
        assert!(row["cancels"].as_u64().expect("cancels") > 0, "{row}");
        assert!(row["replaces"].as_u64().expect("replaces") > 0, "{row}");
    }
    assert_eq!(run.summary["rejections"], serde_json::json!({}));

    // Rejections pause an instrument on a timer; timers fire alike in both runtimes.
    let limited = engine_config(
        dir.path(),
        "limited.toml",
        &[("max_orders_per_second = 1000", "max_orders_per_second = 2")],
    );
    let paused = both_runtimes(
        example,
        &excerpt(),
        &quoter,
        Some(&limited),
        &dir.path().join("limited"),
    );
    assert!(rejections(&paused.summary, "ORDER_RATE") > 0);
    assert!(paused.summary["timers_fired"].as_u64().expect("timers") > 0);
}

/// The example binaries run `preflight` and `live` too, with their kinds registered.
#[test]
fn the_example_binaries_run_preflight_and_live() {
    let dir = tempfile::tempdir().expect("tempdir");
    let quoter = strategy(
        dir.path(),
        "quoter",
        "kind = \"passive_quoter\"\ninstruments = [\"BTCUSDT-SPOT\"]\nbrokers = [\"paper\"]\n[params]\nquantity = \"0.01\"\n",
    );
    common::example("passive_quoter")
        .args(["preflight", "--out"])
        .arg(dir.path().join("preflight"))
        .arg("--strategies")
        .arg(&quoter)
        .assert()
        .success();
    let config = dir.path().join("live.toml");
    std::fs::write(
        &config,
        format!(
            "[runtime]\nmode = \"threaded\"\n[feed]\npath = \"{}\"\nspeed = 0\nat_end = \"exit\"\n[metrics]\nenabled = false\n[logging]\ndir = \"logs\"\nconsole = false\n[output]\ndir = \"out\"\n[venue.paper]\n",
            excerpt().display()
        ),
    )
    .expect("write");
    common::example("passive_quoter")
        .arg("live")
        .arg("--config")
        .arg(&config)
        .arg("--strategies")
        .arg(&quoter)
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .success();
    let live_fills = std::fs::read_to_string(dir.path().join("out/fills.csv")).expect("fills");
    let backtest = backtest(
        common::example("passive_quoter"),
        &excerpt(),
        &quoter,
        Some(&config),
        "threaded",
        &dir.path().join("bt"),
    );
    assert!(live_fills.lines().count() > 10);
    assert_eq!(
        live_fills, backtest.fills,
        "live trades exactly like the backtest"
    );
}
