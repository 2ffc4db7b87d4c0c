//! A record log that never grows on the tick path: records go into a buffer allocated
//! beforehand, and the runtime calls `flush` off the tick path (between chunks, or when a
//! stage thread is idle), which hands a buffer that is at least half full to the log and
//! allocates the next one there. Nothing is ever copied on the way, dropped or reordered:
//! should a buffer fill between two flushes, it is handed over at once (counted in `spills`).
//!
//! A log told to [`RecordLog::spill_to`] a directory (a live run, which has no end) also
//! writes its full buffers to an anonymous file there at each `flush`, so its memory stays
//! at two buffers however long the run; [`RecordLog::into_vec`] reads them back. A failed
//! write keeps the buffers in memory (nothing lost) and is logged once.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Records a buffer holds before it is handed to the log.
pub const LOG_BUFFER: usize = 1 << 15;

#[derive(Debug)]
pub struct RecordLog<T> {
    pending: Vec<T>,
    /// Full buffers, in order (after those on disk).
    done: Vec<Vec<T>>,
    buffer: usize,
    len: usize,
    spills: u64,
    disk: Option<Disk>,
}

/// Full buffers written out, each one bincode `Vec<T>`.
#[derive(Debug)]
struct Disk {
    file: File,
    chunks: usize,
    /// The first write error; writing stops then and buffers stay in memory.
    failed: bool,
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
}

impl<T: Copy + Serialize + DeserializeOwned> RecordLog<T> {
    pub fn new(buffer: usize) -> RecordLog<T> {
        let buffer = buffer.max(1);
        RecordLog {
            pending: Vec::with_capacity(buffer),
            done: Vec::new(),
            buffer,
            len: 0,
            spills: 0,
            disk: None,
        }
    }

    /// From the next `flush` on, full buffers go to an anonymous file in `dir` (removed by
    /// the OS when the log is dropped, even after a crash).
    ///
    /// # Errors
    /// The file cannot be created in `dir`.
    pub fn spill_to(&mut self, dir: &Path) -> io::Result<()> {
        let file = tempfile::tempfile_in(dir)?;
        self.disk = Some(Disk {
            file,
            chunks: 0,
            failed: false,
        });
        Ok(())
    }

    /// Tick path: buffers one record (no allocation while the buffer has room).
    #[inline]
    pub fn record(&mut self, item: T) {
        if self.pending.len() == self.pending.capacity() {
            self.spills += 1;
            self.hand_over();
        }
        self.pending.push(item);
        self.len += 1;
    }

    /// Off the tick path: hands a buffer at least half full to the log and allocates the
    /// next, so the tick path finds room; a spilling log writes its full buffers out.
    pub fn flush(&mut self) {
        // Never an empty buffer: a 1-record log would allocate on every flush.
        if !self.pending.is_empty() && self.pending.len() >= self.buffer / 2 {
            self.hand_over();
        }
        self.write_out();
    }

    fn hand_over(&mut self) {
        let next = Vec::with_capacity(self.buffer);
        self.done.push(std::mem::replace(&mut self.pending, next));
    }

    fn write_out(&mut self) {
        let Some(disk) = self.disk.as_mut().filter(|d| !d.failed) else {
            return;
        };
        let mut written = 0;
        for chunk in &self.done {
            let mut out = BufWriter::new(&disk.file);
            let result = bincode::serde::encode_into_std_write(chunk, &mut out, bincode_config())
                .map_err(io::Error::other)
                .and_then(|_| out.flush());
            if let Err(e) = result {
                // The chunk may be half written: the file ends at the last whole chunk.
                drop(out);
                disk.failed = true;
                tracing::error!(target: "app", error = %e, records = self.len, "cannot spill the run's records to disk; keeping them in memory");
                break;
            }
            disk.chunks += 1;
            written += 1;
        }
        self.done.drain(..written);
    }

    /// Records so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Times a buffer filled between two flushes.
    pub fn spills(&self) -> u64 {
        self.spills
    }

    /// Every record so far, in order, leaving the log as it is (a checkpoint).
    ///
    /// # Errors
    /// Records on disk cannot be read back.
    pub fn copy_all(&self) -> io::Result<Vec<T>> {
        let mut all = Vec::with_capacity(self.len);
        if let Some(disk) = &self.disk {
            read_back(disk, &mut all)?;
        }
        for chunk in &self.done {
            all.extend_from_slice(chunk);
        }
        all.extend_from_slice(&self.pending);
        Ok(all)
    }

    /// Every record, in order. Records on disk that cannot be read back (a disk error) are
    /// logged as an error and left out; the journal of a live run still holds them.
    pub fn into_vec(self) -> Vec<T> {
        let mut all = Vec::with_capacity(self.len);
        if let Some(disk) = self.disk
            && let Err(e) = read_back(&disk, &mut all)
        {
            tracing::error!(target: "app", error = %e, missing = self.len - all.len() - self.pending.len() - self.done.iter().map(Vec::len).sum::<usize>(), "cannot read the run's spilled records back; the reports miss them");
        }
        for chunk in self.done {
            all.extend_from_slice(&chunk);
        }
        all.extend_from_slice(&self.pending);
        all
    }
}

/// Reads `file` from `pos` on without moving its offset (writes go on at the end).
struct At<'a> {
    file: &'a File,
    pos: u64,
}

impl io::Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = std::os::unix::fs::FileExt::read_at(self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Appends the chunks written to `disk` to `all`.
fn read_back<T: Copy + DeserializeOwned>(disk: &Disk, all: &mut Vec<T>) -> io::Result<()> {
    let mut input = BufReader::new(At {
        file: &disk.file,
        pos: 0,
    });
    for _ in 0..disk.chunks {
        let chunk: Vec<T> = bincode::serde::decode_from_std_read(&mut input, bincode_config())
            .map_err(io::Error::other)?;
        all.extend_from_slice(&chunk);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_their_order_across_flushes_and_spills() {
        let mut log = RecordLog::new(4);
        for i in 0..3 {
            log.record(i);
        }
        log.flush();
        log.record(3);
        log.flush();
        for i in 4..13 {
            log.record(i);
        }
        assert_eq!(log.len(), 13);
        assert_eq!(
            log.spills(),
            2,
            "9 records into buffers of 4 without a flush"
        );
        assert_eq!(log.into_vec(), (0..13).collect::<Vec<_>>());
    }

    #[test]
    fn a_flush_leaves_room_for_the_next_records() {
        let mut log = RecordLog::new(8);
        for i in 0..5 {
            log.record(i);
        }
        log.flush();
        for i in 5..13 {
            log.record(i);
        }
        assert_eq!(
            log.spills(),
            0,
            "the flush handed over the half-full buffer"
        );
        assert_eq!(log.into_vec().len(), 13);
    }

    #[test]
    fn a_spilling_log_holds_two_buffers_and_gives_every_record_back_in_order() {
        let dir = tempfile::tempdir().expect("dir");
        let mut log = RecordLog::new(8);
        log.spill_to(dir.path()).expect("spill file");
        for i in 0..1000u64 {
            log.record(i);
            if i % 5 == 4 {
                log.flush();
            }
            assert!(log.done.is_empty() || log.done.len() == 1, "at {i}");
        }
        // Spilled between flushes too: handed over on the tick path, written at the flush.
        for i in 1000..1100u64 {
            log.record(i);
        }
        log.flush();
        assert!(log.done.is_empty(), "written out");
        assert!(log.disk.as_ref().is_some_and(|d| d.chunks > 100));
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("dir").count(),
            0,
            "the spill file has no name"
        );
        assert_eq!(log.len(), 1100);
        assert_eq!(log.into_vec(), (0..1100).collect::<Vec<_>>());
    }

    #[test]
    fn a_failed_spill_keeps_the_records_in_memory() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("read-only");
        std::fs::write(&path, b"").expect("file");
        let mut log = RecordLog::new(4);
        // A read-only handle: every write fails.
        log.disk = Some(Disk {
            file: File::open(&path).expect("open"),
            chunks: 0,
            failed: false,
        });
        for i in 0..30u32 {
            log.record(i);
            log.flush();
        }
        assert!(log.disk.as_ref().is_some_and(|d| d.failed));
        assert!(!log.done.is_empty(), "kept in memory");
        assert_eq!(log.into_vec(), (0..30).collect::<Vec<_>>());
    }
}
