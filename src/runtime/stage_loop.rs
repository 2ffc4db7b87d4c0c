//! The one loop every stage thread of the threaded runtime runs: take a message from the
//! input ring and hand it to the stage's worker; while the ring is empty, let the worker
//! drain its side inputs and publish; publish every `PUBLISH_EVERY` messages and at the end.
//! Also the start of a stage thread: core pinning, the started flag, and a guard that marks
//! the run aborted if the thread panics (so producers stop waiting on it).

use crossbeam_channel::Receiver;

use super::config::WaitPolicy;
use super::control::RunControl;
use super::ring::{Waiter, recv};
use crate::metrics::telemetry::{PUBLISH_EVERY, StageName};

/// A stage as a stage thread drives it.
pub(crate) trait Worker {
    type In;
    /// Handles one message of the input ring.
    fn handle(&mut self, msg: Self::In);
    /// The input ring is empty: drain side inputs; publish too when `publish`.
    fn idle(&mut self, publish: bool);
    /// Publishes the stage's counters.
    fn publish(&mut self);
}

/// Runs `worker` until its input ring's producer is gone.
#[allow(
    clippy::while_let_loop,
    reason = "the idle closure borrows the worker; a while-let scrutinee would hold that borrow through the body"
)]
pub(crate) fn run<W: Worker>(worker: &mut W, rx: &Receiver<W::In>, policy: WaitPolicy) {
    let mut waiter = Waiter::new(policy);
    let mut handled = 0u64;
    loop {
        let Some(msg) = recv(rx, &mut waiter, &mut |publish| worker.idle(publish)) else {
            break;
        };
        worker.handle(msg);
        handled += 1;
        if handled.is_multiple_of(PUBLISH_EVERY) {
            worker.publish();
        }
    }
    worker.publish();
}

/// Marks the run aborted if the thread holding it unwinds.
pub(crate) struct AbortOnPanic<'a>(&'a RunControl);

impl Drop for AbortOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.abort();
        }
    }
}

/// A stage thread's start: pinned if configured, marked started (the canary waits for every
/// stage), and marking the run aborted if it later panics (keep the guard alive).
pub(crate) fn start(
    control: &RunControl,
    stage: StageName,
    core: Option<usize>,
) -> AbortOnPanic<'_> {
    pin(core, stage.name());
    control.set_started(stage);
    AbortOnPanic(control)
}

/// Pins the calling thread to `core` if configured.
pub(crate) fn pin(core: Option<usize>, stage: &str) {
    if let Some(id) = core
        && !core_affinity::set_for_current(core_affinity::CoreId { id })
    {
        tracing::warn!(target: "performance", stage, core = id, "could not pin the stage thread to its core");
    }
}
