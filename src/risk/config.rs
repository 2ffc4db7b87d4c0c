//! `[risk.NAME]` of `engine.toml`: one broker's pre-trade limits.

use crate::config::fields::Fields;
use crate::domain::Money;
use crate::domain::fixed::{MONEY_SCALE, POW10};

/// What a tripped kill switch still lets through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KillSwitchMode {
    /// Orders that reduce a position (and cancels) pass; everything else is refused.
    #[default]
    AllowReducing,
    /// Every order is refused (cancels still pass).
    BlockAll,
}

impl KillSwitchMode {
    pub fn name(self) -> &'static str {
        match self {
            KillSwitchMode::AllowReducing => "allow_reducing",
            KillSwitchMode::BlockAll => "block_all",
        }
    }
}

/// Risk limits of one broker. `None` = no limit. Quantities and amounts are exact decimals
/// held as `Money` (18 decimals) and converted to each instrument's precision at start-up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RiskLimits {
    /// Per instrument, over every strategy of the broker.
    pub max_position: Option<Money>,
    /// Per instrument, for each strategy (book) on its own.
    pub max_strategy_position: Option<Money>,
    pub max_order_qty: Option<Money>,
    pub max_notional: Option<Money>,
    pub max_open_orders: Option<u32>,
    pub max_orders_per_second: Option<u32>,
    pub price_band_bps: Option<u32>,
    pub max_daily_loss: Option<Money>,
    /// Start with the kill switch tripped.
    pub kill_switch: bool,
    pub kill_switch_mode: KillSwitchMode,
    /// When the kill switch trips: cancel every open order and close every position of the
    /// broker's strategies with market orders.
    pub flatten_on_kill: bool,
}

/// Reads one `[risk.NAME]` table.
pub(crate) fn read(fields: &mut Fields<'_, '_>) -> RiskLimits {
    let money = |fields: &mut Fields<'_, '_>, key: &'static str| {
        let (mantissa, decimals, offset) = fields.opt_non_negative_decimal(key)?;
        if decimals > MONEY_SCALE {
            fields.invalid(key, offset, format!("at most {MONEY_SCALE} decimals"));
            return None;
        }
        let scaled = i128::from(mantissa) * i128::from(POW10[(MONEY_SCALE - decimals) as usize]);
        Some(Money(scaled))
    };
    let max_position = money(fields, "max_position");
    let max_strategy_position = money(fields, "max_strategy_position");
    let max_order_qty = money(fields, "max_order_qty");
    let max_notional = money(fields, "max_notional");
    let max_daily_loss = money(fields, "max_daily_loss");
    let as_u32 = |v: Option<i64>| v.map(|n| n as u32);
    let kill_switch_mode =
        match fields.opt_choice("kill_switch_mode", &["allow_reducing", "block_all"]) {
            Some((mode, _)) if mode == "block_all" => KillSwitchMode::BlockAll,
            _ => KillSwitchMode::AllowReducing,
        };
    RiskLimits {
        max_position,
        max_strategy_position,
        max_order_qty,
        max_notional,
        max_daily_loss,
        max_open_orders: as_u32(fields.opt_int("max_open_orders", 1, i64::from(u32::MAX))),
        max_orders_per_second: as_u32(fields.opt_int(
            "max_orders_per_second",
            1,
            i64::from(u32::MAX),
        )),
        price_band_bps: as_u32(fields.opt_int("price_band_bps", 1, 1_000_000)),
        kill_switch: fields.opt_bool("kill_switch").unwrap_or(false),
        kill_switch_mode,
        flatten_on_kill: fields.opt_bool("flatten_on_kill").unwrap_or(false),
    }
}
