//! The Prometheus text exposition format (0.0.4) of a [`Telemetry`].
//!
//! Contract:
//! - Every family of [`catalog::METRICS`] is written, in that order, as `# HELP` and
//!   `# TYPE` lines followed by its samples. A family may have no sample (validator findings
//!   when none was raised, last activity of a stage never seen active).
//! - Closed label sets are written in full, zeros included (every instrument class, reject
//!   reason, ring, DLQ kind, dead-letter source, stage), so `rate()` and `increase()` work from the first scrape.
//! - Label values are escaped (`\\`, `\"`, `\n`); HELP text too (`\\`, `\n`). Values are
//!   integers or shortest round-trip decimals; infinities are `+Inf`/`-Inf`; a NaN (only
//!   possible from a broken PnL publication) is written as `0`.
//! - Latency comes from the last published HDR copies ([`Telemetry::latency`]): the
//!   histogram's buckets are cumulative at [`catalog::LATENCY_BUCKETS_NS`] (in seconds),
//!   `+Inf` equals `_count`; `_sum` adds each recorded HDR bucket's highest equivalent value
//!   times its count. A recorded HDR bucket counts toward an `le` bound when its lowest
//!   equivalent value is at or below the bound, so a value recorded exactly at a bound is
//!   inside it.
//! - Each call asks the stage threads for fresh numbers ([`Telemetry::request_snapshot`]):
//!   what a scrape shows is at most one scrape interval (plus one publish point) old.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::Stage;
use super::catalog::{self, LATENCY_BUCKETS_NS, LATENCY_QUANTILES, MetricDef};
use super::telemetry::{
    DlqKind, HttpDrop, InstrumentClass, PNL_COMPONENTS, Ring, StageName, Telemetry, load_f64,
};
use crate::risk::RejectReason;

/// The `Content-Type` of [`render`]'s output.
pub fn content_type() -> &'static str {
    "text/plain; version=0.0.4; charset=utf-8"
}

/// Appends the exposition of `t` to `out`.
pub fn render(t: &Telemetry, out: &mut String) {
    let latency = t.latency();
    // Fresh copies for the next scrape; this one reads what the threads last published.
    t.request_snapshot();
    for def in catalog::METRICS {
        header(out, def);
        let mut w = Family {
            out,
            name: def.name,
        };
        match *def {
            catalog::TICKS => {
                for class in InstrumentClass::ALL {
                    w.sample(
                        "",
                        &[("feed", t.shape.feed_kind), ("class", class.name())],
                        Value::U64(t.ticks_by_class[class as usize].get()),
                    );
                }
            }
            catalog::SIGNALS => w.sample("", &[], Value::U64(t.signals.get())),
            catalog::ORDERS => {
                for (name, b) in brokers(t) {
                    w.sample("", &[("broker", name)], Value::U64(b.orders.get()));
                }
            }
            catalog::FILLS => {
                for (name, b) in brokers(t) {
                    w.sample("", &[("broker", name)], Value::U64(b.fills.get()));
                }
            }
            catalog::REJECTIONS => {
                for (name, b) in brokers(t) {
                    for reason in RejectReason::ALL {
                        let n = b.rejections[reason.index()].load(Ordering::Relaxed);
                        w.sample(
                            "",
                            &[("broker", name), ("reason", reason.code())],
                            Value::U64(n),
                        );
                    }
                }
            }
            catalog::RING_FULL => {
                for ring in Ring::ALL {
                    w.sample(
                        "",
                        &[("ring", ring.name())],
                        Value::U64(t.ring_full[ring as usize].get()),
                    );
                }
            }
            catalog::DLQ_ERRORS => {
                for kind in DlqKind::ALL {
                    let n = t.dlq[kind as usize].load(Ordering::Relaxed);
                    w.sample("", &[("kind", kind.name())], Value::U64(n));
                }
            }
            catalog::DEAD_LETTERS => {
                for source in crate::dlq::Source::ALL {
                    let n = t.dead_letters[source as usize].load(Ordering::Relaxed);
                    w.sample("", &[("source", source.name())], Value::U64(n));
                }
            }
            catalog::DEAD_LETTERS_DROPPED => w.sample(
                "",
                &[],
                Value::U64(t.dead_letters_dropped.load(Ordering::Relaxed)),
            ),
            catalog::HTTP_DROPPED => {
                for reason in HttpDrop::ALL {
                    let n = t.http_dropped[reason as usize].load(Ordering::Relaxed);
                    w.sample("", &[("reason", reason.name())], Value::U64(n));
                }
            }
            catalog::VALIDATOR_FINDINGS => {
                // Merged by label set, so a duplicate entry cannot make the scrape invalid.
                let mut raised: Vec<(&'static str, String, &'static str, u64)> = Vec::new();
                for ((stage, broker, issue), n) in &t.validator.lock().raised {
                    match raised
                        .iter_mut()
                        .find(|(s, b, i, _)| s == stage && b == broker && i == issue)
                    {
                        Some(entry) => entry.3 += n,
                        None => raised.push((stage, broker.clone(), issue, *n)),
                    }
                }
                for (stage, broker, issue, n) in &raised {
                    w.sample(
                        "",
                        &[("stage", stage), ("broker", broker), ("issue", issue)],
                        Value::U64(*n),
                    );
                }
            }
            catalog::MODEL_LOADS => {
                w.sample(
                    "",
                    &[("result", "success")],
                    Value::U64(t.shape.model_loads_ok),
                );
                w.sample(
                    "",
                    &[("result", "failure")],
                    Value::U64(t.shape.model_loads_failed),
                );
            }
            catalog::STAGE_EVENTS => {
                for stage in StageName::ALL {
                    w.sample(
                        "",
                        &[("stage", stage.name())],
                        Value::U64(t.stage_events[stage as usize].get()),
                    );
                }
            }
            catalog::RING_DEPTH => {
                for ring in Ring::ALL {
                    w.sample("", &[("ring", ring.name())], Value::U64(t.ring_depth(ring)));
                }
            }
            catalog::RING_CAPACITY => {
                let capacity = u64::try_from(t.shape.ring_capacity).unwrap_or(u64::MAX);
                for ring in Ring::ALL {
                    w.sample("", &[("ring", ring.name())], Value::U64(capacity));
                }
            }
            catalog::STRATEGIES_REGISTERED => {
                for (i, name) in t.shape.brokers.iter().enumerate() {
                    let n = t.shape.strategies_registered.get(i).copied().unwrap_or(0);
                    w.sample("", &[("broker", name)], Value::U64(n));
                }
            }
            catalog::STRATEGIES_CONFIGURED => {
                for (i, name) in t.shape.brokers.iter().enumerate() {
                    let n = t.shape.strategies_configured.get(i).copied().unwrap_or(0);
                    w.sample("", &[("broker", name)], Value::U64(n));
                }
            }
            catalog::OPEN_POSITIONS => {
                for (name, b) in brokers(t) {
                    let n = b.open_positions.load(Ordering::Relaxed);
                    w.sample("", &[("broker", name)], Value::U64(n));
                }
            }
            catalog::PNL => {
                for (name, b) in brokers(t) {
                    for (c, cells) in b.pnl.iter().enumerate() {
                        let currency = t.shape.currencies.get(c).map_or("", String::as_str);
                        for (component, cell) in PNL_COMPONENTS.iter().zip(cells) {
                            w.sample(
                                "",
                                &[
                                    ("broker", name),
                                    ("currency", currency),
                                    ("component", component),
                                ],
                                Value::F64(load_f64(cell)),
                            );
                        }
                    }
                }
            }
            catalog::LAST_ACTIVITY => {
                for stage in StageName::ALL {
                    let ns = t.last_activity_ns[stage as usize].load(Ordering::Relaxed);
                    if ns > 0 {
                        w.sample("", &[("stage", stage.name())], Value::F64(ns as f64 / 1e9));
                    }
                }
            }
            catalog::KILL_SWITCH => {
                for (name, b) in brokers(t) {
                    let tripped = b.kill_switch.load(Ordering::Relaxed);
                    w.sample("", &[("broker", name)], Value::U64(u64::from(tripped)));
                }
            }
            catalog::READY => w.sample("", &[], Value::U64(u64::from(t.ready()))),
            catalog::VALIDATOR_ACTIVE => {
                let mut active: Vec<(&'static str, String, &'static str)> = Vec::new();
                for f in &t.validator.lock().active {
                    if !active
                        .iter()
                        .any(|(s, b, i)| *s == f.stage && *b == f.broker && *i == f.issue)
                    {
                        active.push((f.stage, f.broker.clone(), f.issue));
                    }
                }
                for (stage, broker, issue) in &active {
                    w.sample(
                        "",
                        &[("stage", stage), ("broker", broker), ("issue", issue)],
                        Value::U64(1),
                    );
                }
            }
            catalog::HTTP_OPEN => {
                w.sample("", &[], Value::U64(t.http_open.load(Ordering::Relaxed)))
            }
            catalog::JOURNAL_RECORDS
            | catalog::JOURNAL_BYTES
            | catalog::JOURNAL_SYNCS
            | catalog::JOURNAL_RING_FULL
            | catalog::JOURNAL_FAILED => {
                if let Some(j) = t.journal.lock().as_ref() {
                    w.sample("", &[], Value::U64(j.metric(def.name)));
                }
            }
            catalog::START_TIME => w.sample("", &[], Value::F64(t.start_unix)),
            catalog::BUILD_INFO => {
                w.sample("", &[("version", env!("CARGO_PKG_VERSION"))], Value::U64(1))
            }
            catalog::STAGE_LATENCY => {
                for stage in Stage::ALL {
                    let h = HistogramData::of(latency.histogram(stage));
                    let by_stage = ("stage", stage.name());
                    let mut le = String::new();
                    for (bound, cumulative) in LATENCY_BUCKETS_NS.iter().zip(h.cumulative) {
                        le.clear();
                        push_f64(&mut le, ns_to_secs(*bound));
                        w.sample("_bucket", &[by_stage, ("le", &le)], Value::U64(cumulative));
                    }
                    w.sample("_bucket", &[by_stage, ("le", "+Inf")], Value::U64(h.count));
                    w.sample("_sum", &[by_stage], Value::F64(h.sum_secs));
                    w.sample("_count", &[by_stage], Value::U64(h.count));
                }
            }
            catalog::STAGE_LATENCY_QUANTILES => {
                for stage in Stage::ALL {
                    summary_samples(&mut w, ("stage", stage.name()), latency.histogram(stage));
                }
            }
            catalog::INFERENCE_LATENCY => {
                t.for_each_inference(|strategy, hist| {
                    summary_samples(&mut w, ("strategy", strategy), hist);
                });
            }
            // A family added to the catalog without a renderer: header only (a unit test
            // checks every family has samples).
            _ => {}
        }
    }
}

/// The quantile, `_sum` and `_count` samples of one summary series from its HDR histogram.
fn summary_samples(w: &mut Family<'_>, label: (&str, &str), hist: &hdrhistogram::Histogram<u64>) {
    let h = HistogramData::of(hist);
    let mut q = String::new();
    for quantile in LATENCY_QUANTILES {
        q.clear();
        push_f64(&mut q, quantile);
        let ns = if h.count == 0 {
            0
        } else {
            hist.value_at_quantile(quantile)
        };
        w.sample("", &[label, ("quantile", &q)], Value::F64(ns_to_secs(ns)));
    }
    w.sample("_sum", &[label], Value::F64(h.sum_secs));
    w.sample("_count", &[label], Value::U64(h.count));
}

/// Brokers with their telemetry, in configuration order.
fn brokers(t: &Telemetry) -> impl Iterator<Item = (&str, &super::telemetry::BrokerTelemetry)> + '_ {
    t.shape
        .brokers
        .iter()
        .map(String::as_str)
        .zip(t.brokers.iter())
}

fn ns_to_secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// Cumulative bucket counts, sum and count of one HDR histogram.
struct HistogramData {
    cumulative: [u64; LATENCY_BUCKETS_NS.len()],
    count: u64,
    sum_secs: f64,
}

impl HistogramData {
    fn of(h: &hdrhistogram::Histogram<u64>) -> HistogramData {
        let mut cumulative = [0u64; LATENCY_BUCKETS_NS.len()];
        let mut count = 0u64;
        let mut sum_ns = 0u128;
        for v in h.iter_recorded() {
            let n = v.count_at_value();
            let value = v.value_iterated_to();
            count = count.saturating_add(n);
            sum_ns = sum_ns.saturating_add(u128::from(value) * u128::from(n));
            let low = h.lowest_equivalent(value);
            let first = LATENCY_BUCKETS_NS.partition_point(|&bound| bound < low);
            if let Some(c) = cumulative.get_mut(first) {
                *c = c.saturating_add(n);
            }
        }
        let mut running = 0u64;
        for c in &mut cumulative {
            running = running.saturating_add(*c);
            *c = running;
        }
        HistogramData {
            cumulative,
            count,
            sum_secs: sum_ns as f64 / 1e9,
        }
    }
}

#[derive(Clone, Copy)]
enum Value {
    U64(u64),
    F64(f64),
}

/// Writes the samples of one family.
struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl Family<'_> {
    fn sample(&mut self, suffix: &str, labels: &[(&str, &str)], value: Value) {
        let out = &mut *self.out;
        out.push_str(self.name);
        out.push_str(suffix);
        if !labels.is_empty() {
            out.push('{');
            for (i, (name, v)) in labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(name);
                out.push_str("=\"");
                escape_label_value(out, v);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        match value {
            Value::U64(v) => {
                let _ = write!(out, "{v}");
            }
            Value::F64(v) => push_f64(out, v),
        }
        out.push('\n');
    }
}

fn header(out: &mut String, def: &MetricDef) {
    out.push_str("# HELP ");
    out.push_str(def.name);
    out.push(' ');
    for c in def.help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push_str("\n# TYPE ");
    out.push_str(def.name);
    out.push(' ');
    out.push_str(def.kind.name());
    out.push('\n');
}

fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A float as Prometheus parses it: `+Inf`/`-Inf`, NaN as 0, else the shortest decimal
/// that round-trips (Rust's `Display` never uses an exponent).
fn push_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push('0');
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::LatencyRecorder;
    use crate::metrics::telemetry::{Finding, LatencySlot, TelemetryShape, store_f64};

    fn telemetry() -> Telemetry {
        Telemetry::new(TelemetryShape {
            brokers: vec!["paper".into(), "we\"ird\\name\n".into()],
            brokers_enabled: vec![true, false],
            strategies_registered: vec![2, 0],
            strategies_configured: vec![2, 1],
            ring_capacity: 1024,
            feed_kind: "replay",
            environment: "test",
            model_loads_ok: 1,
            model_loads_failed: 2,
            ml_strategies: vec!["ml_a".into()],
            currencies: vec!["USDT".into()],
            ..TelemetryShape::default()
        })
    }

    fn rendered(t: &Telemetry) -> String {
        let mut s = String::new();
        render(t, &mut s);
        s
    }

    fn value_of(text: &str, series: &str) -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ').map(str::to_owned))
    }

    #[test]
    fn families_in_catalog_order_each_with_help_and_type() {
        let text = rendered(&telemetry());
        let types: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        let expected: Vec<String> = catalog::METRICS
            .iter()
            .map(|m| format!("{} {}", m.name, m.kind.name()))
            .collect();
        assert_eq!(types, expected);
        let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
        assert_eq!(helps, catalog::METRICS.len());
    }

    #[test]
    fn every_family_has_samples_once_populated() {
        let t = telemetry();
        t.validator
            .lock()
            .raised
            .push((("risk", "paper".into(), "no_fills"), 3));
        t.validator.lock().active.push(Finding {
            issue: "no_fills",
            stage: "risk",
            broker: "paper".into(),
            since_unix: 1.0,
            detail: String::new(),
        });
        t.last_activity_ns[0].store(1_700_000_000_500_000_000, Ordering::Relaxed);
        *t.journal.lock() = Some(std::sync::Arc::default());
        let text = rendered(&t);
        for m in catalog::METRICS {
            let has = text.lines().any(|l| {
                !l.starts_with('#')
                    && l.strip_prefix(m.name).is_some_and(|rest| {
                        rest.starts_with([' ', '{'])
                            || ["_bucket", "_sum", "_count"]
                                .iter()
                                .any(|s| rest.starts_with(s))
                    })
            });
            assert!(has, "no sample for {}", m.name);
        }
        assert_eq!(
            value_of(
                &text,
                "alpha_panda_stage_last_activity_timestamp_seconds{stage=\"feed\"}"
            )
            .as_deref(),
            Some("1700000000.5")
        );
        assert_eq!(
            value_of(
                &text,
                "alpha_panda_validator_findings_total{stage=\"risk\",broker=\"paper\",issue=\"no_fills\"}"
            )
            .as_deref(),
            Some("3")
        );
    }

    #[test]
    fn zeros_for_every_closed_label_value_and_escaped_labels() {
        let t = telemetry();
        t.brokers[0].rejections[RejectReason::PriceBand.index()].store(7, Ordering::Relaxed);
        let text = rendered(&t);
        let rejections = text
            .lines()
            .filter(|l| l.starts_with("alpha_panda_rejections_total{"))
            .count();
        assert_eq!(rejections, 2 * RejectReason::ALL.len());
        assert_eq!(
            value_of(
                &text,
                "alpha_panda_rejections_total{broker=\"paper\",reason=\"PRICE_BAND\"}"
            )
            .as_deref(),
            Some("7")
        );
        assert_eq!(
            value_of(
                &text,
                "alpha_panda_rejections_total{broker=\"we\\\"ird\\\\name\\n\",reason=\"KILL_SWITCH\"}"
            )
            .as_deref(),
            Some("0")
        );
        // No stage seen active: no timestamp sample.
        assert!(!text.contains("alpha_panda_stage_last_activity_timestamp_seconds{"));
        assert_eq!(
            value_of(&text, "alpha_panda_model_loads_total{result=\"failure\"}").as_deref(),
            Some("2")
        );
        assert_eq!(value_of(&text, "alpha_panda_ready").as_deref(), Some("0"));
        assert!(text.contains(&format!(
            "alpha_panda_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )));
    }

    #[test]
    fn floats_parse_as_prometheus_expects() {
        let t = telemetry();
        store_f64(&t.brokers[0].pnl[0][0], -12.5);
        store_f64(&t.brokers[0].pnl[0][1], f64::INFINITY);
        store_f64(&t.brokers[0].pnl[0][2], f64::NAN);
        let text = rendered(&t);
        let pnl = |c: &str| {
            value_of(
                &text,
                &format!("alpha_panda_pnl{{broker=\"paper\",currency=\"USDT\",component=\"{c}\"}}"),
            )
        };
        assert_eq!(pnl("realized").as_deref(), Some("-12.5"));
        assert_eq!(pnl("unrealized").as_deref(), Some("+Inf"));
        assert_eq!(pnl("fees").as_deref(), Some("0"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap_or_default();
            assert!(
                value == "+Inf"
                    || value == "-Inf"
                    || value.parse::<f64>().is_ok_and(|v| !v.is_nan()),
                "unparsable value in {line:?}"
            );
        }
    }

    #[test]
    fn latency_histogram_is_cumulative_with_sum_and_count() {
        let t = telemetry();
        let mut rec = LatencyRecorder::default();
        for ns in [100, 250, 251, 2_500, 20_000_000] {
            rec.record(Stage::Risk, ns);
        }
        t.request_snapshot();
        t.hand_off_latency(LatencySlot::Risk, &mut rec);
        let generation = t.snapshot_generation();
        let text = rendered(&t);
        assert_eq!(
            t.snapshot_generation(),
            generation + 1,
            "render requests a snapshot"
        );
        let bucket = |le: &str| {
            value_of(
                &text,
                &format!("alpha_panda_stage_latency_seconds_bucket{{stage=\"risk\",le=\"{le}\"}}"),
            )
        };
        assert_eq!(bucket("0.00000025").as_deref(), Some("2"));
        assert_eq!(bucket("0.0000005").as_deref(), Some("3"));
        assert_eq!(bucket("0.0000025").as_deref(), Some("4"));
        assert_eq!(bucket("0.01").as_deref(), Some("4"));
        assert_eq!(bucket("+Inf").as_deref(), Some("5"));
        let count = "alpha_panda_stage_latency_seconds_count{stage=\"risk\"}";
        assert_eq!(value_of(&text, count).as_deref(), Some("5"));
        let sum: f64 = value_of(
            &text,
            "alpha_panda_stage_latency_seconds_sum{stage=\"risk\"}",
        )
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
        let exact = (100 + 250 + 251 + 2_500 + 20_000_000) as f64 / 1e9;
        assert!((sum - exact).abs() / exact < 0.001, "sum {sum} vs {exact}");
        // Empty stages are present with zeros.
        let empty = "alpha_panda_stage_latency_seconds_bucket{stage=\"strategy\",le=\"+Inf\"}";
        assert_eq!(value_of(&text, empty).as_deref(), Some("0"));
        let p50 = "alpha_panda_stage_latency_quantiles_seconds{stage=\"risk\",quantile=\"0.5\"}";
        assert_eq!(value_of(&text, p50).as_deref(), Some("0.000000251"));
        let empty_q =
            "alpha_panda_stage_latency_quantiles_seconds{stage=\"execution\",quantile=\"0.999\"}";
        assert_eq!(value_of(&text, empty_q).as_deref(), Some("0"));
    }

    #[test]
    fn duplicate_validator_entries_are_merged() {
        let t = telemetry();
        {
            let mut v = t.validator.lock();
            v.raised
                .push((("feed", String::new(), "no_recent_data"), 1));
            v.raised
                .push((("feed", String::new(), "no_recent_data"), 2));
            for _ in 0..2 {
                v.active.push(Finding {
                    issue: "no_recent_data",
                    stage: "feed",
                    broker: String::new(),
                    since_unix: 0.0,
                    detail: String::new(),
                });
            }
        }
        let text = rendered(&t);
        let raised = "alpha_panda_validator_findings_total{stage=\"feed\",broker=\"\",issue=\"no_recent_data\"}";
        assert_eq!(value_of(&text, raised).as_deref(), Some("3"));
        let active = "alpha_panda_validator_active_findings{";
        assert_eq!(text.lines().filter(|l| l.starts_with(active)).count(), 1);
    }

    #[test]
    fn content_type_is_text_format_0_0_4() {
        assert_eq!(content_type(), "text/plain; version=0.0.4; charset=utf-8");
    }
}
