//! The feed's sections of `engine.toml`: `[data]` (bad-row policy, instruments file) and
//! `[feed]` (the live runtime's market data). `[instruments.SYMBOL]` is read by
//! `config::instruments`.

use std::path::PathBuf;

use crate::config::fields::Fields;

/// What the feed does with a bad row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BadRowPolicy {
    /// Stop the run with an error naming the file and line.
    #[default]
    Reject,
    /// Count it, keep the first few in the report, continue.
    Skip,
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

/// Reads `[data]`: the bad-row policy and the instruments file's path.
pub(crate) fn read_data(
    root: &mut Fields<'_, '_>,
    into: &mut BadRowPolicy,
    instruments_file: &mut Option<PathBuf>,
) {
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
    if let Some((path, _)) = data.opt_str("instruments_file") {
        *instruments_file = Some(PathBuf::from(path));
    }
    data.finish();
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
