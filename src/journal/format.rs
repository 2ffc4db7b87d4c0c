//! The journal's bytes. Little-endian throughout.
//!
//! Segment file `journal-<first seq, 20 digits>.apj`:
//! - header, 16 bytes: magic `APJRNL01`, format version (u32), CRC-32C of the first 12 bytes;
//! - records back to back. A record: payload length (u32), CRC-32C (u32) of everything after
//!   it (sequence number, type, version, reserved, payload), sequence number (u64, one more
//!   than the record before, across segments), type (u8, `Kind`), the type's schema version
//!   (u8), reserved (u16, 0), then the bincode payload (`bincode::config::standard()`).
//!
//! Decoding never trusts a length before the CRC: a length above `MAX_PAYLOAD` is corrupt.

use super::{EndRecord, Entry, Kind, StartRecord};

pub const MAGIC: &[u8; 8] = b"APJRNL01";
pub const FORMAT_VERSION: u32 = 1;
pub const SEGMENT_HEADER: usize = 16;
pub const RECORD_HEADER: usize = 20;
/// No record comes near this; a larger length is a corrupt header, not a big record.
pub const MAX_PAYLOAD: u32 = 1 << 20;

fn bincode_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Decoding claims at most a payload's worth of bytes: without the limit a length prefix
/// inside a payload (a string, a list) was allocated before it was read, and a record whose
/// CRC matched but whose payload was wrong asked for exabytes and aborted (found by the
/// `journal_records` fuzz target). The limit does not change the encoding.
fn decode_config() -> impl bincode::config::Config {
    bincode_config().with_limit::<{ MAX_PAYLOAD as usize }>()
}

/// The CRC a segment header carries: over its magic and format version (bytes 0..12).
fn segment_crc(h: &[u8]) -> u32 {
    crc32c::crc32c(&h[..12])
}

/// The CRC a record carries: over its header after the CRC field (bytes 8..20), then its
/// payload.
fn record_crc(h: &[u8], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&h[8..RECORD_HEADER]), payload)
}

/// The 16 bytes every segment starts with.
pub fn segment_header() -> [u8; SEGMENT_HEADER] {
    let mut h = [0u8; SEGMENT_HEADER];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    let crc = segment_crc(&h);
    h[12..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a segment header; the reason when it is not one this engine reads.
pub fn check_segment_header(h: &[u8]) -> Result<(), String> {
    if h.len() < SEGMENT_HEADER {
        return Err(format!(
            "segment header cut short ({} of {SEGMENT_HEADER} bytes)",
            h.len()
        ));
    }
    if &h[..8] != MAGIC {
        return Err("not a journal segment (bad magic)".into());
    }
    let crc = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
    if crc != segment_crc(h) {
        return Err("segment header checksum mismatch".into());
    }
    let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    if version != FORMAT_VERSION {
        return Err(format!(
            "journal format version {version}; this engine reads version {FORMAT_VERSION}"
        ));
    }
    Ok(())
}

/// The segment file name for a segment whose first record is `seq`.
pub fn segment_name(seq: u64) -> String {
    format!("journal-{seq:020}.apj")
}

/// The first sequence number a segment file name says, if it is one.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("journal-")?.strip_suffix(".apj")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Appends one record (header and payload) to `out`.
///
/// # Errors
/// Only if the payload cannot be encoded (it always can: plain data).
pub fn encode(seq: u64, entry: &Entry, out: &mut Vec<u8>) -> Result<(), String> {
    let start = out.len();
    out.extend_from_slice(&[0u8; RECORD_HEADER]);
    let config = bincode_config();
    let encoded = match entry {
        Entry::Start(s) => bincode::serde::encode_into_std_write(s, out, config),
        Entry::Tick(t) => bincode::serde::encode_into_std_write(t, out, config),
        Entry::Order(o) => bincode::serde::encode_into_std_write(o, out, config),
        Entry::Refused(e) | Entry::Event(e) => {
            bincode::serde::encode_into_std_write(e, out, config)
        }
        Entry::End(e) => bincode::serde::encode_into_std_write(e, out, config),
    };
    if let Err(e) = encoded {
        out.truncate(start);
        return Err(e.to_string());
    }
    let len = u32::try_from(out.len() - start - RECORD_HEADER)
        .map_err(|_| "record payload over 4 GiB".to_owned())?;
    let kind = entry.kind();
    let h = &mut out[start..start + RECORD_HEADER];
    h[0..4].copy_from_slice(&len.to_le_bytes());
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    h[16] = kind as u8;
    h[17] = kind.version();
    let (h, payload) = out[start..].split_at(RECORD_HEADER);
    let crc = record_crc(h, payload);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// A record header as read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub len: u32,
    pub crc: u32,
    pub seq: u64,
    pub kind: u8,
    pub version: u8,
}

impl Header {
    pub fn parse(h: &[u8; RECORD_HEADER]) -> Header {
        Header {
            len: u32::from_le_bytes([h[0], h[1], h[2], h[3]]),
            crc: u32::from_le_bytes([h[4], h[5], h[6], h[7]]),
            seq: u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]),
            kind: h[16],
            version: h[17],
        }
    }

    /// Whether the CRC covers these header bytes and payload.
    pub fn checks(&self, h: &[u8; RECORD_HEADER], payload: &[u8]) -> bool {
        record_crc(h, payload) == self.crc
    }
}

/// Decodes a payload whose header checked; the reason when the type or version is unknown
/// or the bytes do not decode (a bug or a newer engine, as the CRC matched).
pub fn decode(kind: u8, version: u8, payload: &[u8]) -> Result<Entry, String> {
    let Some(kind) = Kind::from_byte(kind) else {
        return Err(format!(
            "unknown record type {kind} (written by a newer engine?)"
        ));
    };
    if version == 0 || version > kind.version() {
        return Err(format!(
            "{} record schema version {version}; this engine reads up to {}",
            kind.name(),
            kind.version()
        ));
    }
    let config = decode_config();
    let entry = match kind {
        Kind::Start => Entry::Start(whole::<StartRecord>(payload, config)?),
        Kind::Tick => Entry::Tick(whole(payload, config)?),
        Kind::Order => Entry::Order(whole(payload, config)?),
        Kind::Refused => Entry::Refused(whole(payload, config)?),
        Kind::Event => Entry::Event(whole(payload, config)?),
        Kind::End => Entry::End(whole::<EndRecord>(payload, config)?),
    };
    Ok(entry)
}

/// Rewrites the CRCs of a segment's header and of every whole record after it (records walked
/// by their length fields), so that the fuzzer's mutations reach the checks behind the CRCs.
/// Bytes that do not start with the magic are left alone; nothing but CRCs is changed.
#[doc(hidden)]
pub fn reseal(bytes: &mut [u8]) {
    if bytes.len() < SEGMENT_HEADER || &bytes[..8] != MAGIC {
        return;
    }
    let crc = segment_crc(bytes);
    bytes[12..SEGMENT_HEADER].copy_from_slice(&crc.to_le_bytes());
    let mut at = SEGMENT_HEADER;
    while let Some(Ok(h)) = bytes
        .get(at..at + RECORD_HEADER)
        .map(<[u8; RECORD_HEADER]>::try_from)
    {
        let len = Header::parse(&h).len;
        let end = at + RECORD_HEADER + len as usize;
        let Some(payload) = bytes
            .get(at + RECORD_HEADER..end)
            .filter(|_| len <= MAX_PAYLOAD)
        else {
            return;
        };
        let crc = record_crc(&h, payload);
        bytes[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
        at = end;
    }
}

/// Decodes `T` from all of `payload` (trailing bytes are an error too).
fn whole<T: serde::de::DeserializeOwned>(
    payload: &[u8],
    config: impl bincode::config::Config,
) -> Result<T, String> {
    let (value, used) = bincode::serde::decode_from_slice::<T, _>(payload, config)
        .map_err(|e| format!("payload does not decode: {e}"))?;
    if used != payload.len() {
        return Err(format!(
            "payload has {} trailing bytes",
            payload.len() - used
        ));
    }
    Ok(value)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::{
        BookId, BrokerId, ClientOrderId, Execution, InstrumentId, Liquidity, Money, Nanos,
        OrderEvent, OrderEventKind, OrderRequest, OrderType, Price, Qty, RequestKind, Side, Tick,
        TickFlags, TickKind, TimeInForce,
    };

    /// One record of every type, with every field set.
    pub(crate) fn samples() -> Vec<Entry> {
        let tick = Tick {
            ts: Nanos(1_700_000_000_123_456_789),
            local_ts: Nanos(1_700_000_000_123_457_000),
            seq: 41,
            instrument: InstrumentId(3),
            kind: TickKind::Quote,
            flags: TickFlags(15),
            bid: Price(1_234_500),
            ask: Price(1_234_600),
            bid_size: Qty(700),
            ask_size: Qty(900),
        };
        let request = OrderRequest {
            id: ClientOrderId(9),
            book: BookId(2),
            broker: BrokerId(1),
            instrument: InstrumentId(3),
            side: Side::Sell,
            correlation: 41,
            ts: Nanos(1_700_000_000_123_456_789),
            kind: RequestKind::New {
                qty: Qty(5),
                order_type: OrderType::Limit(Price(1_234_550)),
                tif: TimeInForce::Ioc,
                flatten: false,
            },
        };
        let fill = OrderEvent {
            kind: OrderEventKind::Filled(Execution {
                qty: Qty(5),
                price: Price(1_234_550),
                fee: Money(-12_345),
                leaves: Qty(0),
                liquidity: Liquidity::Maker,
            }),
            ..request.refusal(crate::domain::RejectReason::PriceBand)
        };
        vec![
            Entry::Start(StartRecord {
                run_id: "20261202T000000Z-1f".into(),
                fingerprint: "0123456789abcdef".into(),
                engine_version: "0.1.0".into(),
                replayed_ticks: 7,
                wall_ns: 1_790_000_000_000_000_000,
                instruments: vec![("BTCUSDT".into(), 2, 5)],
                books: vec!["ema@paper".into()],
            }),
            Entry::Tick(tick),
            Entry::Order(request),
            Entry::Refused(request.refusal(crate::domain::RejectReason::MaxPosition)),
            Entry::Event(fill),
            Entry::End(EndRecord {
                ticks: 42,
                wall_ns: 1_790_000_000_000_000_001,
            }),
        ]
    }

    fn round_trip(entry: &Entry) -> Entry {
        let mut buf = Vec::new();
        encode(5, entry, &mut buf).unwrap();
        let h: [u8; RECORD_HEADER] = buf[..RECORD_HEADER].try_into().unwrap();
        let header = Header::parse(&h);
        assert_eq!(header.seq, 5);
        assert_eq!(header.len as usize, buf.len() - RECORD_HEADER);
        assert!(header.checks(&h, &buf[RECORD_HEADER..]));
        decode(header.kind, header.version, &buf[RECORD_HEADER..]).unwrap()
    }

    #[test]
    fn every_record_type_round_trips() {
        for entry in samples() {
            assert_eq!(round_trip(&entry), entry);
        }
    }

    #[test]
    fn a_flipped_bit_fails_the_crc() {
        let mut buf = Vec::new();
        encode(1, &samples()[1], &mut buf).unwrap();
        for bit in [8 * 8, 8 * 17, 8 * RECORD_HEADER + 3, 8 * (buf.len() - 1)] {
            let mut b = buf.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            let h: [u8; RECORD_HEADER] = b[..RECORD_HEADER].try_into().unwrap();
            assert!(
                !Header::parse(&h).checks(&h, &b[RECORD_HEADER..]),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn unknown_types_versions_and_trailing_bytes_are_refused() {
        assert!(
            decode(99, 1, &[])
                .unwrap_err()
                .contains("unknown record type")
        );
        assert!(decode(2, 9, &[]).unwrap_err().contains("schema version 9"));
        let mut buf = Vec::new();
        encode(
            1,
            &Entry::End(EndRecord {
                ticks: 1,
                wall_ns: 2,
            }),
            &mut buf,
        )
        .unwrap();
        let mut payload = buf[RECORD_HEADER..].to_vec();
        payload.push(0);
        assert!(decode(6, 1, &payload).unwrap_err().contains("trailing"));
    }

    #[test]
    fn reseal_keeps_a_written_segment_and_mends_only_crcs() {
        let mut segment = segment_header().to_vec();
        for (seq, entry) in samples().iter().enumerate() {
            encode(seq as u64, entry, &mut segment).unwrap();
        }
        let written = segment.clone();
        reseal(&mut segment);
        assert_eq!(segment, written, "a written segment is already sealed");
        // A payload byte changed behind the CRC: sealed again, only the CRC moved.
        let at = SEGMENT_HEADER + RECORD_HEADER + 1;
        segment[at] ^= 0x40;
        reseal(&mut segment);
        let h: [u8; RECORD_HEADER] = segment[SEGMENT_HEADER..SEGMENT_HEADER + RECORD_HEADER]
            .try_into()
            .unwrap();
        let len = Header::parse(&h).len as usize;
        let payload = &segment[SEGMENT_HEADER + RECORD_HEADER..][..len];
        assert!(Header::parse(&h).checks(&h, payload));
        let changed: Vec<usize> = (0..segment.len())
            .filter(|&i| segment[i] != written[i])
            .collect();
        assert!(
            changed
                .iter()
                .all(|&i| i == at || (SEGMENT_HEADER + 4..SEGMENT_HEADER + 8).contains(&i))
        );
        // Not a segment, or a length past the end: left as it is.
        let mut other = b"not a journal".to_vec();
        reseal(&mut other);
        assert_eq!(other, b"not a journal");
        let mut cut = written[..written.len() - 1].to_vec();
        let before = cut.clone();
        reseal(&mut cut);
        assert_eq!(cut, before);
    }

    #[test]
    fn segment_names_and_headers() {
        assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
        assert_eq!(parse_segment_name("journal-42.apj"), None);
        assert_eq!(parse_segment_name("other.apj"), None);
        assert!(check_segment_header(&segment_header()).is_ok());
        let mut h = segment_header();
        h[9] ^= 1;
        assert!(check_segment_header(&h).is_err());
        assert!(check_segment_header(&h[..4]).is_err());
    }

    /// The bytes of today's records are pinned: a change to a payload's shape (a field added,
    /// renamed, reordered, retyped) changes them, and must come with a schema version bump
    /// in `Kind::version` (and a reader for the old version) and `docs/schemas/journal.md`.
    #[test]
    fn record_bytes_are_pinned_per_schema_version() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/journal/v1-records.hex"
        );
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            let mut text = String::from(
                "# One record of each type as this engine writes it (seq 1): TYPE HEX.\n\
                 # Regenerate only with a schema version bump: UPDATE_GOLDEN=1 cargo test --lib journal\n",
            );
            for entry in samples() {
                let mut buf = Vec::new();
                encode(1, &entry, &mut buf).unwrap();
                let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
                text.push_str(&format!("{} {hex}\n", entry.kind().name()));
            }
            std::fs::write(path, text).unwrap();
        }
        let golden = std::fs::read_to_string(path).unwrap();
        let mut lines = golden.lines().filter(|l| !l.starts_with('#'));
        for entry in samples() {
            let mut buf = Vec::new();
            encode(1, &entry, &mut buf).unwrap();
            let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
            let line = lines.next().unwrap_or_default();
            let (name, bytes) = line.split_once(' ').unwrap_or_default();
            assert_eq!(name, entry.kind().name());
            assert_eq!(
                bytes,
                hex,
                "the {} record's bytes changed: bump Kind::version for it, keep a reader for \
                 version {}, update docs/schemas/journal.md and tests/data/journal/v1-records.hex",
                name,
                entry.kind().version()
            );
        }
    }
}
