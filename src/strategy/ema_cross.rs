//! EMA cross, long/flat. Semantics are fixed (later checks depend on them):
//! input `p` is the binary64 nearest the exact price; `alpha = 2 / (n + 1)`; both EMAs start
//! at the first `p` and then `e = alpha * p + (1 - alpha) * e` on every tick, the first
//! included; `d = fast - slow` is defined from the `slow`-th input on; cross up is
//! `prev_d <= 0 < d`, cross down `prev_d >= 0 > d`, both defined.

use super::{Intent, LongFlat, PriceSource, SlotSpec, Strategy, price_input};
use crate::domain::Tick;

#[derive(Clone, Copy, Debug)]
struct Slot {
    fast: f64,
    slow: f64,
    inputs: u64,
    prev_d: f64,
    position: LongFlat,
    spec: SlotSpec,
}

#[derive(Debug)]
pub struct EmaCross {
    fast_alpha: f64,
    slow_alpha: f64,
    slow_len: u64,
    source: PriceSource,
    slots: Vec<Slot>,
}

impl EmaCross {
    pub fn new(fast: u32, slow: u32, source: PriceSource, slots: &[SlotSpec]) -> EmaCross {
        EmaCross {
            fast_alpha: 2.0 / (f64::from(fast) + 1.0),
            slow_alpha: 2.0 / (f64::from(slow) + 1.0),
            slow_len: u64::from(slow),
            source,
            slots: slots
                .iter()
                .map(|&spec| Slot {
                    fast: 0.0,
                    slow: 0.0,
                    inputs: 0,
                    prev_d: 0.0,
                    position: LongFlat::default(),
                    spec,
                })
                .collect(),
        }
    }
}

impl Strategy for EmaCross {
    #[inline]
    fn on_tick(&mut self, tick: &Tick, slot: usize) -> Option<Intent> {
        let state = &mut self.slots[slot];
        let spec = state.spec;
        let p = price_input(self.source, tick, spec.price_precision)?;
        if state.inputs == 0 {
            state.fast = p;
            state.slow = p;
        }
        state.fast = self.fast_alpha * p + (1.0 - self.fast_alpha) * state.fast;
        state.slow = self.slow_alpha * p + (1.0 - self.slow_alpha) * state.slow;
        state.inputs += 1;
        if state.inputs < self.slow_len {
            return None;
        }
        let d = state.fast - state.slow;
        let prev_defined = state.inputs > self.slow_len;
        let prev = state.prev_d;
        state.prev_d = d;
        if !prev_defined {
            return None;
        }
        let cross_up = prev <= 0.0 && d > 0.0;
        let cross_down = prev >= 0.0 && d < 0.0;
        state.position.step(cross_up, cross_down, spec.qty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InstrumentId, Nanos, Price, Qty, Side};

    fn quote(mid_raw: i64) -> Tick {
        Tick::quote(
            Nanos(0),
            InstrumentId(0),
            Some(Price(mid_raw)),
            Some(Price(mid_raw)),
            None,
            None,
        )
    }

    /// A reference implementation written straight from the spec, for comparison.
    fn reference(prices: &[f64], fast: u32, slow: u32) -> Vec<(usize, Side)> {
        let (af, as_) = (2.0 / (fast as f64 + 1.0), 2.0 / (slow as f64 + 1.0));
        let (mut ef, mut es) = (prices[0], prices[0]);
        let mut ds: Vec<Option<f64>> = Vec::new();
        let mut long = false;
        let mut out = Vec::new();
        for (i, &p) in prices.iter().enumerate() {
            ef = af * p + (1.0 - af) * ef;
            es = as_ * p + (1.0 - as_) * es;
            ds.push(if i + 1 >= slow as usize {
                Some(ef - es)
            } else {
                None
            });
            if i >= 1
                && let (Some(prev), Some(d)) = (ds[i - 1], ds[i])
            {
                if prev <= 0.0 && 0.0 < d && !long {
                    long = true;
                    out.push((i, Side::Buy));
                } else if prev >= 0.0 && 0.0 > d && long {
                    long = false;
                    out.push((i, Side::Sell));
                }
            }
        }
        out
    }

    #[test]
    fn matches_reference_on_a_wave() {
        let raws: Vec<i64> = (0..2000)
            .map(|i| 100_000 + ((i as f64 / 37.0).sin() * 500.0) as i64 + (i % 7) as i64)
            .collect();
        let spec = SlotSpec {
            price_precision: 5,
            qty: Qty(3),
        };
        let mut strategy = EmaCross::new(10, 30, PriceSource::Mid, &[spec]);
        let mut got = Vec::new();
        for (i, &raw) in raws.iter().enumerate() {
            if let Some(intent) = strategy.on_tick(&quote(raw), 0) {
                assert_eq!(intent.qty, Qty(3));
                got.push((i, intent.side));
            }
        }
        let prices: Vec<f64> = raws.iter().map(|&r| (2 * r) as f64 / 200_000.0).collect();
        let expected = reference(&prices, 10, 30);
        assert!(expected.len() > 10, "the wave must cross often");
        assert_eq!(got, expected);
    }

    #[test]
    fn ignores_ticks_without_its_price() {
        let spec = SlotSpec {
            price_precision: 2,
            qty: Qty(1),
        };
        let mut strategy = EmaCross::new(2, 3, PriceSource::Last, &[spec]);
        for raw in [100, 90, 80, 120, 130] {
            assert_eq!(
                strategy.on_tick(&quote(raw), 0),
                None,
                "quotes carry no last price"
            );
        }
        assert_eq!(strategy.slots[0].inputs, 0);
    }

    #[test]
    fn no_signal_before_slow_inputs_and_long_flat_alternates() {
        let spec = SlotSpec {
            price_precision: 0,
            qty: Qty(1),
        };
        let mut strategy = EmaCross::new(2, 4, PriceSource::Mid, &[spec]);
        let mut sides = Vec::new();
        for raw in [10, 10, 10, 10, 20, 30, 5, 1, 1, 40, 50, 60] {
            if let Some(intent) = strategy.on_tick(&quote(raw), 0) {
                sides.push(intent.side);
            }
        }
        assert_eq!(sides, vec![Side::Buy, Side::Sell, Side::Buy]);
    }
}
