//! `[instruments.SYMBOL]` tables of `engine.toml` and the optional instruments file
//! (`[data] instruments_file`, a CSV for many symbols): precisions fixed by config and
//! contract terms. Every key is optional; the same symbol in both places is an error.
//!
//! CSV header: `symbol` plus any of the TOML keys (`kind,multiplier,quote_currency,
//! settlement_currency,tick_size,lot_size,price_precision,qty_precision`) in any order; an
//! empty cell keeps the default.

use std::path::{Path, PathBuf};

use super::ConfigError;
use super::fields::Fields;
use crate::domain::fixed::{MAX_PRECISION, parse_mantissa};
use crate::domain::{Decimal, InstrumentKind, InstrumentTerms};

/// One instrument's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentConfig {
    pub symbol: String,
    /// Fixed price precision; `None`: the most decimals in the data (and the tick size).
    pub price_precision: Option<u8>,
    /// Fixed quantity precision; `None`: the most decimals in the data, strategies' quantities
    /// and the lot size.
    pub qty_precision: Option<u8>,
    pub terms: InstrumentTerms,
    /// Where it was configured, for messages.
    pub file: PathBuf,
    pub line: usize,
}

const KEYS: [&str; 8] = [
    "kind",
    "multiplier",
    "quote_currency",
    "settlement_currency",
    "tick_size",
    "lot_size",
    "price_precision",
    "qty_precision",
];

/// Why a single value is refused; the caller adds where.
fn check(key: &str, text: &str) -> Result<Value, String> {
    match key {
        "kind" => match text {
            "spot" => Ok(Value::Kind(InstrumentKind::Spot)),
            "linear" => Ok(Value::Kind(InstrumentKind::Linear)),
            "inverse" => Ok(Value::Kind(InstrumentKind::Inverse)),
            _ => Err(format!(
                "expected one of \"spot\", \"linear\", \"inverse\", found \"{text}\""
            )),
        },
        "quote_currency" | "settlement_currency" => {
            let ok = !text.is_empty()
                && text.len() <= 16
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
            if ok {
                Ok(Value::Text(text.to_owned()))
            } else {
                Err(format!(
                    "expected a currency code of 1 to 16 letters, digits, '_', '-' or '.', found \"{text}\""
                ))
            }
        }
        "price_precision" | "qty_precision" => match text.parse::<u8>() {
            Ok(p) if p <= MAX_PRECISION => Ok(Value::Precision(p)),
            _ => Err(format!(
                "expected an integer from 0 to {MAX_PRECISION}, found \"{text}\""
            )),
        },
        _ => match parse_mantissa(text.as_bytes()) {
            Ok((mantissa, decimals)) if mantissa > 0 && decimals <= MAX_PRECISION => {
                Ok(Value::Decimal(Decimal { mantissa, decimals }))
            }
            _ => Err(format!(
                "expected a decimal > 0 with at most {MAX_PRECISION} decimals, found \"{text}\""
            )),
        },
    }
}

enum Value {
    Kind(InstrumentKind),
    Text(String),
    Precision(u8),
    Decimal(Decimal),
}

impl InstrumentConfig {
    /// Fixed precisions and default terms (what `[instruments.SYMBOL]` with only the two
    /// precision keys gives).
    pub fn fixed(symbol: &str, price_precision: u8, qty_precision: u8) -> InstrumentConfig {
        InstrumentConfig {
            price_precision: Some(price_precision),
            qty_precision: Some(qty_precision),
            ..InstrumentConfig::new(symbol, Path::new("<config>"), 0)
        }
    }

    fn new(symbol: &str, file: &Path, line: usize) -> InstrumentConfig {
        InstrumentConfig {
            symbol: symbol.to_owned(),
            price_precision: None,
            qty_precision: None,
            terms: InstrumentTerms::default(),
            file: file.to_owned(),
            line,
        }
    }

    fn set(&mut self, key: &str, value: Value) {
        match (key, value) {
            (_, Value::Kind(kind)) => self.terms.kind = kind,
            ("quote_currency", Value::Text(t)) => self.terms.quote_currency = Some(t),
            (_, Value::Text(t)) => self.terms.settlement_currency = Some(t),
            ("price_precision", Value::Precision(p)) => self.price_precision = Some(p),
            (_, Value::Precision(p)) => self.qty_precision = Some(p),
            ("multiplier", Value::Decimal(d)) => self.terms.multiplier = Some(d),
            ("tick_size", Value::Decimal(d)) => self.terms.tick_size = Some(d),
            (_, Value::Decimal(d)) => self.terms.lot_size = Some(d),
        }
    }
}

/// Reads `[instruments.SYMBOL]` tables (in the TOML reader's key order; symbols are looked
/// up by name, never by position).
pub(crate) fn read(root: &mut Fields<'_, '_>, into: &mut Vec<InstrumentConfig>) {
    let Some((table, offset)) = root.opt_table("instruments") else {
        return;
    };
    let mut instruments = root.sub(table, "instruments", offset);
    for (symbol, _) in table.iter() {
        let symbol = symbol.get_ref().as_ref();
        let Some((inner, inner_offset)) = instruments.opt_table(symbol) else {
            continue;
        };
        let source = instruments.source();
        let mut config = InstrumentConfig::new(symbol, source.path, source.line_of(inner_offset));
        let mut fields = instruments.sub(inner, symbol, inner_offset);
        for key in KEYS {
            let Some(value) = fields.get(key) else {
                continue;
            };
            let offset = value.span().start;
            let text = match value.get_ref() {
                toml::de::DeValue::String(s) => s.to_string(),
                toml::de::DeValue::Integer(i) => i.as_str().replace('_', ""),
                toml::de::DeValue::Float(f) => f.as_str().replace('_', ""),
                _ => {
                    fields.invalid(key, offset, "expected a string or a number");
                    continue;
                }
            };
            match check(key, &text) {
                Ok(value) => config.set(key, value),
                Err(message) => fields.invalid(key, offset, message),
            }
        }
        fields.finish();
        into.push(config);
    }
    instruments.finish();
}

/// Reads an instruments CSV file and adds its rows to `into`.
///
/// # Errors
/// Every problem, as `FILE:LINE: field 'NAME': ...`: an unreadable file, a header without
/// `symbol` or with an unknown column, a bad value, a symbol given twice (here or in the TOML).
pub fn read_file(path: &Path, into: &mut Vec<InstrumentConfig>) -> Result<(), Vec<ConfigError>> {
    let error = |line: usize, field: &str, message: String| ConfigError {
        file: path.to_owned(),
        line,
        field: field.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![error(
            0,
            "",
            format!("cannot read the instruments file: {e}"),
        )]
    })?;
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    let Some((_, header)) = lines.next() else {
        return Err(vec![error(
            1,
            "",
            "empty file: expected a header starting with 'symbol'".into(),
        )]);
    };
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let mut errors = Vec::new();
    if columns.first() != Some(&"symbol") {
        errors.push(error(
            1,
            "symbol",
            format!(
                "the first column must be 'symbol', found '{}'",
                columns.first().unwrap_or(&"")
            ),
        ));
    }
    for (i, column) in columns.iter().enumerate().skip(1) {
        if !KEYS.contains(column) || columns[..i].contains(column) {
            errors.push(error(
                1,
                column,
                format!(
                    "unknown or repeated column; expected any of: {}",
                    KEYS.join(", ")
                ),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    for (line, row) in lines {
        if row.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = row.split(',').map(str::trim).collect();
        if cells.len() != columns.len() {
            errors.push(error(
                line,
                "",
                format!("expected {} fields, found {}", columns.len(), cells.len()),
            ));
            continue;
        }
        let symbol = cells[0];
        if symbol.is_empty() {
            errors.push(error(line, "symbol", "empty symbol".into()));
            continue;
        }
        if let Some(earlier) = into.iter().find(|c| c.symbol == symbol) {
            errors.push(error(
                line,
                "symbol",
                format!(
                    "'{symbol}' is already configured at {}:{}",
                    earlier.file.display(),
                    earlier.line
                ),
            ));
            continue;
        }
        let mut config = InstrumentConfig::new(symbol, path, line);
        let before = errors.len();
        for (&column, &cell) in columns.iter().zip(&cells).skip(1) {
            if cell.is_empty() {
                continue;
            }
            match check(column, cell) {
                Ok(value) => config.set(column, value),
                Err(message) => errors.push(error(line, column, message)),
            }
        }
        if errors.len() == before {
            into.push(config);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EngineConfig;

    #[test]
    fn every_key_is_optional_and_checked() {
        let ok = EngineConfig::parse(
            Path::new("e.toml"),
            "[venue.paper]\n[instruments.IBM]\nkind = \"linear\"\nmultiplier = \"50\"\n\
             [instruments.BTCUSD]\nkind = \"inverse\"\nmultiplier = 100\nsettlement_currency = \"BTC\"\n\
             quote_currency = \"USD\"\ntick_size = \"0.1\"\nlot_size = 1\nprice_precision = 1\n",
        )
        .expect("valid");
        let find = |s: &str| ok.instruments.iter().find(|c| c.symbol == s).expect(s);
        let ibm = find("IBM");
        assert_eq!(
            (ibm.terms.kind, ibm.terms.multiplier, ibm.price_precision),
            (
                InstrumentKind::Linear,
                Some(Decimal {
                    mantissa: 50,
                    decimals: 0
                }),
                None
            )
        );
        let btc = find("BTCUSD");
        assert_eq!(
            btc.terms.tick_size,
            Some(Decimal {
                mantissa: 1,
                decimals: 1
            })
        );
        assert_eq!((btc.price_precision, btc.line), (Some(1), 5));

        let bad = EngineConfig::parse(
            Path::new("e.toml"),
            "[venue.paper]\n[instruments.X]\nkind = \"future\"\nmultiplier = \"-1\"\ntick_size = \"0\"\n\
             quote_currency = \"US D\"\nprice_precision = 12\ncolour = 1\n",
        )
        .expect_err("invalid")
        .to_string();
        for needle in [
            "e.toml:3: field 'instruments.X.kind'",
            "e.toml:4: field 'instruments.X.multiplier'",
            "e.toml:5: field 'instruments.X.tick_size'",
            "e.toml:6: field 'instruments.X.quote_currency'",
            "e.toml:7: field 'instruments.X.price_precision'",
            "instruments.X.colour",
        ] {
            assert!(bad.contains(needle), "missing {needle} in {bad}");
        }
    }

    #[test]
    fn csv_file_rows_and_errors_name_line_and_field() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("instruments.csv");
        std::fs::write(
            &path,
            "symbol,kind,multiplier,settlement_currency,tick_size\n\
             ES,linear,50,USD,0.25\nBTCUSD,inverse,100,BTC,\n\nBAD,swap,1,,\nES,spot,,,\n",
        )
        .expect("write");
        let mut into = Vec::new();
        let errors = read_file(&path, &mut into).expect_err("bad rows");
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(
            text[0].contains("instruments.csv:5: field 'kind'"),
            "{}",
            text[0]
        );
        assert!(
            text[1].contains(":6: field 'symbol'") && text[1].contains("already"),
            "{}",
            text[1]
        );
        assert_eq!(into.len(), 2, "good rows are kept, bad ones are not");
        assert_eq!(into[1].terms.kind, InstrumentKind::Inverse);
        assert_eq!(
            into[0].terms.tick_size,
            Some(Decimal {
                mantissa: 25,
                decimals: 2
            })
        );

        std::fs::write(&path, "symbol,colour\n").expect("write");
        let errors = read_file(&path, &mut Vec::new()).expect_err("header");
        assert!(
            errors[0].to_string().contains(":1: field 'colour'"),
            "{}",
            errors[0]
        );
    }
}
