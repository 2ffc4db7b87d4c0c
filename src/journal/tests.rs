//! The journal end to end in one process: the thread writes, the reader and scan read back,
//! torn tails are cut, corrupt records refused, a failed disk fails closed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::format::{RECORD_HEADER, SEGMENT_HEADER};
use super::reader::{JournalError, JournalReader};
use super::recover::scan;
use super::writer::{SegmentWriter, spawn};
use super::*;
use crate::domain::{Nanos, Tick};

fn tick(seq: u64) -> Tick {
    Tick {
        seq,
        ts: Nanos(1_700_000_000_000_000_000 + seq),
        ..Tick::default()
    }
}

fn start() -> Entry {
    Entry::Start(StartRecord {
        run_id: "r1".into(),
        fingerprint: "f".into(),
        engine_version: "0".into(),
        replayed_ticks: 0,
        wall_ns: 0,
        instruments: Vec::new(),
        books: Vec::new(),
    })
}

/// A journal of `n` ticks and one order per 10 ticks, written by the thread.
fn write(dir: &std::path::Path, n: u64, config: &JournalConfig) -> Arc<JournalShared> {
    let writer = SegmentWriter::create(dir, 0, config.segment_mib).unwrap();
    let journal = spawn(writer, start(), config, 0, Box::new(|| {})).unwrap();
    let mut link = journal.link.clone();
    let request = format::tests::samples()[2].clone();
    let Entry::Order(order) = request else {
        unreachable!()
    };
    for seq in 0..n {
        link.tick(&tick(seq));
        if seq % 10 == 0 {
            assert!(link.order(seq, ExecRecord::Order(order), true));
        }
    }
    let shared = Arc::clone(&link.shared);
    drop(link);
    drop(journal.link);
    journal.thread.join().unwrap();
    shared
}

fn last_segment(dir: &std::path::Path) -> std::path::PathBuf {
    reader::segments(dir).unwrap().pop().unwrap().1
}

#[test]
fn every_policy_writes_everything_in_order() {
    for fsync in [FsyncPolicy::Always, FsyncPolicy::Batch, FsyncPolicy::Never] {
        let dir = tempfile::tempdir().unwrap();
        let config = JournalConfig {
            fsync,
            ..JournalConfig::default()
        };
        let shared = write(dir.path(), 1000, &config);
        assert_eq!(shared.exec_durable.load(Ordering::Relaxed), 100);
        let s = scan(dir.path(), false).unwrap();
        assert_eq!(
            (s.records, s.ticks, s.orders),
            (1101, 1000, 100),
            "{fsync:?}"
        );
        assert_eq!(s.last_tick, Some(tick(999)));
        assert!(s.torn.is_none() && !s.finished);
        assert_eq!(s.next_seq, 1101);
    }
}

#[test]
fn segments_roll_over_and_read_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = JournalConfig {
        segment_mib: 1,
        fsync: FsyncPolicy::Never,
        ..JournalConfig::default()
    };
    write(dir.path(), 40_000, &config);
    let s = scan(dir.path(), false).unwrap();
    assert!(s.segments > 1, "{} segments", s.segments);
    assert_eq!(s.ticks, 40_000);
}

#[test]
fn a_torn_tail_is_cut_and_the_journal_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 50, &JournalConfig::default());
    let path = last_segment(dir.path());
    let whole = std::fs::read(&path).unwrap();
    // Half a record, as a crash mid-write leaves it.
    let mut torn = whole.clone();
    let mut extra = Vec::new();
    format::encode(55, &Entry::Tick(tick(50)), &mut extra).unwrap();
    torn.extend_from_slice(&extra[..extra.len() / 2]);
    std::fs::write(&path, &torn).unwrap();
    let s = scan(dir.path(), false).unwrap();
    let t = s.torn.clone().unwrap();
    assert_eq!(
        (t.offset, t.bytes),
        (whole.len() as u64, (extra.len() / 2) as u64)
    );
    assert_eq!(s.ticks, 50);
    scan(dir.path(), true).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        whole,
        "cut back to the last whole record"
    );
    assert!(scan(dir.path(), false).unwrap().torn.is_none());
    // A whole last record with a bad checksum, or one followed by zeros, is torn too.
    let mut flipped = whole.clone();
    let at = flipped.len() - 1;
    flipped[at] ^= 0x40;
    std::fs::write(&path, &flipped).unwrap();
    assert_eq!(scan(dir.path(), false).unwrap().ticks, 49);
    let mut zeros = whole.clone();
    zeros.extend_from_slice(&extra[..RECORD_HEADER]);
    zeros.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&path, &zeros).unwrap();
    assert!(scan(dir.path(), false).unwrap().torn.is_some());
}

#[test]
fn a_corrupt_record_in_the_middle_is_refused_with_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 50, &JournalConfig::default());
    let path = last_segment(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    // The first tick's payload: a record follows it, so it is no torn tail.
    let mut reader = JournalReader::open(dir.path()).unwrap();
    reader.next_record().unwrap();
    let second = reader.next_record().unwrap().unwrap();
    bytes[second.offset as usize + RECORD_HEADER + 2] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let e = scan(dir.path(), true).unwrap_err();
    assert!(
        matches!(&e, JournalError::Corrupt { offset, .. } if *offset == second.offset),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.contains(&format!("{}:{}", path.display(), second.offset)),
        "{text}"
    );
    assert!(text.contains("checksum"), "{text}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "nothing cut");
}

#[test]
fn a_missing_segment_or_a_foreign_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = JournalConfig {
        segment_mib: 1,
        fsync: FsyncPolicy::Never,
        ..JournalConfig::default()
    };
    write(dir.path(), 60_000, &config);
    let segments = reader::segments(dir.path()).unwrap();
    assert!(segments.len() >= 3, "{segments:?}");
    std::fs::remove_file(&segments[1].1).unwrap();
    let e = scan(dir.path(), false).unwrap_err().to_string();
    assert!(e.contains("segment starts at record"), "{e}");
    let other = tempfile::tempdir().unwrap();
    std::fs::write(
        other.path().join(format::segment_name(0)),
        b"not a journal at all, but long",
    )
    .unwrap();
    std::fs::write(other.path().join(format::segment_name(1)), b"").unwrap();
    let e = scan(other.path(), false).unwrap_err().to_string();
    assert!(e.contains(":0: not a journal segment"), "{e}");
}

#[test]
fn a_failed_disk_fails_closed() {
    // /dev/full takes the open but fails every write with ENOSPC.
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return;
    };
    drop(full);
    let dir = tempfile::tempdir().unwrap();
    let mut writer = SegmentWriter::create(dir.path(), 0, 64).unwrap();
    writer.replace_file_for_test("/dev/full");
    let stopped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stopped);
    let journal = spawn(
        writer,
        start(),
        &JournalConfig::default(),
        0,
        Box::new(move || flag.store(true, Ordering::Release)),
    )
    .unwrap();
    let mut link = journal.link.clone();
    let Entry::Order(order) = format::tests::samples()[2].clone() else {
        unreachable!()
    };
    link.tick(&tick(0));
    assert!(!link.order(0, ExecRecord::Order(order), true), "refused");
    assert!(stopped.load(Ordering::Acquire), "the run was asked to stop");
    let why = link.shared.failure().unwrap();
    assert!(why.contains("No space left"), "{why}");
    // Producers never block on a failed journal.
    for seq in 1..20_000 {
        link.tick(&tick(seq));
    }
    assert!(!link.order(1, ExecRecord::Order(order), false));
    drop(link);
    drop(journal.link);
    journal.thread.join().unwrap();
}

#[test]
fn a_checked_in_journal_of_this_version_still_reads() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/journal/v1");
    let dir = std::path::Path::new(dir);
    if std::env::var_os("UPDATE_GOLDEN").is_some() && !dir.exists() {
        let mut w = SegmentWriter::create(dir, 0, 64).unwrap();
        let mut buf = Vec::new();
        for e in format::tests::samples() {
            w.encode(&e, &mut buf).unwrap();
        }
        w.write(&buf).unwrap();
        w.sync().unwrap();
    }
    let mut reader = JournalReader::open(dir).unwrap();
    let mut read = Vec::new();
    while let Some(r) = reader.next_record().unwrap() {
        read.push(r.entry);
    }
    assert_eq!(read, format::tests::samples());
    assert!(reader.torn().is_none());
    assert_eq!(SEGMENT_HEADER, 16);
}

/// Contract of the journal thread: a tick is in the file before any record it caused. Here
/// the "execution" thread answers each tick the feed journaled (and then handed on) with a
/// record naming it, as fast as it can, so records race the ticks into the journal.
#[test]
fn a_record_is_never_written_before_the_tick_that_caused_it() {
    const TICKS: u64 = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let config = JournalConfig {
        fsync: FsyncPolicy::Never,
        ..JournalConfig::default()
    };
    let writer = SegmentWriter::create(dir.path(), 0, config.segment_mib).unwrap();
    let journal = spawn(writer, start(), &config, 0, Box::new(|| {})).unwrap();
    let Entry::Order(order) = format::tests::samples()[2].clone() else {
        unreachable!()
    };
    let (to_execution, from_feed) = crossbeam_channel::bounded::<u64>(64);
    let feed = journal.link.clone();
    let mut execution = journal.link.clone();
    let answering = std::thread::spawn(move || {
        for seq in from_feed {
            let mut caused = order;
            caused.correlation = seq;
            execution.record(seq, ExecRecord::Order(caused));
        }
    });
    for seq in 0..TICKS {
        feed.tick(&tick(seq));
        to_execution.send(seq).unwrap();
    }
    drop((to_execution, feed, journal.link));
    answering.join().unwrap();
    journal.thread.join().unwrap();

    let mut reader = JournalReader::open(dir.path()).unwrap();
    let mut written = 0u64;
    let mut answered = 0u64;
    while let Some(record) = reader.next_record().unwrap() {
        match record.entry {
            Entry::Tick(t) => written = written.max(t.seq + 1),
            Entry::Order(o) => {
                assert!(
                    o.correlation < written,
                    "record {} for tick {} before the tick",
                    record.seq,
                    o.correlation
                );
                answered += 1;
            }
            _ => {}
        }
    }
    assert_eq!((written, answered), (TICKS, TICKS));
}
