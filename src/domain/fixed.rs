//! Exact fixed-point numbers: `Price` and `Qty` are `i64` raw values scaled by the
//! instrument's precision; `Money` is an `i128` at a single global scale (`MONEY_SCALE`
//! decimals) so amounts of any instrument add up exactly.

use std::fmt;

/// Most decimals a price or quantity may carry.
pub const MAX_PRECISION: u8 = 9;
/// Decimals of every `Money` value.
pub const MONEY_SCALE: u8 = 18;
/// Most decimals any decimal text may carry: `POW10` reaches `10^18`, and an `i64` mantissa
/// holds no more significant digits, so every scaling of a parsed value is in range.
pub const MAX_DECIMALS: u8 = 18;

/// Powers of ten as `i64`, indexable by a precision up to 18.
pub const POW10: [i64; 19] = {
    let mut table = [1i64; 19];
    let mut i = 1;
    while i < 19 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// A price as raw integer units of `10^-precision`.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Price(pub i64);

/// A quantity as raw integer units of `10^-precision` (sign = direction where it applies).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Qty(pub i64);

/// An amount of quote currency in units of `10^-MONEY_SCALE`.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Money(pub i128);

impl Money {
    pub const ZERO: Money = Money(0);

    /// An approximation for display (metrics gauges), never for accounting.
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / 1e18
    }

    /// `price * qty` as money: exact as long as `price_precision + qty_precision <= 18`.
    #[inline]
    pub fn notional(price: Price, qty: Qty, price_precision: u8, qty_precision: u8) -> Money {
        let shift = MONEY_SCALE - price_precision - qty_precision;
        Money(i128::from(price.0) * i128::from(qty.0) * i128::from(POW10[shift as usize]))
    }

    /// Parses a decimal string (e.g. `"-12.5"`) exactly.
    ///
    /// # Errors
    /// The text is not a decimal number or has more than `MONEY_SCALE` decimals.
    pub fn parse(text: &str) -> Result<Money, DecimalError> {
        let bytes = text.as_bytes();
        let (negative, digits) = match bytes.first() {
            None => return Err(DecimalError::Empty),
            Some(b'-') => (true, &bytes[1..]),
            Some(b'+') => (false, &bytes[1..]),
            Some(_) => (false, bytes),
        };
        let (int_part, frac_part) = match digits.iter().position(|&b| b == b'.') {
            Some(dot) => (&digits[..dot], &digits[dot + 1..]),
            None => (digits, &digits[digits.len()..]),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(DecimalError::Invalid);
        }
        if frac_part.len() > usize::from(MONEY_SCALE) {
            let found = u8::try_from(frac_part.len()).unwrap_or(u8::MAX);
            return Err(DecimalError::TooManyDecimals {
                found,
                max: MONEY_SCALE,
            });
        }
        let mut raw: i128 = 0;
        let padding = std::iter::repeat_n(&b'0', usize::from(MONEY_SCALE) - frac_part.len());
        for &b in int_part.iter().chain(frac_part).chain(padding) {
            if !b.is_ascii_digit() {
                return Err(DecimalError::Invalid);
            }
            raw = raw
                .checked_mul(10)
                .and_then(|r| r.checked_add(i128::from(b - b'0')))
                .ok_or(DecimalError::Overflow)?;
        }
        Ok(Money(if negative { -raw } else { raw }))
    }

    /// Formats with at least `min_decimals` decimals, more only where the exact value needs them.
    pub fn display(self, min_decimals: u8) -> DecimalDisplay {
        DecimalDisplay {
            raw: self.0,
            scale: MONEY_SCALE,
            min_decimals,
        }
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    #[inline]
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl std::ops::Sub for Money {
    type Output = Money;
    #[inline]
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}

impl std::ops::AddAssign for Money {
    #[inline]
    fn add_assign(&mut self, rhs: Money) {
        self.0 += rhs.0;
    }
}

impl std::ops::SubAssign for Money {
    #[inline]
    fn sub_assign(&mut self, rhs: Money) {
        self.0 -= rhs.0;
    }
}

impl std::ops::Neg for Money {
    type Output = Money;
    #[inline]
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

/// Why a decimal text was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("empty number")]
    Empty,
    #[error("not a decimal number")]
    Invalid,
    #[error("{found} decimals, at most {max} allowed")]
    TooManyDecimals { found: u8, max: u8 },
    #[error("number out of range")]
    Overflow,
}

/// Parses decimal text into `(mantissa, decimals)`: `"-1.250"` → `(-1250, 3)`.
/// Accepts an optional sign, digits, and an optional fraction of at most `MAX_DECIMALS`
/// digits; no exponent. Every caller may scale the result by `POW10[decimals]`.
///
/// # Errors
/// Empty or malformed text, more than `MAX_DECIMALS` decimals, or a mantissa beyond `i64`
/// (in that order: `"1.0000000000000000000"` is too many decimals, not out of range).
#[inline]
pub fn parse_mantissa(bytes: &[u8]) -> Result<(i64, u8), DecimalError> {
    let (negative, digits) = match bytes.first() {
        None => return Err(DecimalError::Empty),
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        Some(_) => (false, bytes),
    };
    let mut mantissa: u64 = 0;
    let mut decimals: u32 = 0;
    let mut seen_dot = false;
    let mut seen_digit = false;
    // Kept scanning past an overflow, so malformed text and too many decimals are named first.
    let mut overflow = false;
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                seen_digit = true;
                match mantissa
                    .checked_mul(10)
                    .and_then(|m| m.checked_add(u64::from(b - b'0')))
                {
                    Some(m) => mantissa = m,
                    None => overflow = true,
                }
                if seen_dot {
                    decimals = decimals.saturating_add(1);
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => return Err(DecimalError::Invalid),
        }
    }
    if !seen_digit {
        return Err(DecimalError::Invalid);
    }
    if decimals > u32::from(MAX_DECIMALS) {
        return Err(DecimalError::TooManyDecimals {
            found: u8::try_from(decimals).unwrap_or(u8::MAX),
            max: MAX_DECIMALS,
        });
    }
    if overflow {
        return Err(DecimalError::Overflow);
    }
    let decimals = u8::try_from(decimals).map_err(|_| DecimalError::Overflow)?;
    let value = i64::try_from(mantissa).map_err(|_| DecimalError::Overflow)?;
    Ok((if negative { -value } else { value }, decimals))
}

/// Parses decimal text to raw units at `precision` decimals, exactly.
///
/// # Errors
/// Malformed text, more decimals than `precision`, or overflow.
#[inline]
pub fn parse_fixed(bytes: &[u8], precision: u8) -> Result<i64, DecimalError> {
    let (mantissa, decimals) = parse_mantissa(bytes)?;
    if decimals > precision {
        return Err(DecimalError::TooManyDecimals {
            found: decimals,
            max: precision,
        });
    }
    mantissa
        .checked_mul(POW10[(precision - decimals) as usize])
        .ok_or(DecimalError::Overflow)
}

/// Number of decimals written in a decimal text (`"1.2500"` → 4), without validating it.
#[inline]
pub fn decimals_in(bytes: &[u8]) -> u8 {
    match bytes.iter().position(|&b| b == b'.') {
        Some(dot) => u8::try_from(bytes.len() - dot - 1).unwrap_or(u8::MAX),
        None => 0,
    }
}

/// Formats a raw fixed-point value. Writes at least `min_decimals` decimals (when the
/// scale allows) and more only where non-zero digits need them.
#[derive(Clone, Copy, Debug)]
pub struct DecimalDisplay {
    pub raw: i128,
    pub scale: u8,
    pub min_decimals: u8,
}

impl DecimalDisplay {
    /// A price or quantity at its instrument precision, all decimals written.
    pub fn fixed(raw: i64, precision: u8) -> DecimalDisplay {
        DecimalDisplay {
            raw: i128::from(raw),
            scale: precision,
            min_decimals: precision,
        }
    }
}

impl fmt::Display for DecimalDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scale = u32::from(self.scale);
        let unit = 10u128.pow(scale);
        let magnitude = self.raw.unsigned_abs();
        let int_part = magnitude / unit;
        let mut frac = magnitude % unit;
        let mut digits = scale;
        let min = u32::from(self.min_decimals.min(self.scale));
        while digits > min && frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        if self.raw < 0 {
            f.write_str("-")?;
        }
        if digits == 0 {
            write!(f, "{int_part}")
        } else {
            write!(f, "{int_part}.{frac:0width$}", width = digits as usize)
        }
    }
}

impl Price {
    pub fn display(self, precision: u8) -> DecimalDisplay {
        DecimalDisplay::fixed(self.0, precision)
    }
}

impl Qty {
    pub fn display(self, precision: u8) -> DecimalDisplay {
        DecimalDisplay::fixed(self.0, precision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_fixed_table() {
        struct Case {
            name: &'static str,
            text: &'static str,
            precision: u8,
            expected: Result<i64, DecimalError>,
        }
        let cases = [
            Case {
                name: "integer",
                text: "12",
                precision: 2,
                expected: Ok(1200),
            },
            Case {
                name: "fraction",
                text: "1.37261",
                precision: 5,
                expected: Ok(137_261),
            },
            Case {
                name: "scale up",
                text: "1.5",
                precision: 5,
                expected: Ok(150_000),
            },
            Case {
                name: "negative",
                text: "-0.25",
                precision: 2,
                expected: Ok(-25),
            },
            Case {
                name: "leading dot",
                text: ".5",
                precision: 1,
                expected: Ok(5),
            },
            Case {
                name: "trailing dot",
                text: "5.",
                precision: 1,
                expected: Ok(50),
            },
            Case {
                name: "too precise",
                text: "1.234",
                precision: 2,
                expected: Err(DecimalError::TooManyDecimals { found: 3, max: 2 }),
            },
            Case {
                name: "empty",
                text: "",
                precision: 2,
                expected: Err(DecimalError::Empty),
            },
            Case {
                name: "letters",
                text: "1.2x",
                precision: 2,
                expected: Err(DecimalError::Invalid),
            },
            Case {
                name: "two dots",
                text: "1.2.3",
                precision: 2,
                expected: Err(DecimalError::Invalid),
            },
            Case {
                name: "sign only",
                text: "-",
                precision: 2,
                expected: Err(DecimalError::Invalid),
            },
            Case {
                name: "exponent",
                text: "1e5",
                precision: 2,
                expected: Err(DecimalError::Invalid),
            },
            Case {
                name: "overflow",
                text: "99999999999999999999",
                precision: 0,
                expected: Err(DecimalError::Overflow),
            },
        ];
        for case in cases {
            assert_eq!(
                parse_fixed(case.text.as_bytes(), case.precision),
                case.expected,
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn parse_mantissa_decimals_table() {
        /// Name, text, what `parse_mantissa` gives.
        type Case<'a> = (&'a str, &'a str, Result<(i64, u8), DecimalError>);
        let long = format!("0.{}1", "0".repeat(299));
        let cases: [Case<'_>; 5] = [
            ("18 decimals", "0.000000000000000001", Ok((1, 18))),
            (
                "19 decimals",
                "0.0000000000000000001",
                Err(DecimalError::TooManyDecimals { found: 19, max: 18 }),
            ),
            (
                "19 decimals that also overflow",
                "1.0000000000000000000",
                Err(DecimalError::TooManyDecimals { found: 19, max: 18 }),
            ),
            (
                "300 decimals",
                &long,
                Err(DecimalError::TooManyDecimals {
                    found: u8::MAX,
                    max: 18,
                }),
            ),
            (
                "malformed before too many decimals",
                "0.00000000000000000001x",
                Err(DecimalError::Invalid),
            ),
        ];
        for (name, text, expected) in cases {
            assert_eq!(parse_mantissa(text.as_bytes()), expected, "{name}");
        }
    }

    #[test]
    fn display_table() {
        let cases = [
            (
                "price keeps its zeros",
                DecimalDisplay::fixed(137_200, 5),
                "1.37200",
            ),
            ("zero precision", DecimalDisplay::fixed(42, 0), "42"),
            ("negative fraction", DecimalDisplay::fixed(-5, 2), "-0.05"),
            (
                "money trimmed to minimum",
                Money(1_500_000_000_000_000_000).display(2),
                "1.50",
            ),
            (
                "money extends when needed",
                Money(1_234_500_000_000_000).display(2),
                "0.0012345",
            ),
            ("money zero", Money(0).display(0), "0"),
        ];
        for (name, display, expected) in cases {
            assert_eq!(display.to_string(), expected, "{name}");
        }
    }

    #[test]
    fn notional_is_exact() {
        // 1.37261 * 1000.5 = 1373.296305
        let money = Money::notional(Price(137_261), Qty(10_005), 5, 1);
        assert_eq!(money.display(6).to_string(), "1373.296305");
        assert_eq!(Money::parse("1373.296305"), Ok(money));
    }

    mod property_tests {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn fixed_round_trip(raw in -1_000_000_000_000i64..1_000_000_000_000, precision in 0u8..=MAX_PRECISION) {
                let text = DecimalDisplay::fixed(raw, precision).to_string();
                prop_assert_eq!(parse_fixed(text.as_bytes(), precision), Ok(raw));
                prop_assert_eq!(decimals_in(text.as_bytes()), precision);
            }

            #[test]
            fn money_round_trip(raw in any::<i64>(), min in 0u8..=MONEY_SCALE) {
                let money = Money(i128::from(raw) * 1_000);
                let text = money.display(min).to_string();
                prop_assert_eq!(Money::parse(&text), Ok(money));
            }
        }
    }
}
