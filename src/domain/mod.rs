//! Core value types. No I/O, no threads, no clocks, no logging.

pub mod decimal;
pub mod fixed;
pub mod instrument;
pub mod market;
pub mod order;
pub mod reject;
pub mod tick;
pub mod valuation;

pub use decimal::Decimal;
pub use fixed::{
    DecimalDisplay, DecimalError, MAX_DECIMALS, MONEY_SCALE, Money, POW10, Price, Qty,
};
pub use instrument::{
    CurrencyId, InstrumentError, InstrumentId, InstrumentSpec, InstrumentTable, InstrumentTerms,
};
pub use market::{Market, Quote, Trade};
pub use order::{
    BookId, BrokerId, ClientOrderId, Execution, Fill, Liquidity, Order, OrderEvent, OrderEventKind,
    OrderRequest, OrderType, RequestKind, Side, StrategyId, TimeInForce,
};
pub use reject::{RejectOrigin, RejectReason};
pub use tick::{Nanos, Tick, TickFlags, TickKind};
pub use valuation::{InstrumentKind, Valuation};
