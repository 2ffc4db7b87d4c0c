//! Mean reversion on the z-score of the price against its rolling mean and
//! standard deviation over the last `window` inputs (the current one included):
//! long entry when `z <= -entry_z`, long exit when `z >= -exit_z`; mirrored for shorts (short
//! entry `z >= entry_z`, short exit `z <= exit_z`). `Mode` turns them into orders.
//! Rolling sums are exact integers (no drift); only the final ratio is a float.

use super::position::{Mode, Signals};
use super::window::{MomentsState, RollingMoments};
use super::{Actions, Context, PriceSource, SlotSpec, Strategy, price_input_x2};
use crate::domain::Tick;

#[derive(Debug)]
struct Slot {
    window: RollingMoments,
    spec: SlotSpec,
}

#[derive(Debug)]
pub struct MeanReversion {
    entry_z: f64,
    exit_z: f64,
    source: PriceSource,
    mode: Mode,
    slots: Vec<Slot>,
}

impl MeanReversion {
    pub fn new(
        window: u32,
        entry_z: f64,
        exit_z: f64,
        source: PriceSource,
        mode: Mode,
        slots: &[SlotSpec],
    ) -> MeanReversion {
        MeanReversion {
            entry_z,
            exit_z,
            source,
            mode,
            slots: slots
                .iter()
                .map(|s| Slot {
                    window: RollingMoments::new(window as usize),
                    spec: *s,
                })
                .collect(),
        }
    }
}

impl Strategy for MeanReversion {
    fn checkpoint(&self) -> Option<Vec<u8>> {
        let state: Vec<MomentsState> = self.slots.iter().map(|s| s.window.state()).collect();
        Some(super::encode_state(&state))
    }

    /// On error some slots may be restored already: the engine is built again then.
    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let state: Vec<MomentsState> = super::decode_state(state)?;
        if state.len() != self.slots.len() {
            return Err(format!(
                "mean_reversion checkpoint: {} instruments, this strategy has {}",
                state.len(),
                self.slots.len()
            ));
        }
        for (slot, s) in self.slots.iter_mut().zip(&state) {
            slot.window.restore(s)?;
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
        state.window.push(p);
        if !state.window.is_full() {
            return;
        }
        let Some(z) = state.window.zscore(p) else {
            return;
        };
        let signals = Signals {
            long_entry: z <= -self.entry_z,
            long_exit: z >= -self.exit_z,
            short_entry: z >= self.entry_z,
            short_exit: z <= self.exit_z,
        };
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

    fn harness(window: u32, entry_z: f64, exit_z: f64) -> Harness {
        let slot = SlotSpec {
            price_precision: 0,
            qty: Qty(1),
        };
        let spec = InstrumentSpec::new("X", 0, 0);
        let strategy = MeanReversion::new(
            window,
            entry_z,
            exit_z,
            PriceSource::Last,
            Mode::LongFlat,
            &[slot],
        );
        Harness::with_kind(StrategyKind::MeanReversion(strategy), &[spec])
    }

    fn trades(prices: &[i64]) -> Vec<Tick> {
        prices
            .iter()
            .map(|&p| Tick::trade(Nanos(0), InstrumentId(0), Price(p), None))
            .collect()
    }

    #[test]
    fn buys_the_dip_and_exits_at_the_mean() {
        let got = harness(4, 1.0, 0.0).sides(&trades(&[100, 101, 100, 101, 90, 95, 100, 101]));
        assert_eq!(
            got,
            vec![
                None,
                None,
                None,
                None,
                Some(Side::Buy),
                None,
                Some(Side::Sell),
                None
            ]
        );
    }

    #[test]
    fn flat_prices_give_no_signal() {
        let got = harness(3, 0.5, 0.0).sides(&trades(&[7; 10]));
        assert_eq!(got, vec![None; 10]);
    }
}
