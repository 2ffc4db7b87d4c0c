//! Inline SVG charts for `report.html`: a time axis in UTC with ticks on round times, a value
//! axis with ticks on round numbers, polylines, an optional area down to zero (drawdown) and
//! triangle markers (fills). Pure string building: the caller picks the data, this module
//! only scales and draws it, so every chart of the page looks the same. Floats are for
//! drawing only. Lines longer than `MAX_POINTS` are thinned by [`thin`], which keeps each
//! bucket's lowest and highest point so peaks and drawdowns stay visible.

use std::fmt::Write;

use super::escape;

/// Most points drawn per line.
pub(super) const MAX_POINTS: usize = 2_000;

/// Plot-area margins in SVG units: room for the value labels on the left and the time
/// labels below.
const LEFT: f64 = 100.0;
const RIGHT: f64 = 18.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 38.0;
/// Plot height per value tick, SVG units: labels stay apart in short panels.
const TICK_SPACING: f64 = 48.0;

/// A named line in `colour` (a CSS colour).
pub(super) struct Line {
    pub name: String,
    pub colour: String,
    /// Stroke width, SVG units.
    pub width: f64,
    /// `(seconds since the epoch, value)`, in time order.
    pub points: Vec<(f64, f64)>,
}

/// A fill: a triangle pointing up (buy) or down (sell) at its price.
pub(super) struct Marker {
    /// Seconds since the epoch.
    pub x: f64,
    pub y: f64,
    pub up: bool,
    pub colour: String,
    /// Hover text (plain text; escaped here).
    pub title: String,
}

/// One chart: size, time range, lines and markers.
pub(super) struct Chart<'a> {
    pub width: f64,
    pub height: f64,
    /// Seconds since the epoch; `x1 > x0`.
    pub x_range: (f64, f64),
    /// The value axis title (plain text).
    pub y_title: &'a str,
    pub lines: &'a [Line],
    pub markers: &'a [Marker],
    /// Shade the area between the first line and zero (a drawdown).
    pub area: bool,
    /// Keep zero inside the value range (PnL and drawdown; not prices).
    pub include_zero: bool,
}

/// Keeps at most `max` points: the first and last, and per bucket of consecutive points the
/// lowest and highest (in time order). Shorter lines come back unchanged.
pub(super) fn thin(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max || max < 4 {
        return points.to_vec();
    }
    let inner = &points[1..points.len() - 1];
    let buckets = (max - 2) / 2;
    let size = inner.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(max);
    out.push(points[0]);
    for bucket in inner.chunks(size) {
        let (mut lo, mut hi) = (0, 0);
        for (i, p) in bucket.iter().enumerate() {
            if p.1 < bucket[lo].1 {
                lo = i;
            }
            if p.1 > bucket[hi].1 {
                hi = i;
            }
        }
        out.push(bucket[lo.min(hi)]);
        if lo != hi {
            out.push(bucket[lo.max(hi)]);
        }
    }
    out.push(points[points.len() - 1]);
    out
}

/// A round step (1, 2 or 5 × 10^k) that cuts `range` into about `parts` pieces.
fn nice_step(range: f64, parts: f64) -> f64 {
    let raw = (range / parts).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction < 1.5 {
        1.0
    } else if fraction < 3.0 {
        2.0
    } else if fraction < 7.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Value ticks, about one per `TICK_SPACING` units of plot height, and the decimals their
/// labels need.
fn value_ticks(lo: f64, hi: f64, height: f64) -> (Vec<f64>, usize) {
    let step = nice_step(hi - lo, (height / TICK_SPACING).clamp(2.0, 8.0));
    let decimals = (-step.log10().floor()).clamp(0.0, 18.0) as usize;
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    let ticks = (first..=last).map(|k| k as f64 * step).collect();
    (ticks, decimals)
}

/// Steps the time axis may use, seconds: round clock and calendar intervals.
const TIME_STEPS: [f64; 27] = [
    0.001, 0.01, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0,
    1800.0, 3600.0, 7200.0, 10800.0, 21600.0, 43200.0, 86400.0, 172800.0, 604800.0, 2592000.0,
    31557600.0,
];

/// Time ticks on multiples of a round step (UTC), at most about eight, and the step.
fn time_ticks(x0: f64, x1: f64) -> (Vec<f64>, f64) {
    let span = x1 - x0;
    let step = TIME_STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 8.0)
        .unwrap_or(span / 8.0);
    let first = (x0 / step).ceil() as i64;
    let last = (x1 / step).floor() as i64;
    ((first..=last).map(|k| k as f64 * step).collect(), step)
}

/// A UTC time label as fine as the tick step needs.
pub(super) fn time_label(secs: f64, step: f64) -> String {
    let nanos = (secs * 1e9).round() as i128;
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
        return String::new();
    };
    let (m, d, h, min, s) = (
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    );
    if step >= 86_400.0 {
        format!("{}-{m:02}-{d:02}", t.year())
    } else if step >= 60.0 {
        format!("{m:02}-{d:02} {h:02}:{min:02}")
    } else if step >= 1.0 {
        format!("{h:02}:{min:02}:{s:02}")
    } else {
        format!("{h:02}:{min:02}:{s:02}.{:03}", t.millisecond())
    }
}

/// `value` with `decimals` decimals, without a minus sign on zero.
fn value_label(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    if text
        .trim_start_matches('-')
        .bytes()
        .all(|b| b == b'0' || b == b'.')
    {
        text.trim_start_matches('-').to_owned()
    } else {
        text
    }
}

/// The value range shown: every point and marker, zero if asked, 5% padding.
fn value_range(chart: &Chart<'_>) -> (f64, f64) {
    let values = chart
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .chain(chart.markers.iter().map(|m| m.y))
        .filter(|v| v.is_finite());
    let start = if chart.include_zero {
        (0.0, 0.0)
    } else {
        (f64::INFINITY, f64::NEG_INFINITY)
    };
    let (mut lo, mut hi) = values.fold(start, |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo <= hi.abs().max(lo.abs()) * 1e-12 {
        let pad = if hi == 0.0 { 1.0 } else { hi.abs() * 0.01 };
        (lo, hi) = (lo - pad, hi + pad);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

/// Appends `chart` as an inline `<svg>` (scaled to the page width by its `viewBox`).
pub(super) fn render(out: &mut String, chart: &Chart<'_>) {
    let (w, h) = (chart.width, chart.height);
    let (x0, x1) = chart.x_range;
    let (y0, y1) = value_range(chart);
    let (pw, ph) = (w - LEFT - RIGHT, h - TOP - BOTTOM);
    let px = |x: f64| LEFT + (x.clamp(x0, x1) - x0) / (x1 - x0) * pw;
    let py = |y: f64| TOP + (y1 - y.clamp(y0, y1)) / (y1 - y0) * ph;
    let _ = write!(
        out,
        r##"<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{}">"##,
        escape(chart.y_title)
    );
    let _ = write!(
        out,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="#ffffff" stroke="#9ca3af"/>"##
    );
    let (ticks, decimals) = value_ticks(y0, y1, ph);
    for v in ticks {
        let y = py(v);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e7eb"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            LEFT + pw,
            LEFT - 6.0,
            y + 4.0,
            value_label(v, decimals)
        );
    }
    let (ticks, step) = time_ticks(x0, x1);
    for t in ticks {
        let x = px(t);
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{:.1}" stroke="#e5e7eb"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"##,
            TOP + ph,
            TOP + ph + 16.0,
            time_label(t, step)
        );
    }
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">time (UTC{})</text>"##,
        LEFT + pw / 2.0,
        h - 4.0,
        day_note(x0, x1, step)
    );
    let _ = write!(
        out,
        r##"<text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle" class="axis">{}</text>"##,
        TOP + ph / 2.0,
        escape(chart.y_title)
    );
    if y0 < 0.0 && y1 > 0.0 {
        let y = py(0.0);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#6b7280" stroke-dasharray="4 3"/>"##,
            LEFT + pw
        );
    }
    if chart.area
        && let Some(first) = chart.lines.first()
        && let (Some(a), Some(b)) = (first.points.first(), first.points.last())
    {
        let zero = py(0.0);
        let _ = write!(out, r#"<path d="M{:.1} {zero:.1}"#, px(a.0));
        for &(x, y) in &first.points {
            let _ = write!(out, " L{:.1} {:.1}", px(x), py(y));
        }
        let _ = write!(
            out,
            r#" L{:.1} {zero:.1} Z" fill="{}" fill-opacity="0.25" stroke="none"/>"#,
            px(b.0),
            escape(&first.colour)
        );
    }
    for line in chart.lines {
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{}" stroke-width="{}" stroke-linejoin="round" points=""#,
            escape(&line.colour),
            line.width
        );
        for (i, &(x, y)) in line.points.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(out, "{sep}{:.1},{:.1}", px(x), py(y));
        }
        let _ = write!(out, r#""><title>{}</title></polyline>"#, escape(&line.name));
    }
    for m in chart.markers {
        let (x, y) = (px(m.x), py(m.y));
        // The tip touches the price: a buy points up from below, a sell down from above.
        let shape = if m.up {
            format!("M{x:.1} {y:.1} l5 9 h-10 z")
        } else {
            format!("M{x:.1} {y:.1} l5 -9 h-10 z")
        };
        let _ = write!(
            out,
            r##"<path d="{shape}" fill="{}" stroke="#111827" stroke-width="0.8"><title>{}</title></path>"##,
            escape(&m.colour),
            escape(&m.title)
        );
    }
    out.push_str("</svg>");
}

/// `, 2024-08-08` when the labels show clock times and the whole range is one UTC day.
fn day_note(x0: f64, x1: f64, step: f64) -> String {
    if step >= 60.0 {
        return String::new();
    }
    let day = |secs: f64| time_label(secs.floor(), 86_400.0);
    let (a, b) = (day(x0), day(x1));
    if a == b {
        format!(", {a}")
    } else {
        format!(", {a} to {b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_ends_and_extremes() {
        let points: Vec<(f64, f64)> = (0..10_000)
            .map(|i| (i as f64, if i == 4321 { -50.0 } else { (i % 7) as f64 }))
            .collect();
        let thinned = thin(&points, MAX_POINTS);
        assert!(thinned.len() <= MAX_POINTS, "{}", thinned.len());
        assert_eq!(thinned.first(), points.first());
        assert_eq!(thinned.last(), points.last());
        assert!(thinned.contains(&(4321.0, -50.0)), "the trough survives");
        assert!(thinned.windows(2).all(|w| w[0].0 < w[1].0), "time order");
        let short = &points[..100];
        assert_eq!(thin(short, MAX_POINTS), short.to_vec());
    }

    #[test]
    fn ticks_are_round() {
        struct Case {
            name: &'static str,
            lo: f64,
            hi: f64,
            first: f64,
            decimals: usize,
        }
        for c in [
            Case {
                name: "unit range",
                lo: -0.13,
                hi: 2.4,
                first: 0.0,
                decimals: 1,
            },
            Case {
                name: "tiny BTC amounts",
                lo: 0.0,
                hi: 7.5e-7,
                first: 0.0,
                decimals: 7,
            },
            Case {
                name: "prices",
                lo: 61_012.0,
                hi: 61_388.0,
                first: 61_050.0,
                decimals: 0,
            },
        ] {
            let (ticks, decimals) = value_ticks(c.lo, c.hi, 300.0);
            assert!((3..=11).contains(&ticks.len()), "{}: {ticks:?}", c.name);
            assert!((ticks[0] - c.first).abs() < 1e-12, "{}: {ticks:?}", c.name);
            assert_eq!(decimals, c.decimals, "{}", c.name);
        }
        assert_eq!(value_label(-0.0000001, 2), "0.00");
    }

    #[test]
    fn time_ticks_fall_on_round_utc_times() {
        // 2024-08-08T23:54:14Z plus 55 s: ticks every 10 s, labelled with the clock time.
        let x0 = 1_723_161_254.0;
        let (ticks, step) = time_ticks(x0, x0 + 55.0);
        assert_eq!(step, 10.0);
        assert_eq!(time_label(ticks[0], step), "23:54:20");
        assert_eq!(day_note(x0, x0 + 55.0, step), ", 2024-08-08");
        let (ticks, step) = time_ticks(x0, x0 + 30.0 * 86_400.0);
        assert_eq!(step, 604_800.0);
        assert!(ticks.len() <= 8);
        assert_eq!(time_label(0.0, 86_400.0), "1970-01-01");
    }
}
