//! Run reports: the JSON summary (`--json`, `summary.json`, built here), `fills.csv` and
//! `orders.csv` (`csv`), the equity-curve SVG (`plot`), the self-contained HTML report
//! (`html`), the human-readable text report (`text`) and live runs' `pnl_snapshot.json`
//! (`snapshot`). Every file a tool reads carries a schema version (`schema`). Money and
//! quantities are exact decimal strings; every list is in a fixed order (never hash-map
//! order), so equal runs give equal bytes.

pub mod analytics;
mod csv;
mod html;
pub mod plot;
pub mod schema;
mod snapshot;
pub mod stats;
mod text;

pub use analytics::Analytics;
pub use csv::{write_equity_csv, write_fills_csv, write_orders_csv, write_trades_csv};
pub use html::{RunMeta, write_report};
pub use snapshot::{PnlSnapshot, write_pnl_snapshot};

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::domain::Money;
use crate::runtime::{EngineLayout, RunOutcome};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot draw {path}: {message}")]
    Plot { path: PathBuf, message: String },
}

/// One book on one instrument.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct StrategyRow {
    pub id: String,
    pub kind: &'static str,
    pub broker: String,
    pub symbol: String,
    /// Settlement currency: every money figure of the row is in it.
    pub currency: String,
    pub orders: u64,
    pub fills: u64,
    pub realized_pnl: String,
    pub unrealized_pnl: String,
    pub fees: String,
    /// `realized - fees + unrealized`.
    pub net_pnl: String,
    pub position: String,
    /// Cancels confirmed by the venue.
    pub cancels: u64,
    /// Modifies (cancel/replace) that took effect.
    pub replaces: u64,
    /// Orders refused by risk or the venue.
    pub rejections: u64,
    /// Return, risk and trade statistics (`stats::Stats::to_json`).
    pub stats: serde_json::Value,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BrokerRow {
    pub name: String,
    pub configured_strategies: usize,
    pub registered_strategies: usize,
    pub orders: u64,
    pub fills: u64,
    /// Currency → realized PnL net of fees.
    pub realized_pnl: indexmap_like::OrderedMap<String>,
    /// Currency → net PnL.
    pub net_pnl: indexmap_like::OrderedMap<String>,
    pub kill_switch: bool,
}

/// The total converted into `[portfolio] base_currency`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BaseRow {
    pub currency: String,
    pub equity: String,
    /// Currency → rate used (base units per unit).
    pub rates: indexmap_like::OrderedMap<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LatencyRow {
    pub count: u64,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// An ML strategy's model: identity, thresholds, load result, rows scored. Deterministic
/// (the same in every runtime); timings are in `InferenceRow`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ModelRow {
    pub strategy: String,
    /// The `model` path as the strategy file writes it.
    pub model: String,
    pub loaded: bool,
    pub problems: Vec<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub feature_schema_hash: Option<String>,
    pub entry_threshold: Option<f64>,
    pub exit_threshold: Option<f64>,
    /// Feature rows scored in the run.
    pub rows_scored: u64,
}

/// How an ML strategy's inference ran: mode, calls, errors, load time and call latency.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct InferenceRow {
    pub mode: &'static str,
    pub calls: u64,
    pub errors: u64,
    pub load_ms: f64,
    /// Per tick: a scoring tick's features, score and decision. Batched: one chunk's call.
    pub latency_ns: LatencyRow,
}

/// The run summary. Field order is the JSON order.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    /// `schema::SUMMARY_JSON`: first, so a tool can check it before reading on.
    pub schema_version: u32,
    /// The CSV files written beside the summary → their schema versions
    /// (`schema::run_csv_versions`): the CSVs themselves stay plain, header first.
    pub schemas: indexmap_like::OrderedMap<u32>,
    /// Live runs: the run's id (`ops::run_lock::new_run_id`), as in its log lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub runtime: &'static str,
    pub ticks: u64,
    pub quotes: u64,
    pub trades: u64,
    pub skipped_rows: u64,
    pub load_seconds: f64,
    pub run_seconds: f64,
    /// Time the feed waited for market data (a live socket feed), in neither load nor run.
    pub wait_seconds: f64,
    pub ticks_per_second: f64,
    /// New orders the strategies asked for.
    pub signals: u64,
    /// New orders risk approved.
    pub orders: u64,
    pub fills: u64,
    /// Order events delivered to strategies (acceptances, fills, cancels, refusals, ...).
    pub order_events: u64,
    /// Timers that fired.
    pub timers_fired: u64,
    /// Actions strategies wrote that were refused at once (limits of `Actions`).
    pub actions_refused: u64,
    /// Orders the kill switch sent to close positions (`flatten_on_kill`).
    pub flatten_orders: u64,
    /// Reject code → count, in the fixed order of `RejectReason::ALL`.
    pub rejections: indexmap_like::OrderedMap<u64>,
    pub configured_strategies: usize,
    pub registered_strategies: usize,
    pub disabled_strategies: Vec<String>,
    /// Registered strategies that were never run on a tick (no tick of their instruments).
    pub idle_strategies: Vec<String>,
    /// Settlement currency → total equity (PnL at the final marks). Never added across.
    pub equity: indexmap_like::OrderedMap<String>,
    /// Settlement currency → largest drop of equity from a peak, tick by tick.
    pub max_drawdown: indexmap_like::OrderedMap<String>,
    /// The converted total when `[portfolio] base_currency` and its rates are configured.
    pub base_currency: Option<BaseRow>,
    /// Currencies without a rate into the base currency.
    pub missing_rates: Vec<String>,
    /// Interval of the equity samples behind volatility, Sharpe, Sortino and drawdown
    /// duration in `stats`, seconds.
    pub stats_interval_s: f64,
    /// Event time those samples span, seconds: ratios annualised from less than a day of
    /// data say little (the text report says so).
    pub stats_span_s: f64,
    /// Compute time charged to the simulated clock (`[compute]`): `mode`, `charged` (the
    /// measured charges recorded), `replay_exhausted` (replay charges beyond the samples).
    pub compute: serde_json::Value,
    /// Settlement currency → statistics of the total.
    pub stats: indexmap_like::OrderedMap<serde_json::Value>,
    pub strategies: Vec<StrategyRow>,
    pub brokers: Vec<BrokerRow>,
    pub latency_ns: indexmap_like::OrderedMap<LatencyRow>,
    pub ring_full: indexmap_like::OrderedMap<u64>,
    pub models: Vec<ModelRow>,
    /// Strategy id → inference counters and timings.
    pub inference: indexmap_like::OrderedMap<InferenceRow>,
    /// Live runs with a shadowed Kite venue: broker → per book, real against simulated fills
    /// (`execution::kite::shadow`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow: Option<serde_json::Value>,
}

/// A JSON object with keys in insertion order (serde_json's map would sort them).
pub mod indexmap_like {
    use serde::ser::{Serialize, SerializeMap, Serializer};

    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct OrderedMap<V>(pub Vec<(String, V)>);

    impl<V: Serialize> Serialize for OrderedMap<V> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(self.0.len()))?;
            for (k, v) in &self.0 {
                map.serialize_entry(k, v)?;
            }
            map.end()
        }
    }

    /// `value key, value key`: money per currency in text reports.
    impl std::fmt::Display for OrderedMap<String> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            for (i, (k, v)) in self.0.iter().enumerate() {
                write!(f, "{}{v} {k}", if i > 0 { ", " } else { "" })?;
            }
            Ok(())
        }
    }

    impl<V> OrderedMap<V> {
        pub fn get(&self, key: &str) -> Option<&V> {
            self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
        }
    }
}

/// Feed counts the summary shows (zeros where the source does not know them).
#[derive(Clone, Copy, Debug, Default)]
pub struct FeedCounts {
    pub quotes: u64,
    pub trades: u64,
    pub skipped_rows: u64,
}

impl Summary {
    pub fn build(
        layout: &EngineLayout,
        outcome: &RunOutcome,
        runtime: &'static str,
        feed: FeedCounts,
    ) -> Summary {
        let specs = &layout.instruments;
        let analytics = Analytics::compute(layout, outcome);
        let currencies = specs.currencies();
        let currency_name =
            |c: crate::domain::CurrencyId| currencies.get(c.index()).cloned().unwrap_or_default();
        // Display decimals per currency: the finest instrument settling in it.
        let mut digits_of = vec![0u8; outcome.portfolio.currency_count()];
        for (_, spec) in specs.iter() {
            if let Some(d) = digits_of.get_mut(spec.settlement.index()) {
                *d = (*d).max(spec.money_precision());
            }
        }
        let mut strategies = Vec::new();
        let mut brokers: Vec<BrokerRow> = layout
            .brokers
            .iter()
            .map(|name| BrokerRow {
                name: name.clone(),
                configured_strategies: 0,
                registered_strategies: 0,
                orders: 0,
                fills: 0,
                realized_pnl: Default::default(),
                net_pnl: Default::default(),
                kill_switch: false,
            })
            .collect();
        let currency_count = digits_of.len();
        let mut broker_money =
            vec![(Money::ZERO, Money::ZERO, false); layout.brokers.len() * currency_count];
        let mut rows = analytics.rows.iter();
        for info in &layout.strategies {
            for &book in &info.books {
                let broker = layout.books[book.0 as usize].broker.0 as usize;
                brokers[broker].registered_strategies += 1;
                for &instrument in &info.instruments {
                    let spec = specs.spec(instrument);
                    let digits = spec.money_precision();
                    let r = outcome.portfolio.report(book, instrument);
                    let b = &mut broker_money[broker * currency_count + r.currency.index()];
                    b.0 += r.realized - r.fees;
                    b.1 += r.net;
                    b.2 = true;
                    brokers[broker].orders += r.orders;
                    brokers[broker].fills += r.fills;
                    let stats = rows.next().map_or(serde_json::Value::Null, |a| {
                        stats_json(&a.stats, digits, layout, r.currency)
                    });
                    strategies.push(StrategyRow {
                        id: info.id.clone(),
                        kind: info.kind,
                        broker: layout.brokers[broker].clone(),
                        symbol: spec.symbol.clone(),
                        currency: currency_name(r.currency),
                        orders: r.orders,
                        fills: r.fills,
                        realized_pnl: r.realized.display(digits).to_string(),
                        unrealized_pnl: r.unrealized.display(digits).to_string(),
                        fees: r.fees.display(digits).to_string(),
                        net_pnl: r.net.display(digits).to_string(),
                        position: r.position.display(spec.qty_precision).to_string(),
                        cancels: r.cancels,
                        replaces: r.replaces,
                        rejections: r.rejections,
                        stats,
                    });
                }
            }
        }
        for (b, row) in brokers.iter_mut().enumerate() {
            for c in 0..currency_count {
                let (realized, net, used) = broker_money[b * currency_count + c];
                if used {
                    let name = currency_name(crate::domain::CurrencyId(c as u16));
                    row.realized_pnl
                        .0
                        .push((name.clone(), realized.display(digits_of[c]).to_string()));
                    row.net_pnl
                        .0
                        .push((name, net.display(digits_of[c]).to_string()));
                }
            }
        }
        let used = &analytics.used;
        let per_currency = |values: &[Money]| {
            indexmap_like::OrderedMap(
                values
                    .iter()
                    .enumerate()
                    .filter(|&(c, _)| used[c])
                    .map(|(c, m)| {
                        (
                            currency_name(crate::domain::CurrencyId(c as u16)),
                            m.display(digits_of[c]).to_string(),
                        )
                    })
                    .collect(),
            )
        };
        let equity = per_currency(outcome.portfolio.equity());
        let max_drawdown = per_currency(outcome.portfolio.max_drawdown());
        let stats = indexmap_like::OrderedMap(
            analytics
                .totals
                .iter()
                .enumerate()
                .filter(|&(c, _)| used[c])
                .map(|(c, s)| {
                    let id = crate::domain::CurrencyId(c as u16);
                    (currency_name(id), stats_json(s, digits_of[c], layout, id))
                })
                .collect(),
        );
        let base_currency = analytics.base.as_ref().map(|b| BaseRow {
            currency: b.currency.clone(),
            equity: b
                .equity
                .display(digits_of.iter().copied().max().unwrap_or(2))
                .to_string(),
            rates: indexmap_like::OrderedMap(
                b.rates
                    .iter()
                    .map(|(c, r)| (c.clone(), r.display(0).to_string()))
                    .collect(),
            ),
        });
        for (row, &killed) in brokers.iter_mut().zip(&outcome.kill_switch) {
            row.kill_switch = killed;
        }
        for (row, &configured) in brokers.iter_mut().zip(&layout.configured_per_broker) {
            row.configured_strategies = configured;
        }
        let (models, inference) = model_rows(layout, outcome);
        let run_seconds = outcome.run.as_secs_f64();
        let latency_ns = indexmap_like::OrderedMap(
            outcome
                .latency
                .summaries()
                .into_iter()
                .map(|(stage, s)| (stage.name().to_owned(), latency_row(s)))
                .collect(),
        );
        Summary {
            schema_version: schema::SUMMARY_JSON,
            schemas: schema::run_csv_versions(),
            run_id: None,
            runtime,
            ticks: outcome.ticks,
            quotes: feed.quotes,
            trades: feed.trades,
            skipped_rows: feed.skipped_rows,
            load_seconds: outcome.load.as_secs_f64(),
            run_seconds,
            wait_seconds: outcome.wait.as_secs_f64(),
            ticks_per_second: if run_seconds > 0.0 {
                outcome.ticks as f64 / run_seconds
            } else {
                0.0
            },
            signals: outcome.signals,
            orders: outcome.orders,
            fills: outcome.fills.len() as u64,
            order_events: outcome.strategy.events,
            timers_fired: outcome.strategy.timers_fired,
            actions_refused: outcome.strategy.actions_refused,
            flatten_orders: outcome.strategy.flatten_orders,
            rejections: indexmap_like::OrderedMap(
                outcome
                    .rejections
                    .iter()
                    .map(|(r, n)| (r.code().to_owned(), *n))
                    .collect(),
            ),
            configured_strategies: layout.configured,
            registered_strategies: layout.strategies.len(),
            disabled_strategies: layout.disabled.clone(),
            idle_strategies: layout
                .strategies
                .iter()
                .filter(|s| {
                    s.books
                        .iter()
                        .all(|b| outcome.book_ticks.get(b.0 as usize).is_none_or(|&n| n == 0))
                })
                .map(|s| s.id.clone())
                .collect(),
            equity,
            max_drawdown,
            base_currency,
            missing_rates: analytics.missing_rates.clone(),
            stats_interval_s: analytics.interval_s,
            stats_span_s: analytics.span_s,
            compute: serde_json::json!({
                "mode": outcome.compute.mode.name(),
                "charged": outcome.compute.samples.len(),
                "replay_exhausted": outcome.compute.exhausted,
            }),
            stats,
            strategies,
            brokers,
            latency_ns,
            ring_full: indexmap_like::OrderedMap(
                outcome
                    .ring_full
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), *v))
                    .collect(),
            ),
            models,
            inference,
            shadow: None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// A row's or a currency's statistics as JSON, with its initial capital.
fn stats_json(
    stats: &stats::Stats,
    digits: u8,
    layout: &EngineLayout,
    currency: crate::domain::CurrencyId,
) -> serde_json::Value {
    let mut json = stats.to_json();
    let capital = layout
        .instruments
        .currencies()
        .get(currency.index())
        .and_then(|name| layout.portfolio.capital(name));
    if let serde_json::Value::Object(map) = &mut json {
        let _ = digits;
        map.insert(
            "initial_capital".into(),
            capital.map_or(serde_json::Value::Null, |m| m.display(2).to_string().into()),
        );
    }
    json
}

fn latency_row(s: crate::metrics::LatencySummary) -> LatencyRow {
    LatencyRow {
        count: s.count,
        p50: s.p50,
        p99: s.p99,
        p999: s.p999,
        max: s.max,
    }
}

/// One row per configured ML strategy, loaded or not, in config order.
fn model_rows(
    layout: &EngineLayout,
    outcome: &RunOutcome,
) -> (Vec<ModelRow>, indexmap_like::OrderedMap<InferenceRow>) {
    let mut models = Vec::new();
    let mut inference = Vec::new();
    for check in &layout.model_checks {
        let registered = layout
            .strategies
            .iter()
            .position(|s| s.id == check.strategy);
        let info = registered.and_then(|i| layout.strategies[i].model.as_ref());
        // The first book of the strategy (one per broker; runs name one broker but rarely).
        let stats = registered.and_then(|i| {
            let book = *layout.strategies[i].books.first()?;
            outcome.ml.iter().find(|m| m.book == book)
        });
        models.push(ModelRow {
            strategy: check.strategy.clone(),
            model: check.model.clone(),
            loaded: check.ok,
            problems: check.problems.clone(),
            name: check.name.clone(),
            version: check.version.clone(),
            feature_schema_hash: check.feature_schema_hash.clone(),
            entry_threshold: info.map(|m| m.entry_threshold),
            exit_threshold: info.map(|m| m.exit_threshold),
            rows_scored: stats.map_or(0, |s| s.rows),
        });
        if let (Some(info), Some(stats)) = (info, stats) {
            inference.push((
                check.strategy.clone(),
                InferenceRow {
                    mode: info.inference,
                    calls: stats.calls,
                    errors: stats.errors,
                    load_ms: check.load_ms,
                    latency_ns: latency_row(stats.latency),
                },
            ));
        }
    }
    (models, indexmap_like::OrderedMap(inference))
}

/// Writes `summary.json`, `fills.csv`, `orders.csv`, `equity.csv`, `trades.csv`,
/// `equity.svg` and `report.html` (whose header names what `meta` says the run read) into
/// `dir` (created if missing).
///
/// # Errors
/// A file cannot be written.
pub fn write_outputs(
    dir: &Path,
    summary: &Summary,
    layout: &EngineLayout,
    outcome: &RunOutcome,
    meta: &RunMeta,
) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let summary_path = dir.join("summary.json");
    std::fs::write(&summary_path, summary.to_json() + "\n").map_err(|source| ReportError::Io {
        path: summary_path,
        source,
    })?;
    write_fills_csv(&dir.join("fills.csv"), layout, &outcome.fills)?;
    write_orders_csv(&dir.join("orders.csv"), layout, &outcome.order_log)?;
    let analytics = Analytics::compute(layout, outcome);
    write_equity_csv(&dir.join("equity.csv"), layout, &analytics)?;
    write_trades_csv(&dir.join("trades.csv"), layout, &analytics)?;
    plot::equity_svg(&dir.join("equity.svg"), layout, &analytics)?;
    write_report(
        &dir.join("report.html"),
        summary,
        layout,
        outcome,
        &analytics,
        meta,
    )
}
