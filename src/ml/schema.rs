//! The feature schema (feature set v1, `docs/ml/FEATURES.md`): each feature with its
//! parameters as sidecars name them, the ordered set a model reads and its hash. What the
//! extractors compute lives in `features` and `batch`.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::strategy::params::{MAX_WINDOW, PriceSource};

/// Version tag of the formulas below; part of every schema hash.
pub const FEATURE_SET_VERSION: &str = "alpha-panda.features.v1";

/// One feature with its parameters, as named in sidecars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureSpec {
    Ret { k: u32 },
    EmaSpread { fast: u32, slow: u32 },
    Volatility { n: u32 },
    Zscore { n: u32 },
    RangePosition { n: u32 },
    SpreadBps,
    BookImbalance,
    TradeFlow { n: u32 },
}

/// Feature names with their parameter keys, in canonical order.
pub const FEATURE_NAMES: [(&str, &[&str]); 8] = [
    ("ret", &["k"]),
    ("ema_spread", &["fast", "slow"]),
    ("volatility", &["n"]),
    ("zscore", &["n"]),
    ("range_position", &["n"]),
    ("spread_bps", &[]),
    ("book_imbalance", &[]),
    ("trade_flow", &["n"]),
];

impl FeatureSpec {
    /// Builds a feature from its name and parameter values (in `FEATURE_NAMES` key order).
    /// Every parameter is at most `MAX_WINDOW` (the bound of strategy windows): each is a
    /// window whose ring is allocated when the model loads.
    ///
    /// # Errors
    /// The constraint a parameter breaks, worded for the user.
    pub fn from_parts(name: &str, params: &[u32]) -> Result<FeatureSpec, String> {
        let at_least = |key: &str, value: u32, min: u32| {
            if value >= min && i64::from(value) <= MAX_WINDOW {
                Ok(value)
            } else {
                Err(format!(
                    "param '{key}' must be in {min}..={MAX_WINDOW}, found {value}"
                ))
            }
        };
        Ok(match (name, params) {
            ("ret", &[k]) => FeatureSpec::Ret {
                k: at_least("k", k, 1)?,
            },
            ("ema_spread", &[fast, slow]) => {
                if fast < 1 || fast >= slow || i64::from(slow) > MAX_WINDOW {
                    return Err(format!(
                        "params need 1 <= fast < slow <= {MAX_WINDOW}, found fast={fast} slow={slow}"
                    ));
                }
                FeatureSpec::EmaSpread { fast, slow }
            }
            ("volatility", &[n]) => FeatureSpec::Volatility {
                n: at_least("n", n, 2)?,
            },
            ("zscore", &[n]) => FeatureSpec::Zscore {
                n: at_least("n", n, 2)?,
            },
            ("range_position", &[n]) => FeatureSpec::RangePosition {
                n: at_least("n", n, 2)?,
            },
            ("spread_bps", &[]) => FeatureSpec::SpreadBps,
            ("book_imbalance", &[]) => FeatureSpec::BookImbalance,
            ("trade_flow", &[n]) => FeatureSpec::TradeFlow {
                n: at_least("n", n, 1)?,
            },
            _ => return Err(format!("unknown feature '{name}' or wrong parameters")),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            FeatureSpec::Ret { .. } => "ret",
            FeatureSpec::EmaSpread { .. } => "ema_spread",
            FeatureSpec::Volatility { .. } => "volatility",
            FeatureSpec::Zscore { .. } => "zscore",
            FeatureSpec::RangePosition { .. } => "range_position",
            FeatureSpec::SpreadBps => "spread_bps",
            FeatureSpec::BookImbalance => "book_imbalance",
            FeatureSpec::TradeFlow { .. } => "trade_flow",
        }
    }

    /// `(key, value)` pairs in canonical order.
    pub fn params(&self) -> Vec<(&'static str, u32)> {
        match *self {
            FeatureSpec::Ret { k } => vec![("k", k)],
            FeatureSpec::EmaSpread { fast, slow } => vec![("fast", fast), ("slow", slow)],
            FeatureSpec::Volatility { n }
            | FeatureSpec::Zscore { n }
            | FeatureSpec::RangePosition { n }
            | FeatureSpec::TradeFlow { n } => vec![("n", n)],
            FeatureSpec::SpreadBps | FeatureSpec::BookImbalance => Vec::new(),
        }
    }

    /// Price updates needed before the feature has a value.
    pub fn warm_up(&self) -> u64 {
        match *self {
            FeatureSpec::Ret { k } => u64::from(k) + 1,
            FeatureSpec::EmaSpread { slow, .. } => u64::from(slow),
            FeatureSpec::Volatility { n } => u64::from(n) + 1,
            FeatureSpec::Zscore { n } | FeatureSpec::RangePosition { n } => u64::from(n),
            FeatureSpec::SpreadBps | FeatureSpec::BookImbalance | FeatureSpec::TradeFlow { .. } => {
                0
            }
        }
    }
}

/// The ordered features of a model and the price they read: what the schema hash covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureSchema {
    pub price_source: PriceSource,
    pub features: Vec<FeatureSpec>,
}

impl FeatureSchema {
    /// `alpha-panda.features.v1|price_source=mid|ret(k=10)|spread_bps()`.
    pub fn canonical(&self) -> String {
        let mut out = String::from(FEATURE_SET_VERSION);
        let source = match self.price_source {
            PriceSource::Mid => "mid",
            PriceSource::Last => "last",
        };
        let _ = write!(out, "|price_source={source}");
        for feature in &self.features {
            let params: Vec<String> = feature
                .params()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = write!(out, "|{}({})", feature.name(), params.join(","));
        }
        out
    }

    /// `sha256:` and the hex SHA-256 of the canonical string.
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.canonical().as_bytes());
        let mut out = String::from("sha256:");
        for byte in digest {
            let _ = write!(out, "{byte:02x}");
        }
        out
    }

    pub fn len(&self) -> usize {
        self.features.len()
    }

    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// Price updates before the first score.
    pub fn warm_up(&self) -> u64 {
        self.features
            .iter()
            .map(FeatureSpec::warm_up)
            .max()
            .unwrap_or(0)
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_bounded_table() {
        /// Case name, feature name, parameters, the error `from_parts` gives.
        type Case = (
            &'static str,
            &'static str,
            &'static [u32],
            Result<(), &'static str>,
        );
        let cases: [Case; 6] = [
            ("ret at the bound", "ret", &[1_000_000], Ok(())),
            (
                "ret beyond the bound",
                "ret",
                &[1_000_001],
                Err("param 'k' must be in 1..=1000000, found 1000001"),
            ),
            (
                "zscore of ~4e9",
                "zscore",
                &[4_000_000_000],
                Err("param 'n' must be in 2..=1000000, found 4000000000"),
            ),
            (
                "trade_flow zero",
                "trade_flow",
                &[0],
                Err("param 'n' must be in 1..=1000000, found 0"),
            ),
            (
                "ema_spread at the bound",
                "ema_spread",
                &[2, 1_000_000],
                Ok(()),
            ),
            (
                "ema_spread slow beyond the bound",
                "ema_spread",
                &[2, 1_000_001],
                Err("params need 1 <= fast < slow <= 1000000, found fast=2 slow=1000001"),
            ),
        ];
        for (case, name, params, expected) in cases {
            let got = FeatureSpec::from_parts(name, params).map(|_| ());
            assert_eq!(got, expected.map_err(str::to_owned), "{case}");
        }
    }
}
