//! Incremental feature extractors (feature set v1, specified in `docs/ml/FEATURES.md`).
//!
//! One extractor per (strategy, instrument). `update` is O(1) amortised and never
//! allocates: every window is a ring sized when the extractor is built. The arithmetic is
//! spelled out in the spec term by term, because the Python trainer repeats it and the
//! golden test compares the two.
//!
//! The pieces here (`Plan`: the features grouped by kind; `BookFeatures`: the book state and
//! its features; each feature's state and arithmetic) are shared with the batched
//! extractor (`batch`), so both give the same bits. The extractor as it was before the
//! grouping is kept in the tests as the oracle for both.

use crate::domain::fixed::POW10;
use crate::domain::{Tick, TickFlags, TickKind};
use crate::strategy::params::PriceSource;
use crate::strategy::window::SlidingExtremes;

pub use super::schema::{FEATURE_NAMES, FEATURE_SET_VERSION, FeatureSchema, FeatureSpec};

pub(super) const BPS: f64 = 10_000.0;

/// Fixed-capacity history of one input, newest last. The capacity is a power of two, so a
/// position is a mask; nothing moves or reallocates after construction. Several windows of
/// different lengths read the same history (a window of `n` drops `back(n - 1)`).
#[derive(Clone, Debug)]
pub(super) struct Ring<T> {
    buf: Box<[T]>,
    /// Inputs pushed so far.
    pushed: usize,
}

impl<T: Copy + Default> Ring<T> {
    /// A ring that holds at least the last `min_capacity` inputs (and at least one).
    pub(super) fn new(min_capacity: usize) -> Ring<T> {
        Ring {
            buf: vec![T::default(); min_capacity.max(1).next_power_of_two()].into_boxed_slice(),
            pushed: 0,
        }
    }

    #[inline]
    pub(super) fn push(&mut self, x: T) {
        let at = self.pushed & (self.buf.len() - 1);
        self.buf[at] = x;
        self.pushed += 1;
    }

    /// The input pushed `back` pushes ago (0 = the newest), once there is one. `back` must
    /// be below the capacity asked for (every window is, by construction).
    #[inline]
    pub(super) fn back(&self, back: usize) -> Option<T> {
        debug_assert!(back < self.buf.len());
        (back < self.pushed).then(|| self.buf[(self.pushed - 1 - back) & (self.buf.len() - 1)])
    }
}

/// `x as f64` through the 64-bit conversion when `x` fits: both round to nearest, so the
/// result is the same bits. The 128-bit conversion is a software routine that costs more
/// than the feature; kept out of line, or the compiler calls it on every path.
#[inline]
pub(super) fn f64_of(x: i128) -> f64 {
    match i64::try_from(x) {
        Ok(x) => x as f64,
        Err(_) => f64_of_wide(x),
    }
}

#[cold]
#[inline(never)]
fn f64_of_wide(x: i128) -> f64 {
    x as f64
}

/// `ret(k)` writing column `col`.
#[derive(Clone, Debug)]
pub(super) struct Ret {
    pub(super) k: usize,
    pub(super) col: usize,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct EmaSpread {
    pub(super) fast_alpha: f64,
    pub(super) slow_alpha: f64,
    pub(super) fast: f64,
    pub(super) slow: f64,
    pub(super) col: usize,
}

impl EmaSpread {
    /// Feeds price update number `index` (0 = the first).
    #[inline]
    pub(super) fn push(&mut self, index: u64, p: f64) {
        if index == 0 {
            self.fast = p;
            self.slow = p;
        } else {
            self.fast += self.fast_alpha * (p - self.fast);
            self.slow += self.slow_alpha * (p - self.slow);
        }
    }

    #[inline]
    pub(super) fn value(&self) -> f64 {
        BPS * (self.fast - self.slow) / self.slow
    }
}

/// Running sums of the last `n` one-step returns (the returns are shared).
#[derive(Clone, Copy, Debug)]
pub(super) struct Volatility {
    pub(super) n: usize,
    n_f64: f64,
    pub(super) s1: f64,
    pub(super) s2: f64,
    pub(super) col: usize,
}

impl Volatility {
    /// Adds the return `r`, then drops `evicted`, the one `n` returns back, if any.
    #[inline]
    pub(super) fn push(&mut self, r: f64, evicted: Option<f64>) {
        self.s1 += r;
        self.s2 += r * r;
        if let Some(o) = evicted {
            self.s1 -= o;
            self.s2 -= o * o;
        }
    }

    #[inline]
    pub(super) fn value(&self) -> f64 {
        let mean = self.s1 / self.n_f64;
        let var = self.s2 / self.n_f64 - mean * mean;
        if var > 0.0 { var.sqrt() } else { 0.0 }
    }
}

/// Exact sums of the last `n` `q` and of their squares (the `q` are shared).
#[derive(Clone, Copy, Debug)]
pub(super) struct Zscore {
    pub(super) n: usize,
    sum: i128,
    sum_sq: i128,
    pub(super) col: usize,
}

impl Zscore {
    /// Adds `x`, then drops `evicted`, the `q` `n` price updates back, if any.
    #[inline]
    pub(super) fn push(&mut self, x: i64, evicted: Option<i64>) {
        if let Some(old) = evicted {
            let old = i128::from(old);
            self.sum -= old;
            self.sum_sq -= old * old;
        }
        let x = i128::from(x);
        self.sum += x;
        self.sum_sq += x * x;
    }

    /// The z-score of `x` over the window, which holds `len` inputs.
    #[inline]
    pub(super) fn value(&self, x: i64, len: usize) -> f64 {
        let n = len.min(self.n) as i128;
        let spread = n * self.sum_sq - self.sum * self.sum;
        if spread > 0 {
            f64_of(n * i128::from(x) - self.sum) / f64_of(spread).sqrt()
        } else {
            0.0
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct RangePosition {
    pub(super) n: usize,
    /// Per tick only (the batched extractor computes a column instead).
    extremes: SlidingExtremes,
    /// The value after the last push.
    value: f64,
    pub(super) col: usize,
}

impl RangePosition {
    /// Adds `q`: `(q - lo) / (hi - lo)` over the last `n` `q`, itself included, 0.5 when
    /// they are all equal.
    #[inline]
    fn push(&mut self, q: i64) {
        self.extremes.push(q);
        self.value = match self.extremes.range() {
            Some((hi, lo)) if hi != lo => (q - lo) as f64 / (hi - lo) as f64,
            _ => 0.5,
        };
    }
}

/// Exact sums over the last `n` trades (the trades are shared).
#[derive(Clone, Debug)]
pub(super) struct TradeFlow {
    n: usize,
    flow: i128,
    volume: i128,
    col: usize,
}

/// The features of a schema grouped by kind, each with the column it writes, so an update
/// runs a few tight loops instead of a `match` per feature, and the longest window each
/// shared history must hold.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    pub(super) rets: Vec<Ret>,
    pub(super) emas: Vec<EmaSpread>,
    pub(super) vols: Vec<Volatility>,
    pub(super) zscores: Vec<Zscore>,
    pub(super) ranges: Vec<RangePosition>,
    /// The longest `ret`, and at least 1 (the step return reads one price back).
    pub(super) longest_ret: usize,
    pub(super) longest_vol: usize,
    pub(super) longest_zscore: usize,
    /// The longest `range_position`, or 0 without one.
    pub(super) longest_range: usize,
    pub(super) warm_up: u64,
}

impl Plan {
    /// The price-window features of `schema` and, apart, its book features.
    pub(super) fn new(schema: &FeatureSchema) -> (Plan, BookFeatures) {
        let mut plan = Plan {
            rets: Vec::new(),
            emas: Vec::new(),
            vols: Vec::new(),
            zscores: Vec::new(),
            ranges: Vec::new(),
            longest_ret: 1,
            longest_vol: 1,
            longest_zscore: 1,
            longest_range: 0,
            warm_up: schema.warm_up(),
        };
        let mut book = BookFeatures {
            price_source: schema.price_source,
            flows: Vec::new(),
            spread_cols: Vec::new(),
            imbalance_cols: Vec::new(),
            trades: Ring::new(0),
            quote: None,
            sizes: None,
            last_trade_q: None,
            last_sign: 0,
        };
        let mut longest_flow = 1;
        for (col, feature) in schema.features.iter().enumerate() {
            match *feature {
                FeatureSpec::Ret { k } => {
                    plan.longest_ret = plan.longest_ret.max(k as usize);
                    plan.rets.push(Ret { k: k as usize, col });
                }
                FeatureSpec::EmaSpread { fast, slow } => plan.emas.push(EmaSpread {
                    fast_alpha: 2.0 / (f64::from(fast) + 1.0),
                    slow_alpha: 2.0 / (f64::from(slow) + 1.0),
                    fast: 0.0,
                    slow: 0.0,
                    col,
                }),
                FeatureSpec::Volatility { n } => {
                    plan.longest_vol = plan.longest_vol.max(n as usize);
                    plan.vols.push(Volatility {
                        n: n as usize,
                        n_f64: f64::from(n),
                        s1: 0.0,
                        s2: 0.0,
                        col,
                    });
                }
                FeatureSpec::Zscore { n } => {
                    plan.longest_zscore = plan.longest_zscore.max(n as usize);
                    plan.zscores.push(Zscore {
                        n: n as usize,
                        sum: 0,
                        sum_sq: 0,
                        col,
                    });
                }
                FeatureSpec::RangePosition { n } => {
                    plan.longest_range = plan.longest_range.max(n as usize);
                    plan.ranges.push(RangePosition {
                        n: n as usize,
                        extremes: SlidingExtremes::new(n),
                        value: 0.5,
                        col,
                    });
                }
                FeatureSpec::SpreadBps => book.spread_cols.push(col),
                FeatureSpec::BookImbalance => book.imbalance_cols.push(col),
                FeatureSpec::TradeFlow { n } => {
                    longest_flow = longest_flow.max(n as usize);
                    book.flows.push(TradeFlow {
                        n: n as usize,
                        flow: 0,
                        volume: 0,
                        col,
                    });
                }
            }
        }
        book.trades = Ring::new(longest_flow);
        (plan, book)
    }
}

/// The book state of one instrument (last quote, last sizes, signed trade flow) and the
/// features that read it: everything but the price windows. Updated on every tick.
#[derive(Clone, Debug)]
pub(super) struct BookFeatures {
    price_source: PriceSource,
    flows: Vec<TradeFlow>,
    spread_cols: Vec<usize>,
    imbalance_cols: Vec<usize>,
    /// Recent trades as `(sign * size, size)`; at least the longest `trade_flow`.
    trades: Ring<(i64, i64)>,
    quote: Option<(i64, i64)>,
    sizes: Option<(i64, i64)>,
    last_trade_q: Option<i64>,
    last_sign: i64,
}

impl BookFeatures {
    /// Feeds one tick; returns its `q` if it is a price update.
    #[inline]
    pub(super) fn on_tick(&mut self, tick: &Tick) -> Option<i64> {
        let both = TickFlags::BID | TickFlags::ASK;
        match tick.kind {
            TickKind::Quote => {
                let sizes = TickFlags::BID_SIZE | TickFlags::ASK_SIZE;
                if tick.flags.0 & sizes == sizes {
                    self.sizes = Some((tick.bid_size.0, tick.ask_size.0));
                }
                if tick.flags.0 & both == both {
                    self.quote = Some((tick.bid.0, tick.ask.0));
                    if self.price_source == PriceSource::Mid {
                        return Some(tick.bid.0.saturating_add(tick.ask.0));
                    }
                }
                None
            }
            TickKind::Trade => {
                let tq = 2 * tick.bid.0;
                if !self.flows.is_empty() {
                    self.on_trade(tick, tq);
                }
                self.last_trade_q = Some(tq);
                (self.price_source == PriceSource::Last).then_some(tq)
            }
        }
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
        let signed = sign * size;
        for f in &mut self.flows {
            if let Some((old_flow, old_size)) = self.trades.back(f.n - 1) {
                f.flow -= i128::from(old_flow);
                f.volume -= i128::from(old_size);
            }
            f.flow += i128::from(signed);
            f.volume += i128::from(size);
        }
        self.trades.push((signed, size));
    }

    /// Writes the book columns of a row.
    #[inline(always)]
    pub(super) fn write(&self, out: &mut [f32]) {
        if !self.spread_cols.is_empty() {
            let value = self.quote.map_or(0.0, |(bid, ask)| {
                2.0 * BPS * (ask - bid) as f64 / (ask + bid) as f64
            });
            for &col in &self.spread_cols {
                out[col] = value as f32;
            }
        }
        if !self.imbalance_cols.is_empty() {
            let value = match self.sizes {
                Some((bid, ask)) if bid + ask != 0 => (bid - ask) as f64 / (bid + ask) as f64,
                _ => 0.0,
            };
            for &col in &self.imbalance_cols {
                out[col] = value as f32;
            }
        }
        for f in &self.flows {
            let value = if f.volume == 0 {
                0.0
            } else {
                f64_of(f.flow) / f64_of(f.volume)
            };
            out[f.col] = value as f32;
        }
    }
}

/// Per-instrument feature state for one schema, one tick at a time (the live path; the
/// batched path is `batch::BatchExtractor`, with the same values).
///
/// Histories are kept once, however many features read them: the prices (`ret`, the step
/// return), the step returns (every `volatility`) and the `q` (every `zscore`); the trades
/// (every `trade_flow`) are in `BookFeatures`. Each window of length `n` drops the input
/// `n` pushes back, so its sums see exactly the inputs a window of its own would, in the
/// same order: the values are the same bits.
#[derive(Clone, Debug)]
pub struct FeatureExtractor {
    plan: Plan,
    book: BookFeatures,
    price_scale: f64,
    /// Recent prices `p`; at least the longest `ret` + 1, and at least 2.
    prices: Ring<f64>,
    /// Recent one-step returns, in bps; at least the longest `volatility`.
    returns: Ring<f64>,
    /// Recent `q`; at least the longest `zscore`.
    qs: Ring<i64>,
    price_updates: u64,
}

impl FeatureExtractor {
    /// An extractor for an instrument quoted at `price_precision` decimals.
    pub fn new(schema: &FeatureSchema, price_precision: u8) -> FeatureExtractor {
        let (plan, book) = Plan::new(schema);
        FeatureExtractor {
            price_scale: price_scale(price_precision),
            prices: Ring::new(plan.longest_ret + 1),
            returns: Ring::new(plan.longest_vol),
            qs: Ring::new(plan.longest_zscore),
            price_updates: 0,
            plan,
            book,
        }
    }

    /// Feeds one tick of this instrument. On a scoring event (a price update with every
    /// feature warm) writes the feature vector to `out` and returns true.
    #[inline]
    pub fn update(&mut self, tick: &Tick, out: &mut [f32]) -> bool {
        let Some(q) = self.book.on_tick(tick) else {
            return false;
        };
        self.on_price(q);
        if self.price_updates < self.plan.warm_up {
            return false;
        }
        self.write(q, out);
        true
    }

    #[inline]
    fn on_price(&mut self, q: i64) {
        let p = q as f64 / self.price_scale;
        let plan = &mut self.plan;
        if !plan.vols.is_empty()
            && let Some(prev) = self.prices.back(0)
        {
            let r = BPS * (p / prev).ln();
            for v in &mut plan.vols {
                // Read before the push: the return this window drops.
                v.push(r, self.returns.back(v.n - 1));
            }
            self.returns.push(r);
        }
        self.prices.push(p);
        if !plan.zscores.is_empty() {
            for z in &mut plan.zscores {
                z.push(q, self.qs.back(z.n - 1));
            }
            self.qs.push(q);
        }
        for e in &mut plan.emas {
            e.push(self.price_updates, p);
        }
        for r in &mut plan.ranges {
            r.push(q);
        }
        self.price_updates += 1;
    }

    #[inline]
    fn write(&self, q: i64, out: &mut [f32]) {
        let plan = &self.plan;
        let now = self.prices.back(0);
        for r in &plan.rets {
            let value = match (now, self.prices.back(r.k)) {
                (Some(now), Some(then)) => BPS * (now / then).ln(),
                _ => 0.0,
            };
            out[r.col] = value as f32;
        }
        for e in &plan.emas {
            out[e.col] = e.value() as f32;
        }
        for v in &plan.vols {
            out[v.col] = v.value() as f32;
        }
        let len = self.qs.pushed;
        for z in &plan.zscores {
            out[z.col] = z.value(q, len) as f32;
        }
        for r in &plan.ranges {
            out[r.col] = r.value as f32;
        }
        self.book.write(out);
    }
}

/// `2 * 10^precision` as f64: `p = q / scale`.
pub(super) fn price_scale(price_precision: u8) -> f64 {
    (2 * POW10[price_precision as usize]) as f64
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::domain::{InstrumentId, Nanos, Price, Qty};

    pub(crate) fn quote(bid: i64, ask: i64, bid_size: i64, ask_size: i64) -> Tick {
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

    /// The extractor as it was before issue 10 (one `match` per feature, a window per
    /// feature), kept as the oracle: the grouped extractor must give the same bits.
    mod reference {
        use super::super::{BPS, FeatureSchema, FeatureSpec};
        use crate::domain::fixed::POW10;
        use crate::domain::{Tick, TickFlags, TickKind};
        use crate::strategy::params::PriceSource;
        use crate::strategy::window::{RollingMoments, SlidingExtremes, Window};

        /// The last `n` prices, newest last, read back by position (as `Window` once was).
        #[derive(Clone, Debug)]
        struct Prices(std::collections::VecDeque<f64>, usize);

        impl Prices {
            fn new(n: usize) -> Prices {
                Prices(std::collections::VecDeque::with_capacity(n), n)
            }

            fn push(&mut self, x: f64) {
                if self.0.len() == self.1 {
                    self.0.pop_front();
                }
                self.0.push_back(x);
            }

            fn back(&self, back: usize) -> Option<f64> {
                let len = self.0.len();
                (back < len).then(|| self.0[len - 1 - back])
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
        pub(super) struct FeatureExtractor {
            price_source: PriceSource,
            price_scale: f64,
            states: Vec<State>,
            /// Recent prices, newest last; as long as the longest `ret`, and at least 2.
            prices: Prices,
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
            pub(super) fn new(schema: &FeatureSchema, price_precision: u8) -> FeatureExtractor {
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
                let needs_step_return =
                    states.iter().any(|s| matches!(s, State::Volatility { .. }));
                FeatureExtractor {
                    price_source: schema.price_source,
                    price_scale: (2 * POW10[price_precision as usize]) as f64,
                    prices: Prices::new(longest_ret + 1),
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
            pub(super) fn update(&mut self, tick: &Tick, out: &mut [f32]) -> bool {
                let both = TickFlags::BID | TickFlags::ASK;
                let mut q = None;
                match tick.kind {
                    TickKind::Quote => {
                        if tick.flags.0 & both == both {
                            self.quote = Some((tick.bid.0, tick.ask.0));
                            if self.price_source == PriceSource::Mid {
                                q = Some(tick.bid.0.saturating_add(tick.ask.0));
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
                            Some((bid, ask)) if bid + ask != 0 => {
                                (bid - ask) as f64 / (bid + ask) as f64
                            }
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
    }

    pub(crate) mod property_tests {
        use super::super::*;
        use super::{quote, reference, trade};
        use proptest::prelude::*;

        /// One tick of a generated stream: a quote (some sides or sizes may be missing) or a
        /// trade (its size may be missing), moving a random-walk price.
        fn tick_of(step: (u8, i64, i64, i64, u8), bid: &mut i64) -> Tick {
            let (kind, moved, size_a, size_b, missing) = step;
            *bid = (*bid + moved).max(1);
            if kind % 4 == 3 {
                let mut t = trade(*bid + moved.rem_euclid(3), size_a);
                if missing % 5 == 0 {
                    t.flags = TickFlags(TickFlags::BID | TickFlags::ASK);
                }
                return t;
            }
            let mut t = quote(*bid, *bid + 1 + (size_b % 3), size_a, size_b);
            t.flags = TickFlags(match missing % 8 {
                0 => TickFlags::BID | TickFlags::BID_SIZE,
                1 => TickFlags::BID | TickFlags::ASK,
                _ => t.flags.0,
            });
            t
        }

        /// Up to 400 ticks of one instrument: mostly quotes, some trades.
        pub(crate) fn tick_stream() -> impl Strategy<Value = Vec<Tick>> {
            prop::collection::vec(
                (any::<u8>(), -3i64..4, 0i64..9, 0i64..9, any::<u8>()),
                1..400,
            )
            .prop_map(|steps| {
                let mut bid = 1_000i64;
                steps.into_iter().map(|s| tick_of(s, &mut bid)).collect()
            })
        }

        pub(crate) fn feature() -> impl Strategy<Value = FeatureSpec> {
            prop_oneof![
                (1u32..12).prop_map(|k| FeatureSpec::Ret { k }),
                (1u32..6, 1u32..9).prop_map(|(fast, d)| FeatureSpec::EmaSpread {
                    fast,
                    slow: fast + d
                }),
                (2u32..12).prop_map(|n| FeatureSpec::Volatility { n }),
                (2u32..12).prop_map(|n| FeatureSpec::Zscore { n }),
                (2u32..12).prop_map(|n| FeatureSpec::RangePosition { n }),
                Just(FeatureSpec::SpreadBps),
                Just(FeatureSpec::BookImbalance),
                (1u32..9).prop_map(|n| FeatureSpec::TradeFlow { n }),
            ]
        }

        proptest! {
            /// Same scoring events and the same feature bits as the reference, for any
            /// schema (repeated kinds with windows of different lengths share histories).
            #[test]
            fn grouped_extractor_gives_the_reference_bits(
                features in prop::collection::vec(feature(), 1..10),
                last in any::<bool>(),
                precision in 0u8..6,
                ticks in tick_stream(),
            ) {
                let schema = FeatureSchema {
                    price_source: if last { PriceSource::Last } else { PriceSource::Mid },
                    features,
                };
                let mut new = FeatureExtractor::new(&schema, precision);
                let mut old = reference::FeatureExtractor::new(&schema, precision);
                let (mut got, mut want) = (vec![0f32; schema.len()], vec![0f32; schema.len()]);
                for (i, tick) in ticks.iter().enumerate() {
                    let scored = new.update(tick, &mut got);
                    prop_assert_eq!(scored, old.update(tick, &mut want), "tick {}", i);
                    if scored {
                        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        prop_assert_eq!(bits(&got), bits(&want), "tick {}: {:?} vs {:?}", i, got, want);
                    }
                }
            }
        }
    }
}
