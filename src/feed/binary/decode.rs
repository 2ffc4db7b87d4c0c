//! The main pass over a binary tick file: each block's CRC-32C is checked before any of its
//! records is decoded (a mismatch refuses the file at the block's byte offset, whatever the
//! bad-row policy: a corrupt file is not a bad row), then each record is decoded and held to
//! the rules a CSV row follows (`feed::rules`, `ticks_from_fields`): a record must be exactly
//! the tick the CSV parser would build from its values, or it is a bad record named by byte
//! offset. Decoding is from the read buffer with no allocation per record. A record skipped
//! under `Skip` goes to the dead-letter sink, when there is one, with its bytes.

use std::sync::Arc;

use super::super::csv::{TickFields, ticks_from_fields};
use super::super::rules::{self, ValueProblem};
use super::super::stream::ByteStream;
use super::super::{FeedError, FeedStats, MAX_SKIPPED_EXAMPLES};
use super::{BLOCK_RECORDS, CRC_SIZE, RECORD_SIZE, block_crc, format_error, read_header};
use crate::config::BadRowPolicy;
use crate::dlq::{DeadLetters, Letter, Origin, Source};
use crate::domain::{
    InstrumentId, InstrumentTable, Nanos, POW10, Price, Qty, Tick, TickFlags, TickKind,
};

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

/// How a file-local instrument maps into the run.
#[derive(Clone, Copy, Debug)]
struct LocalInstrument {
    id: InstrumentId,
    /// `10^(run precision - file precision)`.
    price_scale: i64,
    qty_scale: i64,
    /// The run's precisions, for messages.
    price_precision: u8,
    qty_precision: u8,
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
pub(in crate::feed) struct BinarySource {
    stream: ByteStream,
    name: Arc<str>,
    decoder: RecordDecoder,
    /// Records not decoded yet.
    remaining: u64,
    /// Records decoded so far (the number of the last one, 1-based).
    record: u64,
    /// Records of the current, checked block not decoded yet.
    block_left: u64,
    /// Blocks checked so far.
    blocks: u64,
    policy: BadRowPolicy,
    /// Where skipped records go, with their bytes. Boxed: the reader's `Decoder` enum
    /// keeps this side unboxed, so it stays small.
    dead_letters: Option<Box<DeadLetters>>,
}

/// Why a record was refused: field name and message.
type RecordError = (&'static str, String);

impl BinarySource {
    /// Reads the header of a source whose magic was seen, and maps its symbols to `table`.
    ///
    /// # Errors
    /// See `read_header`; also a symbol missing from `table` or stored at more decimals than
    /// `table` gives it (the table was not scanned from this file).
    pub(in crate::feed) fn open(
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
                price_precision: spec.price_precision,
                qty_precision: spec.qty_precision,
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
            block_left: 0,
            blocks: 0,
            policy,
            dead_letters: None,
        })
    }

    /// Hands every record skipped from now on to `sink`.
    pub(in crate::feed) fn set_dead_letters(&mut self, sink: DeadLetters) {
        self.dead_letters = Some(Box::new(sink));
    }

    /// A skipped record to the dead-letter sink (the rare path: out of line).
    #[cold]
    #[inline(never)]
    fn dead_letter(&self, error: &FeedError, raw: &[u8; RECORD_SIZE]) {
        let (Some(sink), FeedError::BadRecord { offset, record, .. }) = (&self.dead_letters, error)
        else {
            return;
        };
        let ts = Some(le_u64(raw, 0)).filter(|&ts| rules::timestamp_ok(ts));
        let origin = Origin::Record {
            file: Arc::clone(&self.name),
            offset: *offset,
            record: *record,
        };
        let letter = Letter::now(
            Source::BinaryRecord,
            error.to_string(),
            origin,
            raw.to_vec(),
        );
        sink.record(letter.with_event_ts(ts));
    }

    /// The byte input.
    pub(in crate::feed) fn stream(&self) -> &ByteStream {
        &self.stream
    }

    /// Makes the next block available and checks its CRC; sets `block_left`.
    fn check_block(&mut self) -> Result<(), FeedError> {
        let records = self.remaining.min(BLOCK_RECORDS as u64) as usize;
        let bytes = records * RECORD_SIZE;
        let offset = self.stream.consumed();
        let available = self.stream.peek(bytes + CRC_SIZE)?;
        if available.len() < bytes + CRC_SIZE {
            let message = format!(
                "byte {offset}: truncated binary tick file: ended after {} records",
                self.record
            );
            return Err(format_error(&self.stream, message));
        }
        let mut stored = [0u8; CRC_SIZE];
        stored.copy_from_slice(&available[bytes..bytes + CRC_SIZE]);
        if block_crc(self.blocks, &available[..bytes]) != u32::from_le_bytes(stored) {
            let first = self.record.saturating_add(1);
            let message = format!(
                "byte {offset}: checksum mismatch in block {} (records {first} to {}): the file \
                 is corrupt or was changed; regenerate it with `alpha-panda convert`",
                self.blocks.saturating_add(1),
                self.record.saturating_add(records as u64),
            );
            return Err(format_error(&self.stream, message));
        }
        self.blocks += 1;
        self.block_left = records as u64;
        Ok(())
    }
}

/// A value of the record at the run's precision, checked by `rule`.
#[inline(always)]
fn value(
    raw: i64,
    scale: i64,
    rescale: bool,
    field: &'static str,
    precision: u8,
    rule: fn(i64) -> Result<i64, ValueProblem>,
) -> Result<i64, RecordError> {
    let raw = if rescale {
        raw.checked_mul(scale).ok_or_else(|| {
            (
                field,
                format!("{raw} overflows when rescaled by {scale} to the run's precision"),
            )
        })?
    } else {
        raw
    };
    rule(raw).map_err(|p| (field, format!("{}, found raw {raw}", p.expected(precision))))
}

impl RecordDecoder {
    #[inline(always)]
    fn decode(&mut self, record: &[u8; RECORD_SIZE]) -> Result<Tick, RecordError> {
        let ts = le_u64(record, 0);
        let local_ts = le_u64(record, 8);
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
        let flags = TickFlags(record[21]);
        if flags.0 > TickFlags::BID | TickFlags::ASK | TickFlags::BID_SIZE | TickFlags::ASK_SIZE {
            return Err((
                "flags",
                format!("expected bits 0-3 only, found {:#04x}", flags.0),
            ));
        }
        if record[22] != 0 || record[23] != 0 {
            return Err(("reserved", "expected 0".to_owned()));
        }
        let Some(&instrument) = self.instruments.get(local as usize) else {
            let count = self.instruments.len();
            return Err((
                "instrument",
                format!("expected a file-local id below {count}, found {local}"),
            ));
        };
        for (field, ns) in [("ts", ts), ("local_ts", local_ts)] {
            if !rules::timestamp_ok(ns) {
                return Err((field, rules::timestamp_expected(ns)));
            }
        }
        if ts < self.last_ts {
            return Err((
                "ts",
                format!(
                    "expected a timestamp >= {} (the previous record's), found {ts}",
                    self.last_ts
                ),
            ));
        }
        let (pp, qp) = (instrument.price_precision, instrument.qty_precision);
        let (ps, qs, re) = (instrument.price_scale, instrument.qty_scale, self.rescale);
        let present = |bit| flags.has(bit);
        let price = |at, field| value(le_i64(record, at), ps, re, field, pp, rules::price);
        let size = |at, field| value(le_i64(record, at), qs, re, field, qp, rules::size);
        // The fields a CSV row would have had, checked by the CSV rules; a trade keeps its
        // price and size in both sides.
        let fields = match kind {
            TickKind::Quote => TickFields {
                bid: present(TickFlags::BID)
                    .then(|| price(24, "bid").map(Price))
                    .transpose()?,
                ask: present(TickFlags::ASK)
                    .then(|| price(32, "ask").map(Price))
                    .transpose()?,
                bid_size: present(TickFlags::BID_SIZE)
                    .then(|| size(40, "bid_size").map(Qty))
                    .transpose()?,
                ask_size: present(TickFlags::ASK_SIZE)
                    .then(|| size(48, "ask_size").map(Qty))
                    .transpose()?,
                ..TickFields::default()
            },
            TickKind::Trade => TickFields {
                last: Some(Price(price(24, "bid")?)),
                last_size: present(TickFlags::BID_SIZE)
                    .then(|| size(40, "bid_size").map(Qty))
                    .transpose()?,
                ..TickFields::default()
            },
        };
        let (mut tick, _) = ticks_from_fields(Nanos(ts), instrument.id, fields).map_err(|_| {
            (
                "flags",
                format!("expected a bid, ask or trade price, found {:#04x}", flags.0),
            )
        })?;
        tick.local_ts = Nanos(local_ts);
        // Everything the fields did not set (absent sides, a trade's copy) must be the
        // canonical value, or the record holds bits no reader looks at.
        let scaled = |at, scale| {
            let raw = le_i64(record, at);
            if re { raw.saturating_mul(scale) } else { raw }
        };
        let stored = [
            ("flags", i64::from(flags.0), i64::from(tick.flags.0)),
            ("bid", scaled(24, ps), tick.bid.0),
            ("ask", scaled(32, ps), tick.ask.0),
            ("bid_size", scaled(40, qs), tick.bid_size.0),
            ("ask_size", scaled(48, qs), tick.ask_size.0),
        ];
        if let Some((field, found, expected)) = stored.into_iter().find(|(_, f, e)| f != e) {
            return Err((
                field,
                format!("expected {expected} (the {kind:?} tick its fields make), found {found}"),
            ));
        }
        self.last_ts = ts;
        Ok(tick)
    }
}

impl BinarySource {
    /// Appends ticks to `out` until it holds `limit`; returns true at the end of the source.
    ///
    /// # Errors
    /// A read error, the file ending early, a block whose checksum does not match, or a bad
    /// record under `BadRowPolicy::Reject` (the ticks before it are in `out`).
    pub(in crate::feed) fn fill(
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
            if self.block_left == 0 {
                self.check_block()?;
            }
            // The whole checked block is available: `check_block` peeked it and nothing
            // refills the stream until it is consumed.
            let available = self.stream.available();
            let room =
                (limit - out.len()).min(usize::try_from(self.block_left).unwrap_or(usize::MAX));
            let (records, _) = available.as_chunks::<RECORD_SIZE>();
            let records = &records[..records.len().min(room)];
            let offset = self.stream.consumed();
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
                            offset: offset + ((used - 1) * RECORD_SIZE) as u64,
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
                                if self.dead_letters.is_some() {
                                    self.dead_letter(&error, record);
                                }
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
            self.block_left -= used as u64;
            self.stream.consume(used * RECORD_SIZE);
            if self.block_left == 0 {
                self.stream.consume(CRC_SIZE);
            }
            result?;
        }
    }
}
/// One record (`raw`, `RECORD_SIZE` bytes) of the binary file `source` decoded alone by the decoder a
/// run uses, with the file's header mapped onto `table`: the tick, or the error a run would
/// report. The time-order rule has no previous record to compare with here.
///
/// # Errors
/// The file cannot be opened or its header does not fit `table`, `raw` is not one record,
/// or the record is bad.
pub(crate) fn decode_record(
    source: &super::super::DataSource,
    table: &InstrumentTable,
    raw: &[u8],
    offset: u64,
    record: u64,
) -> Result<Tick, FeedError> {
    let stream = ByteStream::open(source)?;
    let mut binary = BinarySource::open(stream, table, BadRowPolicy::Reject)?;
    let bad = |field, message| FeedError::BadRecord {
        file: source.name(),
        offset,
        record,
        field,
        message,
    };
    let Ok(bytes) = <&[u8; RECORD_SIZE]>::try_from(raw) else {
        return Err(bad(
            "record",
            format!("expected {RECORD_SIZE} bytes, found {}", raw.len()),
        ));
    };
    binary
        .decoder
        .decode(bytes)
        .map_err(|(field, message)| bad(field, message))
}
