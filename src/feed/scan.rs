//! The instrument pre-scan: one fast pass over every source that interns symbols in order
//! of first appearance and finds each symbol's price and size precision, so that the main
//! pass can turn decimal text into fixed-point integers while it streams.

use super::stream::ByteStream;
use super::symbols::ScanAccumulator;
use super::{DataSource, FeedError, SourceFormat, binary};
use super::{csv, distinct};
use crate::config::InstrumentConfig;
use crate::domain::InstrumentTable;

/// What the pre-scan saw in one source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceInfo {
    /// Path or embedded name, as used in messages.
    pub name: String,
    pub format: SourceFormat,
    /// Size of the source in bytes.
    pub bytes: u64,
    /// Data rows (CSV lines after the header, blank lines excluded) or binary records.
    pub rows: u64,
}

/// What the pre-scan saw, per source in the given order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanInfo {
    pub sources: Vec<SourceInfo>,
    /// Rows of all sources.
    pub rows: u64,
    /// Bytes of all sources.
    pub bytes: u64,
}

/// Tells a binary tick file from CSV by its first bytes, whatever the file is called.
///
/// # Errors
/// A read error.
pub(super) fn detect(stream: &mut ByteStream) -> Result<SourceFormat, FeedError> {
    let prefix = stream.peek(binary::MAGIC.len())?;
    Ok(if binary::has_magic_prefix(prefix) {
        SourceFormat::Binary
    } else {
        SourceFormat::Csv
    })
}

/// Interns every symbol of `sources` into `table` (files in the given order, rows in order)
/// and widens its precisions to the most decimals seen: prices (bid, ask, last) and sizes
/// (bid_size, ask_size, last_size) separately. A symbol with an override gets exactly the
/// override's precisions, and is interned even when no source has it (after the data's
/// symbols, so data ids do not depend on overrides). CSV rows are not validated here;
/// binary files are read up to the end of their header only.
///
/// # Errors
/// A source is given twice (same file or same bytes, see `distinct`), a source cannot be
/// read, a CSV header is wrong, a binary header is bad or truncated, a
/// binary file holds a symbol at more decimals than its override, or an override asks for
/// more than `MAX_PRECISION` decimals.
pub fn scan_instruments(
    sources: &[DataSource],
    overrides: &[InstrumentConfig],
    table: &mut InstrumentTable,
) -> Result<ScanInfo, FeedError> {
    distinct::check_distinct(sources)?;
    let mut acc = ScanAccumulator::default();
    let mut info = ScanInfo::default();
    for source in sources {
        let mut stream = ByteStream::open(source)?;
        let format = detect(&mut stream)?;
        let rows = match format {
            SourceFormat::Csv => csv::scan(&mut stream, &mut acc)?,
            SourceFormat::Binary => {
                let header = binary::read_header(&mut stream)?;
                for symbol in &header.symbols {
                    let Some(entry) = acc.entry(symbol.symbol.as_bytes()) else {
                        continue;
                    };
                    // A binary header does not say which kinds a symbol has.
                    (entry.quotes, entry.trades) = (true, true);
                    entry.price_precision = entry.price_precision.max(symbol.price_precision);
                    entry.qty_precision = entry.qty_precision.max(symbol.qty_precision);
                    let (price, qty) = entry.binary.as_ref().map_or((0, 0), |b| (b.0, b.1));
                    if symbol.price_precision > price || symbol.qty_precision > qty {
                        entry.binary = Some((
                            price.max(symbol.price_precision),
                            qty.max(symbol.qty_precision),
                            stream.name().clone(),
                        ));
                    }
                }
                header.record_count
            }
        };
        info.rows += rows;
        info.bytes += stream.len();
        info.sources.push(SourceInfo {
            name: stream.name().to_string(),
            format,
            bytes: stream.len(),
            rows,
        });
    }
    for entry in &acc.entries {
        let id = table.intern(&entry.symbol);
        table.set_data_kinds(id, entry.quotes, entry.trades);
        let fixed = overrides.iter().find(|o| o.symbol == entry.symbol);
        let (fixed_price, fixed_qty) =
            fixed.map_or((None, None), |f| (f.price_precision, f.qty_precision));
        if let (Some((price, qty, file)), Some(fixed)) = (&entry.binary, fixed)
            && (fixed_price.is_some_and(|p| *price > p) || fixed_qty.is_some_and(|q| *qty > q))
        {
            return Err(FeedError::Format {
                file: file.to_string(),
                message: format!(
                    "symbol '{}' is stored at price/qty precision {price}/{qty}, more than its \
                     override at {}:{}",
                    entry.symbol,
                    fixed.file.display(),
                    fixed.line
                ),
            });
        }
        table.widen(
            id,
            fixed_price.unwrap_or(entry.price_precision),
            fixed_qty.unwrap_or(entry.qty_precision),
        )?;
    }
    // Symbols no source has are interned only when config fixes a precision (a strategy
    // may still name them); terms alone describe data that may come.
    for fixed in overrides {
        if fixed.price_precision.is_none() && fixed.qty_precision.is_none() {
            continue;
        }
        let id = table.intern(&fixed.symbol);
        table.widen(
            id,
            fixed.price_precision.unwrap_or(0),
            fixed.qty_precision.unwrap_or(0),
        )?;
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(name: &'static str, text: &'static str) -> DataSource {
        DataSource::Embedded {
            name,
            bytes: text.as_bytes(),
        }
    }

    fn specs(table: &InstrumentTable) -> Vec<(String, u8, u8)> {
        table
            .iter()
            .map(|(_, s)| (s.symbol.clone(), s.price_precision, s.qty_precision))
            .collect()
    }

    #[test]
    fn precision_is_inferred_across_files_and_ids_follow_first_appearance() {
        let a = csv(
            "a.csv",
            "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n1,X,1.5,1.6,,,,\n2,Y,,,,,7,1\n",
        );
        let b = csv(
            "b.csv",
            "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n1,Z,1,2,,,,\n3,X,1.505,1.6,0.25,,,\n",
        );
        let mut table = InstrumentTable::new();
        let info = scan_instruments(&[a.clone(), b.clone()], &[], &mut table).expect("scan");
        assert_eq!(
            specs(&table),
            [("X".into(), 3, 2), ("Y".into(), 0, 0), ("Z".into(), 0, 0)]
        );
        assert_eq!(
            (info.rows, info.sources.len(), info.sources[1].rows),
            (4, 2, 2)
        );
        assert_eq!(info.sources[0].format, SourceFormat::Csv);

        let mut reversed = InstrumentTable::new();
        scan_instruments(&[b, a], &[], &mut reversed).expect("scan");
        assert_eq!(
            specs(&reversed),
            [("Z".into(), 0, 0), ("X".into(), 3, 2), ("Y".into(), 0, 0)]
        );
    }

    #[test]
    fn overrides_fix_precision_and_intern_absent_symbols_last() {
        let a = csv(
            "a.csv",
            "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n1,X,1.5,1.6,,,,\n1,Y,1.55,1.6,,,,\n",
        );
        let overrides = [
            InstrumentConfig::fixed("W", 1, 1),
            InstrumentConfig::fixed("Y", 4, 0),
        ];
        let mut table = InstrumentTable::new();
        scan_instruments(&[a], &overrides, &mut table).expect("scan");
        assert_eq!(
            specs(&table),
            [("X".into(), 1, 0), ("Y".into(), 4, 0), ("W".into(), 1, 1)]
        );
    }

    #[test]
    fn override_above_max_precision_is_an_instrument_error() {
        let overrides = [InstrumentConfig::fixed("W", 12, 0)];
        let err = scan_instruments(&[], &overrides, &mut InstrumentTable::new())
            .expect_err("too precise");
        assert!(matches!(err, FeedError::Instrument(_)), "{err}");
    }
}
