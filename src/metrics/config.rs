//! `[metrics]` of `engine.toml`: the Prometheus and health HTTP endpoint.

use std::net::SocketAddr;

use crate::config::fields::Fields;

/// `[metrics]`: the Prometheus and health HTTP endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// `None`: on for `live`, off for backtests.
    pub enabled: Option<bool>,
    pub addr: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

/// Reads `[metrics]`.
pub(crate) fn read(root: &mut Fields<'_, '_>, into: &mut MetricsConfig) {
    let Some((table, offset)) = root.opt_table("metrics") else {
        return;
    };
    let mut metrics = root.sub(table, "metrics", offset);
    into.enabled = metrics.opt_bool("enabled");
    if let Some((addr, offset)) = metrics.opt_str("addr") {
        match addr.parse::<SocketAddr>() {
            Ok(addr) => into.addr = addr,
            Err(_) => metrics.invalid(
                "addr",
                offset,
                format!("expected IP:PORT like \"127.0.0.1:9464\", found \"{addr}\""),
            ),
        }
    }
    metrics.finish();
}
