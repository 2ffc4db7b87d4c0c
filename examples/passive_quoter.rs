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

/// The validated `[params]`.
#[derive(Debug)]
pub struct PassiveQuoterConfig {
    pub quantity: Quantity,
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
                    let _ = out.set_timer(Nanos(ctx.now().0.saturating_add(PAUSE_NS)), slot as u64);
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
