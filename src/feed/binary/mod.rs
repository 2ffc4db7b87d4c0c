//! The binary tick file (generation 2): `MAGIC`, a little-endian `u32` header length, a
//! bincode header (format version, record count, symbols with precisions), the header's
//! CRC-32C (`u32`, over magic, length and header), then blocks of up to `BLOCK_RECORDS`
//! fixed 56-byte little-endian records, each block followed by its CRC-32C (`u32`, seeded
//! with the block's index so blocks cannot trade places). Reading checks every CRC before
//! using the bytes and every record against the CSV rules (`decode`), decoding straight from
//! one reusable buffer with no allocation per record; writing (`convert_to_binary`, in
//! `write`) streams its input. Files of generation 1 (no checksums) are refused with a
//! message saying to regenerate them; nothing converts them silently.
//!
//! Record layout (offsets in bytes):
//! `0 ts u64 | 8 local_ts u64 | 16 instrument u32 (file-local id) | 20 kind u8 | 21 flags u8 |
//! 22 reserved u16 = 0 | 24 bid i64 | 32 ask i64 | 40 bid_size i64 | 48 ask_size i64`.

mod decode;
mod reseal;
mod write;

use serde::{Deserialize, Serialize};

use super::FeedError;
use super::stream::ByteStream;
use crate::domain::Tick;
use crate::domain::fixed::MAX_PRECISION;

pub(super) use decode::BinarySource;
pub(crate) use decode::decode_record;
pub(crate) use reseal::reseal;
pub use write::{ConvertStats, convert_to_binary};

/// First bytes of every binary tick file; the last byte is the format generation.
pub const MAGIC: [u8; 8] = *b"APTICKS2";
/// Version inside the header, for changes that keep the magic.
pub const FORMAT_VERSION: u32 = 2;
/// Records per checksummed block (229 KiB): small enough that a check costs one pass over
/// bytes already in the read buffer, large enough that the CRC adds 4 bytes per 4096 records.
pub const BLOCK_RECORDS: usize = 4096;
/// Bytes of a CRC-32C.
const CRC_SIZE: usize = 4;
/// Bytes of one record.
pub const RECORD_SIZE: usize = 56;
/// Record count written until the conversion finishes: a reader refuses a file that still
/// has it (the writer stopped half-way).
const UNFINISHED: u64 = u64::MAX;
/// Largest header accepted: guards the allocation against a corrupt length.
const MAX_HEADER: u32 = 1 << 20;
/// Magic (8) + header length (4).
const PREAMBLE: usize = MAGIC.len() + 4;

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

/// The CRC-32C of block `index` (0-based) of record bytes.
#[inline]
fn block_crc(index: u64, records: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&index.to_le_bytes()), records)
}

/// Bytes of the record area for `records` records: the records and one CRC per block.
fn data_bytes(records: u64) -> Option<u64> {
    let blocks = records.div_ceil(BLOCK_RECORDS as u64);
    records
        .checked_mul(RECORD_SIZE as u64)?
        .checked_add(blocks.checked_mul(CRC_SIZE as u64)?)
}

fn format_error(stream: &ByteStream, message: String) -> FeedError {
    FeedError::Format {
        file: stream.name().to_string(),
        message,
    }
}

/// Reads and checks the preamble, header and header CRC, leaving the stream at the first
/// block. Also checks that the source holds exactly the blocks the header announces.
///
/// # Errors
/// A read error, another format generation, a corrupt header (its CRC is checked before it
/// is decoded), or a truncated or unfinished file.
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
            format!(
                "unsupported binary tick file: expected '{expected}', found '{found}'; \
                 regenerate it from the CSV with `alpha-panda convert`"
            ),
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
    let bytes = stream.peek(total + CRC_SIZE)?;
    if bytes.len() < total + CRC_SIZE {
        return Err(format_error(
            stream,
            "truncated binary tick file: the header is incomplete".into(),
        ));
    }
    let mut stored = [0u8; CRC_SIZE];
    stored.copy_from_slice(&bytes[total..total + CRC_SIZE]);
    if crc32c::crc32c(&bytes[..total]) != u32::from_le_bytes(stored) {
        return Err(format_error(
            stream,
            "byte 0: header checksum mismatch: the file is corrupt or was changed; \
             regenerate it with `alpha-panda convert`"
                .into(),
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
    stream.consume(total + CRC_SIZE);
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
    let data = stream.len().saturating_sub((total + CRC_SIZE) as u64);
    let expected = data_bytes(header.record_count);
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

/// Writes one tick as a record; `instrument` is the file-local id.
#[inline]
fn encode_record(tick: &Tick, instrument: u32, record: &mut [u8; RECORD_SIZE]) {
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

#[cfg(test)]
mod tests {
    use super::super::rules;
    use super::*;
    use crate::config::{BadRowPolicy, InstrumentConfig};
    use crate::domain::{InstrumentId, InstrumentTable, Nanos, Price, Qty};
    use crate::feed::{DataSource, TickReader, scan_instruments};
    use std::path::{Path, PathBuf};

    const CSV_A: &str = "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n\
                         1700000000000000010,EURUSD,1.1000,1.1002,1000000,,,\n\
                         1700000000000000020,SPY,,,,,400.25,100\n\
                         1700000000000000020,EURUSD,1.1001,1.1000,,2000000,1.10005,5\n\
                         1700000000000000030,SPY,400.20,400.30,3,4,,\n";
    const CSV_B: &str = "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n\
                         1700000000000000015,EURUSD,1.100015,1.1002,,,,\n\
                         1700000000000000020,BTC,,,,,60000.5,0.001\n\
                         1700000000000000025,SPY,,,,,400.5,7\n";

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
        let header_end = good.len() - 5 * RECORD_SIZE - CRC_SIZE;
        // Header fields at fixed offsets: version u32, record_count u64, symbol count u64;
        // the header CRC is sealed again so that the check behind it is what answers.
        let patched = |at: usize, bytes: &[u8]| {
            let mut copy = good.clone();
            copy[PREAMBLE + at..PREAMBLE + at + bytes.len()].copy_from_slice(bytes);
            reseal(&mut copy);
            copy
        };
        let mut flipped = good.clone();
        flipped[PREAMBLE + 5] ^= 0x10;
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
                "generation 1, without checksums",
                [b"APTICKS1".as_slice(), &good[8..]].concat(),
                "found 'APTICKS1'; regenerate it from the CSV with `alpha-panda convert`",
            ),
            (
                "header bit flip",
                flipped,
                "byte 0: header checksum mismatch",
            ),
            (
                "other version",
                patched(0, &[3, 0, 0, 0]),
                "unsupported format version 3",
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

    /// Seals the header and every block again after a test changed bytes behind the CRCs.
    fn reseal(bytes: &mut [u8]) {
        let header_len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        let total = PREAMBLE + header_len;
        let crc = crc32c::crc32c(&bytes[..total]);
        bytes[total..total + CRC_SIZE].copy_from_slice(&crc.to_le_bytes());
        let mut at = total + CRC_SIZE;
        let mut index = 0;
        while at < bytes.len() {
            let len = (bytes.len() - at - CRC_SIZE).min(BLOCK_RECORDS * RECORD_SIZE);
            let crc = block_crc(index, &bytes[at..at + len]);
            bytes[at + len..at + len + CRC_SIZE].copy_from_slice(&crc.to_le_bytes());
            at += len + CRC_SIZE;
            index += 1;
        }
    }

    #[test]
    fn bad_records_follow_the_policy() {
        let dir = tempfile::tempdir().expect("temp dir");
        let good = std::fs::read(convert(dir.path(), "good.bin", CSV_A)).expect("read");
        // Record 2 is the SPY trade at 400.25 (precision 2), size 100.
        let second = good.len() - CRC_SIZE - 4 * RECORD_SIZE;
        struct Case {
            name: &'static str,
            at: usize,
            bytes: Vec<u8>,
            says: &'static str,
        }
        let cases = [
            Case {
                name: "kind",
                at: 20,
                bytes: vec![9],
                says: "field 'kind': expected 0 (quote) or 1 (trade), found 9",
            },
            Case {
                name: "zero price",
                at: 24,
                bytes: 0i64.to_le_bytes().to_vec(),
                says: "field 'bid': expected a price > 0, found raw 0",
            },
            Case {
                name: "negative price",
                at: 24,
                bytes: (-5i64).to_le_bytes().to_vec(),
                says: "field 'bid': expected a price > 0, found raw -5",
            },
            Case {
                name: "price above the bound",
                at: 24,
                bytes: (rules::MAX_RAW + 1).to_le_bytes().to_vec(),
                says: "field 'bid': expected at most 10000000000000000 ",
            },
            Case {
                name: "trade sides differ",
                at: 32,
                bytes: 40026i64.to_le_bytes().to_vec(),
                says: "field 'ask': expected 40025 (the Trade tick its fields make), found 40026",
            },
            Case {
                name: "negative size",
                at: 40,
                bytes: (-1i64).to_le_bytes().to_vec(),
                says: "field 'bid_size': expected a size >= 0",
            },
            Case {
                name: "milliseconds",
                at: 0,
                bytes: 1_700_000_000_000u64.to_le_bytes().to_vec(),
                says: "field 'ts': expected nanoseconds since the Unix epoch from 2000-01-01 up to 2100-01-01, found 1700000000000 (it looks like milliseconds",
            },
            Case {
                name: "reserved",
                at: 22,
                bytes: vec![1],
                says: "field 'reserved': expected 0",
            },
        ];
        for case in cases {
            let mut bytes = good.clone();
            bytes[second + case.at..second + case.at + case.bytes.len()]
                .copy_from_slice(&case.bytes);
            reseal(&mut bytes);
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
                assert_eq!(ticks, delivered, "{}: {policy:?}", case.name);
                let message = error
                    .or_else(|| reader.stats().skipped_examples.first().cloned())
                    .unwrap_or_default();
                let expected = format!("bad.bin: byte {second}: record 2: {}", case.says);
                assert!(
                    message.contains(&expected),
                    "{}: {policy:?}: {message}",
                    case.name
                );
            }
        }
    }

    #[test]
    fn a_skipped_record_is_a_dead_letter_that_replays_through_the_same_rules() {
        use crate::dlq::{DeadLetterWriter, Header, Origin, Source, file, replay};
        let dir = tempfile::tempdir().expect("temp dir");
        let good = std::fs::read(convert(dir.path(), "good.bin", CSV_A)).expect("read");
        let second = good.len() - CRC_SIZE - 4 * RECORD_SIZE;
        let mut bytes = good.clone();
        bytes[second + 20] = 9; // kind
        reseal(&mut bytes);
        let path = dir.path().join("bad.bin");
        std::fs::write(&path, &bytes).expect("write");
        let sources = [DataSource::File(path.clone())];
        let mut table = InstrumentTable::new();
        scan_instruments(&sources, &[], &mut table).expect("scan");
        let mut reader = TickReader::open(&sources, &table, BadRowPolicy::Skip).expect("open");
        let mut writer =
            DeadLetterWriter::start(dir.path().join("dl"), Header::new("r", &table), None)
                .expect("start");
        reader.set_dead_letters(&writer.handle());
        let mut chunk = Vec::new();
        while reader.read_chunk(&mut chunk, 100).expect("read") > 0 {}
        let report = writer.finish();
        let read = file::read(&report.path.expect("file")).expect("read back");
        assert_eq!(read.letters.len(), 1);
        let letter = &read.letters[0].letter;
        assert_eq!(letter.source, Source::BinaryRecord);
        assert_eq!(letter.raw, &bytes[second..second + RECORD_SIZE]);
        assert_eq!(
            letter.origin,
            Origin::Record {
                file: path.display().to_string().into(),
                offset: second as u64,
                record: 2,
            }
        );
        assert!(
            letter
                .reason
                .ends_with("record 2: field 'kind': expected 0 (quote) or 1 (trade), found 9")
        );
        let again = replay::replay(letter, &table);
        assert_eq!(again, replay::Outcome::Failed(letter.reason.clone()));
        // The record as it should have been decodes.
        let mut fixed = letter.clone();
        fixed.raw = good[second..second + RECORD_SIZE].to_vec();
        let outcome = replay::replay(&fixed, &table);
        assert!(
            matches!(&outcome, replay::Outcome::Decoded(t) if t.starts_with("trade SPY 400.25")),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_changed_block_is_refused_at_its_offset_whatever_the_policy() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut bytes = std::fs::read(convert(dir.path(), "good.bin", CSV_A)).expect("read");
        let first = bytes.len() - CRC_SIZE - 5 * RECORD_SIZE;
        bytes[first + 30] ^= 0x01;
        let path = dir.path().join("flip.bin");
        std::fs::write(&path, &bytes).expect("write");
        let sources = [DataSource::File(path)];
        let mut table = InstrumentTable::new();
        scan_instruments(&sources, &[], &mut table).expect("scan");
        for policy in [BadRowPolicy::Reject, BadRowPolicy::Skip] {
            let mut reader = TickReader::open(&sources, &table, policy).expect("open");
            let mut chunk = Vec::new();
            let error = reader.read_chunk(&mut chunk, 100).expect_err("flip");
            assert!(
                error.to_string().ends_with(&format!(
                    "flip.bin: byte {first}: checksum mismatch in block 1 (records 1 to 5): the \
                     file is corrupt or was changed; regenerate it with `alpha-panda convert`"
                )),
                "{policy:?}: {error}"
            );
        }
    }

    #[test]
    fn blocks_split_at_block_records_and_read_back() {
        let mut text = String::from("ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n");
        let rows = BLOCK_RECORDS * 2 + 7;
        for i in 0..rows {
            text.push_str(&format!(
                "{},X,1.{},2,,,,\n",
                1_700_000_000_000_000_000u64 + i as u64,
                i % 10
            ));
        }
        let text: &'static str = text.leak();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = convert(dir.path(), "big.bin", text);
        let len = std::fs::metadata(&path).expect("meta").len();
        let csv = DataSource::Embedded {
            name: "big.csv",
            bytes: text.as_bytes(),
        };
        let (_, from_csv) = read_all(&[csv], &[]).expect("csv");
        let (_, from_bin) = read_all(&[DataSource::File(path)], &[]).expect("binary");
        assert_eq!(from_bin, from_csv);
        assert_eq!(from_bin.len(), rows);
        let data = data_bytes(rows as u64).expect("size");
        assert_eq!(
            data,
            (rows * RECORD_SIZE + 3 * CRC_SIZE) as u64,
            "three blocks"
        );
        assert!(len > data, "header before the data");
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
