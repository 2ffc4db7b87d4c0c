//! The CSV side of the instrument pre-scan: checks the header, then per row only finds the
//! symbol and counts decimals, at the speed of the splitter.

use super::super::FeedError;
use super::super::stream::ByteStream;
use super::super::symbols::ScanAccumulator;
use super::line::{
    F_ASK, F_ASK_SIZE, F_BID, F_BID_SIZE, F_LAST, F_LAST_SIZE, F_SYMBOL, Layout, MAX_COMMAS, field,
    line_too_long, read_header, split_line, strip_cr,
};
use crate::domain::fixed::{MAX_PRECISION, decimals_in};

/// Pre-scan of one CSV source: checks the header, then per row only finds the symbol and
/// counts decimals. Rows are not validated (the parser does that); a row without the header's
/// field count or with an empty symbol is passed over so that garbage does not become an
/// instrument.
///
/// # Errors
/// A read error, a bad header, or a line longer than the read buffer.
pub(crate) fn scan(stream: &mut ByteStream, acc: &mut ScanAccumulator) -> Result<u64, FeedError> {
    match read_header(stream)? {
        Layout::Ticks => scan_rows::<false>(stream, acc),
        Layout::WithExchangeTs => scan_rows::<true>(stream, acc),
    }
}

/// The rows after the header; one copy per layout, so the layout is a constant in the loop
/// (as a runtime value it cost the scan ~2% more instructions).
fn scan_rows<const NINE: bool>(
    stream: &mut ByteStream,
    acc: &mut ScanAccumulator,
) -> Result<u64, FeedError> {
    let mut rows = 0u64;
    let mut commas = [0usize; MAX_COMMAS];
    loop {
        let available = stream.available();
        let mut pos = 0;
        loop {
            let rest = &available[pos..];
            let (newline, count) = split_line(rest, &mut commas);
            let Some(newline) = newline else { break };
            let (line, count) = eight_fields::<NINE>(strip_cr(&rest[..newline]), &commas, count);
            scan_line(line, &commas, count, acc, &mut rows);
            pos += newline + 1;
        }
        stream.consume(pos);
        if stream.is_full() {
            return Err(line_too_long(stream, None));
        }
        if stream.refill()? == 0 {
            let rest = stream.available();
            let (_, count) = split_line(rest, &mut commas);
            let (line, count) = eight_fields::<NINE>(strip_cr(rest), &commas, count);
            scan_line(line, &commas, count, acc, &mut rows);
            let len = rest.len();
            stream.consume(len);
            return Ok(rows);
        }
    }
}

/// A nine-field line cut to its first eight fields (the scan ignores `exchange_ts_ns`), with
/// the comma count of an eight-field line; a nine-field line of the wrong count gets a count
/// `scan_line` passes over.
#[inline(always)]
fn eight_fields<'a, const NINE: bool>(
    line: &'a [u8],
    commas: &[usize; MAX_COMMAS],
    count: usize,
) -> (&'a [u8], usize) {
    if !NINE {
        return (line, count);
    }
    match Layout::WithExchangeTs.split(line, commas, count) {
        (head, Some(_)) => (head, 7),
        (_, None) => (line, usize::MAX),
    }
}

#[inline]
fn scan_line(
    line: &[u8],
    commas: &[usize; MAX_COMMAS],
    count: usize,
    acc: &mut ScanAccumulator,
    rows: &mut u64,
) {
    if line.is_empty() {
        return;
    }
    *rows += 1;
    if count != 7 {
        return;
    }
    let symbol = field(line, commas, F_SYMBOL);
    if symbol.is_empty() {
        return;
    }
    let decimals = |k| decimals_in(field(line, commas, k));
    let price = decimals(F_BID).max(decimals(F_ASK)).max(decimals(F_LAST));
    let qty = decimals(F_BID_SIZE)
        .max(decimals(F_ASK_SIZE))
        .max(decimals(F_LAST_SIZE));
    let quote = !field(line, commas, F_BID).is_empty() || !field(line, commas, F_ASK).is_empty();
    let trade = !field(line, commas, F_LAST).is_empty();
    if let Some(entry) = acc.entry(symbol) {
        entry.quotes |= quote;
        entry.trades |= trade;
        // More than MAX_PRECISION decimals cannot be represented: leave the precision alone
        // and let the parser report the row (a scan error would end even a `Skip` run).
        if price <= MAX_PRECISION {
            entry.price_precision = entry.price_precision.max(price);
        }
        if qty <= MAX_PRECISION {
            entry.qty_precision = entry.qty_precision.max(qty);
        }
    }
}
