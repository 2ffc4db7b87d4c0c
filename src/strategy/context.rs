//! What a strategy can read while it decides: its book (filled position and average price
//! from the portfolio, open orders and open quantity per side), the instruments it trades,
//! the current event time, and the last quote and trade of each instrument. Read-only, O(1)
//! per question, no allocation.
//!
//! Everything is addressed by *slot*: the position of an instrument in the strategy's own
//! `instruments` list. `ctx.slot()` is the slot of the tick or order event being handled.

use crate::domain::{
    BookId, ClientOrderId, InstrumentId, InstrumentSpec, InstrumentTable, Market, Nanos, Price,
    Qty, Quote, Side, Trade,
};
use crate::portfolio::Portfolio;

use super::book::{BookState, OpenOrder};

/// A strategy's read-only view, valid for one callback.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    now: Nanos,
    slot: usize,
    book: &'a BookState,
    portfolio: &'a Portfolio,
    market: &'a Market,
    instruments: &'a InstrumentTable,
}

impl<'a> Context<'a> {
    /// Assembles a view (the strategy stage does this for every callback; test harnesses may
    /// too).
    pub fn new(
        now: Nanos,
        slot: usize,
        book: &'a BookState,
        portfolio: &'a Portfolio,
        market: &'a Market,
        instruments: &'a InstrumentTable,
    ) -> Context<'a> {
        Context {
            now,
            slot,
            book,
            portfolio,
            market,
            instruments,
        }
    }

    /// The current event time: the time of the tick being handled (or that caused the
    /// order event or timer).
    #[inline]
    pub fn now(&self) -> Nanos {
        self.now
    }

    /// The slot of the instrument of the tick or order event being handled (0 for timers).
    #[inline]
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// How many instruments the strategy trades.
    #[inline]
    pub fn slots(&self) -> usize {
        self.book.instruments.len()
    }

    /// The book: this strategy instance on its broker.
    #[inline]
    pub fn book(&self) -> BookId {
        self.book.id
    }

    /// # Panics
    /// A slot out of range (`slot >= slots()`).
    #[inline]
    pub fn instrument(&self, slot: usize) -> InstrumentId {
        self.book.instruments[slot]
    }

    /// Symbol and precisions of the instrument at `slot`.
    ///
    /// # Panics
    /// A slot out of range.
    #[inline]
    pub fn spec(&self, slot: usize) -> &'a InstrumentSpec {
        self.instruments.spec(self.instrument(slot))
    }

    /// Filled position at `slot`, raw at the instrument's quantity precision (negative:
    /// short).
    ///
    /// # Panics
    /// A slot out of range.
    #[inline]
    pub fn position(&self, slot: usize) -> Qty {
        Qty(self
            .portfolio
            .position(self.book.id, self.instrument(slot))
            .qty)
    }

    /// Average entry price of the open position at `slot` (FIFO lots), rounded half-even to
    /// the price precision; `None` when flat.
    ///
    /// # Panics
    /// A slot out of range.
    #[inline]
    pub fn avg_price(&self, slot: usize) -> Option<Price> {
        self.portfolio
            .position(self.book.id, self.instrument(slot))
            .avg_price()
    }

    /// Quantity still open in orders of `side` at `slot`, raw.
    ///
    /// # Panics
    /// A slot out of range.
    #[inline]
    pub fn open_qty(&self, slot: usize, side: Side) -> Qty {
        Qty(self.book.open_qty(slot, side))
    }

    /// Filled position plus open BUY orders minus open SELL orders: where the position ends
    /// if every open order fills. Decisions that must never overshoot use this.
    ///
    /// # Panics
    /// A slot out of range.
    #[inline]
    pub fn exposure(&self, slot: usize) -> Qty {
        Qty(self.position(slot).0 + self.book.open_qty(slot, Side::Buy)
            - self.book.open_qty(slot, Side::Sell))
    }

    /// Every open order of the strategy (placed, not yet filled, cancelled, expired or
    /// rejected), in no particular order.
    #[inline]
    pub fn open_orders(&self) -> &'a [OpenOrder] {
        self.book.orders()
    }

    #[inline]
    pub fn order(&self, id: ClientOrderId) -> Option<&'a OpenOrder> {
        self.book.order(id)
    }

    /// The last quote of the instrument at `slot`.
    ///
    /// # Panics
    /// A slot out of range.
    #[inline]
    pub fn quote(&self, slot: usize) -> Option<Quote> {
        self.market.quote(self.instrument(slot))
    }

    /// The last trade of the instrument at `slot`.
    ///
    /// # Panics
    /// A slot out of range.
    #[inline]
    pub fn last_trade(&self, slot: usize) -> Option<Trade> {
        self.market.trade(self.instrument(slot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BrokerId, OrderEvent};

    #[test]
    fn reads_by_slot_position_average_and_the_last_quote_and_trade() {
        let mut table = InstrumentTable::new();
        let (a, b) = (table.intern("A"), table.intern("B"));
        let specs: Vec<InstrumentSpec> = table.iter().map(|(_, s)| s.clone()).collect();
        let mut portfolio = Portfolio::new(1, 1, &specs);
        let mut fill = OrderEvent::test_fill(Side::Buy, 3, 50, crate::domain::Money::ZERO);
        fill.instrument = b;
        portfolio.on_event(&fill);
        let mut market = Market::new(2);
        market.on_tick(&crate::domain::Tick::trade(
            Nanos(4),
            b,
            Price(51),
            Some(Qty(2)),
        ));
        // The book trades B then A: slot 0 is B.
        let book = BookState::new(BookId(0), BrokerId(0), vec![b, a]);
        let ctx = Context::new(Nanos(9), 1, &book, &portfolio, &market, &table);
        assert_eq!((ctx.now(), ctx.slot(), ctx.slots()), (Nanos(9), 1, 2));
        assert_eq!((ctx.instrument(0), ctx.spec(1).symbol.as_str()), (b, "A"));
        assert_eq!(
            (ctx.position(0), ctx.avg_price(0)),
            (Qty(3), Some(Price(50)))
        );
        assert_eq!((ctx.position(1), ctx.avg_price(1)), (Qty(0), None));
        assert_eq!(ctx.exposure(0), Qty(3));
        let trade = ctx.last_trade(0).expect("B traded");
        assert_eq!(
            (trade.ts, trade.price, trade.size),
            (Nanos(4), Price(51), Some(Qty(2)))
        );
        assert!(ctx.last_trade(1).is_none() && ctx.quote(0).is_none());
    }
}
