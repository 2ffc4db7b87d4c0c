//! The dead-letter writer thread and the handle the finding threads hold.
//!
//! Contract:
//! - `DeadLetterWriter::start` spawns one thread that owns the file; `DeadLetters` (cheap to
//!   clone) hands letters to it over a bounded queue of `QUEUE` letters.
//! - `record` waits for room (file readers: lossless, they can wait); `offer` never waits
//!   (socket and engine threads: a full queue drops the letter and counts it).
//! - Both count the letter by source first, in the handle and, when the run has one, in its
//!   `Telemetry` (the metrics endpoint's `alpha_panda_dead_letters_total{source}`); letters
//!   not written (full queue, writer gone, a write error) also count as dropped.
//! - The file `<dir>/<run id>.jsonl` is created with the first letter (never overwriting: a
//!   name taken gets `-2`, `-3`, ...), written through a buffer flushed whenever the queue
//!   runs empty, so a reader sees every letter within one queue drain.
//! - `finish` (or drop) lets the thread write what was queued before it, flushes and joins;
//!   letters handed over afterwards are counted as dropped.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use super::file::{EXTENSION, Header, encode_header, encode_letter};
use super::{Letter, Source};
use crate::metrics::telemetry::Telemetry;

/// Letters queued for the writer thread.
pub const QUEUE: usize = 4096;

enum Message {
    Letter(Letter),
    Stop,
}

/// Counters shared by the handles and the writer thread.
#[derive(Debug, Default)]
struct Shared {
    by_source: [AtomicU64; Source::COUNT],
    dropped: AtomicU64,
    telemetry: Option<Arc<Telemetry>>,
}

impl Shared {
    fn dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        if let Some(t) = &self.telemetry {
            t.dead_letters_dropped.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// The finding threads' end: hands letters to the writer thread.
#[derive(Clone)]
pub struct DeadLetters {
    tx: Sender<Message>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("queued", &self.tx.len())
            .finish_non_exhaustive()
    }
}

impl DeadLetters {
    fn count(&self, source: Source) {
        self.shared.by_source[source as usize].fetch_add(1, Ordering::Relaxed);
        if let Some(t) = &self.shared.telemetry {
            t.dead_letters[source as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Hands a letter over, waiting while the queue is full. For threads that read files.
    pub fn record(&self, letter: Letter) {
        self.count(letter.source);
        if self.tx.send(Message::Letter(letter)).is_err() {
            self.shared.dropped(1);
        }
    }

    /// Hands a letter over if the queue has room, else drops and counts it. Never waits.
    pub fn offer(&self, letter: Letter) {
        self.count(letter.source);
        match self.tx.try_send(Message::Letter(letter)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.shared.dropped(1),
        }
    }

    /// Letters handed over so far, by source (indexed like `Source::ALL`).
    pub fn counts(&self) -> [u64; Source::COUNT] {
        std::array::from_fn(|i| self.shared.by_source[i].load(Ordering::Relaxed))
    }

    /// Letters handed over but not written.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

/// What the writer did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriterReport {
    /// The file, when any letter came.
    pub path: Option<PathBuf>,
    pub written: u64,
    /// Handed over but not written (full queue, after the end, a write error).
    pub dropped: u64,
    /// Letters by source (indexed like `Source::ALL`).
    pub by_source: [u64; Source::COUNT],
    /// Why writing stopped, if it did.
    pub error: Option<String>,
}

impl WriterReport {
    pub fn total(&self) -> u64 {
        self.by_source.iter().sum()
    }
}

/// What the writer thread did: its file, the letters written, the error that stopped it.
type Written = (Option<PathBuf>, u64, Option<String>);

/// Owns the writer thread.
#[derive(Debug)]
pub struct DeadLetterWriter {
    handle: DeadLetters,
    thread: Option<JoinHandle<Written>>,
    report: Option<WriterReport>,
}

impl DeadLetterWriter {
    /// Starts the writer for a run whose file goes in `dir` (created with the first letter).
    ///
    /// # Errors
    /// The thread cannot be spawned.
    pub fn start(
        dir: PathBuf,
        header: Header,
        telemetry: Option<Arc<Telemetry>>,
    ) -> std::io::Result<DeadLetterWriter> {
        let (tx, rx) = bounded(QUEUE);
        let shared = Arc::new(Shared {
            telemetry,
            ..Shared::default()
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("alpha-panda-dead-letters".into())
            .spawn(move || write_loop(&rx, &dir, &header, &thread_shared))?;
        Ok(DeadLetterWriter {
            handle: DeadLetters { tx, shared },
            thread: Some(thread),
            report: None,
        })
    }

    /// A handle for a thread that finds dead letters.
    pub fn handle(&self) -> DeadLetters {
        self.handle.clone()
    }

    /// Writes what was queued, flushes, stops the thread; idempotent.
    pub fn finish(&mut self) -> WriterReport {
        if let Some(report) = &self.report {
            return report.clone();
        }
        let (path, written, error) = match self.thread.take() {
            Some(thread) => {
                // Waits for room: everything queued before it is written first.
                let _ = self.handle.tx.send(Message::Stop);
                thread
                    .join()
                    .unwrap_or((None, 0, Some("the writer thread panicked".into())))
            }
            None => (None, 0, None),
        };
        let report = WriterReport {
            path,
            written,
            dropped: self.handle.dropped(),
            by_source: self.handle.counts(),
            error,
        };
        self.report = Some(report.clone());
        report
    }
}

impl Drop for DeadLetterWriter {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The writer thread: returns the file, the letters written and the error that stopped it.
fn write_loop(rx: &Receiver<Message>, dir: &Path, header: &Header, shared: &Shared) -> Written {
    let mut out: Option<(PathBuf, BufWriter<File>)> = None;
    let mut error: Option<String> = None;
    let mut written = 0u64;
    let mut line = Vec::with_capacity(512);
    while let Ok(Message::Letter(letter)) = rx.recv() {
        if error.is_some() {
            shared.dropped(1);
            continue;
        }
        let result = (|| -> std::io::Result<()> {
            if out.is_none() {
                out = Some(create(dir, header)?);
            }
            line.clear();
            encode_letter(written + 1, &letter, &mut line);
            if let Some((_, w)) = &mut out {
                w.write_all(&line)?;
                if rx.is_empty() {
                    w.flush()?;
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) => written += 1,
            Err(e) => {
                let message = format!("dead letters: writing to {}: {e}", dir.display());
                tracing::error!(target: "error", "{message}; later dead letters are only counted");
                error = Some(message);
                shared.dropped(1);
            }
        }
    }
    if let Some((path, w)) = &mut out
        && let Err(e) = w.flush()
        && error.is_none()
    {
        let message = format!("dead letters: flushing {}: {e}", path.display());
        tracing::error!(target: "error", "{message}");
        error = Some(message);
    }
    (out.map(|(path, _)| path), written, error)
}

/// Creates the run's file (a new name if taken) and writes the header.
fn create(dir: &Path, header: &Header) -> std::io::Result<(PathBuf, BufWriter<File>)> {
    std::fs::create_dir_all(dir)?;
    let mut attempt = 1u32;
    loop {
        let name = if attempt == 1 {
            format!("{}.{EXTENSION}", header.run_id)
        } else {
            format!("{}-{attempt}.{EXTENSION}", header.run_id)
        };
        let path = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => {
                let mut w = BufWriter::with_capacity(64 * 1024, file);
                let mut bytes = Vec::new();
                encode_header(header, &mut bytes);
                w.write_all(&bytes)?;
                return Ok((path, w));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dlq::{Origin, file};
    use crate::domain::InstrumentTable;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ap-dlq-writer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn letter(i: u64) -> Letter {
        Letter::now(
            Source::CsvRow,
            format!("a.csv:{i}: field 'bid': bad"),
            Origin::Line {
                file: "a.csv".into(),
                line: i,
                columns: 8,
            },
            format!("{i},X,bad,,,,,").into_bytes(),
        )
    }

    #[test]
    fn a_clean_run_leaves_no_file() {
        let dir = temp("clean");
        let header = Header::new("run", &InstrumentTable::new());
        let mut writer = DeadLetterWriter::start(dir.clone(), header, None).expect("start");
        let report = writer.finish();
        assert_eq!(report, WriterReport::default());
        assert!(!dir.exists());
    }

    #[test]
    fn every_recorded_letter_is_written_in_order_and_counted() {
        let dir = temp("order");
        let mut table = InstrumentTable::new();
        table.intern("X");
        let shape = crate::metrics::telemetry::TelemetryShape::default();
        let telemetry = Arc::new(Telemetry::new(shape));
        let header = Header::new("run", &table);
        let mut writer = DeadLetterWriter::start(dir.clone(), header, Some(Arc::clone(&telemetry)))
            .expect("start");
        let handle = writer.handle();
        // More than the queue holds: `record` waits rather than drops.
        let n = QUEUE as u64 * 2 + 3;
        let producer = std::thread::spawn(move || {
            for i in 1..=n {
                handle.record(letter(i));
            }
        });
        producer.join().expect("producer");
        let report = writer.finish();
        assert_eq!((report.written, report.dropped, report.total()), (n, 0, n));
        assert_eq!(
            telemetry.dead_letters[Source::CsvRow as usize].load(Ordering::Relaxed),
            n
        );
        let path = report.path.expect("a file");
        assert_eq!(path, dir.join("run.jsonl"));
        let read = file::read(&path).expect("read back");
        assert_eq!(read.header.instruments.len(), 1);
        assert_eq!(read.letters.len() as u64, n);
        for (i, l) in read.letters.iter().enumerate() {
            assert_eq!(l.n, i as u64 + 1);
            let mut expected = letter(i as u64 + 1);
            expected.time_unix_ns = l.letter.time_unix_ns;
            assert_eq!(l.letter, expected);
        }
        // A second run with the same id never overwrites the first.
        let mut again =
            DeadLetterWriter::start(dir.clone(), Header::new("run", &table), None).expect("start");
        again.handle().record(letter(1));
        assert_eq!(again.finish().path, Some(dir.join("run-2.jsonl")));
    }

    #[test]
    fn offer_never_waits_and_counts_what_it_drops() {
        let dir = temp("offer");
        let header = Header::new("run", &InstrumentTable::new());
        let mut writer = DeadLetterWriter::start(dir, header, None).expect("start");
        let handle = writer.handle();
        let n = QUEUE as u64 * 4;
        for i in 1..=n {
            handle.offer(letter(i));
        }
        let report = writer.finish();
        assert_eq!(report.total(), n);
        assert_eq!(report.written + report.dropped, n);
        // After the end, letters are counted, not written.
        handle.offer(letter(1));
        handle.record(letter(2));
        assert_eq!(handle.dropped(), report.dropped + 2);
    }

    #[test]
    fn an_unwritable_directory_stops_writing_but_not_counting() {
        let blocker = temp("blocked");
        std::fs::write(&blocker, b"a file where the directory should be").expect("file");
        let header = Header::new("run", &InstrumentTable::new());
        let mut writer = DeadLetterWriter::start(blocker.join("dl"), header, None).expect("start");
        let handle = writer.handle();
        handle.record(letter(1));
        handle.record(letter(2));
        let report = writer.finish();
        assert_eq!((report.written, report.dropped, report.total()), (0, 2, 2));
        assert!(
            report
                .error
                .is_some_and(|e| e.contains("dead letters: writing to"))
        );
        let _ = std::fs::remove_file(blocker);
    }
}
