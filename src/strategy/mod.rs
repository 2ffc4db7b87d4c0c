//! Strategies: the public `Strategy` contract, the closed set of built-in kinds config picks
//! from (plus one variant for strategies users register), and the strategy stage that runs
//! them: instrument → strategies index, order events back to their strategy, timers.
//!
//! Contract of a strategy (see `docs/STRATEGY_API.md`):
//! - It reacts to three events: a tick of one of its instruments (`on_tick`), an event about
//!   one of its own orders (`on_order_event`: accepted, rejected with a reason code,
//!   partially filled, filled, cancelled, expired, modified, cancel/modify rejected), and a
//!   timer it set on the event clock (`on_timer`).
//! - It reads its state from a `Context` (filled position, average price, open orders, last
//!   quote and trade, event time) and writes what it wants into `Actions` (orders, modifies,
//!   cancels, timers). Both are caller-owned: nothing allocates.
//! - Callbacks run on the hot path: no allocation, lock, log formatting, clock read or I/O.
//!   Given the same events in the same order, a strategy must decide the same way (no
//!   randomness unless seeded, no wall time, no hash-map iteration order).
//! - Built-in kinds are dispatched by `match`; a user's strategy enters through
//!   `StrategyKind::User`, one `Box<dyn Strategy>` call per event.

pub mod actions;
pub mod book;
pub mod breakout;
pub mod compute;
pub mod config;
pub mod context;
pub mod ema_cross;
pub mod index;
pub mod mean_reversion;
pub mod momentum;
pub mod params;
pub mod position;
pub mod registry;
pub mod stage;
pub mod testing;
pub mod timer;
pub(crate) mod window;

use crate::domain::{OrderEvent, POW10, Qty, Tick};

pub use crate::domain::{Market, Quote, Trade};
pub use actions::{Action, ActionError, Actions};
pub use book::{BookState, OpenOrder, OrderRecord, OrderStatus};
pub use config::{PriceSource, StrategyConfig, StrategyParams, load_strategies};
pub use context::Context;
pub use index::{DispatchEntry, StrategyIndex};
pub use params::{MAX_WINDOW, Params, Setup};
pub use position::{Mode, Signals};
pub use registry::{Registry, UserKind};
pub use stage::StrategyStage;

/// The behaviour contract of every strategy, built in or written by a user.
pub trait Strategy: Send {
    /// A tick of one of the strategy's instruments (`ctx.slot()` is its slot).
    fn on_tick(&mut self, ctx: &Context<'_>, tick: &Tick, out: &mut Actions);

    /// An event about one of the strategy's orders, after the book and the portfolio have
    /// applied it (so `ctx` already shows the fill or the cancel).
    fn on_order_event(&mut self, ctx: &Context<'_>, event: &OrderEvent, out: &mut Actions) {
        let _ = (ctx, event, out);
    }

    /// A timer set with `Actions::set_timer`, at the first event time at or after its
    /// deadline.
    fn on_timer(&mut self, ctx: &Context<'_>, token: u64, out: &mut Actions) {
        let _ = (ctx, token, out);
    }

    /// The strategy's own state for a checkpoint (windows, indicators, flags: not the book's
    /// orders, positions or timers, which the engine keeps), or `None` when it cannot be
    /// checkpointed: then a restart replays every journaled tick through it instead.
    /// [`encode_state`] writes any serde type.
    fn checkpoint(&self) -> Option<Vec<u8>> {
        None
    }

    /// Puts back what [`Strategy::checkpoint`] returned into the strategy freshly built from
    /// the same config. Must not allocate what the tick path will grow into (refill the
    /// buffers made at construction). [`decode_state`] reads what `encode_state` wrote.
    ///
    /// # Errors
    /// The bytes are not this strategy's state.
    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let _ = state;
        Err("this strategy keeps no checkpoint".into())
    }
}

/// Encodes a strategy's state for [`Strategy::checkpoint`] (bincode: floats exactly).
pub fn encode_state<T: serde::Serialize>(state: &T) -> Vec<u8> {
    // A Vec sink cannot fail, and serde types of plain data always encode.
    bincode::serde::encode_to_vec(state, bincode::config::standard()).unwrap_or_default()
}

/// Decodes what [`encode_state`] wrote, all of it.
///
/// # Errors
/// The bytes are not a `T`, or more follow it.
pub fn decode_state<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let config = bincode::config::standard().with_limit::<{ 64 << 20 }>();
    match bincode::serde::decode_from_slice(bytes, config) {
        Ok((state, used)) if used == bytes.len() => Ok(state),
        Ok((_, used)) => Err(format!(
            "strategy checkpoint: {} bytes left over",
            bytes.len() - used
        )),
        Err(e) => Err(format!("strategy checkpoint: {e}")),
    }
}

/// Per-instrument facts a built-in strategy needs, fixed at construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotSpec {
    pub price_precision: u8,
    /// Order quantity in raw units of the instrument's quantity precision.
    pub qty: Qty,
}

/// Price input of a strategy for one tick, or `None` when the tick lacks it: the binary64
/// nearest the exact mid (two-sided quotes) or trade price.
#[inline]
pub fn price_input(source: PriceSource, tick: &Tick, precision: u8) -> Option<f64> {
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
pub fn price_input_x2(source: PriceSource, tick: &Tick) -> Option<i64> {
    match source {
        PriceSource::Mid => tick.mid_x2(),
        PriceSource::Last => tick.last().and_then(|p| p.0.checked_mul(2)),
    }
}

/// The closed set of strategy kinds, dispatched by `match` (no vtable for the built-ins).
pub enum StrategyKind {
    EmaCross(ema_cross::EmaCross),
    Momentum(momentum::Momentum),
    MeanReversion(mean_reversion::MeanReversion),
    Breakout(breakout::Breakout),
    /// Boxed: a model session and its buffers are much larger than a rule strategy.
    Ml(Box<crate::ml::MlStrategy>),
    /// A strategy registered by a user's crate under `kind`.
    User {
        kind: &'static str,
        strategy: Box<dyn Strategy>,
    },
}

impl std::fmt::Debug for StrategyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StrategyKind({})", self.kind_name())
    }
}

impl StrategyKind {
    /// The strategy's own state for a checkpoint (see [`Strategy::checkpoint`]); `None` for
    /// a strategy that keeps none (ML strategies, for now: their feature state is not
    /// serialized yet).
    pub fn checkpoint(&self) -> Option<Vec<u8>> {
        match self {
            StrategyKind::EmaCross(s) => s.checkpoint(),
            StrategyKind::Momentum(s) => s.checkpoint(),
            StrategyKind::MeanReversion(s) => s.checkpoint(),
            StrategyKind::Breakout(s) => s.checkpoint(),
            StrategyKind::Ml(_) => None,
            StrategyKind::User { strategy, .. } => strategy.checkpoint(),
        }
    }

    /// Puts back what [`StrategyKind::checkpoint`] returned.
    ///
    /// # Errors
    /// The bytes are not this strategy's state.
    pub fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        match self {
            StrategyKind::EmaCross(s) => s.restore(state),
            StrategyKind::Momentum(s) => s.restore(state),
            StrategyKind::MeanReversion(s) => s.restore(state),
            StrategyKind::Breakout(s) => s.restore(state),
            StrategyKind::Ml(_) => Err("ML strategies keep no checkpoint yet".into()),
            StrategyKind::User { strategy, .. } => strategy.restore(state),
        }
    }
    /// Builds a rule strategy for `params` with one slot per instrument; `None` for the
    /// kinds built elsewhere (ML around its loaded model, user kinds by their registry).
    pub fn rule(params: &StrategyParams, slots: &[SlotSpec]) -> Option<StrategyKind> {
        Some(match params {
            StrategyParams::EmaCross {
                fast,
                slow,
                price_source,
                mode,
            } => StrategyKind::EmaCross(ema_cross::EmaCross::new(
                *fast,
                *slow,
                *price_source,
                *mode,
                slots,
            )),
            StrategyParams::Momentum {
                lookback,
                threshold_bps,
                price_source,
                mode,
            } => StrategyKind::Momentum(momentum::Momentum::new(
                *lookback,
                *threshold_bps,
                *price_source,
                *mode,
                slots,
            )),
            StrategyParams::MeanReversion {
                window,
                entry_z,
                exit_z,
                price_source,
                mode,
            } => StrategyKind::MeanReversion(mean_reversion::MeanReversion::new(
                *window,
                *entry_z,
                *exit_z,
                *price_source,
                *mode,
                slots,
            )),
            StrategyParams::Breakout {
                window,
                price_source,
                mode,
            } => StrategyKind::Breakout(breakout::Breakout::new(
                *window,
                *price_source,
                *mode,
                slots,
            )),
            StrategyParams::Ml { .. } | StrategyParams::User { .. } => return None,
        })
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            StrategyKind::EmaCross(_) => "ema_cross",
            StrategyKind::Momentum(_) => "momentum",
            StrategyKind::MeanReversion(_) => "mean_reversion",
            StrategyKind::Breakout(_) => "breakout",
            StrategyKind::Ml(_) => "ml",
            StrategyKind::User { kind, .. } => kind,
        }
    }

    /// Whether the strategy reacts to order events and timers (the built-ins decide from the
    /// context alone, so the stage skips their callbacks).
    #[inline]
    pub fn listens(&self) -> bool {
        matches!(self, StrategyKind::User { .. })
    }

    /// The ML strategy inside, if this is one.
    pub fn as_ml(&self) -> Option<&crate::ml::MlStrategy> {
        match self {
            StrategyKind::Ml(ml) => Some(ml),
            _ => None,
        }
    }

    pub fn as_ml_mut(&mut self) -> Option<&mut crate::ml::MlStrategy> {
        match self {
            StrategyKind::Ml(ml) => Some(ml),
            _ => None,
        }
    }
}

impl Strategy for StrategyKind {
    #[inline]
    fn on_tick(&mut self, ctx: &Context<'_>, tick: &Tick, out: &mut Actions) {
        match self {
            StrategyKind::EmaCross(s) => s.on_tick(ctx, tick, out),
            StrategyKind::Momentum(s) => s.on_tick(ctx, tick, out),
            StrategyKind::MeanReversion(s) => s.on_tick(ctx, tick, out),
            StrategyKind::Breakout(s) => s.on_tick(ctx, tick, out),
            StrategyKind::Ml(s) => s.on_tick(ctx, tick, out),
            StrategyKind::User { strategy, .. } => strategy.on_tick(ctx, tick, out),
        }
    }

    #[inline]
    fn on_order_event(&mut self, ctx: &Context<'_>, event: &OrderEvent, out: &mut Actions) {
        // The built-ins decide from the context alone; only a user's strategy is told.
        if let StrategyKind::User { strategy, .. } = self {
            strategy.on_order_event(ctx, event, out);
        }
    }

    #[inline]
    fn on_timer(&mut self, ctx: &Context<'_>, token: u64, out: &mut Actions) {
        if let StrategyKind::User { strategy, .. } = self {
            strategy.on_timer(ctx, token, out);
        }
    }
}
