//! `alpha-panda live` on the Kite ticker, against the Kite emulator on loopback: paper
//! trading on (emulated) live Zerodha data. The real binary subscribes, decodes, trades on
//! the paper venue, survives a dropped connection (re-subscribing, no tick twice), records
//! every packet, and stops on SIGTERM; the recording backtests to the same orders and fills.
//! No credential appears in anything it writes.

mod common;

use std::path::Path;
use std::time::Duration;

use common::kite::{
    ACCESS_TOKEN, API_KEY, Emulator, Live, agent, all_text, emulator_stats, get_json, kite_python,
    post, sample_emulator, wait_until, write_files, write_files_with,
};
use common::{csv_rows, free_port};
use serde_json::Value;

/// Token of NSE:RELIANCE in tests/data/kite/instruments.csv.
const RELIANCE: &str = "738561";

#[test]
fn paper_trading_on_the_kite_ticker_survives_a_drop_and_records_what_it_traded() {
    let Some(python) = kite_python("kite_live") else {
        return;
    };
    let mut emulator = sample_emulator(&python, &["--loop", "--interval-ms", "5"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let (engine, strategy) = write_files(dir.path(), &emulator.ws, port);
    let mut live = Live::start(&engine, &strategy);
    let health = format!("http://127.0.0.1:{port}/health/ready");
    wait_until(
        "ready (connected, canary passed)",
        Duration::from_secs(120),
        || {
            agent()
                .get(&health)
                .call()
                .is_ok_and(|r| r.status().as_u16() == 200)
        },
    );
    let packets = |stats: &Value| {
        stats["ticker"]["packets_sent"][RELIANCE]
            .as_u64()
            .unwrap_or(0)
    };
    wait_until("packets before the drop", Duration::from_secs(60), || {
        packets(&emulator_stats(&emulator)) > 100
    });
    post(&format!("{}/_emulator/drop", emulator.http));
    wait_until(
        "a second connection, subscribed",
        Duration::from_secs(60),
        || {
            let stats = emulator_stats(&emulator);
            stats["ticker"]["connections_total"].as_u64() >= Some(2)
                && stats["ticker"]["connections_open"].as_u64() == Some(1)
        },
    );
    let after_drop = packets(&emulator_stats(&emulator));
    wait_until(
        "packets after the reconnect",
        Duration::from_secs(60),
        || packets(&emulator_stats(&emulator)) > after_drop + 100,
    );
    // Pause the tape so the recording and the engine see the same packets, let the frames
    // already sent arrive, then stop.
    post(&format!("{}/_emulator/pause_ticks", emulator.http));
    // The frames already sent have arrived once the engine's tick count stops moving (a
    // fixed wait was a guess on a loaded box).
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let ticks = || -> Option<f64> {
        let text = agent()
            .get(&metrics)
            .call()
            .ok()?
            .body_mut()
            .read_to_string()
            .ok()?;
        Some(
            text.lines()
                .filter(|l| l.starts_with("alpha_panda_ticks_total{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum(),
        )
    };
    let mut last = None;
    wait_until("the tick count settles", Duration::from_secs(10), || {
        std::thread::sleep(Duration::from_millis(500));
        let now = ticks();
        let settled = now.is_some() && now == last;
        last = now;
        settled
    });
    let stats = emulator_stats(&emulator);
    let status = live.terminate();
    assert!(status.success(), "live exits 0 on SIGTERM: {status:?}");

    // Every connection subscribed our token and set full mode.
    let connections = stats["ticker"]["connections"]
        .as_array()
        .expect("connections");
    assert!(connections.len() >= 2, "{stats}");
    for c in connections {
        let log = c.to_string();
        assert!(
            log.contains("subscribe") && log.contains(RELIANCE) && log.contains("full"),
            "{c}"
        );
    }
    // Nothing doubled across the reconnect: at most one recorded row per packet sent
    // (a replay after the reconnect would record more). Frames in flight when the emulator cut the link are lost, as
    // they would be from Kite (market data is not replayed): a couple at most.
    let recorded = csv_rows(&dir.path().join("ticks.csv"));
    let sent = packets(&stats);
    assert!(
        recorded.len() as u64 <= sent && recorded.len() as u64 + 3 >= sent,
        "rows recorded {} vs packets sent {sent}",
        recorded.len()
    );
    assert!(recorded.iter().all(|r| r["symbol"] == "NSE:RELIANCE"));
    assert!(recorded.iter().all(|r| !r["exchange_ts_ns"].is_empty()));

    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/summary.json")).expect("summary.json"),
    )
    .expect("json");
    // Kite repeats the last trade in every full packet; only new trades are trades. The tape
    // has rows without a trade (2 of RELIANCE's 14): their packets repeat the previous
    // trade, and neither the engine nor the recording may count it again.
    let with_trade = recorded.iter().filter(|r| !r["last"].is_empty()).count() as u64;
    assert!(
        with_trade < recorded.len() as u64,
        "repeated trades were recorded as trades: {with_trade} of {} rows",
        recorded.len()
    );
    assert_eq!(
        summary["trades"].as_u64(),
        Some(with_trade),
        "the engine saw the recording's trades: {summary}"
    );
    assert_eq!(summary["skipped_rows"].as_u64(), Some(0), "nothing dropped");
    assert!(
        summary["wait_seconds"].as_f64() > Some(0.0),
        "waiting for the market is not load: {summary}"
    );
    let fills = summary["fills"].as_u64().expect("fills");
    assert!(fills > 0, "the EMA cross traded the live feed: {summary}");
    eprintln!(
        "kite_live: {} packets recorded, {fills} fills, {} connections",
        recorded.len(),
        connections.len()
    );
    assert!(
        summary["latency_ns"]["feed"]["count"].as_u64() > Some(0),
        "feed latency recorded"
    );

    // The recording backtests to the same orders and fills.
    let backtest = dir.path().join("backtest");
    let output = common::bin()
        .args(["backtest", "--data"])
        .arg(dir.path().join("ticks.csv"))
        .arg("--strategies")
        .arg(&strategy)
        .arg("--out")
        .arg(&backtest)
        .output()
        .expect("backtest runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let strip = |rows: Vec<std::collections::BTreeMap<String, String>>| {
        rows.into_iter()
            .map(|r| {
                (
                    r["side"].clone(),
                    r["qty"].clone(),
                    r["price"].clone(),
                    r["ts_ns"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        strip(csv_rows(&backtest.join("fills.csv"))),
        strip(csv_rows(&dir.path().join("out/fills.csv"))),
        "the recording replays the live session's fills"
    );

    // Credentials never leave the environment.
    for (path, text) in all_text(dir.path()) {
        assert!(
            !text.contains(ACCESS_TOKEN) && !text.contains(API_KEY),
            "{} holds a credential",
            path.display()
        );
    }
    emulator.stop();
}

/// The most order requests the emulator saw within any one second.
fn max_in_one_second(stats: &Value) -> usize {
    let times: Vec<f64> = stats["order_requests"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["monotonic"].as_f64().or_else(|| r["t"].as_f64()))
                .collect()
        })
        .unwrap_or_default();
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t - times[i] < 1.0)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn live_orders_go_to_kite_fill_come_back_and_stop_when_the_token_expires() {
    let Some(python) = kite_python("kite_live") else {
        return;
    };
    let mut emulator = sample_emulator(&python, &["--loop", "--interval-ms", "2"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let venue = format!(
        "kind = \"kite\"\nroot_url = \"{}\"\napi_key_env = \"KITE_API_KEY\"\naccess_token_env = \"KITE_ACCESS_TOKEN\"\nproduct = \"MIS\"\norders = \"live\"\npoll_ms = 200\nshadow = true\n",
        emulator.http
    );
    let (engine, strategy) = write_files_with(dir.path(), &emulator.ws, port, "zerodha", &venue);

    // orders = "off" (the default) refuses to start, and says how to enable it.
    let off = std::fs::read_to_string(&engine)
        .expect("engine")
        .replace("orders = \"live\"\n", "");
    let off_path = dir.path().join("off.toml");
    std::fs::write(&off_path, off).expect("off.toml");
    let refused = common::bin()
        .args(["live", "--config"])
        .arg(&off_path)
        .arg("--strategies")
        .arg(&strategy)
        .env("KITE_API_KEY", API_KEY)
        .env("KITE_ACCESS_TOKEN", ACCESS_TOKEN)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "orders = off must not start");
    assert!(stderr.contains("orders = \"live\""), "{stderr}");

    let mut live = Live::start(&engine, &strategy);
    let placed = |stats: &Value| stats["orders"]["placed"].as_u64().unwrap_or(0);
    wait_until("orders placed at Kite", Duration::from_secs(120), || {
        placed(&emulator_stats(&emulator)) >= 6
    });
    // The shadow paper venue's comparison is live in /health/detailed.
    let detailed = get_json(&format!("http://127.0.0.1:{port}/health/detailed")).expect("detailed");
    assert!(
        detailed["shadow"]["zerodha"]["ema_reliance"]["orders"].as_u64() > Some(0),
        "{}",
        detailed["shadow"]
    );
    // The next order Kite refuses reaches the strategy as a rejection.
    let _ = agent()
        .post(&format!("{}/_emulator/reject_next", emulator.http))
        .header("Content-Type", "application/json")
        .send(r#"{"message": "Insufficient funds (emulated)"}"#);
    let before = placed(&emulator_stats(&emulator));
    wait_until(
        "an order after the rejection",
        Duration::from_secs(60),
        || placed(&emulator_stats(&emulator)) >= before + 3,
    );
    // The session expires: trading on Kite stops, with a clear message.
    post(&format!("{}/_emulator/expire_token", emulator.http));
    let logs_dir = dir.path().join("logs");
    wait_until(
        "the expired session logged",
        Duration::from_secs(60),
        || {
            all_text(&logs_dir)
                .iter()
                .any(|(_, t)| t.contains("log in again"))
        },
    );
    let stats = emulator_stats(&emulator);
    post(&format!("{}/_emulator/pause_ticks", emulator.http));
    let status = live.terminate();
    assert!(status.success(), "live exits 0 on SIGTERM: {status:?}");

    let limited = stats["order_requests"]
        .as_array()
        .map_or(0, |a| a.iter().filter(|r| r["limited"] == true).count());
    assert_eq!(
        limited, 0,
        "Kite (the emulator) refused none for the rate: {}",
        stats["order_requests"]
    );
    assert!(
        max_in_one_second(&stats) <= 10,
        "Kite's 10 orders/s: {}",
        stats["order_requests"]
    );
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/summary.json")).expect("summary.json"),
    )
    .expect("json");
    let fills = summary["fills"].as_u64().expect("fills");
    assert!(
        fills >= 5,
        "Kite's fills came back as engine fills: {summary}"
    );
    eprintln!(
        "kite_live: {} orders placed at Kite, {fills} fills, rejections {}, at most {} order requests in 1 s, {} refused with 429",
        placed(&stats),
        summary["rejections"],
        max_in_one_second(&stats),
        stats["order_requests"]
            .as_array()
            .map_or(0, |a| a.iter().filter(|r| r["limited"] == true).count())
    );
    // Socket read to order request sent, measured on the one receive clock.
    let wire = &summary["latency_ns"]["tick_to_wire"];
    assert!(wire["count"].as_u64() >= Some(5), "{wire}");
    eprintln!("kite_live tick_to_wire: {wire}");
    // Real against simulated fills, per strategy.
    let shadow = &summary["shadow"]["zerodha"]["ema_reliance"];
    assert!(shadow["orders"].as_u64() >= Some(5), "{shadow}");
    for key in [
        "fill_rate_real",
        "fill_rate_sim",
        "price_diff_ticks_mean",
        "latency_to_fill_ns_p50_real",
        "latency_to_fill_ns_p50_sim",
    ] {
        assert!(shadow[key].is_number(), "{key} in {shadow}");
    }
    eprintln!("kite_live shadow: {shadow}");
    let rows = csv_rows(&dir.path().join("out/fills.csv"));
    assert!(
        rows.iter().all(
            |r| r["broker"] == "zerodha" && r["price"].parse::<f64>().is_ok_and(|p| p > 2000.0)
        )
    );
    let logs = all_text(&dir.path().join("logs"))
        .into_iter()
        .map(|(_, t)| t)
        .collect::<String>();
    assert!(
        logs.contains("Insufficient funds (emulated)"),
        "Kite's rejection message is logged"
    );
    assert!(
        logs.contains("BROKER_REJECTED"),
        "the rejection reached the engine as BROKER_REJECTED"
    );
    assert!(
        logs.contains("log in again"),
        "an expired token says what to do"
    );
    for (path, text) in all_text(dir.path()) {
        assert!(
            !text.contains(ACCESS_TOKEN) && !text.contains(API_KEY),
            "{} holds a credential",
            path.display()
        );
    }
    emulator.stop();
}

#[test]
fn kite_session_exchanges_a_request_token_once() {
    let Some(python) = kite_python("kite_live") else {
        return;
    };
    let mut emulator = Emulator::start(&python, &[]);
    let session = |token: &str, secret: &str| {
        common::bin()
            .args(["kite", "session", "--request-token", token, "--root-url"])
            .arg(&emulator.http)
            .env("KITE_API_KEY", API_KEY)
            .env("KITE_API_SECRET", secret)
            .output()
            .expect("runs")
    };
    let ok = session("request-1", "kite_emulator_secret");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let token = stdout
        .trim()
        .strip_prefix("export KITE_ACCESS_TOKEN=")
        .unwrap_or_else(|| panic!("an export line: {stdout}"));
    assert!(token.len() >= 16, "{stdout}");
    // A request token works once; a wrong secret fails the checksum. Neither prints a token.
    for (request, secret, expected) in [
        (
            "request-1",
            "kite_emulator_secret",
            "Token is invalid or has expired",
        ),
        ("request-2", "wrong", "Invalid `checksum`"),
    ] {
        let out = session(request, secret);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(expected) && out.stdout.is_empty(),
            "{stderr}"
        );
        assert!(!stderr.contains("kite_emulator_secret"), "{stderr}");
    }
    emulator.stop();
}

#[test]
fn reconciliation_seeds_a_position_cancels_a_stale_order_and_production_refuses_an_unknown_one() {
    let Some(python) = kite_python("kite_live") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    // The account holds 5 NSE:INFY and has two open INFY orders: one placed by hand, one
    // an earlier run of the engine left (its tag).
    let state = dir.path().join("state.json");
    std::fs::write(
        &state,
        r#"{"orders": [{"order_id": "260612000000777", "exchange": "NSE", "tradingsymbol": "INFY",
             "transaction_type": "BUY", "quantity": 1, "product": "MIS", "order_type": "LIMIT",
             "price": 1400.0, "status": "OPEN", "tag": "manual"},
            {"order_id": "260612000000778", "exchange": "NSE", "tradingsymbol": "INFY",
             "transaction_type": "SELL", "quantity": 1, "product": "MIS", "order_type": "LIMIT",
             "price": 1900.0, "status": "OPEN", "tag": "ap6a1b2c3d-17"}],
           "trades": [],
           "positions": [{"exchange": "NSE", "tradingsymbol": "INFY", "product": "CNC",
             "quantity": 5, "average_price": 1550.0}]}"#,
    )
    .expect("state");
    let state_arg = state.display().to_string();
    let mut emulator = sample_emulator(
        &python,
        &["--loop", "--interval-ms", "5", "--state", &state_arg],
    );
    let port = free_port();
    let venue = format!(
        "kind = \"kite\"\nroot_url = \"{}\"\napi_key_env = \"KITE_API_KEY\"\naccess_token_env = \"KITE_ACCESS_TOKEN\"\norders = \"live\"\n",
        emulator.http
    );
    let (engine, strategy) = write_files_with(dir.path(), &emulator.ws, port, "zerodha", &venue);
    let strategy_text = std::fs::read_to_string(&strategy)
        .expect("strategy")
        .replace("NSE:RELIANCE", "NSE:INFY")
        .replace("price_source = \"mid\"", "price_source = \"last\"");
    std::fs::write(&strategy, strategy_text).expect("strategy");
    let run = |engine: &Path| {
        common::bin()
            .args(["live", "--config"])
            .arg(engine)
            .arg("--strategies")
            .arg(&strategy)
            .env("KITE_API_KEY", API_KEY)
            .env("KITE_ACCESS_TOKEN", ACCESS_TOKEN)
            .timeout(Duration::from_secs(120))
            .output()
            .expect("runs")
    };
    // Production: the unknown open order on INFY stops the start, and says why.
    let production = dir.path().join("production.toml");
    std::fs::write(
        &production,
        std::fs::read_to_string(&engine).expect("engine").replace(
            "environment = \"development\"",
            "environment = \"production\"",
        ),
    )
    .expect("production.toml");
    let refused = run(&production);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("production refuses to trade") && stderr.contains("260612000000777"),
        "{stderr}"
    );
    let status_of = |id: &str| {
        let body = agent()
            .get(&format!("{}/orders", emulator.http))
            .header("X-Kite-Version", "3")
            .header("Authorization", &format!("token {API_KEY}:{ACCESS_TOKEN}"))
            .call()
            .expect("GET /orders")
            .body_mut()
            .read_to_string()
            .expect("body");
        let orders: Value = serde_json::from_str(&body).expect("json");
        orders["data"]
            .as_array()
            .expect("orders")
            .iter()
            .find(|o| o["order_id"] == id)
            .map(|o| o["status"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(
        status_of("260612000000778").as_deref(),
        Some("OPEN"),
        "a refused start touches nothing"
    );
    assert!(
        !stderr.contains("260612000000778"),
        "the engine's own order is not a mismatch: {stderr}"
    );

    // Development: the position is seeded into the one book trading INFY; trading goes on.
    let mut live = Live::start(&engine, &strategy);
    let health = format!("http://127.0.0.1:{port}/health/ready");
    wait_until("ready", Duration::from_secs(120), || {
        agent()
            .get(&health)
            .call()
            .is_ok_and(|r| r.status().as_u16() == 200)
    });
    std::thread::sleep(Duration::from_secs(1));
    post(&format!("{}/_emulator/pause_ticks", emulator.http));
    assert!(live.terminate().success());
    let logs = all_text(&dir.path().join("logs"))
        .into_iter()
        .map(|(_, t)| t)
        .collect::<String>();
    assert!(logs.contains("seeded into book"), "seeded: {logs}");
    assert!(
        logs.contains("reconciliation mismatch") && logs.contains("260612000000777"),
        "the open order is reported"
    );
    assert!(
        logs.contains("ap6a1b2c3d-17") && logs.contains("cancelled before trading"),
        "the stale order's cancel is logged: {logs}"
    );
    assert_eq!(status_of("260612000000778").as_deref(), Some("CANCELLED"));
    assert_eq!(
        status_of("260612000000777").as_deref(),
        Some("OPEN"),
        "someone else's order is left alone"
    );
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/summary.json")).expect("summary.json"),
    )
    .expect("json");
    let row = &summary["strategies"][0];
    let position: i64 = row["position"]
        .as_str()
        .expect("position")
        .parse()
        .expect("int");
    let fills: i64 = csv_rows(&dir.path().join("out/fills.csv"))
        .iter()
        .map(|r| {
            let q: i64 = r["qty"].parse().expect("qty");
            if r["side"] == "BUY" { q } else { -q }
        })
        .sum();
    assert_eq!(
        position,
        5 + fills,
        "the seeded 5 plus this run's fills: {row}"
    );
    emulator.stop();
}

#[test]
fn a_symbol_missing_from_the_kite_dump_names_the_strategy_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (engine, strategy) = write_files(dir.path(), "ws://127.0.0.1:9", free_port());
    let text = std::fs::read_to_string(&strategy)
        .expect("strategy")
        .replace("NSE:RELIANCE", "NSE:NOTREAL");
    std::fs::write(&strategy, text).expect("strategy");
    let out = common::bin()
        .args(["preflight", "--config"])
        .arg(&engine)
        .arg("--strategies")
        .arg(&strategy)
        .output()
        .expect("runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    let expected = format!(
        "{}:3: field 'instruments': 'NSE:NOTREAL' is not in the Kite instruments file",
        strategy.display()
    );
    assert!(text.contains(&expected), "{expected} in {text}");
}
