//! The ring transport of the threaded runtime: bounded crossbeam channels used only with
//! `try_send`/`try_recv`, and our own wait policy (spin → yield → sleep) while a ring is full
//! or empty, outside the measured path. A blocking crossbeam call would park the thread, and
//! waking it takes a lock and a syscall on every send.

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};

use super::config::WaitPolicy;
use super::control::RunControl;
use crate::metrics::telemetry::{Ring, Telemetry};

/// Spins, then yields, then sleeps, per the configured policy.
#[derive(Debug)]
pub struct Waiter {
    policy: WaitPolicy,
    rounds: u32,
}

impl Waiter {
    pub fn new(policy: WaitPolicy) -> Waiter {
        Waiter { policy, rounds: 0 }
    }

    pub fn policy(&self) -> WaitPolicy {
        self.policy
    }

    #[inline]
    pub fn reset(&mut self) {
        self.rounds = 0;
    }

    #[inline]
    pub fn wait(&mut self) {
        self.rounds = self.rounds.saturating_add(1);
        match (self.policy, self.rounds) {
            (WaitPolicy::Spin, _) | (_, 0..=64) => std::hint::spin_loop(),
            (WaitPolicy::SpinThenYield, _) | (WaitPolicy::Park, 65..=256) => {
                std::thread::yield_now()
            }
            (WaitPolicy::Park, _) => std::thread::sleep(std::time::Duration::from_micros(50)),
        }
    }
}

/// The producer side of one ring: the sender, its wait state and its counters.
pub(crate) struct Outbox<'t, T> {
    tx: Sender<T>,
    waiter: Waiter,
    ring: Ring,
    telemetry: &'t Telemetry,
    control: &'t RunControl,
    /// Messages delivered.
    pub(crate) sent: u64,
    /// Full episodes: messages that found the ring full, however long they waited.
    pub(crate) full: u64,
}

impl<'t, T> Outbox<'t, T> {
    pub(crate) fn new(
        tx: Sender<T>,
        policy: WaitPolicy,
        ring: Ring,
        telemetry: &'t Telemetry,
        control: &'t RunControl,
    ) -> Self {
        Outbox {
            tx,
            waiter: Waiter::new(policy),
            ring,
            telemetry,
            control,
            sent: 0,
            full: 0,
        }
    }

    #[inline]
    pub(crate) fn send(&mut self, msg: T) -> bool {
        self.send_or(msg, || {})
    }

    /// Sends, waiting while the ring is full; `on_full` runs while waiting (stages drain
    /// their other inputs there, so two stages never wait on each other). Gives up when a
    /// stage thread has panicked, so the run can end and report it; returns whether the
    /// message was delivered.
    #[inline]
    pub(crate) fn send_or(&mut self, mut msg: T, mut on_full: impl FnMut()) -> bool {
        let mut waited = false;
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => {
                    self.waiter.reset();
                    self.sent += 1;
                    return true;
                }
                Err(TrySendError::Full(back)) => {
                    if !waited {
                        self.full += 1;
                        waited = true;
                        // Observers see the ring as full as it is, not one publish point ago.
                        self.telemetry.ring_sent[self.ring as usize].set(self.sent);
                    }
                    if self.control.aborted() {
                        return false;
                    }
                    msg = back;
                    on_full();
                    self.waiter.wait();
                }
                // The consumer is gone only after a panic there; join reports it.
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
    }

    /// The wait policy this producer waits with.
    pub(crate) fn policy(&self) -> WaitPolicy {
        self.waiter.policy()
    }

    /// Publishes the ring's sent and full counts.
    pub(crate) fn publish(&self) {
        let t = self.telemetry;
        t.ring_sent[self.ring as usize].set(self.sent);
        t.ring_full[self.ring as usize].set(self.full);
    }
}

/// Wait rounds between two idle calls to `on_idle`'s publishing while a ring stays empty.
pub(crate) const IDLE_PUBLISH_ROUNDS: u32 = 256;

/// Receives, waiting while the ring is empty; `None` when the producer is gone. `on_idle`
/// runs on every empty poll with whether this round should also publish (the first, then
/// every `IDLE_PUBLISH_ROUNDS`), so a waiting stage keeps draining its side inputs and still
/// answers snapshot requests.
#[inline]
pub(crate) fn recv<T>(
    rx: &Receiver<T>,
    waiter: &mut Waiter,
    on_idle: &mut dyn FnMut(bool),
) -> Option<T> {
    let mut rounds = 0u32;
    loop {
        match rx.try_recv() {
            Ok(msg) => {
                waiter.reset();
                return Some(msg);
            }
            Err(TryRecvError::Empty) => {
                on_idle(rounds.is_multiple_of(IDLE_PUBLISH_ROUNDS));
                rounds = rounds.wrapping_add(1);
                waiter.wait();
            }
            Err(TryRecvError::Disconnected) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::telemetry::TelemetryShape;
    use crossbeam_channel::bounded;

    #[test]
    fn a_full_ring_counts_one_episode_per_message_and_delivers_once_drained() {
        let telemetry = Telemetry::new(TelemetryShape::default());
        let control = RunControl::new();
        let (tx, rx) = bounded::<u32>(1);
        let mut outbox = Outbox::new(
            tx,
            WaitPolicy::SpinThenYield,
            Ring::StrategyToRisk,
            &telemetry,
            &control,
        );
        assert!(outbox.send(1));
        let mut drained = Vec::new();
        // The ring is full: `on_full` is where a stage drains its other inputs.
        assert!(outbox.send_or(2, || drained.extend(rx.try_recv().ok())));
        assert_eq!(drained, [1]);
        assert_eq!(
            (outbox.sent, outbox.full),
            (2, 1),
            "one episode, however long"
        );
        assert_eq!(
            telemetry.ring_sent[Ring::StrategyToRisk as usize].get(),
            1,
            "published as it went full"
        );
        outbox.publish();
        assert_eq!(telemetry.ring_full[Ring::StrategyToRisk as usize].get(), 1);
        assert_eq!(rx.try_recv(), Ok(2));
    }

    #[test]
    fn a_producer_gives_up_on_an_aborted_run_or_a_gone_consumer() {
        let telemetry = Telemetry::new(TelemetryShape::default());
        let control = RunControl::new();
        let (tx, rx) = bounded::<u32>(1);
        let mut outbox = Outbox::new(
            tx,
            WaitPolicy::Park,
            Ring::FeedToStrategy,
            &telemetry,
            &control,
        );
        assert!(outbox.send(1));
        control.abort();
        assert!(!outbox.send(2), "full and aborted: no endless wait");
        drop(rx);
        assert!(!outbox.send(3), "disconnected");
    }

    #[test]
    fn recv_keeps_the_stage_idle_until_a_message_then_none_when_the_producer_is_gone() {
        let (tx, rx) = bounded::<u32>(4);
        let mut waiter = Waiter::new(WaitPolicy::SpinThenYield);
        let mut publishes = 0;
        let mut idle = 0;
        let mut pending = Some(tx);
        let got = recv(&rx, &mut waiter, &mut |publish| {
            idle += 1;
            publishes += u32::from(publish);
            if idle == IDLE_PUBLISH_ROUNDS + 2 {
                let tx = pending.take().expect("sent once");
                tx.send(7).expect("open");
                drop(tx);
            }
        });
        assert_eq!(got, Some(7));
        assert_eq!(
            publishes, 2,
            "the first idle round, then every IDLE_PUBLISH_ROUNDS"
        );
        assert_eq!(recv(&rx, &mut waiter, &mut |_| {}), None);
    }
}
