//! Log channels end to end: events written through the public subscriber land in the
//! right `<dir>/<channel>.log` files, in the configured format, once the guard is dropped.

use std::fs;
use std::path::Path;

use alpha_panda::config::{LogFormat, LoggingConfig};
use alpha_panda::ops::logging::{self, CHANNELS, LoggingError};
use serde_json::Value;

fn config(dir: &Path, format: LogFormat) -> LoggingConfig {
    LoggingConfig {
        dir: dir.to_path_buf(),
        format,
        console: false,
        level: "info".into(),
        console_level: "warn".into(),
        run_id: None,
    }
}

fn read(dir: &Path, channel: &str) -> String {
    let path = dir.join(format!("{channel}.log"));
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Lines of a JSON channel file, each parsed.
fn json_lines(dir: &Path, channel: &str) -> Vec<Value> {
    read(dir, channel)
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{channel}.log: not JSON ({e}): {line}"))
        })
        .collect()
}

fn messages(lines: &[Value]) -> Vec<&str> {
    lines
        .iter()
        .map(|l| l["message"].as_str().unwrap_or(""))
        .collect()
}

/// One INFO event per channel whose message names the channel, plus the extras the
/// assertions need.
fn write_events() {
    tracing::info!(target: "trading", "hello trading");
    tracing::info!(target: "market_data", "hello market_data");
    tracing::info!(target: "risk", "hello risk");
    tracing::info!(target: "audit", correlation = 42_u64, order_id = "ORD-7", "hello audit");
    tracing::info!(target: "performance", "hello performance");
    tracing::info!(target: "error", "hello error");
    tracing::info!(target: "app", "hello app");
    tracing::info!(target: "ort::session", "from another crate");
    tracing::error!(target: "trading", "order rejected by venue");
    tracing::debug!(target: "trading", "below the level");
}

#[test]
fn json_run_routes_every_channel_to_its_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    let (subscriber, guard) = logging::subscriber(&config(&dir, LogFormat::Json)).unwrap();
    tracing::subscriber::with_default(subscriber, write_events);
    assert_eq!(guard.dropped_lines(), 0);
    drop(guard);

    for channel in CHANNELS {
        let text = read(&dir, channel);
        assert!(!text.trim().is_empty(), "{channel}.log is empty");
        let lines = json_lines(&dir, channel);
        let greeting = format!("hello {channel}");
        assert!(
            messages(&lines).contains(&greeting.as_str()),
            "{channel}.log lacks {greeting:?}: {text}"
        );
        // Only the channel's own greeting: no other channel's INFO event leaked in.
        for other in CHANNELS.iter().filter(|c| **c != channel) {
            let foreign = format!("hello {other}");
            assert!(
                !messages(&lines).contains(&foreign.as_str()),
                "{channel}.log holds {foreign:?}"
            );
        }
    }

    // The audit line is flat JSON carrying its fields and target.
    let audit = json_lines(&dir, "audit");
    assert_eq!(audit.len(), 1, "{audit:?}");
    let line = &audit[0];
    assert_eq!(line["target"], "audit", "{line}");
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["correlation"], 42, "{line}");
    assert_eq!(line["order_id"], "ORD-7", "{line}");
    assert_eq!(line["message"], "hello audit", "{line}");
    assert!(line["timestamp"].is_string(), "{line}");

    // A target that is not a channel lands in app.log, and only there.
    let app = json_lines(&dir, "app");
    let foreign: Vec<_> = app
        .iter()
        .filter(|l| l["target"] == "ort::session")
        .collect();
    assert_eq!(foreign.len(), 1, "app.log: {app:?}");
    assert_eq!(foreign[0]["message"], "from another crate");
    for channel in CHANNELS.iter().filter(|c| **c != "app") {
        assert!(
            !read(&dir, channel).contains("from another crate"),
            "{channel}.log holds the ort event"
        );
    }

    // An ERROR event on `trading` is in trading.log and in error.log.
    for channel in ["trading", "error"] {
        let hits: Vec<_> = json_lines(&dir, channel)
            .into_iter()
            .filter(|l| l["message"] == "order rejected by venue")
            .collect();
        assert_eq!(hits.len(), 1, "{channel}.log: {hits:?}");
        assert_eq!(hits[0]["level"], "ERROR");
        assert_eq!(hits[0]["target"], "trading");
    }
    // ...but not anywhere else.
    for channel in CHANNELS
        .iter()
        .filter(|c| !["trading", "error"].contains(c))
    {
        assert!(!read(&dir, channel).contains("order rejected by venue"));
    }

    // Below the configured level: written nowhere.
    for channel in CHANNELS {
        assert!(
            !read(&dir, channel).contains("below the level"),
            "{channel}.log"
        );
    }
}

#[test]
fn text_run_writes_text_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    let (subscriber, guard) = logging::subscriber(&config(&dir, LogFormat::Text)).unwrap();
    tracing::subscriber::with_default(subscriber, write_events);
    drop(guard);

    for channel in CHANNELS {
        let text = read(&dir, channel);
        assert!(!text.trim().is_empty(), "{channel}.log is empty");
        for line in text.lines() {
            assert!(
                serde_json::from_str::<Value>(line).is_err(),
                "{channel}.log has a JSON line in text mode: {line}"
            );
            assert!(
                !line.contains('\u{1b}'),
                "ANSI escape in {channel}.log: {line:?}"
            );
        }
    }
    let audit = read(&dir, "audit");
    let line = audit
        .lines()
        .find(|l| l.contains("hello audit"))
        .unwrap_or_else(|| panic!("audit.log: {audit}"));
    assert!(line.contains(" INFO "), "{line}");
    assert!(line.contains("audit:"), "{line}");
    assert!(line.contains("correlation=42"), "{line}");
    assert!(line.contains("order_id=\"ORD-7\""), "{line}");
    let error = read(&dir, "error");
    assert!(
        error
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("trading: order rejected by venue")),
        "{error}"
    );
    assert!(read(&dir, "app").contains("ort::session: from another crate"));
}

#[test]
fn second_run_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    for run in ["first", "second"] {
        let (subscriber, guard) = logging::subscriber(&config(&dir, LogFormat::Json)).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "audit", run, "run started");
        });
        drop(guard);
    }
    let runs: Vec<_> = json_lines(&dir, "audit")
        .into_iter()
        .map(|l| l["run"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(runs, ["first", "second"]);
}

#[test]
fn bad_level_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = config(&tmp.path().join("logs"), LogFormat::Json);
    config.level = "loud".into();
    let err = match logging::subscriber(&config) {
        Err(e) => e,
        Ok(_) => panic!("level 'loud' accepted"),
    };
    assert!(matches!(err, LoggingError::Level { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("logging.level 'loud': "),
        "{err}"
    );
}

/// The only test in this binary that touches the global subscriber; the others use
/// scoped ones, which take precedence on their threads.
#[test]
fn init_installs_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("global");
    let guard = logging::init(&config(&dir, LogFormat::Json)).unwrap();
    let again = logging::init(&config(&tmp.path().join("other"), LogFormat::Json));
    assert!(matches!(again, Err(LoggingError::AlreadySet)), "{again:?}");
    // Logged from a fresh thread, which has no scoped subscriber: only the global one.
    std::thread::spawn(|| {
        tracing::info!(target: "risk", limit = 3, "global risk event");
        // A crate logging through `log` (as tiny_http does) lands in `app`.
        log::warn!(target: "tiny_http", "bridged from the log crate");
    })
    .join()
    .unwrap();
    drop(guard);
    let app = json_lines(&dir, "app");
    assert!(
        app.iter()
            .any(|l| l["message"] == "bridged from the log crate"),
        "{app:?}"
    );
    let risk = json_lines(&dir, "risk");
    assert!(
        risk.iter()
            .any(|l| l["message"] == "global risk event" && l["limit"] == 3),
        "{risk:?}"
    );
}
