//! `pnl_snapshot.json`: what a live run holds at its end (positions and PnL per book, per
//! broker and per currency, exact decimals), the file an operator's tools read after a stop.
//! Written through a temporary file and a rename, so a reader never sees half of one.

use std::path::Path;

use serde::Serialize;

use super::indexmap_like::OrderedMap;
use super::{BrokerRow, StrategyRow, Summary, schema};

/// The snapshot; field order is the JSON order. Every field but `written_unix` comes from
/// the run's summary, so the two files always agree.
#[derive(Debug, Serialize)]
pub struct PnlSnapshot<'a> {
    /// `schema::PNL_SNAPSHOT_JSON`.
    pub schema_version: u32,
    /// When the snapshot was taken, s since the Unix epoch (wall clock).
    pub written_unix: f64,
    pub ticks: u64,
    /// Settlement currency → total equity.
    pub equity: &'a OrderedMap<String>,
    /// Settlement currency → largest drop of equity from a peak.
    pub max_drawdown: &'a OrderedMap<String>,
    pub brokers: &'a [BrokerRow],
    /// One row per book and instrument, as `summary.json`'s `strategies`.
    pub positions: &'a [StrategyRow],
}

impl<'a> PnlSnapshot<'a> {
    pub fn new(summary: &'a Summary, written_unix: f64) -> PnlSnapshot<'a> {
        PnlSnapshot {
            schema_version: schema::PNL_SNAPSHOT_JSON,
            written_unix,
            ticks: summary.ticks,
            equity: &summary.equity,
            max_drawdown: &summary.max_drawdown,
            brokers: &summary.brokers,
            positions: &summary.strategies,
        }
    }
}

/// Writes `<dir>/pnl_snapshot.json` from `summary`, stamped with the wall clock now.
///
/// # Errors
/// The temporary file cannot be written or renamed.
pub fn write_pnl_snapshot(dir: &Path, summary: &Summary) -> std::io::Result<()> {
    let snapshot = PnlSnapshot::new(summary, crate::clock::unix_now_secs());
    let text = serde_json::to_string_pretty(&snapshot).map_err(std::io::Error::other)?;
    let path = dir.join("pnl_snapshot.json");
    let tmp = dir.join("pnl_snapshot.json.tmp");
    std::fs::write(&tmp, text + "\n")?;
    std::fs::rename(tmp, path)
}
