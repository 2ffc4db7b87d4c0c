//! Synthetic market data shared by the benches: deterministic random-walk quotes (no `rand`
//! dependency, same series on every run), and the criterion settings every bench uses.

#![allow(dead_code, reason = "each bench binary uses a subset")]

use std::time::Duration;

use criterion::Criterion;

use alpha_panda::domain::{InstrumentId, Nanos, Price, Tick};

/// 2014-05-01T00:00:00Z in ns.
pub const START_NS: u64 = 1_398_902_400_000_000_000;

/// 64-bit LCG (Knuth's MMIX constants).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Quotes over `start_mids.len()` instruments (ids 0.., uniformly mixed), 5-decimal prices;
/// each mid moves -3..=+3 points per tick, spread 2 or 4 points, 1–51 ms apart.
pub fn random_walk_quotes(start_mids: &[i64], count: usize, seed: u64) -> Vec<Tick> {
    let mut rng = Lcg(seed);
    let mut mids = start_mids.to_vec();
    let mut ts = START_NS;
    (0..count)
        .map(|seq| {
            let id = rng.below(mids.len() as u64) as usize;
            ts += 1_000_000 + rng.below(50_000_000);
            mids[id] = (mids[id] + rng.below(7) as i64 - 3).max(1_000);
            let half_spread = 1 + rng.below(2) as i64;
            let mut tick = Tick::quote(
                Nanos(ts),
                InstrumentId(id as u32),
                Some(Price(mids[id] - half_spread)),
                Some(Price(mids[id] + half_spread)),
                None,
                None,
            );
            tick.seq = seq as u64;
            tick
        })
        .collect()
}

/// Few samples and short windows: every bench binary finishes in well under a minute on the
/// 2-core machine, which is what the published medians were taken with.
pub fn criterion_config(measurement_secs: u64) -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(measurement_secs))
}
