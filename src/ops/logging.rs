//! Log channels: routes `tracing` events to one append-only file per channel under
//! `logging.dir`, so that e.g. `audit.log` holds exactly the audit trail.
//!
//! # Contract
//!
//! * The channel of an event is its `tracing` *target*:
//!   `tracing::info!(target: "audit", correlation = 42, "order accepted")`.
//!   The channels are [`CHANNELS`]; each writes `<dir>/<channel>.log`, opened in append mode.
//! * An event whose target is not a channel (another crate such as `ort`, or a module path
//!   such as `alpha_panda::feed`) goes to `app.log`.
//! * `error.log` receives events targeted at `error` **and** every ERROR-level event of any
//!   target (such an event is written to its own channel's file too).
//! * `logging.level` is a list of `tracing` directives (`info`, `warn,audit=info`,
//!   `app=debug,info`) matched against the event's own target, as `tracing` does: `ort=warn`
//!   quiets the `ort` crate in `app.log`; a target no directive names is off. A bare target
//!   (`audit` meaning `audit=trace`) and field filters (`x[{f}]=debug`) are rejected, so a
//!   misspelt level (`inof`) is an error instead of silently turning every file off.
//! * Files are `json` (one flat object per line: `timestamp`, `level`, `target`, the event's
//!   fields with `message`; no spans) or `text` (the `tracing-subscriber` default line, no
//!   ANSI colour), per `logging.format`.
//! * With `logging.console`, events are also written as text to stderr (coloured only when
//!   stderr is a terminal), filtered by `RUST_LOG` when it is set, else by
//!   `logging.console_level` (default: warnings, and the `app` channel's lifecycle lines;
//!   the audit trail belongs in its file, not on a terminal).
//! * Writes go through one `tracing-appender` non-blocking worker thread per file, so the
//!   hot path never waits on the disk. `audit` and `error` are *lossless*: when their
//!   buffer is full the logging thread blocks until the worker catches up, because a missing
//!   audit or error line is worse than a stall. The other channels are *lossy*: when their
//!   buffer (128k lines) is full the line is dropped and counted
//!   ([`LogGuard::dropped_lines`]), because a trading thread must not stall on diagnostics.
//! * Buffered lines reach the files when the [`LogGuard`] is dropped; keep it alive for as
//!   long as anything logs (the live runtime drops it last at shutdown).

use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use tracing::level_filters::LevelFilter;
use tracing::subscriber::{Interest, Subscriber};
use tracing::{Level, Metadata};
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::{EnvFilter, FilterExt, Targets};
use tracing_subscriber::layer::{Context, Filter, Layer, SubscriberExt};
use tracing_subscriber::registry::Registry;

use crate::config::fields::Fields;

/// Log line format of the channel files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Json,
    Text,
}

/// `[logging]`: one file per channel under `dir`, plus the console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggingConfig {
    pub dir: PathBuf,
    pub format: LogFormat,
    /// Also log to stderr.
    pub console: bool,
    /// `tracing` filter directive for the files (`info`, `debug`, `app=debug,info`).
    pub level: String,
    /// The console's filter directive (`RUST_LOG` overrides it).
    pub console_level: String,
    /// Not read from the config: the run id the starting command puts in every file line
    /// (`"run_id"` first in a JSON line, `run=ID ` before a text line).
    pub run_id: Option<String>,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            dir: PathBuf::from("logs"),
            format: LogFormat::Json,
            console: true,
            level: "info".into(),
            console_level: "warn,app=info".into(),
            run_id: None,
        }
    }
}

/// Reads `[logging]` of `engine.toml`; levels are checked as `init` would parse them.
pub(crate) fn read_config(root: &mut Fields<'_, '_>, into: &mut LoggingConfig) {
    let Some((table, offset)) = root.opt_table("logging") else {
        return;
    };
    let mut logging = root.sub(table, "logging", offset);
    if let Some((dir, _)) = logging.opt_str("dir") {
        into.dir = PathBuf::from(dir);
    }
    if let Some((format, _)) = logging.opt_choice("format", &["json", "text"]) {
        into.format = if format == "text" {
            LogFormat::Text
        } else {
            LogFormat::Json
        };
    }
    if let Some(console) = logging.opt_bool("console") {
        into.console = console;
    }
    for key in ["level", "console_level"] {
        if let Some((level, offset)) = logging.opt_str(key) {
            match check_level(&level) {
                Ok(()) if key == "level" => into.level = level,
                Ok(()) => into.console_level = level,
                Err(e) => logging.invalid(key, offset, e),
            }
        }
    }
    logging.finish();
}

/// Every log channel; each is a `tracing` target and a file `<logging.dir>/<channel>.log`.
pub const CHANNELS: [&str; 7] = [
    "trading",
    "market_data",
    "risk",
    "audit",
    "performance",
    "error",
    "app",
];

/// The channel for events whose target is not a channel.
pub const FALLBACK_CHANNEL: &str = "app";

/// The channel that also receives every ERROR-level event.
pub const ERROR_CHANNEL: &str = "error";

/// Channels whose writer blocks rather than drops lines when its buffer is full.
const LOSSLESS: [&str; 2] = ["audit", ERROR_CHANNEL];

/// Why the log channels could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("logging.dir '{}': cannot create: {source}", dir.display())]
    CreateDir { dir: PathBuf, source: io::Error },
    #[error("logging.dir '{}': cannot open '{}' for append: {source}", dir.display(), file.display())]
    OpenFile {
        dir: PathBuf,
        file: PathBuf,
        source: io::Error,
    },
    #[error("logging.level '{level}': {reason}")]
    Level { level: String, reason: String },
    #[error("RUST_LOG '{value}': {reason}")]
    RustLog { value: String, reason: String },
    #[error("logging: a global tracing subscriber is already set")]
    AlreadySet,
}

/// Keeps the channel files' writer threads alive. Dropping it flushes every buffered line
/// to its file and stops the writers; lines logged afterwards are lost. The live runtime
/// drops it last at shutdown, after every stage has stopped logging.
#[must_use = "dropping the LogGuard stops the log writers"]
#[derive(Debug)]
pub struct LogGuard {
    /// One per channel, in [`CHANNELS`] order. Dropped (flushed) in that order.
    guards: Vec<WorkerGuard>,
    dropped: Vec<(&'static str, ErrorCounter)>,
}

impl LogGuard {
    /// Lines the lossy channels dropped because their buffer was full (or their writer had
    /// stopped), summed over all channels since the subscriber was built. Always 0 for
    /// `audit` and `error`.
    pub fn dropped_lines(&self) -> usize {
        self.dropped.iter().map(|(_, c)| c.dropped_lines()).sum()
    }

    /// Dropped lines per channel, in [`CHANNELS`] order.
    pub fn dropped_by_channel(&self) -> Vec<(&'static str, usize)> {
        self.dropped
            .iter()
            .map(|(channel, c)| (*channel, c.dropped_lines()))
            .collect()
    }

    /// Number of writer threads held (one per channel file).
    pub fn writers(&self) -> usize {
        self.guards.len()
    }
}

/// What goes before each file line: the JSON key (after the `{`) or the text prefix.
fn run_prefix(config: &LoggingConfig) -> Option<std::sync::Arc<[u8]>> {
    let id = config.run_id.as_deref()?;
    let id = serde_json::to_string(id).unwrap_or_default();
    let text = match config.format {
        LogFormat::Json => format!("\"run_id\":{id},"),
        LogFormat::Text => format!("run={} ", id.trim_matches('"')),
    };
    Some(text.into_bytes().into())
}

/// A channel file writer that stamps each line with the run id. The fmt layer hands over
/// one whole line per `write`, and the line goes to the file worker as one message, so
/// lines of different threads never interleave.
#[derive(Clone)]
struct RunTagged {
    inner: tracing_appender::non_blocking::NonBlocking,
    prefix: Option<std::sync::Arc<[u8]>>,
}

impl io::Write for RunTagged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(prefix) = &self.prefix else {
            return self.inner.write(buf);
        };
        let mut line = Vec::with_capacity(prefix.len() + buf.len());
        match buf.strip_prefix(b"{") {
            Some(rest) if prefix.first() == Some(&b'"') => {
                line.push(b'{');
                line.extend_from_slice(prefix);
                line.extend_from_slice(rest);
            }
            _ => {
                line.extend_from_slice(prefix);
                line.extend_from_slice(buf);
            }
        }
        self.inner.write_all(&line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RunTagged {
    type Writer = RunTagged;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The channel an event with this target is written to (besides `error` for ERROR events).
pub fn channel_of(target: &str) -> &'static str {
    CHANNELS
        .iter()
        .copied()
        .find(|channel| *channel == target)
        .unwrap_or(FALLBACK_CHANNEL)
}

/// Builds the subscriber for `config` without installing it; see the module doc for the
/// routing. Creates `config.dir` and opens every channel file before anything is logged.
///
/// # Errors
///
/// A bad `level` or `RUST_LOG` (when `console`), or a directory or file that cannot be
/// created or opened.
pub fn subscriber(
    config: &LoggingConfig,
) -> Result<(impl Subscriber + Send + Sync + 'static, LogGuard), LoggingError> {
    let level = parse_level(&config.level)?;
    let console_filter = if config.console {
        let rust_log = std::env::var_os("RUST_LOG");
        let rust_log = match rust_log.as_deref().map(|v| v.to_str().ok_or(v)) {
            None => None,
            Some(Ok(value)) => Some(value),
            Some(Err(raw)) => {
                return Err(LoggingError::RustLog {
                    value: raw.to_string_lossy().into_owned(),
                    reason: "not valid UTF-8".into(),
                });
            }
        };
        Some(console_filter(
            rust_log,
            &parse_level(&config.console_level)?,
        )?)
    } else {
        None
    };

    let files = open_files(&config.dir)?;

    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> =
        Vec::with_capacity(CHANNELS.len() + 1);
    let mut guards = Vec::with_capacity(CHANNELS.len());
    let mut dropped = Vec::with_capacity(CHANNELS.len());
    for (channel, file) in CHANNELS.into_iter().zip(files) {
        let (writer, guard) = NonBlockingBuilder::default()
            .lossy(!LOSSLESS.contains(&channel))
            .thread_name(&format!("log-{channel}"))
            .finish(file);
        dropped.push((channel, writer.error_counter()));
        guards.push(guard);
        let route = Route {
            channel,
            spans: config.format == LogFormat::Text,
        };
        let filter = route.and(level.clone());
        let writer = RunTagged {
            inner: writer,
            prefix: run_prefix(config),
        };
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_target(true)
            .with_writer(writer);
        let layer = match config.format {
            LogFormat::Json => layer
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .with_filter(filter)
                .boxed(),
            LogFormat::Text => layer.with_filter(filter).boxed(),
        };
        layers.push(layer);
    }

    if let Some(filter) = console_filter {
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(io::stderr)
            .with_ansi(io::stderr().is_terminal())
            .with_target(true);
        layers.push(match filter {
            ConsoleFilter::Env(env) => layer.with_filter(*env).boxed(),
            ConsoleFilter::Level(targets) => layer.with_filter(*targets).boxed(),
        });
    }

    Ok((
        tracing_subscriber::registry().with(layers),
        LogGuard { guards, dropped },
    ))
}

/// Builds the subscriber for `config` and installs it as the process-wide default
/// (`tracing::subscriber::set_global_default`). Records of the `log` crate are not bridged.
///
/// # Errors
///
/// As [`subscriber`], and [`LoggingError::AlreadySet`] when a global subscriber exists
/// (the files are still created and opened before that is found out).
pub fn init(config: &LoggingConfig) -> Result<LogGuard, LoggingError> {
    let (subscriber, guard) = subscriber(config)?;
    tracing::subscriber::set_global_default(subscriber).map_err(|_| LoggingError::AlreadySet)?;
    // Crates that log through `log` (ureq, rustls) reach the channels too (as `app`). A `log`
    // logger set elsewhere first keeps its records; that costs them, not the engine.
    let _ = tracing_log::LogTracer::init();
    Ok(guard)
}

/// Checks a `logging.level` / `logging.console_level` directive; the error says what is
/// wrong and what is expected (used when the config is read).
///
/// # Errors
/// The reason the directive is not accepted.
pub fn check_level(level: &str) -> Result<(), String> {
    parse_level(level).map(|_| ()).map_err(|e| match e {
        LoggingError::Level { reason, .. } => reason,
        other => other.to_string(),
    })
}

/// Parses `logging.level` strictly (see the module doc) into a per-target level filter.
fn parse_level(level: &str) -> Result<Targets, LoggingError> {
    let bad = |reason: String| LoggingError::Level {
        level: level.to_string(),
        reason,
    };
    let mut targets = Targets::new();
    let mut default: Option<LevelFilter> = None;
    let mut directives = 0usize;
    for directive in level.split(',').map(str::trim) {
        if directive.is_empty() {
            continue;
        }
        directives += 1;
        match directive.split_once('=') {
            Some((target, filter)) => {
                let target = target.trim();
                if target.is_empty() {
                    return Err(bad(format!("'{directive}': missing target before '='")));
                }
                if target.contains(['[', ']', '{', '}', '=']) || filter.contains('=') {
                    return Err(bad(format!(
                        "'{directive}': only 'target=level' directives are supported"
                    )));
                }
                let filter = parse_level_name(filter.trim()).map_err(&bad)?;
                targets = targets.with_target(target, filter);
            }
            None => {
                let filter = parse_level_name(directive).map_err(|reason| {
                    bad(format!(
                        "{reason} (a bare target is not accepted: write '{directive}=trace')"
                    ))
                })?;
                if default.is_some() {
                    return Err(bad(format!("'{directive}': more than one default level")));
                }
                default = Some(filter);
            }
        }
    }
    if directives == 0 {
        return Err(bad(
            "empty: expected a level such as 'info' or directives such as 'warn,audit=info'".into(),
        ));
    }
    if let Some(filter) = default {
        targets = targets.with_default(filter);
    }
    Ok(targets)
}

/// One level name; unlike `LevelFilter::from_str`, the empty string is not `error`.
fn parse_level_name(name: &str) -> Result<LevelFilter, String> {
    if name.is_empty() {
        return Err("missing level".into());
    }
    name.parse::<LevelFilter>().map_err(|_| {
        format!("'{name}' is not a level (expected trace, debug, info, warn, error or off)")
    })
}

/// Boxed: both filters are hundreds of bytes.
enum ConsoleFilter {
    Env(Box<EnvFilter>),
    Level(Box<Targets>),
}

/// The console's filter: `RUST_LOG` (full `EnvFilter` syntax) when set and non-empty,
/// else `logging.console_level`.
fn console_filter(rust_log: Option<&str>, level: &Targets) -> Result<ConsoleFilter, LoggingError> {
    match rust_log.map(str::trim).filter(|v| !v.is_empty()) {
        Some(value) => EnvFilter::builder()
            .parse(value)
            .map(|env| ConsoleFilter::Env(Box::new(env)))
            .map_err(|e| LoggingError::RustLog {
                value: value.to_string(),
                reason: e.to_string(),
            }),
        None => Ok(ConsoleFilter::Level(Box::new(level.clone()))),
    }
}

/// Creates `dir` and opens `<dir>/<channel>.log` for every channel, in [`CHANNELS`] order.
fn open_files(dir: &Path) -> Result<Vec<File>, LoggingError> {
    fs::create_dir_all(dir).map_err(|source| LoggingError::CreateDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    CHANNELS
        .iter()
        .map(|channel| {
            let file = dir.join(format!("{channel}.log"));
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&file)
                .map_err(|source| LoggingError::OpenFile {
                    dir: dir.to_path_buf(),
                    file,
                    source,
                })
        })
        .collect()
}

/// Per-layer filter selecting the events of one channel. Depends only on static metadata,
/// so its answer is cached per callsite.
#[derive(Clone, Copy, Debug)]
struct Route {
    channel: &'static str,
    /// Let spans through, so text lines can show the span context of their event.
    spans: bool,
}

impl Route {
    fn accepts(&self, meta: &Metadata<'_>) -> bool {
        if !meta.is_event() {
            return self.spans;
        }
        let own = channel_of(meta.target()) == self.channel;
        own || (self.channel == ERROR_CHANNEL && *meta.level() == Level::ERROR)
    }
}

impl<S> Filter<S> for Route {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        self.accepts(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.accepts(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_of_routes_unknown_targets_to_app() {
        let cases = [
            ("trading", "trading"),
            ("market_data", "market_data"),
            ("risk", "risk"),
            ("audit", "audit"),
            ("performance", "performance"),
            ("error", "error"),
            ("app", "app"),
            ("ort", "app"),
            ("alpha_panda::feed", "app"),
            ("audit::sub", "app"),
            ("Audit", "app"),
            ("", "app"),
        ];
        for (target, channel) in cases {
            assert_eq!(channel_of(target), channel, "target {target:?}");
        }
    }

    #[test]
    fn channels_are_distinct_and_include_fallback_and_error() {
        for (i, a) in CHANNELS.iter().enumerate() {
            for b in &CHANNELS[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert!(CHANNELS.contains(&FALLBACK_CHANNEL));
        assert!(CHANNELS.contains(&ERROR_CHANNEL));
        for channel in LOSSLESS {
            assert!(CHANNELS.contains(&channel), "{channel}");
        }
    }

    #[test]
    fn level_directives_parse() {
        // (directive, target, level, enabled)
        let cases = [
            ("info", "audit", Level::INFO, true),
            ("info", "audit", Level::DEBUG, false),
            ("INFO", "ort", Level::WARN, true),
            (" warn ", "trading", Level::INFO, false),
            ("warn,audit=info", "audit", Level::INFO, true),
            ("warn,audit=info", "trading", Level::INFO, false),
            ("app=debug,info", "app", Level::DEBUG, true),
            ("app=debug,info", "trading", Level::DEBUG, false),
            ("info,ort=warn", "ort", Level::INFO, false),
            ("info,ort=warn", "ort::session", Level::WARN, true),
            ("audit=info", "trading", Level::ERROR, false),
            ("off", "error", Level::ERROR, false),
            ("trace", "risk", Level::TRACE, true),
            ("info,", "risk", Level::INFO, true),
        ];
        for (directive, target, level, enabled) in cases {
            let targets = parse_level(directive)
                .unwrap_or_else(|e| panic!("{directive:?} should parse: {e}"));
            assert_eq!(
                targets.would_enable(target, &level),
                enabled,
                "{directive:?} {target} {level}"
            );
        }
    }

    #[test]
    fn bad_level_is_an_error_naming_it() {
        // (directive, text the message must contain)
        let cases = [
            ("", "empty"),
            (" , ", "empty"),
            ("verbose", "'verbose' is not a level"),
            ("inof", "write 'inof=trace'"),
            ("audit=loud", "'loud' is not a level"),
            ("audit=", "missing level"),
            ("=info", "missing target"),
            ("a=b=c", "only 'target=level'"),
            ("x[{f}]=debug", "only 'target=level'"),
            ("info,debug", "more than one default level"),
        ];
        for (directive, expected) in cases {
            let err = parse_level(directive).expect_err(directive);
            let message = err.to_string();
            assert!(
                message.starts_with(&format!("logging.level '{directive}': ")),
                "{message}"
            );
            assert!(message.contains(expected), "{directive:?}: {message}");
        }
    }

    #[test]
    fn console_filter_prefers_rust_log() {
        let level = parse_level("info").unwrap();
        assert!(matches!(
            console_filter(None, &level),
            Ok(ConsoleFilter::Level(_))
        ));
        assert!(matches!(
            console_filter(Some("  "), &level),
            Ok(ConsoleFilter::Level(_))
        ));
        assert!(matches!(
            console_filter(Some("debug,ort=warn"), &level),
            Ok(ConsoleFilter::Env(_))
        ));
        let err = match console_filter(Some("audit=loud"), &level) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("bad RUST_LOG accepted"),
        };
        assert!(err.starts_with("RUST_LOG 'audit=loud': "), "{err}");
    }

    #[test]
    fn route_selects_own_channel_and_errors() {
        use tracing::callsite::Identifier;
        use tracing::field::FieldSet;
        use tracing::metadata::Kind;

        struct Site;
        impl tracing::Callsite for Site {
            fn set_interest(&self, _: Interest) {}
            fn metadata(&self) -> &Metadata<'_> {
                unreachable!()
            }
        }
        static SITE: Site = Site;
        let meta = |target: &'static str, level: Level, kind: Kind| {
            Metadata::new(
                "test",
                target,
                level,
                None,
                None,
                None,
                FieldSet::new(&[], Identifier(&SITE)),
                kind,
            )
        };
        // (channel, spans, target, level, kind, accepted)
        let cases = [
            ("audit", false, "audit", Level::INFO, Kind::EVENT, true),
            ("audit", false, "trading", Level::INFO, Kind::EVENT, false),
            ("audit", false, "audit", Level::ERROR, Kind::EVENT, true),
            ("trading", false, "audit", Level::ERROR, Kind::EVENT, false),
            ("app", false, "ort", Level::INFO, Kind::EVENT, true),
            ("app", false, "app", Level::INFO, Kind::EVENT, true),
            ("app", false, "risk", Level::INFO, Kind::EVENT, false),
            ("error", false, "error", Level::WARN, Kind::EVENT, true),
            ("error", false, "trading", Level::ERROR, Kind::EVENT, true),
            ("error", false, "ort", Level::ERROR, Kind::EVENT, true),
            ("error", false, "trading", Level::WARN, Kind::EVENT, false),
            ("trading", false, "trading", Level::INFO, Kind::SPAN, false),
            (
                "trading",
                true,
                "alpha_panda::x",
                Level::INFO,
                Kind::SPAN,
                true,
            ),
        ];
        for (channel, spans, target, level, kind, accepted) in cases {
            let route = Route { channel, spans };
            let m = meta(target, level, kind);
            assert_eq!(
                route.accepts(&m),
                accepted,
                "{channel} spans={spans} {target} {level}"
            );
        }
    }

    #[test]
    fn dir_that_is_a_file_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let blocker = tmp.path().join("logs");
        fs::write(&blocker, b"not a directory").unwrap();
        let config = LoggingConfig {
            dir: blocker.join("inner"),
            format: LogFormat::Json,
            console: false,
            level: "info".into(),
            console_level: "warn".into(),
            run_id: None,
        };
        let err = match subscriber(&config) {
            Err(e) => e,
            Ok(_) => panic!("a file in the dir path was accepted"),
        };
        assert!(matches!(err, LoggingError::CreateDir { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "logging.dir '{}': cannot create: ",
                config.dir.display()
            )),
            "{message}"
        );
    }

    #[test]
    fn bad_level_fails_before_creating_the_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let config = LoggingConfig {
            dir: tmp.path().join("logs"),
            format: LogFormat::Text,
            console: false,
            level: "loud".into(),
            console_level: "warn".into(),
            run_id: None,
        };
        assert!(matches!(
            subscriber(&config),
            Err(LoggingError::Level { .. })
        ));
        assert!(!config.dir.exists());
    }

    #[test]
    fn subscriber_opens_every_channel_file_and_appends() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested").join("logs");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("audit.log"), "previous run\n").unwrap();
        let config = LoggingConfig {
            dir: dir.clone(),
            format: LogFormat::Text,
            console: false,
            level: "info".into(),
            console_level: "warn".into(),
            run_id: None,
        };
        let (subscriber, guard) = subscriber(&config).unwrap();
        assert_eq!(guard.writers(), CHANNELS.len());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "audit", "this run");
        });
        assert_eq!(guard.dropped_lines(), 0);
        drop(guard);
        for channel in CHANNELS {
            assert!(dir.join(format!("{channel}.log")).is_file(), "{channel}");
        }
        let audit = fs::read_to_string(dir.join("audit.log")).unwrap();
        assert!(audit.starts_with("previous run\n"), "{audit}");
        assert!(audit.contains("this run"), "{audit}");
    }
}
