//! Instruments: dense `InstrumentId`s assigned at load, with their precisions and contract
//! terms (kind, multiplier, currencies, tick and lot size). Symbols and currency names
//! (strings) exist only here and at the edges (files, config, reports).
//!
//! Defaults (every term is optional): spot, multiplier 1, tick and lot size one raw unit of
//! the precisions, currencies unnamed. An unnamed quote currency is reported as
//! `"SYMBOL quote"` and an inverse contract's unnamed settlement currency as `"SYMBOL base"`,
//! so amounts of instruments whose currencies nobody named are never added together.

use super::decimal::Decimal;
use super::fixed::MAX_PRECISION;
use super::valuation::{InstrumentKind, Valuation};

/// Dense index of an instrument, assigned in order of first appearance.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct InstrumentId(pub u32);

impl InstrumentId {
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Dense index of a currency in its `InstrumentTable`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CurrencyId(pub u16);

impl CurrencyId {
    #[inline]
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Static description of one instrument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentSpec {
    pub symbol: String,
    /// Decimals of every price of this instrument.
    pub price_precision: u8,
    /// Decimals of every quantity (sizes, order quantities) of this instrument.
    pub qty_precision: u8,
    pub kind: InstrumentKind,
    /// Contract size (linear) or face value in the quote currency (inverse); 1 for spot.
    pub multiplier: Decimal,
    /// Currency prices are quoted in.
    pub quote: CurrencyId,
    /// Currency PnL, fees and margin are booked in.
    pub settlement: CurrencyId,
    /// Smallest price step, raw price units (>= 1).
    pub tick_size: i64,
    /// Smallest quantity step, raw quantity units (>= 1).
    pub lot_size: i64,
}

impl InstrumentSpec {
    /// A spot instrument with multiplier 1, tick and lot of one raw unit, currency 0.
    pub fn new(symbol: &str, price_precision: u8, qty_precision: u8) -> InstrumentSpec {
        InstrumentSpec {
            symbol: symbol.to_owned(),
            price_precision,
            qty_precision,
            kind: InstrumentKind::Spot,
            multiplier: Decimal {
                mantissa: 1,
                decimals: 0,
            },
            quote: CurrencyId(0),
            settlement: CurrencyId(0),
            tick_size: 1,
            lot_size: 1,
        }
    }

    /// Decimals a `Money` value of this instrument needs to be exact (price × quantity ×
    /// multiplier).
    pub fn money_precision(&self) -> u8 {
        self.price_precision + self.qty_precision + self.multiplier.decimals
    }

    /// How this instrument's `(qty, price)` becomes money; `None` for precisions that
    /// `validate` refuses (see `Valuation::new`).
    pub fn valuation(&self) -> Option<Valuation> {
        Valuation::new(
            self.kind,
            self.multiplier,
            self.price_precision,
            self.qty_precision,
        )
    }
}

/// Contract terms from config (`[instruments.SYMBOL]` or an instruments file); `None` keeps
/// the default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstrumentTerms {
    pub kind: InstrumentKind,
    pub multiplier: Option<Decimal>,
    pub quote_currency: Option<String>,
    pub settlement_currency: Option<String>,
    pub tick_size: Option<Decimal>,
    pub lot_size: Option<Decimal>,
}

/// Why an instrument cannot be added.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InstrumentError {
    #[error("symbol '{symbol}': {what} precision {found} exceeds the maximum of {max}")]
    Precision {
        symbol: String,
        what: &'static str,
        found: u8,
        max: u8,
    },
    #[error(
        "symbol '{symbol}': {what} {value} is not a whole number of units at {precision} decimals"
    )]
    Step {
        symbol: String,
        what: &'static str,
        value: Decimal,
        precision: u8,
    },
    #[error(
        "symbol '{symbol}': price, quantity and multiplier decimals ({found}) leave no room in money's 18 decimals (at most 17)"
    )]
    MoneyPrecision { symbol: String, found: u8 },
}

/// All instruments of a run, indexed by `InstrumentId`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstrumentTable {
    specs: Vec<InstrumentSpec>,
    /// Names of `CurrencyId`s, in order of first use by instrument id.
    currencies: Vec<String>,
    /// Per instrument: (the data has quotes, the data has trades), as the scan found them;
    /// instruments not scanned count as having both.
    data_kinds: Vec<(bool, bool)>,
}

impl InstrumentTable {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.specs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Linear lookup by symbol: for the edges only (config, file headers), never per tick.
    pub fn find(&self, symbol: &str) -> Option<InstrumentId> {
        self.specs
            .iter()
            .position(|s| s.symbol == symbol)
            .map(|i| InstrumentId(i as u32))
    }

    /// Returns the id of `symbol`, adding it with zero precisions when new.
    pub fn intern(&mut self, symbol: &str) -> InstrumentId {
        if let Some(id) = self.find(symbol) {
            return id;
        }
        self.specs.push(InstrumentSpec::new(symbol, 0, 0));
        self.data_kinds.push((true, true));
        InstrumentId((self.specs.len() - 1) as u32)
    }

    /// Raises the precisions of `id` to at least the given ones.
    ///
    /// # Errors
    /// A precision above `MAX_PRECISION`.
    pub fn widen(
        &mut self,
        id: InstrumentId,
        price_precision: u8,
        qty_precision: u8,
    ) -> Result<(), InstrumentError> {
        let spec = &mut self.specs[id.index()];
        for (what, found) in [("price", price_precision), ("quantity", qty_precision)] {
            if found > MAX_PRECISION {
                return Err(InstrumentError::Precision {
                    symbol: spec.symbol.clone(),
                    what,
                    found,
                    max: MAX_PRECISION,
                });
            }
        }
        spec.price_precision = spec.price_precision.max(price_precision);
        spec.qty_precision = spec.qty_precision.max(qty_precision);
        Ok(())
    }

    /// Sets every instrument's contract terms (`terms` of its symbol, or the defaults) at the
    /// final precisions, and names the currencies. Call once precisions are final.
    ///
    /// # Errors
    /// Every tick or lot size finer than its precision, every multiplier that leaves money
    /// no spare decimal.
    pub fn apply_terms<'t>(
        &mut self,
        terms: impl Fn(&str) -> Option<&'t InstrumentTerms>,
    ) -> Result<(), Vec<InstrumentError>> {
        let mut errors = Vec::new();
        let default = InstrumentTerms::default();
        self.currencies.clear();
        for i in 0..self.specs.len() {
            let t = terms(&self.specs[i].symbol).unwrap_or(&default);
            let spec = &mut self.specs[i];
            spec.kind = t.kind;
            spec.multiplier = t.multiplier.unwrap_or(Decimal {
                mantissa: 1,
                decimals: 0,
            });
            for (what, step, precision, into) in [
                (
                    "tick_size",
                    t.tick_size,
                    spec.price_precision,
                    &mut spec.tick_size,
                ),
                (
                    "lot_size",
                    t.lot_size,
                    spec.qty_precision,
                    &mut spec.lot_size,
                ),
            ] {
                *into = match step.map(|s| (s, s.to_raw(precision))) {
                    None => 1,
                    Some((_, Some(raw))) if raw >= 1 => raw,
                    Some((value, _)) => {
                        errors.push(InstrumentError::Step {
                            symbol: spec.symbol.clone(),
                            what,
                            value,
                            precision,
                        });
                        1
                    }
                };
            }
            if spec.valuation().is_none() {
                errors.push(InstrumentError::MoneyPrecision {
                    symbol: spec.symbol.clone(),
                    found: spec.money_precision(),
                });
            }
        }
        // Settlement currencies first, so ids `0..n` are the currencies money is booked in
        // (`settlement_count`); currencies only ever quoted come after.
        let names: Vec<(String, String)> = self
            .specs
            .iter()
            .map(|spec| {
                let t = terms(&spec.symbol).unwrap_or(&default);
                let quote = match &t.quote_currency {
                    Some(name) => name.clone(),
                    None => format!("{} quote", spec.symbol),
                };
                let settlement = match (&t.settlement_currency, t.kind) {
                    (Some(name), _) => name.clone(),
                    (None, InstrumentKind::Inverse) => format!("{} base", spec.symbol),
                    (None, _) => quote.clone(),
                };
                (quote, settlement)
            })
            .collect();
        for (i, (_, settlement)) in names.iter().enumerate() {
            self.specs[i].settlement = self.currency_id(settlement);
        }
        for (i, (quote, _)) in names.iter().enumerate() {
            self.specs[i].quote = self.currency_id(quote);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn currency_id(&mut self, name: &str) -> CurrencyId {
        let at = match self.currencies.iter().position(|c| c == name) {
            Some(at) => at,
            None => {
                self.currencies.push(name.to_owned());
                self.currencies.len() - 1
            }
        };
        CurrencyId(u16::try_from(at).unwrap_or(u16::MAX))
    }

    /// Records what kinds of rows the data has for `id`.
    pub fn set_data_kinds(&mut self, id: InstrumentId, quotes: bool, trades: bool) {
        if let Some(kinds) = self.data_kinds.get_mut(id.index()) {
            *kinds = (quotes, trades);
        }
    }

    /// (the data has quotes, the data has trades) for `id`.
    pub fn data_kinds(&self, id: InstrumentId) -> (bool, bool) {
        self.data_kinds
            .get(id.index())
            .copied()
            .unwrap_or((true, true))
    }

    /// Currencies some instrument settles in: ids `0..settlement_count()`.
    pub fn settlement_count(&self) -> usize {
        self.specs
            .iter()
            .map(|s| s.settlement.index() + 1)
            .max()
            .unwrap_or(0)
    }

    /// Currency names, indexed by `CurrencyId` (empty before `apply_terms`).
    pub fn currencies(&self) -> &[String] {
        &self.currencies
    }

    #[inline]
    pub fn spec(&self, id: InstrumentId) -> &InstrumentSpec {
        &self.specs[id.index()]
    }

    pub fn iter(&self) -> impl Iterator<Item = (InstrumentId, &InstrumentSpec)> {
        self.specs
            .iter()
            .enumerate()
            .map(|(i, s)| (InstrumentId(i as u32), s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intern_assigns_dense_ids_in_first_seen_order() {
        let mut table = InstrumentTable::new();
        assert_eq!(table.intern("B"), InstrumentId(0));
        assert_eq!(table.intern("A"), InstrumentId(1));
        assert_eq!(table.intern("B"), InstrumentId(0));
        assert_eq!(table.len(), 2);
        assert_eq!(table.find("A"), Some(InstrumentId(1)));
        assert_eq!(table.find("C"), None);
    }

    #[test]
    fn widen_keeps_the_largest_precision_and_refuses_too_many() {
        let mut table = InstrumentTable::new();
        let id = table.intern("X");
        table.widen(id, 5, 0).unwrap();
        table.widen(id, 3, 2).unwrap();
        assert_eq!(
            (table.spec(id).price_precision, table.spec(id).qty_precision),
            (5, 2)
        );
        assert!(table.widen(id, 10, 0).is_err());
    }

    #[test]
    fn terms_set_kind_steps_and_currencies() {
        let dec = |mantissa, decimals| Decimal { mantissa, decimals };
        let mut table = InstrumentTable::new();
        for (symbol, pp, qp) in [
            ("BTCUSD-COINM", 1, 0),
            ("BTCUSDT", 2, 3),
            ("IBM", 2, 0),
            ("SPY", 2, 0),
        ] {
            let id = table.intern(symbol);
            table.widen(id, pp, qp).unwrap();
        }
        let coinm = InstrumentTerms {
            kind: InstrumentKind::Inverse,
            multiplier: Some(dec(100, 0)),
            quote_currency: Some("USD".into()),
            settlement_currency: Some("BTC".into()),
            tick_size: Some(dec(1, 1)),
            lot_size: None,
        };
        let usdt = InstrumentTerms {
            quote_currency: Some("USDT".into()),
            tick_size: Some(dec(1, 2)),
            lot_size: Some(dec(1, 3)),
            ..InstrumentTerms::default()
        };
        let ibm = InstrumentTerms {
            kind: InstrumentKind::Linear,
            multiplier: Some(dec(50, 0)),
            tick_size: Some(dec(5, 2)),
            ..InstrumentTerms::default()
        };
        table
            .apply_terms(|s| match s {
                "BTCUSD-COINM" => Some(&coinm),
                "BTCUSDT" => Some(&usdt),
                "IBM" => Some(&ibm),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            table.currencies(),
            ["BTC", "USDT", "IBM quote", "SPY quote", "USD"]
        );
        assert_eq!(table.settlement_count(), 4);
        let s = table.spec(InstrumentId(0));
        assert_eq!(
            (s.kind, s.quote, s.settlement, s.tick_size),
            (InstrumentKind::Inverse, CurrencyId(4), CurrencyId(0), 1)
        );
        let s = table.spec(InstrumentId(2));
        assert_eq!(
            (s.multiplier, s.tick_size, s.lot_size, s.settlement),
            (dec(50, 0), 5, 1, CurrencyId(2))
        );

        let fine = InstrumentTerms {
            tick_size: Some(dec(1, 3)),
            ..InstrumentTerms::default()
        };
        let errors = table
            .apply_terms(|s| (s == "SPY").then_some(&fine))
            .unwrap_err();
        assert!(
            errors[0].to_string().contains("tick_size 0.001"),
            "{}",
            errors[0]
        );
    }
}
