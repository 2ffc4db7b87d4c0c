//! `[runtime]` of `engine.toml`: which runtime runs the stages, its rings, wait policy,
//! core pinning, latency sampling and how ML strategies call their model.

use crate::config::fields::Fields;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RuntimeMode {
    /// One thread calls every stage in order.
    #[default]
    Inline,
    /// One thread per stage, bounded rings between them.
    Threaded,
}

impl RuntimeMode {
    pub fn name(self) -> &'static str {
        match self {
            RuntimeMode::Inline => "inline",
            RuntimeMode::Threaded => "threaded",
        }
    }
}

/// What a stage does while its input ring is empty or its output ring is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WaitPolicy {
    /// Busy-spin: lowest latency, burns the core.
    Spin,
    /// Spin a while, then yield the core to the OS.
    #[default]
    SpinThenYield,
    /// Spin, yield, then sleep briefly.
    Park,
}

/// How ML strategies call their model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MlInference {
    /// Batched in the inline runtime, per tick in the threaded one.
    #[default]
    Auto,
    /// One row per scoring event, as live trading does.
    PerTick,
    /// Each chunk's rows in one call (inline runtime only).
    Batched,
}

/// Optional CPU core per stage thread of the threaded runtime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StagePinning {
    pub feed: Option<usize>,
    pub strategy: Option<usize>,
    pub risk: Option<usize>,
    pub execution: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeConfig {
    pub mode: RuntimeMode,
    pub pin: StagePinning,
    pub ring_capacity: usize,
    pub wait: WaitPolicy,
    /// Per-tick stage latency is timed on 1 of this many ticks (timing costs ~10 ns a read).
    /// Unset: `DEFAULT_SAMPLE_EVERY` in backtests, every tick live (see `sample_every`).
    pub latency_sample_every: Option<u64>,
    pub ml_inference: MlInference,
}

/// Largest `ring_capacity`. The threaded runtime allocates five rings of this many slots at
/// start (`message::ring_slot_bytes`: 544 bytes a slot across the five today), so the
/// largest allowed takes 2^19 × 544 B = 272 MiB; the former bound, 2^24, took 8.5 GiB.
/// Half a second of ticks at a million a second; a deeper ring only hides a stalled stage.
pub const MAX_RING_CAPACITY: i64 = 1 << 19;

/// Latency sampling of backtests when the config does not set it: 1 tick in 16 keeps the
/// cost of timing (two cycle-counter reads per hop) off the throughput.
pub const DEFAULT_SAMPLE_EVERY: u64 = 16;

impl RuntimeConfig {
    /// Ticks per latency sample: the configured value, else `DEFAULT_SAMPLE_EVERY`.
    pub fn sample_every(&self) -> u64 {
        self.latency_sample_every
            .unwrap_or(DEFAULT_SAMPLE_EVERY)
            .max(1)
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            mode: RuntimeMode::Inline,
            pin: StagePinning::default(),
            ring_capacity: 8192,
            wait: WaitPolicy::SpinThenYield,
            latency_sample_every: None,
            ml_inference: MlInference::Auto,
        }
    }
}

/// Reads `[runtime]` (and `[runtime.pin]`) into `into`; problems go to the root's errors.
pub(crate) fn read(root: &mut Fields<'_, '_>, into: &mut RuntimeConfig) {
    let Some((table, offset)) = root.opt_table("runtime") else {
        return;
    };
    let mut runtime = root.sub(table, "runtime", offset);
    if let Some((mode, _)) = runtime.opt_choice("mode", &["inline", "threaded"]) {
        into.mode = if mode == "threaded" {
            RuntimeMode::Threaded
        } else {
            RuntimeMode::Inline
        };
    }
    if let Some(capacity) = runtime.opt_int("ring_capacity", 2, MAX_RING_CAPACITY) {
        let offset = runtime
            .get("ring_capacity")
            .map_or(offset, |v| v.span().start);
        if (capacity as u64).is_power_of_two() {
            into.ring_capacity = capacity as usize;
        } else {
            runtime.invalid(
                "ring_capacity",
                offset,
                format!("expected a power of two, found {capacity}"),
            );
        }
    }
    if let Some((wait, _)) = runtime.opt_choice("wait", &["spin", "spin_then_yield", "park"]) {
        into.wait = match wait.as_str() {
            "spin" => WaitPolicy::Spin,
            "park" => WaitPolicy::Park,
            _ => WaitPolicy::SpinThenYield,
        };
    }
    if let Some(n) = runtime.opt_int("latency_sample_every", 1, 1 << 20) {
        into.latency_sample_every = Some(n as u64);
    }
    if let Some((table, offset)) = runtime.opt_table("pin") {
        let mut pin = runtime.sub(table, "pin", offset);
        let mut core = |key| pin.opt_int(key, 0, 1023).map(|c| c as usize);
        into.pin = StagePinning {
            feed: core("feed"),
            strategy: core("strategy"),
            risk: core("risk"),
            execution: core("execution"),
        };
        // Checked against this machine by preflight, not here: the file is written for the
        // box it runs on, which need not be the one validating it.
        pin.finish();
    }
    if let Some((mode, _)) = runtime.opt_choice("ml_inference", &["auto", "per_tick", "batched"]) {
        into.ml_inference = match mode.as_str() {
            "per_tick" => MlInference::PerTick,
            "batched" => MlInference::Batched,
            _ => MlInference::Auto,
        };
    }
    runtime.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_rings_fit_in_memory() {
        let bytes_per_slot: usize = crate::runtime::message::ring_slot_bytes().iter().sum();
        let total = bytes_per_slot * MAX_RING_CAPACITY as usize;
        // The bound the doc of MAX_RING_CAPACITY states; a bigger message must update it.
        assert!(
            total <= 300 << 20,
            "{bytes_per_slot} B a slot x {MAX_RING_CAPACITY} = {total} B"
        );
    }
}
