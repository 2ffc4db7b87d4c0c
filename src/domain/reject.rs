//! Why an order request was refused, by risk or by the venue. A `Copy` value with a stable
//! code: reports, metrics labels and strategies match on it.

/// Who refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectOrigin {
    Risk,
    Venue,
}

/// Why an order (or a cancel or modify of one) was refused. Codes are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RejectReason {
    KillSwitch,
    DailyLoss,
    OrderRate,
    MaxOpenOrders,
    MaxOrderQty,
    MaxNotional,
    MaxPosition,
    /// The strategy's own position limit on its broker (`max_strategy_position`).
    StrategyPosition,
    PriceBand,
    /// No price to value the order with (no two-sided market yet).
    NoMarket,
    /// Cancel or modify of an order the venue does not hold (filled, cancelled, unknown).
    UnknownOrder,
    /// A quantity or price the venue cannot take (zero, negative).
    InvalidOrder,
    /// A modify the order cannot take: a market order, or a quantity at or below what
    /// already filled.
    InvalidModify,
    /// A limit price that is not a whole number of the instrument's tick size.
    TickSize,
    /// A quantity that is not a whole number of the instrument's lot size.
    LotSize,
    /// A live broker refused the order (its message is logged on the `trading` channel).
    BrokerRejected,
    /// A live broker could not be reached or asked to slow down, or its session expired; the
    /// order was not placed (never retried blind: that could double it).
    BrokerUnavailable,
    /// The journal could not write or sync (disk full, I/O error): nothing leaves the box
    /// that a restart could not account for (fail closed).
    JournalFailed,
}

impl RejectReason {
    pub const ALL: [RejectReason; 18] = [
        RejectReason::KillSwitch,
        RejectReason::DailyLoss,
        RejectReason::OrderRate,
        RejectReason::MaxOpenOrders,
        RejectReason::MaxOrderQty,
        RejectReason::MaxNotional,
        RejectReason::MaxPosition,
        RejectReason::StrategyPosition,
        RejectReason::PriceBand,
        RejectReason::NoMarket,
        RejectReason::UnknownOrder,
        RejectReason::InvalidOrder,
        RejectReason::InvalidModify,
        RejectReason::TickSize,
        RejectReason::LotSize,
        RejectReason::BrokerRejected,
        RejectReason::BrokerUnavailable,
        RejectReason::JournalFailed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            RejectReason::KillSwitch => "KILL_SWITCH",
            RejectReason::DailyLoss => "DAILY_LOSS",
            RejectReason::OrderRate => "ORDER_RATE",
            RejectReason::MaxOpenOrders => "MAX_OPEN_ORDERS",
            RejectReason::MaxOrderQty => "MAX_ORDER_QTY",
            RejectReason::MaxNotional => "NOTIONAL_LIMIT",
            RejectReason::MaxPosition => "POSITION_LIMIT",
            RejectReason::StrategyPosition => "STRATEGY_POSITION_LIMIT",
            RejectReason::PriceBand => "PRICE_BAND",
            RejectReason::NoMarket => "NO_MARKET",
            RejectReason::UnknownOrder => "UNKNOWN_ORDER",
            RejectReason::InvalidOrder => "INVALID_ORDER",
            RejectReason::InvalidModify => "INVALID_MODIFY",
            RejectReason::TickSize => "TICK_SIZE",
            RejectReason::LotSize => "LOT_SIZE",
            RejectReason::BrokerRejected => "BROKER_REJECTED",
            RejectReason::BrokerUnavailable => "BROKER_UNAVAILABLE",
            RejectReason::JournalFailed => "JOURNAL_FAILED",
        }
    }

    pub fn origin(self) -> RejectOrigin {
        match self {
            RejectReason::UnknownOrder
            | RejectReason::InvalidOrder
            | RejectReason::InvalidModify
            | RejectReason::BrokerRejected
            | RejectReason::BrokerUnavailable
            | RejectReason::JournalFailed => RejectOrigin::Venue,
            _ => RejectOrigin::Risk,
        }
    }

    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_indexed_in_order() {
        for (i, r) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{}", r.code());
            assert_eq!(
                RejectReason::ALL
                    .iter()
                    .filter(|o| o.code() == r.code())
                    .count(),
                1,
                "{}",
                r.code()
            );
        }
    }
}
