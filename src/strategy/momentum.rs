//! Momentum: the return over `lookback` inputs, `r = p_t / p_{t-lookback} - 1`. A long entry
//! (and short exit) when `r >= threshold`, a long exit (and short entry) when
//! `r <= -threshold` (threshold in bps); `Mode` turns them into orders. Compared exactly in
//! integers on raw prices, so no rounding decides a signal.

use super::position::{Mode, Signals};
use super::{Actions, Context, PriceSource, SlotSpec, Strategy, price_input_x2};
use crate::domain::Decimal;
use crate::domain::{POW10, Tick};

#[derive(Debug)]
struct Slot {
    /// Ring of the last `lookback + 1` inputs (×2 raw).
    history: Vec<i64>,
    next: usize,
    filled: usize,
    spec: SlotSpec,
}

#[derive(Debug)]
pub struct Momentum {
    /// Threshold as `mantissa / 10^(decimals + 4)` of the old price.
    threshold: Decimal,
    source: PriceSource,
    mode: Mode,
    slots: Vec<Slot>,
}

impl Momentum {
    pub fn new(
        lookback: u32,
        threshold_bps: Decimal,
        source: PriceSource,
        mode: Mode,
        slots: &[SlotSpec],
    ) -> Momentum {
        let len = lookback as usize + 1;
        Momentum {
            threshold: threshold_bps,
            source,
            mode,
            slots: slots
                .iter()
                .map(|s| Slot {
                    history: vec![0; len],
                    next: 0,
                    filled: 0,
                    spec: *s,
                })
                .collect(),
        }
    }
}

impl Strategy for Momentum {
    fn checkpoint(&self) -> Option<Vec<u8>> {
        let state: Vec<(&[i64], usize, usize)> = self
            .slots
            .iter()
            .map(|s| (s.history.as_slice(), s.next, s.filled))
            .collect();
        Some(super::encode_state(&state))
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let state: Vec<(Vec<i64>, usize, usize)> = super::decode_state(state)?;
        let fits = state.len() == self.slots.len()
            && self
                .slots
                .iter()
                .zip(&state)
                .all(|(slot, (history, next, filled))| {
                    history.len() == slot.history.len()
                        && *next < history.len()
                        && *filled <= history.len()
                });
        if !fits {
            return Err("momentum checkpoint: another lookback or instrument count".into());
        }
        for (slot, (history, next, filled)) in self.slots.iter_mut().zip(state) {
            slot.history.copy_from_slice(&history);
            slot.next = next;
            slot.filled = filled;
        }
        Ok(())
    }

    #[inline]
    fn on_tick(&mut self, ctx: &Context<'_>, tick: &Tick, out: &mut Actions) {
        let slot = ctx.slot();
        let state = &mut self.slots[slot];
        let Some(p) = price_input_x2(self.source, tick) else {
            return;
        };
        let len = state.history.len();
        // After the write, `next` points at the oldest input: p_{t-lookback}.
        state.history[state.next] = p;
        state.next = if state.next + 1 == len {
            0
        } else {
            state.next + 1
        };
        state.filled = (state.filled + 1).min(len);
        if state.filled < len {
            return;
        }
        let old = state.history[state.next];
        // (p - old) / old >= m / 10^(d+4)  <=>  (p - old) * 10^(d+4) >= m * old   (old > 0)
        let scale = i128::from(POW10[self.threshold.decimals as usize + 4]);
        let lhs = i128::from(p - old) * scale;
        let rhs = i128::from(self.threshold.mantissa) * i128::from(old);
        let signals = Signals::reversal(lhs >= rhs, lhs <= -rhs);
        // A refused action is counted by the buffer; there is nothing else to do about it.
        let _ = self.mode.act(ctx, out, slot, state.spec.qty, signals);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InstrumentId, InstrumentSpec, Nanos, Price, Qty, Side};
    use crate::strategy::StrategyKind;
    use crate::strategy::testing::Harness;

    fn trade(raw: i64) -> Tick {
        Tick::trade(Nanos(0), InstrumentId(0), Price(raw), None)
    }

    #[test]
    fn signals_table() {
        struct Case {
            name: &'static str,
            prices: &'static [i64],
            expected: &'static [Option<Side>],
        }
        // lookback 2, threshold 100 bps = 1%.
        let cases = [
            Case {
                name: "exactly one percent enters",
                prices: &[100, 100, 101],
                expected: &[None, None, Some(Side::Buy)],
            },
            Case {
                name: "below threshold stays flat",
                prices: &[1000, 1000, 1009],
                expected: &[None, None, None],
            },
            Case {
                name: "drop exits",
                prices: &[100, 100, 102, 102, 100],
                expected: &[None, None, Some(Side::Buy), None, Some(Side::Sell)],
            },
        ];
        for case in cases {
            let spec = SlotSpec {
                price_precision: 0,
                qty: Qty(1),
            };
            let strategy = Momentum::new(
                2,
                Decimal {
                    mantissa: 100,
                    decimals: 0,
                },
                PriceSource::Last,
                Mode::LongFlat,
                &[spec],
            );
            let spec = InstrumentSpec::new("X", 0, 0);
            let mut h = Harness::with_kind(StrategyKind::Momentum(strategy), &[spec]);
            let ticks: Vec<Tick> = case.prices.iter().map(|&p| trade(p)).collect();
            let got = h.sides(&ticks);
            assert_eq!(got, case.expected, "{}", case.name);
        }
    }
}
