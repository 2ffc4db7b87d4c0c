//! Incremental feature extractors (feature set v1, specified in `docs/ml/FEATURES.md`).
//!
//! One extractor per (strategy, instrument). `update` is O(1) amortised and never
//! allocates: every window is a ring sized when the extractor is built. The arithmetic is
//! spelled out in the spec term by term, because the Python trainer repeats it and the
//! golden test compares the two.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::domain::fixed::POW10;
use crate::domain::{Tick, TickFlags, TickKind};
use crate::strategy::params::PriceSource;
use crate::strategy::window::{RollingMoments, SlidingExtremes, Window};

/// Version tag of the formulas below; part of every schema hash.
pub const FEATURE_SET_VERSION: &str = "alpha-panda.features.v1";

const BPS: f64 = 10_000.0;

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
    ///
    /// # Errors
    /// The constraint a parameter breaks, worded for the user.
    pub fn from_parts(name: &str, params: &[u32]) -> Result<FeatureSpec, String> {
        let at_least = |key: &str, value: u32, min: u32| {
            if value >= min {
                Ok(value)
            } else {
                Err(format!("param '{key}' must be >= {min}, found {value}"))
            }
        };
        Ok(match (name, params) {
            ("ret", &[k]) => FeatureSpec::Ret {
                k: at_least("k", k, 1)?,
            },
            ("ema_spread", &[fast, slow]) => {
                if fast < 1 || fast >= slow {
                    return Err(format!(
                        "params need 1 <= fast < slow, found fast={fast} slow={slow}"
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

#[derive(Clone, Debug)]
enum State {
    Ret {
        k: usize,
    },
    EmaSpread {
        fast_alpha: f64,
        slow_alpha: f64,
        fast: f64,
        slow: f64,
    },
    Volatility {
        n: f64,
        returns: Window<f64>,
        s1: f64,
        s2: f64,
    },
    Zscore(RollingMoments),
    RangePosition {
        window: SlidingExtremes,
        value: f64,
    },
    SpreadBps,
    BookImbalance,
    TradeFlow {
        window: Window<(i64, i64)>,
        flow: i128,
        volume: i128,
    },
}

/// Per-instrument feature state for one schema.
#[derive(Clone, Debug)]
pub struct FeatureExtractor {
    price_source: PriceSource,
    price_scale: f64,
    states: Vec<State>,
    /// Recent prices, newest last; as long as the longest `ret`, and at least 2.
    prices: Window<f64>,
    price_updates: u64,
    warm_up: u64,
    quote: Option<(i64, i64)>,
    sizes: Option<(i64, i64)>,
    last_trade_q: Option<i64>,
    last_sign: i64,
    needs_trades: bool,
    /// Whether any feature reads the one-step log return (computed once, shared).
    needs_step_return: bool,
}

impl FeatureExtractor {
    /// An extractor for an instrument quoted at `price_precision` decimals.
    pub fn new(schema: &FeatureSchema, price_precision: u8) -> FeatureExtractor {
        let mut longest_ret = 1;
        let states = schema
            .features
            .iter()
            .map(|f| match *f {
                FeatureSpec::Ret { k } => {
                    longest_ret = longest_ret.max(k as usize);
                    State::Ret { k: k as usize }
                }
                FeatureSpec::EmaSpread { fast, slow } => State::EmaSpread {
                    fast_alpha: 2.0 / (f64::from(fast) + 1.0),
                    slow_alpha: 2.0 / (f64::from(slow) + 1.0),
                    fast: 0.0,
                    slow: 0.0,
                },
                FeatureSpec::Volatility { n } => State::Volatility {
                    n: f64::from(n),
                    returns: Window::new(n as usize),
                    s1: 0.0,
                    s2: 0.0,
                },
                FeatureSpec::Zscore { n } => State::Zscore(RollingMoments::new(n as usize)),
                FeatureSpec::RangePosition { n } => State::RangePosition {
                    window: SlidingExtremes::new(n),
                    value: 0.5,
                },
                FeatureSpec::SpreadBps => State::SpreadBps,
                FeatureSpec::BookImbalance => State::BookImbalance,
                FeatureSpec::TradeFlow { n } => State::TradeFlow {
                    window: Window::new(n as usize),
                    flow: 0,
                    volume: 0,
                },
            })
            .collect::<Vec<_>>();
        let needs_trades = states.iter().any(|s| matches!(s, State::TradeFlow { .. }));
        let needs_step_return = states.iter().any(|s| matches!(s, State::Volatility { .. }));
        FeatureExtractor {
            price_source: schema.price_source,
            price_scale: (2 * POW10[price_precision as usize]) as f64,
            prices: Window::new(longest_ret + 1),
            states,
            price_updates: 0,
            warm_up: schema.warm_up(),
            quote: None,
            sizes: None,
            last_trade_q: None,
            last_sign: 0,
            needs_trades,
            needs_step_return,
        }
    }

    /// Feeds one tick of this instrument. On a scoring event (a price update with every
    /// feature warm) writes the feature vector to `out` and returns true.
    #[inline]
    pub fn update(&mut self, tick: &Tick, out: &mut [f32]) -> bool {
        let both = TickFlags::BID | TickFlags::ASK;
        let mut q = None;
        match tick.kind {
            TickKind::Quote => {
                if tick.flags.0 & both == both {
                    self.quote = Some((tick.bid.0, tick.ask.0));
                    if self.price_source == PriceSource::Mid {
                        q = Some(tick.bid.0 + tick.ask.0);
                    }
                }
                let sizes = TickFlags::BID_SIZE | TickFlags::ASK_SIZE;
                if tick.flags.0 & sizes == sizes {
                    self.sizes = Some((tick.bid_size.0, tick.ask_size.0));
                }
            }
            TickKind::Trade => {
                let tq = 2 * tick.bid.0;
                if self.needs_trades {
                    self.on_trade(tick, tq);
                }
                self.last_trade_q = Some(tq);
                if self.price_source == PriceSource::Last {
                    q = Some(tq);
                }
            }
        }
        let Some(q) = q else {
            return false;
        };
        self.on_price(q);
        if self.price_updates < self.warm_up {
            return false;
        }
        self.write(q, out);
        true
    }

    fn on_trade(&mut self, tick: &Tick, tq: i64) {
        let reference = self.quote.map(|(b, a)| b + a).or(self.last_trade_q);
        let sign = match reference {
            Some(r) if tq > r => 1,
            Some(r) if tq < r => -1,
            _ => self.last_sign,
        };
        self.last_sign = sign;
        let size = if tick.flags.has(TickFlags::BID_SIZE) {
            tick.bid_size.0
        } else {
            0
        };
        for state in &mut self.states {
            if let State::TradeFlow {
                window,
                flow,
                volume,
            } = state
            {
                if let Some((old_flow, old_size)) = window.push((sign * size, size)) {
                    *flow -= i128::from(old_flow);
                    *volume -= i128::from(old_size);
                }
                *flow += i128::from(sign * size);
                *volume += i128::from(size);
            }
        }
    }

    #[inline]
    fn on_price(&mut self, q: i64) {
        let p = q as f64 / self.price_scale;
        let step_return = match self.prices.back(0) {
            Some(prev) if self.needs_step_return => Some(BPS * (p / prev).ln()),
            _ => None,
        };
        self.prices.push(p);
        let index = self.price_updates;
        self.price_updates += 1;
        for state in &mut self.states {
            match state {
                State::EmaSpread {
                    fast_alpha,
                    slow_alpha,
                    fast,
                    slow,
                } => {
                    if index == 0 {
                        *fast = p;
                        *slow = p;
                    } else {
                        *fast += *fast_alpha * (p - *fast);
                        *slow += *slow_alpha * (p - *slow);
                    }
                }
                State::Volatility {
                    returns, s1, s2, ..
                } => {
                    if let Some(r) = step_return {
                        let evicted = returns.push(r);
                        *s1 += r;
                        *s2 += r * r;
                        if let Some(o) = evicted {
                            *s1 -= o;
                            *s2 -= o * o;
                        }
                    }
                }
                State::Zscore(moments) => moments.push(q),
                State::RangePosition { window, value } => {
                    window.push(q);
                    *value = match window.range() {
                        Some((hi, lo)) if hi != lo => (q - lo) as f64 / (hi - lo) as f64,
                        _ => 0.5,
                    };
                }
                State::Ret { .. }
                | State::SpreadBps
                | State::BookImbalance
                | State::TradeFlow { .. } => {}
            }
        }
    }

    #[inline]
    fn write(&self, q: i64, out: &mut [f32]) {
        for (state, slot) in self.states.iter().zip(out.iter_mut()) {
            let value = match state {
                State::Ret { k } => match (self.prices.back(0), self.prices.back(*k)) {
                    (Some(now), Some(then)) => BPS * (now / then).ln(),
                    _ => 0.0,
                },
                State::EmaSpread { fast, slow, .. } => BPS * (fast - slow) / slow,
                State::Volatility { n, s1, s2, .. } => {
                    let mean = s1 / n;
                    let var = s2 / n - mean * mean;
                    if var > 0.0 { var.sqrt() } else { 0.0 }
                }
                State::Zscore(moments) => moments.zscore(q).unwrap_or(0.0),
                State::RangePosition { value, .. } => *value,
                State::SpreadBps => self.quote.map_or(0.0, |(bid, ask)| {
                    2.0 * BPS * (ask - bid) as f64 / (ask + bid) as f64
                }),
                State::BookImbalance => match self.sizes {
                    Some((bid, ask)) if bid + ask != 0 => (bid - ask) as f64 / (bid + ask) as f64,
                    _ => 0.0,
                },
                State::TradeFlow { flow, volume, .. } => {
                    if *volume == 0 {
                        0.0
                    } else {
                        *flow as f64 / *volume as f64
                    }
                }
            };
            *slot = value as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InstrumentId, Nanos, Price, Qty};

    fn quote(bid: i64, ask: i64, bid_size: i64, ask_size: i64) -> Tick {
        Tick {
            ts: Nanos(0),
            local_ts: Nanos(0),
            seq: 0,
            instrument: InstrumentId(0),
            kind: TickKind::Quote,
            flags: TickFlags(
                TickFlags::BID | TickFlags::ASK | TickFlags::BID_SIZE | TickFlags::ASK_SIZE,
            ),
            bid: Price(bid),
            ask: Price(ask),
            bid_size: Qty(bid_size),
            ask_size: Qty(ask_size),
        }
    }

    fn trade(price: i64, size: i64) -> Tick {
        Tick {
            kind: TickKind::Trade,
            ask: Price(price),
            ask_size: Qty(size),
            ..quote(price, price, size, size)
        }
    }

    fn schema(features: Vec<FeatureSpec>) -> FeatureSchema {
        FeatureSchema {
            price_source: PriceSource::Mid,
            features,
        }
    }

    #[test]
    fn canonical_string_and_hash() {
        let s = schema(vec![
            FeatureSpec::Ret { k: 10 },
            FeatureSpec::EmaSpread { fast: 10, slow: 50 },
            FeatureSpec::SpreadBps,
        ]);
        assert_eq!(
            s.canonical(),
            "alpha-panda.features.v1|price_source=mid|ret(k=10)|ema_spread(fast=10,slow=50)|spread_bps()"
        );
        let hash = s.hash();
        assert!(
            hash.starts_with("sha256:") && hash.len() == 7 + 64,
            "{hash}"
        );
        let mut other = s.clone();
        other.price_source = PriceSource::Last;
        assert_ne!(other.hash(), hash);
    }

    #[test]
    fn from_parts_checks_params() {
        assert_eq!(
            FeatureSpec::from_parts("ret", &[5]),
            Ok(FeatureSpec::Ret { k: 5 })
        );
        assert!(FeatureSpec::from_parts("ret", &[0]).is_err());
        assert!(FeatureSpec::from_parts("ema_spread", &[5, 5]).is_err());
        assert!(FeatureSpec::from_parts("volatility", &[1]).is_err());
        assert!(FeatureSpec::from_parts("rsi", &[14]).is_err());
    }

    /// Every feature against a direct, whole-window recomputation.
    #[test]
    fn incremental_matches_direct_computation() {
        let features = vec![
            FeatureSpec::Ret { k: 3 },
            FeatureSpec::Volatility { n: 4 },
            FeatureSpec::Zscore { n: 5 },
            FeatureSpec::RangePosition { n: 4 },
            FeatureSpec::SpreadBps,
            FeatureSpec::BookImbalance,
            FeatureSpec::TradeFlow { n: 3 },
        ];
        let s = schema(features);
        let mut extractor = FeatureExtractor::new(&s, 2);
        let mut out = vec![0f32; s.len()];
        let mut mids: Vec<i64> = Vec::new();
        let mut trades: Vec<(i64, i64)> = Vec::new();
        let mut seed = 7u64;
        let mut bid = 10_000i64;
        let mut scored = 0;
        let mut last_sign = 0i64;
        for step in 0..500 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = (seed >> 33) as i64;
            if step % 4 == 3 {
                let price = bid + (r % 3);
                let mid_x2 = 2 * bid + 2;
                last_sign = match (2 * price).cmp(&mid_x2) {
                    std::cmp::Ordering::Greater => 1,
                    std::cmp::Ordering::Less => -1,
                    std::cmp::Ordering::Equal => last_sign,
                };
                let sign = last_sign;
                let size = 1 + r % 5;
                trades.push((sign, size));
                assert!(!extractor.update(&trade(price, size), &mut out));
                continue;
            }
            bid += r % 5 - 2;
            let (bs, asz) = (1 + r % 7, 1 + (r >> 8) % 7);
            let tick = quote(bid, bid + 2, bs, asz);
            mids.push(2 * bid + 2);
            let ready = extractor.update(&tick, &mut out);
            assert_eq!(ready, mids.len() >= 5);
            if !ready {
                continue;
            }
            scored += 1;
            let p = |q: i64| q as f64 / 200.0;
            let n = mids.len();
            let ret = BPS * (p(mids[n - 1]) / p(mids[n - 4])).ln();
            let rets: Vec<f64> = (n - 4..n)
                .map(|i| BPS * (p(mids[i]) / p(mids[i - 1])).ln())
                .collect();
            let mean = rets.iter().sum::<f64>() / 4.0;
            let vol = (rets.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / 4.0).sqrt();
            let window = &mids[n - 5..];
            let wmean = window.iter().sum::<i64>() as f64 / 5.0;
            let wstd = (window
                .iter()
                .map(|&q| (q as f64 - wmean).powi(2))
                .sum::<f64>()
                / 5.0)
                .sqrt();
            let z = if wstd == 0.0 {
                0.0
            } else {
                (mids[n - 1] as f64 - wmean) / wstd
            };
            let range = &mids[n - 4..];
            let (hi, lo) = (*range.iter().max().unwrap(), *range.iter().min().unwrap());
            let pos = if hi == lo {
                0.5
            } else {
                (mids[n - 1] - lo) as f64 / (hi - lo) as f64
            };
            let spread = 2.0 * BPS * 2.0 / (2 * bid + 2) as f64;
            let imbalance = (bs - asz) as f64 / (bs + asz) as f64;
            let last3 = &trades[trades.len().saturating_sub(3)..];
            let vol_t: i64 = last3.iter().map(|t| t.1).sum();
            let flow = if vol_t == 0 {
                0.0
            } else {
                last3.iter().map(|t| t.0 * t.1).sum::<i64>() as f64 / vol_t as f64
            };
            let expected = [ret, vol, z, pos, spread, imbalance, flow];
            for (i, (got, want)) in out.iter().zip(expected).enumerate() {
                assert!(
                    (f64::from(*got) - want).abs() <= 1e-4 * want.abs().max(1.0),
                    "step {step} feature {i}: {got} vs {want}"
                );
            }
        }
        assert!(scored > 300);
    }

    #[test]
    fn ema_spread_and_trade_price_source() {
        let s = FeatureSchema {
            price_source: PriceSource::Last,
            features: vec![FeatureSpec::EmaSpread { fast: 2, slow: 3 }],
        };
        let mut extractor = FeatureExtractor::new(&s, 0);
        let mut out = [0f32];
        assert!(!extractor.update(&quote(99, 101, 1, 1), &mut out));
        assert!(!extractor.update(&trade(100, 1), &mut out));
        assert!(!extractor.update(&trade(103, 1), &mut out));
        assert!(extractor.update(&trade(106, 1), &mut out));
        let (mut fast, mut slow) = (100.0f64, 100.0f64);
        for p in [103.0, 106.0] {
            fast += (2.0 / 3.0) * (p - fast);
            slow += 0.5 * (p - slow);
        }
        assert_eq!(out[0], (BPS * (fast - slow) / slow) as f32);
    }
}
