//! `alpha-panda live` as an operator runs it: the real binary on the replay feed, its
//! metrics and health endpoint on loopback, a real Prometheus scraping it, SIGTERM for a
//! graceful stop, and the files it leaves behind. Every process a test starts is stopped
//! by a guard, also when the test fails.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::live::{Running, get, live, poll, read, write_config};
use common::{excerpt, free_port, installed_tool};

#[test]
fn live_run_serves_health_and_metrics_then_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    // A quick validator, so the silence after the replay ends becomes a finding.
    let config = write_config(
        dir.path(),
        port,
        "[validator]\ninterval_ms = 100\nno_data_secs = 1\n",
    );
    let engine = Running::spawn("alpha-panda live", live(&config));
    let base = format!("http://127.0.0.1:{port}");

    // Ready once preflight and the canary passed and the feed is live.
    poll(
        &format!("{base}/health/ready"),
        Duration::from_secs(60),
        |s, _| s == 200,
    );
    let (status, _) = get(&format!("{base}/health")).expect("liveness answers");
    assert_eq!(status, 200);

    // Wait until the replay has ended and everything drained.
    let detailed = poll(
        &format!("{base}/health/detailed"),
        Duration::from_secs(60),
        |_, body| body.contains("\"ended\""),
    );
    let detailed: serde_json::Value = serde_json::from_str(&detailed).expect("JSON");
    assert_eq!(detailed["canary"]["passed"], true, "{detailed:#}");
    assert!(
        detailed["canary"]["latency_us"].as_f64().is_some(),
        "{detailed:#}"
    );

    let metrics = poll(
        &format!("{base}/metrics"),
        Duration::from_secs(30),
        |s, body| s == 200 && body.contains("alpha_panda_fills_total{broker=\"paper\"}"),
    );
    let ticks: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("alpha_panda_ticks_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(ticks, 40_000.0, "every excerpt row counted:\n{metrics}");
    assert!(
        metrics.contains("alpha_panda_ticks_total{feed=\"replay\",class=\"crypto\"} 40000"),
        "{metrics}"
    );

    // After the replay the feed is silent: the validator flags it everywhere.
    let detailed = poll(
        &format!("{base}/health/detailed"),
        Duration::from_secs(30),
        |_, body| body.contains("no_recent_data"),
    );
    let detailed: serde_json::Value = serde_json::from_str(&detailed).expect("JSON");
    assert_eq!(
        detailed["validator"]["findings"][0]["stage"], "feed",
        "{detailed:#}"
    );
    let metrics = poll(
        &format!("{base}/metrics"),
        Duration::from_secs(10),
        |_, body| {
            body.contains(
            "alpha_panda_validator_active_findings{stage=\"feed\",broker=\"\",issue=\"no_recent_data\"} 1",
        )
        },
    );
    assert!(
        metrics.contains(
            "alpha_panda_validator_findings_total{stage=\"feed\",broker=\"\",issue=\"no_recent_data\"} 1"
        ),
        "{metrics}"
    );

    // The ML strategies score per tick live; their latency is exported per strategy.
    let metrics = poll(
        &format!("{base}/metrics"),
        Duration::from_secs(10),
        |s, body| {
            s == 200
            && body.lines().any(|l| {
                l.starts_with("alpha_panda_inference_latency_seconds_count{strategy=\"ml_momentum_btcusdt_spot\"}")
                    && !l.ends_with(" 0")
            })
        },
    );
    assert!(metrics.contains("alpha_panda_stage_latency_seconds_count{stage=\"tick_to_order\"}"));

    let (status, stderr) = engine.stop(Duration::from_secs(30));
    assert!(status.success(), "exit {status}: {stderr}");

    let out = dir.path().join("out");
    for file in [
        "summary.json",
        "fills.csv",
        "pnl_snapshot.json",
        "preflight_summary.json",
    ] {
        assert!(out.join(file).is_file(), "{file} written: {stderr}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).expect("summary JSON");
    assert_eq!(summary["ticks"], 40_000);
    let fills = summary["fills"].as_u64().expect("fills");
    assert!(fills > 0, "the default strategies trade the excerpt");

    // Every channel has its file; audit has one line per order and fill with its
    // correlation id, matching fills.csv.
    let logs = dir.path().join("logs");
    for channel in alpha_panda::ops::logging::CHANNELS {
        assert!(
            logs.join(format!("{channel}.log")).is_file(),
            "{channel}.log"
        );
    }
    let audit = read(&logs.join("audit.log"));
    let audit_fills: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line"))
        .filter(|v| v["event"] == "fill")
        .collect();
    assert_eq!(audit_fills.len() as u64, fills, "one audit line per fill");
    let csv = read(&out.join("fills.csv"));
    let first_correlation = csv
        .lines()
        .nth(1)
        .and_then(|l| l.split(',').nth(1))
        .expect("a fill row");
    assert_eq!(
        audit_fills[0]["correlation"].to_string(),
        first_correlation,
        "audit and fills.csv carry the same correlation id"
    );
    let app = read(&logs.join("app.log"));
    assert!(app.contains("canary passed"), "{app}");
    assert!(app.contains("live run stopped"), "{app}");
    assert!(app.contains("pipeline validator: finding raised"), "{app}");
}

#[test]
fn live_with_exit_at_end_trades_exactly_like_the_threaded_backtest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), free_port(), "");
    // Pinned stage threads (two cores on every CI machine) trade the same.
    let text = read(&config)
        .replace("[feed]", "[runtime.pin]\nfeed = 0\nstrategy = 1\n\n[feed]")
        .replace("at_end = \"idle\"", "at_end = \"exit\"")
        .replace("speed = 10", "speed = 0");
    std::fs::write(&config, text).expect("rewrite config");
    let (status, stderr) =
        Running::spawn("alpha-panda live", live(&config)).wait(Duration::from_secs(120));
    assert!(status.success(), "exit {status}: {stderr}");

    let backtest_out = dir.path().join("backtest");
    let output = common::bin()
        .args([
            "backtest",
            "--runtime",
            "threaded",
            "--strategies",
            "strategies",
            "--out",
        ])
        .arg(&backtest_out)
        .arg("--data")
        .arg(excerpt())
        .output()
        .expect("backtest runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        read(&dir.path().join("out/fills.csv")),
        read(&backtest_out.join("fills.csv")),
        "the canary changes nothing: live fills equal the backtest's"
    );
}

#[test]
fn production_refuses_to_start_when_preflight_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(
        dir.path(),
        free_port(),
        "[venue.kite]\nkind = \"paper\"\ncredentials_env = [\"ALPHA_PANDA_TEST_SURELY_UNSET_KEY\"]\n",
    );
    let text = read(&config).replace(
        "environment = \"development\"",
        "environment = \"production\"",
    );
    std::fs::write(&config, text).expect("rewrite config");
    let (status, stderr) =
        Running::spawn("alpha-panda live", live(&config)).wait(Duration::from_secs(60));
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("preflight failed"), "{stderr}");
    assert!(
        stderr.contains("ALPHA_PANDA_TEST_SURELY_UNSET_KEY"),
        "the missing credential is named: {stderr}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&read(&dir.path().join("out/preflight_summary.json")))
            .expect("preflight summary JSON");
    assert_eq!(summary["ok"], false, "{summary:#}");
    assert!(!dir.path().join("out/fills.csv").exists(), "nothing traded");
}

#[test]
#[cfg_attr(
    prometheus_missing,
    ignore = "needs Prometheus: promtool/prometheus not on PATH (apt-get install -y prometheus)"
)]
fn prometheus_scrapes_the_live_engine() {
    let test = "live::prometheus_scrapes_the_live_engine";
    let (Some(prometheus), Some(promtool)) = (
        installed_tool("prometheus", test),
        installed_tool("promtool", test),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let engine_port = free_port();
    let config = write_config(dir.path(), engine_port, "");
    let _engine = Running::spawn("alpha-panda live", live(&config));
    let base = format!("http://127.0.0.1:{engine_port}");
    poll(
        &format!("{base}/health/ready"),
        Duration::from_secs(60),
        |s, _| s == 200,
    );

    // The exposition passes promtool's lint.
    let (_, metrics) = get(&format!("{base}/metrics")).expect("metrics answer");
    let mut check = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    std::io::Write::write_all(&mut check.stdin.take().expect("stdin"), metrics.as_bytes())
        .expect("feed promtool");
    let checked = check.wait_with_output().expect("promtool finishes");
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: alpha-panda\n    static_configs:\n      - targets: ['127.0.0.1:{engine_port}']\n"
        ),
    )
    .expect("write prometheus.yml");
    let mut cmd = Command::new(prometheus);
    cmd.arg(format!("--config.file={}", prom_config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"));
    let _prometheus = Running::spawn("prometheus", cmd);

    let query =
        format!("http://127.0.0.1:{prom_port}/api/v1/query?query=sum(alpha_panda_ticks_total)");
    let body = poll(&query, Duration::from_secs(60), |s, body| {
        s == 200 && body.contains("\"result\":[{")
    });
    let answer: serde_json::Value = serde_json::from_str(&body).expect("Prometheus JSON");
    let value: f64 = answer["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("a sample value");
    assert!(value > 0.0, "Prometheus saw ticks: {answer:#}");
    let up = poll(
        &format!("http://127.0.0.1:{prom_port}/api/v1/query?query=up{{job=%22alpha-panda%22}}"),
        Duration::from_secs(30),
        |s, body| s == 200 && body.contains("\"result\":[{"),
    );
    assert!(up.contains("\"1\""), "the scrape target is up: {up}");
}

#[test]
fn a_bad_config_names_file_line_and_field_and_starts_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let config = write_config(dir.path(), port, "");
    let text = read(&config)
        .replace("speed = 10", "speed = \"fast\"")
        .replace("ring_capacity = 4096", "ring_capacity = 1000");
    std::fs::write(&config, text).expect("rewrite config");
    let (status, stderr) =
        Running::spawn("alpha-panda live", live(&config)).wait(Duration::from_secs(60));
    assert_eq!(status.code(), Some(2), "{stderr}");
    let shown = config.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{shown}:5: field 'runtime.ring_capacity': expected a power of two, found 1000"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{shown}:10: field 'feed.speed': expected a decimal number"
        )),
        "{stderr}"
    );
    assert!(
        get(&format!("http://127.0.0.1:{port}/health")).is_none(),
        "no endpoint was started"
    );
}

#[test]
fn a_failed_canary_keeps_trading_off_and_says_why() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    // The kill switch starts tripped: risk refuses the canary's orders.
    let config = write_config(dir.path(), port, "kill_switch = true\n");
    let engine = Running::spawn("alpha-panda live", live(&config));
    let base = format!("http://127.0.0.1:{port}");
    let detailed = poll(
        &format!("{base}/health/detailed"),
        Duration::from_secs(60),
        |_, body| body.contains("\"canary\":{"),
    );
    let detailed: serde_json::Value = serde_json::from_str(&detailed).expect("JSON");
    assert_eq!(detailed["canary"]["passed"], false, "{detailed:#}");
    let why = detailed["canary"]["detail"].as_str().unwrap_or_default();
    assert!(why.contains("KILL_SWITCH"), "{why}");
    let (status, body) = get(&format!("{base}/health/ready")).expect("readiness answers");
    assert_eq!(status, 503);
    assert!(body.contains("canary failed"), "{body}");
    let (_, metrics) = get(&format!("{base}/metrics")).expect("metrics answer");
    assert!(
        metrics.contains("alpha_panda_stage_events_total{stage=\"feed\"} 0"),
        "no tick was fed to the strategies: {metrics}"
    );

    let (status, stderr) = engine.stop(Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("canary tick failed"), "{stderr}");
    let fills = read(&dir.path().join("out/fills.csv"));
    assert_eq!(fills.lines().count(), 1, "header only: nothing traded");
}

#[test]
fn a_stop_during_start_up_is_graceful_and_never_a_failed_canary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), free_port(), "");
    // SIGTERM at points across start-up: before the handlers could exist, during preflight,
    // around the canary, after it.
    for delay_ms in [0u64, 10, 30, 60, 100, 200, 400] {
        let engine = Running::spawn("alpha-panda live", live(&config));
        std::thread::sleep(Duration::from_millis(delay_ms));
        let (status, stderr) = engine.stop(Duration::from_secs(60));
        assert!(
            !stderr.contains("canary tick failed"),
            "stop after {delay_ms} ms: {stderr}"
        );
        // 0 is a clean stop; a signal that lands before `main` installs the handlers kills
        // the process the default way (143), which writes nothing and is not a failure report.
        assert!(
            status.code() == Some(0) || status.code().is_none(),
            "stop after {delay_ms} ms: {status:?} {stderr}"
        );
    }
}
