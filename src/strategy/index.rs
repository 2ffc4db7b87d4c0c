//! The instrument → strategies index: for each `InstrumentId`, the (book, slot) pairs that
//! trade it, in one flat array (compressed rows). A tick finds its strategies with two loads
//! and visits only them.

use crate::domain::{BookId, InstrumentId};

/// One book (strategy instance) subscribed to an instrument, and the instrument's position
/// in that strategy's own instrument list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DispatchEntry {
    pub book: BookId,
    pub slot: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StrategyIndex {
    /// `entries[starts[i]..starts[i + 1]]` trade instrument `i`.
    starts: Vec<u32>,
    entries: Vec<DispatchEntry>,
}

impl StrategyIndex {
    /// Builds the index from each book's instrument list (in book order).
    pub fn build(instrument_count: usize, subscriptions: &[Vec<InstrumentId>]) -> StrategyIndex {
        let mut per_instrument: Vec<Vec<DispatchEntry>> = vec![Vec::new(); instrument_count];
        for (book, instruments) in subscriptions.iter().enumerate() {
            for (slot, instrument) in instruments.iter().enumerate() {
                per_instrument[instrument.index()].push(DispatchEntry {
                    book: BookId(book as u32),
                    slot: slot as u32,
                });
            }
        }
        let mut starts = Vec::with_capacity(instrument_count + 1);
        let mut entries = Vec::new();
        starts.push(0);
        for list in per_instrument {
            entries.extend(list);
            starts.push(entries.len() as u32);
        }
        StrategyIndex { starts, entries }
    }

    /// The strategies trading `instrument`; empty for an unknown id.
    #[inline]
    pub fn get(&self, instrument: InstrumentId) -> &[DispatchEntry] {
        let i = instrument.index();
        match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&start), Some(&end)) => &self.entries[start as usize..end as usize],
            _ => &[],
        }
    }

    /// Positions in the entry table of the books trading `instrument` (see `entry`): lets a
    /// caller walk them while it mutates the books.
    #[inline]
    pub fn range(&self, instrument: InstrumentId) -> std::ops::Range<usize> {
        let i = instrument.index();
        match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&start), Some(&end)) => start as usize..end as usize,
            _ => 0..0,
        }
    }

    /// The entry at position `k` of `range`.
    #[inline]
    pub fn entry(&self, k: usize) -> DispatchEntry {
        self.entries[k]
    }

    /// Most strategies on any one instrument: the size of per-tick output buffers.
    pub fn max_fan_out(&self) -> usize {
        self.starts
            .windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_table() {
        let index = StrategyIndex::build(
            3,
            &[
                vec![InstrumentId(2)],
                vec![InstrumentId(0), InstrumentId(2)],
                vec![],
            ],
        );
        let e = |s, slot| DispatchEntry {
            book: BookId(s),
            slot,
        };
        assert_eq!(index.get(InstrumentId(0)), &[e(1, 0)], "one subscriber");
        assert_eq!(
            index.get(InstrumentId(1)),
            &[] as &[DispatchEntry],
            "no subscriber"
        );
        assert_eq!(
            index.get(InstrumentId(2)),
            &[e(0, 0), e(1, 1)],
            "strategy order kept"
        );
        assert_eq!(
            index.get(InstrumentId(9)),
            &[] as &[DispatchEntry],
            "unknown id"
        );
        assert_eq!(index.max_fan_out(), 2);
    }

    mod property_tests {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn index_matches_a_scan(subs in proptest::collection::vec(proptest::collection::btree_set(0u32..8, 0..4), 0..10)) {
                let subscriptions: Vec<Vec<InstrumentId>> = subs.iter().map(|s| s.iter().map(|&i| InstrumentId(i)).collect()).collect();
                let index = StrategyIndex::build(8, &subscriptions);
                for instrument in 0..8u32 {
                    let expected: Vec<DispatchEntry> = subscriptions.iter().enumerate().filter_map(|(s, list)| {
                        list.iter().position(|&i| i == InstrumentId(instrument)).map(|slot| DispatchEntry { book: BookId(s as u32), slot: slot as u32 })
                    }).collect();
                    prop_assert_eq!(index.get(InstrumentId(instrument)), expected.as_slice());
                }
            }
        }
    }
}
