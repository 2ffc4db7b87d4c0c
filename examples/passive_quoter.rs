//! `passive_quoter`: a user's strategy kind that works resting limit orders, written against
//! Alpha Panda's public strategy API only, and the full command line with it registered:
//!
//! ```sh
//! cargo run --release --example passive_quoter -- backtest --data FILE --strategies S.toml --out DIR
//! ```
//!
//! Per instrument it keeps one order resting at the touch: while flat, a BUY limit for
//! `quantity` at the best bid; while long, a SELL limit for the whole position at the best
//! ask (while short, should it ever be, a BUY to cover at the bid). When the touch moves it
//! replaces the order's price (a modify, cancel/replace at the venue); when the order is on
//! the wrong side (a partly filled BUY once the book is long) it cancels it and quotes the
//! other side once the cancel is confirmed. It re-quotes on every fill, partial fill and
//! cancel confirmation; after a rejection it pauses that instrument for one second of event
//! time (a timer), so a limit that keeps refusing does not make it hammer risk.
//!
//! Strategy file:
//!
//! ```toml
//! id = "quoter_btc"
//! kind = "passive_quoter"
//! instruments = ["BTCUSDT-SPOT"]
//! brokers = ["paper"]
//! [params]
//! quantity = "0.01"
//! ```

use std::process::ExitCode;

use alpha_panda::domain::{
    Nanos, OrderEvent, OrderEventKind, OrderType, Price, Qty, Side, Tick, TimeInForce,
};
use alpha_panda::strategy::params::Quantity;
use alpha_panda::strategy::{Actions, Context, Params, Registry, Setup, Strategy, UserKind};

/// How long an instrument pauses after a rejection, ns of event time.
const PAUSE_NS: u64 = 1_000_000_000;

#[derive(Debug)]
pub struct PassiveQuoterConfig {
    quantity: Quantity,
}

pub struct PassiveQuoter {
    /// Per slot: the order quantity while flat.
    qty: Vec<Qty>,
    /// Per slot: paused after a rejection until its timer fires.
    paused: Vec<bool>,
}

impl UserKind for PassiveQuoter {
    type Config = PassiveQuoterConfig;

    fn configure(params: &mut Params<'_, '_, '_>) -> Option<PassiveQuoterConfig> {
        Some(PassiveQuoterConfig {
            quantity: params.quantity("quantity")?,
        })
    }

    fn build(config: &PassiveQuoterConfig, setup: &Setup<'_>) -> PassiveQuoter {
        PassiveQuoter {
            qty: (0..setup.slots())
                .map(|slot| setup.qty(config.quantity, slot))
                .collect(),
            paused: vec![false; setup.slots()],
        }
    }
}

impl PassiveQuoter {
    /// The order the book should have resting at `slot`: side, quantity and price.
    fn wanted(&self, ctx: &Context<'_>, slot: usize) -> Option<(Side, Qty, Price)> {
        let quote = ctx.quote(slot)?;
        let (bid, ask) = (quote.bid?, quote.ask?);
        let position = ctx.position(slot).0;
        Some(match position {
            0 => (Side::Buy, self.qty[slot], bid),
            p if p > 0 => (Side::Sell, Qty(p), ask),
            p => (Side::Buy, Qty(-p), bid),
        })
    }

    /// Brings the resting order at `slot` to what is wanted: place, replace or cancel.
    fn requote(&self, ctx: &Context<'_>, slot: usize, out: &mut Actions) {
        if self.paused[slot] {
            return;
        }
        let Some((side, qty, price)) = self.wanted(ctx, slot) else {
            return;
        };
        let mut resting = ctx.open_orders().iter().filter(|o| o.slot == slot);
        match resting.next() {
            None => {
                let _ = out.limit(slot, side, qty, price, TimeInForce::Gtc);
            }
            // An answer to an earlier cancel or modify is on its way: wait for it.
            Some(order) if order.cancel_pending || order.modify_pending => {}
            Some(order) if order.side != side => {
                let _ = out.cancel(order.id);
            }
            Some(order) => {
                // The order's quantity is its total: what filled stays filled.
                let total = Qty(order.filled.0 + qty.0);
                let new_price = (order.order_type != OrderType::Limit(price)).then_some(price);
                let new_qty = (order.leaves != qty).then_some(total);
                if new_price.is_some() || new_qty.is_some() {
                    let _ = out.modify(order.id, new_price, new_qty);
                }
            }
        }
    }
}

impl Strategy for PassiveQuoter {
    fn on_tick(&mut self, ctx: &Context<'_>, _tick: &Tick, out: &mut Actions) {
        self.requote(ctx, ctx.slot(), out);
    }

    fn on_order_event(&mut self, ctx: &Context<'_>, event: &OrderEvent, out: &mut Actions) {
        let slot = ctx.slot();
        match event.kind {
            OrderEventKind::Rejected { .. }
            | OrderEventKind::ModifyRejected { .. }
            | OrderEventKind::CancelRejected { .. } => {
                if !self.paused[slot] {
                    self.paused[slot] = true;
                    let _ = out.set_timer(Nanos(ctx.now().0 + PAUSE_NS), slot as u64);
                }
            }
            OrderEventKind::PartiallyFilled(_)
            | OrderEventKind::Filled(_)
            | OrderEventKind::Cancelled { .. }
            | OrderEventKind::Expired { .. } => self.requote(ctx, slot, out),
            OrderEventKind::Accepted { .. } | OrderEventKind::Modified { .. } => {}
        }
    }

    fn on_timer(&mut self, ctx: &Context<'_>, token: u64, out: &mut Actions) {
        let slot = token as usize;
        if let Some(paused) = self.paused.get_mut(slot) {
            *paused = false;
            self.requote(ctx, slot, out);
        }
    }
}

/// The registry of this binary: the built-in kinds and `passive_quoter`.
pub fn registry() -> Registry {
    let mut registry = Registry::builtin();
    registry.register::<PassiveQuoter>("passive_quoter");
    registry
}

#[allow(
    dead_code,
    reason = "tests include this file as a module and do not call main"
)]
fn main() -> ExitCode {
    alpha_panda::cli::main(registry())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alpha_panda::domain::{InstrumentId, InstrumentSpec, RejectReason, RequestKind};
    use alpha_panda::strategy::testing::Harness;

    fn harness() -> Harness {
        let spec = InstrumentSpec {
            symbol: "X".into(),
            price_precision: 0,
            qty_precision: 0,
        };
        let quoter = PassiveQuoter {
            qty: vec![Qty(4)],
            paused: vec![false],
        };
        Harness::new(Box::new(quoter), &[spec])
    }

    fn quote(ts: u64, bid: i64, ask: i64) -> Tick {
        Tick::quote(
            Nanos(ts),
            InstrumentId(0),
            Some(Price(bid)),
            Some(Price(ask)),
            None,
            None,
        )
    }

    #[test]
    fn rests_at_the_bid_follows_it_and_sells_at_the_ask_once_long() {
        let mut h = harness();
        let first = h.tick(quote(1, 100, 102))[0];
        assert_eq!(
            (first.side, first.kind),
            (
                Side::Buy,
                RequestKind::New {
                    qty: Qty(4),
                    order_type: OrderType::Limit(Price(100)),
                    tif: TimeInForce::Gtc,
                    flatten: false
                }
            )
        );
        h.accept(first.id);
        assert!(
            h.tick(quote(2, 100, 103)).is_empty(),
            "the bid did not move"
        );
        let replace = h.tick(quote(3, 101, 103))[0];
        assert!(
            matches!(
                replace.kind,
                RequestKind::Modify {
                    order_type: OrderType::Limit(Price(101)),
                    ..
                }
            ),
            "{replace:?}"
        );
        assert!(h.ack(&replace).is_empty(), "the price moved with the bid");
        // A partial fill: long 1, and a BUY still open on the wrong side: cancel it.
        let after_partial = h.fill(first.id, Qty(1), Price(100))[0];
        assert_eq!(after_partial.kind, RequestKind::Cancel);
        let sell = h.cancelled(first.id)[0];
        assert_eq!(sell.side, Side::Sell);
        assert!(
            matches!(
                sell.kind,
                RequestKind::New {
                    qty: Qty(1),
                    order_type: OrderType::Limit(Price(103)),
                    ..
                }
            ),
            "{sell:?}"
        );
        assert!(
            h.fill(sell.id, Qty(1), Price(103))[0].side == Side::Buy,
            "flat again: back to the bid"
        );
        assert_eq!(h.position(0), Qty(0));
    }

    #[test]
    fn a_rejection_pauses_the_instrument_until_its_timer() {
        let mut h = harness();
        let order = h.tick(quote(1, 100, 102))[0];
        assert!(h.reject(order.id, RejectReason::PriceBand).is_empty());
        assert!(h.tick(quote(2, 100, 102)).is_empty(), "paused");
        let again = h.tick(quote(1 + PAUSE_NS, 100, 102));
        assert_eq!(
            again.len(),
            1,
            "the timer fired at the first tick after a second"
        );
        assert_eq!(h.counters().timers_fired, 1);
    }
}
