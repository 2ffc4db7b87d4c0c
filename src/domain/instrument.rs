//! Instruments: dense `InstrumentId`s assigned at load, with their precisions. Symbols
//! (strings) exist only here and at the edges (files, config, reports).

use super::fixed::MAX_PRECISION;

/// Dense index of an instrument, assigned in order of first appearance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstrumentId(pub u32);

impl InstrumentId {
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
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
}

impl InstrumentSpec {
    /// Decimals a `Money` value of this instrument needs to be exact (price × quantity).
    pub fn money_precision(&self) -> u8 {
        self.price_precision + self.qty_precision
    }
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
}

/// All instruments of a run, indexed by `InstrumentId`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstrumentTable {
    specs: Vec<InstrumentSpec>,
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
        self.specs.push(InstrumentSpec {
            symbol: symbol.to_owned(),
            price_precision: 0,
            qty_precision: 0,
        });
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
}
