//! A book's own view of its orders: the open orders (placed and not yet closed) and, per
//! instrument slot and side, the quantity they still have open. Kept by the strategy stage
//! from the book's actions (a new order is open at once, before the venue has seen it) and
//! from its order events, so a strategy decides on its real state: filled position (from the
//! portfolio) plus what is still open.
//!
//! The table has a fixed capacity (`MAX_OPEN_ORDERS`), allocated at start-up; lookups scan
//! it, which stays cheaper than hashing for the handful of orders a strategy keeps open.

use crate::domain::{
    BookId, BrokerId, ClientOrderId, InstrumentId, Nanos, OrderEvent, OrderEventKind, OrderRequest,
    OrderType, Qty, RejectReason, RequestKind, Side, TimeInForce,
};

/// Most orders one book may have open at once; a new order beyond it is refused at once
/// (`ActionError::TooManyOpenOrders`).
pub const MAX_OPEN_ORDERS: usize = 256;

/// One open order of a book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpenOrder {
    pub id: ClientOrderId,
    /// Position of the instrument in the strategy's instrument list.
    pub slot: usize,
    pub side: Side,
    /// Market, or limit at its current price.
    pub order_type: OrderType,
    pub tif: TimeInForce,
    /// Total quantity (after any modify).
    pub qty: Qty,
    pub filled: Qty,
    /// Still open: `qty - filled` until the order closes.
    pub leaves: Qty,
    /// The venue acknowledged it (`Accepted`); false while the order is on its way.
    pub accepted: bool,
    /// A cancel was asked for and not yet answered.
    pub cancel_pending: bool,
    /// A modify was asked for and not yet answered.
    pub modify_pending: bool,
    /// Event time it was placed at.
    pub placed: Nanos,
    /// Seq of the tick it was placed on.
    pub correlation: u64,
    /// Modifies that took effect.
    pub replaces: u32,
}

/// How an order ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OrderStatus {
    Filled,
    Cancelled,
    Expired,
    Rejected(RejectReason),
    /// Still open when the run ended.
    Open,
}

impl OrderStatus {
    pub fn name(self) -> &'static str {
        match self {
            OrderStatus::Filled => "filled",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Expired => "expired",
            OrderStatus::Rejected(_) => "rejected",
            OrderStatus::Open => "open",
        }
    }
}

/// An order as the orders report keeps it, once it ended (or the run did).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderRecord {
    pub book: BookId,
    pub instrument: InstrumentId,
    pub order: OpenOrder,
    pub status: OrderStatus,
    /// Event time it ended (the run's last event time for open orders).
    pub closed: Nanos,
}

/// A book: one strategy instance trading through one broker.
#[derive(Clone, Debug)]
pub struct BookState {
    pub(crate) id: BookId,
    pub(crate) broker: BrokerId,
    /// The strategy's instruments; an index into this list is a *slot*.
    pub(crate) instruments: Vec<InstrumentId>,
    orders: Vec<OpenOrder>,
    /// Per slot: open quantity of BUY and SELL orders, raw.
    open: Vec<[i64; 2]>,
}

impl BookState {
    pub fn new(id: BookId, broker: BrokerId, instruments: Vec<InstrumentId>) -> BookState {
        let slots = instruments.len();
        BookState {
            id,
            broker,
            instruments,
            orders: Vec::with_capacity(MAX_OPEN_ORDERS),
            open: vec![[0; 2]; slots],
        }
    }

    pub fn id(&self) -> BookId {
        self.id
    }

    /// Open orders in table order and open quantities per slot (a checkpoint).
    pub(crate) fn state(&self) -> (Vec<OpenOrder>, Vec<[i64; 2]>) {
        (self.orders.clone(), self.open.clone())
    }

    /// Puts a checkpoint's orders back into the table made at construction.
    pub(crate) fn restore(
        &mut self,
        orders: &[OpenOrder],
        open: &[[i64; 2]],
    ) -> Result<(), String> {
        if orders.len() > MAX_OPEN_ORDERS
            || open.len() != self.open.len()
            || orders.iter().any(|o| o.slot >= self.instruments.len())
        {
            return Err(format!(
                "book checkpoint: {} orders over {} slots, this book has {} slots",
                orders.len(),
                open.len(),
                self.open.len()
            ));
        }
        self.orders.clear();
        self.orders.extend_from_slice(orders);
        self.open.copy_from_slice(open);
        Ok(())
    }

    pub fn broker(&self) -> BrokerId {
        self.broker
    }

    pub fn instruments(&self) -> &[InstrumentId] {
        &self.instruments
    }

    /// The slot of `instrument`, if the strategy trades it.
    #[inline]
    pub fn slot_of(&self, instrument: InstrumentId) -> Option<usize> {
        self.instruments.iter().position(|&i| i == instrument)
    }

    pub fn orders(&self) -> &[OpenOrder] {
        &self.orders
    }

    #[inline]
    pub fn order(&self, id: ClientOrderId) -> Option<&OpenOrder> {
        self.orders.iter().find(|o| o.id == id)
    }

    pub(crate) fn order_mut(&mut self, id: ClientOrderId) -> Option<&mut OpenOrder> {
        self.orders.iter_mut().find(|o| o.id == id)
    }

    /// Open quantity of `side` on `slot`, raw.
    #[inline]
    pub fn open_qty(&self, slot: usize, side: Side) -> i64 {
        self.open[slot][side_index(side)]
    }

    /// Whether any order is open on `slot`.
    #[inline]
    pub fn has_open(&self, slot: usize) -> bool {
        self.open[slot] != [0, 0]
    }

    pub fn has_room(&self) -> bool {
        self.orders.len() < MAX_OPEN_ORDERS
    }

    /// Records an order the book just placed. False when the table is full.
    pub(crate) fn add(&mut self, order: OpenOrder) -> bool {
        if !self.has_room() {
            return false;
        }
        self.open[order.slot][side_index(order.side)] += order.leaves.0;
        self.orders.push(order);
        true
    }

    /// A new order of the book, recorded as open, and its request.
    #[allow(clippy::too_many_arguments, reason = "the fields of an order")]
    #[inline]
    pub(crate) fn place(
        &mut self,
        now: Nanos,
        seq: u64,
        id: ClientOrderId,
        slot: usize,
        side: Side,
        qty: Qty,
        order_type: OrderType,
        tif: TimeInForce,
        flatten: bool,
    ) -> OrderRequest {
        self.add(OpenOrder {
            id,
            slot,
            side,
            order_type,
            tif,
            qty,
            filled: Qty(0),
            leaves: qty,
            accepted: false,
            cancel_pending: false,
            modify_pending: false,
            placed: now,
            correlation: seq,
            replaces: 0,
        });
        let kind = RequestKind::New {
            qty,
            order_type,
            tif,
            flatten,
        };
        self.request(now, seq, id, slot, side, kind)
    }

    /// A request of the book about order `id` on `slot`.
    #[inline]
    pub(crate) fn request(
        &self,
        now: Nanos,
        seq: u64,
        id: ClientOrderId,
        slot: usize,
        side: Side,
        kind: RequestKind,
    ) -> OrderRequest {
        OrderRequest {
            id,
            book: self.id,
            broker: self.broker,
            instrument: self.instruments[slot],
            side,
            correlation: seq,
            ts: now,
            kind,
        }
    }

    /// The answer to a cancel or modify of an order the book does not have open.
    pub(crate) fn unknown_order(
        &self,
        now: Nanos,
        seq: u64,
        id: ClientOrderId,
        cancel: bool,
    ) -> OrderEvent {
        let reason = RejectReason::UnknownOrder;
        OrderEvent {
            id,
            book: self.id,
            broker: self.broker,
            instrument: self.instruments[0],
            side: Side::Buy,
            correlation: seq,
            ts: now,
            kind: if cancel {
                OrderEventKind::CancelRejected { reason }
            } else {
                OrderEventKind::ModifyRejected { reason }
            },
        }
    }

    /// Applies an event about one of the book's orders; returns the order's record when the
    /// event closed it. An `Accepted` event of an order the book did not place (one placed
    /// outside the engine) adds it.
    pub(crate) fn apply(&mut self, event: &OrderEvent, slot: usize) -> Option<OrderRecord> {
        let Some(at) = self.orders.iter().position(|o| o.id == event.id) else {
            if let OrderEventKind::Accepted {
                qty, order_type, ..
            } = event.kind
            {
                self.add(OpenOrder {
                    id: event.id,
                    slot,
                    side: event.side,
                    order_type,
                    tif: TimeInForce::Gtc,
                    qty,
                    filled: Qty(0),
                    leaves: qty,
                    accepted: true,
                    cancel_pending: false,
                    modify_pending: false,
                    placed: event.ts,
                    correlation: event.correlation,
                    replaces: 0,
                });
            }
            return None;
        };
        let order = &mut self.orders[at];
        let side = side_index(order.side);
        let slot = order.slot;
        let old_leaves = order.leaves.0;
        match event.kind {
            OrderEventKind::Accepted { .. } => order.accepted = true,
            OrderEventKind::PartiallyFilled(e) | OrderEventKind::Filled(e) => {
                order.filled.0 += e.qty.0;
                order.leaves = e.leaves;
            }
            OrderEventKind::Modified {
                qty,
                order_type,
                leaves,
                ..
            } => {
                order.qty = qty;
                order.order_type = order_type;
                order.leaves = leaves;
                order.modify_pending = false;
                order.replaces += 1;
            }
            OrderEventKind::ModifyRejected { .. } => order.modify_pending = false,
            OrderEventKind::CancelRejected { .. } => order.cancel_pending = false,
            OrderEventKind::Rejected { .. }
            | OrderEventKind::Cancelled { .. }
            | OrderEventKind::Expired { .. } => order.leaves = Qty(0),
        }
        let new_leaves = order.leaves.0;
        self.open[slot][side] += new_leaves - old_leaves;
        if !(event.is_terminal() || new_leaves == 0) {
            return None;
        }
        let status = match event.kind {
            OrderEventKind::Rejected { reason, .. } => OrderStatus::Rejected(reason),
            OrderEventKind::Cancelled { .. } => OrderStatus::Cancelled,
            OrderEventKind::Expired { .. } => OrderStatus::Expired,
            _ => OrderStatus::Filled,
        };
        // Order of the table does not matter: lookups are by id.
        let order = self.orders.swap_remove(at);
        Some(OrderRecord {
            book: self.id,
            instrument: self.instruments[order.slot],
            order,
            status,
            closed: event.ts,
        })
    }

    /// Records of the orders still open, by id (end of a run).
    pub fn open_records(&self, now: Nanos) -> Vec<OrderRecord> {
        let mut records: Vec<OrderRecord> = self
            .orders
            .iter()
            .map(|&order| OrderRecord {
                book: self.id,
                instrument: self.instruments[order.slot],
                order,
                status: OrderStatus::Open,
                closed: now,
            })
            .collect();
        records.sort_by_key(|r| r.order.id);
        records
    }
}

#[inline]
fn side_index(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Execution, Price};

    fn order(id: u64, side: Side, qty: i64) -> OpenOrder {
        OpenOrder {
            id: ClientOrderId(id),
            slot: 0,
            side,
            order_type: OrderType::Limit(Price(100)),
            tif: TimeInForce::Gtc,
            qty: Qty(qty),
            filled: Qty(0),
            leaves: Qty(qty),
            accepted: false,
            cancel_pending: false,
            modify_pending: false,
            placed: Nanos(0),
            correlation: 0,
            replaces: 0,
        }
    }

    fn event(id: u64, side: Side, kind: OrderEventKind) -> OrderEvent {
        OrderEvent {
            id: ClientOrderId(id),
            book: BookId(0),
            broker: BrokerId(0),
            instrument: InstrumentId(0),
            side,
            correlation: 0,
            ts: Nanos(0),
            kind,
        }
    }

    fn fill(qty: i64, leaves: i64) -> Execution {
        Execution {
            qty: Qty(qty),
            price: Price(100),
            leaves: Qty(leaves),
            ..Execution::default()
        }
    }

    #[test]
    fn open_quantity_follows_the_life_of_orders() {
        let mut book = BookState::new(BookId(0), BrokerId(0), vec![InstrumentId(0)]);
        assert!(book.add(order(1, Side::Buy, 5)));
        assert!(book.add(order(2, Side::Sell, 3)));
        let steps: [(&str, OrderEvent, i64, i64, usize); 6] = [
            (
                "accepted",
                event(
                    1,
                    Side::Buy,
                    OrderEventKind::Accepted {
                        venue_id: 1,
                        qty: Qty(5),
                        order_type: OrderType::Limit(Price(100)),
                    },
                ),
                5,
                3,
                2,
            ),
            (
                "partial",
                event(1, Side::Buy, OrderEventKind::PartiallyFilled(fill(2, 3))),
                3,
                3,
                2,
            ),
            (
                "modified down",
                event(
                    1,
                    Side::Buy,
                    OrderEventKind::Modified {
                        qty: Qty(4),
                        order_type: OrderType::Limit(Price(101)),
                        leaves: Qty(2),
                        old_leaves: Qty(3),
                    },
                ),
                2,
                3,
                2,
            ),
            (
                "cancel refused",
                event(
                    2,
                    Side::Sell,
                    OrderEventKind::CancelRejected {
                        reason: crate::domain::RejectReason::UnknownOrder,
                    },
                ),
                2,
                3,
                2,
            ),
            (
                "cancelled",
                event(2, Side::Sell, OrderEventKind::Cancelled { leaves: Qty(3) }),
                2,
                0,
                1,
            ),
            (
                "filled",
                event(1, Side::Buy, OrderEventKind::Filled(fill(2, 0))),
                0,
                0,
                0,
            ),
        ];
        for (name, e, buys, sells, open) in steps {
            book.apply(&e, 0);
            assert_eq!(
                (
                    book.open_qty(0, Side::Buy),
                    book.open_qty(0, Side::Sell),
                    book.orders().len()
                ),
                (buys, sells, open),
                "{name}"
            );
        }
        assert!(!book.has_open(0));
    }

    #[test]
    fn an_order_placed_elsewhere_is_learnt_from_its_acceptance() {
        let mut book = BookState::new(BookId(0), BrokerId(0), vec![InstrumentId(4)]);
        book.apply(
            &event(
                99,
                Side::Sell,
                OrderEventKind::Accepted {
                    venue_id: 1,
                    qty: Qty(7),
                    order_type: OrderType::Market,
                },
            ),
            0,
        );
        assert_eq!(book.open_qty(0, Side::Sell), 7);
        assert_eq!(
            book.order(ClientOrderId(99)).map(|o| o.accepted),
            Some(true)
        );
    }

    #[test]
    fn the_table_refuses_orders_beyond_its_capacity() {
        let mut book = BookState::new(BookId(0), BrokerId(0), vec![InstrumentId(0)]);
        for id in 0..MAX_OPEN_ORDERS as u64 {
            assert!(book.add(order(id, Side::Buy, 1)));
        }
        assert!(!book.add(order(9999, Side::Buy, 1)));
        assert_eq!(book.open_qty(0, Side::Buy), MAX_OPEN_ORDERS as i64);
    }
}
