//! The chart sections of `report.html`. Per settlement currency: the total's and every report
//! row's net PnL (row `r` in `PALETTE[r]`, the colours of `equity.svg`; the total in black),
//! with the total's drawdown from the running peak of the sampled curve below. Per traded
//! instrument (one shown at a time, picked by a `<select>`): its sampled mark price with every
//! fill as a triangle in its row's colour, and each row's position as a step line.

use std::fmt::Write;

use super::chart::{self, Chart, Line, MAX_POINTS, Marker};
use super::escape;
use crate::domain::{InstrumentId, MONEY_SCALE, Nanos, Side};
use crate::report::analytics::{Analytics, RowAnalytics};
use crate::report::plot::PALETTE;
use crate::runtime::{EngineLayout, RunOutcome};

/// Chart width in SVG units (the page is laid out for a 1400 px window).
const WIDTH: f64 = 1360.0;
/// Most fill markers per instrument: beyond it every k-th fill is drawn (the page says so).
const MAX_MARKERS: usize = 5_000;

fn secs(ts: Nanos) -> f64 {
    ts.0 as f64 / 1e9
}

/// CSS colour of report row `r`.
pub(super) fn row_colour(r: usize) -> String {
    let (red, green, blue) = PALETTE[r % PALETTE.len()];
    format!("#{red:02x}{green:02x}{blue:02x}")
}

/// How a row is named on the charts: its book (strategy id, `@broker` when it has several)
/// and symbol.
fn row_name(layout: &EngineLayout, row: &RowAnalytics) -> String {
    format!(
        "{} {}",
        layout.book_name(row.book),
        layout.instruments.spec(row.instrument).symbol
    )
}

/// The run's time range, seconds, never empty.
fn x_range(analytics: &Analytics) -> (f64, f64) {
    match (analytics.times.first(), analytics.times.last()) {
        (Some(&a), Some(&b)) => (secs(a), secs(b).max(secs(a) + 1.0)),
        _ => (0.0, 1.0),
    }
}

/// One curve column over the whole grid, divided by `unit`; `skip_zero` leaves out zeros
/// (a mark before the instrument's first price).
fn column(analytics: &Analytics, column: usize, unit: f64, skip_zero: bool) -> Vec<(f64, f64)> {
    analytics
        .times
        .iter()
        .zip(&analytics.values)
        .filter_map(|(&t, row)| {
            let v = row.get(column)?.0;
            (!skip_zero || v != 0).then(|| (secs(t), v as f64 / unit))
        })
        .collect()
}

fn legend(out: &mut String, items: &[(String, String)]) {
    out.push_str(r#"<div class="legend">"#);
    for (name, colour) in items {
        let _ = write!(
            out,
            r#"<span><i style="background:{}"></i>{}</span>"#,
            escape(colour),
            escape(name)
        );
    }
    out.push_str("</div>");
}

/// One section per settlement currency some row settles in: net PnL lines and drawdown.
pub(super) fn equity_sections(out: &mut String, layout: &EngineLayout, analytics: &Analytics) {
    let unit = 10f64.powi(i32::from(MONEY_SCALE));
    let x_range = x_range(analytics);
    let currencies = layout.instruments.currencies();
    for (c, _) in analytics.used.iter().enumerate().filter(|(_, used)| **used) {
        let currency = currencies.get(c).map_or("?", String::as_str);
        let total = column(analytics, c, unit, false);
        let mut lines = vec![Line {
            name: format!("total {currency}"),
            colour: "#000000".into(),
            width: 2.6,
            points: chart::thin(&total, MAX_POINTS),
        }];
        for (r, row) in analytics.rows.iter().enumerate() {
            if row.currency.index() == c {
                lines.push(Line {
                    name: row_name(layout, row),
                    colour: row_colour(r),
                    width: 1.6,
                    points: chart::thin(&column(analytics, row.column, unit, false), MAX_POINTS),
                });
            }
        }
        // The total is drawn first (wide), the rows over it: a row that is the whole total
        // stays visible on it.
        let items: Vec<(String, String)> = lines
            .iter()
            .map(|l| (l.name.clone(), l.colour.clone()))
            .collect();
        let mut peak = f64::NEG_INFINITY;
        let drawdown: Vec<(f64, f64)> = total
            .iter()
            .map(|&(t, v)| {
                peak = peak.max(v);
                (t, v - peak)
            })
            .collect();
        let _ = write!(
            out,
            r#"<section class="ccy"><h2>Net PnL, {0} <small>total and per strategy row; drawdown of the total below</small></h2>"#,
            escape(currency)
        );
        legend(out, &items);
        chart::render(
            out,
            &Chart {
                width: WIDTH,
                height: 380.0,
                x_range,
                y_title: &format!("net PnL, {currency}"),
                lines: &lines,
                markers: &[],
                area: false,
                include_zero: true,
            },
        );
        chart::render(
            out,
            &Chart {
                width: WIDTH,
                height: 150.0,
                x_range,
                y_title: "drawdown",
                lines: &[Line {
                    name: format!("drawdown of the total, {currency}"),
                    colour: "#d62728".into(),
                    width: 1.4,
                    points: chart::thin(&drawdown, MAX_POINTS),
                }],
                markers: &[],
                area: true,
                include_zero: true,
            },
        );
        out.push_str("</section>");
    }
}

/// The instruments the report rows trade, first appearance first.
fn traded(analytics: &Analytics) -> Vec<InstrumentId> {
    let mut seen = Vec::new();
    for row in &analytics.rows {
        if !seen.contains(&row.instrument) {
            seen.push(row.instrument);
        }
    }
    seen
}

/// The instrument picker and one panel per traded instrument (the first shown; the page's
/// script shows the picked one).
pub(super) fn instrument_section(
    out: &mut String,
    layout: &EngineLayout,
    outcome: &RunOutcome,
    analytics: &Analytics,
) {
    let instruments = traded(analytics);
    out.push_str(r#"<section id="instruments"><h2>Fills and positions on "#);
    out.push_str(r#"<select id="instrument" aria-label="instrument">"#);
    for (i, &id) in instruments.iter().enumerate() {
        let _ = write!(
            out,
            r#"<option value="{i}">{}</option>"#,
            escape(&layout.instruments.spec(id).symbol)
        );
    }
    out.push_str(
        r#"</select> <small>▲ buy, ▼ sell, in the colour of the strategy row; hover a marker for its fill</small></h2>"#,
    );
    if instruments.is_empty() {
        out.push_str("<p>No strategy trades an instrument.</p>");
    }
    for (i, &id) in instruments.iter().enumerate() {
        let hidden = if i == 0 { "" } else { " hidden" };
        let _ = write!(out, r#"<div class="inst" data-instrument="{i}"{hidden}>"#);
        instrument_panel(out, layout, outcome, analytics, id);
        out.push_str("</div>");
    }
    out.push_str("</section>");
}

fn instrument_panel(
    out: &mut String,
    layout: &EngineLayout,
    outcome: &RunOutcome,
    analytics: &Analytics,
    id: InstrumentId,
) {
    let spec = layout.instruments.spec(id);
    let price_unit = 2.0 * 10f64.powi(i32::from(spec.price_precision));
    let qty_unit = 10f64.powi(i32::from(spec.qty_precision));
    let x_range = x_range(analytics);
    let rows: Vec<(usize, &RowAnalytics)> = analytics
        .rows
        .iter()
        .enumerate()
        .filter(|(_, row)| row.instrument == id)
        .collect();
    let fills: Vec<_> = outcome
        .fills
        .iter()
        .filter(|f| f.instrument == id)
        .collect();
    let stride = fills.len().div_ceil(MAX_MARKERS).max(1);
    let markers: Vec<Marker> = fills
        .iter()
        .step_by(stride)
        .map(|f| {
            let r = rows
                .iter()
                .find(|(_, row)| row.book == f.book)
                .map(|(r, _)| *r);
            let side = match f.side {
                Side::Buy => "BUY",
                Side::Sell => "SELL",
            };
            Marker {
                x: secs(f.ts),
                y: f.price.0 as f64 / (price_unit / 2.0),
                up: f.side == Side::Buy,
                colour: r.map_or_else(|| "#9ca3af".to_owned(), row_colour),
                title: format!(
                    "{} {side} {} @ {} ({})",
                    super::super::csv::iso_time(f.ts),
                    f.qty.display(spec.qty_precision),
                    f.price.display(spec.price_precision),
                    layout.book_name(f.book)
                ),
            }
        })
        .collect();
    let mut items = vec![(format!("{} mark price", spec.symbol), "#374151".to_owned())];
    let mut positions = Vec::new();
    for (k, &(r, row)) in rows.iter().enumerate() {
        let mut position = 0i64;
        let mut points = vec![(x_range.0, 0.0)];
        for f in fills.iter().filter(|f| f.book == row.book) {
            let t = secs(f.ts);
            points.push((t, position as f64 / qty_unit));
            position = position.saturating_add(f.side.sign() * f.qty.0);
            points.push((t, position as f64 / qty_unit));
        }
        points.push((x_range.1, position as f64 / qty_unit));
        items.push((row_name(layout, row), row_colour(r)));
        positions.push(Line {
            name: format!("position of {}", row_name(layout, row)),
            colour: row_colour(r),
            // Later rows thinner, so rows holding the same position show both colours.
            width: (3.2 - 1.0 * k as f64).max(1.2),
            points: chart::thin(&points, MAX_POINTS),
        });
    }
    legend(out, &items);
    if stride > 1 {
        let _ = write!(
            out,
            "<p class=\"note\">{} fills: every {stride}th drawn.</p>",
            fills.len()
        );
    } else if fills.is_empty() {
        out.push_str(r#"<p class="note">No fills on this instrument.</p>"#);
    }
    let price = Line {
        name: format!("{} mark price", spec.symbol),
        colour: "#374151".into(),
        width: 1.2,
        points: chart::thin(
            &column(analytics, analytics.price_column(id), price_unit, true),
            MAX_POINTS,
        ),
    };
    chart::render(
        out,
        &Chart {
            width: WIDTH,
            height: 340.0,
            x_range,
            y_title: &format!("price ({})", spec.symbol),
            lines: std::slice::from_ref(&price),
            markers: &markers,
            area: false,
            include_zero: false,
        },
    );
    chart::render(
        out,
        &Chart {
            width: WIDTH,
            height: 170.0,
            x_range,
            y_title: "position (units)",
            lines: &positions,
            markers: &[],
            area: false,
            include_zero: true,
        },
    );
}
