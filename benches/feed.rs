//! Feed throughput (`Throughput::Bytes` of input). Workloads:
//! - `csv/load/*`: pre-scan + parse into ticks (what a backtest does at start-up), on the
//!   embedded Binance excerpt (2.5 MB) and, when `../shared/data` is present, the 64 MB Lean FX
//!   file (1.23 M quotes). Files are read from memory (`DataSource::Embedded`), so disk and
//!   page-cache reads are left out.
//! - `csv/parse/*`: the parse pass alone (the instrument table is built outside the timing).
//! - `binary/decode/*`: reading the same data converted to the binary format, from memory;
//!   the conversion runs once outside the timing.
//!
//! The timed region ends when the last chunk is read; nothing consumes the ticks beyond a
//! `black_box` of each chunk.

use std::hint::black_box;
use std::path::Path;

use alpha_panda::config::BadRowPolicy;
use alpha_panda::domain::{InstrumentTable, Tick};
use alpha_panda::feed::{DataSource, TickReader, convert_to_binary, scan_instruments};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const EXCERPT: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/binance_l1_2024-08-08_excerpt.csv"
));
const LEAN_FX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/quotes_lean_fx_2014-05-01_07.csv"
);
const CHUNK: usize = 8192;

fn table_for(source: &DataSource) -> InstrumentTable {
    let mut table = InstrumentTable::new();
    scan_instruments(std::slice::from_ref(source), &[], &mut table).expect("scan");
    table
}

/// Reads every tick; returns the count.
fn read_all(source: &DataSource, table: &InstrumentTable, buf: &mut Vec<Tick>) -> usize {
    let mut reader =
        TickReader::open(std::slice::from_ref(source), table, BadRowPolicy::Reject).expect("open");
    let mut total = 0;
    loop {
        let n = reader.read_chunk(buf, CHUNK).expect("read");
        if n == 0 {
            return total;
        }
        black_box(&buf[..]);
        total += n;
    }
}

/// The workloads: name, CSV bytes. The large file is skipped when absent.
fn inputs() -> Vec<(&'static str, &'static [u8])> {
    let mut inputs = vec![("binance_excerpt", EXCERPT)];
    match std::fs::read(LEAN_FX) {
        Ok(bytes) => inputs.push(("lean_fx_64mb", Box::leak(bytes.into_boxed_slice()))),
        Err(e) => eprintln!("feed bench: skipping {LEAN_FX}: {e}"),
    }
    inputs
}

fn bench_feed(c: &mut Criterion) {
    let inputs = inputs();
    let mut buf = Vec::with_capacity(CHUNK);

    let mut csv = c.benchmark_group("csv");
    csv.sample_size(10);
    for &(name, bytes) in &inputs {
        let source = DataSource::Embedded { name, bytes };
        let table = table_for(&source);
        csv.throughput(Throughput::Bytes(bytes.len() as u64));
        csv.bench_function(format!("load/{name}"), |b| {
            b.iter(|| read_all(&source, &table_for(&source), &mut buf))
        });
        csv.bench_function(format!("parse/{name}"), |b| {
            b.iter(|| read_all(&source, &table, &mut buf))
        });
    }
    csv.finish();

    let dir = tempfile::tempdir().expect("temp dir");
    let mut binary = c.benchmark_group("binary");
    binary.sample_size(20);
    for &(name, bytes) in &inputs {
        let path = dir.path().join(format!("{name}.bin"));
        convert(DataSource::Embedded { name, bytes }, &path);
        let encoded: &'static [u8] = Box::leak(
            std::fs::read(&path)
                .expect("read binary")
                .into_boxed_slice(),
        );
        let source = DataSource::Embedded {
            name,
            bytes: encoded,
        };
        let table = table_for(&source);
        binary.throughput(Throughput::Bytes(encoded.len() as u64));
        binary.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| read_all(&source, &table, &mut buf))
        });
    }
    binary.finish();
}

fn convert(source: DataSource, output: &Path) {
    convert_to_binary(&source, output, &[], BadRowPolicy::Reject).expect("convert");
}

criterion_group!(benches, bench_feed);
criterion_main!(benches);
