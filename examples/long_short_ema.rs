//! `long_short_ema`: a user's strategy kind, written against Alpha Panda's public strategy
//! API only, and the full command line with it registered:
//!
//! ```sh
//! cargo run --release --example long_short_ema -- backtest --data FILE --strategies S.toml --out DIR
//! ```
//!
//! The rule is the `ema_cross` crossing (the same EMA semantics: it reuses the library's
//! `EmaCrossing`), traded long/short with market orders. Flat, a cross up buys `quantity`
//! and a cross down sells `quantity`; long, a cross down sells twice `quantity`; short, a
//! cross up buys twice `quantity`. The target comes from the book's *exposure* (filled
//! position plus open orders), so a rejected or unfilled order never makes it overshoot.
//!
//! Strategy file:
//!
//! ```toml
//! id = "lse_btc"
//! kind = "long_short_ema"
//! instruments = ["BTCUSDT-SPOT"]
//! brokers = ["paper"]
//! [params]
//! fast = 10
//! slow = 30
//! quantity = "0.01"
//! price_source = "mid"   # or "last"
//! ```

use std::process::ExitCode;

use alpha_panda::domain::{Qty, Side, Tick};
use alpha_panda::strategy::ema_cross::{Cross, EmaCrossing};
use alpha_panda::strategy::params::Quantity;
use alpha_panda::strategy::{
    Actions, Context, Params, PriceSource, Registry, Setup, Strategy, UserKind, price_input,
};

/// The validated `[params]`.
#[derive(Debug)]
pub struct LongShortEmaConfig {
    pub fast: u32,
    pub slow: u32,
    pub quantity: Quantity,
    pub source: PriceSource,
}

/// Per instrument: the crossing rule, the price precision and the order quantity.
struct Slot {
    crossing: EmaCrossing,
    price_precision: u8,
    qty: Qty,
}

pub struct LongShortEma {
    source: PriceSource,
    slots: Vec<Slot>,
}

impl UserKind for LongShortEma {
    type Config = LongShortEmaConfig;

    fn configure(params: &mut Params<'_, '_, '_>) -> Option<LongShortEmaConfig> {
        // Read everything before giving up, so every problem is reported at once.
        let fast = params.int("fast", 1, 1_000_000);
        let slow = params.int("slow", 1, 1_000_000);
        let quantity = params.quantity("quantity");
        let source = params.price_source();
        let (fast, slow) = (fast?, slow?);
        if fast >= slow {
            params.fail(
                "slow",
                format!("expected an integer > fast ({fast}), found {slow}"),
            );
            return None;
        }
        Some(LongShortEmaConfig {
            fast: fast as u32,
            slow: slow as u32,
            quantity: quantity?,
            source: source?,
        })
    }

    fn build(config: &LongShortEmaConfig, setup: &Setup<'_>) -> LongShortEma {
        LongShortEma {
            source: config.source,
            slots: (0..setup.slots())
                .map(|slot| Slot {
                    crossing: EmaCrossing::new(config.fast, config.slow),
                    price_precision: setup.spec(slot).price_precision,
                    qty: setup.qty(config.quantity, slot),
                })
                .collect(),
        }
    }
}

impl Strategy for LongShortEma {
    fn on_tick(&mut self, ctx: &Context<'_>, tick: &Tick, out: &mut Actions) {
        let slot = ctx.slot();
        let state = &mut self.slots[slot];
        let Some(price) = price_input(self.source, tick, state.price_precision) else {
            return;
        };
        let Some(cross) = state.crossing.update(price) else {
            return;
        };
        let target = match cross {
            Cross::Up => state.qty.0,
            Cross::Down => -state.qty.0,
        };
        let delta = target - ctx.exposure(slot).0;
        if delta != 0 {
            let side = if delta > 0 { Side::Buy } else { Side::Sell };
            // A refusal (the tick's action budget) is counted by the engine; the next cross
            // recomputes the target from the real exposure anyway.
            let _ = out.market(slot, side, Qty(delta.abs()));
        }
    }
}

/// The registry of this binary: the built-in kinds and `long_short_ema`.
pub fn registry() -> Registry {
    let mut registry = Registry::builtin();
    registry.register::<LongShortEma>("long_short_ema");
    registry
}

#[allow(
    dead_code,
    reason = "tests include this file as a module and do not call main"
)]
fn main() -> ExitCode {
    alpha_panda::cli::main(registry())
}
