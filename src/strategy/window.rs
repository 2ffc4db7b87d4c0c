//! Rolling windows shared by the rule strategies and the ML feature extractors. Each is
//! preallocated at construction and never grows, so updates are O(1) (amortised for the
//! extremes) and allocation-free.

use std::collections::VecDeque;

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
