//! One live run per directory, and each run's id.
//!
//! Contract:
//! - `RunLock::acquire` takes an exclusive OS file lock (`flock`, through std's
//!   `File::try_lock`) on `.alpha-panda.lock` in every directory a run writes (log, output,
//!   journal) *before* anything is written there. A second instance on any of them is
//!   refused with the holder's run id, pid and start time: it must not append to the running
//!   one's logs or overwrite its results.
//! - The kernel releases the lock when its process dies, however it dies, so a lock file
//!   left by a killed process is stale by construction: it is taken over and reported
//!   (`RunLock::taken_over`, logged once logging is up). No pid probing, no pid reuse
//!   races.
//! - A clean stop (drop) empties and removes the lock files.
//! - A run id is the start time and pid, `YYYYMMDDTHHMMSSZ-<pid hex>`: unique per box,
//!   sortable, in every log line, `summary.json` and the journal.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name in each locked directory.
pub const LOCK_FILE: &str = ".alpha-panda.lock";

#[derive(Debug, thiserror::Error)]
pub enum RunLockError {
    #[error("cannot use the directory {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "another alpha-panda run holds {lock} ({holder}): one run per log, output and journal \
         directory; stop it first, or give this run other directories"
    )]
    Held { lock: PathBuf, holder: String },
}

/// A new run id: `YYYYMMDDTHHMMSSZ-<pid hex>` (UTC).
pub fn new_run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{:x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        std::process::id()
    )
}

/// The locks of one run; released (and the files removed) on drop.
#[derive(Debug)]
pub struct RunLock {
    files: Vec<(PathBuf, File)>,
    taken_over: Vec<String>,
}

impl RunLock {
    /// Locks every directory of `dirs` (created if missing; duplicates locked once) for the
    /// run `run_id`.
    ///
    /// # Errors
    /// A directory cannot be created or its lock file opened, or another live process holds
    /// a lock (nothing stays locked then).
    pub fn acquire(dirs: &[&Path], run_id: &str) -> Result<RunLock, RunLockError> {
        let mut lock = RunLock {
            files: Vec::with_capacity(dirs.len()),
            taken_over: Vec::new(),
        };
        let mut seen: Vec<PathBuf> = Vec::new();
        for dir in dirs {
            let io = |source| RunLockError::Io {
                dir: dir.to_path_buf(),
                source,
            };
            std::fs::create_dir_all(dir).map_err(io)?;
            let canonical = dir.canonicalize().map_err(io)?;
            if seen.contains(&canonical) {
                continue;
            }
            seen.push(canonical);
            let path = dir.join(LOCK_FILE);
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io)?;
            let mut previous = String::new();
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let _ = file.read_to_string(&mut previous);
                    return Err(RunLockError::Held {
                        lock: path,
                        holder: describe(&previous),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
            let _ = file.read_to_string(&mut previous);
            if !previous.trim().is_empty() {
                lock.taken_over.push(format!(
                    "{}: taken over from a run that did not stop cleanly ({})",
                    path.display(),
                    describe(&previous)
                ));
            }
            let record = format!(
                "run_id={run_id}\npid={}\nstarted_unix={}\n",
                std::process::id(),
                crate::clock::unix_now_secs()
            );
            let written = file
                .set_len(0)
                .and_then(|()| file.seek(SeekFrom::Start(0)))
                .and_then(|_| file.write_all(record.as_bytes()))
                .and_then(|()| file.sync_data());
            written.map_err(io)?;
            lock.files.push((path, file));
        }
        Ok(lock)
    }

    /// Lock files left by runs that died, taken over (one line each, for the log).
    pub fn taken_over(&self) -> &[String] {
        &self.taken_over
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        for (path, file) in &self.files {
            // Removed while still locked, so no other run can see an empty, unlocked file.
            let _ = file.set_len(0);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `run_id=…, pid=…, started …` of a lock file's text.
fn describe(text: &str) -> String {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or("?")
            .trim()
            .to_owned()
    };
    format!(
        "run {}, pid {}, started at unix time {}",
        field("run_id"),
        field("pid"),
        field("started_unix")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_a_dead_one_taken_over_and_a_clean_one_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (logs, out) = (dir.path().join("logs"), dir.path().join("out"));
        let first = RunLock::acquire(&[&logs, &out, &logs], "run-a").unwrap();
        assert!(first.taken_over().is_empty());
        // Another open file description of the same file conflicts, as another process would.
        match RunLock::acquire(&[&out], "run-b") {
            Err(RunLockError::Held { lock, holder }) => {
                assert_eq!(lock, out.join(LOCK_FILE));
                assert!(holder.contains("run run-a"), "{holder}");
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        assert!(!logs.join(LOCK_FILE).exists(), "a clean stop removes it");
        // A lock file with content but no lock holder: a run that died.
        std::fs::write(
            out.join(LOCK_FILE),
            "run_id=run-dead\npid=7\nstarted_unix=1\n",
        )
        .unwrap();
        let next = RunLock::acquire(&[&logs, &out], "run-c").unwrap();
        assert_eq!(next.taken_over().len(), 1);
        assert!(next.taken_over()[0].contains("run run-dead, pid 7"));
        let text = std::fs::read_to_string(out.join(LOCK_FILE)).unwrap();
        assert!(text.starts_with("run_id=run-c\n"), "{text}");
    }

    #[test]
    fn run_ids_are_utc_stamps_with_the_pid() {
        let id = new_run_id();
        let (stamp, pid) = id.split_once('-').unwrap();
        assert_eq!(stamp.len(), 16, "{id}");
        assert!(stamp.ends_with('Z') && stamp.as_bytes()[8] == b'T', "{id}");
        assert_eq!(u32::from_str_radix(pid, 16).unwrap(), std::process::id());
    }
}
