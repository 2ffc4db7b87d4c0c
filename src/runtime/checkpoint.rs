//! A whole engine's run state between two ticks: the market, the strategy stage (with each
//! strategy's own state), the portfolio, risk and the paper venues. `None` when a strategy
//! keeps no checkpoint or a venue is a live broker (their state is the broker's). Put back
//! into an engine built from the same config; the runtime then goes on from the next tick.

use crossbeam_channel::Sender;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::Engine;
use crate::domain::Market;
use crate::execution::stage::ExecutionState;
use crate::portfolio::checkpoint::PortfolioState;
use crate::risk::checkpoint::RiskState;
use crate::strategy::stage::StageState;

/// What [`Engine::checkpoint`] keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineState {
    market: Market,
    strategy: StageState,
    portfolio: PortfolioState,
    risk: RiskState,
    execution: ExecutionState,
}

impl Engine {
    /// The run state between two ticks, or `None` when some part keeps none.
    ///
    /// # Errors
    /// A spilled log cannot be read back.
    pub fn checkpoint(&self) -> std::io::Result<Option<EngineState>> {
        let (Some(strategy), Some(execution)) =
            (self.strategy.checkpoint()?, self.execution.checkpoint())
        else {
            return Ok(None);
        };
        Ok(Some(EngineState {
            market: self.market.clone(),
            strategy,
            portfolio: self.portfolio.checkpoint()?,
            risk: self.risk.checkpoint(),
            execution,
        }))
    }

    /// Puts `state` into this engine, freshly built from the config it was taken under. On
    /// error the engine may be half restored: build it again (and replay instead).
    ///
    /// # Errors
    /// A part does not fit (another config, strategies or data).
    pub fn restore(&mut self, state: EngineState) -> Result<(), String> {
        self.market.restore(state.market)?;
        self.strategy.restore(state.strategy)?;
        self.portfolio.restore(state.portfolio)?;
        self.risk.restore(state.risk)?;
        self.execution.restore(state.execution)
    }
}

/// A checkpoint taken by the threaded runtime: after how many ticks, and the state (`None`
/// when some part keeps none).
pub type Taken = (u64, Option<EngineState>);

/// The parts of a threaded checkpoint on their way down the pipeline: the strategy thread
/// writes its part (with the portfolio and its market), risk its own, and execution, last,
/// puts them together with the venues' and sends the whole to `sink`. The rings are FIFO and
/// each stage settles before it writes (the strategy runs its barrier and cascade, risk its
/// sync), so the parts are one consistent cut without stopping the feed.
#[derive(Debug)]
pub(crate) struct Cut {
    strategy: Mutex<Option<(StageState, PortfolioState, Market)>>,
    risk: Mutex<Option<RiskState>>,
    sink: Sender<Taken>,
}

impl Cut {
    pub(crate) fn new(sink: Sender<Taken>) -> Cut {
        Cut {
            strategy: Mutex::new(None),
            risk: Mutex::new(None),
            sink,
        }
    }

    pub(crate) fn strategy_part(&self, part: Option<(StageState, PortfolioState, Market)>) {
        *self.strategy.lock() = part;
    }

    pub(crate) fn risk_part(&self, part: RiskState) {
        *self.risk.lock() = Some(part);
    }

    /// Execution's part: completes the checkpoint of tick count `ticks` and hands it over
    /// (never waits: a sink that is gone or full loses this checkpoint, not the run).
    pub(crate) fn finish(&self, ticks: u64, execution: Option<ExecutionState>) {
        let strategy = self.strategy.lock().take();
        let risk = self.risk.lock().take();
        let state = match (strategy, risk, execution) {
            (Some((strategy, portfolio, market)), Some(risk), Some(execution)) => {
                Some(EngineState {
                    market,
                    strategy,
                    portfolio,
                    risk,
                    execution,
                })
            }
            _ => None,
        };
        let _ = self.sink.try_send((ticks, state));
    }
}
