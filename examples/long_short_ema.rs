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
    fast: u32,
    slow: u32,
    quantity: Quantity,
    source: PriceSource,
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

#[cfg(test)]
mod tests {
    use super::*;
    use alpha_panda::domain::{InstrumentId, InstrumentSpec, Nanos, Price, RejectReason};
    use alpha_panda::strategy::testing::Harness;

    fn harness() -> Harness {
        let spec = InstrumentSpec {
            symbol: "X".into(),
            price_precision: 0,
            qty_precision: 0,
        };
        let strategy = LongShortEma {
            source: PriceSource::Last,
            slots: vec![Slot {
                crossing: EmaCrossing::new(2, 4),
                price_precision: 0,
                qty: Qty(5),
            }],
        };
        Harness::new(Box::new(strategy), &[spec])
    }

    fn trade(price: i64) -> Tick {
        Tick::trade(Nanos(0), InstrumentId(0), Price(price), None)
    }

    /// Feeds prices, filling every order at once; returns the signed order sizes.
    fn run(h: &mut Harness, prices: &[i64]) -> Vec<i64> {
        let mut sizes = Vec::new();
        for &p in prices {
            let orders: Vec<_> = h.tick(trade(p)).iter().filter_map(|r| r.order()).collect();
            for order in orders {
                sizes.push(order.side.sign() * order.qty.0);
                h.fill(order.id, order.qty, Price(p));
            }
        }
        sizes
    }

    #[test]
    fn enters_one_quantity_then_reverses_with_two() {
        let mut h = harness();
        let sizes = run(&mut h, &[10, 10, 10, 10, 20, 30, 5, 1, 1, 40, 50, 60]);
        assert_eq!(
            sizes,
            vec![5, -10, 10],
            "up from flat, down from long, up from short"
        );
        assert_eq!(h.position(0), Qty(5));
    }

    #[test]
    fn a_rejection_leaves_the_real_position_as_it_was() {
        let mut h = harness();
        let mut entry = None;
        for p in [10, 10, 10, 10, 20] {
            entry = entry.or(h.tick(trade(p)).first().map(|r| r.id));
        }
        h.reject(entry.expect("the cross up buys"), RejectReason::OrderRate);
        // The cross down finds the book flat: it sells one quantity, not two.
        let sizes = run(&mut h, &[30, 5, 1]);
        assert_eq!(sizes, vec![-5]);
    }

    #[test]
    fn params_are_checked_with_file_line_and_field() {
        let text = "id = \"x\"\nkind = \"long_short_ema\"\ninstruments = [\"X\"]\nbrokers = [\"paper\"]\n[params]\nfast = 30\nslow = 10\nquantity = \"1\"\ncolour = \"red\"\n";
        let mut errors = Vec::new();
        let parsed = alpha_panda::strategy::config::parse_strategy(
            std::path::Path::new("x.toml"),
            text,
            &registry(),
            &mut errors,
        );
        assert!(parsed.is_none());
        let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
        for needle in [
            "x.toml:7: field 'params.slow': expected an integer > fast (30), found 10",
            "x.toml:9: field 'params.colour': unknown field",
        ] {
            assert!(
                rendered.iter().any(|r| r.contains(needle)),
                "{needle} in {rendered:#?}"
            );
        }
    }
}
