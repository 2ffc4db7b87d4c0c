//! Equity over event time, downsampled into a fixed number of points: memory stays fixed
//! however long the run.

use crate::domain::{Money, Nanos};

#[derive(Clone, Debug)]
pub struct EquityCurve {
    points: Vec<(Nanos, Money)>,
    capacity: usize,
    interval_ns: u64,
    next_ts: u64,
}

impl EquityCurve {
    pub fn new(capacity: usize, interval_ns: u64) -> EquityCurve {
        EquityCurve {
            points: Vec::with_capacity(capacity),
            capacity: capacity.max(2),
            interval_ns,
            next_ts: 0,
        }
    }

    #[inline]
    pub fn observe(&mut self, ts: Nanos, equity: Money) {
        if ts.0 < self.next_ts {
            return;
        }
        if self.points.len() == self.capacity {
            // Keep every other point and sample half as often.
            let mut keep = 0;
            for i in (0..self.points.len()).step_by(2) {
                self.points[keep] = self.points[i];
                keep += 1;
            }
            self.points.truncate(keep);
            self.interval_ns = self.interval_ns.saturating_mul(2);
        }
        self.points.push((ts, equity));
        self.next_ts = ts.0.saturating_add(self.interval_ns);
    }

    pub fn points(&self) -> &[(Nanos, Money)] {
        &self.points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_memory_is_bounded() {
        let mut curve = EquityCurve::new(8, 1);
        for ts in 0..10_000 {
            curve.observe(Nanos(ts), Money(ts as i128));
        }
        assert!(curve.points().len() <= 8);
        assert_eq!(curve.points()[0].0, Nanos(0));
    }
}
