//! The metrics endpoint as Prometheus and operators see it: the exported metric set (an
//! API pinned here by an explicit table), the exposition's structure, `promtool check
//! metrics`, and the HTTP server's routes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alpha_panda::metrics::catalog::{self, LATENCY_BUCKETS_NS, LATENCY_QUANTILES};
use alpha_panda::metrics::exposition;
use alpha_panda::metrics::telemetry::{
    CanaryResult, DlqKind, FeedState, Finding, InstrumentClass, LatencySlot, Ring, StageName,
    Telemetry, TelemetryShape, store_f64,
};
use alpha_panda::metrics::{LatencyRecorder, Stage};
use alpha_panda::ops::server::MetricsServer;
use alpha_panda::risk::RejectReason;

/// The exported families: (name, type, label names, HELP). Changing any of these breaks
/// dashboards and alert rules; change this table only together with them.
const EXPECTED: &[(&str, &str, &[&str], &str)] = &[
    (
        "alpha_panda_ticks_total",
        "counter",
        &["feed", "class"],
        "Market data ticks delivered by the feed, by feed kind and instrument class.",
    ),
    (
        "alpha_panda_signals_total",
        "counter",
        &[],
        "Signals emitted by strategies.",
    ),
    (
        "alpha_panda_orders_total",
        "counter",
        &["broker"],
        "Orders approved by risk and sent to the broker's venue.",
    ),
    (
        "alpha_panda_fills_total",
        "counter",
        &["broker"],
        "Fills booked from the broker's venue.",
    ),
    (
        "alpha_panda_rejections_total",
        "counter",
        &["broker", "reason"],
        "Orders refused by risk, by broker and stable reason code.",
    ),
    (
        "alpha_panda_ring_full_total",
        "counter",
        &["ring"],
        "Times a producer found its output ring full and had to wait.",
    ),
    (
        "alpha_panda_dlq_errors_total",
        "counter",
        &["kind"],
        "Inputs set aside instead of processed (dead-letter candidates), by kind.",
    ),
    (
        "alpha_panda_dead_letters_total",
        "counter",
        &["source"],
        "Inbound messages the engine could not use, kept in the run's dead-letter file, by source (csv_row, binary_record, kite_frame, kite_text, kite_order_update).",
    ),
    (
        "alpha_panda_dead_letters_dropped_total",
        "counter",
        &[],
        "Dead letters counted but not written to the dead-letter file (its queue was full, or the file could not be written).",
    ),
    (
        "alpha_panda_http_connections_dropped_total",
        "counter",
        &["reason"],
        "Connections to the metrics endpoint closed without serving their request, by reason (limit, timeout, too_large, no_descriptor).",
    ),
    (
        "alpha_panda_validator_findings_total",
        "counter",
        &["stage", "broker", "issue"],
        "Pipeline validator findings raised, by stage, broker and issue type.",
    ),
    (
        "alpha_panda_model_loads_total",
        "counter",
        &["result"],
        "ML model loads at start-up, by result (success or failure).",
    ),
    (
        "alpha_panda_stage_events_total",
        "counter",
        &["stage"],
        "Messages handled by each pipeline stage.",
    ),
    (
        "alpha_panda_ring_depth",
        "gauge",
        &["ring"],
        "Messages waiting in each ring.",
    ),
    (
        "alpha_panda_ring_capacity",
        "gauge",
        &["ring"],
        "Slots of each ring.",
    ),
    (
        "alpha_panda_strategies_registered",
        "gauge",
        &["broker"],
        "Strategies registered and trading through the broker.",
    ),
    (
        "alpha_panda_strategies_configured",
        "gauge",
        &["broker"],
        "Strategies in the strategy files that name the broker, registered or not.",
    ),
    (
        "alpha_panda_open_positions",
        "gauge",
        &["broker"],
        "Non-flat (book, instrument) positions of the broker.",
    ),
    (
        "alpha_panda_pnl",
        "gauge",
        &["broker", "currency", "component"],
        "PnL of the broker per settlement currency, by component (realized, unrealized, fees, net).",
    ),
    (
        "alpha_panda_stage_last_activity_timestamp_seconds",
        "gauge",
        &["stage"],
        "Unix time at which each stage was last seen handling a message.",
    ),
    (
        "alpha_panda_kill_switch_tripped",
        "gauge",
        &["broker"],
        "1 when the broker's kill switch is tripped and every order is refused.",
    ),
    (
        "alpha_panda_ready",
        "gauge",
        &[],
        "1 when the engine is ready to trade (preflight and canary passed, feed live, strategies registered, no kill switch).",
    ),
    (
        "alpha_panda_validator_active_findings",
        "gauge",
        &["stage", "broker", "issue"],
        "Pipeline validator findings active now, by stage, broker and issue type.",
    ),
    (
        "alpha_panda_http_connections_open",
        "gauge",
        &[],
        "Connections the metrics endpoint is serving now.",
    ),
    (
        "alpha_panda_start_time_seconds",
        "gauge",
        &[],
        "Unix time at which the engine process started.",
    ),
    (
        "alpha_panda_build_info",
        "gauge",
        &["version"],
        "Always 1; the label carries the engine version.",
    ),
    (
        "alpha_panda_journal_records_total",
        "counter",
        &[],
        "Records the journal has written (ticks, orders, order events, starts and ends).",
    ),
    (
        "alpha_panda_journal_bytes_total",
        "counter",
        &[],
        "Bytes the journal has written.",
    ),
    (
        "alpha_panda_journal_syncs_total",
        "counter",
        &[],
        "fsyncs of the journal (each makes the orders written before it durable).",
    ),
    (
        "alpha_panda_journal_ring_full_total",
        "counter",
        &[],
        "Times the feed or execution found the journal's ring full and waited (the journal is not keeping up).",
    ),
    (
        "alpha_panda_journal_failed",
        "gauge",
        &[],
        "1 once a journal write or sync failed: orders are refused (JOURNAL_FAILED) and the run stops.",
    ),
    (
        "alpha_panda_stage_latency_seconds",
        "histogram",
        &["stage"],
        "Latency of each pipeline hop and tick to order end to end (sampled ticks; every order).",
    ),
    (
        "alpha_panda_stage_latency_quantiles_seconds",
        "summary",
        &["stage"],
        "Quantiles of each pipeline hop from its HDR histogram since start.",
    ),
    (
        "alpha_panda_inference_latency_seconds",
        "summary",
        &["strategy"],
        "ML scoring latency per ML strategy (features, model, decision per scoring tick; per call when batched).",
    ),
];

fn shape() -> TelemetryShape {
    TelemetryShape {
        brokers: vec!["paper".into(), "zerodha".into()],
        brokers_enabled: vec![true, true],
        strategies_registered: vec![2, 1],
        strategies_configured: vec![2, 3],
        ring_capacity: 4096,
        feed_kind: "replay",
        environment: "paper",
        model_loads_ok: 1,
        model_loads_failed: 1,
        ml_strategies: vec!["ml_momentum_btcusdt_spot".into()],
        currencies: vec!["USDT".into(), "BTC".into()],
        ..TelemetryShape::default()
    }
}

/// A Telemetry with two brokers, every kind of value published and latency recorded.
fn populated() -> Telemetry {
    let t = Telemetry::new(shape());
    t.ticks_by_class[InstrumentClass::Crypto as usize].set(1_000);
    t.ticks_by_class[InstrumentClass::Fx as usize].set(20);
    t.signals.set(40);
    let journal = std::sync::Arc::new(alpha_panda::journal::JournalShared::default());
    journal
        .records
        .store(41_000, std::sync::atomic::Ordering::Relaxed);
    *t.journal.lock() = Some(journal);
    for (i, stage) in StageName::ALL.iter().enumerate() {
        t.stage_events[*stage as usize].set(100 * (i as u64 + 1));
        t.last_activity_ns[*stage as usize].store(1_700_000_000_000_000_000, Ordering::Relaxed);
    }
    t.ring_sent[Ring::FeedToStrategy as usize].set(500);
    t.ring_received[Ring::FeedToStrategy as usize].set(480);
    t.ring_full[Ring::StrategyToRisk as usize].set(3);
    t.count_dlq(DlqKind::BadRow, 2);
    for (i, b) in t.brokers.iter().enumerate() {
        b.attempts.set(30);
        b.orders.set(20 + i as u64);
        b.fills.set(18);
        b.rejections[RejectReason::MaxPosition.index()].store(4, Ordering::Relaxed);
        b.open_positions.store(2, Ordering::Relaxed);
        for (c, v) in b.pnl[0].iter().zip([10.25, -3.5, 0.75, 6.0]) {
            store_f64(c, v);
        }
    }
    t.brokers[1].kill_switch.store(true, Ordering::Relaxed);
    {
        let mut v = t.validator.lock();
        v.raised
            .push((("execution", "zerodha".to_owned(), "no_fills"), 2));
        v.raised
            .push((("feed", String::new(), "no_recent_data"), 1));
        v.active.push(Finding {
            issue: "no_fills",
            stage: "execution",
            broker: "zerodha".into(),
            since_unix: 1_700_000_000.0,
            detail: "orders but no fills for 60 s".into(),
        });
        v.last_run_unix = 1_700_000_001.0;
    }
    let mut rec = LatencyRecorder::default();
    for (k, stage) in Stage::ALL.iter().enumerate() {
        for ns in [120, 800, 3_000, 40_000, 2_000_000, 30_000_000] {
            rec.record(*stage, ns * (k as u64 + 1));
        }
    }
    t.request_snapshot();
    t.hand_off_latency(LatencySlot::Execution, &mut rec);
    t
}

fn rendered(t: &Telemetry) -> String {
    let mut out = String::new();
    exposition::render(t, &mut out);
    out
}

/// `name{a="x",b="y"} value` → (name, labels in order, value). Panics on a malformed line.
fn parse_sample(line: &str) -> (String, Vec<(String, String)>, String) {
    let name_end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value in {line:?}"));
    let name = line[..name_end].to_owned();
    let mut labels = Vec::new();
    let mut rest = &line[name_end..];
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        let mut end = None;
        loop {
            // label name
            let mut label = String::new();
            match chars.peek() {
                Some((i, '}')) => {
                    end = Some(*i);
                    break;
                }
                Some(_) => {}
                None => break,
            }
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                label.push(c);
            }
            assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line:?}");
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => panic!("bad escape {other:?} in {line:?}"),
                    },
                    Some((_, '"')) => break,
                    Some((_, c)) => value.push(c),
                    None => panic!("unterminated label value in {line:?}"),
                }
            }
            labels.push((label, value));
            if let Some((_, ',')) = chars.peek() {
                chars.next();
            }
        }
        let end = end.unwrap_or_else(|| panic!("unterminated labels in {line:?}"));
        rest = &r[end + 1..];
    }
    let value = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("no space before the value in {line:?}"));
    assert!(
        !value.contains(' '),
        "a timestamp or junk after the value: {line:?}"
    );
    (name, labels, value.to_owned())
}

fn parse_value(v: &str) -> f64 {
    match v {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => v
            .parse::<f64>()
            .unwrap_or_else(|e| panic!("value {v:?}: {e}")),
    }
}

#[test]
fn the_metric_set_is_pinned() {
    // The catalog is the table.
    let catalog: Vec<(&str, &str, Vec<&str>, &str)> = catalog::METRICS
        .iter()
        .map(|m| (m.name, m.kind.name(), m.labels.to_vec(), m.help))
        .collect();
    let expected: Vec<(&str, &str, Vec<&str>, &str)> = EXPECTED
        .iter()
        .map(|(n, k, l, h)| (*n, *k, l.to_vec(), *h))
        .collect();
    assert_eq!(
        catalog, expected,
        "catalog::METRICS differs from the pinned table"
    );

    // The exposition announces exactly those families, in that order.
    let text = rendered(&populated());
    let mut headers = Vec::new();
    let mut lines = text.lines().filter(|l| l.starts_with('#'));
    while let Some(help) = lines.next() {
        let help = help
            .strip_prefix("# HELP ")
            .unwrap_or_else(|| panic!("expected # HELP, got {help:?}"));
        let (name, help) = help.split_once(' ').unwrap_or((help, ""));
        let ty = lines.next().unwrap_or_default();
        let ty = ty
            .strip_prefix(&format!("# TYPE {name} "))
            .unwrap_or_else(|| panic!("expected # TYPE {name}, got {ty:?}"));
        headers.push((name.to_owned(), ty.to_owned(), help.to_owned()));
    }
    let expected_headers: Vec<(String, String, String)> = EXPECTED
        .iter()
        .map(|(n, k, _, h)| ((*n).to_owned(), (*k).to_owned(), (*h).to_owned()))
        .collect();
    assert_eq!(headers, expected_headers);
}

#[test]
fn samples_belong_to_their_family_with_its_labels() {
    let t = populated();
    let text = rendered(&t);
    let families: BTreeMap<&str, (&str, &[&str])> =
        EXPECTED.iter().map(|(n, k, l, _)| (*n, (*k, *l))).collect();

    let mut current: Option<&str> = None;
    let mut seen_series = BTreeSet::new();
    let mut samples_per_family: BTreeMap<&str, usize> = BTreeMap::new();
    // stage → [(le, cumulative count)], stage → _count
    let mut buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
    let mut quantiles: BTreeMap<String, Vec<String>> = BTreeMap::new();

    for line in text.lines() {
        assert!(!line.is_empty(), "empty line in the exposition");
        if let Some(ty) = line.strip_prefix("# TYPE ") {
            let name = ty.split(' ').next().unwrap_or_default();
            current = families.get_key_value(name).map(|(k, _)| *k);
            assert!(current.is_some(), "unknown family {name}");
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let family = current.unwrap_or_else(|| panic!("sample before any # TYPE: {line:?}"));
        let (kind, family_labels) = families[family];
        let (name, labels, value) = parse_sample(line);
        let suffix = name
            .strip_prefix(family)
            .unwrap_or_else(|| panic!("{name} is not in family {family}"));
        let allowed: &[&str] = match kind {
            "histogram" => &["_bucket", "_sum", "_count"],
            "summary" => &["", "_sum", "_count"],
            _ => &[""],
        };
        assert!(
            allowed.contains(&suffix),
            "{name}: suffix {suffix:?} on a {kind}"
        );

        let mut expected_labels: Vec<&str> = family_labels.to_vec();
        if suffix == "_bucket" {
            expected_labels.push("le");
        }
        if kind == "summary" && suffix.is_empty() {
            expected_labels.push("quantile");
        }
        let label_names: Vec<&str> = labels.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(label_names, expected_labels, "labels of {line:?}");
        assert!(
            seen_series.insert((name.clone(), labels.clone())),
            "duplicate series {line:?}"
        );
        let v = parse_value(&value);
        assert!(!v.is_nan(), "NaN in {line:?}");
        *samples_per_family.entry(family).or_default() += 1;

        let stage = labels
            .iter()
            .find(|(n, _)| n == "stage")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        if family == "alpha_panda_stage_latency_seconds" {
            match suffix {
                "_bucket" => {
                    let le = parse_value(&labels[1].1);
                    buckets.entry(stage).or_default().push((le, v));
                }
                "_count" => {
                    counts.insert(stage, v);
                }
                _ => {}
            }
        } else if family == "alpha_panda_stage_latency_quantiles_seconds" && suffix.is_empty() {
            quantiles
                .entry(stage)
                .or_default()
                .push(labels[1].1.clone());
        }
    }

    // Every family is present with samples for this populated engine.
    for (name, ..) in EXPECTED {
        assert!(
            samples_per_family.get(name).copied().unwrap_or(0) > 0,
            "no samples for {name}"
        );
    }
    // Closed label sets in full, zeros included.
    assert_eq!(
        samples_per_family["alpha_panda_rejections_total"],
        2 * RejectReason::ALL.len()
    );
    assert_eq!(
        samples_per_family["alpha_panda_ticks_total"],
        InstrumentClass::ALL.len()
    );
    // Per broker, settlement currency and component.
    assert_eq!(samples_per_family["alpha_panda_pnl"], 2 * 2 * 4);
    assert_eq!(
        samples_per_family["alpha_panda_validator_findings_total"],
        2
    );

    // Histograms: one per stage, buckets at the catalog bounds, cumulative, +Inf == _count.
    let stages: Vec<String> = Stage::ALL.iter().map(|s| s.name().to_owned()).collect();
    assert_eq!(
        buckets.keys().cloned().collect::<BTreeSet<_>>(),
        stages.iter().cloned().collect()
    );
    for (stage, bs) in &buckets {
        let les: Vec<f64> = bs.iter().map(|(le, _)| *le).collect();
        let mut expected_les: Vec<f64> = LATENCY_BUCKETS_NS
            .iter()
            .map(|ns| *ns as f64 / 1e9)
            .collect();
        expected_les.push(f64::INFINITY);
        assert_eq!(les, expected_les, "bucket bounds of {stage}");
        assert!(
            bs.windows(2).all(|w| w[0].1 <= w[1].1),
            "buckets of {stage} are not cumulative: {bs:?}"
        );
        let inf = bs.last().map(|(_, c)| *c);
        assert_eq!(
            inf,
            counts.get(stage).copied(),
            "+Inf bucket of {stage} vs _count"
        );
        assert_eq!(inf, Some(6.0), "{stage}: six recordings");
    }
    // Risk (k = 3 → ×4): 480, 3200, 12000, 160000 ns within 10 ms, 8 ms too, 120 ms not.
    let risk = &buckets["risk"];
    let at = |le_ns: u64| {
        risk.iter()
            .find(|(le, _)| *le == le_ns as f64 / 1e9)
            .map(|(_, c)| *c)
    };
    assert_eq!(at(250), Some(0.0));
    assert_eq!(at(500), Some(1.0));
    assert_eq!(at(5_000), Some(2.0));
    assert_eq!(at(250_000), Some(4.0));
    assert_eq!(at(10_000_000), Some(5.0));

    let expected_q: Vec<String> = LATENCY_QUANTILES.iter().map(|q| q.to_string()).collect();
    for stage in &stages {
        assert_eq!(
            quantiles.get(stage),
            Some(&expected_q),
            "quantiles of {stage}"
        );
    }
}

#[test]
#[cfg_attr(
    prometheus_missing,
    ignore = "needs Prometheus: promtool/prometheus not on PATH (apt-get install -y prometheus)"
)]
fn promtool_check_metrics() {
    // Label values that need escaping: a quote, a backslash and a newline in broker names.
    let awkward = Telemetry::new(TelemetryShape {
        brokers: vec!["desk \"a\"".into(), "c:\\path\nnext".into()],
        ..shape()
    });
    awkward.validator.lock().active.push(Finding {
        issue: "no_orders",
        stage: "risk",
        broker: "desk \"a\"".into(),
        since_unix: 0.0,
        detail: String::new(),
    });
    for text in [
        rendered(&populated()),
        rendered(&Telemetry::new(shape())),
        rendered(&awkward),
    ] {
        if !promtool_accepts(&text) {
            return;
        }
    }
}

/// Runs `promtool check metrics` on `text` and asserts it passes; false when promtool is
/// not installed (and CI is not set).
fn promtool_accepts(text: &str) -> bool {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "promtool not found on PATH and CI is set: install it (apt-get install -y prometheus)"
            );
            eprintln!(
                "SKIPPED metrics_endpoint::promtool_check_metrics: promtool not found on PATH (apt-get install -y prometheus)"
            );
            return false;
        }
        Err(e) => panic!("running promtool: {e}"),
    };
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // promtool exits 1 when the text does not parse and 3 when it parses but has lint
    // problems (one per line: `<metric> <problem>`); both fail.
    assert!(
        out.status.success(),
        "promtool check metrics failed ({}):\n{report}\n--- exposition ---\n{text}",
        out.status
    );
    true
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// GET → (status, content type, body).
fn get(agent: &ureq::Agent, url: &str) -> (u16, String, String) {
    let mut resp = agent
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = resp
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|e| panic!("body of {url}: {e}"));
    (status, content_type, body)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn http_server_serves_metrics_and_health() {
    let t = Arc::new(Telemetry::new(shape()));
    let server = MetricsServer::start(
        "127.0.0.1:0".parse().expect("addr"),
        Arc::clone(&t),
        Arc::default(),
    )
    .expect("server starts");
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    let base = format!("http://{addr}");
    let agent = agent();

    let (status, ct, body) = get(&agent, &format!("{base}/metrics"));
    assert_eq!(status, 200);
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    assert_eq!(ct, exposition::content_type());
    assert!(
        body.contains("# TYPE alpha_panda_ticks_total counter\n"),
        "{body}"
    );
    assert!(body.contains("\nalpha_panda_ready 0\n"), "{body}");

    let (status, ct, body) = get(&agent, &format!("{base}/health"));
    assert_eq!(status, 200);
    assert!(ct.starts_with("application/json"), "{ct}");
    assert_eq!(json(&body)["status"], "alive");

    let (status, ct, body) = get(&agent, &format!("{base}/health/ready"));
    assert_eq!(status, 503);
    assert!(ct.starts_with("application/json"), "{ct}");
    let ready = json(&body);
    assert_eq!(ready["ready"], false);
    let reasons: Vec<&str> = ready["reasons"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r.as_str()).collect())
        .unwrap_or_default();
    assert!(reasons.contains(&"preflight has not passed"), "{reasons:?}");
    assert!(
        reasons.contains(&"canary tick not yet through"),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"feed is starting"), "{reasons:?}");

    // Make the engine ready.
    t.preflight_ok.store(true, Ordering::Release);
    *t.canary.lock() = Some(CanaryResult {
        passed: true,
        latency_ns: 42_000,
        instrument: "BTCUSDT-SPOT".into(),
        approved: 2,
        checked: 2,
        detail: "approved and acknowledged".into(),
    });
    t.set_feed_state(FeedState::Live);
    let (status, _, body) = get(&agent, &format!("{base}/health/ready"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body), serde_json::json!({ "ready": true }));
    let (_, _, body) = get(&agent, &format!("{base}/metrics"));
    assert!(body.contains("\nalpha_panda_ready 1\n"), "{body}");

    let (status, ct, body) = get(&agent, &format!("{base}/health/detailed"));
    assert_eq!(status, 200);
    assert!(ct.starts_with("application/json"), "{ct}");
    let d = json(&body);
    for key in [
        "environment",
        "uptime_secs",
        "ready",
        "reasons",
        "feed",
        "stages",
        "rings",
        "brokers",
        "canary",
        "validator",
        "latency",
        "inference",
    ] {
        assert!(d.get(key).is_some(), "/health/detailed has no {key}: {d}");
    }
    assert_eq!(d["environment"], "paper");
    assert_eq!(d["ready"], true);
    assert_eq!(d["feed"]["state"], "live");
    assert_eq!(d["brokers"].as_array().map(Vec::len), Some(2));
    assert_eq!(d["brokers"][1]["name"], "zerodha");
    for key in [
        "enabled",
        "strategies_registered",
        "strategies_configured",
        "attempts",
        "orders",
        "fills",
        "rejections",
        "kill_switch",
        "open_positions",
        "pnl",
    ] {
        assert!(
            d["brokers"][0].get(key).is_some(),
            "broker has no {key}: {d}"
        );
    }
    assert_eq!(
        d["stages"].as_array().map(Vec::len),
        Some(StageName::ALL.len())
    );
    assert_eq!(d["rings"].as_array().map(Vec::len), Some(Ring::ALL.len()));
    assert_eq!(d["canary"]["passed"], true);
    assert_eq!(d["canary"]["latency_us"], 42.0);
    assert!(d["validator"]["findings"].is_array(), "{d}");
    assert!(d["latency"]["tick_to_order"]["p99_us"].is_number(), "{d}");

    let (status, _, _) = get(&agent, &format!("{base}/nope"));
    assert_eq!(status, 404);

    // Shutdown returns (joins the serving thread) and the endpoint stops answering.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        server.shutdown();
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("shutdown returns");
    let short = ureq::Agent::config_builder()
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .new_agent();
    let mut refused = false;
    for _ in 0..50 {
        if short.get(&format!("{base}/health")).call().is_err() {
            refused = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(refused, "the endpoint still answers after shutdown");
}

/// A backtest publishes to the same telemetry (once per chunk), so `backtest --metrics`
/// shows what the run did: counters after the run equal the run's own totals.
#[test]
fn backtest_counters_reach_the_exposition() {
    let (engine, ticks) = common::excerpt_engine(&alpha_panda::config::EngineConfig::default());
    let telemetry = std::sync::Arc::clone(&engine.telemetry);
    // What a metrics endpoint does when it starts.
    telemetry
        .observed
        .store(true, std::sync::atomic::Ordering::Release);
    let mut source = alpha_panda::runtime::SliceSource::new(&ticks);
    let (_, outcome) = engine.run(&mut source, &mut |_| {}).expect("run");
    let text = rendered(&telemetry);
    let sample = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{series} in\n{text}"))
    };
    assert_eq!(
        sample("alpha_panda_ticks_total{feed=\"backtest\",class=\"crypto\"}"),
        outcome.ticks as f64
    );
    assert_eq!(sample("alpha_panda_signals_total"), outcome.signals as f64);
    assert_eq!(
        sample("alpha_panda_orders_total{broker=\"paper\"}"),
        outcome.orders as f64
    );
    assert_eq!(
        sample("alpha_panda_fills_total{broker=\"paper\"}"),
        outcome.fills.len() as f64
    );
    assert!(!outcome.fills.is_empty(), "the run trades");
}

/// A client that sends request after request and never reads the answers stalls only its
/// own connection: a liveness probe on another connection is still answered.
#[test]
fn a_client_that_never_reads_does_not_block_health() {
    use std::io::Write as _;
    let server = MetricsServer::start(
        "127.0.0.1:0".parse().expect("addr"),
        Arc::new(populated()),
        Arc::default(),
    )
    .expect("server starts");
    let addr = server.local_addr();
    let mut greedy = std::net::TcpStream::connect(addr).expect("connect");
    let pipelined = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(400);
    greedy
        .write_all(pipelined.as_bytes())
        .expect("send pipelined requests");
    // Enough answers to fill the socket buffers many times over; none is read.
    std::thread::sleep(Duration::from_millis(500));
    let (status, _, body) = get(&agent(), &format!("http://{addr}/health"));
    assert_eq!(status, 200, "{body}");
    drop(greedy);
    server.shutdown();
}
