//! Symbols as the feed meets them, before and during the main pass: `SymbolIndex` maps
//! symbol bytes to a dense index; `ScanAccumulator` gathers, in order of first appearance,
//! the precisions the pre-scan finds for each symbol.

use std::collections::HashMap;
use std::sync::Arc;

/// Symbol bytes → dense index, with a one-entry cache because consecutive rows often share
/// a symbol, and a linear search while there are few symbols (faster than hashing).
#[derive(Debug, Default)]
pub(crate) struct SymbolIndex {
    names: Vec<Box<[u8]>>,
    map: HashMap<Box<[u8]>, usize>,
    last: usize,
}

impl SymbolIndex {
    const LINEAR_MAX: usize = 8;

    #[inline]
    pub(super) fn find(&mut self, symbol: &[u8]) -> Option<usize> {
        if let Some(name) = self.names.get(self.last)
            && **name == *symbol
        {
            return Some(self.last);
        }
        let found = if self.names.len() <= Self::LINEAR_MAX {
            self.names.iter().position(|name| **name == *symbol)
        } else {
            self.map.get(symbol).copied()
        };
        if let Some(index) = found {
            self.last = index;
        }
        found
    }

    /// Adds a symbol not present yet; returns its index.
    pub(super) fn insert(&mut self, symbol: &[u8]) -> usize {
        let index = self.names.len();
        self.names.push(symbol.into());
        self.map.insert(symbol.into(), index);
        self.last = index;
        index
    }
}

/// Precisions found for one symbol so far.
#[derive(Debug)]
pub(super) struct ScanEntry {
    pub(super) symbol: String,
    pub(super) price_precision: u8,
    pub(super) qty_precision: u8,
    /// Largest precisions found in binary headers, with the file: a binary value cannot be
    /// checked row by row against an override the way CSV text is.
    pub(super) binary: Option<(u8, u8, Arc<str>)>,
    /// Rows with a bid or ask, and rows with a last price (binary files: both assumed).
    pub(super) quotes: bool,
    pub(super) trades: bool,
}

/// Symbols in order of first appearance, across all sources.
#[derive(Debug, Default)]
pub(super) struct ScanAccumulator {
    index: SymbolIndex,
    pub(super) entries: Vec<ScanEntry>,
}

impl ScanAccumulator {
    /// The entry of `symbol`, added when new; None for a symbol that is not UTF-8 (the parser
    /// reports such rows).
    #[inline]
    pub(super) fn entry(&mut self, symbol: &[u8]) -> Option<&mut ScanEntry> {
        let index = match self.index.find(symbol) {
            Some(index) => index,
            None => {
                let text = std::str::from_utf8(symbol).ok()?;
                self.entries.push(ScanEntry {
                    symbol: text.to_owned(),
                    price_precision: 0,
                    qty_precision: 0,
                    binary: None,
                    quotes: false,
                    trades: false,
                });
                self.index.insert(symbol)
            }
        };
        self.entries.get_mut(index)
    }
}
