//! A record log that never grows on the tick path: records go into a buffer allocated
//! beforehand, and the runtime calls `flush` off the tick path (between chunks, or when a
//! stage thread is idle), which hands a buffer that is at least half full to the log and
//! allocates the next one there. Nothing is ever copied on the way, dropped or reordered:
//! should a buffer fill between two flushes, it is handed over at once (counted in `spills`).

/// Records a buffer holds before it is handed to the log.
pub const LOG_BUFFER: usize = 1 << 15;

#[derive(Clone, Debug)]
pub struct RecordLog<T> {
    pending: Vec<T>,
    /// Full buffers, in order.
    done: Vec<Vec<T>>,
    buffer: usize,
    len: usize,
    spills: u64,
}

impl<T: Copy> RecordLog<T> {
    pub fn new(buffer: usize) -> RecordLog<T> {
        let buffer = buffer.max(1);
        RecordLog {
            pending: Vec::with_capacity(buffer),
            done: Vec::new(),
            buffer,
            len: 0,
            spills: 0,
        }
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
    /// next, so the tick path finds room.
    pub fn flush(&mut self) {
        // Never an empty buffer: a 1-record log would allocate on every flush.
        if !self.pending.is_empty() && self.pending.len() >= self.buffer / 2 {
            self.hand_over();
        }
    }

    fn hand_over(&mut self) {
        let next = Vec::with_capacity(self.buffer);
        self.done.push(std::mem::replace(&mut self.pending, next));
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

    /// Every record, in order.
    pub fn into_vec(self) -> Vec<T> {
        let mut all = Vec::with_capacity(self.len);
        for chunk in self.done {
            all.extend_from_slice(&chunk);
        }
        all.extend_from_slice(&self.pending);
        all
    }
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
}
