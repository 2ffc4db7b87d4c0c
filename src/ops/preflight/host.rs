//! The host checks of a preflight: what the box offers the run. Cores for pinned stages,
//! memory for the rings, writable log and output directories, a bindable metrics port.
//! The input checks (config, instruments, credentials, models) are in the parent module.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Findings, MIN_RING_CAPACITY};
use crate::app::validate::Severity;
use crate::config::{EngineConfig, RuntimeMode, StagePinning};

/// Ring capacity and memory; core pinning against this machine (threaded runtime and live).
pub(super) fn check_rings(
    config: &EngineConfig,
    live: bool,
    cores: Result<usize, &str>,
) -> Findings {
    let mut f = Findings::default();
    let capacity = config.runtime.ring_capacity;
    let threaded = live || config.runtime.mode == RuntimeMode::Threaded;
    if !capacity.is_power_of_two() {
        f.push(
            Severity::Fatal,
            format!("runtime.ring_capacity = {capacity} is not a power of two"),
        );
    } else if threaded && capacity < MIN_RING_CAPACITY {
        f.push(
            Severity::Advisory,
            format!(
                "runtime.ring_capacity = {capacity} is below {MIN_RING_CAPACITY}: small rings stall the feed behind bursts"
            ),
        );
    }
    let slots = crate::runtime::message::ring_slot_bytes();
    let bytes: usize = slots.iter().map(|s| s.saturating_mul(capacity)).sum();
    let sizes: Vec<String> = slots.iter().map(ToString::to_string).collect();
    let memory = format!(
        "{} rings x {capacity} slots = {:.1} MiB, slots of {} bytes",
        slots.len(),
        bytes as f64 / (1024.0 * 1024.0),
        sizes.join(", ")
    );
    let pinned = pinned_stages(&config.runtime.pin);
    if threaded {
        if config.runtime.wait == crate::config::WaitPolicy::Spin
            && let Ok(n) = cores
            && n < crate::runtime::threaded::STAGE_THREADS
        {
            f.push(
                Severity::Advisory,
                format!(
                    "runtime.wait = \"spin\" with {} stage threads on {n} cores: spinning threads starve each other",
                    crate::runtime::threaded::STAGE_THREADS
                ),
            );
        }
        for (severity, problem) in pinning_problems(&config.runtime.pin, cores) {
            f.push(severity, problem);
        }
        let pins = if pinned.is_empty() {
            "no stage pinned".to_owned()
        } else {
            pinned
                .iter()
                .map(|(stage, core)| format!("{stage} on core {core}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        f.summary = format!("threaded: {memory}; {pins}");
    } else {
        let pins = if pinned.is_empty() {
            ""
        } else {
            "; runtime.pin ignored by the inline runtime"
        };
        f.summary = format!("inline runtime uses no rings (threaded: {memory}){pins}");
    }
    f
}

fn pinned_stages(pin: &StagePinning) -> Vec<(&'static str, usize)> {
    [
        ("feed", pin.feed),
        ("strategy", pin.strategy),
        ("risk", pin.risk),
        ("execution", pin.execution),
    ]
    .into_iter()
    .filter_map(|(stage, core)| core.map(|c| (stage, c)))
    .collect()
}

/// Pinned cores this machine lacks, and cores two stages share.
pub(super) fn pinning_problems(
    pin: &StagePinning,
    cores: Result<usize, &str>,
) -> Vec<(Severity, String)> {
    let pinned = pinned_stages(pin);
    let mut problems = Vec::new();
    if pinned.is_empty() {
        return problems;
    }
    match cores {
        Ok(n) => {
            for (stage, core) in &pinned {
                if *core >= n {
                    problems.push((
                        Severity::Problem,
                        format!(
                            "runtime.pin.{stage} = {core}, but this machine has {n} cores (0..={})",
                            n.saturating_sub(1)
                        ),
                    ));
                }
            }
        }
        Err(e) => problems.push((
            Severity::Advisory,
            format!("cannot tell how many cores this machine has ({e}); pinned cores not checked"),
        )),
    }
    let mut by_core: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (stage, core) in &pinned {
        by_core.entry(*core).or_default().push(stage);
    }
    for (core, stages) in by_core {
        if stages.len() > 1 {
            problems.push((
                Severity::Problem,
                format!(
                    "runtime.pin: {} share core {core}; each stage needs its own",
                    stages.join(" and ")
                ),
            ));
        }
    }
    problems
}

/// A name for temporary and probe files no other writer in this or another process uses.
pub(super) fn unique_suffix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}.{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates `dir` and writes and removes a probe file in it.
fn probe_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let probe = dir.join(format!(".preflight_probe.{}", unique_suffix()));
    std::fs::write(&probe, b"preflight probe")
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    std::fs::remove_file(&probe)
        .map_err(|e| format!("cannot remove the probe file {}: {e}", probe.display()))
}

/// `logging.dir` and `output.dir` can be created and written.
pub(super) fn check_directories(config: &EngineConfig) -> Findings {
    let mut f = Findings {
        fatal_check: true,
        ..Findings::default()
    };
    let mut dirs: Vec<(&str, &Path)> = vec![("logging.dir", &config.logging.dir)];
    if config.output_dir != config.logging.dir {
        dirs.push(("output.dir", &config.output_dir));
    }
    let mut ok = Vec::new();
    for (key, dir) in dirs {
        match probe_dir(dir) {
            Ok(()) => ok.push(format!("{key} {}", dir.display())),
            Err(e) => f.push(Severity::Fatal, format!("{key}: {e}")),
        }
    }
    if !ok.is_empty() {
        f.summary = format!("writable: {}", ok.join(", "));
    }
    f
}

/// The metrics address can be bound (bound and released at once).
pub(super) fn check_metrics_endpoint(config: &EngineConfig) -> Findings {
    let mut f = Findings::default();
    let addr = config.metrics.addr;
    match std::net::TcpListener::bind(addr) {
        Ok(listener) => {
            drop(listener);
            f.summary = format!("{addr} can be bound");
        }
        Err(e) => f.push(
            Severity::Problem,
            format!(
                "cannot bind metrics.addr {addr}: {e} (another process on the port? set [metrics] addr, or enabled = false)"
            ),
        ),
    }
    f
}
