//! A sweep's files in `--out`: `sweep.csv` and `sweep.json` (one row per variant, in table
//! order: `variant`, one column per swept parameter, `fills`, `net_pnl`, `currency`, then the
//! statistics keys; `sweep.json` opens with its `schema_version` and the CSV's, see
//! `docs/schemas/sweep.schema.json` and `sweep.csv.json`), `sweep.html` (the table, and a
//! heatmap of the sort metric when exactly two parameters are swept; self-contained) and
//! `variants/<id>.toml` (each variant's strategy file, to rerun one as a standalone
//! backtest).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use super::{STAT_KEYS, Sweep, VariantRow};
use crate::report::schema;

/// A table cell: money and numbers as written, missing values empty.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn row_json(sweep: &Sweep, row: &VariantRow) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("variant".into(), row.variant.id.clone().into());
    for (axis, value) in sweep.axes.iter().zip(&row.variant.values) {
        map.insert(axis.clone(), value.clone().into());
    }
    map.insert("fills".into(), row.fills.into());
    map.insert(
        "net_pnl".into(),
        row.net_pnl.clone().map_or(Value::Null, Value::from),
    );
    map.insert(
        "currency".into(),
        row.currency.clone().map_or(Value::Null, Value::from),
    );
    for key in STAT_KEYS {
        map.insert(
            key.into(),
            row.stats.get(key).cloned().unwrap_or(Value::Null),
        );
    }
    map
}

/// CSV quoting for the few cells that may need it (parameter values).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Writes the sweep's files into `dir` (created if missing).
///
/// # Errors
/// A file cannot be written.
pub fn write_outputs(dir: &Path, sweep: &Sweep) -> Result<()> {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    std::fs::create_dir_all(dir.join("variants"))
        .with_context(|| format!("creating {}", dir.join("variants").display()))?;
    let rows: Vec<Map<String, Value>> = sweep.rows.iter().map(|r| row_json(sweep, r)).collect();
    let header: Vec<String> = rows
        .first()
        .map_or_else(Vec::new, |r| r.keys().cloned().collect());
    let mut csv = header
        .iter()
        .map(|h| csv_field(h))
        .collect::<Vec<_>>()
        .join(",");
    csv.push('\n');
    for row in &rows {
        let cells: Vec<String> = row.values().map(|v| csv_field(&cell(v))).collect();
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    write("sweep.csv", csv)?;
    let json = serde_json::json!({
        "schema_version": schema::SWEEP_JSON,
        // `sweep.csv` stays plain CSV; its version is named here.
        "schemas": { "sweep.csv": schema::SWEEP_CSV },
        "axes": sweep.axes,
        "sort": format!("{}:{}", sweep.sort.column, if sweep.sort.ascending { "asc" } else { "desc" }),
        "ticks": sweep.ticks,
        "variants": rows.len(),
        "jobs": sweep.jobs,
        "load_seconds": sweep.load_seconds,
        "run_seconds": sweep.run_seconds,
        "rows": rows,
    });
    write("sweep.json", serde_json::to_string_pretty(&json)? + "\n")?;
    write("sweep.html", html(sweep, &rows, &header))?;
    for (id, text) in &sweep.files {
        write(&format!("variants/{id}.toml"), text.clone())?;
    }
    Ok(())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The value a heatmap colours by: the sort column as a float.
fn metric(row: &Map<String, Value>, column: &str) -> Option<f64> {
    match row.get(column)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    }
}

/// Red (low) to green (high) through white.
fn colour(t: f64) -> String {
    let t = t.clamp(0.0, 1.0);
    let (r, g, b) = if t < 0.5 {
        let k = t * 2.0;
        (
            214.0 + (255.0 - 214.0) * k,
            39.0 + (255.0 - 39.0) * k,
            40.0 + (255.0 - 40.0) * k,
        )
    } else {
        let k = (t - 0.5) * 2.0;
        (
            255.0 - (255.0 - 44.0) * k,
            255.0 - (255.0 - 160.0) * k,
            255.0 - (255.0 - 44.0) * k,
        )
    };
    format!("rgb({},{},{})", r as u8, g as u8, b as u8)
}

fn html(sweep: &Sweep, rows: &[Map<String, Value>], header: &[String]) -> String {
    let column = if sweep.sort.column == "variant" {
        "net_pnl"
    } else {
        sweep.sort.column.as_str()
    };
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sweep</title><style>\
         body{{font-family:sans-serif;margin:16px}}table{{border-collapse:collapse;font-size:12px}}\
         td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}th{{background:#eee}}\
         .heat td{{min-width:70px;height:34px;text-align:center}}</style></head><body>\
         <h2>Sweep: {} variants over {} ticks</h2><p>sorted by {} ({}); {} jobs, run {:.2} s</p>",
        rows.len(),
        sweep.ticks,
        escape(&sweep.sort.column),
        if sweep.sort.ascending {
            "ascending"
        } else {
            "descending"
        },
        sweep.jobs,
        sweep.run_seconds
    );
    if sweep.axes.len() == 2 {
        let values = |a: usize| -> Vec<String> {
            let mut seen: Vec<String> = Vec::new();
            let mut ordered: Vec<&VariantRow> = sweep.rows.iter().collect();
            ordered.sort_by(|x, y| x.variant.id.cmp(&y.variant.id));
            for r in ordered {
                if !seen.contains(&r.variant.values[a]) {
                    seen.push(r.variant.values[a].clone());
                }
            }
            seen
        };
        let (ys, xs) = (values(0), values(1));
        let found: Vec<f64> = rows.iter().filter_map(|r| metric(r, column)).collect();
        let lo = found.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = found.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let _ = write!(
            page,
            "<h3>{} by {} (rows) and {} (columns)</h3><table class=\"heat\"><tr><th>{} \\ {}</th>",
            escape(column),
            escape(&sweep.axes[0]),
            escape(&sweep.axes[1]),
            escape(&sweep.axes[0]),
            escape(&sweep.axes[1])
        );
        for x in &xs {
            let _ = write!(page, "<th>{}</th>", escape(x));
        }
        page.push_str("</tr>");
        for y in &ys {
            let _ = write!(page, "<tr><th>{}</th>", escape(y));
            for x in &xs {
                let row = rows.iter().find(|r| {
                    r.get(&sweep.axes[0]).and_then(Value::as_str) == Some(y.as_str())
                        && r.get(&sweep.axes[1]).and_then(Value::as_str) == Some(x.as_str())
                });
                match row.and_then(|r| metric(r, column)) {
                    Some(v) => {
                        let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                        let _ = write!(
                            page,
                            "<td style=\"background:{}\">{}</td>",
                            colour(t),
                            escape(&format!("{v:.4}"))
                        );
                    }
                    None => page.push_str("<td></td>"),
                }
            }
            page.push_str("</tr>");
        }
        page.push_str("</table>");
    }
    page.push_str("<h3>Variants</h3><table><tr>");
    for h in header {
        let _ = write!(page, "<th>{}</th>", escape(h));
    }
    page.push_str("</tr>");
    for row in rows {
        page.push_str("<tr>");
        for v in row.values() {
            let _ = write!(page, "<td>{}</td>", escape(&cell(v)));
        }
        page.push_str("</tr>");
    }
    page.push_str("</table></body></html>\n");
    page
}
