//! Kite's instruments dump (`GET /instruments`, CSV): which token is which engine symbol
//! (`EXCHANGE:TRADINGSYMBOL`, e.g. `NSE:INFY`), and each instrument's terms.
//!
//! Contract:
//! - Columns are found by header name (any order; columns this module does not read are
//!   ignored). Quoted fields (RFC 4180: commas, doubled quotes, line breaks inside) parse
//!   (see `dump`).
//! - Every bad row is reported as `FILE:LINE: field 'NAME': expected ..., found ...`, all of
//!   them (the first `MAX_PROBLEMS` in full) before failing; nothing panics.
//! - A price precision comes from the token's segment (`decode::price_precision`), so the
//!   table and the decoder can never disagree; `tick_size` is kept as a raw integer at that
//!   precision (0 where the dump says 0, as for indices).
//! - A symbol or token that appears twice is kept (first row wins for `get`), but asking for
//!   it through `specs` or `token_map` is an error: which row is meant cannot be known.
//! - Loading allocates freely (start-up); `TokenMap::get` is the per-packet lookup and does
//!   not allocate or hash.

use std::collections::HashMap;
use std::path::Path;

use super::dump::parse_rows;
use crate::domain::{
    Decimal, InstrumentId, InstrumentKind, InstrumentSpec, InstrumentTable, InstrumentTerms,
};

/// Problems of a file reported in full; the rest are counted.
pub const MAX_PROBLEMS: usize = 20;

/// One row of the dump, as the engine uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KiteInstrument {
    /// The engine symbol, `EXCHANGE:TRADINGSYMBOL`.
    pub symbol: String,
    /// What the ticker socket subscribes to and tags packets with.
    pub token: u32,
    pub exchange_token: u32,
    pub exchange: String,
    pub tradingsymbol: String,
    pub name: String,
    /// `EQ`, `FUT`, `CE`, `PE`, ...
    pub instrument_type: String,
    /// The dump's segment text (`NSE`, `NFO-OPT`, `INDICES`, ...).
    pub segment: String,
    /// Decimals of the instrument's prices, from the token's segment.
    pub price_precision: u8,
    /// Smallest price step, raw at `price_precision` (0 where the dump gives none).
    pub tick_size: i64,
    /// Smallest order quantity step, units (0 where the dump gives none).
    pub lot_size: i64,
    /// Line of the row in its file (where the record starts), for messages.
    pub line: u64,
}

impl KiteInstrument {
    /// The engine's description: quantities in whole units, multiplier 1 (Kite quantities
    /// are units, not lots), tick and lot size from the dump (one raw unit where it gives 0).
    /// Currencies are left at id 0: `InstrumentTable::apply_terms` with `terms()` names them.
    pub fn spec(&self) -> InstrumentSpec {
        InstrumentSpec {
            tick_size: self.tick_size.max(1),
            lot_size: self.lot_size.max(1),
            ..InstrumentSpec::new(&self.symbol, self.price_precision, 0)
        }
    }

    /// The same terms in the form `InstrumentTable::apply_terms` takes (quoted in INR).
    pub fn terms(&self) -> InstrumentTerms {
        let decimal = |raw: i64, decimals: u8| {
            (raw > 0).then_some(Decimal {
                mantissa: raw,
                decimals,
            })
        };
        InstrumentTerms {
            kind: InstrumentKind::Spot,
            multiplier: None,
            quote_currency: Some("INR".to_owned()),
            settlement_currency: None,
            tick_size: decimal(self.tick_size, self.price_precision),
            lot_size: decimal(self.lot_size, 0),
        }
    }
}

/// Why the dump cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InstrumentsError {
    #[error("{file}: cannot read the Kite instruments file: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Bad rows or header, each `FILE:LINE: field 'NAME': ...`; `more` were not kept.
    #[error("{}{}", problems.join("\n"), more_text(*more))]
    Invalid { problems: Vec<String>, more: usize },
    /// Symbols or instruments asked for that the dump cannot resolve, one message each.
    #[error("{file}: {}", problems.join("; "))]
    Unresolved { file: String, problems: Vec<String> },
}

fn more_text(more: usize) -> String {
    if more == 0 {
        String::new()
    } else {
        format!("\n... and {more} more problems")
    }
}

/// The rows (indices) holding one symbol or token: one, or more in a dump that repeats it.
#[derive(Clone, Debug)]
enum Slot {
    One(usize),
    Many(Vec<usize>),
}

impl Slot {
    fn first(&self) -> usize {
        match self {
            Slot::One(i) => *i,
            Slot::Many(all) => all[0],
        }
    }
}

fn add<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Slot>, key: K, index: usize) {
    map.entry(key)
        .and_modify(|slot| match slot {
            Slot::One(first) => *slot = Slot::Many(vec![*first, index]),
            Slot::Many(all) => all.push(index),
        })
        .or_insert(Slot::One(index));
}

/// The whole dump, in file order, looked up by symbol or token.
#[derive(Clone, Debug, Default)]
pub struct KiteInstruments {
    file: String,
    rows: Vec<KiteInstrument>,
    by_symbol: HashMap<String, Slot>,
    by_token: HashMap<u32, Slot>,
}

/// Token → engine instrument for the instruments of a run: sorted, searched by bisection,
/// so a lookup per packet neither hashes nor allocates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenMap {
    entries: Vec<(u32, InstrumentId)>,
}

impl TokenMap {
    /// The engine instrument of a packet's token; `None` for a token not subscribed.
    #[inline]
    pub fn get(&self, token: u32) -> Option<InstrumentId> {
        self.entries
            .binary_search_by_key(&token, |&(t, _)| t)
            .ok()
            .map(|i| self.entries[i].1)
    }

    /// The tokens to subscribe, ascending.
    pub fn tokens(&self) -> impl Iterator<Item = u32> + '_ {
        self.entries.iter().map(|&(t, _)| t)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl KiteInstruments {
    /// Reads and parses a dump file.
    ///
    /// # Errors
    /// An unreadable file, or every problem of `parse`.
    pub fn load(path: &Path) -> Result<KiteInstruments, InstrumentsError> {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => KiteInstruments::parse(&file, &text),
            Err(source) => Err(InstrumentsError::Io { file, source }),
        }
    }

    /// Parses dump text; `file` names it in messages.
    ///
    /// # Errors
    /// A missing header column, a row with a different field count, an unterminated quote,
    /// or a bad token, symbol, exchange, tick size or lot size: all of them.
    pub fn parse(file: &str, text: &str) -> Result<KiteInstruments, InstrumentsError> {
        let mut table = KiteInstruments {
            file: file.to_owned(),
            ..KiteInstruments::default()
        };
        for row in parse_rows(file, text)? {
            let index = table.rows.len();
            add(&mut table.by_symbol, row.symbol.clone(), index);
            add(&mut table.by_token, row.token, index);
            table.rows.push(row);
        }
        Ok(table)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every row, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &KiteInstrument> {
        self.rows.iter()
    }

    /// The row of `EXCHANGE:TRADINGSYMBOL` (the first, if the dump repeats it).
    pub fn get(&self, symbol: &str) -> Option<&KiteInstrument> {
        self.first(self.by_symbol.get(symbol))
    }

    /// The row of a token (the first, if the dump repeats it).
    pub fn by_token(&self, token: u32) -> Option<&KiteInstrument> {
        self.first(self.by_token.get(&token))
    }

    fn first(&self, slot: Option<&Slot>) -> Option<&KiteInstrument> {
        self.rows.get(slot?.first())
    }

    /// "2, 3": the lines of the rows of a repeated key.
    fn lines(&self, rows: &[usize]) -> String {
        let lines: Vec<String> = rows
            .iter()
            .map(|&i| self.rows[i].line.to_string())
            .collect();
        lines.join(", ")
    }

    /// The one row of `symbol` and of its token, or why not.
    fn resolve(&self, symbol: &str) -> Result<&KiteInstrument, String> {
        let row = match self.by_symbol.get(symbol) {
            None => {
                return Err(format!(
                    "no instrument '{symbol}' (symbols are EXCHANGE:TRADINGSYMBOL as in the file, e.g. NSE:INFY)"
                ));
            }
            Some(Slot::Many(rows)) => {
                return Err(format!(
                    "'{symbol}' is ambiguous: it is on lines {}",
                    self.lines(rows)
                ));
            }
            Some(Slot::One(i)) => &self.rows[*i],
        };
        if let Some(Slot::Many(rows)) = self.by_token.get(&row.token) {
            return Err(format!(
                "the token {} of '{symbol}' is ambiguous: it is on lines {}",
                row.token,
                self.lines(rows)
            ));
        }
        Ok(row)
    }

    /// The engine's `InstrumentSpec` of each symbol, in the order given.
    ///
    /// # Errors
    /// Every symbol the dump lacks or holds twice (or whose token it holds twice).
    pub fn specs(&self, symbols: &[&str]) -> Result<Vec<InstrumentSpec>, InstrumentsError> {
        let mut specs = Vec::with_capacity(symbols.len());
        let mut problems = Vec::new();
        for symbol in symbols {
            match self.resolve(symbol) {
                Ok(row) => specs.push(row.spec()),
                Err(problem) => problems.push(problem),
            }
        }
        if problems.is_empty() {
            Ok(specs)
        } else {
            Err(self.unresolved(problems))
        }
    }

    /// Token → `InstrumentId` for every instrument of `table`.
    ///
    /// # Errors
    /// Every instrument of `table` the dump lacks or holds twice, and every one whose price
    /// precision differs from its segment's (the wire's integers would then be misread).
    pub fn token_map(&self, table: &InstrumentTable) -> Result<TokenMap, InstrumentsError> {
        let mut entries = Vec::with_capacity(table.len());
        let mut problems = Vec::new();
        for (id, spec) in table.iter() {
            match self.resolve(&spec.symbol) {
                Ok(row) if row.price_precision != spec.price_precision => {
                    problems.push(format!(
                        "'{}' has price precision {} in the engine but {} on Kite (segment {})",
                        spec.symbol, spec.price_precision, row.price_precision, row.segment
                    ));
                }
                Ok(row) => entries.push((row.token, id)),
                Err(problem) => problems.push(problem),
            }
        }
        if !problems.is_empty() {
            return Err(self.unresolved(problems));
        }
        entries.sort_unstable_by_key(|&(token, _)| token);
        Ok(TokenMap { entries })
    }

    fn unresolved(&self, problems: Vec<String>) -> InstrumentsError {
        InstrumentsError::Unresolved {
            file: self.file.clone(),
            problems,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange\n";

    fn parse(rows: &str) -> Result<KiteInstruments, InstrumentsError> {
        KiteInstruments::parse("i.csv", &format!("{HEADER}{rows}"))
    }

    #[test]
    fn precision_and_steps_follow_the_token_segment() {
        struct Case {
            name: &'static str,
            row: &'static str,
            symbol: &'static str,
            expected: (u8, i64, i64),
        }
        let cases = [
            Case {
                name: "NSE equity",
                row: "408065,1594,INFY,INFOSYS,0,,0,0.05,1,EQ,NSE,NSE",
                symbol: "NSE:INFY",
                expected: (2, 5, 1),
            },
            Case {
                name: "CDS future at 7 decimals",
                row: "1234435,4822,USDINR25JANFUT,USDINR,0,2025-01-29,0,0.0025,1,FUT,CDS-FUT,CDS",
                symbol: "CDS:USDINR25JANFUT",
                expected: (7, 25_000, 1),
            },
            Case {
                name: "BCD at 4 decimals, trailing zeros",
                row: "1234438,4822,USDINR25JAN,USDINR,0,,0,0.002500,1000,FUT,BCD-FUT,BCD",
                symbol: "BCD:USDINR25JAN",
                expected: (4, 25, 1000),
            },
            Case {
                name: "NCO at 4 decimals",
                row: "1234444,4822,GOLD,GOLD,0,,0,1.0,1,FUT,NCO,NCO",
                symbol: "NCO:GOLD",
                expected: (4, 10_000, 1),
            },
            Case {
                name: "index with zero steps",
                row: "256265,1001,NIFTY 50,NIFTY 50,0,,0,0.0,0,EQ,INDICES,NSE",
                symbol: "NSE:NIFTY 50",
                expected: (2, 0, 0),
            },
            Case {
                name: "quoted name with a comma",
                row: "408065,1594,INFY,\"INFOSYS, LTD \"\"A\"\"\",0,,0,0.05,1,EQ,NSE,NSE",
                symbol: "NSE:INFY",
                expected: (2, 5, 1),
            },
        ];
        for case in &cases {
            let table = parse(case.row).unwrap_or_else(|e| panic!("{}: {e}", case.name));
            let row = table.get(case.symbol).expect(case.name);
            assert_eq!(
                (row.price_precision, row.tick_size, row.lot_size),
                case.expected,
                "{}",
                case.name
            );
            assert_eq!(table.by_token(row.token), Some(row), "{}", case.name);
        }
        let quoted = parse(cases[5].row).expect("quoted");
        assert_eq!(
            quoted.get("NSE:INFY").map(|r| r.name.as_str()),
            Some("INFOSYS, LTD \"A\"")
        );
    }

    #[test]
    fn official_dump_fixtures_load() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kite/fixtures");
        for name in ["instruments_all.csv", "instruments_nse.csv"] {
            let path = dir.join(name);
            if !path.exists() {
                eprintln!(
                    "SKIPPED: {} not found (the shared Kite fixtures are not beside this checkout)",
                    path.display()
                );
                return;
            }
            let table = KiteInstruments::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(table.len(), 99, "{name}: 99 rows after the header");
            let row = table.get("NSE:CENTRALBK-BE").expect("first row");
            assert_eq!(
                (
                    row.token,
                    row.exchange_token,
                    row.name.as_str(),
                    row.tick_size,
                    row.lot_size
                ),
                (3_813_889, 14_898, "CENTRAL BANK OF INDIA", 5, 1),
                "{name}"
            );
            assert_eq!(table.by_token(3_813_889), Some(row), "{name}");
        }
        let table = KiteInstruments::load(&dir.join("instruments_all.csv")).expect("all");
        let specs = table
            .specs(&[
                "NFO:BANKNIFTY18JAN23500CE",
                "BSE:828GOI27-ML",
                "BSE:COX&KINGS",
            ])
            .expect("specs");
        let terms: Vec<_> = specs
            .iter()
            .map(|s| {
                (
                    s.symbol.as_str(),
                    s.price_precision,
                    s.tick_size,
                    s.lot_size,
                )
            })
            .collect();
        assert_eq!(
            terms,
            [
                ("NFO:BANKNIFTY18JAN23500CE", 2, 5, 40),
                ("BSE:828GOI27-ML", 2, 25, 500_000),
                ("BSE:COX&KINGS", 2, 5, 1)
            ]
        );
        let missing = table
            .specs(&["NSE:INFY"])
            .expect_err("not in the mock dump")
            .to_string();
        assert!(missing.contains("no instrument 'NSE:INFY'"), "{missing}");
    }

    #[test]
    fn duplicates_load_but_do_not_resolve() {
        let table = parse(
            "408065,1594,INFY,I,0,,0,0.05,1,EQ,NSE,NSE\n\
             408065,1594,INFY,I,0,,0,0.05,1,EQ,NSE,NSE\n\
             2885633,11272,TCS,T,0,,0,0.05,1,EQ,NSE,NSE\n",
        )
        .expect("loads");
        assert_eq!(table.len(), 3);
        assert_eq!(table.get("NSE:INFY").map(|r| r.line), Some(2));
        let message = table
            .specs(&["NSE:INFY", "NSE:TCS", "NSE:NOPE"])
            .expect_err("ambiguous")
            .to_string();
        assert!(
            message.contains("'NSE:INFY' is ambiguous: it is on lines 2, 3"),
            "{message}"
        );
        assert!(message.contains("no instrument 'NSE:NOPE'"), "{message}");
        assert!(!message.contains("TCS"), "{message}");
    }

    #[test]
    fn token_map_checks_precision_and_finds_tokens() {
        let table = parse(
            "408065,1594,INFY,I,0,,0,0.05,1,EQ,NSE,NSE\n\
             1234435,4822,USDINR,U,0,,0,0.0025,1,FUT,CDS-FUT,CDS\n",
        )
        .expect("loads");
        let mut engine = InstrumentTable::new();
        for (symbol, pp) in [("CDS:USDINR", 7), ("NSE:INFY", 2)] {
            let id = engine.intern(symbol);
            engine.widen(id, pp, 0).expect("widen");
        }
        let map = table.token_map(&engine).expect("map");
        assert_eq!(map.get(408065), Some(InstrumentId(1)));
        assert_eq!(map.get(1234435), Some(InstrumentId(0)));
        assert_eq!(map.get(1), None);
        assert_eq!(map.tokens().collect::<Vec<_>>(), [408065, 1234435]);

        let mut coarse = InstrumentTable::new();
        coarse.intern("CDS:USDINR");
        let message = table.token_map(&coarse).expect_err("precision").to_string();
        assert!(
            message.contains("price precision 0 in the engine but 7 on Kite"),
            "{message}"
        );
    }

    #[test]
    fn spec_and_terms_carry_the_steps() {
        let table = parse("1234435,4822,USDINR,U,0,,0,0.0025,1000,FUT,CDS-FUT,CDS\n").expect("ok");
        let specs = table.specs(&["CDS:USDINR"]).expect("spec");
        let spec = &specs[0];
        assert_eq!(
            (
                spec.symbol.as_str(),
                spec.price_precision,
                spec.qty_precision,
                spec.tick_size,
                spec.lot_size
            ),
            ("CDS:USDINR", 7, 0, 25_000, 1000)
        );
        let terms = table.get("CDS:USDINR").expect("row").terms();
        assert_eq!(
            (terms.tick_size, terms.lot_size),
            (
                Some(Decimal {
                    mantissa: 25_000,
                    decimals: 7
                }),
                Some(Decimal {
                    mantissa: 1000,
                    decimals: 0
                })
            )
        );
    }
}
