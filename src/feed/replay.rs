//! The replay feed: a tick file delivered as a live feed would, paced so that event time
//! runs `speed` times faster than wall time (`speed = 0`: as fast as the engine takes them).
//!
//! Contract:
//! - `read_chunk` returns only ticks that are due; while none is, it sleeps in slices of at
//!   most `MAX_SLEEP`, so a stop request is seen within that time.
//! - A stop request (`stop`) ends the stream: `read_chunk` returns 0 and the runtime drains.
//! - At the end of the file the feed state becomes `Ended`; with `AtEnd::Idle` the stream
//!   stays open (no ticks) until a stop request, with `AtEnd::Exit` it ends at once. With
//!   `AtEnd::Loop` (and a way to reopen the files) it starts over, every tick's `ts` and
//!   `local_ts` shifted by the passes so far × (the pass's time span + 1 ns): time never goes
//!   back, and pacing carries on as if the file were that much longer.
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
    /// `AtEnd::Loop`: opens the files again for the next pass.
    reopen: Option<Reopener>,
    /// Added to every timestamp of this pass, ns; and the first and last `ts` of the pass.
    shift: u64,
    pass_span: (Option<u64>, u64),
    passes: u64,
}

/// Opens the replayed files again (`AtEnd::Loop`).
pub type Reopen = Box<dyn FnMut() -> Result<TickReader, super::FeedError> + Send>;

struct Reopener(Reopen);

impl std::fmt::Debug for Reopener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reopener")
    }
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
            reopen: None,
            shift: 0,
            pass_span: (None, 0),
            passes: 0,
        }
    }

    /// How to open the files again for `AtEnd::Loop` (without it, a loop ends like `Exit`).
    #[must_use]
    pub fn with_reopen(mut self, reopen: Reopen) -> ReplaySource {
        self.reopen = Some(Reopener(reopen));
        self
    }

    /// Starts the next pass; false when there is none (no reopen, or an empty file).
    fn next_pass(&mut self) -> Result<bool, crate::Error> {
        let (Some(reopen), (Some(first), last)) = (self.reopen.as_mut(), self.pass_span) else {
            return Ok(false);
        };
        self.reader = (reopen.0)()?;
        self.bad_rows_counted = 0;
        self.shift = self
            .shift
            .saturating_add(last.saturating_sub(first))
            .saturating_add(1);
        self.pass_span = (None, 0);
        self.passes += 1;
        if self.passes.is_power_of_two() {
            tracing::info!(target: "market_data", passes = self.passes, "replay looped");
        }
        Ok(true)
    }

    /// Reads the first `n` ticks without delivering or pacing them (a recovery resumes after
    /// the ticks its journal holds); the `n`th must equal `last` but for `seq`. Pacing
    /// starts over at the next tick.
    ///
    /// # Errors
    /// The data ends before `n` ticks, differs from the journal, or cannot be read.
    pub fn skip(&mut self, n: u64, last: &Tick) -> Result<(), crate::Error> {
        let (speed, at_end) = (self.speed, self.at_end);
        self.speed = 0.0;
        if at_end == AtEnd::Idle {
            self.at_end = AtEnd::Exit;
        }
        let mut buf = Vec::with_capacity(READ_AHEAD);
        let mut left = n;
        let mut seen = None;
        let mut stopped = false;
        let result = loop {
            if left == 0 {
                break Ok(());
            }
            let want = usize::try_from(left.min(READ_AHEAD as u64)).unwrap_or(READ_AHEAD);
            match self.read_chunk(&mut buf, want) {
                // A stop during the skip: the run stops before trading; nothing to check.
                Ok(0) if self.control.stop_requested() => {
                    stopped = true;
                    break Ok(());
                }
                Ok(0) => {
                    break Err(format!(
                        "the data has only {} ticks; the journal holds {n}",
                        n - left
                    ));
                }
                Ok(got) => {
                    left -= got as u64;
                    seen = buf.last().copied();
                }
                Err(e) => break Err(e.to_string()),
            }
        };
        self.speed = speed;
        self.at_end = at_end;
        self.origin = None;
        let matches = seen.is_some_and(|t| Tick { seq: last.seq, ..t } == *last);
        match result {
            Ok(()) if n == 0 || matches || stopped => Ok(()),
            Ok(()) => Err(crate::Error::Journal(format!(
                "the data does not match the journal: its tick {} is {:?}, the journal's is {last:?}",
                n - 1,
                seen.unwrap_or_default()
            ))),
            Err(why) => Err(crate::Error::Journal(format!(
                "resuming the replay after the journal's {n} ticks: {why}"
            ))),
        }
    }

    /// Whether the data ran out (the last pass read to its end).
    pub fn ended(&self) -> bool {
        self.ended
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
        if let (Some(first), Some(last)) = (self.ahead.first(), self.ahead.last()) {
            let (first, last) = (first.ts.0, last.ts.0);
            self.pass_span = (self.pass_span.0.or(Some(first)), last);
        }
        if self.shift > 0 {
            for tick in &mut self.ahead {
                tick.ts.0 = tick.ts.0.saturating_add(self.shift);
                tick.local_ts.0 = tick.local_ts.0.saturating_add(self.shift);
            }
        }
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
            if self.at == self.ahead.len()
                && !self.refill()?
                && !(self.at_end == AtEnd::Loop && self.next_pass()? && self.refill()?)
            {
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
    fn a_looped_replay_starts_over_with_time_moving_forward() {
        let (replay, stop, _) = source(0.0, AtEnd::Loop);
        let sources = [DataSource::Embedded {
            name: "<test>",
            bytes: CSV,
        }];
        let mut table = InstrumentTable::new();
        scan_instruments(&sources, &[], &mut table).unwrap();
        let mut replay = replay.with_reopen(Box::new(move || {
            TickReader::open(&sources, &table, BadRowPolicy::Reject)
        }));
        let (mut buf, mut seen) = (Vec::new(), Vec::new());
        while seen.len() < 9 {
            assert!(replay.read_chunk(&mut buf, 2).unwrap() > 0, "loops forever");
            seen.extend(buf.iter().map(|t| t.ts.0));
        }
        // Three passes of the rows 1000 s apart; each shifted by the span (2000 s) + 1 ns more.
        let (s, t0) = (1_000_000_000u64, 1_700_001_000_000_000_000u64);
        let pass = 2_000 * s + 1;
        let expected: Vec<u64> = (0..3)
            .flat_map(|p| (0..3).map(move |r| t0 + r * 1_000 * s + p * pass))
            .collect();
        assert_eq!(seen[..9], expected[..]);
        stop.request_stop();
        assert_eq!(replay.read_chunk(&mut buf, 2).unwrap(), 0);
        // Without a way to reopen, a loop ends like `exit`.
        let (mut once, _, _) = source(0.0, AtEnd::Loop);
        assert_eq!(once.read_chunk(&mut buf, 100).unwrap(), 3);
        assert_eq!(once.read_chunk(&mut buf, 100).unwrap(), 0);
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
