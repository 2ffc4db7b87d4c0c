//! Archived journals and how long they are kept.
//!
//! Contract:
//! - `archive` moves the segments of a journal dir into `archive/<name>/` beside them, so a
//!   new run can start on an empty journal while the old one stays readable by
//!   `alpha-panda journal` (point it at the archive folder).
//! - `apply` removes whole archives, oldest first: those older than `retain_days`, then as
//!   many as it takes to bring them under `retain_gib`. The live journal is never touched.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::JournalConfig;
use super::reader;

/// Moves every segment of `dir` into `dir/archive/<name>/`; returns that folder.
///
/// # Errors
/// The folder cannot be made, or a segment cannot be moved.
pub fn archive(dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut to = dir.join("archive").join(&safe);
    let mut n = 1;
    while to.exists() {
        n += 1;
        to = dir.join("archive").join(format!("{safe}.{n}"));
    }
    std::fs::create_dir_all(&to)?;
    let segments = reader::segments(dir).map_err(std::io::Error::other)?;
    for (_, path) in segments {
        if let Some(file) = path.file_name() {
            std::fs::rename(&path, to.join(file))?;
        }
    }
    // The checkpoints belong to the segments: they go with them.
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_checkpoint = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
            n.starts_with("checkpoint-") && (n.ends_with(".apc") || n.ends_with(".apc.tmp"))
        });
        if is_checkpoint && let Some(file) = path.file_name() {
            std::fs::rename(&path, to.join(file))?;
        }
    }
    std::fs::File::open(dir)?.sync_all()?;
    Ok(to)
}

/// Removes archives past the retention limits; one line per archive removed.
///
/// # Errors
/// An archive cannot be listed or removed.
pub fn apply(dir: &Path, config: &JournalConfig) -> std::io::Result<Vec<String>> {
    if config.retain_days.is_none() && config.retain_gib.is_none() {
        return Ok(Vec::new());
    }
    let root = dir.join("archive");
    let mut archives = Vec::new();
    let entries = match std::fs::read_dir(&root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let path = entry.path();
        let mut bytes = 0u64;
        let mut newest = SystemTime::UNIX_EPOCH;
        for file in std::fs::read_dir(&path)? {
            let meta = file?.metadata()?;
            bytes += meta.len();
            newest = newest.max(meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
        }
        archives.push((newest, bytes, path));
    }
    archives.sort();
    let now = SystemTime::UNIX_EPOCH + Duration::from_nanos(crate::clock::unix_now_ns());
    let mut total: u64 = archives.iter().map(|a| a.1).sum();
    let limit = config.retain_gib.map(|g| u64::from(g) << 30);
    let max_age = config
        .retain_days
        .map(|d| Duration::from_secs(u64::from(d) * 86_400));
    let mut removed = Vec::new();
    for (modified, bytes, path) in archives {
        let age = now.duration_since(modified).unwrap_or_default();
        let too_old = max_age.is_some_and(|max| age > max);
        let too_big = limit.is_some_and(|max| total > max);
        if !too_old && !too_big {
            continue;
        }
        std::fs::remove_dir_all(&path)?;
        total -= bytes;
        removed.push(format!(
            "removed archived journal {} ({} bytes, {} days old): {}",
            path.display(),
            bytes,
            age.as_secs() / 86_400,
            if too_old {
                "older than retain_days"
            } else {
                "over retain_gib"
            }
        ));
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_and_removes_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let seg = dir.path().join(crate::journal::format::segment_name(0));
        std::fs::write(&seg, b"x").unwrap();
        let to = archive(dir.path(), "run/1").unwrap();
        assert!(to.ends_with("archive/run_1"));
        assert!(!seg.exists());
        assert!(to.join(seg.file_name().unwrap()).exists());
        let config = JournalConfig {
            retain_days: Some(1),
            ..JournalConfig::default()
        };
        assert!(apply(dir.path(), &config).unwrap().is_empty(), "fresh");
        let big = vec![0u8; 2 << 20];
        std::fs::write(to.join("pad"), &big).unwrap();
        let config = JournalConfig {
            retain_gib: Some(1),
            ..JournalConfig::default()
        };
        assert!(
            apply(dir.path(), &config).unwrap().is_empty(),
            "under 1 GiB"
        );
    }
}
