//! Reads a journal directory record by record, checking everything.
//!
//! Contract:
//! - Segments are read in sequence order; each record's CRC, type, version and sequence
//!   number (one more than the last, across segments) are checked.
//! - A bad record at the end of the *last* segment (one that runs past or up to the end of
//!   the file, or is followed only by zero bytes) is a torn tail (a crash mid-write): `next_record` returns `None`
//!   and `torn()` says where it starts, so the caller can truncate it (`truncate_torn`).
//! - Anything else wrong is `JournalError::Corrupt` with `FILE:OFFSET: what`: a journal
//!   with a hole in the middle is never recovered from silently.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::Entry;
use super::format::{self, Header, MAX_PAYLOAD, RECORD_HEADER, SEGMENT_HEADER};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{offset}: {why}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        why: String,
    },
}

/// Where a torn tail starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Torn {
    pub path: PathBuf,
    pub offset: u64,
    /// Bytes from `offset` to the end of the file.
    pub bytes: u64,
}

/// A record as read: where it is and what it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub seq: u64,
    pub offset: u64,
    pub entry: Entry,
}

/// The segment files of `dir`, in sequence order (empty when the dir does not exist).
///
/// # Errors
/// The directory cannot be listed.
pub fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let io = |source| JournalError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        if let Some(seq) = name.to_str().and_then(format::parse_segment_name) {
            out.push((seq, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the records of a journal dir in order.
#[derive(Debug)]
pub struct JournalReader {
    segments: Vec<(u64, PathBuf)>,
    next_segment: usize,
    file: Option<(BufReader<File>, PathBuf, u64, u64)>,
    payload: Vec<u8>,
    expected_seq: Option<u64>,
    torn: Option<Torn>,
    done: bool,
}

impl JournalReader {
    /// # Errors
    /// The directory cannot be listed.
    pub fn open(dir: &Path) -> Result<JournalReader, JournalError> {
        Ok(JournalReader {
            segments: segments(dir)?,
            next_segment: 0,
            file: None,
            payload: Vec::new(),
            expected_seq: None,
            torn: None,
            done: false,
        })
    }

    /// The torn tail found at the end, once `next_record` returned `None`.
    pub fn torn(&self) -> Option<&Torn> {
        self.torn.as_ref()
    }

    /// The sequence number the next record written must carry.
    pub fn next_seq(&self) -> u64 {
        self.expected_seq.unwrap_or(0)
    }

    fn is_last_segment(&self) -> bool {
        self.next_segment == self.segments.len()
    }

    /// Opens the next segment; false when there is none.
    fn open_next(&mut self) -> Result<bool, JournalError> {
        let Some((first, path)) = self.segments.get(self.next_segment).cloned() else {
            return Ok(false);
        };
        self.next_segment += 1;
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut h = [0u8; SEGMENT_HEADER];
        let got = read_up_to(&mut reader, &mut h).map_err(io)?;
        if let Err(why) = format::check_segment_header(&h[..got]) {
            if self.is_last_segment()
                && got < SEGMENT_HEADER
                && h[..got] == format::segment_header()[..got]
            {
                // Created, then the crash: nothing of it was ever a record.
                self.torn = Some(Torn {
                    path,
                    offset: 0,
                    bytes: len,
                });
                return Ok(false);
            }
            return Err(JournalError::Corrupt {
                path,
                offset: 0,
                why,
            });
        }
        if let Some(expected) = self.expected_seq
            && expected != first
        {
            return Err(JournalError::Corrupt {
                path,
                offset: 0,
                why: format!(
                    "segment starts at record {first}; the one before ended at {}",
                    expected.saturating_sub(1)
                ),
            });
        }
        self.expected_seq = Some(first);
        self.file = Some((reader, path, SEGMENT_HEADER as u64, len));
        Ok(true)
    }

    /// The next record; `None` at the end (see `torn`).
    ///
    /// # Errors
    /// A corrupt record (anywhere but a torn tail) or an I/O error.
    pub fn next_record(&mut self) -> Result<Option<Record>, JournalError> {
        loop {
            if self.done {
                return Ok(None);
            }
            if self.file.is_none() && !self.open_next()? {
                self.done = true;
                return Ok(None);
            }
            let last = self.is_last_segment();
            let Some((reader, path, offset, len)) = self.file.as_mut() else {
                continue;
            };
            let at = *offset;
            if at == *len {
                self.file = None;
                continue;
            }
            let io = |source| JournalError::Io {
                path: path.clone(),
                source,
            };
            let mut h = [0u8; RECORD_HEADER];
            let got = read_up_to(reader, &mut h).map_err(io)?;
            let header = Header::parse(&h);
            let complete = got == RECORD_HEADER
                && header.len <= MAX_PAYLOAD
                && at + RECORD_HEADER as u64 + u64::from(header.len) <= *len;
            let mut bad = None;
            if complete {
                self.payload.resize(header.len as usize, 0);
                reader.read_exact(&mut self.payload).map_err(io)?;
                if !header.checks(&h, &self.payload) {
                    bad = Some("checksum mismatch".to_owned());
                }
            } else if got < RECORD_HEADER || header.len > MAX_PAYLOAD {
                bad = Some(if got < RECORD_HEADER {
                    format!("record header cut short ({got} of {RECORD_HEADER} bytes)")
                } else {
                    format!("record length {} over the limit {MAX_PAYLOAD}", header.len)
                });
            } else {
                bad = Some(format!(
                    "record of {} bytes runs past the end of the file",
                    header.len
                ));
            }
            if let Some(why) = bad {
                let (path, len) = (path.clone(), *len);
                let ends_file = at + RECORD_HEADER as u64 + u64::from(header.len) == len;
                let tail = last
                    && (!complete
                        || ends_file
                        || zeros_after(&path, at).map_err(|source| JournalError::Io {
                            path: path.clone(),
                            source,
                        })?);
                if tail {
                    self.torn = Some(Torn {
                        path,
                        offset: at,
                        bytes: len - at,
                    });
                    self.done = true;
                    return Ok(None);
                }
                return Err(JournalError::Corrupt {
                    path,
                    offset: at,
                    why,
                });
            }
            let expected = self.expected_seq.unwrap_or(header.seq);
            if header.seq != expected {
                return Err(JournalError::Corrupt {
                    path: path.clone(),
                    offset: at,
                    why: format!("record {} where record {expected} was due", header.seq),
                });
            }
            let entry =
                format::decode(header.kind, header.version, &self.payload).map_err(|why| {
                    JournalError::Corrupt {
                        path: path.clone(),
                        offset: at,
                        why,
                    }
                })?;
            *offset = at + RECORD_HEADER as u64 + u64::from(header.len);
            self.expected_seq = Some(header.seq + 1);
            return Ok(Some(Record {
                seq: header.seq,
                offset: at,
                entry,
            }));
        }
    }
}

/// Whether every byte of `path` from `offset + RECORD_HEADER` on is zero (a file extended
/// by a crash before its data landed) — the record's own header may be anything.
fn zeros_after(path: &Path, offset: u64) -> std::io::Result<bool> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset + RECORD_HEADER as u64))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(true);
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
    }
}

/// Reads until `buf` is full or the end of the file; how many bytes came.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Cuts a torn tail off its segment (removes the segment when nothing of it is left) and
/// syncs.
///
/// # Errors
/// The file cannot be truncated or synced.
pub fn truncate_torn(torn: &Torn) -> std::io::Result<()> {
    if torn.offset < SEGMENT_HEADER as u64 {
        std::fs::remove_file(&torn.path)?;
    } else {
        let file = std::fs::OpenOptions::new().write(true).open(&torn.path)?;
        file.set_len(torn.offset)?;
        file.sync_all()?;
    }
    if let Some(dir) = torn.path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}
