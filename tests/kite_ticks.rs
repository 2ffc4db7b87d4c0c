//! Kite packets → engine ticks: the shared quote/trade rule on every packet shape, a
//! recording read back by the tick CSV reader (the public `scan_instruments` + `TickReader`)
//! as exactly the ticks of the live conversion, and no allocation on the decode → ticks →
//! record path after warm-up (a counting global allocator, counting per thread).

mod common;
mod kite_packets;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use alpha_panda::config::BadRowPolicy;
use alpha_panda::domain::{InstrumentId, InstrumentTable, Nanos, Price, Tick, TickFlags, TickKind};
use alpha_panda::feed::kite::{Decoder, DepthLevel, Packet, PacketKind, Recorder};
use alpha_panda::feed::{DataSource, TickReader, scan_instruments};
use kite_packets::{Rng, any_packet, base64, decode, encode, fixture, frame, random_packet};

// ---- a per-thread allocation counter (other tests of this binary run on other threads) ----

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_allocation() {
    // `try_with`: a thread being torn down may still free and allocate.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: forwards every call unchanged to the system allocator; only counts.
#[allow(
    unsafe_code,
    reason = "a global allocator is an unsafe trait; this one only counts and forwards"
)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---- ticks ----

#[test]
fn to_ticks_table() {
    struct Case {
        name: &'static str,
        packet: Packet,
        /// (kind, bid, ask, bid size, ask size, flags) of each tick.
        ticks: Vec<(TickKind, i64, i64, i64, i64, u8)>,
        exchange_ts: Option<u64>,
    }
    let level = |price, qty| DepthLevel {
        qty,
        price: Price(price),
        orders: 1,
    };
    let full = Packet {
        kind: PacketKind::Full,
        token: 408065,
        last_price: Price(157370),
        last_qty: 7,
        exchange_time: 1_625_461_887,
        bids: [level(157340, 5); 5],
        asks: [level(157370, 172); 5],
        ..Packet::default()
    };
    let (q, t) = (TickKind::Quote, TickKind::Trade);
    let all = TickFlags::BID | TickFlags::ASK | TickFlags::BID_SIZE | TickFlags::ASK_SIZE;
    let prices = TickFlags::BID | TickFlags::ASK;
    let cases = [
        Case {
            name: "full: quote from level 0, then the trade",
            packet: full,
            ticks: vec![
                (q, 157340, 157370, 5, 172, all),
                (t, 157370, 157370, 7, 7, all),
            ],
            exchange_ts: Some(1_625_461_887_000_000_000),
        },
        Case {
            name: "full with an empty bid side: one-sided quote",
            packet: Packet {
                bids: [level(0, 9); 5],
                ..full
            },
            ticks: vec![
                (q, 0, 157370, 0, 172, TickFlags::ASK | TickFlags::ASK_SIZE),
                (t, 157370, 157370, 7, 7, all),
            ],
            exchange_ts: Some(1_625_461_887_000_000_000),
        },
        Case {
            name: "full with an empty book: the trade only",
            packet: Packet {
                bids: [level(0, 0); 5],
                asks: [level(0, 0); 5],
                exchange_time: 0,
                ..full
            },
            ticks: vec![(t, 157370, 157370, 7, 7, all)],
            exchange_ts: None,
        },
        Case {
            name: "full without a trade yet: the quote only, its quantity dropped",
            packet: Packet {
                last_price: Price(0),
                ..full
            },
            ticks: vec![(q, 157340, 157370, 5, 172, all)],
            exchange_ts: Some(1_625_461_887_000_000_000),
        },
        Case {
            name: "quote: a trade with its quantity",
            packet: Packet {
                kind: PacketKind::Quote,
                token: 408065,
                last_price: Price(157315),
                last_qty: 1,
                ..Packet::default()
            },
            ticks: vec![(t, 157315, 157315, 1, 1, all)],
            exchange_ts: None,
        },
        Case {
            name: "ltp: a trade without size",
            packet: Packet {
                kind: PacketKind::Ltp,
                token: 408065,
                last_price: Price(157315),
                ..Packet::default()
            },
            ticks: vec![(t, 157315, 157315, 0, 0, prices)],
            exchange_ts: None,
        },
        Case {
            name: "index full: a trade without size, exchange time kept",
            packet: Packet {
                kind: PacketKind::IndexFull,
                token: 256265,
                last_price: Price(1_565_040),
                exchange_time: 1_700_000_000,
                ..Packet::default()
            },
            ticks: vec![(t, 1_565_040, 1_565_040, 0, 0, prices)],
            exchange_ts: Some(1_700_000_000_000_000_000),
        },
    ];
    for case in cases {
        let got = case
            .packet
            .to_ticks(InstrumentId(3), Nanos(99))
            .unwrap_or_else(|| panic!("{}: no ticks", case.name));
        let ticks: Vec<_> = got
            .ticks()
            .map(|t| {
                (
                    t.kind,
                    t.bid.0,
                    t.ask.0,
                    t.bid_size.0,
                    t.ask_size.0,
                    t.flags.0,
                )
            })
            .collect();
        assert_eq!(ticks, case.ticks, "{}", case.name);
        assert_eq!(
            got.exchange_ts.map(|n| n.0),
            case.exchange_ts,
            "{}",
            case.name
        );
        assert!(
            got.ticks().all(|t| t.ts == Nanos(99)
                && t.local_ts == Nanos(99)
                && t.instrument == InstrumentId(3)),
            "{}",
            case.name
        );
    }
    let priceless = [
        Packet::default(),
        Packet {
            kind: PacketKind::Quote,
            last_qty: 5,
            ..Packet::default()
        },
        Packet {
            kind: PacketKind::Ltp,
            last_price: Price(-5),
            ..Packet::default()
        },
    ];
    for packet in priceless {
        assert_eq!(
            packet.to_ticks(InstrumentId(0), Nanos(1)),
            None,
            "{packet:?}"
        );
    }
}

// ---- recording ----

#[test]
fn recording_reads_back_as_the_same_ticks() {
    let mut rng = Rng(99);
    let mut packets: Vec<Packet> = (0..2000).map(|_| any_packet(&mut rng)).collect();
    if let (Some(quote), Some(full)) = (
        fixture("ticker_quote.packet"),
        fixture("ticker_full.packet"),
    ) {
        let (fixtures, _, _) = decode(&frame(&[&base64(&quote), &base64(&full)]));
        packets.extend(fixtures);
    }
    // A few instruments, one per segment, so every precision is recorded.
    for (i, p) in packets.iter_mut().enumerate() {
        p.token = (p.token & 0xFF) | ((i as u32 % 3) << 8);
    }
    let symbol = |p: &Packet| format!("S{}:T{}", p.segment(), p.token >> 8);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ticks.csv");
    let mut recorder = Recorder::create(&path).expect("create");
    let mut written = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        let received = Nanos(1_700_000_000_000_000_000 + (i as u64 / 3) * 1000);
        if recorder.record(received, &symbol(p), p).expect("record") {
            written.push((received, p));
        }
    }
    recorder.flush().expect("flush");
    assert_eq!(recorder.stats().rows as usize, written.len());
    assert!(
        recorder.stats().skipped > 0,
        "priceless packets are left out"
    );

    let sources = [DataSource::File(path)];
    let mut table = InstrumentTable::new();
    scan_instruments(&sources, &[], &mut table).expect("scan");
    let mut reader = TickReader::open(&sources, &table, BadRowPolicy::Reject).expect("open");
    let (mut read, mut chunk) = (Vec::new(), Vec::new());
    while reader.read_chunk(&mut chunk, 777).expect("read") > 0 {
        read.extend_from_slice(&chunk);
    }
    let mut direct: Vec<Tick> = Vec::new();
    for (received, p) in &written {
        let id = table.find(&symbol(p)).expect("symbol read back");
        assert_eq!(
            table.spec(id).price_precision,
            p.price_precision(),
            "{}",
            symbol(p)
        );
        let ticks = p
            .to_ticks(id, *received)
            .expect("recorded packets have ticks");
        direct.extend(ticks.ticks());
    }
    assert_eq!(read.len(), direct.len());
    let first_difference = read.iter().zip(&direct).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "the same ticks, in order");
}

// ---- allocation ----

#[test]
fn decode_to_ticks_and_record_allocate_nothing() {
    let mut rng = Rng(5);
    let packets: Vec<Packet> = (0..100)
        .map(|i| random_packet(&mut rng, PacketKind::ALL[i % 5]))
        .collect();
    let bodies: Vec<Vec<u8>> = packets.iter().map(encode).collect();
    let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    let message = frame(&refs);
    let mut decoder = Decoder::new();
    let mut recorder = Recorder::new(std::io::sink()).expect("recorder");
    let mut ring: Vec<Tick> = Vec::with_capacity(1 << 16);
    let mut run = |decoder: &mut Decoder, ring: &mut Vec<Tick>| {
        for packet in decoder.packets(&message) {
            let packet = packet.expect("valid frame");
            let id = InstrumentId(packet.token & 0xFF);
            recorder
                .record(Nanos(1), "NSE:INFY", &packet)
                .expect("record");
            if let Some(ticks) = packet.to_ticks(id, Nanos(1)) {
                ring.push(ticks.first);
                if let Some(second) = ticks.second {
                    ring.push(second);
                }
            }
        }
    };
    run(&mut decoder, &mut ring); // warm-up
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..200 {
        run(&mut decoder, &mut ring);
    }
    let allocations = ALLOCATIONS.with(Cell::get) - before;
    assert_eq!(
        allocations, 0,
        "allocations on the decode path after warm-up"
    );
    assert!(ring.len() > 20_000, "ticks were made: {}", ring.len());
}
