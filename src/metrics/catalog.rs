//! The exported metric set. It is an API: dashboards and alert rules name these series, and
//! a test pins every name, type, label set and HELP line. `catalog_json` is its
//! machine-readable form, checked in as `monitoring/metric_catalog.json` (kept equal to the
//! code by `tests/schemas.rs`, described by `docs/schemas/metric_catalog.schema.json`).

/// Prometheus metric type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

impl MetricType {
    pub fn name(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
        }
    }
}

/// One metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricDef {
    pub name: &'static str,
    pub kind: MetricType,
    pub help: &'static str,
    /// Label names, besides `le` (histograms) and `quantile` (summaries).
    pub labels: &'static [&'static str],
}

const fn def(
    name: &'static str,
    kind: MetricType,
    labels: &'static [&'static str],
    help: &'static str,
) -> MetricDef {
    MetricDef {
        name,
        kind,
        help,
        labels,
    }
}

use MetricType::{Counter, Gauge, Histogram, Summary};

pub const TICKS: MetricDef = def(
    "alpha_panda_ticks_total",
    Counter,
    &["feed", "class"],
    "Market data ticks delivered by the feed, by feed kind and instrument class.",
);
pub const SIGNALS: MetricDef = def(
    "alpha_panda_signals_total",
    Counter,
    &[],
    "Signals emitted by strategies.",
);
pub const ORDERS: MetricDef = def(
    "alpha_panda_orders_total",
    Counter,
    &["broker"],
    "Orders approved by risk and sent to the broker's venue.",
);
pub const FILLS: MetricDef = def(
    "alpha_panda_fills_total",
    Counter,
    &["broker"],
    "Fills booked from the broker's venue.",
);
pub const REJECTIONS: MetricDef = def(
    "alpha_panda_rejections_total",
    Counter,
    &["broker", "reason"],
    "Orders refused by risk, by broker and stable reason code.",
);
pub const RING_FULL: MetricDef = def(
    "alpha_panda_ring_full_total",
    Counter,
    &["ring"],
    "Times a producer found its output ring full and had to wait.",
);
pub const DLQ_ERRORS: MetricDef = def(
    "alpha_panda_dlq_errors_total",
    Counter,
    &["kind"],
    "Inputs set aside instead of processed (dead-letter candidates), by kind.",
);
pub const DEAD_LETTERS: MetricDef = def(
    "alpha_panda_dead_letters_total",
    Counter,
    &["source"],
    "Inbound messages the engine could not use, kept in the run's dead-letter file, by source (csv_row, binary_record, kite_frame, kite_text, kite_order_update).",
);
pub const DEAD_LETTERS_DROPPED: MetricDef = def(
    "alpha_panda_dead_letters_dropped_total",
    Counter,
    &[],
    "Dead letters counted but not written to the dead-letter file (its queue was full, or the file could not be written).",
);
pub const HTTP_DROPPED: MetricDef = def(
    "alpha_panda_http_connections_dropped_total",
    Counter,
    &["reason"],
    "Connections to the metrics endpoint closed without serving their request, by reason (limit, timeout, too_large, no_descriptor).",
);
pub const VALIDATOR_FINDINGS: MetricDef = def(
    "alpha_panda_validator_findings_total",
    Counter,
    &["stage", "broker", "issue"],
    "Pipeline validator findings raised, by stage, broker and issue type.",
);
pub const MODEL_LOADS: MetricDef = def(
    "alpha_panda_model_loads_total",
    Counter,
    &["result"],
    "ML model loads at start-up, by result (success or failure).",
);
pub const STAGE_EVENTS: MetricDef = def(
    "alpha_panda_stage_events_total",
    Counter,
    &["stage"],
    "Messages handled by each pipeline stage.",
);
pub const RING_DEPTH: MetricDef = def(
    "alpha_panda_ring_depth",
    Gauge,
    &["ring"],
    "Messages waiting in each ring.",
);
pub const RING_CAPACITY: MetricDef = def(
    "alpha_panda_ring_capacity",
    Gauge,
    &["ring"],
    "Slots of each ring.",
);
pub const STRATEGIES_REGISTERED: MetricDef = def(
    "alpha_panda_strategies_registered",
    Gauge,
    &["broker"],
    "Strategies registered and trading through the broker.",
);
pub const STRATEGIES_CONFIGURED: MetricDef = def(
    "alpha_panda_strategies_configured",
    Gauge,
    &["broker"],
    "Strategies in the strategy files that name the broker, registered or not.",
);
pub const OPEN_POSITIONS: MetricDef = def(
    "alpha_panda_open_positions",
    Gauge,
    &["broker"],
    "Non-flat (book, instrument) positions of the broker.",
);
pub const PNL: MetricDef = def(
    "alpha_panda_pnl",
    Gauge,
    &["broker", "currency", "component"],
    "PnL of the broker per settlement currency, by component (realized, unrealized, fees, net).",
);
pub const LAST_ACTIVITY: MetricDef = def(
    "alpha_panda_stage_last_activity_timestamp_seconds",
    Gauge,
    &["stage"],
    "Unix time at which each stage was last seen handling a message.",
);
pub const KILL_SWITCH: MetricDef = def(
    "alpha_panda_kill_switch_tripped",
    Gauge,
    &["broker"],
    "1 when the broker's kill switch is tripped and every order is refused.",
);
pub const READY: MetricDef = def(
    "alpha_panda_ready",
    Gauge,
    &[],
    "1 when the engine is ready to trade (preflight and canary passed, feed live, strategies registered, no kill switch).",
);
pub const VALIDATOR_ACTIVE: MetricDef = def(
    "alpha_panda_validator_active_findings",
    Gauge,
    &["stage", "broker", "issue"],
    "Pipeline validator findings active now, by stage, broker and issue type.",
);
pub const HTTP_OPEN: MetricDef = def(
    "alpha_panda_http_connections_open",
    Gauge,
    &[],
    "Connections the metrics endpoint is serving now.",
);
pub const START_TIME: MetricDef = def(
    "alpha_panda_start_time_seconds",
    Gauge,
    &[],
    "Unix time at which the engine process started.",
);
pub const BUILD_INFO: MetricDef = def(
    "alpha_panda_build_info",
    Gauge,
    &["version"],
    "Always 1; the label carries the engine version.",
);
pub const STAGE_LATENCY: MetricDef = def(
    "alpha_panda_stage_latency_seconds",
    Histogram,
    &["stage"],
    "Latency of each pipeline hop and tick to order end to end (sampled ticks; every order).",
);
pub const STAGE_LATENCY_QUANTILES: MetricDef = def(
    "alpha_panda_stage_latency_quantiles_seconds",
    Summary,
    &["stage"],
    "Quantiles of each pipeline hop from its HDR histogram since start.",
);
pub const INFERENCE_LATENCY: MetricDef = def(
    "alpha_panda_inference_latency_seconds",
    Summary,
    &["strategy"],
    "ML scoring latency per ML strategy (features, model, decision per scoring tick; per call when batched).",
);

pub const JOURNAL_RECORDS: MetricDef = def(
    "alpha_panda_journal_records_total",
    Counter,
    &[],
    "Records the journal has written (ticks, orders, order events, starts and ends).",
);
pub const JOURNAL_BYTES: MetricDef = def(
    "alpha_panda_journal_bytes_total",
    Counter,
    &[],
    "Bytes the journal has written.",
);
pub const JOURNAL_SYNCS: MetricDef = def(
    "alpha_panda_journal_syncs_total",
    Counter,
    &[],
    "fsyncs of the journal (each makes the orders written before it durable).",
);
pub const JOURNAL_RING_FULL: MetricDef = def(
    "alpha_panda_journal_ring_full_total",
    Counter,
    &[],
    "Times the feed or execution found the journal's ring full and waited (the journal is not keeping up).",
);
pub const JOURNAL_FAILED: MetricDef = def(
    "alpha_panda_journal_failed",
    Gauge,
    &[],
    "1 once a journal write or sync failed: orders are refused (JOURNAL_FAILED) and the run stops.",
);

/// Every exported family, in exposition order.
pub const METRICS: &[MetricDef] = &[
    TICKS,
    SIGNALS,
    ORDERS,
    FILLS,
    REJECTIONS,
    RING_FULL,
    DLQ_ERRORS,
    DEAD_LETTERS,
    DEAD_LETTERS_DROPPED,
    HTTP_DROPPED,
    VALIDATOR_FINDINGS,
    MODEL_LOADS,
    STAGE_EVENTS,
    RING_DEPTH,
    RING_CAPACITY,
    STRATEGIES_REGISTERED,
    STRATEGIES_CONFIGURED,
    OPEN_POSITIONS,
    PNL,
    LAST_ACTIVITY,
    KILL_SWITCH,
    READY,
    VALIDATOR_ACTIVE,
    HTTP_OPEN,
    START_TIME,
    BUILD_INFO,
    JOURNAL_RECORDS,
    JOURNAL_BYTES,
    JOURNAL_SYNCS,
    JOURNAL_RING_FULL,
    JOURNAL_FAILED,
    STAGE_LATENCY,
    STAGE_LATENCY_QUANTILES,
    INFERENCE_LATENCY,
];

/// Histogram bucket upper bounds, seconds: 250 ns to 10 ms, fitted to a µs pipeline.
pub const LATENCY_BUCKETS_NS: [u64; 14] = [
    250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 10_000_000,
];

/// Summary quantiles.
pub const LATENCY_QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// Series names a scrape can contain: the family names plus `_bucket`/`_sum`/`_count`.
pub fn series_names() -> Vec<String> {
    let mut names = Vec::new();
    for m in METRICS {
        names.push(m.name.to_owned());
        if matches!(m.kind, Histogram | Summary) {
            names.push(format!("{}_sum", m.name));
            names.push(format!("{}_count", m.name));
        }
        if m.kind == Histogram {
            names.push(format!("{}_bucket", m.name));
        }
    }
    names
}

/// Label values of the closed sets, for dashboards and rules to be checked against.
pub const STAGES: [&str; 4] = ["feed", "strategy", "risk", "execution"];
pub const RINGS: [&str; 5] = [
    "feed_to_strategy",
    "strategy_to_risk",
    "risk_to_execution",
    "execution_to_risk",
    "execution_to_strategy",
];
pub const ISSUES: [&str; 6] = [
    "no_recent_data",
    "no_signals",
    "no_orders",
    "no_fills",
    "stalled_stage",
    "queue_saturated",
];

/// The catalog as JSON: `schema_version`, every family (name, type, labels, help) in
/// exposition order, the latency buckets (seconds) and quantiles, and the label values of
/// the closed sets. Tools that check dashboards or rules read this instead of the source.
pub fn catalog_json() -> serde_json::Value {
    let metrics: Vec<serde_json::Value> = METRICS
        .iter()
        .map(|m| {
            serde_json::json!({
                "name": m.name,
                "type": m.kind.name(),
                "labels": m.labels,
                "help": m.help,
            })
        })
        .collect();
    serde_json::json!({
        "schema_version": crate::report::schema::METRIC_CATALOG_JSON,
        "metrics": metrics,
        // Seconds, as the exposition writes `le`.
        "latency_buckets_seconds": LATENCY_BUCKETS_NS.map(|ns| ns as f64 / 1e9),
        "latency_quantiles": LATENCY_QUANTILES,
        "label_values": {
            "stage": STAGES,
            "ring": RINGS,
            "issue": ISSUES,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_json_lists_every_family_in_order() {
        let json = catalog_json();
        assert_eq!(
            json["schema_version"],
            crate::report::schema::METRIC_CATALOG_JSON
        );
        let names: Vec<&str> = json["metrics"]
            .as_array()
            .map(|a| a.iter().filter_map(|m| m["name"].as_str()).collect())
            .unwrap_or_default();
        let expected: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        assert_eq!(names, expected);
        assert_eq!(json["metrics"][0]["type"], "counter");
        assert_eq!(json["latency_buckets_seconds"][0], 250e-9);
    }
}
