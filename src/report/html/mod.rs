//! `report.html`: one self-contained page per run, for a browser with no network. Styles and
//! the one small script are inline; the charts are inline SVG drawn here (`chart`,
//! `panels`), so the page needs no library and shows its charts with scripts off.
//!
//! Contract:
//! - Order on the page: a one-line title and a small metadata block, then per settlement
//!   currency the net PnL chart (total and every report row) with its drawdown, then the
//!   statistics table (one row per summary strategy row, then one total per currency), then
//!   fills and positions over the price of one instrument, picked with a `<select>`. The first
//!   PnL chart is on the first screen of a 1400×2400 window.
//! - Row `r` of the summary is drawn in `plot::PALETTE[r]`, as in `equity.svg`.
//! - Every string that comes from config or data (ids, symbols, file names) is HTML-escaped.
//! - The script records its own success as `data-ok="1"` on `<html>`; an error anywhere on
//!   the page is written to `data-error` and shown in the page (tests read both).
//! - Equal runs give equal pages except the wall times.

mod chart;
mod panels;

use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::{ReportError, Summary};
use crate::domain::Nanos;
use crate::report::analytics::Analytics;
use crate::runtime::{EngineLayout, RunOutcome};

/// What a run read, for the report's header (the summary does not hold it).
#[derive(Clone, Debug, Default)]
pub struct RunMeta {
    /// `backtest` or `live`.
    pub mode: &'static str,
    /// Tick files (or the embedded excerpt's name), in the order given.
    pub data: Vec<String>,
    /// The engine config file; `None` when the embedded default was used.
    pub config: Option<PathBuf>,
}

/// Writes `report.html` to `path`.
///
/// # Errors
/// The file cannot be written.
pub fn write_report(
    path: &Path,
    summary: &Summary,
    layout: &EngineLayout,
    outcome: &RunOutcome,
    analytics: &Analytics,
    meta: &RunMeta,
) -> Result<(), ReportError> {
    let page = render(summary, layout, outcome, analytics, meta);
    std::fs::write(path, page).map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })
}

/// The page as text.
pub fn render(
    summary: &Summary,
    layout: &EngineLayout,
    outcome: &RunOutcome,
    analytics: &Analytics,
    meta: &RunMeta,
) -> String {
    let mode = if meta.mode.is_empty() {
        "run"
    } else {
        meta.mode
    };
    let mut out = String::with_capacity(256 * 1024);
    let _ = write!(
        out,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Alpha Panda {} report</title><style>{STYLE}</style><script>{ON_ERROR}</script></head><body>"#,
        escape(mode)
    );
    let _ = write!(
        out,
        r#"<h1>Alpha Panda {} report</h1><pre id="errors" hidden></pre>"#,
        escape(mode)
    );
    header(&mut out, summary, analytics, meta);
    panels::equity_sections(&mut out, layout, analytics);
    stats_table(&mut out, summary);
    panels::instrument_section(&mut out, layout, outcome, analytics);
    let _ = writeln!(out, "<script>{SCRIPT}</script></body></html>");
    out
}

/// Escapes text for HTML content and quoted attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `2024-08-08 23:54:14` (UTC).
fn utc(ts: Nanos) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts.0)).map_or_else(
        |_| String::new(),
        |t| {
            format!(
                "{}-{:02}-{:02} {:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        },
    )
}

/// The metadata block: inputs, engine, runtime, size and timing of the run.
fn header(out: &mut String, summary: &Summary, analytics: &Analytics, meta: &RunMeta) {
    let data = if meta.data.is_empty() {
        "-".to_owned()
    } else {
        meta.data.join(", ")
    };
    let config = meta
        .config
        .as_ref()
        .map_or_else(|| "embedded".to_owned(), |p| p.display().to_string());
    let period = match (analytics.times.first(), analytics.times.last()) {
        (Some(&a), Some(&b)) => format!("{} to {} UTC", utc(a), utc(b)),
        _ => "-".to_owned(),
    };
    let wall = summary.load_seconds + summary.run_seconds + summary.wait_seconds;
    let mut items = vec![
        ("data", data),
        ("config", config),
        (
            "engine",
            format!("alpha-panda {}", env!("CARGO_PKG_VERSION")),
        ),
        ("runtime", summary.runtime.to_owned()),
        (
            "ticks",
            format!(
                "{} ({} quotes, {} trades, {} skipped rows)",
                summary.ticks, summary.quotes, summary.trades, summary.skipped_rows
            ),
        ),
        (
            "wall time",
            if summary.wait_seconds > 0.0 {
                format!(
                    "{wall:.3} s (load {:.3} s, run {:.3} s, waiting for market data {:.3} s)",
                    summary.load_seconds, summary.run_seconds, summary.wait_seconds
                )
            } else {
                format!(
                    "{wall:.3} s (load {:.3} s, run {:.3} s)",
                    summary.load_seconds, summary.run_seconds
                )
            },
        ),
        ("period", period),
        (
            "strategies",
            format!(
                "{} of {} configured",
                summary.registered_strategies, summary.configured_strategies
            ),
        ),
        (
            "orders",
            format!("{} ({} fills)", summary.orders, summary.fills),
        ),
        ("equity", summary.equity.to_string()),
        (
            "stats samples",
            format!("every {} s", summary.stats_interval_s),
        ),
    ];
    if let Some(base) = &summary.base_currency {
        items.push((
            "total",
            format!("{} {} (converted)", base.equity, base.currency),
        ));
    }
    out.push_str(r#"<div class="meta">"#);
    for (name, value) in items {
        let _ = write!(out, "<span><b>{name}</b> {}</span>", escape(&value));
    }
    out.push_str("</div>");
}

/// A number for the table: about three significant digits (exponent form when very large
/// or small, to keep the columns narrow), `-` when undefined.
fn number(value: Option<f64>) -> String {
    match value {
        None => "-".to_owned(),
        Some(v) if !v.is_finite() => v.to_string(),
        Some(0.0) => "0".to_owned(),
        Some(v) if v.abs() >= 1e6 || v.abs() < 1e-3 => format!("{v:.2e}"),
        Some(v) => {
            let decimals = if v.abs() >= 1000.0 {
                0
            } else if v.abs() >= 1.0 {
                2
            } else {
                (2.0 - v.abs().log10().floor()).clamp(0.0, 12.0) as usize
            };
            format!("{v:.decimals$}")
        }
    }
}

fn percent(value: Option<f64>) -> String {
    match value {
        None => "-".to_owned(),
        Some(v) => format!("{}%", number(Some(v * 100.0))),
    }
}

/// A duration in the unit that reads best.
fn duration(seconds: Option<f64>) -> String {
    match seconds {
        None => "-".to_owned(),
        Some(s) if s < 120.0 => format!("{s:.0} s"),
        Some(s) if s < 7_200.0 => format!("{:.1} min", s / 60.0),
        Some(s) if s < 172_800.0 => format!("{:.1} h", s / 3_600.0),
        Some(s) => format!("{:.1} d", s / 86_400.0),
    }
}

/// An exact decimal amount shown to four significant digits (at least two decimals, trailing
/// zeros dropped; exponent form below 0.001), the exact text on hover: averages carry 18
/// decimals of noise, and coin-margined amounts are tiny.
fn money(exact: Option<&str>) -> String {
    let Some(exact) = exact else {
        return "-".to_owned();
    };
    let shown = match exact.parse::<f64>() {
        Ok(v) if v != 0.0 && v.abs() < 1e-3 => format!("{v:.3e}"),
        Ok(v) if v != 0.0 && v.is_finite() => {
            let decimals = (3.0 - v.abs().log10().floor()).clamp(2.0, 18.0) as usize;
            let text = format!("{v:.decimals$}");
            let dot = text.find('.').map_or(text.len(), |i| i + 3);
            let kept = text.trim_end_matches('0').len().max(dot);
            text[..kept].to_owned()
        }
        _ => exact.to_owned(),
    };
    if shown == exact {
        escape(exact)
    } else {
        format!(
            r#"<span title="{}">{}</span>"#,
            escape(exact),
            escape(&shown)
        )
    }
}

/// The statistics cells of one row, from its `stats` JSON (`stats::Stats::to_json`).
fn stats_cells(out: &mut String, stats: &serde_json::Value, net: &str) {
    let f = |key: &str| stats.get(key).and_then(serde_json::Value::as_f64);
    let money = |key: &str| money(stats.get(key).and_then(serde_json::Value::as_str));
    let cells = [
        percent(f("return")),
        percent(f("volatility")),
        number(f("sharpe")),
        number(f("sortino")),
        format!(
            "{} ({})",
            money("max_drawdown"),
            duration(f("max_drawdown_duration_s"))
        ),
        number(f("calmar")),
        stats
            .get("round_trips")
            .and_then(serde_json::Value::as_u64)
            .map_or_else(|| "-".to_owned(), |n| n.to_string()),
        percent(f("win_rate")),
        number(f("profit_factor")),
        money("avg_win"),
        money("avg_loss"),
        money("expectancy"),
        percent(f("exposure")),
        number(f("turnover")),
        money("fees"),
        self::money(Some(net)),
    ];
    for cell in cells {
        let _ = write!(out, "<td>{cell}</td>");
    }
}

/// Column headings of the statistics, with what each means on hover.
const STATS_HEADINGS: [(&str, &str); 16] = [
    ("return", "final net PnL / initial capital"),
    ("volatility", "annualised stdev of the sampled returns"),
    ("Sharpe", "annualised, from the sampled equity"),
    ("Sortino", "annualised, downside deviation"),
    (
        "max DD (duration)",
        "largest drop of the sampled net PnL from its peak (longest time from a peak to its recovery)",
    ),
    ("Calmar", "annualised return / max drawdown"),
    ("trips", "closed round trips"),
    ("win rate", "share of closed trips with PnL > 0"),
    ("profit factor", "gross wins / gross losses"),
    ("avg win", "mean PnL of winning trips"),
    ("avg loss", "mean PnL of losing trips"),
    ("expectancy", "mean PnL per closed trip"),
    ("exposure", "share of the run with a position"),
    ("turnover", "traded notional / initial capital"),
    ("fees", "fees paid"),
    (
        "net PnL",
        "realized - fees + unrealized, at the final marks",
    ),
];

/// One row per summary strategy row (its colour swatch first), then a total per currency.
fn stats_table(out: &mut String, summary: &Summary) {
    let brokers = summary
        .strategies
        .iter()
        .any(|s| s.broker != summary.strategies[0].broker);
    let _ = write!(
        out,
        r#"<section id="stats"><h2>Statistics <small>money in the row's currency; samples every {} s</small></h2><div class="scroll"><table><thead><tr><th class="l" colspan="2">strategy</th>{}<th class="l">symbol</th><th class="l">ccy</th>"#,
        summary.stats_interval_s,
        if brokers {
            r#"<th class="l">broker</th>"#
        } else {
            ""
        }
    );
    for (name, title) in STATS_HEADINGS {
        let _ = write!(out, r#"<th title="{title}">{name}</th>"#);
    }
    out.push_str("</tr></thead><tbody>");
    for (r, row) in summary.strategies.iter().enumerate() {
        let _ = write!(
            out,
            r#"<tr><td><i class="swatch" style="background:{}"></i></td><td class="l">{}</td>"#,
            panels::row_colour(r),
            escape(&row.id)
        );
        if brokers {
            let _ = write!(out, r#"<td class="l">{}</td>"#, escape(&row.broker));
        }
        let _ = write!(
            out,
            r#"<td class="l">{}</td><td class="l">{}</td>"#,
            escape(&row.symbol),
            escape(&row.currency)
        );
        stats_cells(out, &row.stats, &row.net_pnl);
        out.push_str("</tr>");
    }
    for (currency, stats) in &summary.stats.0 {
        let net = summary.equity.get(currency).map_or("-", String::as_str);
        let _ = write!(
            out,
            r#"<tr class="total"><td></td><td class="l" colspan="{}">total {}</td><td class="l">{}</td>"#,
            if brokers { 3 } else { 2 },
            escape(currency),
            escape(currency)
        );
        stats_cells(out, stats, net);
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div></section>");
}

const STYLE: &str = "\
body{font:13px/1.35 system-ui,-apple-system,'Segoe UI',sans-serif;margin:10px 16px;color:#111827;background:#f9fafb}\
h1{font-size:17px;margin:0 0 3px}\
h2{font-size:14px;margin:10px 0 2px}\
h2 small,.note{font-weight:normal;color:#6b7280;font-size:12px}\
.note{margin:2px 0}\
.meta{display:flex;flex-wrap:wrap;gap:1px 18px;font-size:12px;color:#374151}\
.meta b{font-weight:600;color:#111827;margin-right:3px}\
#errors{color:#b91c1c;background:#fee2e2;padding:4px}\
svg.chart{display:block;width:100%;max-width:1360px;height:auto;background:#fff}\
svg text{font-family:system-ui,sans-serif}\
svg text.tick{font-size:11px;fill:#374151}\
svg text.axis{font-size:12px;fill:#111827}\
.legend{display:flex;flex-wrap:wrap;gap:1px 16px;font-size:12px;margin:2px 0}\
.legend i,.swatch{display:inline-block;width:16px;height:4px;margin-right:5px;vertical-align:middle}\
.scroll{overflow-x:auto;max-width:1368px}\
table{border-collapse:collapse;font-size:11px;font-variant-numeric:tabular-nums;background:#fff}\
th,td{padding:2px 4px;border-bottom:1px solid #e5e7eb;text-align:right;white-space:nowrap}\
th{background:#f3f4f6;font-weight:600;white-space:normal;vertical-align:bottom}\
td.l,th.l{text-align:left}\
tr.total td{font-weight:600;border-top:1px solid #9ca3af}\
select{font:inherit;font-size:13px}";

/// Installed first, so an error in any later script lands in the page.
const ON_ERROR: &str = "window.onerror=function(m,s,l){var t=String(m)+' (line '+l+')';\
document.documentElement.setAttribute('data-error',t);\
var p=document.getElementById('errors');if(p){p.hidden=false;p.textContent+=t+'\\n';}};";

/// The instrument picker (also from `#instrument=N` in the address), then the success mark.
const SCRIPT: &str = "(function(){\
var pick=document.getElementById('instrument');\
function show(){var v=pick.value,panels=document.querySelectorAll('.inst');\
for(var i=0;i<panels.length;i++){panels[i].hidden=panels[i].getAttribute('data-instrument')!==v;}}\
if(pick){var m=/^#instrument=(\\d+)$/.exec(location.hash);\
if(m&&m[1]<pick.options.length){pick.value=m[1];}\
pick.addEventListener('change',function(){show();\
try{history.replaceState(null,'','#instrument='+pick.value);}catch(e){}});show();}\
document.documentElement.setAttribute('data-ok','1');})();";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">O'Neil & co</a>"#),
            "&lt;a href=&quot;x&quot;&gt;O&#39;Neil &amp; co&lt;/a&gt;"
        );
    }

    #[test]
    fn numbers_read_well() {
        for (value, text) in [
            (None, "-"),
            (Some(0.0), "0"),
            (Some(1682.31), "1682"),
            (Some(2.345), "2.35"),
            (Some(0.0012345), "0.00123"),
            (Some(-0.5), "-0.500"),
            (Some(446_439_859.0), "4.46e8"),
            (Some(0.0000747), "7.47e-5"),
        ] {
            assert_eq!(number(value), text, "{value:?}");
        }
        assert_eq!(percent(Some(0.7755)), "77.55%");
        for (exact, shown) in [
            ("0.252", "0.252"),
            ("0.0563285714285714290", "0.05633"),
            ("0.000000194842809661", "1.948e-7"),
            ("-1234567.5", "-1234567.50"),
            ("0.0", "0.0"),
        ] {
            assert!(
                money(Some(exact)).contains(&format!(">{shown}<")) || money(Some(exact)) == shown,
                "{exact}: {}",
                money(Some(exact))
            );
        }
        assert_eq!(money(None), "-");
        assert_eq!(duration(Some(41.0)), "41 s");
        assert_eq!(duration(Some(5_400.0)), "90.0 min");
        assert_eq!(duration(Some(200_000.0)), "2.3 d");
    }
}
