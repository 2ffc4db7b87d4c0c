//! Execution: the `Venue` contract and the paper (simulated) venue used by backtests and by
//! paper trading on live data.

pub mod config;
pub mod paper;

use crate::domain::{Fill, Order, Tick};

pub use config::BrokerConfig;
pub use paper::PaperVenue;

/// A broker's venue. Fills are written into a caller-owned buffer (no allocation once it has
/// grown to the largest burst).
pub trait Venue {
    /// Accepts an approved order raised on `tick`; may fill it at once.
    fn submit(&mut self, order: Order, tick: &Tick, fills: &mut Vec<Fill>);
    /// Market data: fills resting orders the tick makes executable.
    fn on_tick(&mut self, tick: &Tick, fills: &mut Vec<Fill>);
    /// Cancels a resting order; false when it is not resting (filled or unknown).
    fn cancel(&mut self, order_id: u64) -> bool;
    /// Orders accepted and not yet filled or cancelled.
    fn open_orders(&self) -> usize;
}
