//! Run control: what starts, stops and aborts a run, shared between the runtime's threads,
//! the signal handlers and the health endpoint. Kept apart from `Telemetry`, which only
//! counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::metrics::telemetry::StageName;

#[derive(Debug, Default)]
pub struct RunControl {
    /// A graceful stop was asked for (SIGINT/SIGTERM, or the end of a replay): the feed
    /// stops and every ring drains. An `Arc` so signal handlers can set it directly.
    pub stop: Arc<AtomicBool>,
    /// A stage thread panicked: producers stop waiting on it and the run ends with an error.
    aborted: AtomicBool,
    /// Stage threads set their flag when they run (by `StageName` index; the feed's is
    /// unused). The canary waits for all of them, so it measures hops, not thread start-up.
    started: [AtomicBool; 4],
}

impl RunControl {
    pub fn new() -> RunControl {
        RunControl::default()
    }

    /// Control around an existing stop flag (one a signal handler already sets).
    pub fn with_stop(stop: Arc<AtomicBool>) -> RunControl {
        RunControl {
            stop,
            ..RunControl::default()
        }
    }

    #[inline]
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    #[inline]
    pub fn aborted(&self) -> bool {
        self.aborted.load(Ordering::Relaxed)
    }

    pub fn abort(&self) {
        self.aborted.store(true, Ordering::Relaxed);
    }

    pub fn set_started(&self, stage: StageName) {
        self.started[stage as usize].store(true, Ordering::Release);
    }

    pub fn started(&self, stage: StageName) -> bool {
        self.started[stage as usize].load(Ordering::Acquire)
    }
}
