//! Checkpoint files beside a live run's journal: `checkpoint-<ticks>.apc`, each the whole
//! engine state after that many ticks, so a restart replays only the journaled ticks after
//! the newest one.
//!
//! Contract:
//! - File: 8 magic bytes `APCKPT01`, a CRC-32C of the rest (u32 LE), then bincode of
//!   [`CheckpointFile`] (the run's fingerprint, the engine version, the tick count, the
//!   state). Written to a temporary name, synced, renamed, and the directory synced, so a
//!   crash leaves either the old set or the new file whole. The two newest are kept.
//! - A checkpoint is used only when its fingerprint and engine version are this run's and it
//!   is not past the journal's ticks (a crash can come between the two writes); any other
//!   file, or one that does not read back, is skipped with a log line and the next older is
//!   tried. None usable: the whole journal is replayed, as before checkpoints.
//! - Written by a thread of its own, off the stage threads, from what the runtime's cut hands
//!   over (`runtime::checkpoint`).

use std::io::Write;
use std::path::{Path, PathBuf};

use crossbeam_channel::{Receiver, Sender};
use serde::{Deserialize, Serialize};

use crate::runtime::checkpoint::{EngineState, Taken};

const MAGIC: &[u8; 8] = b"APCKPT01";
const KEEP: usize = 2;
/// Checkpoints in flight to the writer; more are dropped (the next one comes soon).
const QUEUE: usize = 2;

#[derive(Debug, Serialize, Deserialize)]
struct CheckpointFile {
    fingerprint: String,
    engine_version: String,
    ticks: u64,
    state: EngineState,
}

fn name(ticks: u64) -> String {
    format!("checkpoint-{ticks:016}.apc")
}

/// Checkpoint files of `dir` with their tick counts, newest first.
fn listed(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| {
                let path = e.ok()?.path();
                let ticks = path
                    .file_name()?
                    .to_str()?
                    .strip_prefix("checkpoint-")?
                    .strip_suffix(".apc")?
                    .parse()
                    .ok()?;
                Some((ticks, path))
            })
            .collect()
        })
        .unwrap_or_default();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    files
}

fn read(path: &Path) -> Result<CheckpointFile, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    if bytes.len() < 12 || &bytes[..8] != MAGIC {
        return Err("not a checkpoint file".into());
    }
    let crc = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if crc32c::crc32c(&bytes[12..]) != crc {
        return Err("checksum mismatch".into());
    }
    // A crafted length inside a file whose CRC matches must not ask for more than this.
    let config = bincode::config::standard().with_limit::<{ 1 << 32 }>();
    bincode::serde::decode_from_slice(&bytes[12..], config)
        .map(|(file, _)| file)
        .map_err(|e| format!("decode: {e}"))
}

/// The newest usable checkpoint in `dir` for this run (see the module docs).
pub fn latest(
    dir: &Path,
    fingerprint: &str,
    journaled: u64,
) -> Option<(u64, EngineState, PathBuf)> {
    for (ticks, path) in listed(dir) {
        let why = match read(&path) {
            Ok(f) if f.fingerprint != fingerprint => {
                "another config, strategies or data".to_owned()
            }
            Ok(f) if f.engine_version != env!("CARGO_PKG_VERSION") => {
                format!("engine version {}", f.engine_version)
            }
            Ok(f) if f.ticks != ticks || ticks > journaled => {
                format!("{} ticks, the journal has {journaled}", f.ticks)
            }
            Ok(f) => return Some((ticks, f.state, path)),
            Err(e) => e,
        };
        tracing::warn!(target: "app", file = %path.display(), reason = %why, "checkpoint skipped");
    }
    None
}

fn write(dir: &Path, file: &CheckpointFile) -> std::io::Result<PathBuf> {
    let body = bincode::serde::encode_to_vec(file, bincode::config::standard())
        .map_err(std::io::Error::other)?;
    let path = dir.join(name(file.ticks));
    let tmp = dir.join(format!("{}.tmp", name(file.ticks)));
    {
        let mut out = std::fs::File::create(&tmp)?;
        out.write_all(MAGIC)?;
        out.write_all(&crc32c::crc32c(&body).to_le_bytes())?;
        out.write_all(&body)?;
        out.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
    for (_, old) in listed(dir).into_iter().skip(KEEP) {
        let _ = std::fs::remove_file(old);
    }
    Ok(path)
}

/// Starts the thread that writes what the runtime's cut hands over; returns the sink for
/// `RunOptions::checkpoints`. The thread ends when the sink's last sender is dropped.
///
/// # Errors
/// The thread cannot start.
pub fn start(
    dir: &Path,
    fingerprint: &str,
) -> std::io::Result<(Sender<Taken>, std::thread::JoinHandle<()>)> {
    let (sink, taken): (Sender<Taken>, Receiver<Taken>) = crossbeam_channel::bounded(QUEUE);
    let (dir, fingerprint) = (dir.to_path_buf(), fingerprint.to_owned());
    let thread = std::thread::Builder::new()
        .name("alpha-panda-checkpoint".into())
        .spawn(move || {
            let mut told = false;
            for (ticks, state) in taken {
                let Some(state) = state else {
                    if !std::mem::replace(&mut told, true) {
                        tracing::warn!(target: "app", "no checkpoints: a strategy or venue keeps none (ML strategies, live brokers); a restart replays the whole journal");
                    }
                    continue;
                };
                let file = CheckpointFile {
                    fingerprint: fingerprint.clone(),
                    engine_version: env!("CARGO_PKG_VERSION").to_owned(),
                    ticks,
                    state,
                };
                let watch = crate::clock::Stopwatch::start();
                match write(&dir, &file) {
                    Ok(path) => tracing::info!(target: "app", ticks, file = %path.display(), ms = watch.elapsed().as_secs_f64() * 1e3, "checkpoint written"),
                    Err(e) => tracing::error!(target: "app", ticks, error = %e, dir = %dir.display(), "checkpoint not written; recovery replays from the one before"),
                }
            }
        })?;
    Ok((sink, thread))
}

/// A checkpoint writer: its sink and thread.
pub type Writer = (Sender<Taken>, std::thread::JoinHandle<()>);

/// At the start of a live run: restores `engine` from the newest usable checkpoint of the
/// journal (returning after how many ticks it was taken, 0 without one), and starts the
/// writer of this run's checkpoints when `[journal] checkpoint_every` asks for them. Neither
/// with a live broker (its journal is archived, its state is the broker's) nor for a finished
/// journal (only replayed, no new ticks).
///
/// # Errors
/// A checkpoint that reads back but does not fit the engine (the message says how to go on),
/// or the writer thread cannot start.
pub fn recover(
    engine: &mut crate::runtime::Engine,
    journal: Option<&super::journal::JournalStart>,
    config: &crate::config::EngineConfig,
    live_broker: bool,
) -> Result<(u64, Option<Writer>), String> {
    let Some(j) = journal.filter(|_| !live_broker) else {
        return Ok((0, None));
    };
    let mut from = 0;
    if let Some((ticks, state, path)) = latest(&j.dir, j.fingerprint(), j.replay) {
        engine.restore(state).map_err(|e| {
            format!(
                "checkpoint {}: {e}; move it out of the journal dir to recover by replaying the whole journal",
                path.display()
            )
        })?;
        tracing::info!(target: "app", ticks, replay = j.replay - ticks, file = %path.display(), "recovering from a checkpoint: replaying only the journaled ticks after it");
        from = ticks;
    }
    let writer = if config.journal.checkpoint_every > 0 && !j.finished {
        Some(start(&j.dir, j.fingerprint()).map_err(|e| format!("checkpoint writer: {e}"))?)
    } else {
        None
    };
    Ok((from, writer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_are_not_whole_checkpoints_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let body = b"not bincode of a checkpoint".to_vec();
        let mut crc_ok = MAGIC.to_vec();
        crc_ok.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        crc_ok.extend_from_slice(&body);
        let mut crc_bad = crc_ok.clone();
        crc_bad[12] ^= 1;
        // A length prefix of 2^62 inside a CRC-valid file: refused, not allocated.
        let mut huge = vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f];
        huge.extend_from_slice(b"x");
        let mut crc_huge = MAGIC.to_vec();
        crc_huge.extend_from_slice(&crc32c::crc32c(&huge).to_le_bytes());
        crc_huge.extend_from_slice(&huge);
        for (ticks, bytes) in [
            (10, b"garbage".to_vec()),
            (20, crc_bad),
            (30, crc_ok),
            (40, crc_huge),
            (50, Vec::new()),
        ] {
            std::fs::write(dir.path().join(name(ticks)), bytes).unwrap();
        }
        std::fs::write(dir.path().join("checkpoint-x.apc"), b"").unwrap();
        assert_eq!(
            listed(dir.path()).iter().map(|f| f.0).collect::<Vec<_>>(),
            [50, 40, 30, 20, 10]
        );
        assert!(latest(dir.path(), "f", 100).is_none());
        assert!(
            read(&dir.path().join(name(20)))
                .unwrap_err()
                .contains("checksum")
        );
        assert!(
            read(&dir.path().join(name(40)))
                .unwrap_err()
                .contains("decode")
        );
    }
}
