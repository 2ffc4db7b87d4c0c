//! The portfolio's run state for a checkpoint: marks, positions (with their FIFO lots),
//! equity, peaks and drawdowns, the sampled curve, the fill log and the fills per broker.
//! Configuration (instruments, valuations, tracked rows) is not in it: a checkpoint is put
//! back into a portfolio built from the same config, and a state of another shape is refused.

use serde::{Deserialize, Serialize};

use super::Portfolio;
use super::curve::CurveState;
use super::position::Position;
use crate::domain::{Fill, Money, Nanos};

/// What [`Portfolio::checkpoint`] keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortfolioState {
    /// Per instrument: doubled mark, books' net quantity, its value at the mark.
    marks: Vec<(i64, i64, Money)>,
    positions: Vec<Position>,
    equity: Vec<Money>,
    peak: Vec<Money>,
    max_drawdown: Vec<Money>,
    curve: CurveState,
    last_ts: Nanos,
    fills: Vec<Fill>,
    fills_by_broker: Vec<u64>,
}

impl Portfolio {
    /// The run state so far (off the tick path: it copies the fill log).
    ///
    /// # Errors
    /// The fill log's spilled records cannot be read back.
    pub fn checkpoint(&self) -> std::io::Result<PortfolioState> {
        Ok(PortfolioState {
            marks: self
                .marks
                .iter()
                .map(|m| (m.mark_x2, m.net_qty, m.mark_value))
                .collect(),
            positions: self.positions.clone(),
            equity: self.equity.clone(),
            peak: self.peak.clone(),
            max_drawdown: self.max_drawdown.clone(),
            curve: self.curve.state(),
            last_ts: self.last_ts,
            fills: self.fills.copy_all()?,
            fills_by_broker: self.fills_by_broker.clone(),
        })
    }

    /// Puts `state` into this portfolio, freshly built from the config the state was taken
    /// under (nothing booked yet).
    ///
    /// # Errors
    /// The state has another shape (instruments, books, currencies, brokers, curve).
    pub fn restore(&mut self, state: PortfolioState) -> Result<(), String> {
        let shape = |what: &str, got: usize, want: usize| {
            if got == want {
                Ok(())
            } else {
                Err(format!(
                    "portfolio checkpoint: {got} {what}, this engine has {want}"
                ))
            }
        };
        shape("instruments", state.marks.len(), self.marks.len())?;
        shape("positions", state.positions.len(), self.positions.len())?;
        shape("currencies", state.equity.len(), self.equity.len())?;
        shape("peaks", state.peak.len(), self.peak.len())?;
        shape(
            "drawdowns",
            state.max_drawdown.len(),
            self.max_drawdown.len(),
        )?;
        shape(
            "brokers",
            state.fills_by_broker.len(),
            self.fills_by_broker.len(),
        )?;
        if !self.fills.is_empty() {
            return Err("portfolio checkpoint: restored into a portfolio that booked fills".into());
        }
        self.curve.restore(state.curve)?;
        for (m, (mark_x2, net_qty, mark_value)) in self.marks.iter_mut().zip(state.marks) {
            m.mark_x2 = mark_x2;
            m.net_qty = net_qty;
            m.mark_value = mark_value;
        }
        self.positions = state.positions;
        for p in &mut self.positions {
            p.reserve_lots(8);
        }
        self.equity = state.equity;
        self.peak = state.peak;
        self.max_drawdown = state.max_drawdown;
        self.last_ts = state.last_ts;
        self.fills_by_broker = state.fills_by_broker;
        for fill in state.fills {
            self.fills.record(fill);
            self.fills.flush();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BookId, InstrumentId, InstrumentSpec, OrderEvent, Price, Side, Tick};

    fn specs() -> Vec<InstrumentSpec> {
        vec![
            InstrumentSpec::new("X", 2, 0),
            InstrumentSpec::new("Y", 1, 3),
        ]
    }

    fn fresh() -> Portfolio {
        let mut p = Portfolio::new(2, 1, &specs());
        p.track_rows(vec![
            (BookId(0), InstrumentId(0)),
            (BookId(1), InstrumentId(1)),
        ]);
        p
    }

    /// Ticks every 0.3 s over both instruments on a sawtooth (peaks, then drawdowns), and a
    /// fill every few ticks: mostly buys early (a position builds), both sides later.
    fn step(p: &mut Portfolio, i: u64) {
        let instrument = InstrumentId((i % 2) as u32);
        let mid = 10_000 + ((i % 3_000) as i64 - 1_500).abs() / 5;
        let tick = Tick::quote(
            Nanos(1_700_000_000_000_000_000 + i * 300_000_000),
            instrument,
            Some(Price(mid - 5)),
            Some(Price(mid + 5)),
            None,
            None,
        );
        p.on_tick(&tick);
        if i.is_multiple_of(3) {
            let side = if i < 2_000 || i.is_multiple_of(6) {
                Side::Buy
            } else {
                Side::Sell
            };
            let mut fill =
                OrderEvent::test_fill(side, 1 + (i % 4) as i64, mid, Money(i128::from(i % 2)));
            fill.instrument = instrument;
            fill.book = BookId((i % 2) as u32);
            fill.ts = tick.ts;
            p.on_event(&fill);
        }
        p.flush_logs();
    }

    fn observed(p: &mut Portfolio) -> String {
        let curve = p.curve();
        let rows: Vec<Vec<Money>> = (0..curve.len()).map(|i| curve.row(i).to_vec()).collect();
        let times = curve.times().to_vec();
        let reports =
            [(0, 0), (0, 1), (1, 0), (1, 1)].map(|(b, i)| p.report(BookId(b), InstrumentId(i)));
        let fills = p.take_fills();
        format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            p.equity(),
            p.max_drawdown(),
            times,
            rows,
            reports,
            p.final_sample(),
            p.fills_by_broker(),
            fills
        )
    }

    #[test]
    fn a_restored_portfolio_goes_on_exactly_as_the_uninterrupted_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut whole = fresh();
        let mut first = fresh();
        // Spilled, so the checkpoint reads fills back from disk too.
        first.spill_logs_to(dir.path()).unwrap();
        for i in 0..3_600 {
            step(&mut whole, i);
            step(&mut first, i);
        }
        let state = first.checkpoint().unwrap();
        assert!(
            first
                .equity()
                .iter()
                .zip(&state.peak)
                .any(|(e, p)| p > e && *p > Money::ZERO),
            "in a drawdown from a positive peak at the cut: {:?} {:?}",
            first.equity(),
            state.peak
        );
        let bytes = bincode::serde::encode_to_vec(&state, bincode::config::standard()).unwrap();
        let (decoded, _): (PortfolioState, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
        assert_eq!(decoded, state);
        let mut resumed = fresh();
        resumed.restore(decoded.clone()).unwrap();
        // At the cut, before anything else happens, too.
        let mut at_cut = fresh();
        at_cut.restore(decoded).unwrap();
        let mut uncut = fresh();
        for i in 0..3_600 {
            step(&mut uncut, i);
        }
        assert_eq!(observed(&mut at_cut), observed(&mut uncut));
        for i in 3_600..4_400 {
            step(&mut whole, i);
            step(&mut resumed, i);
            step(&mut first, i);
        }
        let want = observed(&mut whole);
        assert_eq!(observed(&mut resumed), want);
        assert_eq!(
            observed(&mut first),
            want,
            "taking a checkpoint changes nothing"
        );
    }

    #[test]
    fn a_state_of_another_shape_is_refused() {
        let mut p = fresh();
        step(&mut p, 0);
        let state = p.checkpoint().unwrap();
        let mut other = Portfolio::new(3, 1, &specs());
        let err = other.restore(state.clone()).unwrap_err();
        assert!(err.contains("positions"), "{err}");
        let mut untracked = Portfolio::new(2, 1, &specs());
        let err = untracked.restore(state.clone()).unwrap_err();
        assert!(err.contains("equity curve"), "{err}");
        let mut busy = fresh();
        step(&mut busy, 0);
        let err = busy.restore(state).unwrap_err();
        assert!(err.contains("booked fills"), "{err}");
    }
}
