//! Operability of a running engine: preflight checks, log channels, the pipeline
//! validator, the metrics and health endpoint, and the live runtime that ties them together.

pub mod logging;
pub mod preflight;
