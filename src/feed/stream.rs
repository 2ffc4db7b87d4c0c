//! Byte input of one data source: a file read through one fixed buffer, or bytes compiled
//! into the binary read in place. Memory stays at one buffer whatever the file size.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::PathBuf;
use std::sync::Arc;

use super::{DataSource, FeedError};

/// Size of the read buffer of a file source. A CSV line must fit in it.
pub(super) const READ_BUFFER: usize = 1 << 20;

enum Input {
    File {
        file: File,
        path: PathBuf,
        buf: Vec<u8>,
        start: usize,
        end: usize,
    },
    /// Embedded bytes need no buffer: they are already in memory.
    Bytes { bytes: &'static [u8], pos: usize },
}

/// Sequential bytes of one source with look-ahead: `available` shows what is buffered,
/// `consume` drops a prefix, `refill` reads more behind what is left.
pub(super) struct ByteStream {
    input: Input,
    /// Display name (path or embedded name) for messages.
    name: Arc<str>,
    /// Size of the whole source in bytes.
    len: u64,
    /// Bytes consumed so far.
    consumed: u64,
}

// By hand: a derived Debug would print the whole 1 MiB buffer.
impl std::fmt::Debug for ByteStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteStream")
            .field("name", &self.name)
            .field("len", &self.len)
            .field("consumed", &self.consumed)
            .finish_non_exhaustive()
    }
}

impl ByteStream {
    /// Opens a source.
    ///
    /// # Errors
    /// The file cannot be opened or its size read.
    pub(super) fn open(source: &DataSource) -> Result<ByteStream, FeedError> {
        match source {
            DataSource::File(path) => {
                let io = |source| FeedError::Io {
                    path: path.clone(),
                    source,
                };
                let file = File::open(path).map_err(io)?;
                let len = file.metadata().map_err(io)?.len();
                Ok(ByteStream {
                    input: Input::File {
                        file,
                        path: path.clone(),
                        buf: vec![0; READ_BUFFER],
                        start: 0,
                        end: 0,
                    },
                    name: Arc::from(path.display().to_string()),
                    len,
                    consumed: 0,
                })
            }
            DataSource::Embedded { name, bytes } => Ok(ByteStream {
                input: Input::Bytes { bytes, pos: 0 },
                name: Arc::from(*name),
                len: bytes.len() as u64,
                consumed: 0,
            }),
        }
    }

    pub(super) fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Size of the whole source in bytes.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// The buffered bytes not consumed yet.
    #[inline]
    pub(super) fn available(&self) -> &[u8] {
        match &self.input {
            Input::File {
                buf, start, end, ..
            } => &buf[*start..*end],
            Input::Bytes { bytes, pos } => &bytes[*pos..],
        }
    }

    /// Bytes consumed so far (headers included).
    pub(super) fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Drops the first `n` available bytes.
    #[inline]
    pub(super) fn consume(&mut self, n: usize) {
        let n = n.min(self.available().len());
        self.consumed += n as u64;
        match &mut self.input {
            Input::File { start, .. } => *start += n,
            Input::Bytes { pos, .. } => *pos += n,
        }
    }

    /// True when the available bytes fill the whole buffer, so `refill` cannot add any.
    pub(super) fn is_full(&self) -> bool {
        match &self.input {
            Input::File {
                buf, start, end, ..
            } => *start == 0 && *end == buf.len(),
            Input::Bytes { .. } => false,
        }
    }

    /// Reads more bytes behind the available ones. Returns how many were added; 0 means the
    /// end of the input (or a full buffer, see `is_full`).
    ///
    /// # Errors
    /// A read error of the file.
    pub(super) fn refill(&mut self) -> Result<usize, FeedError> {
        let Input::File {
            file,
            path,
            buf,
            start,
            end,
        } = &mut self.input
        else {
            return Ok(0);
        };
        if *start > 0 {
            // Move the unfinished tail (part of a line or record) to the front so the
            // buffer never grows.
            buf.copy_within(*start..*end, 0);
            *end -= *start;
            *start = 0;
        }
        loop {
            match file.read(&mut buf[*end..]) {
                Ok(n) => {
                    *end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(FeedError::Io {
                        path: path.clone(),
                        source,
                    });
                }
            }
        }
    }

    /// Makes at least `n` bytes available if the input has them; returns what is available.
    ///
    /// # Errors
    /// A read error of the file.
    pub(super) fn peek(&mut self, n: usize) -> Result<&[u8], FeedError> {
        while self.available().len() < n && !self.is_full() {
            if self.refill()? == 0 {
                break;
            }
        }
        Ok(self.available())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn file_and_embedded_streams_yield_the_same_bytes() {
        let data: Vec<u8> = (0..(READ_BUFFER * 2 + 123))
            .map(|i| (i % 251) as u8)
            .collect();
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(&data).expect("write");
        let leaked: &'static [u8] = Box::leak(data.clone().into_boxed_slice());
        let sources = [
            ("file", DataSource::File(file.path().to_path_buf())),
            (
                "embedded",
                DataSource::Embedded {
                    name: "mem",
                    bytes: leaked,
                },
            ),
        ];
        for (name, source) in sources {
            let mut stream = ByteStream::open(&source).expect("open");
            assert_eq!(stream.len(), data.len() as u64, "{name}: len");
            let mut seen = Vec::new();
            loop {
                // Consume in odd-sized steps so the tail is moved on refill.
                let take = stream.available().len().min(1000);
                seen.extend_from_slice(&stream.available()[..take]);
                stream.consume(take);
                if stream.available().is_empty() && stream.refill().expect("refill") == 0 {
                    break;
                }
            }
            assert_eq!(seen, data, "{name}: bytes");
            assert_eq!(stream.consumed(), data.len() as u64, "{name}: consumed");
        }
    }

    #[test]
    fn missing_file_is_an_io_error_naming_the_path() {
        let source = DataSource::File(PathBuf::from("/nonexistent/ticks.csv"));
        let err = ByteStream::open(&source).expect_err("missing file");
        assert!(err.to_string().contains("/nonexistent/ticks.csv"), "{err}");
    }
}
