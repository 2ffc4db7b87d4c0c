//! Alpha Panda: an embedded, single-process algorithmic trading engine.
//!
//! `feed → strategy → risk → execution → portfolio`, and order events back up to the
//! strategies: plain stage state machines (one folder each) driven by two runtimes
//! (`runtime`: inline and threaded), assembled and run by `app`, fronted by `cli`. Money is
//! exact fixed-point; the same data and config give byte-identical results in either
//! runtime. Users write strategies against `strategy::Strategy` and register them in a
//! `strategy::Registry` (see `docs/STRATEGY_API.md`).

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dlq;
pub mod domain;
pub mod execution;
pub mod feed;
#[doc(hidden)]
pub mod fuzzing;
pub mod journal;
pub mod metrics;
pub mod ml;
pub mod ops;
pub mod portfolio;
pub mod report;
pub mod risk;
pub mod runtime;
pub mod strategy;

/// Every error the library's stages and start-up return, joined from the module errors.
/// (A run that stops early says so with `runtime::RunError`.)
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigErrors),
    #[error(transparent)]
    Feed(#[from] feed::FeedError),
    #[error(transparent)]
    Report(#[from] report::ReportError),
    /// The journal could not be read back during recovery.
    #[error("{0}")]
    Journal(String),
}
