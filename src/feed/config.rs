//! The feed's sections of `engine.toml`: `[data]` (bad-row policy), `[instruments.SYMBOL]`
//! (precisions fixed by config instead of inferred from the data) and `[feed]` (the live
//! runtime's market data).

use std::path::PathBuf;

use crate::config::fields::Fields;
use crate::domain::fixed::MAX_PRECISION;

/// What the feed does with a bad row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BadRowPolicy {
    /// Stop the run with an error naming the file and line.
    #[default]
    Reject,
    /// Count it, keep the first few in the report, continue.
    Skip,
}

/// Precision set by config instead of inferred from the data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentOverride {
    pub symbol: String,
    pub price_precision: u8,
    pub qty_precision: u8,
}

/// Where the live runtime's ticks come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FeedKind {
    /// A tick file replayed in event-time order, paced against the wall clock.
    #[default]
    Replay,
}

/// What a replay feed does when its file ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AtEnd {
    /// Stay up (metrics, health) with no data until SIGINT/SIGTERM.
    #[default]
    Idle,
    /// Shut down gracefully as if signalled.
    Exit,
}

/// `[feed]`: the live runtime's market data.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedConfig {
    pub kind: FeedKind,
    /// Tick file (CSV or binary); relative paths resolve against the config file's folder.
    pub path: Option<PathBuf>,
    /// Replay pace: event time runs `speed` times faster than wall time; 0 = unpaced.
    pub speed: f64,
    pub at_end: AtEnd,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            kind: FeedKind::Replay,
            path: None,
            speed: 1.0,
            at_end: AtEnd::Idle,
        }
    }
}

/// Reads `[data]`.
pub(crate) fn read_data(root: &mut Fields<'_, '_>, into: &mut BadRowPolicy) {
    let Some((table, offset)) = root.opt_table("data") else {
        return;
    };
    let mut data = root.sub(table, "data", offset);
    if let Some((policy, _)) = data.opt_choice("bad_rows", &["reject", "skip"]) {
        *into = if policy == "skip" {
            BadRowPolicy::Skip
        } else {
            BadRowPolicy::Reject
        };
    }
    data.finish();
}

/// Reads `[instruments.SYMBOL]` tables, in file order.
pub(crate) fn read_instruments(root: &mut Fields<'_, '_>, into: &mut Vec<InstrumentOverride>) {
    let Some((table, offset)) = root.opt_table("instruments") else {
        return;
    };
    let mut instruments = root.sub(table, "instruments", offset);
    for (symbol, _) in table.iter() {
        let symbol = symbol.get_ref().as_ref();
        let Some((inner, inner_offset)) = instruments.opt_table(symbol) else {
            continue;
        };
        let mut spec = instruments.sub(inner, symbol, inner_offset);
        let max = i64::from(MAX_PRECISION);
        let price = spec.req_int("price_precision", 0, max);
        let qty = spec.req_int("qty_precision", 0, max);
        spec.finish();
        if let (Some(price), Some(qty)) = (price, qty) {
            into.push(InstrumentOverride {
                symbol: symbol.to_owned(),
                price_precision: price as u8,
                qty_precision: qty as u8,
            });
        }
    }
    instruments.finish();
}

/// Reads `[feed]`.
pub(crate) fn read_feed(root: &mut Fields<'_, '_>, into: &mut FeedConfig) {
    let Some((table, offset)) = root.opt_table("feed") else {
        return;
    };
    let mut feed = root.sub(table, "feed", offset);
    let _ = feed.opt_choice("kind", &["replay"]);
    if let Some((path, _)) = feed.opt_str("path") {
        into.path = Some(PathBuf::from(path));
    }
    if let Some((mantissa, decimals, offset)) = feed.opt_non_negative_decimal("speed") {
        let speed = mantissa as f64 / 10f64.powi(i32::from(decimals));
        if speed != 0.0 && !(1e-6..=1e6).contains(&speed) {
            feed.invalid(
                "speed",
                offset,
                format!("expected 0 (unpaced) or 0.000001 to 1000000, found {speed}"),
            );
        } else {
            into.speed = speed;
        }
    }
    if let Some((at_end, _)) = feed.opt_choice("at_end", &["idle", "exit"]) {
        into.at_end = if at_end == "exit" {
            AtEnd::Exit
        } else {
            AtEnd::Idle
        };
    }
    feed.finish();
}
