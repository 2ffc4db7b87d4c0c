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
    /// Zerodha's Kite ticker WebSocket (`kite`).
    Kite,
}

/// What a Kite ticker subscription streams per instrument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TickerMode {
    /// Last price only.
    Ltp,
    /// Last trade, OHLC, volumes; no depth.
    Quote,
    /// Quote plus five levels of depth and the exchange timestamp.
    #[default]
    Full,
}

impl TickerMode {
    /// The mode's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            TickerMode::Ltp => "ltp",
            TickerMode::Quote => "quote",
            TickerMode::Full => "full",
        }
    }
}

/// `[feed] kind = "kite"`: the ticker connection. Credentials are the names of environment
/// variables, read at start, never stored in the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KiteFeedConfig {
    /// `wss://ws.kite.trade`, or an emulator's `ws://` URL.
    pub url: String,
    pub api_key_env: String,
    pub access_token_env: String,
    /// Kite's instruments dump (CSV); relative to the config file.
    pub instruments: PathBuf,
    pub mode: TickerMode,
    /// Every decoded packet, as a tick CSV (with `exchange_ts_ns`); relative to the config file.
    pub record: Option<PathBuf>,
}

/// What a replay feed does when its file ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AtEnd {
    /// Stay up (metrics, health) with no data until SIGINT/SIGTERM.
    #[default]
    Idle,
    /// Shut down gracefully as if signalled.
    Exit,
    /// Start the file(s) again, every timestamp shifted past the previous pass, so time
    /// keeps moving forward (soak tests, demos).
    Loop,
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
    /// Set when `kind = "kite"`.
    pub kite: Option<KiteFeedConfig>,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            kind: FeedKind::Replay,
            path: None,
            speed: 1.0,
            at_end: AtEnd::Idle,
            kite: None,
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

/// The Kite keys of `[feed]`: `url`, `api_key_env`, `access_token_env` and `instruments`
/// are required.
fn read_kite(feed: &mut Fields<'_, '_>) -> Option<KiteFeedConfig> {
    let url = feed.req_str("url").and_then(|(url, offset)| {
        if url.starts_with("ws://") || url.starts_with("wss://") {
            Some(url)
        } else {
            feed.invalid("url", offset, "expected a ws:// or wss:// URL");
            None
        }
    });
    let api_key_env = feed.req_env_name("api_key_env").map(|(name, _)| name);
    let access_token_env = feed.req_env_name("access_token_env").map(|(name, _)| name);
    let instruments = feed.req_str("instruments").map(|(p, _)| PathBuf::from(p));
    let mode = match feed.opt_choice("mode", &["ltp", "quote", "full"]) {
        Some((mode, _)) if mode == "ltp" => TickerMode::Ltp,
        Some((mode, _)) if mode == "quote" => TickerMode::Quote,
        _ => TickerMode::Full,
    };
    let record = feed.opt_str("record").map(|(p, _)| PathBuf::from(p));
    Some(KiteFeedConfig {
        url: url?,
        api_key_env: api_key_env?,
        access_token_env: access_token_env?,
        instruments: instruments?,
        mode,
        record,
    })
}

/// Reads `[feed]`.
pub(crate) fn read_feed(root: &mut Fields<'_, '_>, into: &mut FeedConfig) {
    let Some((table, offset)) = root.opt_table("feed") else {
        return;
    };
    let mut feed = root.sub(table, "feed", offset);
    if let Some((kind, _)) = feed.opt_choice("kind", &["replay", "kite"]) {
        into.kind = if kind == "kite" {
            FeedKind::Kite
        } else {
            FeedKind::Replay
        };
    }
    if into.kind == FeedKind::Kite {
        into.kite = read_kite(&mut feed);
    }
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
    if let Some((at_end, _)) = feed.opt_choice("at_end", &["idle", "exit", "loop"]) {
        into.at_end = match at_end.as_str() {
            "exit" => AtEnd::Exit,
            "loop" => AtEnd::Loop,
            _ => AtEnd::Idle,
        };
    }
    feed.finish();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EngineConfig;
    use std::path::Path;

    #[test]
    fn a_kite_feed_names_its_credentials_and_never_echoes_a_pasted_secret() {
        let text = "[venue.paper]\n[feed]\nkind = \"kite\"\nurl = \"ws://127.0.0.1:9\"\napi_key_env = \"KITE_API_KEY\"\naccess_token_env = \"KITE_ACCESS_TOKEN\"\ninstruments = \"i.csv\"\nmode = \"quote\"\nrecord = \"r.csv\"\n";
        let config = EngineConfig::parse(Path::new("e.toml"), text).unwrap();
        assert_eq!(config.feed.kind, FeedKind::Kite);
        let kite = config.feed.kite.unwrap();
        assert_eq!(kite.api_key_env, "KITE_API_KEY");
        assert_eq!(kite.mode, TickerMode::Quote);
        assert_eq!(kite.record, Some(PathBuf::from("r.csv")));

        let secret = "s3cr3t-token-value";
        let text = format!(
            "[venue.paper]\n[feed]\nkind = \"kite\"\nurl = \"https://x\"\napi_key_env = \"{secret}\"\ninstruments = \"i.csv\"\n"
        );
        let errors = EngineConfig::parse(Path::new("e.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(!errors.contains(secret), "{errors}");
        for expected in [
            "e.toml:4: field 'feed.url': expected a ws:// or wss:// URL",
            "e.toml:5: field 'feed.api_key_env': expected the name of an environment variable",
            "field 'feed.access_token_env': missing",
        ] {
            assert!(errors.contains(expected), "{expected} in {errors}");
        }
    }
}
