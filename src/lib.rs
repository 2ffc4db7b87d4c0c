//! Alpha Panda: an embedded, single-process algorithmic trading engine.
//!
//! `feed → strategy → risk → execution → portfolio`, as plain stage state machines composed
//! by two runtimes (inline and threaded). Money is exact fixed-point; the same data and
//! config give byte-identical results in either runtime.

pub mod clock;
pub mod config;
pub mod domain;
pub mod execution;
pub mod feed;
pub mod metrics;
pub mod ml;
pub mod ops;
pub mod pipeline;
pub mod portfolio;
pub mod report;
pub mod risk;
pub mod runtime;
pub mod strategy;

/// Every error the library returns, joined from the module errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigErrors),
    #[error(transparent)]
    Feed(#[from] feed::FeedError),
    #[error(transparent)]
    Report(#[from] report::ReportError),
    #[error("runtime: {0}")]
    Runtime(String),
}
