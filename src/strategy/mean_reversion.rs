//! Mean reversion, long/flat, on the z-score of the price against its rolling mean and
//! standard deviation over the last `window` inputs (the current one included):
//! BUY when flat and `z <= -entry_z`; SELL when long and `z >= -exit_z`.
//! Rolling sums are exact integers (no drift); only the final ratio is a float.

use super::window::RollingMoments;
use super::{Intent, LongFlat, PriceSource, SlotSpec, Strategy, price_input_x2};
use crate::domain::Tick;

#[derive(Debug)]
struct Slot {
    window: RollingMoments,
    position: LongFlat,
    spec: SlotSpec,
}

#[derive(Debug)]
pub struct MeanReversion {
    entry_z: f64,
    exit_z: f64,
    source: PriceSource,
    slots: Vec<Slot>,
}

impl MeanReversion {
    pub fn new(
        window: u32,
        entry_z: f64,
        exit_z: f64,
        source: PriceSource,
        slots: &[SlotSpec],
    ) -> MeanReversion {
        MeanReversion {
            entry_z,
            exit_z,
            source,
            slots: slots
                .iter()
                .map(|s| Slot {
                    window: RollingMoments::new(window as usize),
                    position: LongFlat::default(),
                    spec: *s,
                })
                .collect(),
        }
    }
}

impl Strategy for MeanReversion {
    #[inline]
    fn on_tick(&mut self, tick: &Tick, slot: usize) -> Option<Intent> {
        let state = &mut self.slots[slot];
        let p = price_input_x2(self.source, tick)?;
        state.window.push(p);
        if !state.window.is_full() {
            return None;
        }
        let z = state.window.zscore(p)?;
        state
            .position
            .step(z <= -self.entry_z, z >= -self.exit_z, state.spec.qty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InstrumentId, Nanos, Price, Qty, Side};

    #[test]
    fn buys_the_dip_and_exits_at_the_mean() {
        let spec = SlotSpec {
            price_precision: 0,
            qty: Qty(1),
        };
        let mut strategy = MeanReversion::new(4, 1.0, 0.0, PriceSource::Last, &[spec]);
        let prices = [100, 101, 100, 101, 90, 95, 100, 101];
        let got: Vec<Option<Side>> = prices
            .iter()
            .map(|&p| {
                strategy
                    .on_tick(&Tick::trade(Nanos(0), InstrumentId(0), Price(p), None), 0)
                    .map(|i| i.side)
            })
            .collect();
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
        let spec = SlotSpec {
            price_precision: 0,
            qty: Qty(1),
        };
        let mut strategy = MeanReversion::new(3, 0.5, 0.0, PriceSource::Last, &[spec]);
        for _ in 0..10 {
            assert_eq!(
                strategy.on_tick(&Tick::trade(Nanos(0), InstrumentId(0), Price(7), None), 0),
                None
            );
        }
    }
}
