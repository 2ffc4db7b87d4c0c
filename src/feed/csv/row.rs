//! Row validation and tick building for the main pass: each line's fields parsed at its
//! symbol's precisions into a quote and/or a trade, or a bad row named by file, line and
//! field (rejected or counted and skipped, per `BadRowPolicy`).

use std::sync::Arc;

use super::super::symbols::SymbolIndex;
use super::super::{FeedError, FeedStats, MAX_SKIPPED_EXAMPLES};
use super::line::{
    F_ASK, F_ASK_SIZE, F_BID, F_BID_SIZE, F_LAST, F_LAST_SIZE, F_SYMBOL, F_TS, FIELDS, field,
    quoted, strip_cr,
};
use crate::config::BadRowPolicy;
use crate::domain::fixed::{DecimalError, parse_fixed};
use crate::domain::{InstrumentId, InstrumentTable, Nanos, Price, Qty, Tick, TickKind};

/// What is wrong with a row; turned into text only when the message is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Problem {
    FieldCount { found: usize },
    Timestamp,
    Backwards { previous: u64 },
    EmptySymbol,
    UnknownSymbol,
    Decimal(DecimalError),
    NotPositive,
    Negative,
    NoPrice,
    HalfTrade,
    OrphanSizes,
}

#[derive(Clone, Copy, Debug)]
struct RowError {
    field: usize,
    problem: Problem,
}

impl RowError {
    fn message(&self, line: &[u8], commas: &[usize; 7]) -> String {
        let found = || quoted(field(line, commas, self.field));
        match self.problem {
            Problem::FieldCount { found } => {
                format!("expected 8 comma-separated fields, found {found}")
            }
            Problem::Timestamp => {
                format!(
                    "expected nanoseconds since the Unix epoch (an unsigned integer), found '{}'",
                    found()
                )
            }
            Problem::Backwards { previous } => format!(
                "expected a timestamp >= {previous} (the previous row's; time may not go backwards in a file), found {}",
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
            Problem::NotPositive => format!("expected a price > 0, found '{}'", found()),
            Problem::Negative => format!("expected a size >= 0, found '{}'", found()),
            Problem::NoPrice => "expected at least one of bid, ask or last, found none".to_owned(),
            Problem::HalfTrade => {
                "expected a trade price because last_size is given, found an empty field".to_owned()
            }
            Problem::OrphanSizes => {
                "expected a bid or ask because bid_size/ask_size is given, found neither".to_owned()
            }
        }
    }
}

#[inline]
fn parse_ts(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &b in bytes {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(value)
}

/// Precisions of one symbol as the parser needs them.
#[derive(Clone, Copy, Debug)]
struct SymbolSpec {
    id: InstrumentId,
    price_precision: u8,
    qty_precision: u8,
}

/// Row validation and tick building; the state that crosses rows (line number, last ts).
#[derive(Debug)]
pub(super) struct RowParser {
    name: Arc<str>,
    symbols: SymbolIndex,
    specs: Vec<SymbolSpec>,
    /// Number of the last line read; the header is line 1.
    line: u64,
    /// Timestamp of the last accepted row.
    last_ts: u64,
    policy: BadRowPolicy,
}

impl RowParser {
    pub(super) fn new(name: Arc<str>, table: &InstrumentTable, policy: BadRowPolicy) -> RowParser {
        let mut symbols = SymbolIndex::default();
        let mut specs = Vec::with_capacity(table.len());
        for (id, spec) in table.iter() {
            symbols.insert(spec.symbol.as_bytes());
            specs.push(SymbolSpec {
                id,
                price_precision: spec.price_precision,
                qty_precision: spec.qty_precision,
            });
        }
        RowParser {
            name,
            symbols,
            specs,
            line: 1,
            last_ts: 0,
            policy,
        }
    }

    /// Number of the last line read; the header is line 1.
    pub(super) fn line(&self) -> u64 {
        self.line
    }

    #[inline]
    fn price(
        line: &[u8],
        commas: &[usize; 7],
        k: usize,
        precision: u8,
    ) -> Result<Option<Price>, RowError> {
        let text = field(line, commas, k);
        if text.is_empty() {
            return Ok(None);
        }
        match parse_fixed(text, precision) {
            Ok(raw) if raw > 0 => Ok(Some(Price(raw))),
            Ok(_) => Err(RowError {
                field: k,
                problem: Problem::NotPositive,
            }),
            Err(e) => Err(RowError {
                field: k,
                problem: Problem::Decimal(e),
            }),
        }
    }

    #[inline]
    fn size(
        line: &[u8],
        commas: &[usize; 7],
        k: usize,
        precision: u8,
    ) -> Result<Option<Qty>, RowError> {
        let text = field(line, commas, k);
        if text.is_empty() {
            return Ok(None);
        }
        match parse_fixed(text, precision) {
            Ok(raw) if raw >= 0 => Ok(Some(Qty(raw))),
            Ok(_) => Err(RowError {
                field: k,
                problem: Problem::Negative,
            }),
            Err(e) => Err(RowError {
                field: k,
                problem: Problem::Decimal(e),
            }),
        }
    }

    /// Validates a non-empty line; returns the quote and/or trade it holds, quote first.
    #[inline]
    fn parse(
        &mut self,
        line: &[u8],
        commas: &[usize; 7],
        count: usize,
    ) -> Result<(Tick, Option<Tick>), RowError> {
        if count != 7 {
            // Too few: name the first missing field. Too many: the last one, which ran on.
            let field = if count < 7 { count + 1 } else { F_LAST_SIZE };
            return Err(RowError {
                field,
                problem: Problem::FieldCount { found: count + 1 },
            });
        }
        let ts = parse_ts(field(line, commas, F_TS)).ok_or(RowError {
            field: F_TS,
            problem: Problem::Timestamp,
        })?;
        if ts < self.last_ts {
            return Err(RowError {
                field: F_TS,
                problem: Problem::Backwards {
                    previous: self.last_ts,
                },
            });
        }
        let symbol = field(line, commas, F_SYMBOL);
        if symbol.is_empty() {
            return Err(RowError {
                field: F_SYMBOL,
                problem: Problem::EmptySymbol,
            });
        }
        let index = self.symbols.find(symbol).ok_or(RowError {
            field: F_SYMBOL,
            problem: Problem::UnknownSymbol,
        })?;
        let spec = self.specs[index];
        let (pp, qp) = (spec.price_precision, spec.qty_precision);
        let bid = Self::price(line, commas, F_BID, pp)?;
        let ask = Self::price(line, commas, F_ASK, pp)?;
        let bid_size = Self::size(line, commas, F_BID_SIZE, qp)?;
        let ask_size = Self::size(line, commas, F_ASK_SIZE, qp)?;
        let last = Self::price(line, commas, F_LAST, pp)?;
        let last_size = Self::size(line, commas, F_LAST_SIZE, qp)?;
        if last.is_none() && last_size.is_some() {
            return Err(RowError {
                field: F_LAST,
                problem: Problem::HalfTrade,
            });
        }
        let nanos = Nanos(ts);
        let trade = last.map(|price| Tick::trade(nanos, spec.id, price, last_size));
        let ticks = if bid.is_some() || ask.is_some() {
            (
                Tick::quote(nanos, spec.id, bid, ask, bid_size, ask_size),
                trade,
            )
        } else {
            let Some(trade) = trade else {
                return Err(RowError {
                    field: F_BID,
                    problem: Problem::NoPrice,
                });
            };
            if bid_size.is_some() || ask_size.is_some() {
                return Err(RowError {
                    field: F_BID,
                    problem: Problem::OrphanSizes,
                });
            }
            (trade, None)
        };
        self.last_ts = ts;
        Ok(ticks)
    }
}

impl RowParser {
    /// Handles one line (without its newline): ticks into `out` (or `carry`), or a bad row.
    #[inline]
    #[allow(clippy::too_many_arguments)] // the hot loop passes split state, not a struct
    pub(super) fn row(
        &mut self,
        line: &[u8],
        commas: &[usize; 7],
        count: usize,
        out: &mut Vec<Tick>,
        limit: usize,
        carry: &mut Option<Tick>,
        stats: &mut FeedStats,
    ) -> Result<(), FeedError> {
        self.line += 1;
        let line = strip_cr(line);
        if line.is_empty() {
            // A blank line holds no data (the csv crate skips them too).
            return Ok(());
        }
        stats.rows += 1;
        match self.parse(line, commas, count) {
            Ok((first, second)) => {
                count_tick(&first, stats);
                out.push(first);
                if let Some(second) = second {
                    count_tick(&second, stats);
                    if out.len() < limit {
                        out.push(second);
                    } else {
                        *carry = Some(second);
                    }
                }
                Ok(())
            }
            Err(error) => {
                let bad = || FeedError::BadRow {
                    file: self.name.to_string(),
                    line: self.line,
                    field: FIELDS[error.field],
                    message: error.message(line, commas),
                };
                match self.policy {
                    BadRowPolicy::Reject => Err(bad()),
                    BadRowPolicy::Skip => {
                        stats.skipped_rows += 1;
                        if stats.skipped_examples.len() < MAX_SKIPPED_EXAMPLES {
                            stats.skipped_examples.push(bad().to_string());
                        }
                        Ok(())
                    }
                }
            }
        }
    }
}

#[inline]
fn count_tick(tick: &Tick, stats: &mut FeedStats) {
    match tick.kind {
        TickKind::Quote => stats.quotes += 1,
        TickKind::Trade => stats.trades += 1,
    }
}
