//! `Decimal`: an exact decimal number as written in a config file (`mantissa × 10^-decimals`),
//! kept unscaled until the precision it is used at is known.

use super::fixed::POW10;

/// An exact decimal, `mantissa * 10^-decimals` (`"0.35"` is `{ mantissa: 35, decimals: 2 }`).
/// Parsed ones have `decimals <= MAX_DECIMALS` (`parse_mantissa` refuses more), so
/// `POW10[decimals]` is always in range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Decimal {
    pub mantissa: i64,
    pub decimals: u8,
}

impl Decimal {
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        decimals: 0,
    };

    /// Raw units at `precision` decimals, exactly; `None` when `precision` is too coarse
    /// for the value's decimals or the result overflows `i64`.
    pub fn to_raw(self, precision: u8) -> Option<i64> {
        let shift = precision.checked_sub(self.decimals)?;
        POW10
            .get(usize::from(shift))
            .and_then(|&scale| self.mantissa.checked_mul(scale))
    }

    /// The nearest binary64, for parameters that are used as floats (z-scores).
    pub fn to_f64(self) -> f64 {
        self.mantissa as f64 / 10f64.powi(i32::from(self.decimals))
    }
}

impl std::fmt::Display for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        super::fixed::DecimalDisplay {
            raw: i128::from(self.mantissa),
            scale: self.decimals,
            min_decimals: 0,
        }
        .fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_raw_table() {
        let d = Decimal {
            mantissa: 15,
            decimals: 1,
        };
        assert_eq!(d.to_raw(3), Some(1500), "scaled up");
        assert_eq!(d.to_raw(1), Some(15), "same precision");
        assert_eq!(d.to_raw(0), None, "too coarse");
        let big = Decimal {
            mantissa: i64::MAX / 10,
            decimals: 0,
        };
        assert_eq!(big.to_raw(2), None, "overflow");
        assert_eq!(d.to_string(), "1.5");
    }
}
