//! Strategy timers on the event clock, with room for `TIMERS_PER_BOOK` per book allocated at
//! start-up. A timer fires at the first event time at or after its deadline; timers due
//! together fire by deadline, then in the order they were set. A timer set while timers fire
//! is staged outside the heap until the next tick, so a strategy that re-arms a due timer
//! cannot spin inside one tick, and an early deadline set mid-round never holds back timers
//! already due.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::domain::Nanos;

/// Pending timers per book the heap keeps room for.
pub const TIMERS_PER_BOOK: usize = 64;

/// One pending timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timer {
    pub at: Nanos,
    /// Order of setting: ties fire in it, and timers set while timers fire wait.
    seq: u64,
    pub book: u32,
    pub token: u64,
}

#[derive(Debug)]
pub struct Timers {
    heap: BinaryHeap<Reverse<Timer>>,
    /// Timers set while a round fires: kept out of the heap so an early deadline set
    /// mid-round cannot hide timers already due behind it.
    staged: Vec<Timer>,
    firing: bool,
    capacity: usize,
    seq: u64,
}

impl Timers {
    pub fn new(books: usize) -> Timers {
        let capacity = books.max(1) * TIMERS_PER_BOOK;
        Timers {
            heap: BinaryHeap::with_capacity(capacity),
            staged: Vec::with_capacity(capacity),
            firing: false,
            capacity,
            seq: 0,
        }
    }

    /// Whether a timer is due at `now`.
    #[inline]
    pub fn due(&self, now: Nanos) -> bool {
        self.heap.peek().is_some_and(|Reverse(t)| t.at <= now)
    }

    /// Sets a timer; false (nothing set) when the table is full.
    pub fn set(&mut self, book: u32, at: Nanos, token: u64) -> bool {
        if self.heap.len() + self.staged.len() >= self.capacity {
            return false;
        }
        let timer = Timer {
            at,
            seq: self.seq,
            book,
            token,
        };
        self.seq += 1;
        if self.firing {
            self.staged.push(timer);
        } else {
            self.heap.push(Reverse(timer));
        }
        true
    }

    /// Pending timers as `(at, seq, book, token)` in firing order, and the next seq (a
    /// checkpoint, between rounds).
    pub(crate) fn state(&self) -> (Vec<(u64, u64, u32, u64)>, u64) {
        let mut timers: Vec<(u64, u64, u32, u64)> = self
            .heap
            .iter()
            .map(|Reverse(t)| t)
            .chain(self.staged.iter())
            .map(|t| (t.at.0, t.seq, t.book, t.token))
            .collect();
        timers.sort_unstable();
        (timers, self.seq)
    }

    /// Puts a checkpoint's timers back (the heap keeps its allocation).
    pub(crate) fn restore(
        &mut self,
        timers: &[(u64, u64, u32, u64)],
        seq: u64,
    ) -> Result<(), String> {
        if timers.len() > self.capacity || self.firing {
            return Err(format!(
                "timer checkpoint: {} timers for a table of {}",
                timers.len(),
                self.capacity
            ));
        }
        self.heap.clear();
        self.staged.clear();
        for &(at, tseq, book, token) in timers {
            self.heap.push(Reverse(Timer {
                at: Nanos(at),
                seq: tseq,
                book,
                token,
            }));
        }
        self.seq = seq;
        Ok(())
    }

    /// Drops every pending timer of `book` with `token`.
    pub fn cancel(&mut self, book: u32, token: u64) {
        let hit = |t: &Timer| t.book == book && t.token == token;
        self.heap.retain(|Reverse(t)| !hit(t));
        self.staged.retain(|t| !hit(t));
    }

    /// Starts a firing round: timers set from now until `end_round` wait for the next one.
    pub fn begin_round(&mut self) {
        self.firing = true;
    }

    /// The next timer due at `now`.
    pub fn pop_due(&mut self, now: Nanos) -> Option<Timer> {
        let &Reverse(next) = self.heap.peek()?;
        if next.at > now {
            return None;
        }
        self.heap.pop();
        Some(next)
    }

    /// Ends the round: the timers set during it join the heap (capacity reserved, no allocation).
    pub fn end_round(&mut self) {
        self.firing = false;
        for timer in self.staged.drain(..) {
            self.heap.push(Reverse(timer));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_timers_come_out_by_deadline_then_setting_order_within_a_round() {
        let mut timers = Timers::new(1);
        assert!(timers.set(0, Nanos(30), 3));
        assert!(timers.set(0, Nanos(20), 1));
        assert!(timers.set(0, Nanos(20), 2));
        assert!(timers.set(1, Nanos(20), 7));
        timers.cancel(1, 7);
        timers.begin_round();
        let mut fired = Vec::new();
        while let Some(t) = timers.pop_due(Nanos(25)) {
            fired.push(t.token);
            if t.token == 1 {
                assert!(
                    timers.set(0, Nanos(10), 9),
                    "set during the round, already due"
                );
            }
        }
        timers.end_round();
        assert_eq!(fired, [1, 2], "9 waits for the next round, 3 is not due");
        timers.begin_round();
        let next: Vec<u64> = std::iter::from_fn(|| timers.pop_due(Nanos(40)))
            .map(|t| t.token)
            .collect();
        timers.end_round();
        assert_eq!(next, [9, 3]);
    }

    #[test]
    fn a_full_heap_refuses() {
        let mut timers = Timers::new(1);
        for token in 0..TIMERS_PER_BOOK as u64 {
            assert!(timers.set(0, Nanos(1), token));
        }
        assert!(!timers.set(0, Nanos(1), 99));
        timers.begin_round();
        assert!(timers.pop_due(Nanos(1)).is_some());
        assert!(timers.set(0, Nanos(1), 100), "a fired slot is free again");
        assert!(!timers.set(0, Nanos(1), 101), "staged timers count");
        timers.cancel(0, 100);
        timers.end_round();
        assert!(
            timers.set(0, Nanos(1), 102),
            "a cancelled staged timer frees its slot"
        );
    }
}
