//! Compute-time-aware backtests: charging each strategy's own compute time to the simulated
//! clock, so an order it writes reaches the venue at `event time + compute time + order
//! latency` instead of as if the strategy took no time. `[compute]` of `engine.toml`:
//!
//! ```toml
//! [compute]
//! mode = "off"                  # off | model | measured | replay
//! default_ns = 0                # model: ns charged per strategy call that writes orders
//! strategies = { ml_momentum_btcusdt_spot = 40000 }   # model: per strategy id
//! samples = "compute.csv"       # measured: every charge written here; replay: read back
//! ```
//!
//! - `model`: a fixed cost per strategy (`strategies`, else `default_ns`).
//! - `measured`: the wall time of the strategy's callback as it ran (its `on_tick`,
//!   `on_order_event` or `on_timer`, feature extraction and ONNX inference included — ML
//!   strategies score per tick in this mode so the cost lands on the tick that pays it). Not
//!   reproducible by nature: with `samples` every charge is recorded, in order.
//! - `replay`: the charges are read back from `samples` in order, so a measured run is
//!   reproduced exactly (the same charges give the same decisions, so the same sequence of
//!   calls asks for them). A replay that runs out of samples charges 0 and counts it.
//!
//! Only callbacks that write an action are charged (the others send nothing); the charge
//! moves the time stamped on the requests they write. Off (the default) costs one branch per
//! callback; measured reads the TSC twice per callback.

use std::path::PathBuf;

use crate::config::fields::Fields;
use crate::portfolio::{LOG_BUFFER, RecordLog};

/// Largest charge a model may give, ns (1 s): beyond it a strategy is not a trading one.
pub const MAX_COMPUTE_NS: i64 = 1_000_000_000;

/// How compute time is charged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ComputeMode {
    #[default]
    Off,
    Model,
    Measured,
    Replay,
}

impl ComputeMode {
    pub fn name(self) -> &'static str {
        match self {
            ComputeMode::Off => "off",
            ComputeMode::Model => "model",
            ComputeMode::Measured => "measured",
            ComputeMode::Replay => "replay",
        }
    }
}

/// `[compute]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComputeConfig {
    pub mode: ComputeMode,
    pub default_ns: u64,
    /// Strategy id → ns, in file order.
    pub strategies: Vec<(String, u64)>,
    /// Samples file; relative paths resolve against the config file's folder.
    pub samples: Option<PathBuf>,
}

impl ComputeConfig {
    /// The model's charge for a strategy.
    pub fn model_ns(&self, strategy: &str) -> u64 {
        self.strategies
            .iter()
            .find(|(id, _)| id == strategy)
            .map_or(self.default_ns, |&(_, ns)| ns)
    }
}

/// Reads `[compute]`.
pub(crate) fn read(root: &mut Fields<'_, '_>, into: &mut ComputeConfig) {
    let Some((table, offset)) = root.opt_table("compute") else {
        return;
    };
    let mut compute = root.sub(table, "compute", offset);
    if let Some((mode, _)) = compute.opt_choice("mode", &["off", "model", "measured", "replay"]) {
        into.mode = match mode.as_str() {
            "model" => ComputeMode::Model,
            "measured" => ComputeMode::Measured,
            "replay" => ComputeMode::Replay,
            _ => ComputeMode::Off,
        };
    }
    if let Some(ns) = compute.opt_int("default_ns", 0, MAX_COMPUTE_NS) {
        into.default_ns = ns as u64;
    }
    if let Some((strategies, offset)) = compute.opt_table("strategies") {
        let mut fields = compute.sub(strategies, "strategies", offset);
        for (id, _) in strategies.iter() {
            let id = id.get_ref().as_ref();
            if let Some(ns) = fields.opt_int(id, 0, MAX_COMPUTE_NS) {
                into.strategies.push((id.to_owned(), ns as u64));
            }
        }
        fields.finish();
    }
    if let Some((path, _)) = compute.opt_str("samples") {
        into.samples = Some(PathBuf::from(path));
    }
    if into.mode == ComputeMode::Replay && into.samples.is_none() {
        compute.invalid(
            "samples",
            offset,
            "mode = \"replay\" needs samples = \"FILE\"",
        );
    }
    compute.finish();
}

/// Reads a samples file: one charge in ns per line.
///
/// # Errors
/// `FILE:LINE: ...` for an unreadable file or a line that is not an integer in
/// `0..=MAX_COMPUTE_NS`.
pub fn read_samples(path: &std::path::Path) -> Result<Vec<u32>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            l.trim()
                .parse::<u32>()
                .ok()
                .filter(|&ns| i64::from(ns) <= MAX_COMPUTE_NS)
                .ok_or_else(|| {
                    format!(
                        "{}:{}: expected a compute time in ns from 0 to {MAX_COMPUTE_NS}, found '{}'",
                        path.display(),
                        i + 1,
                        l.trim()
                    )
                })
        })
        .collect()
}

/// The strategy stage's charger.
#[derive(Debug)]
pub struct ComputeCharge {
    mode: ComputeMode,
    /// Model charge per book.
    per_book: Vec<u64>,
    clock: quanta::Clock,
    recorded: RecordLog<u32>,
    replay: Vec<u32>,
    next: usize,
    /// Replay charges asked for beyond the samples.
    pub exhausted: u64,
}

impl ComputeCharge {
    /// `per_book`: the model's charge of each book; `replay`: the samples of a replay.
    pub fn new(mode: ComputeMode, per_book: Vec<u64>, replay: Vec<u32>) -> ComputeCharge {
        ComputeCharge {
            mode,
            per_book,
            clock: quanta::Clock::new(),
            recorded: RecordLog::new(if mode == ComputeMode::Measured {
                LOG_BUFFER
            } else {
                1
            }),
            replay,
            next: 0,
            exhausted: 0,
        }
    }

    pub fn off() -> ComputeCharge {
        ComputeCharge::new(ComputeMode::Off, Vec::new(), Vec::new())
    }

    pub fn mode(&self) -> ComputeMode {
        self.mode
    }

    /// Before a callback: a TSC stamp when measuring.
    #[inline(always)]
    pub fn start(&self) -> u64 {
        if self.mode == ComputeMode::Measured {
            self.clock.raw()
        } else {
            0
        }
    }

    /// After a callback of book `b` that wrote actions: its charge, ns.
    #[inline]
    pub fn charge(&mut self, b: usize, start: u64) -> u64 {
        match self.mode {
            ComputeMode::Off => 0,
            ComputeMode::Model => self.per_book.get(b).copied().unwrap_or(0),
            ComputeMode::Measured => {
                let ns = self.clock.delta_as_nanos(start, self.clock.raw());
                let ns = u32::try_from(ns.min(MAX_COMPUTE_NS as u64)).unwrap_or(u32::MAX);
                self.recorded.record(ns);
                u64::from(ns)
            }
            ComputeMode::Replay => match self.replay.get(self.next) {
                Some(&ns) => {
                    self.next += 1;
                    u64::from(ns)
                }
                None => {
                    self.exhausted += 1;
                    0
                }
            },
        }
    }

    /// Off the tick path: moves buffered samples to the log.
    pub fn flush(&mut self) {
        if self.mode == ComputeMode::Measured {
            self.recorded.flush();
        }
    }

    /// Measured charges go to an anonymous file in `dir` (see `RecordLog::spill_to`).
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn spill_to(&mut self, dir: &std::path::Path) -> std::io::Result<()> {
        if self.mode == ComputeMode::Measured {
            self.recorded.spill_to(dir)?;
        }
        Ok(())
    }

    /// The replay cursor, the shortfall and the measured charges so far (a checkpoint).
    pub(crate) fn state(&self) -> std::io::Result<(usize, u64, Vec<u32>)> {
        Ok((self.next, self.exhausted, self.recorded.copy_all()?))
    }

    /// Puts a checkpoint's cursor, shortfall and charges back.
    pub(crate) fn restore(&mut self, next: usize, exhausted: u64, recorded: &[u32]) {
        self.next = next;
        self.exhausted = exhausted;
        for &ns in recorded {
            self.recorded.record(ns);
            self.recorded.flush();
        }
    }

    /// The measured charges in order, giving up the log.
    pub fn take_samples(&mut self) -> Vec<u32> {
        std::mem::replace(&mut self.recorded, RecordLog::new(1)).into_vec()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::EngineConfig;

    #[test]
    fn modes_charge_as_documented() {
        let mut model = ComputeCharge::new(ComputeMode::Model, vec![5, 7], Vec::new());
        assert_eq!(
            (model.charge(0, 0), model.charge(1, 0), model.charge(9, 0)),
            (5, 7, 0)
        );
        let mut replay = ComputeCharge::new(ComputeMode::Replay, Vec::new(), vec![3, 4]);
        let charges: Vec<u64> = (0..3).map(|_| replay.charge(0, 0)).collect();
        assert_eq!((charges, replay.exhausted), (vec![3, 4, 0], 1));
        let mut measured = ComputeCharge::new(ComputeMode::Measured, Vec::new(), Vec::new());
        let start = measured.start();
        std::hint::black_box((0..1000).sum::<u64>());
        let ns = measured.charge(0, start);
        measured.flush();
        assert_eq!(
            measured.take_samples(),
            vec![ns as u32],
            "every measured charge is recorded"
        );
        assert_eq!(ComputeCharge::off().charge(0, 0), 0);
    }

    #[test]
    fn config_and_samples_file_errors_name_where() {
        let config = EngineConfig::parse(
            Path::new("e.toml"),
            "[venue.paper]\n[compute]\nmode = \"model\"\ndefault_ns = 100\nstrategies = { a = 2500 }\n",
        )
        .expect("valid");
        assert_eq!(
            (config.compute.model_ns("a"), config.compute.model_ns("b")),
            (2500, 100)
        );
        let err = EngineConfig::parse(
            Path::new("e.toml"),
            "[venue.paper]\n[compute]\nmode = \"replay\"\ndefault_ns = -1\nstrategies = { a = 2000000000 }\n",
        )
        .expect_err("invalid")
        .to_string();
        for needle in [
            "compute.samples",
            ":4: field 'compute.default_ns'",
            ":5: field 'compute.strategies.a'",
        ] {
            assert!(err.contains(needle), "missing {needle} in {err}");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.csv");
        std::fs::write(&path, "10\n20\n\nx\n").expect("write");
        let err = read_samples(&path).expect_err("bad line");
        assert!(
            err.ends_with("c.csv:4: expected a compute time in ns from 0 to 1000000000, found 'x'"),
            "{err}"
        );
        std::fs::write(&path, "10\n20\n").expect("write");
        assert_eq!(read_samples(&path), Ok(vec![10, 20]));
    }
}
