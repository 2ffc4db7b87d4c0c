//! Time. The only module that reads the system clock (clippy.toml bans it elsewhere):
//! event time comes from ticks; wall time is for measuring the engine, never for deciding.

use std::time::{Duration, Instant};

use crate::domain::Nanos;

/// A source of "now" for the engine's decisions.
pub trait Clock {
    fn now(&self) -> Nanos;
}

/// Backtest clock: a plain field advanced by event time (no lock, no syscall).
#[derive(Clone, Copy, Debug, Default)]
pub struct EventClock {
    now: Nanos,
}

impl EventClock {
    #[inline]
    pub fn advance(&mut self, ts: Nanos) {
        if ts > self.now {
            self.now = ts;
        }
    }
}

impl Clock for EventClock {
    #[inline]
    fn now(&self) -> Nanos {
        self.now
    }
}

/// Cycle-counter timer for latency histograms: a read costs ~10 ns, no syscall.
#[derive(Clone, Debug)]
pub struct LatencyTimer {
    clock: quanta::Clock,
}

impl Default for LatencyTimer {
    fn default() -> Self {
        LatencyTimer {
            clock: quanta::Clock::new(),
        }
    }
}

impl LatencyTimer {
    /// An opaque timestamp; only differences mean anything.
    #[inline]
    pub fn stamp(&self) -> u64 {
        self.clock.raw()
    }

    /// Nanoseconds between two stamps (0 if they run backwards across cores).
    #[inline]
    pub fn elapsed_ns(&self, start: u64, end: u64) -> u64 {
        if end <= start {
            0
        } else {
            self.clock.delta_as_nanos(start, end)
        }
    }
}

/// Wall-clock stopwatch for phase durations (load, run) reported to the user.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch {
    start: Instant,
}

impl Stopwatch {
    #[allow(
        clippy::disallowed_methods,
        reason = "the clock module is where wall time is read"
    )]
    pub fn start() -> Stopwatch {
        Stopwatch {
            start: Instant::now(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

/// Unix time now, ns: for operators (metrics, health, log timestamps), never for decisions.
#[allow(
    clippy::disallowed_methods,
    reason = "the clock module is where wall time is read"
)]
pub fn unix_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Unix time now, s.
pub fn unix_now_secs() -> f64 {
    unix_now_ns() as f64 / 1e9
}

/// Receive time of live data, ns since the Unix epoch: the wall clock read once, then moved
/// by the monotonic clock, so stamps never go back (a recording replays in order) even
/// when NTP steps the wall clock.
#[derive(Clone, Copy, Debug)]
pub struct ReceiveClock {
    origin_ns: u64,
    origin: Instant,
}

impl ReceiveClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the clock module is where wall time is read"
    )]
    pub fn new() -> ReceiveClock {
        ReceiveClock {
            origin_ns: unix_now_ns(),
            origin: Instant::now(),
        }
    }

    /// Now, ns since the epoch; never less than an earlier call's answer.
    pub fn now_ns(&self) -> u64 {
        let elapsed = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.origin_ns.saturating_add(elapsed)
    }
}

/// The process's one receive clock, so stamps taken on different threads (the feed's
/// socket read, the REST thread's send) compare exactly.
pub fn receive_now_ns() -> u64 {
    static CLOCK: std::sync::OnceLock<ReceiveClock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(ReceiveClock::new).now_ns()
}

impl Default for ReceiveClock {
    fn default() -> Self {
        ReceiveClock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_clock_is_monotonic_and_near_the_wall_clock() {
        let clock = ReceiveClock::new();
        let mut last = clock.now_ns();
        assert!(last.abs_diff(unix_now_ns()) < 1_000_000_000);
        for _ in 0..1000 {
            let now = clock.now_ns();
            assert!(now >= last);
            last = now;
        }
    }

    #[test]
    fn event_clock_never_goes_back() {
        let mut clock = EventClock::default();
        clock.advance(Nanos(10));
        clock.advance(Nanos(5));
        assert_eq!(clock.now(), Nanos(10));
    }

    #[test]
    fn latency_timer_measures_forward_only() {
        let timer = LatencyTimer::default();
        let a = timer.stamp();
        let b = timer.stamp();
        assert!(b >= a);
        assert_eq!(timer.elapsed_ns(b.max(a) + 1, a.min(b)), 0);
    }
}
