//! The socket thread's end of the feed → engine ring, with per-instrument back-pressure.
//!
//! Contract:
//! - `push` never blocks the socket reader. While the ring has room, ticks go straight in.
//! - When it is full, a tick is parked: at most one quote and one trade per instrument wait.
//!   A newer tick of the same instrument and kind replaces the parked one, which is dropped
//!   and counted (`dropped`): the engine loses the *oldest* market data *of that
//!   instrument*, while every other instrument's latest tick still reaches it.
//! - Parked ticks enter the ring in the order they arrived, before any later tick, so the
//!   engine sees receive order (minus what was dropped). `drain` moves them as room appears
//!   (the socket thread calls it on every message and every idle read timeout); `take_parked`
//!   hands over what is left at stop.
//! - Order updates never come here (their own channel).

use std::collections::VecDeque;

use crossbeam_channel::{Sender, TrySendError};

use crate::domain::Tick;

#[derive(Debug)]
pub(super) struct Ring {
    ticks: Sender<Tick>,
    /// Slot `2 × instrument + (1 if trade)`: the parked tick and its arrival number.
    parked: Vec<Option<(u64, Tick)>>,
    /// Arrival order of parked ticks, `(arrival, slot)`; entries whose slot now holds a newer
    /// tick are stale and skipped.
    order: VecDeque<(u64, usize)>,
    waiting: usize,
    arrivals: u64,
    dropped: u64,
}

impl Ring {
    /// A ring end for instruments `0..instruments` (a tick of another instrument that finds
    /// the ring full is dropped).
    pub(super) fn new(ticks: Sender<Tick>, instruments: usize) -> Ring {
        let slots = 2 * instruments;
        Ring {
            ticks,
            parked: vec![None; slots],
            order: VecDeque::with_capacity(4 * slots),
            waiting: 0,
            arrivals: 0,
            dropped: 0,
        }
    }

    /// Ticks dropped so far (each a newer tick of its instrument and kind replaced it).
    #[cfg(test)]
    fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Ticks parked now.
    pub(super) fn waiting(&self) -> usize {
        self.waiting
    }

    /// Queues `tick` for the engine; returns how many ticks this dropped (0 or 1).
    pub(super) fn push(&mut self, tick: Tick) -> u64 {
        if self.waiting > 0 {
            self.drain();
        }
        if self.waiting == 0 {
            match self.ticks.try_send(tick) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return 0,
                Err(TrySendError::Full(tick)) => return self.park(tick),
            }
        }
        self.park(tick)
    }

    /// Moves parked ticks into the ring, oldest first, while it has room.
    pub(super) fn drain(&mut self) {
        while let Some(&(arrival, slot)) = self.order.front() {
            let Some((parked_at, tick)) = self.parked[slot] else {
                self.order.pop_front();
                continue;
            };
            if parked_at != arrival {
                self.order.pop_front();
                continue;
            }
            match self.ticks.try_send(tick) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {
                    self.order.pop_front();
                    self.parked[slot] = None;
                    self.waiting -= 1;
                }
                Err(TrySendError::Full(_)) => return,
            }
        }
    }

    /// The parked ticks in arrival order, leaving none.
    pub(super) fn take_parked(&mut self) -> Vec<Tick> {
        let mut out = Vec::with_capacity(self.waiting);
        while let Some((arrival, slot)) = self.order.pop_front() {
            if let Some((parked_at, tick)) = self.parked[slot]
                && parked_at == arrival
            {
                out.push(tick);
                self.parked[slot] = None;
            }
        }
        self.waiting = 0;
        out
    }

    fn park(&mut self, tick: Tick) -> u64 {
        let slot = 2 * tick.instrument.index() + usize::from(tick.is_trade());
        let Some(cell) = self.parked.get_mut(slot) else {
            self.dropped += 1;
            return 1;
        };
        self.arrivals += 1;
        let replaced = cell.replace((self.arrivals, tick)).is_some();
        self.order.push_back((self.arrivals, slot));
        // Each replacement leaves a stale entry; keep the queue bounded by the slots.
        if self.order.len() > 4 * self.parked.len().max(1) {
            let parked = &self.parked;
            self.order
                .retain(|&(arrival, slot)| matches!(parked[slot], Some((a, _)) if a == arrival));
        }
        if replaced {
            self.dropped += 1;
            1
        } else {
            self.waiting += 1;
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InstrumentId, Nanos, Price, Qty};
    use crossbeam_channel::bounded;

    fn quote(ts: u64, i: u32) -> Tick {
        Tick::quote(
            Nanos(ts),
            InstrumentId(i),
            Some(Price(100)),
            Some(Price(101)),
            Some(Qty(1)),
            Some(Qty(1)),
        )
    }

    fn trade(ts: u64, i: u32) -> Tick {
        Tick::trade(Nanos(ts), InstrumentId(i), Price(100), Some(Qty(1)))
    }

    #[test]
    fn a_full_ring_drops_the_oldest_tick_of_that_instrument_only() {
        let (tx, rx) = bounded(2);
        let mut ring = Ring::new(tx, 3);
        assert_eq!(ring.push(quote(1, 0)), 0);
        assert_eq!(ring.push(quote(2, 1)), 0);
        // Full: these park, one per instrument and kind.
        assert_eq!(ring.push(quote(3, 0)), 0);
        assert_eq!(ring.push(trade(4, 0)), 0);
        assert_eq!(ring.push(quote(5, 2)), 0);
        // A newer quote of instrument 0 replaces the parked one (ts 3).
        assert_eq!(ring.push(quote(6, 0)), 1);
        assert_eq!((ring.dropped(), ring.waiting()), (1, 3));
        // The engine reads two; the next push drains in arrival order first.
        let first: Vec<u64> = rx.try_iter().take(2).map(|t| t.ts.0).collect();
        assert_eq!(first, [1, 2]);
        assert_eq!(ring.push(trade(7, 1)), 0);
        let next: Vec<u64> = rx.try_iter().map(|t| t.ts.0).collect();
        assert_eq!(
            next,
            [4, 5],
            "arrival order, the replaced quote not among them"
        );
        ring.drain();
        let rest: Vec<u64> = rx.try_iter().map(|t| t.ts.0).collect();
        assert_eq!(rest, [6, 7], "a later tick never jumps a parked one");
        assert_eq!(ring.waiting(), 0);
    }

    #[test]
    fn parked_ticks_are_handed_over_at_stop_and_the_stale_queue_stays_bounded() {
        let (tx, _rx) = bounded(1);
        let mut ring = Ring::new(tx, 2);
        ring.push(quote(0, 0));
        for ts in 1..=1_000 {
            ring.push(quote(ts, 0));
            ring.push(trade(ts, 1));
        }
        assert_eq!(ring.dropped(), 2 * 999);
        assert!(ring.order.len() <= 4 * 4 + 1, "{}", ring.order.len());
        let left: Vec<(u32, u64)> = ring
            .take_parked()
            .iter()
            .map(|t| (t.instrument.0, t.ts.0))
            .collect();
        assert_eq!(left, [(0, 1_000), (1, 1_000)]);
        assert_eq!(ring.waiting(), 0);
        // An instrument outside the table cannot park: dropped, counted.
        assert_eq!(ring.push(quote(1, 9)), 1);
    }
}
