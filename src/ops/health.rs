//! Health documents of a running engine, served by the metrics endpoint
//! (`/health`, `/health/ready`, `/health/detailed`).
//!
//! Contract:
//! - [`liveness`] is 200 for as long as the process can answer: it says nothing about
//!   trading.
//! - [`readiness`] is 200 `{"ready":true}` when [`Telemetry::ready`], else 503
//!   `{"ready":false,"reasons":[...]}` with every reason (the same list as the
//!   `alpha_panda_ready` gauge is computed from).
//! - [`detailed`] is a point-in-time document for operators. Where order matters it uses
//!   arrays in pipeline/configuration order; objects (`latency`, `rejections`) are keyed
//!   maps, serialized in key order. Times are Unix seconds (`*_unix`) or seconds
//!   (`*_secs`); latencies are µs. `null` means "never" or "not known yet".
//! - Nothing here blocks a stage: values are the published relaxed counters and the last
//!   latency copies.

use std::sync::atomic::Ordering;

use serde_json::{Map, Value, json};

use crate::clock::unix_now_secs;
use crate::metrics::telemetry::{
    FeedState, InstrumentClass, PNL_COMPONENTS, Ring, StageName, Telemetry, load_f64,
};
use crate::metrics::{LatencySummary, Stage};
use crate::risk::RejectReason;
use crate::runtime::RunControl;

/// `GET /health`: 200 `{"status":"alive","uptime_secs":…}`; 503 `{"status":"dead",…}`
/// once a pipeline stage thread has panicked (the process is up but cannot trade: restart).
pub fn liveness(t: &Telemetry, control: &RunControl) -> (u16, Value) {
    let uptime = uptime_secs(t, unix_now_secs());
    if control.aborted() {
        return (
            503,
            json!({ "status": "dead", "reason": "a pipeline stage thread panicked", "uptime_secs": uptime }),
        );
    }
    (200, json!({ "status": "alive", "uptime_secs": uptime }))
}

/// `GET /health/ready`: 200 `{"ready":true}`, or 503 `{"ready":false,"reasons":[…]}`.
pub fn readiness(t: &Telemetry) -> (u16, Value) {
    let reasons = t.not_ready_reasons();
    if reasons.is_empty() {
        (200, json!({ "ready": true }))
    } else {
        (503, json!({ "ready": false, "reasons": reasons }))
    }
}

/// `GET /health/detailed`: the engine's state for an operator.
pub fn detailed(t: &Telemetry, control: &RunControl) -> Value {
    let now = unix_now_secs();
    let reasons = t.not_ready_reasons();

    let ticks: Map<String, Value> = InstrumentClass::ALL
        .iter()
        .map(|c| {
            (
                c.name().to_owned(),
                json!(t.ticks_by_class[*c as usize].get()),
            )
        })
        .collect();

    let stalled: Vec<&'static str> = t
        .validator
        .lock()
        .active
        .iter()
        .filter(|f| f.issue == "stalled_stage")
        .map(|f| f.stage)
        .collect();
    let stages: Vec<Value> = StageName::ALL
        .iter()
        .map(|&s| {
            let ns = t.last_activity_ns[s as usize].load(Ordering::Relaxed);
            let (last, idle) = if ns == 0 {
                (Value::Null, Value::Null)
            } else {
                let last = ns as f64 / 1e9;
                (json!(last), json!((now - last).max(0.0)))
            };
            json!({
                "name": s.name(),
                "state": stage_state(t, control, s, idle.as_f64(), &stalled),
                "events": t.stage_events[s as usize].get(),
                "last_activity_unix": last,
                "idle_secs": idle,
            })
        })
        .collect();

    let rings: Vec<Value> = Ring::ALL
        .iter()
        .map(|&r| {
            json!({
                "name": r.name(),
                "depth": t.ring_depth(r),
                "capacity": t.shape.ring_capacity,
                "full": t.ring_full[r as usize].get(),
            })
        })
        .collect();

    let brokers: Vec<Value> = t
        .shape
        .brokers
        .iter()
        .zip(&t.brokers)
        .enumerate()
        .map(|(i, (name, b))| {
            let rejections: Map<String, Value> = RejectReason::ALL
                .iter()
                .filter_map(|r| {
                    let n = b.rejections[r.index()].load(Ordering::Relaxed);
                    (n > 0).then(|| (r.code().to_owned(), json!(n)))
                })
                .collect();
            let pnl: Map<String, Value> = b
                .pnl
                .iter()
                .enumerate()
                .map(|(c, cells)| {
                    let components: Map<String, Value> = PNL_COMPONENTS
                        .iter()
                        .zip(cells)
                        .map(|(c, cell)| ((*c).to_owned(), finite(load_f64(cell))))
                        .collect();
                    let currency = t.shape.currencies.get(c).cloned().unwrap_or_default();
                    (currency, Value::Object(components))
                })
                .collect();
            json!({
                "name": name,
                "enabled": t.shape.brokers_enabled.get(i),
                "strategies_registered": t.shape.strategies_registered.get(i),
                "strategies_configured": t.shape.strategies_configured.get(i),
                "attempts": b.attempts.get(),
                "orders": b.orders.get(),
                "fills": b.fills.get(),
                "rejections": rejections,
                "kill_switch": b.kill_switch.load(Ordering::Relaxed),
                "open_positions": b.open_positions.load(Ordering::Relaxed),
                "pnl": pnl,
            })
        })
        .collect();

    let canary = match &*t.canary.lock() {
        None => Value::Null,
        Some(c) => json!({
            "passed": c.passed,
            "latency_us": c.latency_ns as f64 / 1e3,
            "instrument": c.instrument,
            "approved": c.approved,
            "checked": c.checked,
            "detail": c.detail,
        }),
    };

    let validator = {
        let v = t.validator.lock();
        json!({
            "findings": v.active,
            "last_run_unix": if v.last_run_unix > 0.0 { finite(v.last_run_unix) } else { Value::Null },
        })
    };

    let recorder = t.latency();
    // Fresh copies for the next look; stage threads answer at their next publish point.
    t.request_snapshot();
    let latency: Map<String, Value> = Stage::ALL
        .iter()
        .map(|&s| (s.name().to_owned(), summary_us(&recorder.summary(s))))
        .collect();

    let mut inference: Vec<Value> = Vec::new();
    t.for_each_inference(|strategy, h| {
        let mut v = summary_us(&crate::metrics::LatencySummary::of(h));
        if let Value::Object(m) = &mut v {
            m.insert("strategy".to_owned(), json!(strategy));
        }
        inference.push(v);
    });

    json!({
        "environment": t.shape.environment,
        "version": env!("CARGO_PKG_VERSION"),
        "start_unix": t.start_unix,
        "uptime_secs": uptime_secs(t, now),
        "ready": reasons.is_empty(),
        "reasons": reasons,
        "feed": {
            "kind": t.shape.feed_kind,
            "state": t.feed_state().name(),
            "ticks": ticks,
        },
        "stages": stages,
        "rings": rings,
        "brokers": brokers,
        "canary": canary,
        "validator": validator,
        "latency": latency,
        "inference": inference,
        "shadow": t.shadow_report(),
    })
}

/// How long a stage may go without a message and still count as `active`, s.
const ACTIVE_WITHIN_SECS: f64 = 2.0;

/// `stopped` (the pipeline has shut down or a stage thread died), `stalled` (a validator
/// finding), `starting` (nothing handled yet), `active` (a message within
/// `ACTIVE_WITHIN_SECS`) or `idle`. The feed reports its own state.
fn stage_state(
    t: &Telemetry,
    control: &RunControl,
    stage: StageName,
    idle: Option<f64>,
    stalled: &[&str],
) -> &'static str {
    let feed = t.feed_state();
    if stage == StageName::Feed {
        return feed.name();
    }
    if feed == FeedState::Stopped || control.aborted() {
        "stopped"
    } else if stalled.contains(&stage.name()) {
        "stalled"
    } else {
        match idle {
            None => "starting",
            Some(secs) if secs <= ACTIVE_WITHIN_SECS => "active",
            Some(_) => "idle",
        }
    }
}

fn uptime_secs(t: &Telemetry, now: f64) -> f64 {
    (now - t.start_unix).max(0.0)
}

/// A float as JSON; serde_json would turn a non-finite one into `null` anyway, say so.
fn finite(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

fn summary_us(s: &LatencySummary) -> Value {
    let us = |ns: u64| ns as f64 / 1e3;
    json!({
        "count": s.count,
        "p50_us": us(s.p50),
        "p99_us": us(s.p99),
        "p999_us": us(s.p999),
        "max_us": us(s.max),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::LatencyRecorder;
    use crate::metrics::telemetry::{
        CanaryResult, FeedState, Finding, LatencySlot, TelemetryShape, store_f64,
    };

    fn telemetry() -> Telemetry {
        Telemetry::new(TelemetryShape {
            brokers: vec!["paper".into(), "live".into()],
            brokers_enabled: vec![true, false],
            strategies_registered: vec![1, 0],
            strategies_configured: vec![1, 2],
            ring_capacity: 64,
            currencies: vec!["USDT".into()],
            feed_kind: "replay",
            environment: "paper",
            ..TelemetryShape::default()
        })
    }

    fn make_ready(t: &Telemetry) {
        t.preflight_ok.store(true, Ordering::Release);
        *t.canary.lock() = Some(CanaryResult {
            passed: true,
            latency_ns: 12_500,
            instrument: "EURUSD".into(),
            approved: 1,
            checked: 1,
            detail: "ok".into(),
        });
        t.set_feed_state(FeedState::Live);
    }

    #[test]
    fn liveness_is_200_until_a_stage_thread_dies() {
        let t = telemetry();
        let control = RunControl::new();
        let (code, body) = liveness(&t, &control);
        assert_eq!(code, 200);
        assert_eq!(body["status"], "alive");
        control.abort();
        let (code, body) = liveness(&t, &control);
        assert_eq!(code, 503);
        assert_eq!(body["status"], "dead");
    }

    #[test]
    fn readiness_503_with_reasons_then_200() {
        let t = telemetry();
        let (code, body) = readiness(&t);
        assert_eq!(code, 503);
        assert_eq!(body["ready"], false);
        let reasons = body["reasons"].as_array().cloned().unwrap_or_default();
        assert_eq!(reasons.len(), 3, "{body}");
        make_ready(&t);
        assert_eq!(readiness(&t), (200, json!({ "ready": true })));
    }

    #[test]
    fn detailed_reports_every_section() {
        let t = telemetry();
        make_ready(&t);
        t.ticks_by_class[InstrumentClass::Fx as usize].set(10);
        t.stage_events[StageName::Risk as usize].set(4);
        t.last_activity_ns[StageName::Feed as usize].store(1_000_000_000, Ordering::Relaxed);
        t.last_activity_ns[StageName::Risk as usize].store(1_000_000_000, Ordering::Relaxed);
        t.ring_sent[0].set(5);
        t.ring_received[0].set(3);
        t.brokers[0].orders.set(3);
        t.brokers[0].rejections[RejectReason::OrderRate.index()].store(2, Ordering::Relaxed);
        store_f64(&t.brokers[0].pnl[0][3], 1.5);
        t.validator.lock().active.push(Finding {
            issue: "no_fills",
            stage: "execution",
            broker: "paper".into(),
            since_unix: 2.0,
            detail: "none in 60 s".into(),
        });
        let mut rec = LatencyRecorder::default();
        rec.record(Stage::Risk, 2_000);
        t.request_snapshot();
        t.hand_off_latency(LatencySlot::Risk, &mut rec);

        let d = detailed(&t, &RunControl::new());
        assert_eq!(d["environment"], "paper");
        assert_eq!(d["ready"], true);
        assert_eq!(d["reasons"], json!([]));
        assert_eq!(d["feed"]["kind"], "replay");
        assert_eq!(d["feed"]["state"], "live");
        assert_eq!(d["feed"]["ticks"]["fx"], 10);
        let stages = d["stages"].as_array().cloned().unwrap_or_default();
        let names: Vec<&str> = stages.iter().filter_map(|s| s["name"].as_str()).collect();
        assert_eq!(names, ["feed", "strategy", "risk", "execution"]);
        assert_eq!(stages[0]["last_activity_unix"], 1.0);
        assert!(stages[0]["idle_secs"].as_f64().is_some_and(|s| s > 0.0));
        assert_eq!(stages[1]["last_activity_unix"], Value::Null);
        assert_eq!(stages[0]["state"], "live", "the feed reports its own state");
        assert_eq!(stages[1]["state"], "starting", "nothing handled yet");
        assert_eq!(stages[2]["state"], "idle", "last seen long ago");
        assert_eq!(stages[2]["events"], 4);
        assert_eq!(d["rings"][0]["name"], "feed_to_strategy");
        assert_eq!(d["rings"][0]["depth"], 2);
        assert_eq!(d["rings"][0]["capacity"], 64);
        let paper = &d["brokers"][0];
        assert_eq!(paper["name"], "paper");
        assert_eq!(paper["enabled"], true);
        assert_eq!(paper["orders"], 3);
        assert_eq!(paper["rejections"], json!({ "ORDER_RATE": 2 }));
        assert_eq!(paper["pnl"]["USDT"]["net"], 1.5, "per settlement currency");
        assert_eq!(d["brokers"][1]["enabled"], false);
        assert_eq!(d["brokers"][1]["strategies_configured"], 2);
        assert_eq!(d["canary"]["latency_us"], 12.5);
        assert_eq!(d["canary"]["instrument"], "EURUSD");
        assert_eq!(d["validator"]["findings"][0]["issue"], "no_fills");
        assert_eq!(d["validator"]["last_run_unix"], Value::Null);
        assert_eq!(d["latency"]["risk"]["count"], 1);
        assert_eq!(d["latency"]["risk"]["p50_us"], 2.0);
        assert_eq!(d["latency"]["strategy"]["count"], 0);
        assert_eq!(d["inference"], json!([]));
    }

    #[test]
    fn detailed_without_canary_is_null_and_not_ready() {
        let d = detailed(&telemetry(), &RunControl::new());
        assert_eq!(d["canary"], Value::Null);
        assert_eq!(d["ready"], false);
        assert!(d["reasons"].as_array().is_some_and(|r| !r.is_empty()));
    }
}
