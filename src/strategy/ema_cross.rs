//! EMA cross. Semantics are fixed (later checks depend on them): input `p` is the binary64
//! nearest the exact price; `alpha = 2 / (n + 1)`; both EMAs start at the first `p` and then
//! `e = alpha * p + (1 - alpha) * e` on every tick, the first included; `d = fast - slow` is
//! defined from the `slow`-th input on; cross up is `prev_d <= 0 < d`, cross down
//! `prev_d >= 0 > d`, both defined. A cross up is a long entry (and a short exit), a cross
//! down a long exit (and a short entry); `Mode` turns them into orders.
//!
//! `EmaCrossing` is the crossing rule alone, public so strategies of users can reuse it.

use super::position::{Mode, Signals};
use super::{Actions, Context, PriceSource, SlotSpec, Strategy, price_input};
use crate::domain::{Qty, Tick};

/// Which way the fast EMA crossed the slow one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cross {
    Up,
    Down,
}

/// An [`EmaCrossing`]'s run state (its periods come from the config).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CrossingState {
    pub fast: f64,
    pub slow: f64,
    pub inputs: u64,
    pub prev_d: f64,
}

/// Two EMAs of one input series and the crossings of their difference.
#[derive(Clone, Copy, Debug)]
pub struct EmaCrossing {
    fast_alpha: f64,
    slow_alpha: f64,
    slow_len: u64,
    fast: f64,
    slow: f64,
    inputs: u64,
    prev_d: f64,
}

impl EmaCrossing {
    /// EMAs over `fast` and `slow` inputs (`fast < slow`, both >= 1).
    pub fn new(fast: u32, slow: u32) -> EmaCrossing {
        EmaCrossing {
            fast_alpha: 2.0 / (f64::from(fast) + 1.0),
            slow_alpha: 2.0 / (f64::from(slow) + 1.0),
            slow_len: u64::from(slow),
            fast: 0.0,
            slow: 0.0,
            inputs: 0,
            prev_d: 0.0,
        }
    }

    /// Inputs seen so far.
    pub fn inputs(&self) -> u64 {
        self.inputs
    }

    /// Where the averages stand (a checkpoint).
    pub fn state(&self) -> CrossingState {
        CrossingState {
            fast: self.fast,
            slow: self.slow,
            inputs: self.inputs,
            prev_d: self.prev_d,
        }
    }

    /// Puts the averages back where a checkpoint found them.
    pub fn restore(&mut self, state: CrossingState) {
        self.fast = state.fast;
        self.slow = state.slow;
        self.inputs = state.inputs;
        self.prev_d = state.prev_d;
    }

    /// Takes one input; returns the crossing it makes, if any.
    #[inline]
    pub fn update(&mut self, p: f64) -> Option<Cross> {
        if self.inputs == 0 {
            self.fast = p;
            self.slow = p;
        }
        self.fast = self.fast_alpha * p + (1.0 - self.fast_alpha) * self.fast;
        self.slow = self.slow_alpha * p + (1.0 - self.slow_alpha) * self.slow;
        self.inputs += 1;
        if self.inputs < self.slow_len {
            return None;
        }
        let d = self.fast - self.slow;
        let prev_defined = self.inputs > self.slow_len;
        let prev = self.prev_d;
        self.prev_d = d;
        if !prev_defined {
            return None;
        }
        if prev <= 0.0 && d > 0.0 {
            Some(Cross::Up)
        } else if prev >= 0.0 && d < 0.0 {
            Some(Cross::Down)
        } else {
            None
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    crossing: EmaCrossing,
    price_precision: u8,
    qty: Qty,
}

#[derive(Debug)]
pub struct EmaCross {
    source: PriceSource,
    mode: Mode,
    slots: Vec<Slot>,
}

impl EmaCross {
    pub fn new(
        fast: u32,
        slow: u32,
        source: PriceSource,
        mode: Mode,
        slots: &[SlotSpec],
    ) -> EmaCross {
        EmaCross {
            source,
            mode,
            slots: slots
                .iter()
                .map(|spec| Slot {
                    crossing: EmaCrossing::new(fast, slow),
                    price_precision: spec.price_precision,
                    qty: spec.qty,
                })
                .collect(),
        }
    }
}

impl Strategy for EmaCross {
    fn checkpoint(&self) -> Option<Vec<u8>> {
        let state: Vec<CrossingState> = self.slots.iter().map(|s| s.crossing.state()).collect();
        Some(super::encode_state(&state))
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let state: Vec<CrossingState> = super::decode_state(state)?;
        if state.len() != self.slots.len() {
            return Err(format!(
                "ema_cross checkpoint: {} instruments, this strategy has {}",
                state.len(),
                self.slots.len()
            ));
        }
        for (slot, s) in self.slots.iter_mut().zip(state) {
            slot.crossing.restore(s);
        }
        Ok(())
    }

    #[inline]
    fn on_tick(&mut self, ctx: &Context<'_>, tick: &Tick, out: &mut Actions) {
        let slot = ctx.slot();
        let state = &mut self.slots[slot];
        let Some(p) = price_input(self.source, tick, state.price_precision) else {
            return;
        };
        let Some(cross) = state.crossing.update(p) else {
            return;
        };
        let signals = Signals::reversal(cross == Cross::Up, cross == Cross::Down);
        // A refused action is counted by the buffer; there is nothing else to do about it.
        let _ = self.mode.act(ctx, out, slot, state.qty, signals);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InstrumentId, InstrumentSpec, Nanos, Price, RequestKind, Side};
    use crate::strategy::StrategyKind;
    use crate::strategy::testing::Harness;

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

    fn harness(
        fast: u32,
        slow: u32,
        source: PriceSource,
        mode: Mode,
        precision: u8,
        qty: i64,
    ) -> Harness {
        let slot = SlotSpec {
            price_precision: precision,
            qty: Qty(qty),
        };
        let spec = InstrumentSpec::new("X", precision, 0);
        Harness::with_kind(
            StrategyKind::EmaCross(EmaCross::new(fast, slow, source, mode, &[slot])),
            &[spec],
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

    fn wave() -> Vec<i64> {
        (0..2000)
            .map(|i| 100_000 + ((i as f64 / 37.0).sin() * 500.0) as i64 + (i % 7) as i64)
            .collect()
    }

    #[test]
    fn matches_reference_on_a_wave() {
        let raws = wave();
        let mut h = harness(10, 30, PriceSource::Mid, Mode::LongFlat, 5, 3);
        let mut got = Vec::new();
        for (i, &raw) in raws.iter().enumerate() {
            for request in h.tick(quote(raw)) {
                let RequestKind::New { qty, .. } = request.kind else {
                    panic!("only new orders: {request:?}");
                };
                assert_eq!(qty, Qty(3));
                got.push((i, request.side));
            }
        }
        let prices: Vec<f64> = raws.iter().map(|&r| (2 * r) as f64 / 200_000.0).collect();
        let expected = reference(&prices, 10, 30);
        assert!(expected.len() > 10, "the wave must cross often");
        assert_eq!(got, expected);
    }

    #[test]
    fn long_short_reverses_with_twice_the_quantity() {
        let raws = wave();
        let mut h = harness(10, 30, PriceSource::Mid, Mode::LongShort, 5, 3);
        let mut position = 0i64;
        let mut sizes = Vec::new();
        for &raw in &raws {
            let orders: Vec<(Side, Qty)> = h
                .tick(quote(raw))
                .iter()
                .filter_map(|r| r.order().map(|o| (o.side, o.qty)))
                .collect();
            for (side, qty) in orders {
                position += side.sign() * qty.0;
                sizes.push(qty.0);
            }
            assert!(position.abs() <= 3, "never beyond the quantity: {position}");
        }
        assert_eq!(sizes[0], 3, "the first entry is one quantity");
        assert!(
            sizes[1..].iter().all(|&q| q == 6),
            "then every reversal is two: {sizes:?}"
        );
    }

    #[test]
    fn ignores_ticks_without_its_price() {
        let mut h = harness(2, 3, PriceSource::Last, Mode::LongFlat, 2, 1);
        for raw in [100, 90, 80, 120, 130] {
            assert!(h.tick(quote(raw)).is_empty(), "quotes carry no last price");
        }
        let mut crossing = EmaCrossing::new(2, 3);
        assert_eq!(crossing.inputs(), 0);
        crossing.update(1.0);
        assert_eq!(crossing.inputs(), 1);
    }

    #[test]
    fn no_signal_before_slow_inputs_and_long_flat_alternates() {
        let mut h = harness(2, 4, PriceSource::Mid, Mode::LongFlat, 0, 1);
        let ticks: Vec<Tick> = [10, 10, 10, 10, 20, 30, 5, 1, 1, 40, 50, 60]
            .into_iter()
            .map(quote)
            .collect();
        let sides: Vec<Side> = h.sides(&ticks).into_iter().flatten().collect();
        assert_eq!(sides, vec![Side::Buy, Side::Sell, Side::Buy]);
    }

    #[test]
    fn a_rejected_entry_leaves_the_strategy_flat() {
        let mut h = harness(2, 4, PriceSource::Mid, Mode::LongFlat, 0, 1);
        let ticks: Vec<Tick> = [10, 10, 10, 10, 20].into_iter().map(quote).collect();
        let mut buy = None;
        for &t in &ticks {
            buy = buy.or(h.tick(t).first().map(|r| r.id));
        }
        let buy = buy.expect("the cross up buys");
        h.reject(buy, crate::domain::RejectReason::OrderRate);
        // The cross down finds the book flat: nothing to sell.
        let down: Vec<Tick> = [30, 5, 1].into_iter().map(quote).collect();
        assert_eq!(h.sides(&down), vec![None, None, None]);
        assert!(h.orders().is_empty());
    }
}
