//! `[journal]` of `engine.toml`: where a live run journals and how hard it syncs.
//!
//! `fsync`: `"always"` syncs after every write (an order waits for its sync), `"batch"`
//! groups syncs, at most one per `batch_ms` (an order waits for the next one), `"never"`
//! leaves syncing to the OS: the records survive a killed process (they are in the page
//! cache) but not a power cut. Backtests do not journal: their data file is their record.

use std::path::{Path, PathBuf};

use crate::config::fields::Fields;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FsyncPolicy {
    Always,
    #[default]
    Batch,
    Never,
}

impl FsyncPolicy {
    pub fn name(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::Batch => "batch",
            FsyncPolicy::Never => "never",
        }
    }
}

/// Largest `batch_ms`: beyond it an order would wait for its sync longer than any operator
/// would accept.
pub const MAX_BATCH_MS: i64 = 1_000;

#[derive(Clone, Debug, PartialEq)]
pub struct JournalConfig {
    /// Off: a live run keeps no journal and cannot recover.
    pub enabled: bool,
    /// `None`: `journal` under the output dir.
    pub dir: Option<PathBuf>,
    pub fsync: FsyncPolicy,
    /// Group-commit interval for `fsync = "batch"`, ms.
    pub batch_ms: u32,
    /// A segment is closed and a new one started past this size, MiB.
    pub segment_mib: u32,
    /// Archived journals (`alpha-panda journal archive`) older than this are removed at start.
    pub retain_days: Option<u32>,
    /// Archived journals beyond this total size are removed at start, oldest first, GiB.
    pub retain_gib: Option<u32>,
    /// A checkpoint of the engine's state every this many ticks (0: none), so a restart
    /// replays only the ticks after the last one.
    pub checkpoint_every: u64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            enabled: true,
            dir: None,
            fsync: FsyncPolicy::Batch,
            batch_ms: 2,
            segment_mib: 64,
            retain_days: None,
            retain_gib: None,
            checkpoint_every: 1_000_000,
        }
    }
}

impl JournalConfig {
    /// The journal dir of a run writing its results to `output_dir`.
    pub fn dir_for(&self, output_dir: &Path) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| output_dir.join("journal"))
    }
}

/// Reads `[journal]`.
pub(crate) fn read(root: &mut Fields<'_, '_>, into: &mut JournalConfig) {
    let Some((table, offset)) = root.opt_table("journal") else {
        return;
    };
    let mut j = root.sub(table, "journal", offset);
    if let Some(enabled) = j.opt_bool("enabled") {
        into.enabled = enabled;
    }
    if let Some((dir, _)) = j.opt_str("dir") {
        into.dir = Some(PathBuf::from(dir));
    }
    if let Some((fsync, _)) = j.opt_choice("fsync", &["always", "batch", "never"]) {
        into.fsync = match fsync.as_str() {
            "always" => FsyncPolicy::Always,
            "never" => FsyncPolicy::Never,
            _ => FsyncPolicy::Batch,
        };
    }
    if let Some(ms) = j.opt_int("batch_ms", 1, MAX_BATCH_MS) {
        into.batch_ms = ms as u32;
    }
    if let Some(mib) = j.opt_int("segment_mib", 1, 4096) {
        into.segment_mib = mib as u32;
    }
    if let Some(days) = j.opt_int("retain_days", 1, 36_500) {
        into.retain_days = Some(days as u32);
    }
    if let Some(gib) = j.opt_int("retain_gib", 1, 1 << 20) {
        into.retain_gib = Some(gib as u32);
    }
    if let Some(every) = j.opt_int("checkpoint_every", 0, 1_000_000_000_000) {
        into.checkpoint_every = every as u64;
    }
    j.finish();
}

#[cfg(test)]
mod tests {
    use crate::config::EngineConfig;
    use std::path::Path;

    #[test]
    fn reads_journal_and_refuses_bad_values() {
        let ok = "[venue.paper]\n[journal]\ndir = \"j\"\nfsync = \"always\"\nbatch_ms = 5\nsegment_mib = 8\nretain_days = 3\nretain_gib = 2\n";
        let c = EngineConfig::parse(Path::new("e.toml"), ok).unwrap();
        assert_eq!(c.journal.fsync, super::FsyncPolicy::Always);
        assert_eq!(c.journal.batch_ms, 5);
        assert_eq!(c.journal.segment_mib, 8);
        assert_eq!(c.journal.retain_days, Some(3));
        assert_eq!(c.journal.dir_for(Path::new("out")), Path::new("j"));
        let bad = "[venue.paper]\n[journal]\nfsync = \"sometimes\"\nbatch_ms = 0\nextra = 1\n";
        let e = EngineConfig::parse(Path::new("e.toml"), bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("journal.fsync"), "{e}");
        assert!(e.contains("journal.batch_ms"), "{e}");
        assert!(e.contains("journal.extra"), "{e}");
        let d = EngineConfig::parse(Path::new("e.toml"), "[venue.paper]\n").unwrap();
        assert_eq!(
            d.journal.dir_for(Path::new("out")),
            Path::new("out/journal")
        );
    }
}
