//! Events that follow a tick through the pipeline: `Signal` → `Order` → `Fill`. All are small
//! `Copy` structs carrying the seq of the tick that caused them (`correlation`).

use super::fixed::{Money, Price, Qty};
use super::instrument::InstrumentId;
use super::tick::Nanos;

/// Dense index of a strategy instance, in load order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StrategyId(pub u32);

/// Dense index of a broker (one venue and one set of risk limits each).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BrokerId(pub u32);

/// Dense index of a book: one (strategy, broker) pair, the unit of positions and PnL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BookId(pub u32);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Side {
    #[default]
    Buy,
    Sell,
}

impl Side {
    /// +1 for BUY, -1 for SELL.
    #[inline]
    pub fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

/// Market or limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OrderType {
    #[default]
    Market,
    /// Fills when the market reaches the price (BUY: ask <= limit; SELL: bid >= limit).
    Limit(Price),
}

/// A strategy's wish to trade, before risk and before it is split per broker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Signal {
    /// Seq of the tick that caused it.
    pub correlation: u64,
    /// Event time of that tick.
    pub ts: Nanos,
    pub strategy: StrategyId,
    pub instrument: InstrumentId,
    pub side: Side,
    pub qty: Qty,
    pub order_type: OrderType,
}

/// An order for one broker, as approved by risk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Order {
    /// Monotonic per run, assigned by the risk stage.
    pub id: u64,
    pub correlation: u64,
    /// Event time of the tick that caused it.
    pub ts: Nanos,
    pub book: BookId,
    pub broker: BrokerId,
    pub strategy: StrategyId,
    pub instrument: InstrumentId,
    pub side: Side,
    pub qty: Qty,
    pub order_type: OrderType,
}

/// An execution of (all of) an order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fill {
    pub order_id: u64,
    pub correlation: u64,
    /// Event time of the tick the order filled on.
    pub ts: Nanos,
    pub book: BookId,
    pub broker: BrokerId,
    pub strategy: StrategyId,
    pub instrument: InstrumentId,
    pub side: Side,
    pub qty: Qty,
    pub price: Price,
    pub fee: Money,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_stay_small() {
        assert!(std::mem::size_of::<Signal>() <= 64, "signal");
        assert!(std::mem::size_of::<Order>() <= 80, "order");
        assert!(std::mem::size_of::<Fill>() <= 96, "fill");
    }
}
