//! Reading TOML tables field by field while collecting *every* problem with its file, line
//! and field, instead of stopping at the first one (serde's `deny_unknown_fields` would).

use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::ConfigError;
use crate::domain::fixed::{DecimalError, parse_mantissa};

/// The source text of one config file, for turning byte offsets into line numbers.
#[derive(Debug)]
pub struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    pub fn line_of(&self, offset: usize) -> usize {
        self.text.as_bytes()[..offset.min(self.text.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    pub fn error(&self, offset: usize, field: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: PathBuf::from(self.path),
            line: self.line_of(offset),
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Parses a whole document; syntax errors come back as `ConfigError`s.
pub fn parse_document<'a>(source: &Source<'a>) -> Result<Spanned<DeTable<'a>>, Vec<ConfigError>> {
    let (table, errors) = DeTable::parse_recoverable(source.text);
    if errors.is_empty() {
        Ok(table)
    } else {
        Err(errors
            .into_iter()
            .map(|e| {
                let offset = e.span().map_or(0, |s| s.start);
                source.error(offset, "", format!("invalid TOML: {}", e.message()))
            })
            .collect())
    }
}

/// One table being read. Every getter records a problem instead of returning early; call
/// `finish` to flag the keys nobody asked for.
pub struct Fields<'s, 'a> {
    source: &'s Source<'a>,
    table: &'s DeTable<'a>,
    /// Dotted prefix of this table's keys in messages (`"params."`).
    prefix: String,
    /// Offset of the table header, for "missing field" messages.
    offset: usize,
    seen: Vec<&'s str>,
    pub errors: &'s mut Vec<ConfigError>,
}

impl<'s, 'a> Fields<'s, 'a> {
    pub fn new(
        source: &'s Source<'a>,
        table: &'s DeTable<'a>,
        prefix: &str,
        offset: usize,
        errors: &'s mut Vec<ConfigError>,
    ) -> Self {
        Fields {
            source,
            table,
            prefix: prefix.to_owned(),
            offset,
            seen: Vec::new(),
            errors,
        }
    }

    pub fn source(&self) -> &'s Source<'a> {
        self.source
    }

    /// The dotted name of `key` in messages (`params.fast`).
    pub fn name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Offset of the table header, where "missing" problems are reported.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Marks `key` as known (once: the list of known keys is shown to the user).
    fn mark(&mut self, key: &'s str) {
        if !self.seen.contains(&key) {
            self.seen.push(key);
        }
    }

    /// The raw value of `key`, marking it as known.
    pub fn get(&mut self, key: &'s str) -> Option<&'s Spanned<DeValue<'a>>> {
        self.mark(key);
        self.table.get(key)
    }

    fn type_error(&mut self, key: &str, value: &Spanned<DeValue<'a>>, expected: &str) {
        let found = describe(value.get_ref());
        let err = self.source.error(
            value.span().start,
            &self.name(key),
            format!("expected {expected}, found {found}"),
        );
        self.errors.push(err);
    }

    fn missing(&mut self, key: &str, expected: &str) {
        let err = self.source.error(
            self.offset,
            &self.name(key),
            format!("missing (expected {expected})"),
        );
        self.errors.push(err);
    }

    /// Records a problem with the value of `key`.
    pub fn invalid(&mut self, key: &str, offset: usize, message: impl Into<String>) {
        let err = self.source.error(offset, &self.name(key), message);
        self.errors.push(err);
    }

    pub fn opt_str(&mut self, key: &'s str) -> Option<(String, usize)> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::String(s) => Some((s.to_string(), value.span().start)),
            _ => {
                self.type_error(key, value, "a string");
                None
            }
        }
    }

    pub fn req_str(&mut self, key: &'s str) -> Option<(String, usize)> {
        if self.table.get(key).is_none() {
            self.mark(key);
            self.missing(key, "a string");
            return None;
        }
        self.opt_str(key)
    }

    /// The name of an environment variable (`[A-Z_][A-Z0-9_]*`): where a secret is, never
    /// the secret. A value that is not such a name is refused without being quoted, since it
    /// may be the secret pasted in by mistake.
    pub fn opt_env_name(&mut self, key: &'s str) -> Option<(String, usize)> {
        let (name, offset) = self.opt_str(key)?;
        if is_env_name(&name) {
            Some((name, offset))
        } else {
            self.invalid(
                key,
                offset,
                "expected the name of an environment variable ([A-Z_][A-Z0-9_]*), not its value \
                 (the value is not shown: it may be a secret)",
            );
            None
        }
    }

    /// A required `opt_env_name`.
    pub fn req_env_name(&mut self, key: &'s str) -> Option<(String, usize)> {
        if self.table.get(key).is_none() {
            self.mark(key);
            self.missing(key, "the name of an environment variable");
            return None;
        }
        self.opt_env_name(key)
    }

    /// A string chosen from `choices`.
    pub fn opt_choice(&mut self, key: &'s str, choices: &[&str]) -> Option<(String, usize)> {
        let (text, offset) = self.opt_str(key)?;
        if choices.contains(&text.as_str()) {
            Some((text, offset))
        } else {
            self.invalid(
                key,
                offset,
                format!("expected one of {}, found \"{text}\"", choices.join(" | ")),
            );
            None
        }
    }

    /// An integer in `min..=max`.
    pub fn opt_int(&mut self, key: &'s str, min: i64, max: i64) -> Option<i64> {
        let value = self.get(key)?;
        let parsed = match value.get_ref() {
            DeValue::Integer(i) => {
                i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok()
            }
            _ => None,
        };
        match parsed {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(n) => {
                let expected = int_range(min, max);
                self.invalid(
                    key,
                    value.span().start,
                    format!("expected {expected}, found {n}"),
                );
                None
            }
            None => {
                self.type_error(key, value, &int_range(min, max));
                None
            }
        }
    }

    pub fn req_int(&mut self, key: &'s str, min: i64, max: i64) -> Option<i64> {
        if self.table.get(key).is_none() {
            self.mark(key);
            self.missing(key, &int_range(min, max));
            return None;
        }
        self.opt_int(key, min, max)
    }

    pub fn opt_bool(&mut self, key: &'s str) -> Option<bool> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.type_error(key, value, "true or false");
                None
            }
        }
    }

    /// An exact decimal given as a string (`"0.5"`) or a TOML number (`0.5`, `2`), as
    /// `(mantissa, decimals, offset)`. The number's source text is read, never a float.
    pub fn opt_decimal(&mut self, key: &'s str) -> Option<(i64, u8, usize)> {
        let value = self.get(key)?;
        let offset = value.span().start;
        let text = match value.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Integer(i) if i.radix() == 10 => i.as_str().replace('_', ""),
            DeValue::Float(f) => f.as_str().replace('_', ""),
            _ => {
                self.type_error(key, value, "a decimal number");
                return None;
            }
        };
        match parse_mantissa(text.as_bytes()) {
            Ok((mantissa, decimals)) => Some((mantissa, decimals, offset)),
            Err(e) => {
                let reason = match e {
                    DecimalError::Overflow => "number out of range".to_owned(),
                    DecimalError::TooManyDecimals { found, max } => {
                        let found = if found == u8::MAX {
                            format!("{found}+")
                        } else {
                            found.to_string()
                        };
                        format!("expected at most {max} decimals, found {found} in \"{text}\"")
                    }
                    _ => format!("expected a decimal number like \"1.25\", found \"{text}\""),
                };
                self.invalid(key, offset, reason);
                None
            }
        }
    }

    /// A non-negative exact decimal.
    pub fn opt_non_negative_decimal(&mut self, key: &'s str) -> Option<(i64, u8, usize)> {
        let (mantissa, decimals, offset) = self.opt_decimal(key)?;
        if mantissa < 0 {
            self.invalid(key, offset, "expected a decimal >= 0");
            return None;
        }
        Some((mantissa, decimals, offset))
    }

    /// An array of strings.
    pub fn opt_str_list(&mut self, key: &'s str) -> Option<Vec<(String, usize)>> {
        let value = self.get(key)?;
        let DeValue::Array(items) = value.get_ref() else {
            self.type_error(key, value, "an array of strings");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push((s.to_string(), item.span().start)),
                _ => self.type_error(key, item, "a string"),
            }
        }
        Some(out)
    }

    /// A sub-table, as its own `Fields` with a dotted prefix.
    pub fn opt_table(&mut self, key: &'s str) -> Option<(&'s DeTable<'a>, usize)> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::Table(t) => Some((t, value.span().start)),
            _ => {
                self.type_error(key, value, "a table");
                None
            }
        }
    }

    pub fn sub<'t>(&'t mut self, table: &'s DeTable<'a>, key: &str, offset: usize) -> Fields<'t, 'a>
    where
        's: 't,
    {
        let prefix = format!("{}{key}.", self.prefix);
        Fields {
            source: self.source,
            table,
            prefix,
            offset,
            seen: Vec::new(),
            errors: self.errors,
        }
    }

    /// Reports every key of the table that no getter asked for.
    pub fn finish(self) {
        for (key, value) in self.table.iter() {
            if !self.seen.contains(&key.get_ref().as_ref()) {
                let known = if self.seen.is_empty() {
                    String::new()
                } else {
                    format!(" (known: {})", self.seen.join(", "))
                };
                self.errors.push(self.source.error(
                    key.span().start.min(value.span().start),
                    &format!("{}{}", self.prefix, key.get_ref()),
                    format!("unknown field{known}"),
                ));
            }
        }
    }
}

fn int_range(min: i64, max: i64) -> String {
    if max >= i64::from(u32::MAX) {
        format!("integer >= {min}")
    } else {
        format!("integer in {min}..={max}")
    }
}

fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => format!("string \"{s}\""),
        DeValue::Integer(i) => format!("integer {}", i.as_str()),
        DeValue::Float(f) => format!("float {}", f.as_str()),
        DeValue::Boolean(b) => format!("boolean {b}"),
        DeValue::Datetime(_) => "a datetime".to_owned(),
        DeValue::Array(_) => "an array".to_owned(),
        DeValue::Table(_) => "a table".to_owned(),
    }
}

/// Whether `name` is a conventional environment variable name: `[A-Z_][A-Z0-9_]*`.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The errors of reading `key` of `text` as a decimal.
    fn decimal_errors(text: &str, key: &str) -> (Option<(i64, u8, usize)>, Vec<String>) {
        let source = Source {
            path: Path::new("e.toml"),
            text,
        };
        let table = parse_document(&source).expect("valid TOML");
        let mut errors = Vec::new();
        let mut fields = Fields::new(&source, table.get_ref(), "", 0, &mut errors);
        let got = fields.opt_decimal(key);
        (got, errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn decimals_beyond_eighteen_are_refused_table() {
        let cases = [
            (
                "string, 18 decimals",
                "x = \"0.000000000000000001\"\n",
                None,
            ),
            (
                "string, 19 decimals",
                "\n\nx = \"0.0000000000000000001\"\n",
                Some(
                    "e.toml:3: field 'x': expected at most 18 decimals, found 19 in \"0.0000000000000000001\"",
                ),
            ),
            (
                "TOML float, 20 decimals",
                "x = 0.00000000000000000001\n",
                Some("e.toml:1: field 'x': expected at most 18 decimals, found 20"),
            ),
        ];
        for (name, text, expected) in cases {
            let (got, errors) = decimal_errors(text, "x");
            match expected {
                None => assert!(errors.is_empty() && got.is_some(), "{name}: {errors:?}"),
                Some(needle) => assert!(
                    got.is_none() && errors.len() == 1 && errors[0].contains(needle),
                    "{name}: {errors:?}"
                ),
            }
        }
    }
}
