//! Why a CSV row is bad, kept as a small `Copy` value while parsing and turned into the
//! `expected ..., found ...` text only when a message is needed (a rejected row, or one of
//! the first skipped rows kept as an example).

use super::super::rules::{self, ValueProblem};
use super::line::{F_EXCHANGE_TS, Layout, MAX_COMMAS, field, quoted};
use super::row::ShapeError;
use crate::domain::fixed::DecimalError;

/// What is wrong with a row; turned into text only when the message is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Problem {
    FieldCount {
        found: usize,
    },
    Timestamp,
    /// Parsed, but outside `rules::TS_WINDOW_NS` (`ts_ns` or `exchange_ts_ns`).
    TsWindow(u64),
    Backwards {
        previous: u64,
        line: u64,
    },
    EmptySymbol,
    UnknownSymbol,
    Decimal(DecimalError),
    /// A price or size outside its rule, at the instrument's precision.
    Value(ValueProblem, u8),
    Shape(ShapeError),
    ExchangeTs,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct RowError {
    pub(super) field: usize,
    pub(super) problem: Problem,
}

impl RowError {
    /// `line` holds the first eight fields; `exchange_ts` the 9th when the line has one.
    pub(super) fn message(
        &self,
        line: &[u8],
        exchange_ts: Option<&[u8]>,
        commas: &[usize; MAX_COMMAS],
        layout: Layout,
    ) -> String {
        let found = || {
            if self.field == F_EXCHANGE_TS {
                quoted(exchange_ts.unwrap_or_default())
            } else {
                quoted(field(line, commas, self.field))
            }
        };
        match self.problem {
            Problem::FieldCount { found } => {
                format!(
                    "expected {} comma-separated fields, found {found}",
                    layout.commas() + 1
                )
            }
            Problem::Timestamp => {
                format!(
                    "expected nanoseconds since the Unix epoch (an unsigned integer), found '{}'",
                    found()
                )
            }
            Problem::TsWindow(ns) => rules::timestamp_expected(ns),
            Problem::Backwards { previous, line } => format!(
                "expected a timestamp >= {previous} (the previous row's, line {line}; time may not go backwards in a file), found {}",
                found()
            ),
            Problem::EmptySymbol => "expected a symbol, found an empty field".to_owned(),
            Problem::UnknownSymbol => {
                format!(
                    "expected a symbol of the instrument table (scan the sources first), found '{}'",
                    found()
                )
            }
            Problem::Decimal(DecimalError::TooManyDecimals {
                found: decimals,
                max,
            }) => format!(
                "expected at most {max} decimals (the instrument's precision), found '{}' with {decimals}",
                found()
            ),
            Problem::Decimal(DecimalError::Overflow) => {
                format!(
                    "expected a number that fits 64 bits at the instrument's precision, found '{}'",
                    found()
                )
            }
            Problem::Decimal(DecimalError::Empty | DecimalError::Invalid) => {
                format!("expected a decimal number, found '{}'", found())
            }
            Problem::Value(problem, precision) => {
                format!("{}, found '{}'", problem.expected(precision), found())
            }
            Problem::Shape(ShapeError::NoPrice) => {
                "expected at least one of bid, ask or last, found none".to_owned()
            }
            Problem::Shape(ShapeError::HalfTrade) => {
                "expected a trade price because last_size is given, found an empty field".to_owned()
            }
            Problem::Shape(ShapeError::OrphanSizes) => {
                "expected a bid or ask because bid_size/ask_size is given, found neither".to_owned()
            }
            Problem::ExchangeTs => format!(
                "expected nanoseconds since the Unix epoch from 2000-01-01 up to 2100-01-01, or an empty field, found '{}'",
                found()
            ),
        }
    }
}
