//! Configuration: `engine.toml` and strategy files. Every problem carries file, line and
//! field, and all problems of all files are reported together. This module holds the
//! reading machinery (`fields`), the root of `engine.toml` (`engine`) and the environment;
//! each section's own keys are read next to the part of the engine that owns them.

pub mod engine;
pub mod environment;
pub mod fields;
pub mod instruments;

use std::fmt;
use std::path::PathBuf;

pub use engine::EngineConfig;
pub use environment::Environment;
pub use instruments::InstrumentConfig;

// Section types, re-exported where callers have always found them.
pub use crate::execution::BrokerConfig;
pub use crate::feed::config::{
    AtEnd, BadRowPolicy, FeedConfig, FeedKind, KiteFeedConfig, TickerMode,
};
pub use crate::metrics::config::MetricsConfig;
pub use crate::ops::logging::{LogFormat, LoggingConfig};
pub use crate::ops::validator::ValidatorConfig;
pub use crate::risk::RiskLimits;
pub use crate::runtime::config::{
    DEFAULT_SAMPLE_EVERY, MlInference, RuntimeConfig, RuntimeMode, StagePinning, WaitPolicy,
};

/// One problem in one config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// Dotted field name (`params.fast`); empty for file-level problems.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        } else {
            write!(
                f,
                "{}:{}: field '{}': {}",
                self.file.display(),
                self.line,
                self.field,
                self.message
            )
        }
    }
}

/// Reads a configuration file; failing that, the one error that names it.
///
/// # Errors
/// The file cannot be read (missing, unreadable, not UTF-8).
pub fn read_file(path: &std::path::Path) -> Result<String, ConfigErrors> {
    std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_owned(),
            line: 0,
            field: String::new(),
            message: format!("cannot read: {e}"),
        }])
    })
}

/// All problems found in the configuration, in file order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        write!(
            f,
            "{count} configuration error{}:",
            if count == 1 { "" } else { "s" }
        )?;
        for error in &self.0 {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}
