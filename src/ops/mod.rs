//! Operability of a running engine: preflight checks, log channels, the pipeline
//! validator, the metrics and health endpoint, and the live runtime that ties them together.

pub mod health;
pub mod live;
pub mod logging;
pub mod preflight;
pub mod server;
pub mod validator;
