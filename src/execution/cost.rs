//! Cost models of the paper venue: what a fill pays in commission and how far its price
//! slips. Pure functions of their arguments: no state, no clock, no allocation, no floats.
//!
//! Contract:
//! - Exact integer arithmetic. A commission is rounded half-even to the `Money` raw unit
//!   (1e-18) once per component (see [`Commission::commission`]); a slipped price is rounded
//!   against the trader to a whole tick.
//! - Absurd inputs saturate (at `i128::MAX` money, `i64::MAX` price); nothing wraps or
//!   panics.
//! - Rates are non-negative basis points up to 100% ([`Bps::MAX`]); money amounts are
//!   non-negative (config enforces both; a negative amount set in code counts as zero).
//! - The caller decides *when* a model applies: slippage on taker fills only, the minimum
//!   commission on an order's first fill only. Costs are looked up per instrument once, at
//!   start-up ([`VenueCosts::for_symbol`] is a linear search over strings).

use std::fmt;

use crate::domain::fixed::DecimalDisplay;
use crate::domain::{
    Decimal, InstrumentSpec, Liquidity, Money, POW10, Price, Qty, Side, Valuation,
};

/// Decimals of a [`Bps`] raw value: rates are exact to 1e-12 bps.
pub const BPS_DECIMALS: u8 = 12;

/// `rate_raw / BPS_DIVISOR` is the fraction of notional: 10^4 bps × 10^BPS_DECIMALS.
const BPS_DIVISOR: u64 = 10_000 * POW10[BPS_DECIMALS as usize] as u64;

/// A rate in basis points of notional (1 bps = 0.01%), exact: raw units of 10^-12 bps,
/// from 0 to [`Bps::MAX`] (10000 bps = 100%).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bps(u64);

impl Bps {
    pub const ZERO: Bps = Bps(0);
    /// 10000 bps, 100% of notional.
    pub const MAX: Bps = Bps(BPS_DIVISOR);

    /// The rate written as `decimal` bps (`"2.5"` → 2.5 bps); `None` when it is negative, has
    /// more than [`BPS_DECIMALS`] decimals or is above [`Bps::MAX`].
    pub fn from_decimal(decimal: Decimal) -> Option<Bps> {
        let raw = u64::try_from(decimal.to_raw(BPS_DECIMALS)?).ok()?;
        (raw <= Bps::MAX.0).then_some(Bps(raw))
    }

    /// Raw units of 10^-12 bps.
    pub fn raw(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Bps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        DecimalDisplay {
            raw: i128::from(self.0),
            scale: BPS_DECIMALS,
            min_decimals: 0,
        }
        .fmt(f)
    }
}

/// What a venue charges per fill. The default charges nothing.
///
/// A fill pays `broker + tax`, where
/// - `broker` = `notional × (maker_bps | taker_bps)` + `per_unit × |qty|`, raised to
///   `min_per_order` on the order's first fill;
/// - `tax` = `notional × (buy_bps | sell_bps)` by the fill's side, never part of the minimum
///   (a transaction tax or exchange levy is not the broker's and has no minimum).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Commission {
    /// Rate on the notional of a fill that added liquidity (a resting limit order).
    pub maker_bps: Bps,
    /// Rate on the notional of a fill that took liquidity.
    pub taker_bps: Bps,
    /// Extra rate on the notional of every BUY fill (e.g. a stamp duty).
    pub buy_bps: Bps,
    /// Extra rate on the notional of every SELL fill (e.g. a transaction tax).
    pub sell_bps: Bps,
    /// Money per whole unit of quantity (per share, per contract), settlement currency.
    pub per_unit: Money,
    /// Least commission (bps + per unit, without the side rates) one order pays, settlement
    /// currency. Charged on the order's first fill as `max(commission, min_per_order)`; later
    /// fills pay their own commission. An order's total is so at least the minimum, and
    /// never less than a broker's `max(sum, minimum)`; it can be more when a first partial
    /// fill is below the minimum (the model keeps no per-order state).
    pub min_per_order: Money,
}

impl Commission {
    /// The fee of one fill, in `Money` of the settlement currency (raw 1e-18), never negative.
    ///
    /// - `notional`: the fill's `|price × qty|` in the settlement currency, computed by the
    ///   caller (e.g. `Money::notional`); its sign is ignored.
    /// - `qty`: the fill's quantity, raw units of `10^-qty_precision` instrument units; its
    ///   sign is ignored.
    /// - `qty_precision`: decimals of `qty` (instrument precisions are at most 9; values
    ///   above 18 are read as 18).
    /// - `side`: picks `buy_bps` or `sell_bps`.
    /// - `liquidity`: picks `maker_bps` or `taker_bps`.
    /// - `first_fill`: this is the order's first fill (nothing of it filled before), where
    ///   `min_per_order` applies.
    ///
    /// Each component (the liquidity rate, the per-unit charge, the side rate) is rounded
    /// half-even to the raw unit on its own; the sum saturates at `i128::MAX`.
    #[inline]
    pub fn commission(
        &self,
        notional: Money,
        qty: Qty,
        qty_precision: u8,
        side: Side,
        liquidity: Liquidity,
        first_fill: bool,
    ) -> Money {
        let notional = notional.0.unsigned_abs();
        let rate = match liquidity {
            Liquidity::Maker => self.maker_bps,
            Liquidity::Taker => self.taker_bps,
        };
        let unit_scale = POW10[usize::from(qty_precision.min(18))].unsigned_abs();
        let mut broker =
            mul_div_half_even(notional, rate.0, BPS_DIVISOR).saturating_add(mul_div_half_even(
                non_negative(self.per_unit),
                qty.0.unsigned_abs(),
                unit_scale,
            ));
        if first_fill {
            broker = broker.max(non_negative(self.min_per_order));
        }
        let side_rate = match side {
            Side::Buy => self.buy_bps,
            Side::Sell => self.sell_bps,
        };
        let tax = mul_div_half_even(notional, side_rate.0, BPS_DIVISOR);
        Money(i128::try_from(broker.saturating_add(tax)).unwrap_or(i128::MAX))
    }

    /// Charges nothing in any case.
    pub fn is_zero(&self) -> bool {
        *self == Commission::default()
    }
}

/// How far a taker fill's price moves against the trader, beyond the touch. The caller
/// applies it to taker fills only: a maker fill executes at its own limit price.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Slippage {
    /// The fill is at the touch.
    #[default]
    None,
    /// A fixed number of ticks: buys pay `n` ticks more, sells receive `n` ticks less.
    Ticks(u32),
    /// A rate of the price, rounded up to whole ticks (any non-zero rate slips at least one
    /// tick): buys pay more, sells receive less.
    Bps(Bps),
}

impl Slippage {
    /// The price a fill at `price` on `side` executes at.
    ///
    /// - `price`: the touch, raw units of the instrument's price precision.
    /// - `tick_size_raw`: the instrument's tick size in the same raw units, >= 1 (smaller
    ///   values are read as 1).
    ///
    /// `None` returns `price` as it is. The other models never return less than one tick, so
    /// a sell cannot slip to zero or below (instruments with non-positive prices are out of
    /// scope); a buy saturates at `i64::MAX`.
    #[inline]
    pub fn apply(&self, price: Price, side: Side, tick_size_raw: i64) -> Price {
        let tick = tick_size_raw.max(1);
        let ticks = match *self {
            Slippage::None => return price,
            Slippage::Ticks(n) => i64::from(n),
            Slippage::Bps(rate) => {
                // ceil(|price| × rate / (BPS_DIVISOR × tick)): < 2^63 × 2^50 and < 2^127,
                // so u128 holds both sides.
                let moved = u128::from(price.0.unsigned_abs()) * u128::from(rate.0);
                let per_tick = u128::from(BPS_DIVISOR) * u128::from(tick.unsigned_abs());
                i64::try_from(moved.div_ceil(per_tick)).unwrap_or(i64::MAX)
            }
        };
        let delta = ticks.saturating_mul(tick);
        let slipped = match side {
            Side::Buy => price.0.saturating_add(delta),
            Side::Sell => price.0.saturating_sub(delta),
        };
        Price(slipped.max(tick))
    }
}

impl fmt::Display for Slippage {
    /// As written in config: `none`, `2 ticks`, `1.5 bps`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Slippage::None => f.write_str("none"),
            Slippage::Ticks(n) => write!(f, "{n} ticks"),
            Slippage::Bps(rate) => write!(f, "{rate} bps"),
        }
    }
}

/// The cost models of one instrument on one venue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Costs {
    pub commission: Commission,
    pub slippage: Slippage,
}

/// A venue's costs: its default and per-instrument overrides (each a complete `Costs`, the
/// venue's default with the override's keys laid over it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VenueCosts {
    pub default: Costs,
    /// `(symbol, costs)` in file order, one per symbol.
    pub overrides: Vec<(String, Costs)>,
}

impl VenueCosts {
    /// The costs of the instrument `symbol`: its override, else the venue's default. A linear
    /// search: call it at start-up and keep the result per instrument id.
    pub fn for_symbol(&self, symbol: &str) -> &Costs {
        self.overrides
            .iter()
            .find(|(s, _)| s == symbol)
            .map_or(&self.default, |(_, costs)| costs)
    }
}

/// A venue's commission per instrument (by `InstrumentId` index), looked up once at
/// start-up: what the paper venue charges its fills, and the estimate a live venue books on
/// fills its broker reports without charges.
#[derive(Clone, Debug, Default)]
pub struct FeeTable {
    rows: Vec<(Commission, Valuation, u8)>,
}

impl FeeTable {
    pub fn new(costs: &VenueCosts, specs: &[InstrumentSpec]) -> FeeTable {
        FeeTable {
            rows: specs
                .iter()
                .map(|s| {
                    (
                        costs.for_symbol(&s.symbol).commission,
                        // Specs were validated at build (`apply_terms`); zero values nothing.
                        s.valuation().unwrap_or(Valuation::Linear { half_unit: 0 }),
                        s.qty_precision,
                    )
                })
                .collect(),
        }
    }

    /// The commission of one fill (see `Commission::commission`); 0 on an instrument the
    /// table does not hold.
    #[inline]
    pub fn fee(
        &self,
        instrument: usize,
        price: Price,
        qty: Qty,
        side: Side,
        liquidity: Liquidity,
        first_fill: bool,
    ) -> Money {
        let Some((commission, valuation, qty_precision)) = self.rows.get(instrument) else {
            return Money::ZERO;
        };
        commission.commission(
            valuation.settlement_notional(qty, price),
            qty,
            *qty_precision,
            side,
            liquidity,
            first_fill,
        )
    }
}

/// A non-negative money amount as raw units; negative amounts count as zero.
#[inline]
fn non_negative(money: Money) -> u128 {
    u128::try_from(money.0).unwrap_or(0)
}

/// `a × b / d` rounded half-even, exactly, saturating at `u128::MAX`; `d >= 1` (0 is read
/// as 1). The product is formed as three 64-bit limbs and divided limb by limb, so no
/// intermediate overflows.
#[inline]
fn mul_div_half_even(a: u128, b: u64, d: u64) -> u128 {
    const LOW: u128 = u64::MAX as u128;
    if a == 0 || b == 0 {
        return 0;
    }
    let (b, d) = (u128::from(b), u128::from(d.max(1)));
    let low = (a & LOW) * b;
    let high = (a >> 64) * b;
    let middle = (low >> 64) + (high & LOW);
    // a × b < 2^192, so the top limb is < 2^64.
    let limbs = [(high >> 64) + (middle >> 64), middle & LOW, low & LOW];
    let mut quotient = [0u128; 3];
    let mut remainder = 0u128;
    for (q, limb) in quotient.iter_mut().zip(limbs) {
        // remainder < d < 2^64: the shifted value fits and each digit is < 2^64.
        let current = (remainder << 64) | limb;
        *q = current / d;
        remainder = current % d;
    }
    if quotient[0] != 0 {
        return u128::MAX;
    }
    let q = (quotient[1] << 64) | quotient[2];
    let round_up = remainder * 2 > d || (remainder * 2 == d && q % 2 == 1);
    q.saturating_add(u128::from(round_up))
}

#[cfg(test)]
#[path = "cost_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "cost_config_tests.rs"]
mod config_tests;
