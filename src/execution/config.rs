//! `[venue.NAME]` of `engine.toml`: one broker's venue (the paper simulator for now), whether
//! it takes orders, and the names of the credentials it needs.

use crate::config::fields::Fields;
use crate::domain::Decimal;
use crate::risk::RiskLimits;

/// How much of an order the paper venue fills on one tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FillSize {
    /// All of the order's open quantity.
    #[default]
    Order,
    /// At most the size shown at the touch (partial fills).
    Touch,
}

/// One broker: its venue and risk limits (`[venue.NAME]` and `[risk.NAME]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConfig {
    pub name: String,
    /// A disabled broker takes no orders; strategies naming it are a config problem.
    pub enabled: bool,
    /// Environment variables the broker needs (API keys of a live broker). Names only:
    /// values are read from the environment and never logged.
    pub credentials_env: Vec<String>,
    /// Delay between a signal and the earliest tick that can fill it, ns of event time.
    pub latency_ns: u64,
    pub fee_bps: Decimal,
    pub fill_size: FillSize,
    pub risk: RiskLimits,
}

/// Reads one `[venue.NAME]` table (risk limits are read from `[risk.NAME]` later).
pub(crate) fn read(name: &str, venue: &mut Fields<'_, '_>) -> BrokerConfig {
    let _ = venue.opt_choice("kind", &["paper"]);
    let enabled = venue.opt_bool("enabled").unwrap_or(true);
    let credentials_env = venue
        .opt_str_list("credentials_env")
        .unwrap_or_default()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let latency_ns = venue.opt_int("latency_ns", 0, i64::MAX).unwrap_or(0) as u64;
    let fee_bps = venue
        .opt_non_negative_decimal("fee_bps")
        .map(|(mantissa, decimals, _)| Decimal { mantissa, decimals })
        .unwrap_or_default();
    let fill_size = match venue.opt_choice("fill_size", &["order", "touch"]) {
        Some((size, _)) if size == "touch" => FillSize::Touch,
        _ => FillSize::Order,
    };
    BrokerConfig {
        name: name.to_owned(),
        enabled,
        credentials_env,
        latency_ns,
        fee_bps,
        fill_size,
        risk: crate::risk::RiskLimits::default(),
    }
}
