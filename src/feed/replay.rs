//! The replay feed: a tick file delivered as a live feed would, paced so that event time
//! runs `speed` times faster than wall time (`speed = 0`: as fast as the engine takes them).
//!
//! Contract:
//! - `read_chunk` returns only ticks that are due; while none is, it sleeps in slices of at
//!   most `MAX_SLEEP`, so a stop request is seen within that time.
//! - A stop request (`stop`) ends the stream: `read_chunk` returns 0 and the runtime drains.
//! - At the end of the file the feed state becomes `Ended`; with `AtEnd::Idle` the stream
//!   stays open (no ticks) until a stop request, with `AtEnd::Exit` it ends at once.
//! - Bad rows skipped under `bad_rows = "skip"` are counted as dead-letter errors.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::TickReader;
use crate::clock::Stopwatch;
use crate::config::AtEnd;
use crate::domain::Tick;
use crate::metrics::telemetry::{DlqKind, FeedState, Telemetry};
use crate::runtime::{RunControl, TickSource};

/// Longest single sleep while waiting for the next tick or a stop request.
pub const MAX_SLEEP: Duration = Duration::from_millis(20);

/// Ticks read from the file at a time.
const READ_AHEAD: usize = 4096;

#[derive(Debug)]
pub struct ReplaySource {
    reader: TickReader,
    speed: f64,
    at_end: AtEnd,
    control: Arc<RunControl>,
    telemetry: Arc<Telemetry>,
    ahead: Vec<Tick>,
    at: usize,
    /// Event time of the first tick, ns, and the wall clock started with it.
    origin: Option<(u64, Stopwatch)>,
    bad_rows_counted: u64,
    ended: bool,
    /// Time slept for pacing (the replayed market's pace, not load).
    waited: Duration,
}

impl ReplaySource {
    pub fn new(
        reader: TickReader,
        speed: f64,
        at_end: AtEnd,
        control: Arc<RunControl>,
        telemetry: Arc<Telemetry>,
    ) -> ReplaySource {
        ReplaySource {
            reader,
            speed,
            at_end,
            control,
            telemetry,
            ahead: Vec::with_capacity(READ_AHEAD),
            at: 0,
            origin: None,
            bad_rows_counted: 0,
            ended: false,
            waited: Duration::ZERO,
        }
    }

    pub fn reader(&self) -> &TickReader {
        &self.reader
    }

    /// Whether a stop was requested; tells observers the engine is shutting down.
    fn stopping(&self) -> bool {
        let stop = self.control.stop_requested();
        if stop {
            self.telemetry.shutting_down.store(true, Ordering::Release);
        }
        stop
    }

    /// Wall time at which a tick of event time `ts` is due, since the origin.
    fn due(&self, ts: u64) -> Duration {
        match self.origin {
            Some((first, _)) if self.speed > 0.0 => {
                // Saturates instead of panicking on an absurd gap (config bounds `speed`).
                Duration::try_from_secs_f64(ts.saturating_sub(first) as f64 / 1e9 / self.speed)
                    .unwrap_or(Duration::MAX)
            }
            _ => Duration::ZERO,
        }
    }

    /// Refills the read-ahead buffer; false at the end of the file.
    fn refill(&mut self) -> Result<bool, crate::Error> {
        let n = self.reader.read_chunk(&mut self.ahead, READ_AHEAD)?;
        self.at = 0;
        let skipped = self.reader.stats().skipped_rows;
        if skipped > self.bad_rows_counted {
            self.telemetry
                .count_dlq(DlqKind::BadRow, skipped - self.bad_rows_counted);
            self.bad_rows_counted = skipped;
        }
        Ok(n > 0)
    }

    /// Waits for a stop request.
    fn idle_until_stopped(&mut self) {
        let idle = Stopwatch::start();
        while !self.stopping() {
            std::thread::sleep(MAX_SLEEP);
        }
        self.waited += idle.elapsed();
    }
}

impl TickSource for ReplaySource {
    fn read_chunk(&mut self, buf: &mut Vec<Tick>, max: usize) -> Result<usize, crate::Error> {
        buf.clear();
        loop {
            if self.stopping() || self.ended {
                return Ok(0);
            }
            if self.at == self.ahead.len() && !self.refill()? {
                self.ended = true;
                self.telemetry.set_feed_state(FeedState::Ended);
                tracing::info!(target: "market_data", rows = self.reader.stats().rows, "replay file finished");
                if self.at_end == AtEnd::Idle {
                    self.idle_until_stopped();
                }
                return Ok(0);
            }
            if self.origin.is_none() {
                self.origin = Some((self.ahead[self.at].ts.0, Stopwatch::start()));
            }
            let elapsed = self
                .origin
                .map_or(Duration::ZERO, |(_, wall)| wall.elapsed());
            let mut n = 0;
            while self.at < self.ahead.len()
                && n < max
                && self.due(self.ahead[self.at].ts.0) <= elapsed
            {
                buf.push(self.ahead[self.at]);
                self.at += 1;
                n += 1;
            }
            if n > 0 {
                return Ok(n);
            }
            let wait = self.due(self.ahead[self.at].ts.0).saturating_sub(elapsed);
            let slept = Stopwatch::start();
            std::thread::sleep(wait.min(MAX_SLEEP));
            self.waited += slept.elapsed();
        }
    }

    fn progress(&self) -> (u64, u64) {
        let stats = self.reader.stats();
        (stats.bytes_read, stats.bytes_total)
    }

    fn waited(&self) -> Duration {
        self.waited
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BadRowPolicy;
    use crate::domain::InstrumentTable;
    use crate::feed::{DataSource, scan_instruments};
    use crate::metrics::telemetry::TelemetryShape;

    /// Three quotes 1000 s apart in event time.
    const CSV: &[u8] = b"ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size
1700001000000000000,EURUSD,1.10000,1.10010,,,,
1700002000000000000,EURUSD,1.10001,1.10011,,,,
1700003000000000000,EURUSD,1.10002,1.10012,,,,
";

    fn source(speed: f64, at_end: AtEnd) -> (ReplaySource, Arc<RunControl>, Arc<Telemetry>) {
        let sources = [DataSource::Embedded {
            name: "<test>",
            bytes: CSV,
        }];
        let mut table = InstrumentTable::new();
        scan_instruments(&sources, &[], &mut table).unwrap();
        let reader = TickReader::open(&sources, &table, BadRowPolicy::Reject).unwrap();
        let stop = Arc::new(RunControl::new());
        let telemetry = Arc::new(Telemetry::new(TelemetryShape::default()));
        let replay = ReplaySource::new(
            reader,
            speed,
            at_end,
            Arc::clone(&stop),
            Arc::clone(&telemetry),
        );
        (replay, stop, telemetry)
    }

    #[test]
    fn unpaced_replay_delivers_everything_then_ends() {
        let (mut replay, _, telemetry) = source(0.0, AtEnd::Exit);
        let mut buf = Vec::new();
        assert_eq!(replay.read_chunk(&mut buf, 100).unwrap(), 3);
        assert_eq!(replay.read_chunk(&mut buf, 100).unwrap(), 0);
        assert_eq!(telemetry.feed_state(), FeedState::Ended);
    }

    #[test]
    fn paced_replay_holds_back_ticks_that_are_not_due() {
        // At 1x the second tick is due 1000 s after the first.
        let (mut replay, stop, _) = source(1.0, AtEnd::Exit);
        let mut buf = Vec::new();
        assert_eq!(replay.read_chunk(&mut buf, 100).unwrap(), 1);
        assert_eq!(buf[0].ts.0, 1_700_001_000_000_000_000);
        // A stop request ends the stream while it waits.
        stop.request_stop();
        assert_eq!(replay.read_chunk(&mut buf, 100).unwrap(), 0);
    }

    #[test]
    fn idle_at_end_waits_for_the_stop_request() {
        let (mut replay, stop, telemetry) = source(0.0, AtEnd::Idle);
        let mut buf = Vec::new();
        assert_eq!(replay.read_chunk(&mut buf, 100).unwrap(), 3);
        let stopper = std::thread::spawn(move || {
            while telemetry.feed_state() != FeedState::Ended {
                std::thread::yield_now();
            }
            stop.request_stop();
        });
        assert_eq!(replay.read_chunk(&mut buf, 100).unwrap(), 0);
        stopper.join().unwrap();
    }
}
