//! `alpha-panda journal verify|inspect|export|archive DIR`: read a journal without running
//! the engine. `verify` checks every record (exit 0 sound, 2 corrupt with `FILE:OFFSET`; a
//! torn tail is reported, not cut: start-up cuts it); `inspect` prints records one per line;
//! `export` writes them as CSV or JSON lines (prices and quantities as exact decimals);
//! `archive` moves the segments aside so the next live run starts a new journal.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};

use crate::domain::{OrderEvent, OrderEventKind, OrderRequest, Price, Qty, RequestKind, Tick};
use crate::journal::reader::{JournalReader, Record};
use crate::journal::recover;
use crate::journal::{Entry, StartRecord, retention};

#[derive(Args, Debug)]
pub(crate) struct JournalArgs {
    #[command(subcommand)]
    command: JournalCommand,
}

#[derive(Subcommand, Debug)]
enum JournalCommand {
    /// Check every record's checksum, sequence and payload; print what the journal holds.
    Verify { dir: PathBuf },
    /// Print records one per line.
    Inspect(Range),
    /// Write records as CSV or JSON lines.
    Export {
        #[command(flatten)]
        range: Range,
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// File to write; default stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Move the journal's segments to DIR/archive/<first run id>/ (the next live run then
    /// starts afresh; `[journal] retain_days`/`retain_gib` prune archives).
    Archive { dir: PathBuf },
}

#[derive(Args, Debug)]
struct Range {
    dir: PathBuf,
    /// First record (sequence number) to show.
    #[arg(long, value_name = "SEQ")]
    from: Option<u64>,
    /// Last record to show.
    #[arg(long, value_name = "SEQ")]
    to: Option<u64>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Csv,
    Jsonl,
}

pub(crate) fn journal(args: JournalArgs) -> Result<()> {
    match args.command {
        JournalCommand::Verify { dir } => verify(&dir),
        JournalCommand::Inspect(range) => {
            each(&range, &mut std::io::stdout().lock(), |r, n, out| {
                writeln!(out, "{}", line(r, n))
            })
        }
        JournalCommand::Export { range, format, out } => {
            let mut sink: Box<dyn Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            if matches!(format, Format::Csv) {
                writeln!(
                    sink,
                    "seq,type,ts_ns,symbol,book,order_id,side,what,qty,price,detail"
                )?;
            }
            each(&range, &mut sink, |r, n, out| match format {
                Format::Csv => writeln!(out, "{}", csv_row(r, n)),
                Format::Jsonl => writeln!(out, "{}", json_line(r, n)),
            })?;
            match sink.flush() {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
        JournalCommand::Archive { dir } => {
            // No verification: a corrupt journal is exactly what one moves aside.
            let count = crate::journal::reader::segments(&dir)?.len();
            if count == 0 {
                bail!("no journal segments in {}", dir.display());
            }
            let name = match JournalReader::open(&dir)?.next_record() {
                Ok(Some(Record {
                    entry: Entry::Start(s),
                    ..
                })) => s.run_id,
                _ => format!("unreadable-{}", crate::clock::unix_now_ns()),
            };
            let to = retention::archive(&dir, &name)
                .with_context(|| format!("archiving {}", dir.display()))?;
            println!("archived {count} segment(s) to {}", to.display());
            Ok(())
        }
    }
}

/// Refuses a path that is not a journal directory, saying which way it is not.
fn journal_dir(dir: &std::path::Path) -> Result<()> {
    if !dir.exists() {
        bail!("{}: no such journal directory", dir.display());
    }
    if !dir.is_dir() {
        bail!(
            "{}: not a directory (give the journal directory, e.g. out/journal)",
            dir.display()
        );
    }
    Ok(())
}

fn verify(dir: &std::path::Path) -> Result<()> {
    journal_dir(dir)?;
    let scan = recover::scan(dir, false)?;
    println!(
        "{}: {} segment(s), {} bytes, {} records (next {}): {} ticks, {} orders, {} order events",
        dir.display(),
        scan.segments,
        scan.bytes,
        scan.records,
        scan.next_seq,
        scan.ticks,
        scan.orders,
        scan.events
    );
    for s in &scan.starts {
        println!(
            "  start: run {} (engine {}, fingerprint {}, {} ticks replayed)",
            s.run_id, s.engine_version, s.fingerprint, s.replayed_ticks
        );
    }
    println!(
        "  {}",
        if scan.is_empty() {
            "empty: the next live start begins a fresh run"
        } else if scan.finished {
            "finished: the run went through all its data"
        } else {
            "not finished: a restart recovers and goes on"
        }
    );
    if let Some(t) = &scan.torn {
        println!(
            "  torn tail at {}:{} ({} bytes): a crash mid-write; the next live start cuts it off",
            t.path.display(),
            t.offset,
            t.bytes
        );
    }
    println!("ok");
    Ok(())
}

/// Names from the latest start record, for records after it.
#[derive(Default)]
struct Names {
    start: Option<StartRecord>,
}

impl Names {
    fn symbol(&self, i: crate::domain::InstrumentId) -> String {
        self.instrument(i)
            .map_or_else(|| format!("#{}", i.0), |s| s.0.clone())
    }

    fn instrument(&self, i: crate::domain::InstrumentId) -> Option<&(String, u8, u8)> {
        self.start.as_ref()?.instruments.get(i.0 as usize)
    }

    fn book(&self, b: crate::domain::BookId) -> String {
        self.start
            .as_ref()
            .and_then(|s| s.books.get(b.0 as usize).cloned())
            .unwrap_or_else(|| format!("#{}", b.0))
    }

    fn price(&self, i: crate::domain::InstrumentId, p: Price) -> String {
        self.instrument(i)
            .map_or_else(|| p.0.to_string(), |s| p.display(s.1).to_string())
    }

    fn qty(&self, i: crate::domain::InstrumentId, q: Qty) -> String {
        self.instrument(i)
            .map_or_else(|| q.0.to_string(), |s| q.display(s.2).to_string())
    }
}

/// Runs `f` on every record in the range, with the names in force at it.
fn each(
    range: &Range,
    out: &mut dyn Write,
    mut f: impl FnMut(&Record, &Names, &mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    journal_dir(&range.dir)?;
    let (from, to) = (range.from.unwrap_or(0), range.to.unwrap_or(u64::MAX));
    if from > to {
        bail!("--from {from} is after --to {to}: no record is in that range");
    }
    let mut reader = JournalReader::open(&range.dir)?;
    let mut names = Names::default();
    while let Some(record) = reader.next_record()? {
        if let Entry::Start(s) = &record.entry {
            names.start = Some(s.clone());
        }
        if record.seq > to {
            break;
        }
        if record.seq >= from {
            match f(&record, &names, out) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                other => other?,
            }
        }
    }
    let next = reader.next_seq();
    if range.from.is_some() && from >= next {
        bail!(
            "{}: --from {from} is past the end: the journal holds records 0 to {}",
            range.dir.display(),
            next.saturating_sub(1)
        );
    }
    Ok(())
}

/// The fields every export shows: ts, symbol, book, order id, side, what, qty, price, detail.
struct Row {
    ts: u64,
    symbol: String,
    book: String,
    order: String,
    side: &'static str,
    what: String,
    qty: String,
    price: String,
    detail: String,
}

fn row(entry: &Entry, n: &Names) -> Row {
    let empty = Row {
        ts: 0,
        symbol: String::new(),
        book: String::new(),
        order: String::new(),
        side: "",
        what: String::new(),
        qty: String::new(),
        price: String::new(),
        detail: String::new(),
    };
    match entry {
        Entry::Start(s) => Row {
            what: "start".into(),
            detail: format!("run {} replayed {}", s.run_id, s.replayed_ticks),
            ..empty
        },
        Entry::End(e) => Row {
            what: "end".into(),
            detail: format!("{} ticks", e.ticks),
            ..empty
        },
        Entry::Tick(t) => tick_row(t, n, empty),
        Entry::Order(o) => order_row(o, n),
        Entry::Refused(e) | Entry::Event(e) => event_row(e, n),
    }
}

fn tick_row(t: &Tick, n: &Names, empty: Row) -> Row {
    Row {
        ts: t.ts.0,
        symbol: n.symbol(t.instrument),
        what: format!("{:?}", t.kind).to_lowercase(),
        qty: format!(
            "{}/{}",
            n.qty(t.instrument, t.bid_size),
            n.qty(t.instrument, t.ask_size)
        ),
        price: format!(
            "{}/{}",
            n.price(t.instrument, t.bid),
            n.price(t.instrument, t.ask)
        ),
        detail: format!("tick {}", t.seq),
        ..empty
    }
}

fn order_row(o: &OrderRequest, n: &Names) -> Row {
    let (what, qty, price) = match o.kind {
        RequestKind::New {
            qty, order_type, ..
        }
        | RequestKind::Modify {
            qty, order_type, ..
        } => (
            if matches!(o.kind, RequestKind::New { .. }) {
                "new"
            } else {
                "modify"
            },
            n.qty(o.instrument, qty),
            order_type
                .limit_price()
                .map_or_else(|| "market".to_owned(), |p| n.price(o.instrument, p)),
        ),
        RequestKind::Cancel => ("cancel", String::new(), String::new()),
    };
    Row {
        ts: o.ts.0,
        symbol: n.symbol(o.instrument),
        book: n.book(o.book),
        order: o.id.0.to_string(),
        side: o.side.as_str(),
        what: what.into(),
        qty,
        price,
        detail: format!("tick {}", o.correlation),
    }
}

fn event_row(e: &OrderEvent, n: &Names) -> Row {
    let i = e.instrument;
    let (what, qty, price, detail) = match e.kind {
        OrderEventKind::Accepted { venue_id, qty, .. } => (
            "accepted",
            n.qty(i, qty),
            String::new(),
            format!("venue id {venue_id}"),
        ),
        OrderEventKind::Rejected { reason, qty } => (
            "rejected",
            n.qty(i, qty),
            String::new(),
            reason.code().into(),
        ),
        OrderEventKind::PartiallyFilled(x) | OrderEventKind::Filled(x) => (
            if x.leaves.0 == 0 {
                "filled"
            } else {
                "partially_filled"
            },
            n.qty(i, x.qty),
            n.price(i, x.price),
            format!("fee {} raw, {}", x.fee.0, x.liquidity.name()),
        ),
        OrderEventKind::Cancelled { leaves } => {
            ("cancelled", n.qty(i, leaves), String::new(), String::new())
        }
        OrderEventKind::Expired { leaves } => {
            ("expired", n.qty(i, leaves), String::new(), String::new())
        }
        OrderEventKind::Modified { qty, .. } => {
            ("modified", n.qty(i, qty), String::new(), String::new())
        }
        OrderEventKind::CancelRejected { reason } => (
            "cancel_rejected",
            String::new(),
            String::new(),
            reason.code().into(),
        ),
        OrderEventKind::ModifyRejected { reason } => (
            "modify_rejected",
            String::new(),
            String::new(),
            reason.code().into(),
        ),
    };
    Row {
        ts: e.ts.0,
        symbol: n.symbol(i),
        book: n.book(e.book),
        order: e.id.0.to_string(),
        side: e.side.as_str(),
        what: what.into(),
        qty,
        price,
        detail,
    }
}

fn line(r: &Record, n: &Names) -> String {
    let x = row(&r.entry, n);
    // Only the fields the record has: a start or end record has no time, symbol or price.
    let ts = if x.ts == 0 {
        String::new()
    } else {
        x.ts.to_string()
    };
    let amount = match (x.qty.is_empty(), x.price.is_empty()) {
        (_, true) => x.qty,
        (true, false) => format!("@ {}", x.price),
        (false, false) => format!("{} @ {}", x.qty, x.price),
    };
    let fields = [
        ts,
        x.symbol,
        x.book,
        x.order,
        x.side.to_owned(),
        x.what,
        amount,
        x.detail,
    ];
    let shown: Vec<&str> = fields
        .iter()
        .map(String::as_str)
        .filter(|f| !f.is_empty())
        .collect();
    format!(
        "{:>10} {:<8} {}",
        r.seq,
        r.entry.kind().name(),
        shown.join(" ")
    )
}

/// CSV field, quoted when it needs to be.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn csv_row(r: &Record, n: &Names) -> String {
    let x = row(&r.entry, n);
    [
        r.seq.to_string(),
        r.entry.kind().name().to_owned(),
        x.ts.to_string(),
        x.symbol,
        x.book,
        x.order,
        x.side.to_owned(),
        x.what,
        x.qty,
        x.price,
        x.detail,
    ]
    .iter()
    .map(|s| field(s))
    .collect::<Vec<_>>()
    .join(",")
}

fn json_line(r: &Record, n: &Names) -> String {
    let x = row(&r.entry, n);
    let raw = match &r.entry {
        Entry::Start(s) => serde_json::to_value(s),
        Entry::End(e) => serde_json::to_value(e),
        Entry::Tick(t) => serde_json::to_value(t),
        Entry::Order(o) => serde_json::to_value(o),
        Entry::Refused(e) | Entry::Event(e) => serde_json::to_value(e),
    }
    .unwrap_or_default();
    serde_json::json!({
        "seq": r.seq,
        "type": r.entry.kind().name(),
        "ts_ns": x.ts,
        "symbol": x.symbol,
        "book": x.book,
        "order_id": x.order,
        "side": x.side,
        "what": x.what,
        "qty": x.qty,
        "price": x.price,
        "detail": x.detail,
        "raw": raw,
    })
    .to_string()
}
