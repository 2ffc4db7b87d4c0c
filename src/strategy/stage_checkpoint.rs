//! The strategy stage's part of a checkpoint: its clock and tick seq, the next order id, the
//! timers (with their order), the refused-action count and the counters, the order log, the
//! compute charger's cursor, and per book its open orders (in table order), its tick count
//! and its strategy's own state (`Strategy::checkpoint`). Taken between ticks, when no
//! answer is queued (`local` is empty); put back into a stage built from the same config.

use serde::{Deserialize, Serialize};

use super::{StrategyCounters, StrategyStage};
use crate::domain::Nanos;
use crate::strategy::book::{OpenOrder, OrderRecord};

/// One book's part of [`StageState`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct BookCheckpoint {
    orders: Vec<OpenOrder>,
    open: Vec<[i64; 2]>,
    ticks: u64,
    strategy: Vec<u8>,
}

/// What [`StrategyStage::checkpoint`] keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageState {
    now: Nanos,
    seq: u64,
    next_id: u64,
    timers: Vec<(u64, u64, u32, u64)>,
    timer_seq: u64,
    refused: u64,
    counters: StrategyCounters,
    orders: Vec<OrderRecord>,
    compute: (usize, u64, Vec<u32>),
    books: Vec<BookCheckpoint>,
}

impl StrategyStage {
    /// The run state so far, or `None` when a book's strategy keeps no checkpoint (a restart
    /// then replays every journaled tick).
    ///
    /// # Errors
    /// The order or compute log's spilled records cannot be read back.
    pub fn checkpoint(&self) -> std::io::Result<Option<StageState>> {
        let c = &self.core;
        debug_assert!(c.local.is_empty(), "a checkpoint between ticks");
        let mut books = Vec::with_capacity(c.books.len());
        for b in &c.books {
            let Some(strategy) = b.strategy.checkpoint() else {
                return Ok(None);
            };
            let (orders, open) = b.state.state();
            books.push(BookCheckpoint {
                orders,
                open,
                ticks: b.ticks,
                strategy,
            });
        }
        let (timers, timer_seq) = c.timers.state();
        Ok(Some(StageState {
            now: c.now,
            seq: c.seq,
            next_id: c.next_id,
            timers,
            timer_seq,
            refused: c.actions.refused(),
            counters: c.counters,
            orders: c.orders.copy_all()?,
            compute: c.compute.state()?,
            books,
        }))
    }

    /// Puts `state` into this stage, freshly built from the config it was taken under.
    /// On error the stage may be half restored: the engine is built again then.
    ///
    /// # Errors
    /// Another number of books, a book or timer table of another shape, or a strategy
    /// state its strategy refuses.
    pub fn restore(&mut self, state: StageState) -> Result<(), String> {
        let c = &mut self.core;
        if state.books.len() != c.books.len() {
            return Err(format!(
                "strategy checkpoint: {} books, this engine has {}",
                state.books.len(),
                c.books.len()
            ));
        }
        if !c.orders.is_empty() {
            return Err("strategy checkpoint: restored into a stage that logged orders".into());
        }
        for (b, s) in c.books.iter_mut().zip(&state.books) {
            b.state.restore(&s.orders, &s.open)?;
            b.strategy.restore(&s.strategy)?;
            b.ticks = s.ticks;
        }
        c.timers.restore(&state.timers, state.timer_seq)?;
        c.now = state.now;
        c.seq = state.seq;
        c.next_id = state.next_id;
        c.actions.set_refused(state.refused);
        c.counters = state.counters;
        for record in state.orders {
            c.orders.record(record);
            c.orders.flush();
        }
        let (next, exhausted, recorded) = state.compute;
        c.compute.restore(next, exhausted, &recorded);
        Ok(())
    }

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

    /// Rests a limit order far from the market when it has none, with a timer that cancels
    /// it a few ticks later; counts its ticks (its own state).
    struct Quoter {
        ticks: u64,
    }

    impl crate::strategy::Strategy for Quoter {
        fn on_tick(
            &mut self,
            ctx: &crate::strategy::Context<'_>,
            tick: &Tick,
            out: &mut crate::strategy::Actions,
        ) {
            self.ticks += 1;
            let bid = tick.bid;
            if ctx.open_orders().is_empty() && !self.ticks.is_multiple_of(3) {
                let price = Price(bid.0 - 50 - (self.ticks % 7) as i64);
                let side = if self.ticks.is_multiple_of(2) {
                    crate::domain::Side::Buy
                } else {
                    crate::domain::Side::Sell
                };
                if let Ok(id) = out.limit(
                    0,
                    side,
                    crate::domain::Qty(1 + (self.ticks % 3) as i64),
                    price,
                    crate::domain::TimeInForce::Gtc,
                ) {
                    let _ = out.set_timer(Nanos(ctx.now().0 + 4 + self.ticks % 5), id.0);
                }
            }
        }

        fn on_timer(
            &mut self,
            _ctx: &crate::strategy::Context<'_>,
            token: u64,
            out: &mut crate::strategy::Actions,
        ) {
            let _ = out.cancel(crate::domain::ClientOrderId(token));
        }

        fn checkpoint(&self) -> Option<Vec<u8>> {
            Some(crate::strategy::encode_state(&self.ticks))
        }

        fn restore(&mut self, state: &[u8]) -> Result<(), String> {
            self.ticks = crate::strategy::decode_state(state)?;
            Ok(())
        }
    }

    /// Accepts every new order and confirms every cancel, filling one order in five.
    fn venue_step(h: &mut Harness, i: u64) -> Vec<String> {
        let quote = Tick::quote(
            Nanos(1_000 + i),
            InstrumentId(0),
            Some(Price(10_000 + (i % 30) as i64)),
            Some(Price(10_002 + (i % 30) as i64)),
            None,
            None,
        );
        let mut log = Vec::new();
        let mut pending: Vec<_> = h.tick(quote).to_vec();
        while let Some(r) = pending.pop() {
            log.push(format!("{i}:{:?}:{:?}:{:?}", r.id, r.side, r.kind));
            let answer: Vec<_> = match r.kind {
                crate::domain::RequestKind::New { qty, .. } if r.id.0 % 5 == 0 => {
                    h.accept(r.id);
                    h.fill(r.id, qty, Price(10_000)).to_vec()
                }
                crate::domain::RequestKind::New { .. } => h.accept(r.id).to_vec(),
                _ => h.cancelled(r.id).to_vec(),
            };
            pending.extend(answer);
        }
        log
    }

    #[test]
    fn a_restored_stage_keeps_books_timers_ids_and_logs() {
        let spec = [InstrumentSpec::new("X", 2, 0)];
        let make = || Harness::new(Box::new(Quoter { ticks: 0 }), &spec);
        let mut whole = make();
        // The cut: the first tick from 300 on after which an order rests.
        let mut cut = 0;
        while cut < 300 || whole.orders().is_empty() {
            venue_step(&mut whole, cut);
            cut += 1;
        }
        let state = whole.checkpoint().expect("the quoter keeps state");
        let mut resumed = make();
        resumed.restore(state.clone()).unwrap();
        assert!(
            resumed.checkpoint() == Some(state.clone()),
            "everything kept is put back"
        );
        assert!(!whole.orders().is_empty(), "an order rests at the cut");
        assert_eq!(resumed.orders(), whole.orders());
        let (mut want, mut got) = (Vec::new(), Vec::new());
        for i in cut..cut + 600 {
            want.extend(venue_step(&mut whole, i));
            got.extend(venue_step(&mut resumed, i));
        }
        assert!(want.len() > 100, "{want:?}");
        assert_eq!(got, want);
        assert_eq!(resumed.counters(), whole.counters());
        assert_eq!(resumed.position(0), whole.position(0));
        let mut twice = make();
        twice.restore(state.clone()).unwrap();
        assert!(twice.restore(state).unwrap_err().contains("logged orders"));
    }
}
