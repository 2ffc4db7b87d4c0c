//! The equity curve as an SVG line chart (plotters' SVG backend: no fonts or native deps).

use std::path::Path;

use plotters::prelude::*;

use super::ReportError;
use crate::domain::{MONEY_SCALE, Money, Nanos};

/// Draws equity against hours since the first point. Floats are for drawing only.
///
/// # Errors
/// The file cannot be written.
pub fn equity_svg(path: &Path, curve: &[(Nanos, Money)]) -> Result<(), ReportError> {
    let plot_error = |e: &dyn std::fmt::Display| ReportError::Plot {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let t0 = curve.first().map_or(0, |(t, _)| t.0);
    let unit = 10f64.powi(i32::from(MONEY_SCALE));
    let points: Vec<(f64, f64)> = curve
        .iter()
        .map(|(t, m)| ((t.0 - t0) as f64 / 3.6e12, m.0 as f64 / unit))
        .collect();
    let x_max = points.iter().map(|p| p.0).fold(0.0f64, f64::max).max(1e-9);
    let (mut y_min, mut y_max) = points
        .iter()
        .fold((0.0f64, 0.0f64), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    if (y_max - y_min).abs() < 1e-12 {
        y_min -= 1.0;
        y_max += 1.0;
    }
    let root = SVGBackend::new(path, (960, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Equity (quote currency)", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..x_max, y_min..y_max)
        .map_err(|e| plot_error(&e))?;
    chart
        .configure_mesh()
        .x_desc("hours since start")
        .y_desc("equity")
        .draw()
        .map_err(|e| plot_error(&e))?;
    chart
        .draw_series(LineSeries::new(points, &BLUE))
        .map_err(|e| plot_error(&e))?;
    root.present().map_err(|e| plot_error(&e))
}
