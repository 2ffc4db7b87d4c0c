//! Row validation and tick building for the main pass: each line's fields parsed at its
//! symbol's precisions into a quote and/or a trade, or a bad row named by file, line and
//! field (rejected or counted and skipped, per `BadRowPolicy`).
//!
//! `ticks_from_fields` is the one rule that turns a row's prices and sizes into ticks; the
//! Kite decoder uses it too, so a recorded live session reads back as the same ticks. Value
//! ranges and the timestamp window are `feed::rules`, shared with the binary decoder.
//!
//! Under `BadRowPolicy::Skip` a row that jumps more than `SUSPECT_JUMP_NS` ahead is held back
//! (not delivered, not the new baseline) until the next good row: if that row goes back below
//! it, the held row was the typo and is skipped; otherwise it is delivered and time goes on
//! from it. So one far-future typo costs one row, not the rest of the file, and a real gap
//! (a weekend) delivers exactly what it did before. The first row has no baseline: it is
//! held too, and blamed only when the next row lies more than `SUSPECT_JUMP_NS` before it.
//! `Reject` never holds a row.
//!
//! With a dead-letter sink (`set_dead_letters`), every skipped row is also handed to it with
//! its raw bytes, from this (the reader's) thread, off the good-row path: `dead_letter` is
//! out of line and runs only for a skipped row.

use std::collections::VecDeque;
use std::sync::Arc;

use super::super::rules::{self, SUSPECT_JUMP_NS, ValueProblem};
use super::super::symbols::SymbolIndex;
use super::super::{FeedError, FeedStats, MAX_SKIPPED_EXAMPLES};
use super::line::{
    F_ASK, F_ASK_SIZE, F_BID, F_BID_SIZE, F_EXCHANGE_TS, F_LAST, F_LAST_SIZE, F_SYMBOL, F_TS,
    FIELDS, Layout, MAX_COMMAS, field, strip_cr,
};
use super::problem::{Problem, RowError};
use crate::config::BadRowPolicy;
use crate::dlq::{DeadLetters, Letter, Origin, Source};
use crate::domain::fixed::{DecimalError, parse_fixed};
use crate::domain::{InstrumentId, InstrumentTable, Nanos, Price, Qty, Tick, TickKind};

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

/// An `exchange_ts_ns` field is empty or a plausible time (the `ts_ns` rule). Only checked:
/// the engine runs on `ts_ns`; the exchange's time is for analysis.
// Out of line: a second inlined copy of `parse_ts` made the `ts_ns` loop of every row one
// instruction per digit slower (callgrind, Lean FX file).
#[inline(never)]
fn exchange_ts_problem(text: &[u8]) -> Option<Problem> {
    if text.is_empty() {
        return None;
    }
    match parse_ts(text) {
        None => Some(Problem::ExchangeTs),
        Some(ns) if rules::timestamp_ok(ns) => None,
        Some(ns) => Some(Problem::TsWindow(ns)),
    }
}

/// A row held back under `Skip` because it jumped far ahead; see the module doc.
#[derive(Clone, Copy, Debug)]
struct Suspect {
    ts: u64,
    line: u64,
    first: Tick,
    second: Option<Tick>,
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
    /// Line of the last accepted row (1, the header, before any).
    last_line: u64,
    /// A far jump waiting for the next row to confirm it (`Skip` only).
    suspect: Option<Suspect>,
    policy: BadRowPolicy,
    layout: Layout,
    /// Where skipped rows go, with their raw bytes.
    dead_letters: Option<DeadLetters>,
    /// The raw line of the held suspect, kept only with a dead-letter sink.
    suspect_raw: Vec<u8>,
}

/// Ticks that did not fit in the caller's chunk, delivered first on the next fill. At most
/// three wait (a held row's two and a row's second), so its capacity of four is never
/// outgrown and the queue does not allocate after `CsvSource::open`.
pub(super) type Carry = VecDeque<Tick>;

/// Capacity a `Carry` is created with.
pub(super) const CARRY_CAPACITY: usize = 4;

/// Appends to `out` while it has room and nothing waits; queues in `carry` otherwise.
#[inline]
fn deliver(
    tick: Tick,
    out: &mut Vec<Tick>,
    limit: usize,
    carry: &mut Carry,
    stats: &mut FeedStats,
) {
    count_tick(&tick, stats);
    if carry.is_empty() && out.len() < limit {
        out.push(tick);
    } else {
        carry.push_back(tick);
    }
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
            last_line: 1,
            suspect: None,
            policy,
            layout,
            dead_letters: None,
            suspect_raw: Vec::new(),
        }
    }

    /// Hands every row skipped from now on to `sink`.
    pub(super) fn set_dead_letters(&mut self, sink: DeadLetters) {
        self.dead_letters = Some(sink);
    }

    /// A skipped row to the dead-letter sink: line `line`, `raw` as read (no newline).
    #[cold]
    #[inline(never)]
    fn dead_letter(&self, line: u64, raw: &[u8], reason: String) {
        let Some(sink) = &self.dead_letters else {
            return;
        };
        // The row's own time, when its first field is one.
        let ts = raw
            .split(|&b| b == b',')
            .next()
            .and_then(parse_ts)
            .filter(|&ts| rules::timestamp_ok(ts));
        let origin = Origin::Line {
            file: Arc::clone(&self.name),
            line,
            columns: (self.layout.commas() + 1) as u8,
        };
        sink.record(Letter::now(Source::CsvRow, reason, origin, raw.to_vec()).with_event_ts(ts));
    }

    /// Number of the last line read; the header is line 1.
    pub(super) fn line(&self) -> u64 {
        self.line
    }

    /// Makes the next row line `line + 1` (replaying one row of a file alone).
    pub(super) fn start_at(&mut self, line: u64) {
        self.line = line;
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
        let value = match parse_fixed(text, precision) {
            Ok(raw) => rules::price(raw),
            Err(DecimalError::Overflow) => Err(ValueProblem::TooLarge),
            Err(e) => {
                return Err(RowError {
                    field: k,
                    problem: Problem::Decimal(e),
                });
            }
        };
        value.map(|raw| Some(Price(raw))).map_err(|p| RowError {
            field: k,
            problem: Problem::Value(p, precision),
        })
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
        let value = match parse_fixed(text, precision) {
            Ok(raw) => rules::size(raw),
            Err(DecimalError::Overflow) => Err(ValueProblem::TooLarge),
            Err(e) => {
                return Err(RowError {
                    field: k,
                    problem: Problem::Decimal(e),
                });
            }
        };
        value.map(|raw| Some(Qty(raw))).map_err(|p| RowError {
            field: k,
            problem: Problem::Value(p, precision),
        })
    }

    /// Validates a non-empty line of the layout `NINE` says; returns the quote and/or trade
    /// it holds, quote first. Does not move the baseline (`last_ts`): `row` does.
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
        if let Some(problem) = exchange_ts.and_then(exchange_ts_problem) {
            return Err(RowError {
                field: F_EXCHANGE_TS,
                problem,
            });
        }
        let ts = parse_ts(field(line, commas, F_TS)).ok_or(RowError {
            field: F_TS,
            problem: Problem::Timestamp,
        })?;
        if !rules::timestamp_ok(ts) {
            return Err(RowError {
                field: F_TS,
                problem: Problem::TsWindow(ts),
            });
        }
        if ts < self.last_ts {
            return Err(RowError {
                field: F_TS,
                problem: Problem::Backwards {
                    previous: self.last_ts,
                    line: self.last_line,
                },
            });
        }
        // A held first row has no baseline to have jumped from: a row a little before it
        // is the bad one, as it would be without holding; only one far before it (more than
        // the jump bound) makes the first row the suspect typo (see `accept`).
        if let Some(first) = &self.suspect
            && self.last_line == 1
            && ts < first.ts
            && first.ts - ts <= SUSPECT_JUMP_NS
        {
            return Err(RowError {
                field: F_TS,
                problem: Problem::Backwards {
                    previous: first.ts,
                    line: first.line,
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
        Ok(ticks)
    }

    /// A row that passed `parse`: resolves a held suspect against it, then delivers it, or
    /// holds it when it jumps far ahead under `Skip`.
    #[inline]
    #[allow(clippy::too_many_arguments)] // the hot loop passes split state, not a struct
    fn accept(
        &mut self,
        (first, second): (Tick, Option<Tick>),
        raw: &[u8],
        out: &mut Vec<Tick>,
        limit: usize,
        carry: &mut Carry,
        stats: &mut FeedStats,
    ) {
        let ts = first.ts.0;
        if let Some(suspect) = self.suspect.take() {
            if ts >= suspect.ts {
                self.deliver_suspect(suspect, out, limit, carry, stats);
            } else {
                let message = self.typo_message(&suspect, ts);
                self.skipped(message, suspect.line, stats);
            }
        }
        // Never under Reject: it must stop at the line where time goes back, as before.
        if self.policy == BadRowPolicy::Skip && ts.saturating_sub(self.last_ts) > SUSPECT_JUMP_NS {
            self.suspect = Some(Suspect {
                ts,
                line: self.line,
                first,
                second,
            });
            if self.dead_letters.is_some() {
                self.suspect_raw.clear();
                self.suspect_raw.extend_from_slice(raw);
            }
            return;
        }
        deliver(first, out, limit, carry, stats);
        if let Some(second) = second {
            deliver(second, out, limit, carry, stats);
        }
        self.last_ts = ts;
        self.last_line = self.line;
    }

    fn deliver_suspect(
        &mut self,
        suspect: Suspect,
        out: &mut Vec<Tick>,
        limit: usize,
        carry: &mut Carry,
        stats: &mut FeedStats,
    ) {
        deliver(suspect.first, out, limit, carry, stats);
        if let Some(second) = suspect.second {
            deliver(second, out, limit, carry, stats);
        }
        self.last_ts = suspect.ts;
        self.last_line = suspect.line;
    }

    /// Delivers a suspect still held at the end of the file: nothing contradicted it.
    pub(super) fn finish(
        &mut self,
        out: &mut Vec<Tick>,
        limit: usize,
        carry: &mut Carry,
        stats: &mut FeedStats,
    ) {
        if let Some(suspect) = self.suspect.take() {
            self.deliver_suspect(suspect, out, limit, carry, stats);
        }
    }

    fn typo_message(&self, suspect: &Suspect, next: u64) -> String {
        let after = if self.last_line > 1 {
            format!(
                "{} s after line {} ({})",
                suspect.ts.saturating_sub(self.last_ts) / 1_000_000_000,
                self.last_line,
                self.last_ts
            )
        } else {
            "the first row".to_owned()
        };
        FeedError::BadRow {
            file: self.name.to_string(),
            line: suspect.line,
            field: FIELDS[F_TS],
            message: format!(
                "expected a timestamp the next row confirms, found {} ({after}) while line {} goes back to {next}; skipped as a typo",
                suspect.ts, self.line
            ),
        }
        .to_string()
    }

    /// A held suspect found to be a typo: counted, kept as an example, and a dead letter.
    fn skipped(&self, message: String, line: u64, stats: &mut FeedStats) {
        stats.skipped_rows += 1;
        if self.dead_letters.is_some() {
            self.dead_letter(line, &self.suspect_raw, message.clone());
        }
        if stats.skipped_examples.len() < MAX_SKIPPED_EXAMPLES {
            stats.skipped_examples.push(message);
        }
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
        carry: &mut Carry,
        stats: &mut FeedStats,
    ) -> Result<(), FeedError> {
        self.line += 1;
        let raw = line;
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
            Ok(ticks) => {
                self.accept(ticks, raw, out, limit, carry, stats);
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
                        let example = stats.skipped_examples.len() < MAX_SKIPPED_EXAMPLES;
                        if example || self.dead_letters.is_some() {
                            let message = bad().to_string();
                            if self.dead_letters.is_some() {
                                self.dead_letter(self.line, raw, message.clone());
                            }
                            if example {
                                stats.skipped_examples.push(message);
                            }
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
