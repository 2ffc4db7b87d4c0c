//! The instruments dump's CSV text → `KiteInstrument` rows: RFC 4180 records (quoted fields
//! may hold commas, doubled quotes and line breaks) and the validation of each row.
//!
//! Contract: every problem is collected as `FILE:LINE: field 'NAME': expected ..., found ...`
//! (the first `MAX_PROBLEMS` in full, the rest counted) before failing; good rows are never
//! dropped silently and no input panics. Columns are found by header name, in any order;
//! columns not read here are ignored.

use std::borrow::Cow;

use super::decode::price_precision;
use super::instruments::{InstrumentsError, KiteInstrument, MAX_PROBLEMS};
use crate::domain::Decimal;
use crate::domain::fixed::parse_mantissa;

/// Columns read, by header name.
const COLUMNS: [&str; 9] = [
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
];
const C_TOKEN: usize = 0;
const C_EXCHANGE_TOKEN: usize = 1;
const C_TRADINGSYMBOL: usize = 2;
const C_NAME: usize = 3;
const C_TICK_SIZE: usize = 4;
const C_LOT_SIZE: usize = 5;
const C_TYPE: usize = 6;
const C_SEGMENT: usize = 7;
const C_EXCHANGE: usize = 8;

/// Parses dump text; `file` names it in messages.
///
/// # Errors
/// A missing header column, a row with a different field count, an unterminated quote, or a
/// bad token, symbol, exchange, tick size or lot size: all of them.
pub(super) fn parse_rows(file: &str, text: &str) -> Result<Vec<KiteInstrument>, InstrumentsError> {
    let mut problems = Problems::new(file);
    let mut records = Records::new(text.strip_prefix('\u{feff}').unwrap_or(text));
    let mut fields = Vec::new();
    let columns = match records.next(&mut fields) {
        Some(Ok(_)) => header_columns(&fields, &mut problems),
        Some(Err((line, message))) => {
            problems.push(line, "", message);
            None
        }
        None => {
            problems.push(1, "", "expected a header line, found an empty file".into());
            None
        }
    };
    let Some(columns) = columns else {
        return Err(problems.into_error());
    };
    let mut rows = Vec::new();
    while let Some(record) = records.next(&mut fields) {
        let line = match record {
            Ok(line) => line,
            Err((line, message)) => {
                problems.push(line, "", message);
                continue;
            }
        };
        if fields.len() == 1 && fields[0].is_empty() {
            continue; // a blank line
        }
        if fields.len() != columns.count {
            problems.push(
                line,
                "",
                format!(
                    "expected {} comma-separated fields (as the header), found {}",
                    columns.count,
                    fields.len()
                ),
            );
            continue;
        }
        if let Some(row) = parse_row(line, &fields, &columns, &mut problems) {
            rows.push(row);
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems.into_error())
    }
}

/// Problems of one file, the first `MAX_PROBLEMS` kept as messages.
struct Problems<'f> {
    file: &'f str,
    kept: Vec<String>,
    more: usize,
}

impl<'f> Problems<'f> {
    fn new(file: &'f str) -> Problems<'f> {
        Problems {
            file,
            kept: Vec::new(),
            more: 0,
        }
    }

    fn push(&mut self, line: u64, field: &str, message: String) {
        if self.kept.len() >= MAX_PROBLEMS {
            self.more += 1;
            return;
        }
        let field = if field.is_empty() {
            String::new()
        } else {
            format!(" field '{field}':")
        };
        self.kept
            .push(format!("{}:{line}:{field} {message}", self.file));
    }

    fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    fn into_error(self) -> InstrumentsError {
        InstrumentsError::Invalid {
            problems: self.kept,
            more: self.more,
        }
    }
}

/// Where each column read is, and how many fields a row has.
struct Columns {
    at: [usize; COLUMNS.len()],
    count: usize,
}

fn header_columns(fields: &[Cow<'_, str>], problems: &mut Problems<'_>) -> Option<Columns> {
    let mut at = [0; COLUMNS.len()];
    let mut missing = Vec::new();
    for (k, name) in COLUMNS.iter().enumerate() {
        match fields.iter().position(|f| f.trim() == *name) {
            Some(i) => at[k] = i,
            None => missing.push(*name),
        }
    }
    if missing.is_empty() {
        return Some(Columns {
            at,
            count: fields.len(),
        });
    }
    problems.push(
        1,
        "",
        format!(
            "expected a Kite instruments header (instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange), missing {}",
            missing.join(", ")
        ),
    );
    None
}

/// Text for a message, cut to 40 bytes.
fn shown(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// One data row into an instrument; every problem is pushed.
fn parse_row(
    line: u64,
    fields: &[Cow<'_, str>],
    columns: &Columns,
    problems: &mut Problems<'_>,
) -> Option<KiteInstrument> {
    let get = |k: usize| fields[columns.at[k]].as_ref();
    let before = problems.kept.len() + problems.more;
    let mut bad = |k: usize, expected: &str| {
        problems.push(
            line,
            COLUMNS[k],
            format!("expected {expected}, found '{}'", shown(get(k))),
        );
    };
    let token = get(C_TOKEN).parse::<u32>().ok().filter(|&t| t > 0);
    if token.is_none() {
        bad(
            C_TOKEN,
            "an instrument token (an integer from 1 to 4294967295)",
        );
    }
    let exchange_token = get(C_EXCHANGE_TOKEN).parse::<u32>().ok();
    if exchange_token.is_none() {
        bad(C_EXCHANGE_TOKEN, "an integer from 0 to 4294967295");
    }
    // These names become part of tick CSV rows, which have no quoting.
    let usable = |text: &str| {
        !text.is_empty()
            && text.trim() == text
            && !text
                .chars()
                .any(|c| c == ',' || c == '"' || c == ':' || c.is_control())
    };
    for k in [C_TRADINGSYMBOL, C_EXCHANGE] {
        if !usable(get(k)) {
            bad(
                k,
                "a non-empty name without ',', '\"', ':', control characters or outer spaces",
            );
        }
    }
    let precision = token.map_or(2, price_precision);
    let tick_size = step(get(C_TICK_SIZE), precision);
    if tick_size.is_none() {
        bad(
            C_TICK_SIZE,
            &format!(
                "a decimal >= 0 with at most {precision} decimals (the precision of the token's segment)"
            ),
        );
    }
    let lot_size = step(get(C_LOT_SIZE), 0);
    if lot_size.is_none() {
        bad(C_LOT_SIZE, "a whole number >= 0");
    }
    if problems.kept.len() + problems.more > before {
        return None;
    }
    let (exchange, tradingsymbol) = (get(C_EXCHANGE), get(C_TRADINGSYMBOL));
    Some(KiteInstrument {
        symbol: format!("{exchange}:{tradingsymbol}"),
        token: token?,
        exchange_token: exchange_token?,
        exchange: exchange.to_owned(),
        tradingsymbol: tradingsymbol.to_owned(),
        name: get(C_NAME).to_owned(),
        instrument_type: get(C_TYPE).to_owned(),
        segment: get(C_SEGMENT).to_owned(),
        price_precision: precision,
        tick_size: tick_size?,
        lot_size: lot_size?,
        line,
    })
}

/// A non-negative decimal as raw units at `precision` ("0.0500" at 2 → 5); trailing zeros
/// beyond the precision are fine, other digits are not.
fn step(text: &str, precision: u8) -> Option<i64> {
    let (mut mantissa, mut decimals) = parse_mantissa(text.as_bytes()).ok()?;
    while decimals > precision && mantissa % 10 == 0 {
        mantissa /= 10;
        decimals -= 1;
    }
    if mantissa < 0 {
        return None;
    }
    Decimal { mantissa, decimals }.to_raw(precision)
}

/// RFC 4180 records over a text, with the line each starts on.
struct Records<'a> {
    text: &'a str,
    pos: usize,
    line: u64,
}

impl<'a> Records<'a> {
    fn new(text: &'a str) -> Records<'a> {
        Records {
            text,
            pos: 0,
            line: 1,
        }
    }

    /// Reads the next record into `fields`; returns its first line, or (line, message) for
    /// a malformed one (the reader resumes after it). `None` at the end.
    fn next(&mut self, fields: &mut Vec<Cow<'a, str>>) -> Option<Result<u64, (u64, String)>> {
        if self.pos >= self.text.len() {
            return None;
        }
        fields.clear();
        let start_line = self.line;
        let bytes = self.text.as_bytes();
        loop {
            let start = self.pos;
            if bytes.get(start) == Some(&b'"') {
                // Quoted: up to the closing quote; "" is a quote inside.
                let mut value = String::new();
                let mut i = start + 1;
                loop {
                    let Some(rel) = self.text[i..].find('"') else {
                        self.pos = self.text.len();
                        return Some(Err((
                            start_line,
                            "unterminated quoted field (expected a closing '\"')".into(),
                        )));
                    };
                    value.push_str(&self.text[i..i + rel]);
                    self.line += self.text[i..i + rel].matches('\n').count() as u64;
                    i += rel + 1;
                    if bytes.get(i) == Some(&b'"') {
                        value.push('"');
                        i += 1;
                    } else {
                        break;
                    }
                }
                fields.push(Cow::Owned(value));
                self.pos = i;
                match bytes.get(i) {
                    Some(b',') => self.pos += 1,
                    Some(b'\n') | None => return Some(Ok(self.end_record(start_line))),
                    Some(b'\r') if bytes.get(i + 1) == Some(&b'\n') => {
                        return Some(Ok(self.end_record(start_line)));
                    }
                    Some(_) => {
                        self.skip_line();
                        return Some(Err((
                            start_line,
                            "expected ',' or the end of the line after a closing quote".into(),
                        )));
                    }
                }
            } else {
                let end = self.text[start..]
                    .find([',', '\n'])
                    .map_or(self.text.len(), |rel| start + rel);
                let value = &self.text[start..end];
                let at_comma = bytes.get(end) == Some(&b',');
                let value = if at_comma {
                    value
                } else {
                    value.strip_suffix('\r').unwrap_or(value)
                };
                fields.push(Cow::Borrowed(value));
                self.pos = end;
                if at_comma {
                    self.pos += 1;
                } else {
                    return Some(Ok(self.end_record(start_line)));
                }
            }
        }
    }

    /// Steps over the line break that ends a record.
    fn end_record(&mut self, start_line: u64) -> u64 {
        let rest = &self.text.as_bytes()[self.pos..];
        if rest.starts_with(b"\r\n") {
            self.pos += 2;
        } else if rest.starts_with(b"\n") {
            self.pos += 1;
        }
        self.line += 1;
        start_line
    }

    fn skip_line(&mut self) {
        match self.text[self.pos..].find('\n') {
            Some(rel) => self.pos += rel + 1,
            None => self.pos = self.text.len(),
        }
        self.line += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::kite::KiteInstruments;

    const HEADER: &str = "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange\n";

    fn parse(rows: &str) -> Result<KiteInstruments, InstrumentsError> {
        KiteInstruments::parse("i.csv", &format!("{HEADER}{rows}"))
    }

    #[test]
    fn bad_rows_name_file_line_field_and_all_are_reported() {
        let rows = "408065,1594,INFY,I,0,,0,0.05,1,EQ,NSE,NSE\n\
                    x,1594,TCS,T,0,,0,0.05,1,EQ,NSE,NSE\n\
                    408066,1594,TCS,T,0,,0,0.001,1,EQ,NSE,NSE\n\
                    408067,1594,,T,0,,0,0.05,1.5,EQ,NSE,NSE\n\
                    408068,1594,A,T,0,,0,0.05,1,EQ,NSE\n\
                    408069,1594,\"B\"x,T,0,,0,0.05,1,EQ,NSE,NSE\n\
                    408070,1594,\"C,T,0,,0,0.05,1,EQ,NSE,NSE\n";
        let message = parse(rows).expect_err("bad").to_string();
        for expected in [
            "i.csv:3: field 'instrument_token': expected an instrument token",
            "found 'x'",
            "i.csv:4: field 'tick_size': expected a decimal >= 0 with at most 2 decimals",
            "i.csv:5: field 'tradingsymbol': expected a non-empty name",
            "i.csv:5: field 'lot_size': expected a whole number >= 0, found '1.5'",
            "i.csv:6: expected 12 comma-separated fields (as the header), found 11",
            "i.csv:7: expected ',' or the end of the line after a closing quote",
            "i.csv:8: unterminated quoted field",
        ] {
            assert!(message.contains(expected), "{expected}: {message}");
        }
    }

    #[test]
    fn header_problems_table() {
        let cases = [
            ("empty", "", "i.csv:1: expected a header line"),
            (
                "wrong header",
                "a,b\n1,2\n",
                "missing instrument_token, exchange_token",
            ),
        ];
        for (name, text, says) in cases {
            let message = KiteInstruments::parse("i.csv", text)
                .expect_err(name)
                .to_string();
            assert!(message.contains(says), "{name}: {message}");
        }
    }

    #[test]
    fn records_handle_crlf_quotes_and_line_breaks_in_quotes() {
        let text = "a,\"b\r\nc\",d\r\n\"\"\"\",,\n\nlast";
        let mut records = Records::new(text);
        let mut fields = Vec::new();
        let mut got = Vec::new();
        while let Some(record) = records.next(&mut fields) {
            let line = record.expect("record");
            got.push((
                line,
                fields.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
            ));
        }
        let expected: Vec<(u64, Vec<String>)> = vec![
            (1, vec!["a".into(), "b\r\nc".into(), "d".into()]),
            (3, vec!["\"".into(), "".into(), "".into()]),
            (4, vec!["".into()]),
            (5, vec!["last".into()]),
        ];
        assert_eq!(got, expected);
    }

    mod property_tests {
        use crate::feed::kite::KiteInstruments;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_text_never_panics(text in "[a-z0-9,\"\r\n. _:-]{0,200}") {
                let header = "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange\n";
                let _ = KiteInstruments::parse("p.csv", &format!("{header}{text}"));
                let _ = KiteInstruments::parse("p.csv", &text);
            }
        }
    }
}
