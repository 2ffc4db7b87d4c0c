//! The value rules every tick file follows, in one place: the CSV parser and the binary
//! decoder call these same functions, so a binary file can hold nothing a CSV row could not.
//!
//! - Prices (bid, ask, last) are `> 0` and at most `MAX_RAW` raw; sizes are `>= 0` and at
//!   most `MAX_RAW` raw. The bound leaves room for the sums the engine does on raw values
//!   (`bid + ask`, `2 * price`, a sum of sizes): up to nine of them fit in an `i64`.
//! - Timestamps are nanoseconds since the Unix epoch from 2000-01-01 up to 2100-01-01; a
//!   value that would fit the window in seconds, milliseconds or microseconds is named so.
//! - A row more than `SUSPECT_JUMP_NS` after the previous accepted one is a suspect under
//!   `bad_rows = "skip"`: the row after it decides whether it was a typo (see `csv::row`).

use crate::domain::fixed::DecimalDisplay;

/// Largest raw price or size accepted: 10^18, below `i64::MAX / 9`. At 2 decimals that is a
/// price of 10^16; at the maximum of 9 decimals, 10^9.
pub(crate) const MAX_RAW: i64 = 1_000_000_000_000_000_000;

/// Timestamps accepted: from 2000-01-01 up to 2100-01-01 (UTC), in ns. The window exists
/// to catch a unit mistake (seconds, ms and µs since the epoch all land before 2000 when
/// read as ns), not to judge a clock.
pub(crate) const TS_WINDOW_NS: std::ops::Range<u64> =
    946_684_800_000_000_000..4_102_444_800_000_000_000;

/// A forward jump above this (one hour) is held back under `bad_rows = "skip"` until the next
/// row confirms it. Real files have longer gaps (FX weekends of ~48 h, exchange holidays,
/// halted instruments), so a jump is never refused for its size alone: only a jump that the
/// next row contradicts (it goes back below the jump) is the bad row.
pub(crate) const SUSPECT_JUMP_NS: u64 = 3_600_000_000_000;

/// Why a price or size breaks its rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueProblem {
    /// A price of zero or below.
    NotPositive,
    /// A size below zero.
    Negative,
    /// Above `MAX_RAW`.
    TooLarge,
}

impl ValueProblem {
    /// `expected ...` for a message; `precision` turns `MAX_RAW` into the written bound.
    pub(crate) fn expected(self, precision: u8) -> String {
        let max = DecimalDisplay {
            raw: i128::from(MAX_RAW),
            scale: precision,
            min_decimals: 0,
        };
        match self {
            ValueProblem::NotPositive => "expected a price > 0".to_owned(),
            ValueProblem::Negative => "expected a size >= 0".to_owned(),
            ValueProblem::TooLarge => format!(
                "expected at most {max} (10^18 raw at the instrument's {precision} decimals, \
                 so that sums cannot overflow)"
            ),
        }
    }
}

/// The price rule: `0 < raw <= MAX_RAW`.
///
/// # Errors
/// `NotPositive` or `TooLarge`.
#[inline(always)]
pub(crate) fn price(raw: i64) -> Result<i64, ValueProblem> {
    if raw <= 0 {
        Err(ValueProblem::NotPositive)
    } else if raw > MAX_RAW {
        Err(ValueProblem::TooLarge)
    } else {
        Ok(raw)
    }
}

/// The size rule: `0 <= raw <= MAX_RAW`.
///
/// # Errors
/// `Negative` or `TooLarge`.
#[inline(always)]
pub(crate) fn size(raw: i64) -> Result<i64, ValueProblem> {
    if raw < 0 {
        Err(ValueProblem::Negative)
    } else if raw > MAX_RAW {
        Err(ValueProblem::TooLarge)
    } else {
        Ok(raw)
    }
}

/// The timestamp rule: inside `TS_WINDOW_NS`.
#[inline(always)]
pub(crate) fn timestamp_ok(ns: u64) -> bool {
    TS_WINDOW_NS.contains(&ns)
}

/// `expected ...` for a timestamp outside the window, with the unit it looks like.
pub(crate) fn timestamp_expected(ns: u64) -> String {
    let unit = [
        (1_000_000_000, "seconds"),
        (1_000_000, "milliseconds"),
        (1_000, "microseconds"),
    ]
    .into_iter()
    .find(|&(scale, _)| ns.checked_mul(scale).is_some_and(timestamp_ok))
    .map(|(_, unit)| format!(" (it looks like {unit} since the epoch)"))
    .unwrap_or_default();
    format!(
        "expected nanoseconds since the Unix epoch from 2000-01-01 up to 2100-01-01, found {ns}{unit}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_rules_table() {
        type Rule = fn(i64) -> Result<i64, ValueProblem>;
        let cases: [(&str, Rule, i64, Result<i64, ValueProblem>); 8] = [
            ("price one", price, 1, Ok(1)),
            ("price zero", price, 0, Err(ValueProblem::NotPositive)),
            ("price negative", price, -5, Err(ValueProblem::NotPositive)),
            ("price at max", price, MAX_RAW, Ok(MAX_RAW)),
            (
                "price above max",
                price,
                MAX_RAW + 1,
                Err(ValueProblem::TooLarge),
            ),
            ("size zero", size, 0, Ok(0)),
            ("size negative", size, -1, Err(ValueProblem::Negative)),
            (
                "size above max",
                size,
                i64::MAX,
                Err(ValueProblem::TooLarge),
            ),
        ];
        for (name, rule, raw, expected) in cases {
            assert_eq!(rule(raw), expected, "{name}");
        }
    }

    #[test]
    fn nine_maximal_values_sum_without_overflow() {
        let sum = (0..9).try_fold(0i64, |acc, _| acc.checked_add(MAX_RAW));
        assert!(sum.is_some());
    }

    #[test]
    fn too_large_names_the_bound_at_the_precision() {
        assert!(
            ValueProblem::TooLarge
                .expected(2)
                .starts_with("expected at most 10000000000000000 "),
            "{}",
            ValueProblem::TooLarge.expected(2)
        );
    }

    #[test]
    fn timestamps_name_the_unit_they_look_like() {
        let cases = [
            ("seconds", 1_625_461_887, Some("looks like seconds")),
            (
                "milliseconds",
                1_625_461_887_000,
                Some("looks like milliseconds"),
            ),
            (
                "microseconds",
                1_625_461_887_000_000,
                Some("looks like microseconds"),
            ),
            ("nanoseconds", 1_625_461_887_000_000_000, None),
            ("tiny", 7, Some("found 7")),
            (
                "after 2100",
                4_102_444_800_000_000_000,
                Some("found 4102444800000000000"),
            ),
        ];
        for (name, ns, says) in cases {
            assert_eq!(timestamp_ok(ns), says.is_none(), "{name}");
            if let Some(says) = says {
                let message = timestamp_expected(ns);
                assert!(message.contains(says), "{name}: {message}");
            }
        }
        assert!(!timestamp_expected(7).contains("looks like"));
    }
}
