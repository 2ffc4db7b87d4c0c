//! The CSV line layout: the two headers (eight fields, or nine with `exchange_ts_ns`), and
//! the splitter both passes use to find a line's end and its commas (eight bytes at a time),
//! plus the header check and the quoting of offending text in messages.

use super::super::FeedError;
use super::super::stream::{ByteStream, READ_BUFFER};

/// The required first line (or `HEADER_EXCHANGE_TS`).
pub(crate) const HEADER: &str = "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size";
/// The first line of a file whose rows carry the exchange's own timestamp as a 9th field
/// (recordings of a live feed, where `ts_ns` is the local receive time).
pub(crate) const HEADER_EXCHANGE_TS: &str =
    "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size,exchange_ts_ns";
/// Field names in column order, as used in messages.
pub(super) const FIELDS: [&str; 9] = [
    "ts_ns",
    "symbol",
    "bid",
    "ask",
    "bid_size",
    "ask_size",
    "last",
    "last_size",
    "exchange_ts_ns",
];
pub(super) const F_TS: usize = 0;
pub(super) const F_SYMBOL: usize = 1;
pub(super) const F_BID: usize = 2;
pub(super) const F_ASK: usize = 3;
pub(super) const F_BID_SIZE: usize = 4;
pub(super) const F_ASK_SIZE: usize = 5;
pub(super) const F_LAST: usize = 6;
pub(super) const F_LAST_SIZE: usize = 7;
pub(super) const F_EXCHANGE_TS: usize = 8;
/// Commas the splitter records: enough for the nine-field layout.
pub(super) const MAX_COMMAS: usize = 8;
/// Which of the two headers a file has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Layout {
    /// `ts_ns,...,last_size`.
    Ticks,
    /// `ts_ns,...,last_size,exchange_ts_ns`.
    WithExchangeTs,
}

impl Layout {
    /// Commas in a well-formed line; also the index of its last field.
    #[inline]
    pub(super) fn commas(self) -> usize {
        match self {
            Layout::Ticks => 7,
            Layout::WithExchangeTs => 8,
        }
    }

    /// Splits a line with `count` commas into its first eight fields and, in a well-formed
    /// nine-field line, the `exchange_ts_ns` text. Cutting the 9th field off lets the
    /// eight-field code (and its messages) see the same line in both layouts.
    #[inline]
    pub(super) fn split<'a>(
        self,
        line: &'a [u8],
        commas: &[usize; MAX_COMMAS],
        count: usize,
    ) -> (&'a [u8], Option<&'a [u8]>) {
        match self {
            Layout::WithExchangeTs if count == 8 => {
                let cut = commas[7];
                (&line[..cut], Some(&line[cut + 1..]))
            }
            _ => (line, None),
        }
    }
}
/// At most this many bytes of an offending value are quoted in a message.
const MAX_QUOTED: usize = 40;
/// Finds the end of the first line of `bytes` and the positions of its first `MAX_COMMAS`
/// commas in one pass. Returns the newline position (None: no newline in `bytes`) and the comma count.
///
/// Eight bytes at a time (SWAR): a line holds ~9 delimiters in ~50 bytes, so visiting only the
/// delimiters roughly halves the cost of a byte loop, the largest cost of both passes.
#[inline]
pub(super) fn split_line(bytes: &[u8], commas: &mut [usize; MAX_COMMAS]) -> (Option<usize>, usize) {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const COMMAS: u64 = 0x2C2C_2C2C_2C2C_2C2C;
    const NEWLINES: u64 = 0x0A0A_0A0A_0A0A_0A0A;
    /// High bit set in each byte of `x` that is zero; exact (no borrow between bytes).
    #[inline(always)]
    fn zero_bytes(x: u64) -> u64 {
        !(((x & LOW7) + LOW7) | x | LOW7)
    }
    let mut count = 0;
    let (words, tail) = bytes.as_chunks::<8>();
    for (w, word) in words.iter().enumerate() {
        let word = u64::from_le_bytes(*word);
        let mut hits = zero_bytes(word ^ COMMAS) | zero_bytes(word ^ NEWLINES);
        while hits != 0 {
            let i = w * 8 + (hits.trailing_zeros() / 8) as usize;
            if bytes[i] == b'\n' {
                return (Some(i), count);
            }
            if count < MAX_COMMAS {
                commas[count] = i;
            }
            count += 1;
            hits &= hits - 1;
        }
    }
    let base = words.len() * 8;
    for (j, &b) in tail.iter().enumerate() {
        if b == b',' {
            if count < MAX_COMMAS {
                commas[count] = base + j;
            }
            count += 1;
        } else if b == b'\n' {
            return (Some(base + j), count);
        }
    }
    (None, count)
}

/// Field `k` (0..8) of a line with exactly 7 commas.
#[inline]
pub(super) fn field<'a>(line: &'a [u8], commas: &[usize; MAX_COMMAS], k: usize) -> &'a [u8] {
    let start = if k == 0 { 0 } else { commas[k - 1] + 1 };
    let end = if k == 7 { line.len() } else { commas[k] };
    &line[start..end]
}

#[inline]
pub(super) fn strip_cr(line: &[u8]) -> &[u8] {
    match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    }
}
/// Text for a message: lossy UTF-8, cut to `MAX_QUOTED` bytes.
pub(crate) fn quoted(bytes: &[u8]) -> String {
    if bytes.len() > MAX_QUOTED {
        format!("{}...", String::from_utf8_lossy(&bytes[..MAX_QUOTED]))
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// Reads and checks the header line, leaving the stream at the first data line.
///
/// # Errors
/// A read error, or a missing or different header.
pub(super) fn read_header(stream: &mut ByteStream) -> Result<Layout, FeedError> {
    loop {
        let available = stream.available();
        let newline = available.iter().position(|&b| b == b'\n');
        let at_end = newline.is_none() && (stream.is_full() || stream.refill()? == 0);
        if newline.is_none() && !at_end {
            continue;
        }
        let available = stream.available();
        let line_len = newline.unwrap_or(available.len());
        let line = strip_cr(&available[..line_len]);
        // Spreadsheet exports often start with a UTF-8 byte order mark.
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        let layout = if line == HEADER.as_bytes() {
            Layout::Ticks
        } else if line == HEADER_EXCHANGE_TS.as_bytes() {
            Layout::WithExchangeTs
        } else {
            return Err(FeedError::Header {
                file: stream.name().to_string(),
                found: quoted(line),
            });
        };
        let consumed = (line_len + 1).min(available.len());
        stream.consume(consumed);
        return Ok(layout);
    }
}
pub(super) fn line_too_long(stream: &ByteStream, line: Option<u64>) -> FeedError {
    let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
    FeedError::Format {
        file: stream.name().to_string(),
        message: format!(
            "a line{at} is longer than the {READ_BUFFER}-byte read buffer; is this a tick CSV?"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_line_table() {
        let cases: [(&str, &[u8], Option<usize>, usize); 7] = [
            ("plain", b"1,A,2,3,,,,\nrest", Some(11), 7),
            ("no newline", b"1,A", None, 1),
            ("extra commas", b",,,,,,,,,\n", Some(9), 9),
            ("empty line", b"\n", Some(0), 0),
            (
                "delimiters in every byte lane",
                b"12345678,2345678,345678,45678,5678,678,78,8,\n9",
                Some(44),
                8,
            ),
            ("sign after comma", b"1,-,-,,,,,\n", Some(10), 7),
            ("nine fields", b"1,A,2,3,,,,,4\n", Some(13), 8),
        ];
        for (name, bytes, newline, count) in cases {
            let mut commas = [0; MAX_COMMAS];
            assert_eq!(split_line(bytes, &mut commas), (newline, count), "{name}");
        }
    }

    mod property_tests {
        use super::super::{MAX_COMMAS, split_line};
        use proptest::prelude::*;

        /// The obvious byte loop that `split_line` must agree with.
        fn naive(bytes: &[u8]) -> (Option<usize>, Vec<usize>) {
            let end = bytes.iter().position(|&b| b == b'\n');
            let line = &bytes[..end.unwrap_or(bytes.len())];
            (
                end,
                line.iter()
                    .enumerate()
                    .filter(|(_, b)| **b == b',')
                    .map(|(i, _)| i)
                    .collect(),
            )
        }

        proptest! {
            #[test]
            fn split_line_matches_a_byte_loop(bytes in proptest::collection::vec(
                prop_oneof![Just(b','), Just(b'\n'), Just(b'-'), Just(b'.'), any::<u8>()], 0..80)) {
                let mut commas = [0usize; MAX_COMMAS];
                let (end, count) = split_line(&bytes, &mut commas);
                let (expected_end, expected_commas) = naive(&bytes);
                prop_assert_eq!(end, expected_end);
                prop_assert_eq!(count, expected_commas.len());
                let kept = count.min(MAX_COMMAS);
                prop_assert_eq!(&commas[..kept], &expected_commas[..kept]);
            }
        }
    }
}
