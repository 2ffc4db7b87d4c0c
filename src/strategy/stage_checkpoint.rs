//! The strategy stage's part of a checkpoint. So far: each book's strategy state (what
//! `Strategy::checkpoint` returns). The stage's own run state (clock, ids, books' open
//! orders, timers, counters, order log) is next; see docs/design/checkpoints.md.

use super::StrategyStage;

impl StrategyStage {
    /// Each book's strategy state, in book order; `None` where a strategy keeps none.
    pub fn strategy_states(&self) -> Vec<Option<Vec<u8>>> {
        self.core
            .books
            .iter()
            .map(|b| b.strategy.checkpoint())
            .collect()
    }

    /// Puts a state from [`StrategyStage::strategy_states`] back into book `book`'s strategy.
    ///
    /// # Errors
    /// No such book, or the bytes are not its strategy's state.
    pub fn restore_strategy(&mut self, book: usize, state: &[u8]) -> Result<(), String> {
        let b = self
            .core
            .books
            .get_mut(book)
            .ok_or_else(|| format!("strategy checkpoint: no book {book}"))?;
        b.strategy.restore(state)
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::{Decimal, InstrumentId, InstrumentSpec, Nanos, Price, RejectReason, Tick};
    use crate::strategy::position::Mode;
    use crate::strategy::testing::Harness;
    use crate::strategy::{
        PriceSource, SlotSpec, StrategyKind, breakout, ema_cross, mean_reversion, momentum,
    };

    /// A name and a way to build a fresh instance of it.
    type Maker = (&'static str, fn() -> StrategyKind);

    fn kinds() -> Vec<Maker> {
        fn slots() -> Vec<SlotSpec> {
            vec![SlotSpec {
                price_precision: 2,
                qty: crate::domain::Qty(1),
            }]
        }
        vec![
            ("ema_cross", || {
                StrategyKind::EmaCross(ema_cross::EmaCross::new(
                    5,
                    20,
                    PriceSource::Mid,
                    Mode::LongShort,
                    &slots(),
                ))
            }),
            ("momentum", || {
                StrategyKind::Momentum(momentum::Momentum::new(
                    15,
                    Decimal {
                        mantissa: 5,
                        decimals: 0,
                    },
                    PriceSource::Mid,
                    Mode::LongShort,
                    &slots(),
                ))
            }),
            ("mean_reversion", || {
                StrategyKind::MeanReversion(mean_reversion::MeanReversion::new(
                    30,
                    1.0,
                    0.2,
                    PriceSource::Mid,
                    Mode::LongShort,
                    &slots(),
                ))
            }),
            ("breakout", || {
                StrategyKind::Breakout(breakout::Breakout::new(
                    25,
                    PriceSource::Mid,
                    Mode::LongShort,
                    &slots(),
                ))
            }),
        ]
    }

    /// A quote on a wave with a wobble on top; every order the strategy asks for is
    /// refused, so its book stays flat and only its own state carries over a cut.
    fn step(h: &mut Harness, i: u64) -> Vec<String> {
        let mid = 10_000.0 + 300.0 * (i as f64 / 40.0).sin() + 40.0 * ((i * 7) as f64).sin();
        let mid = mid.round() as i64;
        let quote = Tick::quote(
            Nanos(1_000 + i),
            InstrumentId(0),
            Some(Price(mid - 1)),
            Some(Price(mid + 1)),
            None,
            None,
        );
        let requests: Vec<_> = h.tick(quote).to_vec();
        let mut out = Vec::new();
        for r in requests {
            out.push(format!("{i}:{:?}:{:?}", r.side, r.kind));
            h.reject(r.id, RejectReason::MaxPosition);
        }
        out
    }

    #[test]
    fn every_rule_strategy_goes_on_after_a_restore_as_if_never_stopped() {
        let spec = [InstrumentSpec::new("X", 2, 0)];
        for (name, make) in kinds() {
            let mut whole = Harness::with_kind(make(), &spec);
            for i in 0..500 {
                step(&mut whole, i);
            }
            let state = whole.strategy_state().expect("a rule strategy keeps state");
            let mut resumed = Harness::with_kind(make(), &spec);
            let fresh = Harness::with_kind(make(), &spec).strategy_state();
            assert_ne!(Some(state.clone()), fresh, "{name}: 500 ticks leave state");
            resumed.restore_strategy(&state).unwrap();
            assert_eq!(resumed.strategy_state(), Some(state.clone()), "{name}");
            let (mut want, mut got) = (Vec::new(), Vec::new());
            for i in 500..1_500 {
                want.extend(step(&mut whole, i));
                got.extend(step(&mut resumed, i));
            }
            assert!(want.len() > 4, "{name} trades after the cut: {want:?}");
            assert_eq!(got, want, "{name}");
            assert_eq!(resumed.strategy_state(), whole.strategy_state(), "{name}");
            let err = resumed
                .restore_strategy(&state[..state.len() - 1])
                .unwrap_err();
            assert!(err.contains("checkpoint"), "{name}: {err}");
        }
    }
}
