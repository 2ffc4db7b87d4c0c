//! Runtimes: how the stages are driven. For now only their configuration (`[runtime]`).

pub mod config;
