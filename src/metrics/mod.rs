//! Latency histograms per pipeline hop and run counters. Each histogram is owned by the
//! thread that records into it (no lock, no allocation per record) and merged at the end.

pub mod catalog;
pub mod config;
pub mod exposition;
pub mod handoff;
pub mod telemetry;

use hdrhistogram::Histogram;

/// A measured hop of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Ring wait between the feed and the strategy stage (threaded runtime).
    FeedToStrategy,
    /// Dispatch of one tick to every strategy on its instrument.
    Strategy,
    /// Ring wait between the strategy and the risk stage (threaded runtime).
    StrategyToRisk,
    /// Risk check of one order.
    Risk,
    /// Ring wait between risk and execution (threaded runtime).
    RiskToExecution,
    /// Venue submission of one order (including an immediate fill).
    Execution,
    /// From the start of the tick's processing to the order handed to the venue.
    TickToOrder,
    /// Live brokers: from the socket read of the tick behind an order to the order's HTTP
    /// request leaving for the broker (the REST thread's send).
    TickToWire,
    /// Exchange timestamp to local receipt of market data (live socket feeds whose packets
    /// carry an exchange time; Kite's is whole seconds).
    Feed,
}

impl Stage {
    pub const ALL: [Stage; 9] = [
        Stage::FeedToStrategy,
        Stage::Strategy,
        Stage::StrategyToRisk,
        Stage::Risk,
        Stage::RiskToExecution,
        Stage::Execution,
        Stage::TickToOrder,
        Stage::TickToWire,
        Stage::Feed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Feed => "feed",
            Stage::FeedToStrategy => "feed_to_strategy",
            Stage::Strategy => "strategy",
            Stage::StrategyToRisk => "strategy_to_risk",
            Stage::Risk => "risk",
            Stage::RiskToExecution => "risk_to_execution",
            Stage::Execution => "execution",
            Stage::TickToOrder => "tick_to_order",
            Stage::TickToWire => "tick_to_wire",
        }
    }
}

/// Percentiles of one stage, ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl LatencySummary {
    /// Percentiles of a histogram; all zero when it is empty.
    pub fn of(h: &Histogram<u64>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// Whether tick `seq` is one of the 1-in-`every` ticks whose latency is timed. The choice
/// is a fixed hash of the seq, not `seq % every`: interleaved feeds are periodic, and a
/// plain modulo can line up with them (on the Binance excerpt, not one of 105 signal ticks
/// had a seq divisible by 16). Deterministic, so runs stay reproducible.
#[inline]
pub fn sampled(seq: u64, every: u64) -> bool {
    every <= 1 || (seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32).is_multiple_of(every)
}

/// A histogram of 1 ns to 60 s at 3 significant digits: records never allocate.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("static histogram bounds are valid")
}

/// One HDR histogram per stage, 1 ns to 60 s at 3 significant digits.
#[derive(Clone, Debug)]
pub struct LatencyRecorder {
    histograms: Vec<Histogram<u64>>,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        LatencyRecorder {
            histograms: Stage::ALL.iter().map(|_| latency_histogram()).collect(),
        }
    }
}

impl LatencyRecorder {
    /// Records without allocating; values outside the range are clamped.
    #[inline]
    pub fn record(&mut self, stage: Stage, ns: u64) {
        self.histograms[stage as usize].saturating_record(ns.max(1));
    }

    /// Adds another thread's recordings.
    pub fn merge(&mut self, other: &LatencyRecorder) {
        for (mine, theirs) in self.histograms.iter_mut().zip(&other.histograms) {
            // Same bounds on both sides, so adding cannot fail.
            let _ = mine.add(theirs);
        }
    }

    /// Empties every histogram, keeping its memory.
    pub fn reset(&mut self) {
        for h in &mut self.histograms {
            h.reset();
        }
    }

    /// The histogram of one stage.
    pub fn histogram(&self, stage: Stage) -> &Histogram<u64> {
        &self.histograms[stage as usize]
    }

    pub fn summary(&self, stage: Stage) -> LatencySummary {
        LatencySummary::of(&self.histograms[stage as usize])
    }

    /// Stages with at least one recording, in pipeline order.
    pub fn summaries(&self) -> Vec<(Stage, LatencySummary)> {
        Stage::ALL
            .iter()
            .map(|&s| (s, self.summary(s)))
            .filter(|(_, s)| s.count > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_takes_one_in_n_without_following_the_seq_period() {
        let hits = (0..160_000u64).filter(|&s| sampled(s, 16)).count();
        assert!((9_000..11_000).contains(&hits), "{hits} of 160,000");
        // Every 16th tick of one instrument in a 16-way interleave is still sampled ~1/16.
        let aligned = (0..160_000u64)
            .step_by(16)
            .filter(|&s| sampled(s, 16))
            .count();
        assert!((400..850).contains(&aligned), "{aligned} of 10,000");
        assert!((0..100).all(|s| sampled(s, 1)));
    }

    #[test]
    fn percentiles_and_merge() {
        let mut a = LatencyRecorder::default();
        let mut b = LatencyRecorder::default();
        for ns in 1..=1000 {
            a.record(Stage::Risk, ns);
        }
        b.record(Stage::Risk, 1_000_000);
        a.merge(&b);
        let s = a.summary(Stage::Risk);
        assert_eq!(s.count, 1001);
        assert!((495..=505).contains(&s.p50), "p50 {}", s.p50);
        assert!(s.max >= 999_000, "max {}", s.max);
        assert_eq!(a.summary(Stage::Strategy), LatencySummary::default());
        assert_eq!(a.summaries().len(), 1);
    }
}
