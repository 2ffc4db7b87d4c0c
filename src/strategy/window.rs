//! Rolling windows shared by the rule strategies and the ML feature extractors. Each is
//! preallocated at construction and never grows, so updates are O(1) (amortised for the
//! extremes) and allocation-free. A checkpoint's state is put back into the buffers
//! allocated at construction (never a deserialized buffer, whose capacity is its length).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Refills `into` (keeping its allocation) with `from`, at most `max` entries.
fn refill<T: Copy>(into: &mut VecDeque<T>, from: &[T], max: usize) -> Result<(), String> {
    if from.len() > max {
        return Err(format!(
            "window checkpoint: {} entries for a window of {max}",
            from.len()
        ));
    }
    into.clear();
    into.extend(from.iter().copied());
    Ok(())
}

/// The last `n` inputs, oldest first.
#[derive(Clone, Debug)]
pub(crate) struct Window<T> {
    values: VecDeque<T>,
    n: usize,
}

impl<T: Copy> Window<T> {
    pub(crate) fn new(n: usize) -> Window<T> {
        Window {
            values: VecDeque::with_capacity(n.max(1)),
            n: n.max(1),
        }
    }

    /// Appends `x`; returns the input it pushed out of a full window.
    #[inline]
    pub(crate) fn push(&mut self, x: T) -> Option<T> {
        let evicted = if self.values.len() == self.n {
            self.values.pop_front()
        } else {
            None
        };
        self.values.push_back(x);
        evicted
    }

    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.values.len() == self.n
    }

    pub(crate) fn values(&self) -> Vec<T> {
        self.values.iter().copied().collect()
    }

    pub(crate) fn restore(&mut self, values: &[T]) -> Result<(), String> {
        refill(&mut self.values, values, self.n)
    }
}

/// A [`RollingMoments`]' run state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MomentsState {
    values: Vec<i64>,
    sum: i128,
    sum_sq: i128,
}

/// A [`SlidingExtremes`]' run state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExtremesState {
    pushed: u64,
    highs: Vec<(u64, i64)>,
    lows: Vec<(u64, i64)>,
}

/// Exact sums of the last `n` integer inputs and of their squares.
#[derive(Clone, Debug)]
pub(crate) struct RollingMoments {
    window: Window<i64>,
    sum: i128,
    sum_sq: i128,
}

impl RollingMoments {
    pub(crate) fn new(n: usize) -> RollingMoments {
        RollingMoments {
            window: Window::new(n),
            sum: 0,
            sum_sq: 0,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, x: i64) {
        if let Some(old) = self.window.push(x) {
            self.sum -= i128::from(old);
            self.sum_sq -= i128::from(old) * i128::from(old);
        }
        self.sum += i128::from(x);
        self.sum_sq += i128::from(x) * i128::from(x);
    }

    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.window.is_full()
    }

    pub(crate) fn state(&self) -> MomentsState {
        MomentsState {
            values: self.window.values(),
            sum: self.sum,
            sum_sq: self.sum_sq,
        }
    }

    pub(crate) fn restore(&mut self, state: &MomentsState) -> Result<(), String> {
        self.window.restore(&state.values)?;
        self.sum = state.sum;
        self.sum_sq = state.sum_sq;
        Ok(())
    }

    /// `(x - mean) / std` over the window (population std), as the exact integer ratio
    /// `(n x - S1) / sqrt(n S2 - S1²)` rounded once; `None` when every input is equal.
    #[inline]
    pub(crate) fn zscore(&self, x: i64) -> Option<f64> {
        let n = self.window.values.len() as i128;
        let spread = n * self.sum_sq - self.sum * self.sum;
        (spread > 0).then(|| (n * i128::from(x) - self.sum) as f64 / (spread as f64).sqrt())
    }
}

/// High and low of the last `n` inputs: two monotonic deques of `(input number, value)`.
#[derive(Clone, Debug)]
pub(crate) struct SlidingExtremes {
    n: u64,
    pushed: u64,
    /// Decreasing values: candidates for the high.
    highs: VecDeque<(u64, i64)>,
    /// Increasing values: candidates for the low.
    lows: VecDeque<(u64, i64)>,
}

impl SlidingExtremes {
    pub(crate) fn new(n: u32) -> SlidingExtremes {
        // Never more than n entries after a push; one spare so the push never reallocates.
        let capacity = n as usize + 1;
        SlidingExtremes {
            n: u64::from(n),
            pushed: 0,
            highs: VecDeque::with_capacity(capacity),
            lows: VecDeque::with_capacity(capacity),
        }
    }

    /// Inputs pushed so far.
    #[inline]
    pub(crate) fn pushed(&self) -> u64 {
        self.pushed
    }

    pub(crate) fn state(&self) -> ExtremesState {
        ExtremesState {
            pushed: self.pushed,
            highs: self.highs.iter().copied().collect(),
            lows: self.lows.iter().copied().collect(),
        }
    }

    pub(crate) fn restore(&mut self, state: &ExtremesState) -> Result<(), String> {
        let max = self.n as usize + 1;
        // Both checked before either changes.
        if state.highs.len() > max || state.lows.len() > max {
            return Err(format!("window checkpoint: more than {max} extremes"));
        }
        refill(&mut self.highs, &state.highs, max)?;
        refill(&mut self.lows, &state.lows, max)?;
        self.pushed = state.pushed;
        Ok(())
    }

    #[inline]
    pub(crate) fn push(&mut self, x: i64) {
        let index = self.pushed;
        let expired = |&(i, _): &(u64, i64)| i + self.n <= index;
        while self.highs.front().is_some_and(expired) {
            self.highs.pop_front();
        }
        while self.lows.front().is_some_and(expired) {
            self.lows.pop_front();
        }
        while self.highs.back().is_some_and(|&(_, v)| v <= x) {
            self.highs.pop_back();
        }
        self.highs.push_back((index, x));
        while self.lows.back().is_some_and(|&(_, v)| v >= x) {
            self.lows.pop_back();
        }
        self.lows.push_back((index, x));
        self.pushed += 1;
    }

    /// `(high, low)` of the last `n` pushes, or `None` before the first.
    #[inline]
    pub(crate) fn range(&self) -> Option<(i64, i64)> {
        Some((self.highs.front()?.1, self.lows.front()?.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_match_a_naive_window() {
        let values = [5i64, 3, 8, 8, 1, 9, 2, 2, 7, 4, 6, 0];
        let mut window = SlidingExtremes::new(3);
        for (i, &v) in values.iter().enumerate() {
            window.push(v);
            let recent = &values[i.saturating_sub(2)..=i];
            let want = (*recent.iter().max().unwrap(), *recent.iter().min().unwrap());
            assert_eq!(window.range(), Some(want), "after input {i}");
        }
    }

    #[test]
    fn moments_give_the_exact_zscore() {
        let mut m = RollingMoments::new(3);
        for x in [10, 10, 10] {
            m.push(x);
        }
        assert_eq!(m.zscore(10), None, "no spread");
        m.push(13);
        // Window 10, 10, 13: mean 11, population std sqrt(2).
        assert!(m.is_full());
        let z = m.zscore(13).unwrap();
        assert!((z - 2.0 / 2f64.sqrt()).abs() < 1e-12, "{z}");
    }
}
