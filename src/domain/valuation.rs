//! The one place money is computed from an instrument's price and quantity: contract kind
//! (spot, linear, inverse), multiplier and precisions turn `(qty, price)` into exact `Money`
//! in the instrument's settlement currency.
//!
//! - spot / linear: a position of `q` at price `p` is worth `q × multiplier × p`; PnL of a
//!   round trip is `q × multiplier × (exit − entry)`. Exact in integers.
//! - inverse (COIN-M style, e.g. $100 face settled in BTC): a position's leg value is
//!   `−q × multiplier / p`; PnL is `q × multiplier × (1/entry − 1/exit)`. A division: every
//!   leg value (each fill, each mark) is rounded half-even to `MONEY_SCALE` (18) decimals,
//!   once, so a round trip's PnL is `round(q·m/entry) − round(q·m/exit)`.
//!
//! Intermediate products that would overflow saturate (quantities and prices that large are
//! refused by risk limits long before).

use super::decimal::Decimal;
use super::fixed::{MONEY_SCALE, Money, POW10, Price, Qty};

/// What kind of contract an instrument is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum InstrumentKind {
    /// Cash instrument: price × quantity in the quote currency.
    #[default]
    Spot,
    /// Linear derivative: `multiplier × price` per unit, settled in the quote (or named) currency.
    Linear,
    /// Inverse derivative: `multiplier` (face value, quote currency) per contract, settled in
    /// the base currency: PnL `q × m × (1/entry − 1/exit)`.
    Inverse,
}

impl InstrumentKind {
    pub fn name(self) -> &'static str {
        match self {
            InstrumentKind::Spot => "spot",
            InstrumentKind::Linear => "linear",
            InstrumentKind::Inverse => "inverse",
        }
    }
}

/// Precomputed factors that value `(qty, doubled price)` of one instrument as `Money`.
/// Prices come doubled so an exact mid (`bid + ask`) needs no rounding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Valuation {
    /// `price_x2 × qty × half_unit`, `half_unit = m_raw × 10^(18 − pp − qp − mp) / 2`.
    Linear { half_unit: i128 },
    /// `−round(2 × qty × m_raw × 10^exp / price_x2)`, `exp = 18 + pp − qp − mp`;
    /// `face_unit = m_raw × 10^(18 − qp − mp)` values a quantity in the quote currency.
    Inverse {
        multiplier: i128,
        exp: u32,
        face_unit: i128,
    },
}

impl Valuation {
    /// Factors for an instrument. `None` when the combined precision leaves no spare decimal
    /// in `Money` (`pp + qp + multiplier decimals > 17`) or the multiplier is not positive.
    pub fn new(kind: InstrumentKind, multiplier: Decimal, pp: u8, qp: u8) -> Option<Valuation> {
        if multiplier.mantissa <= 0 {
            return None;
        }
        let combined = pp.checked_add(qp)?.checked_add(multiplier.decimals)?;
        if combined >= MONEY_SCALE {
            return None;
        }
        let m = i128::from(multiplier.mantissa);
        Some(match kind {
            InstrumentKind::Spot | InstrumentKind::Linear => Valuation::Linear {
                half_unit: m.checked_mul(i128::from(POW10[usize::from(MONEY_SCALE - combined)]))?
                    / 2,
            },
            InstrumentKind::Inverse => Valuation::Inverse {
                multiplier: m,
                exp: u32::from(MONEY_SCALE + pp - qp - multiplier.decimals),
                face_unit: m.checked_mul(i128::from(
                    POW10[usize::from(MONEY_SCALE - qp - multiplier.decimals)],
                ))?,
            },
        })
    }

    /// Value of holding `qty` (signed raw) at a doubled price: what cash a buy of it pays
    /// (negated) and what the position is worth at a mark.
    #[inline]
    pub fn value_x2(self, qty: i64, price_x2: i64) -> Money {
        match self {
            Valuation::Linear { half_unit } => {
                // i64 × i64 is exact in i128, and one widening multiply. Overflow-checked
                // i128 multiplication is a library call (~10x that, on every marked tick):
                // take the plain product when both factors fit i64, so it cannot overflow.
                let pq = i128::from(price_x2) * i128::from(qty);
                match (i64::try_from(pq), i64::try_from(half_unit)) {
                    (Ok(a), Ok(b)) => Money(i128::from(a) * i128::from(b)),
                    _ => Money(pq.saturating_mul(half_unit)),
                }
            }
            Valuation::Inverse {
                multiplier, exp, ..
            } => {
                if price_x2 <= 0 || qty == 0 {
                    return Money::ZERO;
                }
                let n = (2 * i128::from(qty)).saturating_mul(multiplier);
                Money(-mul_pow10_div_half_even(n, exp, i128::from(price_x2)))
            }
        }
    }

    /// `value_x2` at a plain price.
    #[inline]
    pub fn value(self, qty: Qty, price: Price) -> Money {
        self.value_x2(qty.0, price.0.saturating_mul(2))
    }

    /// Absolute notional in the quote currency (risk's notional limit): `|q| × m × p` for
    /// linear, the face value `|q| × m` for inverse.
    #[inline]
    pub fn quote_notional(self, qty: Qty, price: Price) -> Money {
        match self {
            Valuation::Linear { .. } => self.settlement_notional(qty, price),
            Valuation::Inverse { face_unit, .. } => {
                Money(i128::from(qty.0).saturating_abs().saturating_mul(face_unit))
            }
        }
    }

    /// Absolute notional in the settlement currency (fees, turnover): `|q| × m × p` for
    /// linear, `|q| × m / p` for inverse.
    #[inline]
    pub fn settlement_notional(self, qty: Qty, price: Price) -> Money {
        Money(
            self.value(Qty(qty.0.saturating_abs()), price)
                .0
                .saturating_abs(),
        )
    }
}

/// `round_half_even(n × 10^exp / d)` for `d > 0`, exact: long division in chunks so no
/// intermediate overflows (`d` fits in 64 bits, so `r × 10^18 < 2^127`). Saturates when the
/// quotient itself does not fit.
pub fn mul_pow10_div_half_even(n: i128, exp: u32, d: i128) -> i128 {
    debug_assert!(d > 0);
    let negative = n < 0;
    let n = n.unsigned_abs();
    let d = d.unsigned_abs();
    let mut q = n / d;
    let mut r = n % d;
    let mut left = exp;
    while left > 0 {
        let step = left.min(18);
        let scale = POW10[step as usize] as u128;
        let widened = r * scale;
        q = match q
            .checked_mul(scale)
            .and_then(|q| q.checked_add(widened / d))
        {
            Some(q) => q,
            None => return if negative { i128::MIN + 1 } else { i128::MAX },
        };
        r = widened % d;
        left -= step;
    }
    let twice = 2 * r;
    if twice > d || (twice == d && q % 2 == 1) {
        q += 1;
    }
    let q = i128::try_from(q).unwrap_or(i128::MAX);
    if negative { -q } else { q }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        let (mantissa, decimals) =
            crate::domain::fixed::parse_mantissa(text.as_bytes()).expect("decimal");
        Decimal { mantissa, decimals }
    }

    #[test]
    fn linear_values_include_the_multiplier() {
        let cases = [
            // (name, kind, multiplier, pp, qp, qty, price, expected)
            (
                "spot",
                InstrumentKind::Spot,
                "1",
                2,
                3,
                1500,
                10_050,
                "150.75",
            ),
            (
                "future x50",
                InstrumentKind::Linear,
                "50",
                2,
                0,
                2,
                450_025,
                "450025",
            ),
            (
                "micro 0.1",
                InstrumentKind::Linear,
                "0.1",
                1,
                0,
                -3,
                1000,
                "-30",
            ),
        ];
        for (name, kind, m, pp, qp, qty, price, expected) in cases {
            let v = Valuation::new(kind, dec(m), pp, qp).expect(name);
            assert_eq!(
                v.value(Qty(qty), Price(price)),
                Money::parse(expected).expect("money"),
                "{name}"
            );
        }
    }

    #[test]
    fn inverse_round_trip_matches_the_issue_example() {
        // 1 contract of $100 face: 61815.0 -> 61831.5 is 100·(1/61815 − 1/61831.5) BTC.
        let v = Valuation::new(InstrumentKind::Inverse, dec("100"), 1, 0).expect("inverse");
        let pnl = v.value(Qty(1), Price(618_315)) - v.value(Qty(1), Price(618_150));
        // round(100/61815, 18) − round(100/61831.5, 18), computed with Python Decimal.
        assert_eq!(pnl, Money::parse("0.000000431698250113").expect("money"));
        assert_eq!(
            v.settlement_notional(Qty(-2), Price(500_000)),
            Money::parse("0.004").expect("money"),
            "2 × 100 / 50000"
        );
        assert_eq!(
            v.quote_notional(Qty(-2), Price(500_000)),
            Money::parse("200").expect("money"),
            "face value"
        );
    }

    #[test]
    fn division_rounds_half_even_and_saturates() {
        let cases = [
            ("half down to even", 10, 0, 4, 2), // 2.5 -> 2
            ("half up to even", 14, 0, 4, 4),   // 3.5 -> 4
            ("above half", 7, 1, 3, 23),        // 23.33 -> 23
            ("negative", -14, 0, 4, -4),
            ("chunks", 1, 30, 3, 333_333_333_333_333_333_333_333_333_333),
        ];
        for (name, n, exp, d, expected) in cases {
            assert_eq!(mul_pow10_div_half_even(n, exp, d), expected, "{name}");
        }
        assert_eq!(mul_pow10_div_half_even(i128::MAX, 18, 1), i128::MAX);
    }

    #[test]
    fn huge_products_saturate_instead_of_wrapping() {
        let v = Valuation::new(InstrumentKind::Spot, dec("1"), 0, 0).expect("spot");
        assert_eq!(v.value_x2(i64::MAX, i64::MAX).0, i128::MAX);
        assert_eq!(v.value_x2(i64::MIN, i64::MAX).0, i128::MIN);
        assert_eq!(
            v.value_x2(3, 4),
            Money(6 * 1_000_000_000_000_000_000),
            "fast path"
        );
    }

    #[test]
    fn precisions_that_leave_no_spare_decimal_are_refused() {
        assert!(Valuation::new(InstrumentKind::Spot, dec("1"), 9, 8).is_some());
        assert!(Valuation::new(InstrumentKind::Spot, dec("1"), 9, 9).is_none());
        assert!(Valuation::new(InstrumentKind::Linear, dec("0.5"), 9, 8).is_none());
        assert!(Valuation::new(InstrumentKind::Linear, dec("0"), 2, 0).is_none());
    }
}
