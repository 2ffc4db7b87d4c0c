//! Kite ticker decoding: what the feed thread spends per binary message before the ring.
//!
//! Workloads (group `kite`):
//! - `full_packet/decode`: one frame holding one 184-byte full packet (depth 5 + 5) through
//!   `Decoder::packets`: framing, every field, counters.
//! - `full_packet/decode_to_ticks`: the same plus `Packet::to_ticks` (quote from depth level 0
//!   and the trade: two `Tick`s).
//! - `frame_100_full/decode_to_ticks`: a frame of 100 full packets, decoded and converted;
//!   rate per packet (`Throughput::Elements(100)`).
//! - `frame_100_mixed/decode_to_ticks`: a frame of 100 packets, 20 of each kind (ltp, index
//!   quote, index full, quote, full), decoded and converted; rate per packet.
//! - `full_packet/record`: `Recorder::record` of one full packet into a sink (formatting the
//!   9-column CSV row; the buffer's write-through to `io::sink` is included every 64 KiB).
//!
//! Packets are deterministic (random values, every segment) and built outside the timing.
//! The timed region leaves out the WebSocket read, the token → instrument lookup and the
//! ring push; ticks are only `black_box`ed.

mod common;
#[path = "../tests/kite_packets/mod.rs"]
mod kite_packets;

use std::hint::black_box;

use alpha_panda::domain::{InstrumentId, Nanos};
use alpha_panda::feed::kite::{Decoder, Packet, PacketKind, Recorder};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kite_packets::{Rng, encode, frame, random_packet};

/// A frame of the packets' encodings.
fn message(packets: &[Packet]) -> Vec<u8> {
    let bodies: Vec<Vec<u8>> = packets.iter().map(encode).collect();
    let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    frame(&refs)
}

/// Full packets whose best levels and last price are set (both ticks made).
fn full_packets(rng: &mut Rng, n: usize) -> Vec<Packet> {
    (0..n)
        .map(|_| {
            let mut p = random_packet(rng, PacketKind::Full);
            p.token = (p.token & !0xFF) | 1;
            for level in [&mut p.bids[0], &mut p.asks[0]] {
                level.price.0 = level.price.0.max(1);
            }
            p.last_price.0 = p.last_price.0.max(1);
            p
        })
        .collect()
}

/// Decodes every packet of `message` and converts it; returns the ticks made.
#[inline]
fn decode_to_ticks(decoder: &mut Decoder, message: &[u8]) -> usize {
    let mut ticks = 0;
    for packet in decoder.packets(message).flatten() {
        if let Some(made) = packet.to_ticks(InstrumentId(0), Nanos(1)) {
            black_box(&made);
            ticks += 1 + usize::from(made.second.is_some());
        }
    }
    ticks
}

fn kite(c: &mut Criterion) {
    let mut rng = Rng(1);
    let one_full = message(&full_packets(&mut rng, 1));
    let hundred_full = message(&full_packets(&mut rng, 100));
    let mixed: Vec<Packet> = (0..100)
        .map(|i| random_packet(&mut rng, PacketKind::ALL[i % 5]))
        .collect();
    let hundred_mixed = message(&mixed);
    let mut decoder = Decoder::new();

    let mut group = c.benchmark_group("kite");
    group.throughput(Throughput::Elements(1));
    group.bench_function("full_packet/decode", |b| {
        b.iter(|| {
            decoder
                .packets(black_box(&one_full))
                .flatten()
                .map(|p| black_box(p).token)
                .sum::<u32>()
        })
    });
    group.bench_function("full_packet/decode_to_ticks", |b| {
        b.iter(|| decode_to_ticks(&mut decoder, black_box(&one_full)))
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("frame_100_full/decode_to_ticks", |b| {
        b.iter(|| decode_to_ticks(&mut decoder, black_box(&hundred_full)))
    });
    group.bench_function("frame_100_mixed/decode_to_ticks", |b| {
        b.iter(|| decode_to_ticks(&mut decoder, black_box(&hundred_mixed)))
    });
    group.throughput(Throughput::Elements(1));
    let full = full_packets(&mut rng, 1)[0];
    let mut recorder = Recorder::new(std::io::sink()).expect("recorder");
    group.bench_function("full_packet/record", |b| {
        b.iter(|| {
            recorder
                .record(
                    Nanos(1_700_000_000_000_000_000),
                    "NSE:INFY",
                    black_box(&full),
                )
                .expect("record")
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion_config(3);
    targets = kite
}
criterion_main!(benches);
