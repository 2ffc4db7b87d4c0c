//! Strategies: the `Strategy` contract, the closed set of kinds config picks from, and the
//! instrument → strategies index that dispatches each tick in O(1).
//!
//! Contract: `on_tick` runs on the hot path. It must not allocate, lock, log or read a clock,
//! and it returns at most one intent per tick. Rule strategies are long/flat: their *intended*
//! position changes when they signal, never when a fill arrives, so their signals do not
//! depend on fill timing (the inline and threaded runtimes agree).

pub mod breakout;
pub mod config;
pub mod ema_cross;
pub mod index;
pub mod mean_reversion;
pub mod momentum;
pub(crate) mod window;

use crate::domain::{OrderType, POW10, Qty, Side, Tick};

pub use config::{PriceSource, StrategyConfig, StrategyParams, load_strategies};
pub use index::{DispatchEntry, StrategyIndex};

/// What a strategy wants done on one instrument; the stage stamps ids and times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Intent {
    pub side: Side,
    pub qty: Qty,
    pub order_type: OrderType,
}

/// Per-instrument facts a strategy needs, fixed at construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotSpec {
    pub price_precision: u8,
    /// Order quantity in raw units of the instrument's quantity precision.
    pub qty: Qty,
}

/// The behaviour contract of every strategy.
pub trait Strategy {
    /// Reacts to a tick of the instrument at position `slot` of the strategy's instrument list.
    fn on_tick(&mut self, tick: &Tick, slot: usize) -> Option<Intent>;
}

/// Price input of a strategy for one tick, or `None` when the tick lacks it.
#[inline]
pub(crate) fn price_input(source: PriceSource, tick: &Tick, precision: u8) -> Option<f64> {
    match source {
        PriceSource::Mid => tick.mid_f64(precision),
        PriceSource::Last => tick
            .last()
            .map(|p| p.0 as f64 / POW10[precision as usize] as f64),
    }
}

/// Exact integer price input at twice the instrument precision's unit (`2 × price`), so a mid
/// stays an integer. Strategies that compare prices exactly use this.
#[inline]
pub(crate) fn price_input_x2(source: PriceSource, tick: &Tick) -> Option<i64> {
    match source {
        PriceSource::Mid => tick.mid_x2(),
        PriceSource::Last => tick.last().map(|p| p.0 * 2),
    }
}

/// Long/flat state machine shared by the rule strategies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LongFlat {
    long: bool,
}

impl LongFlat {
    /// BUY when flat and `enter`; SELL when long and `exit`.
    #[inline]
    pub(crate) fn step(&mut self, enter: bool, exit: bool, qty: Qty) -> Option<Intent> {
        if !self.long && enter {
            self.long = true;
            Some(Intent {
                side: Side::Buy,
                qty,
                order_type: OrderType::Market,
            })
        } else if self.long && exit {
            self.long = false;
            Some(Intent {
                side: Side::Sell,
                qty,
                order_type: OrderType::Market,
            })
        } else {
            None
        }
    }
}

/// The closed set of strategy kinds, dispatched by `match` (no vtable on the tick path).
#[derive(Debug)]
pub enum StrategyKind {
    EmaCross(ema_cross::EmaCross),
    Momentum(momentum::Momentum),
    MeanReversion(mean_reversion::MeanReversion),
    Breakout(breakout::Breakout),
    /// Boxed: a model session and its buffers are much larger than a rule strategy.
    Ml(Box<crate::ml::MlStrategy>),
}

impl StrategyKind {
    /// Builds a rule strategy for `params` with one slot per instrument; `None` for an ML
    /// strategy, which the engine builds around its loaded model.
    pub fn rule(params: &StrategyParams, slots: &[SlotSpec]) -> Option<StrategyKind> {
        Some(match params {
            StrategyParams::EmaCross {
                fast,
                slow,
                price_source,
            } => {
                StrategyKind::EmaCross(ema_cross::EmaCross::new(*fast, *slow, *price_source, slots))
            }
            StrategyParams::Momentum {
                lookback,
                threshold_bps,
                price_source,
            } => StrategyKind::Momentum(momentum::Momentum::new(
                *lookback,
                *threshold_bps,
                *price_source,
                slots,
            )),
            StrategyParams::MeanReversion {
                window,
                entry_z,
                exit_z,
                price_source,
            } => StrategyKind::MeanReversion(mean_reversion::MeanReversion::new(
                *window,
                *entry_z,
                *exit_z,
                *price_source,
                slots,
            )),
            StrategyParams::Breakout {
                window,
                price_source,
            } => StrategyKind::Breakout(breakout::Breakout::new(*window, *price_source, slots)),
            StrategyParams::Ml { .. } => return None,
        })
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            StrategyKind::EmaCross(_) => "ema_cross",
            StrategyKind::Momentum(_) => "momentum",
            StrategyKind::MeanReversion(_) => "mean_reversion",
            StrategyKind::Breakout(_) => "breakout",
            StrategyKind::Ml(_) => "ml",
        }
    }
}

impl Strategy for StrategyKind {
    #[inline]
    fn on_tick(&mut self, tick: &Tick, slot: usize) -> Option<Intent> {
        match self {
            StrategyKind::EmaCross(s) => s.on_tick(tick, slot),
            StrategyKind::Momentum(s) => s.on_tick(tick, slot),
            StrategyKind::MeanReversion(s) => s.on_tick(tick, slot),
            StrategyKind::Breakout(s) => s.on_tick(tick, slot),
            StrategyKind::Ml(s) => s.on_tick(tick, slot),
        }
    }
}
