//! `dip_buyer`: the minimal strategy of the README's "Write your own strategy", a whole
//! program as a user's crate would hold it (`tests/readme.rs` checks that the README shows
//! this file verbatim).
//!
//! Per instrument, while the book holds nothing: buy `quantity` at market once the mid
//! falls `drop_bps` below its high since the last exit. On the fill, rest a SELL limit for
//! the position `profit_bps` above the average fill price. A position with no exit order
//! working (the limit was rejected, say) is sold at market on the next tick.
//!
//! ```sh
//! cargo run --release --example dip_buyer -- backtest --data FILE --strategies S.toml --out DIR
//! ```
//!
//! ```toml
//! id = "dip_btc"
//! kind = "dip_buyer"
//! instruments = ["BTCUSDT-SPOT"]
//! brokers = ["paper"]
//! [params]
//! quantity = "0.01"
//! drop_bps = 2
//! profit_bps = 2
//! ```

use std::process::ExitCode;

use alpha_panda::domain::{OrderEvent, OrderEventKind, Price, Qty, Side, Tick, TimeInForce};
use alpha_panda::strategy::params::Quantity;
use alpha_panda::strategy::{Actions, Context, Params, Registry, Setup, Strategy, UserKind};

/// `[params]`, validated when the strategy file is read.
#[derive(Debug)]
pub struct DipBuyerConfig {
    pub quantity: Quantity,
    pub drop_bps: i64,
    pub profit_bps: i64,
}

pub struct DipBuyer {
    drop_bps: i64,
    profit_bps: i64,
    /// Per slot (instrument): the order quantity, and the high of 2 × mid since the last exit.
    qty: Vec<Qty>,
    high: Vec<i64>,
}

impl UserKind for DipBuyer {
    type Config = DipBuyerConfig;

    fn configure(params: &mut Params<'_, '_, '_>) -> Option<DipBuyerConfig> {
        // Read every key before giving up, so every problem is reported at once.
        let quantity = params.quantity("quantity");
        let drop_bps = params.int("drop_bps", 1, 9_999);
        let profit_bps = params.int("profit_bps", 1, 10_000);
        Some(DipBuyerConfig {
            quantity: quantity?,
            drop_bps: drop_bps?,
            profit_bps: profit_bps?,
        })
    }

    fn build(config: &DipBuyerConfig, setup: &Setup<'_>) -> DipBuyer {
        DipBuyer {
            drop_bps: config.drop_bps,
            profit_bps: config.profit_bps,
            qty: (0..setup.slots())
                .map(|slot| setup.qty(config.quantity, slot))
                .collect(),
            high: vec![0; setup.slots()],
        }
    }
}

impl Strategy for DipBuyer {
    fn on_tick(&mut self, ctx: &Context<'_>, tick: &Tick, out: &mut Actions) {
        let slot = ctx.slot();
        let (position, buying, selling) = (
            ctx.position(slot),
            ctx.open_qty(slot, Side::Buy),
            ctx.open_qty(slot, Side::Sell),
        );
        if position.0 > 0 && selling.0 == 0 && buying.0 == 0 {
            let _ = out.market(slot, Side::Sell, position);
        }
        if position.0 != 0 || buying.0 != 0 || selling.0 != 0 {
            return;
        }
        let Some(mid_x2) = tick.mid_x2() else {
            return;
        };
        let high = self.high[slot].max(mid_x2);
        self.high[slot] = high;
        // mid <= high × (1 - drop), exact in integers.
        if i128::from(mid_x2) * 10_000 <= i128::from(high) * i128::from(10_000 - self.drop_bps) {
            let _ = out.market(slot, Side::Buy, self.qty[slot]);
        }
    }

    fn on_order_event(&mut self, ctx: &Context<'_>, event: &OrderEvent, out: &mut Actions) {
        let slot = ctx.slot();
        match (event.kind, event.side) {
            (OrderEventKind::Filled(_), Side::Buy) => {
                let Some(avg) = ctx.avg_price(slot) else {
                    return;
                };
                // Rounded up to the price grid, so the exit never sells below the target.
                let target =
                    (i128::from(avg.0) * i128::from(10_000 + self.profit_bps) + 9_999) / 10_000;
                let price = Price(i64::try_from(target).unwrap_or(i64::MAX));
                let _ = out.limit(
                    slot,
                    Side::Sell,
                    ctx.position(slot),
                    price,
                    TimeInForce::Gtc,
                );
            }
            (OrderEventKind::Filled(_), Side::Sell) => self.high[slot] = 0,
            _ => {}
        }
    }
}

fn main() -> ExitCode {
    let mut registry = Registry::builtin();
    registry.register::<DipBuyer>("dip_buyer");
    alpha_panda::cli::main(registry)
}
