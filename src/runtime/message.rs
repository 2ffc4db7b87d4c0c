//! The messages that cross the threaded runtime's rings: a named, `Copy` contract (no heap
//! data), so a ring slot is a plain copy and a journal can record them as they are. `stamp`
//! fields are latency-timer stamps (0: not timed).
//!
//! Rings: feed → strategy (`ToStrategy`), strategy → risk (`ToRisk`), risk → execution
//! (`ToExecution`), and execution → risk and execution → strategy (`OrderEvent`).

use crate::domain::{BrokerId, Fill, OrderEvent, OrderRequest, RejectReason, Tick};

/// Feed → strategy. A canary is handled by every stage without changing any state.
#[derive(Clone, Copy, Debug)]
pub enum ToStrategy {
    Tick(Tick, u64),
    Canary(Tick, u64),
    /// Take a checkpoint after the ticks before it (their number): each stage settles,
    /// writes its part and passes it on (`runtime::checkpoint::Cut`).
    Checkpoint(u64),
}

/// Strategy → risk.
#[derive(Clone, Copy, Debug)]
pub enum ToRisk {
    /// Market data; `stamp` taken when the strategy stage sent it.
    Tick(Tick, u64),
    /// A request of a strategy; `stamp` taken when the strategy stage started on the tick
    /// (tick-to-order latency).
    Request(OrderRequest, u64),
    CanaryStart(Tick),
    CanaryRequest(OrderRequest),
    CanaryEnd(u64),
    Checkpoint(u64),
}

/// Risk → execution.
#[derive(Clone, Copy, Debug)]
pub enum ToExecution {
    Tick(Tick, u64),
    /// A request risk passed; `stamp` as in `ToRisk::Request`.
    Request(OrderRequest, u64),
    /// Risk's refusal, relayed so each book's events keep one order.
    Refused(OrderEvent),
    /// A canary order risk approved; the null venue only counts it.
    CanaryOrder,
    CanaryEnd(CanaryCounts),
    Checkpoint(u64),
}

/// What the canary met on its way, carried from risk to execution and back to the feed.
#[derive(Clone, Copy, Debug, Default)]
pub struct CanaryCounts {
    pub stamp: u64,
    /// Feed send to the null venue's acknowledgement, ns.
    pub latency_ns: u64,
    pub checked: u32,
    pub approved: u32,
    pub acked: u32,
    pub refused: Option<(BrokerId, RejectReason)>,
}

/// What the audit log records, sent by the stage threads to the audit writer over a ring
/// (a `Copy` value: no formatting or I/O on the stage threads).
#[derive(Clone, Copy, Debug)]
pub enum AuditEvent {
    /// A strategy's request (new order, modify, cancel), as the strategy stage sent it.
    Request(OrderRequest),
    /// A request risk passed, as execution hands it to the venue.
    Order(OrderRequest),
    /// An order event other than a fill (acceptance, refusal, cancel, expiry, modify).
    Event(OrderEvent),
    Fill(Fill),
}

/// Bytes of one slot of each ring (feed → strategy, strategy → risk, risk → execution,
/// execution → risk, execution → strategy): the message and the slot's stamp.
pub const fn ring_slot_bytes() -> [usize; 5] {
    const STAMP: usize = std::mem::size_of::<usize>();
    [
        std::mem::size_of::<ToStrategy>() + STAMP,
        std::mem::size_of::<ToRisk>() + STAMP,
        std::mem::size_of::<ToExecution>() + STAMP,
        std::mem::size_of::<OrderEvent>() + STAMP,
        std::mem::size_of::<OrderEvent>() + STAMP,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_messages_stay_small() {
        // A tick or an order event and a stamp; pinned so a field added by accident shows.
        assert!(std::mem::size_of::<ToStrategy>() <= 80, "to strategy");
        assert!(std::mem::size_of::<ToRisk>() <= 96, "to risk");
        assert!(std::mem::size_of::<ToExecution>() <= 128, "to execution");
    }
}
