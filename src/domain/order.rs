//! Orders and what happens to them. A strategy's request gets a `ClientOrderId` at once;
//! risk turns an approved one into an `Order` for its broker's venue; the venue (or risk,
//! when it refuses) reports `OrderEvent`s back up the pipeline to risk, the portfolio and the
//! strategy that owns the order. All are small `Copy` values carrying the seq of the tick
//! the order was placed on (`correlation`, the order's trace id: its request, events,
//! fills and audit lines share it), so they can cross rings and be journaled as they are.

use super::fixed::{Money, Price, Qty};
use super::instrument::InstrumentId;
use super::reject::RejectReason;
use super::tick::Nanos;

/// Dense index of a configured strategy (one strategy file), in load order.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct StrategyId(pub u32);

/// Dense index of a broker (one venue and one set of risk limits each).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct BrokerId(pub u32);

/// Dense index of a book: one instance of a strategy trading through one broker. Each book
/// has its own strategy state, positions, open orders and PnL.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct BookId(pub u32);

/// An order's id, given by the strategy stage when the strategy asks for it (monotonic per
/// run, so runs are reproducible). Every event about the order carries it.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct ClientOrderId(pub u64);

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
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

    #[inline]
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
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
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum OrderType {
    #[default]
    Market,
    /// Fills when the market reaches the price (BUY: ask <= limit; SELL: bid >= limit).
    Limit(Price),
}

impl OrderType {
    pub fn limit_price(self) -> Option<Price> {
        match self {
            OrderType::Market => None,
            OrderType::Limit(p) => Some(p),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            OrderType::Market => "market",
            OrderType::Limit(_) => "limit",
        }
    }
}

/// How long an order stays open.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum TimeInForce {
    /// Good till cancelled.
    #[default]
    Gtc,
    /// Immediate or cancel: what does not fill on arrival expires.
    Ioc,
}

impl TimeInForce {
    pub fn name(self) -> &'static str {
        match self {
            TimeInForce::Gtc => "GTC",
            TimeInForce::Ioc => "IOC",
        }
    }
}

/// An order for one broker, as approved by risk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Order {
    pub id: ClientOrderId,
    /// Seq of the tick that caused it.
    pub correlation: u64,
    /// Event time of that tick.
    pub ts: Nanos,
    pub book: BookId,
    pub broker: BrokerId,
    pub instrument: InstrumentId,
    pub side: Side,
    pub qty: Qty,
    pub order_type: OrderType,
    pub tif: TimeInForce,
}

/// What a book asks for: a new order, or a change to one of its open orders. Made by the
/// strategy stage from a strategy's actions (or by the kill switch's flatten), checked by
/// risk, carried out by the venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderRequest {
    pub id: ClientOrderId,
    pub book: BookId,
    pub broker: BrokerId,
    pub instrument: InstrumentId,
    pub side: Side,
    /// Seq of the tick that caused it.
    pub correlation: u64,
    /// Event time of that tick.
    pub ts: Nanos,
    pub kind: RequestKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RequestKind {
    /// A new order. `flatten`: sent by the kill switch to close a position (risk lets it
    /// through whatever the kill switch mode).
    New {
        qty: Qty,
        order_type: OrderType,
        tif: TimeInForce,
        flatten: bool,
    },
    /// New total quantity and price of an open limit order; `filled` and `leaves` are what
    /// the book knew of it when it asked.
    Modify {
        qty: Qty,
        order_type: OrderType,
        filled: Qty,
        leaves: Qty,
    },
    Cancel,
}

impl OrderRequest {
    /// The order this request places, if it is a new order.
    #[inline]
    pub fn order(&self) -> Option<Order> {
        match self.kind {
            RequestKind::New {
                qty,
                order_type,
                tif,
                ..
            } => Some(Order {
                id: self.id,
                correlation: self.correlation,
                ts: self.ts,
                book: self.book,
                broker: self.broker,
                instrument: self.instrument,
                side: self.side,
                qty,
                order_type,
                tif,
            }),
            _ => None,
        }
    }

    /// The event that refuses this request for `reason`.
    #[inline]
    pub fn refusal(&self, reason: RejectReason) -> OrderEvent {
        let kind = match self.kind {
            RequestKind::New { qty, .. } => OrderEventKind::Rejected { reason, qty },
            RequestKind::Modify { .. } => OrderEventKind::ModifyRejected { reason },
            RequestKind::Cancel => OrderEventKind::CancelRejected { reason },
        };
        OrderEvent {
            id: self.id,
            book: self.book,
            broker: self.broker,
            instrument: self.instrument,
            side: self.side,
            correlation: self.correlation,
            ts: self.ts,
            kind,
        }
    }
}

/// Whether a fill added liquidity (a resting limit order) or took it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Liquidity {
    Maker,
    #[default]
    Taker,
}

impl Liquidity {
    pub fn name(self) -> &'static str {
        match self {
            Liquidity::Maker => "maker",
            Liquidity::Taker => "taker",
        }
    }
}

/// One execution of (part of) an order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Execution {
    pub qty: Qty,
    pub price: Price,
    pub fee: Money,
    /// Quantity still open after this execution (0: the order is done).
    pub leaves: Qty,
    pub liquidity: Liquidity,
}

/// What happened to an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OrderEventKind {
    /// The venue took the order. `qty` and `price` describe it, so an order the strategy did
    /// not place itself (a kill-switch flatten) is known from its first event.
    Accepted {
        venue_id: u64,
        qty: Qty,
        order_type: OrderType,
    },
    /// Refused by risk or the venue; `qty` is the order's (nothing of it is open).
    Rejected { reason: RejectReason, qty: Qty },
    /// Part of the order executed; `leaves > 0`.
    PartiallyFilled(Execution),
    /// The rest of the order executed; `leaves == 0`.
    Filled(Execution),
    /// Cancelled on request; `leaves` is what was still open.
    Cancelled { leaves: Qty },
    /// Closed by the venue (an IOC remainder); `leaves` is what was still open.
    Expired { leaves: Qty },
    /// A modify took effect: the order's new total `qty` and `price`, and its open quantity
    /// before (`old_leaves`) and after (`leaves`).
    Modified {
        qty: Qty,
        order_type: OrderType,
        leaves: Qty,
        old_leaves: Qty,
    },
    /// A cancel request was refused (the order was no longer open); the order is unchanged.
    CancelRejected { reason: RejectReason },
    /// A modify request was refused; the order is unchanged.
    ModifyRejected { reason: RejectReason },
}

/// An event about one order, for the book that owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderEvent {
    pub id: ClientOrderId,
    pub book: BookId,
    pub broker: BrokerId,
    pub instrument: InstrumentId,
    pub side: Side,
    /// Seq of the tick the order was placed on (a resting fill happens on a later tick, at
    /// `ts`).
    pub correlation: u64,
    /// Event time.
    pub ts: Nanos,
    pub kind: OrderEventKind,
}

impl OrderEvent {
    /// An event about `order` at `ts`, correlated with the tick that caused the order.
    #[inline]
    pub fn of(order: &Order, ts: Nanos, kind: OrderEventKind) -> OrderEvent {
        OrderEvent {
            id: order.id,
            book: order.book,
            broker: order.broker,
            instrument: order.instrument,
            side: order.side,
            correlation: order.correlation,
            ts,
            kind,
        }
    }

    /// Unit tests' fill: all of order 0 of book 0 (broker 0, instrument 0) executed at
    /// event time 0.
    #[cfg(test)]
    pub(crate) fn test_fill(side: Side, qty: i64, price: i64, fee: Money) -> OrderEvent {
        OrderEvent {
            id: ClientOrderId(0),
            book: BookId(0),
            broker: BrokerId(0),
            instrument: InstrumentId(0),
            side,
            correlation: 0,
            ts: Nanos(0),
            kind: OrderEventKind::Filled(Execution {
                qty: Qty(qty),
                price: Price(price),
                fee,
                ..Execution::default()
            }),
        }
    }

    /// The execution of a fill event.
    #[inline]
    pub fn execution(&self) -> Option<&Execution> {
        match &self.kind {
            OrderEventKind::PartiallyFilled(e) | OrderEventKind::Filled(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the order is closed after this event (nothing of it can fill any more).
    #[inline]
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.kind,
            OrderEventKind::Rejected { .. }
                | OrderEventKind::Filled(_)
                | OrderEventKind::Cancelled { .. }
                | OrderEventKind::Expired { .. }
        )
    }

    /// The stable name of the event kind, for logs and reports.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            OrderEventKind::Accepted { .. } => "accepted",
            OrderEventKind::Rejected { .. } => "rejected",
            OrderEventKind::PartiallyFilled(_) => "partially_filled",
            OrderEventKind::Filled(_) => "filled",
            OrderEventKind::Cancelled { .. } => "cancelled",
            OrderEventKind::Expired { .. } => "expired",
            OrderEventKind::Modified { .. } => "modified",
            OrderEventKind::CancelRejected { .. } => "cancel_rejected",
            OrderEventKind::ModifyRejected { .. } => "modify_rejected",
        }
    }

    /// The fill this event records, if it is one.
    #[inline]
    pub fn fill(&self) -> Option<Fill> {
        self.execution().map(|e| Fill {
            order_id: self.id,
            correlation: self.correlation,
            ts: self.ts,
            book: self.book,
            broker: self.broker,
            instrument: self.instrument,
            side: self.side,
            qty: e.qty,
            price: e.price,
            fee: e.fee,
            liquidity: e.liquidity,
        })
    }
}

/// A fill as the logs and reports keep it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fill {
    pub order_id: ClientOrderId,
    pub correlation: u64,
    /// Event time of the tick the order filled on.
    pub ts: Nanos,
    pub book: BookId,
    pub broker: BrokerId,
    pub instrument: InstrumentId,
    pub side: Side,
    pub qty: Qty,
    pub price: Price,
    pub fee: Money,
    pub liquidity: Liquidity,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_stay_small() {
        assert!(std::mem::size_of::<Order>() <= 64, "order");
        assert!(std::mem::size_of::<OrderEvent>() <= 112, "order event");
        assert!(std::mem::size_of::<Fill>() <= 96, "fill");
        assert!(std::mem::size_of::<OrderRequest>() <= 80, "request");
    }

    #[test]
    fn fill_events_give_fills_and_terminal_states() {
        let exec = Execution {
            qty: Qty(2),
            price: Price(100),
            leaves: Qty(1),
            ..Execution::default()
        };
        let mut event = OrderEvent {
            id: ClientOrderId(7),
            book: BookId(1),
            broker: BrokerId(0),
            instrument: InstrumentId(3),
            side: Side::Sell,
            correlation: 9,
            ts: Nanos(5),
            kind: OrderEventKind::PartiallyFilled(exec),
        };
        let fill = event.fill().expect("a fill");
        assert_eq!(
            (fill.order_id, fill.qty, fill.side),
            (ClientOrderId(7), Qty(2), Side::Sell)
        );
        assert!(!event.is_terminal(), "partial");
        event.kind = OrderEventKind::Filled(exec);
        assert!(event.is_terminal(), "filled");
        event.kind = OrderEventKind::CancelRejected {
            reason: RejectReason::UnknownOrder,
        };
        assert!(
            !event.is_terminal() && event.fill().is_none(),
            "cancel rejected"
        );
    }
}
