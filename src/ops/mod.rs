//! Operability of a running engine: preflight checks, log channels, the pipeline
//! validator, the metrics and health endpoint, and the audit writer.

pub mod audit;
pub mod health;
pub(crate) mod http;
pub mod logging;
pub mod preflight;
pub mod run_lock;
pub mod server;
pub mod validator;
