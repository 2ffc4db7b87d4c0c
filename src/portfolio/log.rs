//! A record log that never grows on the tick path: records go into a buffer allocated at
//! start-up, and the runtime moves them to the growing log off the tick path (between
//! chunks, or when a stage thread is idle), where an allocation does not delay a tick.
//! Nothing is ever dropped or reordered: should the buffer fill between two flushes, the
//! record goes straight to the log (counted in `spills`).

/// Records buffered between flushes before the log has to take them on the tick path.
pub const LOG_BUFFER: usize = 1 << 16;

#[derive(Clone, Debug)]
pub struct RecordLog<T> {
    pending: Vec<T>,
    log: Vec<T>,
    spills: u64,
}

impl<T: Copy> RecordLog<T> {
    pub fn new(buffer: usize) -> RecordLog<T> {
        RecordLog {
            pending: Vec::with_capacity(buffer.max(1)),
            log: Vec::new(),
            spills: 0,
        }
    }

    /// Tick path: buffers one record (no allocation while the buffer has room).
    #[inline]
    pub fn record(&mut self, item: T) {
        if self.pending.len() == self.pending.capacity() {
            self.spills += 1;
            self.flush();
        }
        self.pending.push(item);
    }

    /// Off the tick path: moves the buffered records to the log.
    pub fn flush(&mut self) {
        self.log.extend_from_slice(&self.pending);
        self.pending.clear();
    }

    /// Records so far (logged and buffered).
    pub fn len(&self) -> usize {
        self.log.len() + self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Times the buffer filled between two flushes.
    pub fn spills(&self) -> u64 {
        self.spills
    }

    /// Every record, in order.
    pub fn into_vec(mut self) -> Vec<T> {
        self.flush();
        self.log
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
        for i in 3..10 {
            log.record(i);
        }
        assert_eq!(log.len(), 10);
        assert_eq!(
            log.spills(),
            1,
            "7 records into a buffer of 4 without a flush"
        );
        assert_eq!(log.into_vec(), (0..10).collect::<Vec<_>>());
    }
}
