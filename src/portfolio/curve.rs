//! Equity sampled on a fixed event-time grid, in fixed memory: every `interval` ns (aligned
//! to multiples of the interval since the epoch) one row of values — each currency's total
//! equity, then each tracked (book, instrument) row's net PnL — as they stood just before the
//! first tick at or after the grid point. Gaps in the data (nights, weekends) repeat the last
//! values, so the grid has no holes and per-interval returns are well defined.
//!
//! When `capacity` rows are held, every other row is dropped and the interval doubles: a long
//! run keeps between `capacity / 2` and `capacity` rows at the coarsest interval it needed.
//! The analytics state the final interval.

use crate::domain::{Money, Nanos};

/// Rows held before the interval doubles (fewer for wide rows, see `capacity_for`). 4,096
/// rather than 16,384: the curve is written on the tick path, and at 16,384 rows its writes
/// and halvings cost the FX week EMA backtest 7% of its ticks/s (paired runs); 4,096 points
/// still resolve a week to 256 s and seven years to ~18 h.
pub const SAMPLE_CAPACITY: usize = 4_096;
/// Memory one curve may hold: many tracked rows get fewer samples, never gigabytes (a sweep
/// holds one curve per variant).
pub const CURVE_BUDGET_BYTES: usize = 8 << 20;
/// The fewest rows a curve keeps, whatever its width.
pub const MIN_CAPACITY: usize = 256;

/// Rows for a curve of `width` values: `SAMPLE_CAPACITY` within `CURVE_BUDGET_BYTES`, at
/// least `MIN_CAPACITY`.
pub fn capacity_for(width: usize) -> usize {
    let row_bytes = width.max(1) * std::mem::size_of::<Money>();
    (CURVE_BUDGET_BYTES / row_bytes).clamp(MIN_CAPACITY, SAMPLE_CAPACITY)
}
/// The finest grid, ns: one second.
pub const BASE_INTERVAL_NS: u64 = 1_000_000_000;

/// An [`EquityCurve`]'s run state, for checkpoints.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CurveState {
    ts: Vec<Nanos>,
    values: Vec<Money>,
    interval_ns: u64,
    next_ts: u64,
}

#[derive(Clone, Debug)]
pub struct EquityCurve {
    /// Grid time of each row.
    ts: Vec<Nanos>,
    /// `width` values per row.
    values: Vec<Money>,
    width: usize,
    capacity: usize,
    interval_ns: u64,
    /// The next grid point to record; 0 before the first tick.
    next_ts: u64,
}

impl EquityCurve {
    pub fn new(capacity: usize, interval_ns: u64, width: usize) -> EquityCurve {
        let capacity = capacity.max(4) & !1;
        EquityCurve {
            ts: Vec::with_capacity(capacity),
            values: Vec::with_capacity(capacity * width),
            width,
            capacity,
            interval_ns: interval_ns.max(1),
            next_ts: 0,
        }
    }

    /// Whether a tick at `ts` passes a grid point (so `record` must be called first).
    #[inline(always)]
    pub fn due(&self, ts: Nanos) -> bool {
        ts.0 >= self.next_ts
    }

    /// Records `row` at every grid point up to and including `ts`.
    #[cold]
    pub fn record(&mut self, ts: Nanos, row: &[Money]) {
        debug_assert_eq!(row.len(), self.width);
        if self.next_ts == 0 {
            self.next_ts = ts.0 - ts.0 % self.interval_ns;
        }
        while self.next_ts <= ts.0 {
            if self.ts.len() == self.capacity {
                self.halve();
                if self.next_ts > ts.0 {
                    break;
                }
            }
            self.ts.push(Nanos(self.next_ts));
            self.values.extend_from_slice(row);
            self.next_ts = self.next_ts.saturating_add(self.interval_ns);
        }
    }

    /// Keeps every other row (the ones on the doubled grid) and doubles the interval.
    fn halve(&mut self) {
        let mut keep = 0;
        for i in (0..self.ts.len()).step_by(2) {
            self.ts[keep] = self.ts[i];
            self.values
                .copy_within(i * self.width..(i + 1) * self.width, keep * self.width);
            keep += 1;
        }
        self.ts.truncate(keep);
        self.values.truncate(keep * self.width);
        self.interval_ns = self.interval_ns.saturating_mul(2);
        let last = self.ts.last().map_or(0, |t| t.0);
        self.next_ts = last.saturating_add(self.interval_ns);
    }

    pub fn interval_ns(&self) -> u64 {
        self.interval_ns
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    pub fn times(&self) -> &[Nanos] {
        &self.ts
    }

    /// Row `i`'s values.
    pub fn row(&self, i: usize) -> &[Money] {
        &self.values[i * self.width..(i + 1) * self.width]
    }

    /// What a checkpoint keeps: the rows, the interval they reached and the next grid point.
    pub fn state(&self) -> CurveState {
        CurveState {
            ts: self.ts.clone(),
            values: self.values.clone(),
            interval_ns: self.interval_ns,
            next_ts: self.next_ts,
        }
    }

    /// Puts a checkpoint's rows back into a curve built from the same config.
    ///
    /// # Errors
    /// The rows do not fit this curve (another width, more rows than its capacity).
    pub fn restore(&mut self, state: CurveState) -> Result<(), String> {
        let rows = state.ts.len();
        if state.values.len() != rows * self.width || rows > self.capacity || state.interval_ns == 0
        {
            return Err(format!(
                "equity curve: {rows} rows of {} values do not fit {} rows of {}",
                state.values.len() / rows.max(1),
                self.capacity,
                self.width
            ));
        }
        self.ts = state.ts;
        self.values = state.values;
        self.ts.reserve_exact(self.capacity - rows);
        self.values
            .reserve_exact((self.capacity - rows) * self.width);
        self.interval_ns = state.interval_ns;
        self.next_ts = state.next_ts;
        Ok(())
    }

    /// Column `c` over all rows.
    pub fn column(&self, c: usize) -> impl Iterator<Item = Money> + '_ {
        self.values
            .iter()
            .skip(c)
            .step_by(self.width.max(1))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_rows_get_fewer_samples_within_the_budget() {
        assert_eq!(capacity_for(20), SAMPLE_CAPACITY);
        // 333 rows of 3 columns: 16 KB a sample.
        let wide = capacity_for(1_000);
        assert!(wide < SAMPLE_CAPACITY && wide * 1_000 * 16 <= CURVE_BUDGET_BYTES);
        assert_eq!(capacity_for(1_000_000), MIN_CAPACITY);
        assert_eq!(capacity_for(0), SAMPLE_CAPACITY);
    }

    #[test]
    fn grid_is_aligned_gap_filled_and_bounded() {
        let mut curve = EquityCurve::new(8, 10, 1);
        curve.record(Nanos(23), &[Money(1)]);
        assert_eq!(curve.times(), [Nanos(20)], "aligned to the interval");
        // A gap: 30, 40, 50 repeat the value seen before the tick at 55.
        curve.record(Nanos(55), &[Money(2)]);
        assert_eq!(curve.times(), [Nanos(20), Nanos(30), Nanos(40), Nanos(50)]);
        assert_eq!(
            curve.column(0).collect::<Vec<_>>(),
            [Money(1), Money(2), Money(2), Money(2)]
        );
        for ts in (60..10_000).step_by(10) {
            if curve.due(Nanos(ts)) {
                curve.record(Nanos(ts), &[Money(i128::from(ts))]);
            }
        }
        assert!(curve.len() <= 8);
        let times = curve.times();
        let step = curve.interval_ns();
        assert!(step >= 10_000 / 8, "interval doubled to {step}");
        assert!(
            times.windows(2).all(|w| w[1].0 - w[0].0 == step),
            "a regular grid after halving: {times:?}"
        );
        assert_eq!(times[0], Nanos(20), "the first point stays");
    }
}
