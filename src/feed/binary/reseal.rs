//! Checksums made right again: `reseal` rewrites every CRC-32C of a binary tick file to match
//! the bytes it covers, for the fuzz target (`crate::fuzzing`). A mutated file almost never
//! carries its checksums, so without this the fuzzer would spend its time on the one error
//! that says so and never reach the header and record checks behind it. The reader never
//! calls it: a file with a wrong checksum stays refused.

use super::{BLOCK_RECORDS, CRC_SIZE, MAGIC, PREAMBLE, RECORD_SIZE, block_crc, has_magic_prefix};

/// Rewrites the header's CRC and then one per block, blocks cut as the writer cuts them (full
/// blocks of `BLOCK_RECORDS`, then the rest) by the length of what follows the header, so a
/// file `convert` wrote comes back unchanged. Bytes too short to hold the header's CRC are left
/// alone, and so are bytes that do not start like a binary tick file (the reader takes them
/// for CSV); nothing but CRCs is changed.
pub(crate) fn reseal(bytes: &mut [u8]) {
    if !has_magic_prefix(bytes) {
        return;
    }
    let Some(&[a, b, c, d]) = bytes.get(MAGIC.len()..PREAMBLE) else {
        return;
    };
    let total = PREAMBLE.saturating_add(u32::from_le_bytes([a, b, c, d]) as usize);
    let Some(end) = total
        .checked_add(CRC_SIZE)
        .filter(|&end| end <= bytes.len())
    else {
        return;
    };
    let crc = crc32c::crc32c(&bytes[..total]);
    bytes[total..end].copy_from_slice(&crc.to_le_bytes());
    let mut pos = end;
    let mut index = 0u64;
    loop {
        let rest = bytes.len() - pos;
        let records = (rest.saturating_sub(CRC_SIZE) / RECORD_SIZE).min(BLOCK_RECORDS);
        if records == 0 {
            return;
        }
        let crc_at = pos + records * RECORD_SIZE;
        let crc = block_crc(index, &bytes[pos..crc_at]);
        bytes[crc_at..crc_at + CRC_SIZE].copy_from_slice(&crc.to_le_bytes());
        pos = crc_at + CRC_SIZE;
        index += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BadRowPolicy;
    use crate::domain::InstrumentTable;
    use crate::feed::{DataSource, TickReader, convert_to_binary, scan_instruments};

    /// A binary file of `rows` quotes, as `convert` writes it.
    fn converted(rows: usize) -> Vec<u8> {
        let mut text = String::from("ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n");
        for i in 0..rows {
            text.push_str(&format!(
                "{},X,1.{},2,,,,\n",
                1_700_000_000_000_000_000u64 + i as u64,
                i % 10
            ));
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("t.bin");
        let input = DataSource::Embedded {
            name: "t.csv",
            bytes: text.leak().as_bytes(),
        };
        convert_to_binary(&input, &out, &[], BadRowPolicy::Reject).expect("convert");
        std::fs::read(&out).expect("read")
    }

    /// The reader's first error on `bytes`, if any.
    fn first_error(bytes: Vec<u8>) -> Option<String> {
        let sources = [DataSource::Embedded {
            name: "t.bin",
            bytes: bytes.leak(),
        }];
        let mut table = InstrumentTable::new();
        if let Err(e) = scan_instruments(&sources, &[], &mut table) {
            return Some(e.to_string());
        }
        let mut reader = match TickReader::open(&sources, &table, BadRowPolicy::Reject) {
            Ok(reader) => reader,
            Err(e) => return Some(e.to_string()),
        };
        let mut chunk = Vec::new();
        loop {
            match reader.read_chunk(&mut chunk, 1000) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(e.to_string()),
            }
        }
    }

    #[test]
    fn a_written_file_comes_back_unchanged_across_blocks() {
        for rows in [0, 1, 5, BLOCK_RECORDS, BLOCK_RECORDS * 2 + 7] {
            let good = converted(rows);
            let mut resealed = good.clone();
            reseal(&mut resealed);
            assert!(resealed == good, "{rows} rows");
        }
    }

    #[test]
    fn a_changed_record_reaches_the_record_checks() {
        let mut bytes = converted(BLOCK_RECORDS + 3);
        let last = bytes.len() - CRC_SIZE - RECORD_SIZE;
        bytes[last + 20] = 7; // the kind of the last record
        let refused = first_error(bytes.clone()).unwrap_or_default();
        assert!(
            refused.contains("checksum mismatch in block 2"),
            "{refused}"
        );
        reseal(&mut bytes);
        let error = first_error(bytes).unwrap_or_default();
        assert!(
            error.contains("field 'kind': expected 0 (quote) or 1 (trade), found 7"),
            "{error}"
        );
    }

    #[test]
    fn short_or_foreign_bytes_are_left_alone() {
        for bytes in [
            &b""[..],
            b"APTICKS2",
            b"APTICKS2\xff\xff\xff\xff",
            b"ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n1,A,1,2,,,,\n",
        ] {
            let mut copy = bytes.to_vec();
            reseal(&mut copy);
            assert_eq!(copy, bytes);
        }
    }
}
