//! `convert_to_binary`: a CSV (or binary) source into a binary tick file, streaming; see
//! the parent module for the layout. Records are written in checksummed blocks.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use super::super::{DataSource, FeedError, TickReader, scan_instruments};
use super::{
    BLOCK_RECORDS, CRC_SIZE, FORMAT_VERSION, FileHeader, FileSymbol, MAGIC, MAX_HEADER, PREAMBLE,
    RECORD_SIZE, UNFINISHED, block_crc, data_bytes, encode_record, header_config,
};
use crate::config::{BadRowPolicy, InstrumentConfig};
use crate::domain::InstrumentTable;

/// Ticks per read during conversion: whole blocks.
const CONVERT_CHUNK: usize = 4 * BLOCK_RECORDS;

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
        bytes_out: (PREAMBLE + header_bytes(&table, ticks)?.len() + CRC_SIZE) as u64
            + data_bytes(ticks).unwrap_or(u64::MAX),
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

/// Magic, header length, header and the CRC-32C of the three.
fn preamble_and_header(header_len: u32, header: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(PREAMBLE + header.len() + CRC_SIZE);
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&header_len.to_le_bytes());
    bytes.extend_from_slice(header);
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
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
    file.write_all(&preamble_and_header(header_len, &header))
        .map_err(io)?;
    let mut ticks = Vec::with_capacity(CONVERT_CHUNK);
    // Records and the CRC of every block they close.
    let mut bytes = Vec::with_capacity(CONVERT_CHUNK * RECORD_SIZE + 4 * CRC_SIZE);
    let mut record = [0u8; RECORD_SIZE];
    let (mut count, mut block, mut in_block) = (0u64, 0u64, 0usize);
    let mut crc = block_crc(0, &[]);
    loop {
        let n = reader.read_chunk(&mut ticks, CONVERT_CHUNK)?;
        if n == 0 {
            break;
        }
        bytes.clear();
        for tick in &ticks {
            // File-local ids are the ids of this conversion's own table.
            encode_record(tick, tick.instrument.0, &mut record);
            bytes.extend_from_slice(&record);
            crc = crc32c::crc32c_append(crc, &record);
            in_block += 1;
            if in_block == BLOCK_RECORDS {
                bytes.extend_from_slice(&crc.to_le_bytes());
                block += 1;
                crc = block_crc(block, &[]);
                in_block = 0;
            }
        }
        file.write_all(&bytes).map_err(io)?;
        count += n as u64;
    }
    if in_block > 0 {
        file.write_all(&crc.to_le_bytes()).map_err(io)?;
    }
    let header = header_bytes(table, count)?;
    debug_assert_eq!(
        header.len(),
        header_len as usize,
        "fixed-int encoding keeps the length"
    );
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(&preamble_and_header(header_len, &header))
        .map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(count)
}
