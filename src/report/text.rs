//! The human-readable report a backtest prints: run counts, rejections, one line per
//! strategy row and broker, latency percentiles and the ML models.

use super::Summary;

impl Summary {
    /// The human-readable report.
    pub fn render_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(out, "Alpha Panda backtest ({} runtime)", self.runtime);
        let _ = writeln!(
            out,
            "  ticks {} (quotes {}, trades {}, skipped rows {})",
            self.ticks, self.quotes, self.trades, self.skipped_rows
        );
        let _ = writeln!(
            out,
            "  load {:.3} s, run {:.3} s, {:.0} ticks/s",
            self.load_seconds, self.run_seconds, self.ticks_per_second
        );
        if self.wait_seconds > 0.0 {
            let _ = writeln!(out, "  waited {:.3} s for market data", self.wait_seconds);
        }
        let _ = writeln!(
            out,
            "  signals {}, orders {}, fills {}, order events {}, timers {}, actions refused {}",
            self.signals,
            self.orders,
            self.fills,
            self.order_events,
            self.timers_fired,
            self.actions_refused
        );
        if self.rejections.0.is_empty() {
            let _ = writeln!(out, "  rejections: none");
        } else {
            let list: Vec<String> = self
                .rejections
                .0
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(out, "  rejections: {}", list.join(", "));
        }
        let _ = writeln!(
            out,
            "  strategies registered {} of {} configured",
            self.registered_strategies, self.configured_strategies
        );
        for d in &self.disabled_strategies {
            let _ = writeln!(out, "    disabled: {d}");
        }
        for id in &self.idle_strategies {
            let _ = writeln!(out, "    never ran on a tick: {id}");
        }
        let _ = writeln!(
            out,
            "  equity {}; max drawdown {}",
            self.equity, self.max_drawdown
        );
        if let Some(base) = &self.base_currency {
            let _ = writeln!(out, "  equity in {}: {}", base.currency, base.equity);
        }
        if !self.missing_rates.is_empty() {
            let _ = writeln!(
                out,
                "  no base-currency total: no rate for {}",
                self.missing_rates.join(", ")
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  {:<28} {:<8} {:<14} {:<6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>16} {:>14} {:>16} {:>12}",
            "strategy",
            "broker",
            "symbol",
            "ccy",
            "orders",
            "fills",
            "cxl",
            "repl",
            "rej",
            "realized",
            "fees",
            "net",
            "position"
        );
        for s in &self.strategies {
            let _ = writeln!(
                out,
                "  {:<28} {:<8} {:<14} {:<6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>16} {:>14} {:>16} {:>12}",
                s.id,
                s.broker,
                s.symbol,
                s.currency,
                s.orders,
                s.fills,
                s.cancels,
                s.replaces,
                s.rejections,
                s.realized_pnl,
                s.fees,
                s.net_pnl,
                s.position
            );
        }
        let _ = writeln!(out);
        if self.stats_span_s < 86_400.0 {
            let span = if self.stats_span_s < 3600.0 {
                format!("{:.1} min", self.stats_span_s / 60.0)
            } else {
                format!("{:.1} h", self.stats_span_s / 3600.0)
            };
            let _ = writeln!(
                out,
                "  note: volatility, Sharpe and Sortino are annualised from {span} of data; under a day they say little"
            );
        }
        let _ = writeln!(
            out,
            "  statistics (samples every {}s)  {:>9} {:>8} {:>8} {:>14} {:>6} {:>6} {:>8}",
            self.stats_interval_s,
            "return",
            "sharpe",
            "sortino",
            "max dd",
            "trips",
            "win%",
            "exposure"
        );
        let rows = self
            .stats
            .0
            .iter()
            .map(|(c, v)| (format!("total {c}"), v))
            .chain(
                self.strategies
                    .iter()
                    .map(|s| (format!("{} {}", s.id, s.symbol), &s.stats)),
            );
        for (name, v) in rows {
            // Short runs make small returns: enough digits to see them.
            let pct = |k: &str| {
                v[k].as_f64()
                    .map_or("-".to_owned(), |x| format!("{:.4}", x * 100.0))
            };
            let num = |k: &str, scale: f64| {
                v[k].as_f64()
                    .map_or("-".to_owned(), |x| format!("{:.2}", x * scale))
            };
            let _ = writeln!(
                out,
                "  {:<40} {:>9} {:>8} {:>8} {:>14} {:>6} {:>6} {:>8}",
                name,
                pct("return"),
                num("sharpe", 1.0),
                num("sortino", 1.0),
                v["max_drawdown"].as_str().unwrap_or("-"),
                v["round_trips"].as_u64().unwrap_or(0),
                num("win_rate", 100.0),
                num("exposure", 100.0),
            );
        }
        let _ = writeln!(out);
        for b in &self.brokers {
            let _ = writeln!(
                out,
                "  broker {:<8} strategies {}/{}  orders {}  fills {}  realized-after-fees {}  net {}  kill switch {}",
                b.name,
                b.registered_strategies,
                b.configured_strategies,
                b.orders,
                b.fills,
                b.realized_pnl,
                b.net_pnl,
                if b.kill_switch { "TRIPPED" } else { "off" }
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  latency (ns)          {:>10} {:>8} {:>8} {:>8} {:>10}",
            "count", "p50", "p99", "p99.9", "max"
        );
        for (stage, l) in &self.latency_ns.0 {
            let _ = writeln!(
                out,
                "  {:<20} {:>10} {:>8} {:>8} {:>8} {:>10}",
                stage, l.count, l.p50, l.p99, l.p999, l.max
            );
        }
        if !self.models.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(out, "  ML models");
        }
        for m in &self.models {
            if !m.loaded {
                let _ = writeln!(
                    out,
                    "  {:<28} {} NOT LOADED: {}",
                    m.strategy,
                    m.model,
                    m.problems.join("; ")
                );
                continue;
            }
            let _ = write!(
                out,
                "  {:<28} {} v{} ({}) entry {} exit {}, {} rows scored",
                m.strategy,
                m.name.as_deref().unwrap_or("?"),
                m.version.as_deref().unwrap_or("?"),
                m.feature_schema_hash
                    .as_deref()
                    .map_or("?", |h| &h[..h.len().min(19)]),
                m.entry_threshold.unwrap_or(f64::NAN),
                m.exit_threshold.unwrap_or(f64::NAN),
                m.rows_scored
            );
            if let Some(i) = self.inference.get(&m.strategy) {
                let _ = write!(
                    out,
                    "; {} calls {} (errors {}), p50 {} ns, p99 {} ns per call, loaded in {:.1} ms",
                    i.mode, i.calls, i.errors, i.latency_ns.p50, i.latency_ns.p99, i.load_ms
                );
            }
            let _ = writeln!(out);
        }
        out
    }

    /// One line per ML strategy whose every inference failed (calls that failed or scores
    /// that were not finite, and no usable score): its results are those of a strategy
    /// that never saw a signal, not the model's. The run exits 1 when there is any.
    pub fn models_that_never_scored(&self) -> Vec<String> {
        self.models
            .iter()
            .filter_map(|m| {
                let i = self.inference.get(&m.strategy)?;
                (m.rows_scored == 0 && i.errors > 0).then(|| {
                    format!(
                        "ML strategy {}: every inference failed ({} {} calls, {} errors, 0 rows scored; see the error log): the results do not reflect the model",
                        m.strategy, i.calls, i.mode, i.errors
                    )
                })
            })
            .collect()
    }
}
