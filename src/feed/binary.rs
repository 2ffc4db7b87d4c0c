//! The binary tick file: `MAGIC`, a little-endian `u32` header length, a bincode header
//! (format version, record count, symbols with precisions), then fixed 56-byte little-endian
//! records. Reading decodes straight from one reusable buffer with `from_le_bytes`, with no
//! allocation per record; writing (`convert_to_binary`) streams its input.
//!
//! Record layout (offsets in bytes):
//! `0 ts u64 | 8 local_ts u64 | 16 instrument u32 (file-local id) | 20 kind u8 | 21 flags u8 |
//! 22 reserved u16 = 0 | 24 bid i64 | 32 ask i64 | 40 bid_size i64 | 48 ask_size i64`.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::stream::ByteStream;
use super::{DataSource, FeedError, FeedStats, MAX_SKIPPED_EXAMPLES, TickReader, scan_instruments};
use crate::config::BadRowPolicy;
use crate::config::InstrumentConfig;
use crate::domain::fixed::MAX_PRECISION;
use crate::domain::{
    InstrumentId, InstrumentTable, Nanos, POW10, Price, Qty, Tick, TickFlags, TickKind,
};

/// First bytes of every binary tick file; the last byte is the format generation.
pub const MAGIC: [u8; 8] = *b"APTICKS1";
/// Version inside the header, for changes that keep the magic.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes of one record.
pub const RECORD_SIZE: usize = 56;
/// Record count written until the conversion finishes: a reader refuses a file that still
/// has it (the writer stopped half-way).
const UNFINISHED: u64 = u64::MAX;
/// Largest header accepted: guards the allocation against a corrupt length.
const MAX_HEADER: u32 = 1 << 20;
/// Magic (8) + header length (4).
const PREAMBLE: usize = MAGIC.len() + 4;
/// Ticks per write during conversion.
const CONVERT_CHUNK: usize = 16 * 1024;

/// One symbol of a binary file; its position is the file-local instrument id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FileSymbol {
    pub(super) symbol: String,
    pub(super) price_precision: u8,
    pub(super) qty_precision: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FileHeader {
    pub(super) version: u32,
    pub(super) record_count: u64,
    pub(super) symbols: Vec<FileSymbol>,
}

/// Fixed-width integers so that the header length does not change when the real record
/// count replaces the placeholder.
fn header_config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_fixed_int_encoding()
        .with_little_endian()
        .with_limit::<{ MAX_HEADER as usize }>()
}

/// True when `prefix` starts like a file of this family (any generation).
pub(super) fn has_magic_prefix(prefix: &[u8]) -> bool {
    prefix.len() >= MAGIC.len() && prefix[..MAGIC.len() - 1] == MAGIC[..MAGIC.len() - 1]
}

fn format_error(stream: &ByteStream, message: String) -> FeedError {
    FeedError::Format {
        file: stream.name().to_string(),
        message,
    }
}

/// Reads and checks the preamble and header, leaving the stream at the first record. Also
/// checks that the source holds exactly the records the header announces.
///
/// # Errors
/// A read error, another format generation, a corrupt header, or a truncated or unfinished file.
pub(super) fn read_header(stream: &mut ByteStream) -> Result<FileHeader, FeedError> {
    let preamble = stream.peek(PREAMBLE)?;
    if preamble.len() < PREAMBLE {
        return Err(format_error(
            stream,
            "truncated binary tick file: the header is incomplete".into(),
        ));
    }
    if preamble[..MAGIC.len()] != MAGIC {
        let found = String::from_utf8_lossy(&preamble[..MAGIC.len()]).into_owned();
        let expected = String::from_utf8_lossy(&MAGIC).into_owned();
        return Err(format_error(
            stream,
            format!("unsupported binary tick file: expected '{expected}', found '{found}'"),
        ));
    }
    let header_len = u32::from_le_bytes([preamble[8], preamble[9], preamble[10], preamble[11]]);
    if header_len > MAX_HEADER {
        return Err(format_error(
            stream,
            format!("corrupt header: length {header_len} above {MAX_HEADER}"),
        ));
    }
    let total = PREAMBLE + header_len as usize;
    let bytes = stream.peek(total)?;
    if bytes.len() < total {
        return Err(format_error(
            stream,
            "truncated binary tick file: the header is incomplete".into(),
        ));
    }
    let decoded = bincode::serde::decode_from_slice::<FileHeader, _>(
        &bytes[PREAMBLE..total],
        header_config(),
    );
    let header = match decoded {
        Ok((header, used)) if used == header_len as usize => header,
        Ok(_) => {
            return Err(format_error(
                stream,
                "corrupt header: bytes left after it".into(),
            ));
        }
        Err(e) => return Err(format_error(stream, format!("corrupt header: {e}"))),
    };
    stream.consume(total);
    if header.version != FORMAT_VERSION {
        let message = format!(
            "unsupported format version {} (this build reads {FORMAT_VERSION})",
            header.version
        );
        return Err(format_error(stream, message));
    }
    if header.record_count == UNFINISHED {
        return Err(format_error(
            stream,
            "unfinished binary tick file: its conversion did not complete".into(),
        ));
    }
    for (i, symbol) in header.symbols.iter().enumerate() {
        let problem = if symbol.symbol.is_empty() {
            Some("an empty symbol".to_owned())
        } else if symbol.price_precision > MAX_PRECISION || symbol.qty_precision > MAX_PRECISION {
            Some(format!(
                "symbol '{}' with more than {MAX_PRECISION} decimals",
                symbol.symbol
            ))
        } else if header.symbols[..i]
            .iter()
            .any(|s| s.symbol == symbol.symbol)
        {
            Some(format!("symbol '{}' twice", symbol.symbol))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(format_error(stream, format!("corrupt header: {problem}")));
        }
    }
    let data = stream.len().saturating_sub(total as u64);
    let expected = header.record_count.checked_mul(RECORD_SIZE as u64);
    if expected != Some(data) {
        let message = match expected {
            Some(expected) if data < expected => format!(
                "truncated binary tick file: the header announces {} records ({expected} bytes), found {data} bytes",
                header.record_count
            ),
            _ => format!(
                "corrupt binary tick file: {data} record bytes do not match the {} records announced",
                header.record_count
            ),
        };
        return Err(format_error(stream, message));
    }
    Ok(header)
}

#[inline(always)]
fn le_u64(record: &[u8; RECORD_SIZE], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&record[at..at + 8]);
    u64::from_le_bytes(bytes)
}

#[inline(always)]
fn le_i64(record: &[u8; RECORD_SIZE], at: usize) -> i64 {
    le_u64(record, at) as i64
}

/// Writes one tick as a record; `instrument` is the file-local id.
#[inline]
pub(super) fn encode_record(tick: &Tick, instrument: u32, record: &mut [u8; RECORD_SIZE]) {
    record[0..8].copy_from_slice(&tick.ts.0.to_le_bytes());
    record[8..16].copy_from_slice(&tick.local_ts.0.to_le_bytes());
    record[16..20].copy_from_slice(&instrument.to_le_bytes());
    record[20] = tick.kind as u8;
    record[21] = tick.flags.0;
    record[22..24].copy_from_slice(&[0, 0]);
    record[24..32].copy_from_slice(&tick.bid.0.to_le_bytes());
    record[32..40].copy_from_slice(&tick.ask.0.to_le_bytes());
    record[40..48].copy_from_slice(&tick.bid_size.0.to_le_bytes());
    record[48..56].copy_from_slice(&tick.ask_size.0.to_le_bytes());
}

/// How a file-local instrument maps into the run.
#[derive(Clone, Copy, Debug)]
struct LocalInstrument {
    id: InstrumentId,
    /// `10^(run precision - file precision)`.
    price_scale: i64,
    qty_scale: i64,
}

/// Record → tick, with the state that crosses records.
#[derive(Debug)]
struct RecordDecoder {
    instruments: Vec<LocalInstrument>,
    /// False when every scale is 1: the common case skips the multiplications.
    rescale: bool,
    last_ts: u64,
}

/// A binary source in the main pass.
#[derive(Debug)]
pub(super) struct BinarySource {
    stream: ByteStream,
    name: Arc<str>,
    decoder: RecordDecoder,
    /// Records not decoded yet.
    remaining: u64,
    /// Records decoded so far (the number of the last one, 1-based).
    record: u64,
    policy: BadRowPolicy,
}

/// Why a record was refused: field name and message.
type RecordError = (&'static str, String);

impl BinarySource {
    /// Reads the header of a source whose magic was seen, and maps its symbols to `table`.
    ///
    /// # Errors
    /// See `read_header`; also a symbol missing from `table` or stored at more decimals than
    /// `table` gives it (the table was not scanned from this file).
    pub(super) fn open(
        mut stream: ByteStream,
        table: &InstrumentTable,
        policy: BadRowPolicy,
    ) -> Result<BinarySource, FeedError> {
        let header = read_header(&mut stream)?;
        let mut instruments = Vec::with_capacity(header.symbols.len());
        for symbol in &header.symbols {
            let Some(id) = table.find(&symbol.symbol) else {
                let message = format!(
                    "symbol '{}' is not in the instrument table (scan this file first)",
                    symbol.symbol
                );
                return Err(format_error(&stream, message));
            };
            let spec = table.spec(id);
            if spec.price_precision < symbol.price_precision
                || spec.qty_precision < symbol.qty_precision
            {
                let message = format!(
                    "symbol '{}' is stored at price/qty precision {}/{}, above the run's {}/{}",
                    symbol.symbol,
                    symbol.price_precision,
                    symbol.qty_precision,
                    spec.price_precision,
                    spec.qty_precision
                );
                return Err(format_error(&stream, message));
            }
            instruments.push(LocalInstrument {
                id,
                price_scale: POW10[usize::from(spec.price_precision - symbol.price_precision)],
                qty_scale: POW10[usize::from(spec.qty_precision - symbol.qty_precision)],
            });
        }
        let rescale = instruments
            .iter()
            .any(|i| i.price_scale != 1 || i.qty_scale != 1);
        Ok(BinarySource {
            name: stream.name().clone(),
            stream,
            decoder: RecordDecoder {
                instruments,
                rescale,
                last_ts: 0,
            },
            remaining: header.record_count,
            record: 0,
            policy,
        })
    }

    /// The byte input.
    pub(super) fn stream(&self) -> &ByteStream {
        &self.stream
    }
}

impl RecordDecoder {
    #[inline(always)]
    fn decode(&mut self, record: &[u8; RECORD_SIZE]) -> Result<Tick, RecordError> {
        let ts = le_u64(record, 0);
        let local = u32::from_le_bytes([record[16], record[17], record[18], record[19]]);
        let kind = match record[20] {
            0 => TickKind::Quote,
            1 => TickKind::Trade,
            other => {
                return Err((
                    "kind",
                    format!("expected 0 (quote) or 1 (trade), found {other}"),
                ));
            }
        };
        let flags = record[21];
        if flags > TickFlags::BID | TickFlags::ASK | TickFlags::BID_SIZE | TickFlags::ASK_SIZE {
            return Err((
                "flags",
                format!("expected bits 0-3 only, found {flags:#04x}"),
            ));
        }
        let Some(&instrument) = self.instruments.get(local as usize) else {
            let count = self.instruments.len();
            return Err((
                "instrument",
                format!("expected a file-local id below {count}, found {local}"),
            ));
        };
        if ts < self.last_ts {
            return Err((
                "ts",
                format!(
                    "expected a timestamp >= {} (the previous record's), found {ts}",
                    self.last_ts
                ),
            ));
        }
        let mut values = [
            le_i64(record, 24),
            le_i64(record, 32),
            le_i64(record, 40),
            le_i64(record, 48),
        ];
        if self.rescale {
            let scales = [
                instrument.price_scale,
                instrument.price_scale,
                instrument.qty_scale,
                instrument.qty_scale,
            ];
            for (value, scale) in values.iter_mut().zip(scales) {
                *value = value.checked_mul(scale).ok_or((
                    "value",
                    format!("{value} overflows when rescaled by {scale} to the run's precision"),
                ))?;
            }
        }
        self.last_ts = ts;
        Ok(Tick {
            ts: Nanos(ts),
            local_ts: Nanos(le_u64(record, 8)),
            seq: 0,
            instrument: instrument.id,
            kind,
            flags: TickFlags(flags),
            bid: Price(values[0]),
            ask: Price(values[1]),
            bid_size: Qty(values[2]),
            ask_size: Qty(values[3]),
        })
    }
}

impl BinarySource {
    /// Appends ticks to `out` until it holds `limit`; returns true at the end of the source.
    ///
    /// # Errors
    /// A read error, the file ending early, or a bad record under `BadRowPolicy::Reject`
    /// (the ticks before it are in `out`).
    pub(super) fn fill(
        &mut self,
        out: &mut Vec<Tick>,
        limit: usize,
        stats: &mut FeedStats,
    ) -> Result<bool, FeedError> {
        loop {
            if self.remaining == 0 {
                return Ok(true);
            }
            if out.len() >= limit {
                return Ok(false);
            }
            let available = self.stream.available();
            let room =
                (limit - out.len()).min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
            let (records, _) = available.as_chunks::<RECORD_SIZE>();
            let records = &records[..records.len().min(room)];
            if records.is_empty() {
                if self.stream.refill()? == 0 {
                    let message = format!(
                        "truncated binary tick file: ended after {} records",
                        self.record
                    );
                    return Err(format_error(&self.stream, message));
                }
                continue;
            }
            out.reserve(records.len());
            let (mut quotes, mut trades, mut used) = (0u64, 0u64, 0usize);
            let mut result = Ok(());
            for record in records {
                used += 1;
                self.record += 1;
                match self.decoder.decode(record) {
                    Ok(tick) => {
                        trades += u64::from(tick.kind == TickKind::Trade);
                        quotes += u64::from(tick.kind == TickKind::Quote);
                        out.push(tick);
                    }
                    Err((field, message)) => {
                        let error = FeedError::BadRecord {
                            file: self.name.to_string(),
                            record: self.record,
                            field,
                            message,
                        };
                        match self.policy {
                            BadRowPolicy::Reject => {
                                result = Err(error);
                                break;
                            }
                            BadRowPolicy::Skip => {
                                stats.skipped_rows += 1;
                                if stats.skipped_examples.len() < MAX_SKIPPED_EXAMPLES {
                                    stats.skipped_examples.push(error.to_string());
                                }
                            }
                        }
                    }
                }
            }
            stats.rows += used as u64;
            stats.quotes += quotes;
            stats.trades += trades;
            self.remaining -= used as u64;
            self.stream.consume(used * RECORD_SIZE);
            result?;
        }
    }
}

/// What a conversion did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConvertStats {
    /// Rows (or records) read, bad ones included.
    pub rows: u64,
    /// Records written.
    pub ticks: u64,
    /// Bad rows skipped under `BadRowPolicy::Skip`.
    pub skipped_rows: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Converts one CSV (or binary) source into a binary tick file at `output`, streaming: a
/// pre-scan pass finds symbols and precisions (stored in the header), then ticks are
/// written as they are parsed and the record count is filled in at the end. A failed
/// conversion removes `output`.
///
/// # Errors
/// Anything `scan_instruments` or `TickReader` reports, `output` naming the input file, or
/// a write error.
pub fn convert_to_binary(
    input: &DataSource,
    output: &Path,
    overrides: &[InstrumentConfig],
    policy: BadRowPolicy,
) -> Result<ConvertStats, FeedError> {
    if let DataSource::File(path) = input
        && let (Ok(a), Ok(b)) = (path.canonicalize(), output.canonicalize())
        && a == b
    {
        let message = "the output is the input file; refusing to overwrite it".to_owned();
        return Err(FeedError::Format {
            file: output.display().to_string(),
            message,
        });
    }
    let inputs = std::slice::from_ref(input);
    let mut table = InstrumentTable::new();
    scan_instruments(inputs, overrides, &mut table)?;
    let mut reader = TickReader::open(inputs, &table, policy)?;
    let written = write_binary(&mut reader, &table, output);
    let ticks = match written {
        Ok(ticks) => ticks,
        Err(e) => {
            // Best effort: its placeholder count already makes readers refuse a partial file.
            let _ = std::fs::remove_file(output);
            return Err(e);
        }
    };
    let stats = reader.stats();
    Ok(ConvertStats {
        rows: stats.rows,
        ticks,
        skipped_rows: stats.skipped_rows,
        bytes_in: stats.bytes_total,
        bytes_out: (PREAMBLE + header_bytes(&table, ticks)?.len()) as u64
            + ticks * RECORD_SIZE as u64,
    })
}

fn header_bytes(table: &InstrumentTable, record_count: u64) -> Result<Vec<u8>, FeedError> {
    let header = FileHeader {
        version: FORMAT_VERSION,
        record_count,
        symbols: table
            .iter()
            .map(|(_, s)| FileSymbol {
                symbol: s.symbol.clone(),
                price_precision: s.price_precision,
                qty_precision: s.qty_precision,
            })
            .collect(),
    };
    bincode::serde::encode_to_vec(&header, header_config()).map_err(|e| FeedError::Format {
        file: "<binary header>".into(),
        message: format!("cannot encode the header: {e}"),
    })
}

/// Writes header and records; returns the number of records.
fn write_binary(
    reader: &mut TickReader,
    table: &InstrumentTable,
    output: &Path,
) -> Result<u64, FeedError> {
    let io = |source| FeedError::Io {
        path: output.to_path_buf(),
        source,
    };
    let mut file = File::create(output).map_err(io)?;
    let header = header_bytes(table, UNFINISHED)?;
    let header_len = u32::try_from(header.len())
        .ok()
        .filter(|&len| len <= MAX_HEADER)
        .ok_or_else(|| FeedError::Format {
            file: output.display().to_string(),
            message: "too many symbols for one header".into(),
        })?;
    file.write_all(&MAGIC).map_err(io)?;
    file.write_all(&header_len.to_le_bytes()).map_err(io)?;
    file.write_all(&header).map_err(io)?;
    let mut ticks = Vec::with_capacity(CONVERT_CHUNK);
    let mut bytes = vec![0u8; CONVERT_CHUNK * RECORD_SIZE];
    let mut count = 0u64;
    loop {
        let n = reader.read_chunk(&mut ticks, CONVERT_CHUNK)?;
        if n == 0 {
            break;
        }
        let (records, _) = bytes.as_chunks_mut::<RECORD_SIZE>();
        for (tick, record) in ticks.iter().zip(records.iter_mut()) {
            // File-local ids are the ids of this conversion's own table.
            encode_record(tick, tick.instrument.0, record);
        }
        file.write_all(&bytes[..n * RECORD_SIZE]).map_err(io)?;
        count += n as u64;
    }
    let header = header_bytes(table, count)?;
    debug_assert_eq!(
        header.len(),
        header_len as usize,
        "fixed-int encoding keeps the length"
    );
    file.seek(SeekFrom::Start(PREAMBLE as u64)).map_err(io)?;
    file.write_all(&header).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const CSV_A: &str = "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n\
                         10,EURUSD,1.1000,1.1002,1000000,,,\n\
                         20,SPY,,,,,400.25,100\n\
                         20,EURUSD,1.1001,1.1000,,2000000,1.10005,5\n\
                         30,SPY,400.20,400.30,3,4,,\n";
    const CSV_B: &str = "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n\
                         15,EURUSD,1.100015,1.1002,,,,\n\
                         20,BTC,,,,,60000.5,0.001\n\
                         25,SPY,,,,,400.5,7\n";

    fn read_all(
        sources: &[DataSource],
        overrides: &[InstrumentConfig],
    ) -> Result<(InstrumentTable, Vec<Tick>), FeedError> {
        let mut table = InstrumentTable::new();
        scan_instruments(sources, overrides, &mut table)?;
        let mut reader = TickReader::open(sources, &table, BadRowPolicy::Reject)?;
        let mut all = Vec::new();
        let mut chunk = Vec::new();
        while reader.read_chunk(&mut chunk, 2)? > 0 {
            all.extend_from_slice(&chunk);
        }
        Ok((table, all))
    }

    fn convert(dir: &Path, name: &str, text: &'static str) -> PathBuf {
        let input = DataSource::Embedded {
            name: "in.csv",
            bytes: text.as_bytes(),
        };
        let path = dir.join(name);
        convert_to_binary(&input, &path, &[], BadRowPolicy::Reject).expect("convert");
        path
    }

    #[test]
    fn record_layout_is_pinned() {
        let tick = Tick::quote(
            Nanos(1),
            InstrumentId(0),
            Some(Price(-2)),
            Some(Price(3)),
            None,
            Some(Qty(5)),
        );
        let mut record = [0xAA; RECORD_SIZE];
        encode_record(&tick, 7, &mut record);
        assert_eq!(&record[0..8], &1u64.to_le_bytes(), "ts");
        assert_eq!(&record[16..20], &7u32.to_le_bytes(), "instrument");
        assert_eq!(
            (record[20], record[21], record[22], record[23]),
            (0, 11, 0, 0),
            "kind, flags, reserved"
        );
        assert_eq!(&record[24..32], &(-2i64).to_le_bytes(), "bid");
        assert_eq!(&record[48..56], &5i64.to_le_bytes(), "ask_size");
    }

    #[test]
    fn csv_to_binary_round_trip_gives_identical_ticks() {
        let dir = tempfile::tempdir().expect("temp dir");
        let a = DataSource::Embedded {
            name: "a.csv",
            bytes: CSV_A.as_bytes(),
        };
        let b = DataSource::Embedded {
            name: "b.csv",
            bytes: CSV_B.as_bytes(),
        };
        let a_bin = DataSource::File(convert(dir.path(), "a.bin", CSV_A));
        let b_bin = DataSource::File(convert(dir.path(), "b.bin", CSV_B));
        struct Case {
            name: &'static str,
            csv: Vec<DataSource>,
            mixed: Vec<DataSource>,
        }
        let cases = [
            Case {
                name: "single file",
                csv: vec![a.clone()],
                mixed: vec![a_bin.clone()],
            },
            Case {
                name: "binary merged with csv",
                csv: vec![a.clone(), b.clone()],
                mixed: vec![a_bin.clone(), b.clone()],
            },
            Case {
                name: "csv merged with binary",
                csv: vec![b.clone(), a.clone()],
                mixed: vec![b.clone(), a_bin.clone()],
            },
            Case {
                name: "two binaries",
                csv: vec![a.clone(), b.clone()],
                mixed: vec![a_bin.clone(), b_bin.clone()],
            },
        ];
        for case in cases {
            let (csv_table, csv_ticks) = read_all(&case.csv, &[]).expect(case.name);
            let (bin_table, bin_ticks) = read_all(&case.mixed, &[]).expect(case.name);
            // Specs only: a binary header does not say which kinds of rows a symbol has.
            let specs = |t: &InstrumentTable| t.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>();
            assert_eq!(
                specs(&bin_table),
                specs(&csv_table),
                "{}: same instruments",
                case.name
            );
            assert_eq!(bin_ticks, csv_ticks, "{}: same ticks", case.name);
            assert!(!csv_ticks.is_empty(), "{}", case.name);
        }
        // b has EURUSD at 6 decimals: a.bin's 4-decimal raw values are scaled up on the merge.
        let (table, ticks) = read_all(&[a_bin, b], &[]).expect("rescale");
        let eurusd = table.find("EURUSD").expect("EURUSD");
        assert_eq!(table.spec(eurusd).price_precision, 6);
        assert_eq!(ticks[0].bid, Price(1_100_000), "rescaled");
    }

    #[test]
    fn detection_is_by_content_not_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let binary_named_csv = convert(dir.path(), "ticks.csv", CSV_A);
        let csv_named_bin = dir.path().join("ticks.bin");
        std::fs::write(&csv_named_bin, CSV_A).expect("write");
        let (_, from_bin) =
            read_all(&[DataSource::File(binary_named_csv.clone())], &[]).expect("binary .csv");
        let (_, from_csv) = read_all(&[DataSource::File(csv_named_bin)], &[]).expect("csv .bin");
        assert_eq!(from_bin, from_csv);
        let mut table = InstrumentTable::new();
        let info =
            scan_instruments(&[DataSource::File(binary_named_csv)], &[], &mut table).expect("scan");
        assert_eq!(
            (info.sources[0].format, info.rows),
            (super::super::SourceFormat::Binary, 5),
            "records, not rows"
        );
    }

    #[test]
    fn damaged_binary_files_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let good = std::fs::read(convert(dir.path(), "good.bin", CSV_A)).expect("read");
        let header_end = good.len() - 5 * RECORD_SIZE;
        // Header fields at fixed offsets: version u32, record_count u64, symbol count u64.
        let patched = |at: usize, bytes: &[u8]| {
            let mut copy = good.clone();
            copy[PREAMBLE + at..PREAMBLE + at + bytes.len()].copy_from_slice(bytes);
            copy
        };
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "record cut short",
                good[..good.len() - 10].to_vec(),
                "truncated",
            ),
            (
                "records missing",
                good[..header_end + RECORD_SIZE].to_vec(),
                "truncated",
            ),
            (
                "header cut short",
                good[..PREAMBLE + 3].to_vec(),
                "truncated",
            ),
            ("magic only", MAGIC.to_vec(), "truncated"),
            (
                "extra bytes",
                [good.clone(), vec![0; 3]].concat(),
                "corrupt",
            ),
            (
                "other generation",
                [b"APTICKS9".as_slice(), &good[8..]].concat(),
                "unsupported",
            ),
            (
                "other version",
                patched(0, &[2, 0, 0, 0]),
                "unsupported format version 2",
            ),
            (
                "unfinished conversion",
                patched(4, &[0xFF; 8]),
                "unfinished",
            ),
            (
                "corrupt symbol count",
                patched(12, &[0xFF; 8]),
                "corrupt header",
            ),
        ];
        for (name, bytes, says) in cases {
            let path = dir.path().join("damaged.bin");
            std::fs::write(&path, &bytes).expect("write");
            let err = read_all(&[DataSource::File(path)], &[])
                .expect_err(name)
                .to_string();
            assert!(
                err.contains("damaged.bin") && err.contains(says),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn bad_records_follow_the_policy() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut bytes = std::fs::read(convert(dir.path(), "good.bin", CSV_A)).expect("read");
        let second = bytes.len() - 4 * RECORD_SIZE;
        bytes[second + 20] = 9; // kind of record 2
        let path = dir.path().join("bad.bin");
        std::fs::write(&path, &bytes).expect("write");
        let sources = [DataSource::File(path)];
        let mut table = InstrumentTable::new();
        scan_instruments(&sources, &[], &mut table).expect("scan");
        for (policy, delivered) in [(BadRowPolicy::Reject, 1), (BadRowPolicy::Skip, 4)] {
            let mut reader = TickReader::open(&sources, &table, policy).expect("open");
            let mut chunk = Vec::new();
            let mut ticks = 0;
            let error = loop {
                match reader.read_chunk(&mut chunk, 100) {
                    Ok(0) => break None,
                    Ok(n) => ticks += n,
                    Err(e) => break Some(e.to_string()),
                }
            };
            assert_eq!(ticks, delivered, "{policy:?}");
            let message = error
                .or_else(|| reader.stats().skipped_examples.first().cloned())
                .unwrap_or_default();
            assert!(
                message.ends_with(
                    "bad.bin: record 2: field 'kind': expected 0 (quote) or 1 (trade), found 9"
                ),
                "{policy:?}: {message}"
            );
        }
    }

    #[test]
    fn binary_above_an_override_is_refused_at_scan() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = convert(dir.path(), "a.bin", CSV_A);
        let overrides = [InstrumentConfig::fixed("EURUSD", 2, 0)];
        let err = read_all(&[DataSource::File(path)], &overrides)
            .expect_err("override")
            .to_string();
        assert!(err.contains("a.bin") && err.contains("override"), "{err}");
    }

    #[test]
    fn convert_refuses_to_overwrite_its_input_and_reports_counts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.csv");
        std::fs::write(&path, CSV_A).expect("write");
        let source = DataSource::File(path.clone());
        let err =
            convert_to_binary(&source, &path, &[], BadRowPolicy::Reject).expect_err("in place");
        assert!(err.to_string().contains("overwrite"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            CSV_A,
            "input intact"
        );
        let out = dir.path().join("a.bin");
        let stats = convert_to_binary(&source, &out, &[], BadRowPolicy::Reject).expect("convert");
        let len = std::fs::metadata(&out).expect("meta").len();
        assert_eq!(
            (stats.rows, stats.ticks, stats.skipped_rows, stats.bytes_out),
            (4, 5, 0, len)
        );
        assert_eq!(stats.bytes_in, CSV_A.len() as u64);
    }
}
