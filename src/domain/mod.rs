//! Core value types. No I/O, no threads, no clocks, no logging.

pub mod decimal;
pub mod event;
pub mod fixed;
pub mod instrument;
pub mod tick;

pub use decimal::Decimal;
pub use event::{BookId, BrokerId, Fill, Order, OrderType, Side, Signal, StrategyId};
pub use fixed::{DecimalDisplay, DecimalError, MONEY_SCALE, Money, POW10, Price, Qty};
pub use instrument::{InstrumentError, InstrumentId, InstrumentSpec, InstrumentTable};
pub use tick::{Nanos, Tick, TickFlags, TickKind};
