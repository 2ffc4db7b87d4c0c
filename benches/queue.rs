//! Queue benches: the cost of moving a 64-byte `Tick` through a bounded crossbeam ring, as the
//! threaded runtime does between stages (`try_send`/`try_recv` plus our `Waiter`, never the
//! blocking calls).
//!
//! Workloads (group `queue`):
//! - `hop_same_thread`: `try_send` then `try_recv` of one tick on one thread through an empty
//!   `bounded::<Tick>(1024)`: the bare cost of a hop, no contention, no cache-line transfer.
//! - `cross_thread_ring_1024`: a producer thread `try_send`s ticks into a `bounded::<Tick>(1024)`
//!   while the measured thread `try_recv`s them, both waiting with
//!   `Waiter(SpinThenYield)` when the ring is full or empty: the cross-thread throughput.
//!
//! Rates are ticks/s (`Throughput::Elements(1)` per tick). The timed region of the cross-thread
//! case runs on the consumer from the moment both threads pass a barrier until the last tick
//! is received; it leaves out creating the ring and spawning and joining the producer.

mod common;

use std::hint::black_box;
use std::sync::Barrier;
use std::time::Duration;

use alpha_panda::clock::Stopwatch;
use alpha_panda::config::WaitPolicy;
use alpha_panda::domain::{InstrumentId, Nanos, Price, Qty, Tick};
use alpha_panda::runtime::ring::Waiter;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_channel::{TryRecvError, TrySendError, bounded};

const RING: usize = 1024;

fn sample_tick() -> Tick {
    Tick::quote(
        Nanos(1_398_902_400_000_000_000),
        InstrumentId(3),
        Some(Price(137_998)),
        Some(Price(138_002)),
        Some(Qty(1_000_000)),
        Some(Qty(2_000_000)),
    )
}

fn hop_same_thread(c: &mut Criterion) {
    let (tx, rx) = bounded::<Tick>(RING);
    let tick = sample_tick();
    let mut group = c.benchmark_group("queue");
    group.throughput(Throughput::Elements(1));
    group.bench_function("hop_same_thread", |b| {
        b.iter(|| {
            tx.try_send(black_box(tick))
                .expect("the ring is drained every iteration, so it has room");
            rx.try_recv().expect("the tick just sent is there")
        });
    });
    group.finish();
}

/// Sends `count` ticks, waiting while the ring is full.
fn produce(tx: &crossbeam_channel::Sender<Tick>, count: u64, barrier: &Barrier) {
    let mut waiter = Waiter::new(WaitPolicy::SpinThenYield);
    let mut tick = sample_tick();
    barrier.wait();
    for seq in 0..count {
        tick.seq = seq;
        let mut msg = tick;
        loop {
            match tx.try_send(msg) {
                Ok(()) => {
                    waiter.reset();
                    break;
                }
                Err(TrySendError::Full(back)) => {
                    msg = back;
                    waiter.wait();
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
    }
}

/// Receives `count` ticks, waiting while the ring is empty; returns the time it took.
fn consume(rx: &crossbeam_channel::Receiver<Tick>, count: u64, barrier: &Barrier) -> Duration {
    let mut waiter = Waiter::new(WaitPolicy::SpinThenYield);
    barrier.wait();
    let watch = Stopwatch::start();
    let mut received = 0u64;
    while received < count {
        match rx.try_recv() {
            Ok(tick) => {
                debug_assert_eq!(tick.seq, received, "FIFO order");
                black_box(tick);
                received += 1;
                waiter.reset();
            }
            Err(TryRecvError::Empty) => waiter.wait(),
            Err(TryRecvError::Disconnected) => break,
        }
    }
    let elapsed = watch.elapsed();
    assert_eq!(received, count, "the producer stopped early");
    elapsed
}

fn cross_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue");
    group.throughput(Throughput::Elements(1));
    group.bench_function("cross_thread_ring_1024", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = bounded::<Tick>(RING);
            let barrier = Barrier::new(2);
            std::thread::scope(|scope| {
                let barrier = &barrier;
                scope.spawn(move || produce(&tx, iters, barrier));
                consume(&rx, iters, barrier)
            })
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion_config(3);
    targets = hop_same_thread, cross_thread
}
criterion_main!(benches);
