//! A whole engine's run state between two ticks: the market, the strategy stage (with each
//! strategy's own state), the portfolio, risk and the paper venues. `None` when a strategy
//! keeps no checkpoint or a venue is a live broker (their state is the broker's). Put back
//! into an engine built from the same config; the runtime then goes on from the next tick.

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
