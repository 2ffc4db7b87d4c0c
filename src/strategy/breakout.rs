//! Breakout on a rolling channel of the previous `window` inputs (the current one excluded):
//! a long entry (and short exit) when `p > high`, a long exit (and short entry) when
//! `p < low`; `Mode` turns them into orders. The channel is kept with monotonic deques in
//! preallocated rings: O(1) amortised per tick, no allocation.

use super::position::{Mode, Signals};
use super::window::{ExtremesState, SlidingExtremes};
use super::{Actions, Context, PriceSource, SlotSpec, Strategy, price_input_x2};
use crate::domain::Tick;

#[derive(Debug)]
struct Slot {
    channel: SlidingExtremes,
    spec: SlotSpec,
}

#[derive(Debug)]
pub struct Breakout {
    window: u64,
    source: PriceSource,
    mode: Mode,
    slots: Vec<Slot>,
}

impl Breakout {
    pub fn new(window: u32, source: PriceSource, mode: Mode, slots: &[SlotSpec]) -> Breakout {
        Breakout {
            window: u64::from(window),
            source,
            mode,
            slots: slots
                .iter()
                .map(|s| Slot {
                    channel: SlidingExtremes::new(window),
                    spec: *s,
                })
                .collect(),
        }
    }
}

impl Strategy for Breakout {
    fn checkpoint(&self) -> Option<Vec<u8>> {
        let state: Vec<ExtremesState> = self.slots.iter().map(|s| s.channel.state()).collect();
        Some(super::encode_state(&state))
    }

    /// On error some slots may be restored already: the engine is built again then.
    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let state: Vec<ExtremesState> = super::decode_state(state)?;
        if state.len() != self.slots.len() {
            return Err(format!(
                "breakout checkpoint: {} instruments, this strategy has {}",
                state.len(),
                self.slots.len()
            ));
        }
        for (slot, s) in self.slots.iter_mut().zip(&state) {
            slot.channel.restore(s)?;
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
        // The channel is read before the current input joins it.
        let signals = match state.channel.range() {
            Some((high, low)) if state.channel.pushed() >= self.window => {
                Some(Signals::reversal(p > high, p < low))
            }
            _ => None,
        };
        state.channel.push(p);
        if let Some(signals) = signals {
            // A refused action is counted by the buffer; there is nothing else to do.
            let _ = self.mode.act(ctx, out, slot, state.spec.qty, signals);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InstrumentId, InstrumentSpec, Nanos, Price, Qty, Side};
    use crate::strategy::StrategyKind;
    use crate::strategy::testing::Harness;

    fn run(window: u32, prices: &[i64]) -> Vec<Option<Side>> {
        let slot = SlotSpec {
            price_precision: 0,
            qty: Qty(1),
        };
        let spec = InstrumentSpec::new("X", 0, 0);
        let strategy = Breakout::new(window, PriceSource::Last, Mode::LongFlat, &[slot]);
        let mut h = Harness::with_kind(StrategyKind::Breakout(strategy), &[spec]);
        let ticks: Vec<Tick> = prices
            .iter()
            .map(|&p| Tick::trade(Nanos(0), InstrumentId(0), Price(p), None))
            .collect();
        h.sides(&ticks)
    }

    #[test]
    fn channel_table() {
        type Case = (&'static str, u32, &'static [i64], &'static [Option<Side>]);
        let cases: [Case; 3] = [
            ("needs a full window", 3, &[1, 2, 3], &[None, None, None]),
            (
                "breaks the high then the low",
                3,
                &[5, 6, 7, 8, 7, 6, 4],
                &[
                    None,
                    None,
                    None,
                    Some(Side::Buy),
                    None,
                    Some(Side::Sell),
                    None,
                ],
            ),
            (
                "equal to the high is no breakout",
                2,
                &[5, 5, 5, 5],
                &[None, None, None, None],
            ),
        ];
        for (name, window, prices, expected) in cases {
            assert_eq!(run(window, prices), expected, "{name}");
        }
    }

    mod property_tests {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn matches_a_naive_channel(prices in proptest::collection::vec(0i64..50, 1..200), window in 1u32..12) {
                let got = run(window, &prices);
                let mut long = false;
                let w = window as usize;
                for i in 0..prices.len() {
                    let expected = if i >= w {
                        let past = &prices[i - w..i];
                        let (high, low) = (*past.iter().max().unwrap(), *past.iter().min().unwrap());
                        if !long && prices[i] > high { long = true; Some(Side::Buy) }
                        else if long && prices[i] < low { long = false; Some(Side::Sell) }
                        else { None }
                    } else { None };
                    prop_assert_eq!(got[i], expected, "input {}", i);
                }
            }
        }
    }
}
