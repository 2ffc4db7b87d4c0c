//! `equity.svg`: one panel per settlement currency (amounts in different currencies never
//! share an axis), the currency's total in black and each report row's net PnL in its own
//! colour, over a real UTC date axis. plotters' SVG backend: no fonts or native deps.
//! Floats are for drawing only; long series are thinned to at most `MAX_POINTS` per line.

use std::path::Path;

use plotters::prelude::*;

use super::ReportError;
use super::analytics::Analytics;
use crate::domain::{MONEY_SCALE, Nanos};
use crate::runtime::EngineLayout;

const MAX_POINTS: usize = 2_000;

/// A named series and its colour.
type Line = (String, Vec<(f64, f64)>, RGBColor);

/// One colour per report row, in row order (Tableau 10), shared with the HTML report.
pub(crate) const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// An axis label for `secs` since the epoch: the date, with the time when the run is short.
pub(crate) fn date_label(secs: f64, span_s: f64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs as i64) else {
        return String::new();
    };
    let (y, m, d) = (t.year(), u8::from(t.month()), t.day());
    if span_s > 3.0 * 86_400.0 {
        format!("{y}-{m:02}-{d:02}")
    } else {
        format!(
            "{m:02}-{d:02} {:02}:{:02}:{:02}",
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

/// Draws `equity.svg`.
///
/// # Errors
/// The file cannot be written.
pub fn equity_svg(
    path: &Path,
    layout: &EngineLayout,
    analytics: &Analytics,
) -> Result<(), ReportError> {
    let plot_error = |e: &dyn std::fmt::Display| ReportError::Plot {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let unit = 10f64.powi(i32::from(MONEY_SCALE));
    let step = analytics.times.len().div_ceil(MAX_POINTS).max(1);
    let picked: Vec<usize> = (0..analytics.times.len())
        .step_by(step)
        .chain(analytics.times.len().checked_sub(1))
        .collect();
    let x = |ts: Nanos| ts.0 as f64 / 1e9;
    let line = |column: usize| -> Vec<(f64, f64)> {
        picked
            .iter()
            .map(|&i| {
                (
                    x(analytics.times[i]),
                    analytics.values[i][column].0 as f64 / unit,
                )
            })
            .collect()
    };
    let (x0, x1) = match (analytics.times.first(), analytics.times.last()) {
        (Some(&a), Some(&b)) => (x(a), x(b).max(x(a) + 1.0)),
        _ => (0.0, 1.0),
    };
    let currencies = layout.instruments.currencies();
    let panels = analytics.totals.len().max(1);
    let root = SVGBackend::new(path, (1100, 360 * panels as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(&e))?;
    for (c, area) in root.split_evenly((panels, 1)).iter().enumerate() {
        let mut lines: Vec<Line> = Vec::new();
        if c < analytics.totals.len() {
            lines.push(("total".into(), line(c), BLACK));
        }
        for (r, row) in analytics.rows.iter().enumerate() {
            if row.currency.index() == c {
                let name = format!(
                    "{} {}",
                    layout.strategy_of(row.book).id,
                    layout.instruments.spec(row.instrument).symbol
                );
                let (red, green, blue) = PALETTE[r % PALETTE.len()];
                lines.push((name, line(row.column), RGBColor(red, green, blue)));
            }
        }
        let (mut lo, mut hi) = lines
            .iter()
            .flat_map(|(_, points, _)| points.iter().map(|p| p.1))
            .fold((0.0f64, 0.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
        if (hi - lo).abs() < 1e-12 {
            lo -= 1.0;
            hi += 1.0;
        }
        let pad = (hi - lo) * 0.05;
        let currency = currencies.get(c).map_or("", String::as_str);
        let mut chart = ChartBuilder::on(area)
            .caption(format!("Net PnL, {currency}"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(90)
            .build_cartesian_2d(x0..x1, (lo - pad)..(hi + pad))
            .map_err(|e| plot_error(&e))?;
        let span = x1 - x0;
        chart
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&|v| date_label(*v, span))
            .x_desc("time (UTC)")
            .y_desc(currency)
            .draw()
            .map_err(|e| plot_error(&e))?;
        for (name, points, colour) in lines {
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                .map_err(|e| plot_error(&e))?
                .label(name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| plot_error(&e))?;
    }
    root.present().map_err(|e| plot_error(&e))
}
