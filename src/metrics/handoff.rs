//! Hand-off of a recording (latency histograms) from the thread that owns it to observers,
//! in O(1) on the owner's side.
//!
//! The owner records into its own value. When an observer wants fresh numbers, the owner,
//! at its next publish point, swaps its value with an empty *spare* the observer prepared
//! (a move of a few pointers; no copy, no allocation, `try_lock` so it never waits). The
//! observer folds the handed-off interval into its accumulated total and clears the value
//! to serve as the next spare. At the end of a run the owner takes everything back, so its
//! final value is complete, as if nothing had been handed off.

use hdrhistogram::Histogram;
use parking_lot::Mutex;

use super::LatencyRecorder;

/// A recording that can be added to another of the same shape and cleared in place.
pub trait Recording {
    /// Adds `other`'s recordings (same bounds: never allocates).
    fn add_from(&mut self, other: &Self);
    /// Empties it, keeping its memory.
    fn clear(&mut self);
}

impl Recording for LatencyRecorder {
    fn add_from(&mut self, other: &Self) {
        self.merge(other);
    }

    fn clear(&mut self) {
        self.reset();
    }
}

impl Recording for Histogram<u64> {
    fn add_from(&mut self, other: &Self) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.add(other);
    }

    fn clear(&mut self) {
        self.reset();
    }
}

#[derive(Debug)]
struct State<T> {
    /// Every interval handed off so far, folded together.
    accumulated: T,
    /// An interval handed off and not yet folded.
    pending: Option<T>,
    /// An empty value for the owner to continue with.
    spare: Option<T>,
}

/// One owner's hand-off slot.
#[derive(Debug)]
pub struct Handoff<T> {
    state: Mutex<State<T>>,
}

impl<T: Recording> Handoff<T> {
    /// `make` builds an empty value (called twice: the total and the first spare).
    pub fn new(make: impl Fn() -> T) -> Handoff<T> {
        Handoff {
            state: Mutex::new(State {
                accumulated: make(),
                pending: None,
                spare: Some(make()),
            }),
        }
    }

    /// Owner side: swaps `own` with the spare if one is ready and the slot is free. O(1),
    /// never waits, never allocates. Returns whether the hand-off happened.
    pub fn offer(&self, own: &mut T) -> bool {
        let Some(mut state) = self.state.try_lock() else {
            return false;
        };
        if state.pending.is_some() {
            return false;
        }
        let Some(spare) = state.spare.take() else {
            return false;
        };
        state.pending = Some(std::mem::replace(own, spare));
        true
    }

    /// Observer side: folds a pending interval in (recycling it as the spare) and reads the
    /// total of everything handed off.
    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        let mut state = self.state.lock();
        Self::fold(&mut state);
        f(&state.accumulated)
    }

    /// Owner side, at the end: adds everything handed off back into `own`, which then
    /// holds the whole run; the slot's total becomes the same whole.
    pub fn take_back(&self, own: &mut T) {
        let mut state = self.state.lock();
        Self::fold(&mut state);
        own.add_from(&state.accumulated);
        state.accumulated.clear();
        state.accumulated.add_from(own);
    }

    fn fold(state: &mut State<T>) {
        if let Some(mut pending) = state.pending.take() {
            state.accumulated.add_from(&pending);
            pending.clear();
            if state.spare.is_none() {
                state.spare = Some(pending);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Stage;

    #[test]
    fn handed_off_intervals_add_up_to_the_whole_run() {
        let slot = Handoff::new(LatencyRecorder::default);
        let mut own = LatencyRecorder::default();
        own.record(Stage::Risk, 100);
        assert!(slot.offer(&mut own), "a spare is ready at start");
        assert_eq!(
            own.summary(Stage::Risk).count,
            0,
            "the owner continues empty"
        );
        own.record(Stage::Risk, 200);
        assert!(!slot.offer(&mut own), "the last interval is not folded yet");
        assert_eq!(slot.read(|t| t.summary(Stage::Risk).count), 1);
        assert!(slot.offer(&mut own), "folding recycled the spare");
        own.record(Stage::Risk, 300);
        assert_eq!(slot.read(|t| t.summary(Stage::Risk).count), 2);
        slot.take_back(&mut own);
        assert_eq!(own.summary(Stage::Risk).count, 3, "nothing is lost");
        assert_eq!(slot.read(|t| t.summary(Stage::Risk).count), 3);
    }

    #[test]
    fn a_busy_slot_is_skipped_not_waited_for() {
        let slot = Handoff::new(LatencyRecorder::default);
        let mut own = LatencyRecorder::default();
        own.record(Stage::Risk, 100);
        let held = slot.state.lock();
        assert!(!slot.offer(&mut own));
        drop(held);
        assert_eq!(own.summary(Stage::Risk).count, 1);
    }
}
