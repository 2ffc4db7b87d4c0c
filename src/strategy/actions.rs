//! What a strategy asks for: orders, modifies, cancels and timers, written into a
//! caller-owned buffer of fixed capacity (no allocation). Each new order gets its
//! `ClientOrderId` at once, so the strategy can match the events that come back.
//!
//! Limits, checked when the action is written (an `Err` is the answer; nothing is sent):
//! - at most `MAX_ACTIONS_PER_CALL` actions per callback;
//! - at most `MAX_ORDER_ACTIONS_PER_TICK` order actions (new, modify, cancel) per book per
//!   tick, counting every callback the tick causes. A strategy that answers each rejection
//!   with a new order therefore stops after a bounded number of tries instead of looping
//!   within one tick;
//! - a slot the strategy trades, a quantity > 0, a limit price > 0.

use crate::domain::{ClientOrderId, Nanos, OrderType, Price, Qty, Side, TimeInForce};

/// Actions one callback may write.
pub const MAX_ACTIONS_PER_CALL: usize = 16;

/// Order actions one book may take in one tick, over all its callbacks.
pub const MAX_ORDER_ACTIONS_PER_TICK: u32 = 64;

/// One action, as the strategy stage reads it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    New {
        id: ClientOrderId,
        slot: usize,
        side: Side,
        qty: Qty,
        order_type: OrderType,
        tif: TimeInForce,
    },
    /// New price (limit orders) and/or new total quantity of an open order.
    Modify {
        id: ClientOrderId,
        price: Option<Price>,
        qty: Option<Qty>,
    },
    Cancel {
        id: ClientOrderId,
    },
    /// Calls `on_timer(token)` at the first event time `>= at`.
    SetTimer {
        at: Nanos,
        token: u64,
    },
    /// Drops every pending timer of this strategy with `token`.
    CancelTimer {
        token: u64,
    },
}

/// Why an action was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("this callback already wrote {MAX_ACTIONS_PER_CALL} actions")]
    Full,
    #[error("this book already took {MAX_ORDER_ACTIONS_PER_TICK} order actions in this tick")]
    TickBudget,
    #[error("slot out of range: the strategy trades fewer instruments")]
    InvalidSlot,
    #[error("quantity must be > 0")]
    InvalidQty,
    #[error("limit price must be > 0")]
    InvalidPrice,
    #[error("a modify needs a new price or a new quantity")]
    EmptyModify,
    #[error("the book has too many open orders")]
    TooManyOpenOrders,
}

/// The buffer a callback writes its actions into.
#[derive(Debug)]
pub struct Actions {
    items: Vec<Action>,
    next_id: u64,
    slots: usize,
    /// Order actions this book may still take in this tick.
    budget: u32,
    /// New orders the book's open-order table can still take.
    room: usize,
    /// Actions refused since the buffer was made (the stage reports them).
    refused: u64,
}

impl Default for Actions {
    fn default() -> Self {
        Actions::new()
    }
}

impl Actions {
    pub fn new() -> Actions {
        Actions {
            items: Vec::with_capacity(MAX_ACTIONS_PER_CALL),
            next_id: 0,
            slots: 0,
            budget: 0,
            room: 0,
            refused: 0,
        }
    }

    /// Prepares the buffer for one callback of a book (strategy stage and test harnesses).
    pub fn begin(&mut self, next_id: u64, slots: usize, budget: u32, room: usize) {
        self.items.clear();
        self.next_id = next_id;
        self.slots = slots;
        self.budget = budget;
        self.room = room;
    }

    /// The next id to hand out once the callback is done.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Actions refused (an `Err` returned) since the buffer was made.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Carries the refused count over a checkpoint.
    pub(crate) fn set_refused(&mut self, refused: u64) {
        self.refused = refused;
    }

    /// Order actions left in this tick's budget.
    pub fn budget(&self) -> u32 {
        self.budget
    }

    pub fn as_slice(&self) -> &[Action] {
        &self.items
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// A market order.
    ///
    /// # Errors
    /// See the module docs.
    pub fn market(
        &mut self,
        slot: usize,
        side: Side,
        qty: Qty,
    ) -> Result<ClientOrderId, ActionError> {
        let result = self.new_order(slot, side, qty, OrderType::Market, TimeInForce::Gtc);
        self.count(result)
    }

    /// A limit order at `price` (raw, the instrument's price precision).
    ///
    /// # Errors
    /// See the module docs.
    pub fn limit(
        &mut self,
        slot: usize,
        side: Side,
        qty: Qty,
        price: Price,
        tif: TimeInForce,
    ) -> Result<ClientOrderId, ActionError> {
        let result = if price.0 <= 0 {
            Err(ActionError::InvalidPrice)
        } else {
            self.new_order(slot, side, qty, OrderType::Limit(price), tif)
        };
        self.count(result)
    }

    /// Changes the price (limit orders) and/or the total quantity of an open order. The
    /// order keeps its id; at the paper venue it loses its place in the queue.
    ///
    /// # Errors
    /// See the module docs.
    pub fn modify(
        &mut self,
        id: ClientOrderId,
        price: Option<Price>,
        qty: Option<Qty>,
    ) -> Result<(), ActionError> {
        let result = match (price, qty) {
            (None, None) => Err(ActionError::EmptyModify),
            (Some(p), _) if p.0 <= 0 => Err(ActionError::InvalidPrice),
            (_, Some(q)) if q.0 <= 0 => Err(ActionError::InvalidQty),
            _ => self.push_order_action(Action::Modify { id, price, qty }),
        };
        self.count(result)
    }

    /// Cancels an open order.
    ///
    /// # Errors
    /// See the module docs.
    pub fn cancel(&mut self, id: ClientOrderId) -> Result<(), ActionError> {
        let result = self.push_order_action(Action::Cancel { id });
        self.count(result)
    }

    /// Asks for `on_timer(token)` at the first event time `>= at` (a deadline already
    /// passed fires on the next event).
    ///
    /// # Errors
    /// `Full`.
    pub fn set_timer(&mut self, at: Nanos, token: u64) -> Result<(), ActionError> {
        let result = self.push(Action::SetTimer { at, token });
        self.count(result)
    }

    /// Drops this strategy's pending timers with `token`.
    ///
    /// # Errors
    /// `Full`.
    pub fn cancel_timer(&mut self, token: u64) -> Result<(), ActionError> {
        let result = self.push(Action::CancelTimer { token });
        self.count(result)
    }

    #[inline]
    fn count<T>(&mut self, result: Result<T, ActionError>) -> Result<T, ActionError> {
        self.refused += u64::from(result.is_err());
        result
    }

    fn new_order(
        &mut self,
        slot: usize,
        side: Side,
        qty: Qty,
        order_type: OrderType,
        tif: TimeInForce,
    ) -> Result<ClientOrderId, ActionError> {
        if slot >= self.slots {
            return Err(ActionError::InvalidSlot);
        }
        if qty.0 <= 0 {
            return Err(ActionError::InvalidQty);
        }
        if self.room == 0 {
            return Err(ActionError::TooManyOpenOrders);
        }
        let id = ClientOrderId(self.next_id);
        self.push_order_action(Action::New {
            id,
            slot,
            side,
            qty,
            order_type,
            tif,
        })?;
        self.next_id += 1;
        self.room -= 1;
        Ok(id)
    }

    fn push_order_action(&mut self, action: Action) -> Result<(), ActionError> {
        if self.budget == 0 {
            return Err(ActionError::TickBudget);
        }
        self.push(action)?;
        self.budget -= 1;
        Ok(())
    }

    #[inline]
    fn push(&mut self, action: Action) -> Result<(), ActionError> {
        if self.items.len() >= MAX_ACTIONS_PER_CALL {
            return Err(ActionError::Full);
        }
        self.items.push(action);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_handed_out_in_order_and_limits_hold() {
        let mut actions = Actions::new();
        actions.begin(10, 2, 3, 8);
        assert_eq!(actions.market(0, Side::Buy, Qty(1)), Ok(ClientOrderId(10)));
        assert_eq!(
            actions.limit(1, Side::Sell, Qty(1), Price(5), TimeInForce::Ioc),
            Ok(ClientOrderId(11))
        );
        let cases = [
            ("bad slot", actions.market(2, Side::Buy, Qty(1)).err()),
            ("zero qty", actions.market(0, Side::Buy, Qty(0)).err()),
            (
                "zero price",
                actions
                    .limit(0, Side::Buy, Qty(1), Price(0), TimeInForce::Gtc)
                    .err(),
            ),
            (
                "empty modify",
                actions.modify(ClientOrderId(10), None, None).err(),
            ),
        ];
        let expected = [
            ActionError::InvalidSlot,
            ActionError::InvalidQty,
            ActionError::InvalidPrice,
            ActionError::EmptyModify,
        ];
        for ((name, got), want) in cases.into_iter().zip(expected) {
            assert_eq!(got, Some(want), "{name}");
        }
        assert_eq!(
            actions.cancel(ClientOrderId(10)),
            Ok(()),
            "third order action"
        );
        assert_eq!(
            actions.cancel(ClientOrderId(11)),
            Err(ActionError::TickBudget),
            "budget spent"
        );
        assert_eq!(
            actions.set_timer(Nanos(5), 1),
            Ok(()),
            "timers are not order actions"
        );
        assert_eq!(actions.next_id(), 12);
        assert_eq!(actions.len(), 4);
        assert_eq!(actions.refused(), 5, "every Err is counted");
    }

    #[test]
    fn a_callback_writes_a_bounded_number_of_actions() {
        let mut actions = Actions::new();
        actions.begin(0, 1, u32::MAX, usize::MAX);
        for token in 0..MAX_ACTIONS_PER_CALL as u64 {
            assert_eq!(actions.set_timer(Nanos(0), token), Ok(()));
        }
        assert_eq!(actions.set_timer(Nanos(0), 99), Err(ActionError::Full));
        actions.begin(0, 1, 5, 0);
        assert_eq!(
            actions.market(0, Side::Buy, Qty(1)),
            Err(ActionError::TooManyOpenOrders)
        );
    }
}
