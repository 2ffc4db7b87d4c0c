//! Batched feature extraction, the inline backtest's path: the values of
//! `FeatureExtractor::update`, to the bit, computed a column at a time over a chunk.
//!
//! - `stage` runs per tick, in feed order. It updates the book state (quote, sizes, trade
//!   flow), notes the `q` of each price update, and writes the book columns of each scoring
//!   row, whose values are those of that moment.
//! - `finish` then runs each price-window feature (`ret`, `ema_spread`, `volatility`,
//!   `zscore`, `range_position`) over the chunk's price updates in one loop, and writes its
//!   column of every scoring row.
//!
//! Each value is the same arithmetic, in the same order, as in the per-tick extractor. What
//! goes is the per-tick walk over every feature kind (a dozen small loops, their loads and
//! branches, for every tick of every extractor), and the feature's state stays in registers
//! while the independent logs, divisions and roots of a column overlap
//! (`docs/bench/README.md`, issue 10, has what this bought).
//!
//! Once a price update scores, every later one does (warm-up only grows), so the scoring
//! updates of a chunk are a suffix of its price updates. The histories that cross chunks
//! (the prices, step returns and `q` the longest window reads back) sit in front of the
//! chunk's values in one buffer (`qs` here, the rest in the shared `Scratch`), so a window
//! reads `n` back by plain indexing. Every buffer is sized at construction for `chunk`
//! ticks, so a run allocates nothing here.

use super::features::{BPS, BookFeatures, FeatureSchema, Plan, price_scale};
use crate::domain::Tick;

/// Per-instrument feature state for one schema, fed a chunk at a time.
#[derive(Clone, Debug)]
pub struct BatchExtractor {
    plan: Plan,
    book: BookFeatures,
    price_scale: f64,
    /// Price updates before this chunk.
    price_updates: u64,
    /// Step returns before this chunk.
    returns_seen: u64,
    /// The last `q` before this chunk that the windows read back (`q_history` of them),
    /// then this chunk's `q`, one per price update.
    qs: Vec<i64>,
    q_history: usize,
    /// How many `q` to keep across chunks: the longest zscore, or the longest
    /// `range_position` less one, or none.
    q_keep: usize,
    /// Index (in this chunk's price updates) of the first that scores, if `offsets` is not
    /// empty.
    first_scoring: usize,
    /// Where the row of each scoring update starts in the rows buffer, in order.
    offsets: Vec<u32>,
    /// The last prices (up to the longest `ret`) and step returns (up to the longest
    /// volatility) before the next chunk.
    price_history: Vec<f64>,
    return_history: Vec<f64>,
}

/// Work space of `BatchExtractor::finish`, shared by the extractors of one strategy, which
/// finish one after the other: the columns of a chunk with the history in front (prices,
/// step returns) and the block extremes of `range_position`. Sized once, for `chunk` ticks
/// and the longest windows, so an extractor holds only what crosses chunks.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    prices: Vec<f64>,
    returns: Vec<f64>,
    /// `range_position`: the high and low from each `q` to the end of its block.
    suffix: Vec<(i64, i64)>,
}

impl Scratch {
    /// Room for the extractors of `schema` fed `chunk` ticks at a time.
    pub fn new(schema: &FeatureSchema, chunk: usize) -> Scratch {
        let (plan, _) = Plan::new(schema);
        let needs = |any: bool, history: usize| if any { history + chunk } else { 0 };
        Scratch {
            prices: Vec::with_capacity(plan.longest_ret + chunk),
            returns: Vec::with_capacity(needs(!plan.vols.is_empty(), plan.longest_vol)),
            suffix: Vec::with_capacity(needs(!plan.ranges.is_empty(), q_keep(&plan))),
        }
    }
}

/// How many `q` an extractor keeps across chunks: the longest zscore, or the longest
/// `range_position` less one, or none.
fn q_keep(plan: &Plan) -> usize {
    let mut keep = plan.longest_range.saturating_sub(1);
    if !plan.zscores.is_empty() {
        keep = keep.max(plan.longest_zscore);
    }
    keep
}

impl BatchExtractor {
    /// An extractor for an instrument quoted at `price_precision` decimals, fed at most
    /// `chunk` ticks between two `finish` calls.
    pub fn new(schema: &FeatureSchema, price_precision: u8, chunk: usize) -> BatchExtractor {
        let (plan, book) = Plan::new(schema);
        let q_keep = q_keep(&plan);
        BatchExtractor {
            price_scale: price_scale(price_precision),
            price_updates: 0,
            returns_seen: 0,
            qs: Vec::with_capacity(q_keep + chunk),
            q_history: 0,
            q_keep,
            first_scoring: 0,
            offsets: Vec::with_capacity(chunk),
            price_history: Vec::with_capacity(plan.longest_ret),
            return_history: Vec::with_capacity(if plan.vols.is_empty() {
                0
            } else {
                plan.longest_vol
            }),
            plan,
            book,
        }
    }

    /// Feeds one tick of this instrument. If it is a scoring event, it takes the row that
    /// starts at `offset` in the rows buffer, writes its book columns to `out` (that row)
    /// now (the price-window columns come in `finish`), and returns true.
    #[inline]
    pub fn stage(&mut self, tick: &Tick, offset: usize, out: &mut [f32]) -> bool {
        let Some(q) = self.book.on_tick(tick) else {
            return false;
        };
        let index = self.qs.len() - self.q_history;
        self.qs.push(q);
        if self.price_updates + index as u64 + 1 < self.plan.warm_up {
            return false;
        }
        if self.offsets.is_empty() {
            self.first_scoring = index;
        }
        self.offsets.push(offset as u32);
        self.book.write(out);
        true
    }

    /// Computes the price-window columns of every row staged since the last call into
    /// `rows` (row-major), and moves the windows past the chunk. `scratch` is any work
    /// space made for this schema and chunk size.
    pub fn finish(&mut self, rows: &mut [f32], scratch: &mut Scratch) {
        let m = self.qs.len() - self.q_history;
        if m == 0 {
            return;
        }
        let first = if self.offsets.is_empty() {
            m
        } else {
            self.first_scoring
        };
        let offsets = &self.offsets[..];
        let plan = &mut self.plan;
        let before = self.price_updates;
        let (hq, qs) = (self.q_history, &self.qs[..]);

        let hp = self.price_history.len();
        let scale = self.price_scale;
        scratch.prices.clear();
        scratch.prices.extend_from_slice(&self.price_history);
        scratch
            .prices
            .extend(qs[hq..].iter().map(|&q| q as f64 / scale));
        let prices = &scratch.prices[..];

        if first < m {
            for r in &plan.rets {
                // Warm-up guarantees the price `k` updates back: `hp + first >= k`.
                let now = &prices[hp + first..hp + m];
                let then = &prices[hp + first - r.k..hp + m - r.k];
                for ((&now, &then), &at) in now.iter().zip(then).zip(offsets) {
                    rows[at as usize + r.col] = (BPS * (now / then).ln()) as f32;
                }
            }
        }

        // Each loop works on a copy of the feature's state, which stays in registers: the
        // stores and reloads through `plan` cost a stalled store-to-load forward per value.
        for e in &mut plan.emas {
            let mut ema = *e;
            for (c, &p) in prices[hp..].iter().enumerate() {
                ema.push(before + c as u64, p);
                if c >= first {
                    rows[offsets[c - first] as usize + ema.col] = ema.value() as f32;
                }
            }
            *e = ema;
        }

        if !plan.vols.is_empty() {
            // The very first price update has no step return.
            let skip = usize::from(hp == 0);
            let hr = self.return_history.len();
            scratch.returns.clear();
            scratch.returns.extend_from_slice(&self.return_history);
            scratch
                .returns
                .extend((hp + skip..hp + m).map(|i| BPS * (prices[i] / prices[i - 1]).ln()));
            let returns = &scratch.returns[..];
            let seen = self.returns_seen as usize;
            for v in &mut plan.vols {
                let mut vol = *v;
                for c in 0..m {
                    if c >= skip {
                        let j = hr + c - skip;
                        // Once the window is full, the return `n` back leaves it.
                        let evicted = (seen + c - skip >= vol.n).then(|| returns[j - vol.n]);
                        vol.push(returns[j], evicted);
                    }
                    if c >= first {
                        rows[offsets[c - first] as usize + vol.col] = vol.value() as f32;
                    }
                }
                *v = vol;
            }
            self.returns_seen += (m - skip) as u64;
            keep_last(&mut self.return_history, returns, plan.longest_vol);
        }

        for z in &mut plan.zscores {
            let mut zscore = *z;
            for c in 0..m {
                let seen = before as usize + c;
                let evicted = (seen >= zscore.n).then(|| qs[hq + c - zscore.n]);
                let x = qs[hq + c];
                zscore.push(x, evicted);
                if c >= first {
                    rows[offsets[c - first] as usize + zscore.col] =
                        zscore.value(x, seen + 1) as f32;
                }
            }
            *z = zscore;
        }

        for r in &plan.ranges {
            range_column(qs, hq + first, r.n, &mut scratch.suffix, |i, value| {
                rows[offsets[i - hq - first] as usize + r.col] = value as f32;
            });
        }

        self.price_updates += m as u64;
        keep_last(&mut self.price_history, prices, plan.longest_ret);
        let drop = self.qs.len().saturating_sub(self.q_keep);
        self.qs.drain(..drop);
        self.q_history = self.qs.len();
        self.offsets.clear();
    }
}

/// Sets `history` to the last `n` of `values` (no allocation: `history` holds `n`).
fn keep_last<T: Copy>(history: &mut Vec<T>, values: &[T], n: usize) {
    history.clear();
    history.extend_from_slice(&values[values.len().saturating_sub(n)..]);
}

/// `range_position` over windows of `n` for every `q` from `start` on (van Herk /
/// Gil-Werman): cut `qs` into blocks of `n` from its start; the extremes of the `n` values
/// up to `i` are those of the suffix of the block holding `i + 1 - n` and of the prefix of
/// the block holding `i`. Two branch-free passes instead of two monotonic queues per value.
/// The window starts at `qs[0]` while fewer than `n` values came before, which happens only
/// when `qs` begins with the instrument's first price update (later, it holds `n - 1` back).
/// The extremes are the same integers as the queues', so the value is the same bits.
fn range_column(
    qs: &[i64],
    start: usize,
    n: usize,
    suffix: &mut Vec<(i64, i64)>,
    mut write: impl FnMut(usize, f64),
) {
    let len = qs.len();
    if start >= len {
        return;
    }
    if suffix.len() < len {
        // Every entry below `len` is written before it is read: only grow, never clear.
        suffix.resize(len, (0, 0));
    }
    let mut block = (len - 1) / n * n;
    let mut end = len;
    loop {
        let (mut hi, mut lo) = (i64::MIN, i64::MAX);
        for i in (block..end).rev() {
            hi = hi.max(qs[i]);
            lo = lo.min(qs[i]);
            suffix[i] = (hi, lo);
        }
        if block == 0 {
            break;
        }
        end = block;
        block -= n;
    }
    let (mut hi, mut lo) = (i64::MIN, i64::MAX);
    let mut left = 0;
    for (i, &x) in qs.iter().enumerate() {
        if left == 0 {
            (hi, lo, left) = (i64::MIN, i64::MAX, n);
        }
        left -= 1;
        hi = hi.max(x);
        lo = lo.min(x);
        if i >= start {
            let (hi, lo) = match (i + 1).checked_sub(n) {
                Some(from) => (hi.max(suffix[from].0), lo.min(suffix[from].1)),
                None => (hi, lo),
            };
            write(
                i,
                if hi != lo {
                    (x - lo) as f64 / (hi - lo) as f64
                } else {
                    0.5
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::FeatureExtractor;
    use crate::ml::features::FeatureSpec;
    use crate::strategy::params::PriceSource;
    use proptest::prelude::*;

    mod property_tests {
        use super::*;
        use crate::ml::features::tests::property_tests::{feature, tick_stream};

        proptest! {
            /// Any schema, any chunking: the same scoring events and feature bits as the
            /// per-tick extractor.
            #[test]
            fn batched_columns_give_the_per_tick_bits(
                features in prop::collection::vec(feature(), 1..10),
                last in any::<bool>(),
                precision in 0u8..6,
                ticks in tick_stream(),
                chunk in 1usize..40,
            ) {
                let schema = FeatureSchema {
                    price_source: if last { PriceSource::Last } else { PriceSource::Mid },
                    features,
                };
                let width = schema.len();
                let mut per_tick = FeatureExtractor::new(&schema, precision);
                let mut want = Vec::new();
                let mut row = vec![0f32; width];
                for tick in &ticks {
                    if per_tick.update(tick, &mut row) {
                        want.extend_from_slice(&row);
                    }
                }
                let mut batch = BatchExtractor::new(&schema, precision, chunk);
                let mut scratch = Scratch::new(&schema, chunk);
                let mut got = vec![f32::NAN; want.len() + width];
                let mut rows = 0;
                for part in ticks.chunks(chunk) {
                    for tick in part {
                        let at = rows * width;
                        if batch.stage(tick, at, &mut got[at..at + width]) {
                            rows += 1;
                        }
                    }
                    batch.finish(&mut got, &mut scratch);
                }
                got.truncate(rows * width);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                prop_assert_eq!(bits(&got), bits(&want));
            }
        }
    }

    #[test]
    fn buffers_do_not_grow_past_their_chunk() {
        let schema = FeatureSchema {
            price_source: PriceSource::Mid,
            features: vec![
                FeatureSpec::Ret { k: 3 },
                FeatureSpec::Volatility { n: 4 },
                FeatureSpec::Zscore { n: 5 },
                FeatureSpec::RangePosition { n: 6 },
            ],
        };
        let chunk = 8;
        let mut batch = BatchExtractor::new(&schema, 2, chunk);
        let mut scratch = Scratch::new(&schema, chunk);
        let capacities = |b: &BatchExtractor, s: &Scratch| {
            [
                b.qs.capacity(),
                b.offsets.capacity(),
                b.price_history.capacity(),
                b.return_history.capacity(),
                s.prices.capacity(),
                s.returns.capacity(),
                s.suffix.capacity(),
            ]
        };
        let start = capacities(&batch, &scratch);
        let mut rows = vec![0f32; chunk * schema.len()];
        let mut tick = crate::ml::features::tests::quote(10_000, 10_002, 1, 1);
        for round in 0..20 {
            let mut n = 0;
            for i in 0..chunk {
                tick.bid.0 += (round + i as i64) % 3 - 1;
                tick.ask.0 = tick.bid.0 + 2;
                let at = n * schema.len();
                if batch.stage(&tick, at, &mut rows[at..at + schema.len()]) {
                    n += 1;
                }
            }
            batch.finish(&mut rows, &mut scratch);
        }
        assert_eq!(capacities(&batch, &scratch), start);
    }
}
