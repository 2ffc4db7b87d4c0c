//! Row validation and tick building for the main pass: each line's fields parsed at its
//! symbol's precisions into a quote and/or a trade, or a bad row named by file, line and
//! field (rejected or counted and skipped, per `BadRowPolicy`).
//!
//! `ticks_from_fields` is the one rule that turns a row's prices and sizes into ticks; the
//! Kite decoder uses it too, so a recorded live session reads back as the same ticks.

use std::sync::Arc;

use super::super::symbols::SymbolIndex;
use super::super::{FeedError, FeedStats, MAX_SKIPPED_EXAMPLES};
use super::line::{
    EXCHANGE_TS_WINDOW_NS, F_ASK, F_ASK_SIZE, F_BID, F_BID_SIZE, F_EXCHANGE_TS, F_LAST,
    F_LAST_SIZE, F_SYMBOL, F_TS, FIELDS, Layout, MAX_COMMAS, field, quoted, strip_cr,
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
    Shape(ShapeError),
    ExchangeTs,
}

/// The prices and sizes of one row (or one Kite packet), raw at the instrument's precisions;
/// `None` is an empty field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TickFields {
    pub(crate) bid: Option<Price>,
    pub(crate) ask: Option<Price>,
    pub(crate) bid_size: Option<Qty>,
    pub(crate) ask_size: Option<Qty>,
    pub(crate) last: Option<Price>,
    pub(crate) last_size: Option<Qty>,
}

/// Why `TickFields` make no ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShapeError {
    /// No bid, ask or last.
    NoPrice,
    /// A last size without a last price.
    HalfTrade,
    /// Bid or ask sizes on a row that has neither bid nor ask.
    OrphanSizes,
}

/// The rule every tick source follows: fields with a bid or an ask give a quote, then a trade
/// when they also have a last price; otherwise they give a trade. Half trades and sizes of an
/// absent quote are refused rather than guessed at.
///
/// # Errors
/// The fields hold no price, a last size without a last price, or quote sizes without a
/// quote.
// Always inlined: passed by value into the caller's registers, the fields cost the CSV
// parser nothing over building the ticks in place (measured: ~7% more instructions per row
// when called out of line with a reference).
#[inline(always)]
pub(crate) fn ticks_from_fields(
    ts: Nanos,
    instrument: InstrumentId,
    f: TickFields,
) -> Result<(Tick, Option<Tick>), ShapeError> {
    if f.last.is_none() && f.last_size.is_some() {
        return Err(ShapeError::HalfTrade);
    }
    let trade = f
        .last
        .map(|price| Tick::trade(ts, instrument, price, f.last_size));
    if f.bid.is_some() || f.ask.is_some() {
        let quote = Tick::quote(ts, instrument, f.bid, f.ask, f.bid_size, f.ask_size);
        return Ok((quote, trade));
    }
    let Some(trade) = trade else {
        return Err(ShapeError::NoPrice);
    };
    if f.bid_size.is_some() || f.ask_size.is_some() {
        return Err(ShapeError::OrphanSizes);
    }
    Ok((trade, None))
}

#[derive(Clone, Copy, Debug)]
struct RowError {
    field: usize,
    problem: Problem,
}

impl RowError {
    /// `line` holds the first eight fields; `exchange_ts` the 9th when the line has one.
    fn message(
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

/// An `exchange_ts_ns` field is empty or a plausible time. Only checked: the engine runs on
/// `ts_ns`; the exchange's time is for analysis.
// Out of line: a second inlined copy of `parse_ts` made the `ts_ns` loop of every row one
// instruction per digit slower (callgrind, Lean FX file).
#[inline(never)]
fn exchange_ts_ok(text: &[u8]) -> bool {
    text.is_empty() || parse_ts(text).is_some_and(|ns| EXCHANGE_TS_WINDOW_NS.contains(&ns))
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
    layout: Layout,
}

impl RowParser {
    pub(super) fn new(
        name: Arc<str>,
        table: &InstrumentTable,
        policy: BadRowPolicy,
        layout: Layout,
    ) -> RowParser {
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
            layout,
        }
    }

    /// Number of the last line read; the header is line 1.
    pub(super) fn line(&self) -> u64 {
        self.line
    }

    #[inline]
    fn price(
        line: &[u8],
        commas: &[usize; MAX_COMMAS],
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
        commas: &[usize; MAX_COMMAS],
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

    /// Validates a non-empty line of the layout `NINE` says; returns the quote and/or trade
    /// it holds, quote first.
    ///
    /// One copy per layout: with the layout a constant, an eight-field file pays nothing for
    /// the optional column (it cost ~1% more instructions per row as a runtime value).
    #[inline]
    fn parse<const NINE: bool>(
        &mut self,
        line: &[u8],
        commas: &[usize; MAX_COMMAS],
        count: usize,
    ) -> Result<(Tick, Option<Tick>), RowError> {
        let layout = if NINE {
            Layout::WithExchangeTs
        } else {
            Layout::Ticks
        };
        let expected = layout.commas();
        if count != expected {
            // Too few: name the first missing field. Too many: the last one, which ran on.
            let field = if count < expected {
                count + 1
            } else {
                expected
            };
            return Err(RowError {
                field,
                problem: Problem::FieldCount { found: count + 1 },
            });
        }
        let (line, exchange_ts) = layout.split(line, commas, count);
        if let Some(text) = exchange_ts
            && !exchange_ts_ok(text)
        {
            return Err(RowError {
                field: F_EXCHANGE_TS,
                problem: Problem::ExchangeTs,
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
        let fields = TickFields {
            bid: Self::price(line, commas, F_BID, pp)?,
            ask: Self::price(line, commas, F_ASK, pp)?,
            bid_size: Self::size(line, commas, F_BID_SIZE, qp)?,
            ask_size: Self::size(line, commas, F_ASK_SIZE, qp)?,
            last: Self::price(line, commas, F_LAST, pp)?,
            last_size: Self::size(line, commas, F_LAST_SIZE, qp)?,
        };
        let ticks = ticks_from_fields(Nanos(ts), spec.id, fields).map_err(|shape| RowError {
            field: match shape {
                ShapeError::HalfTrade => F_LAST,
                ShapeError::NoPrice | ShapeError::OrphanSizes => F_BID,
            },
            problem: Problem::Shape(shape),
        })?;
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
        commas: &[usize; MAX_COMMAS],
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
        let parsed = match self.layout {
            Layout::Ticks => self.parse::<false>(line, commas, count),
            Layout::WithExchangeTs => self.parse::<true>(line, commas, count),
        };
        match parsed {
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
                let (line, exchange_ts) = self.layout.split(line, commas, count);
                let bad = || FeedError::BadRow {
                    file: self.name.to_string(),
                    line: self.line,
                    field: FIELDS[error.field],
                    message: error.message(line, exchange_ts, commas, self.layout),
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
