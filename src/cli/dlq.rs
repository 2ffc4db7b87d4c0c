//! `alpha-panda dlq list|show|replay`: the dead letters of a run (see `dlq`).
//!
//! PATH is a dead-letter file, a `dead_letters/` directory or a run's output directory
//! (default `out`, the default `[output] dir`); a directory means its latest file. Exit
//! codes: 0 done (replay: every letter decodes now), 1 replay found letters that still do
//! not decode, 2 an error (bad arguments, a missing or corrupt file, named by file:line).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use crate::config::EngineConfig;
use crate::dlq::file::{self, DeadLetterFile};
use crate::dlq::replay::{self, Outcome};
use crate::dlq::{Letter, StoredLetter};

#[derive(Args, Debug)]
pub(crate) struct DlqArgs {
    #[command(subcommand)]
    command: DlqCommand,
}

#[derive(Subcommand, Debug)]
enum DlqCommand {
    /// A table of the dead letters: #, time, source, origin, reason, size.
    List(PathArg),
    /// Everything about dead letter N; its raw bytes as text when printable, else a hex dump.
    Show(ShowArgs),
    /// Decode every dead letter again with the engine's decoder for its source, and say
    /// what each decodes to now. Exit 1 when any still fails.
    Replay(ReplayArgs),
}

#[derive(Args, Debug)]
struct PathArg {
    /// A dead-letter file, a dead_letters directory or a run's output directory (its latest
    /// file).
    #[arg(value_name = "PATH", default_value = "out")]
    path: PathBuf,
}

#[derive(Args, Debug)]
struct ShowArgs {
    /// The letter's number (the # column of `dlq list`).
    #[arg(value_name = "N")]
    n: u64,
    #[command(flatten)]
    path: PathArg,
}

#[derive(Args, Debug)]
struct ReplayArgs {
    #[command(flatten)]
    path: PathArg,
    /// Engine configuration whose `[instruments.SYMBOL]` precisions override (or add to) the
    /// run's instrument table (the fix to try).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Replay only letter N; repeatable.
    #[arg(long = "only", value_name = "N")]
    only: Vec<u64>,
}

pub(crate) fn dlq(args: DlqArgs) -> Result<ExitCode> {
    match args.command {
        DlqCommand::List(path) => {
            let file = open(&path.path)?;
            print!("{}", list(&file));
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Show(args) => {
            let file = open(&args.path.path)?;
            let Some(letter) = file.get(args.n) else {
                bail!(
                    "{}: no dead letter {} (it holds {})",
                    file.path.display(),
                    args.n,
                    held(&file)
                );
            };
            print!("{}", show(&file, letter));
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Replay(args) => replay_all(&args),
    }
}

/// The latest file PATH names, read whole; notes about it on stderr.
fn open(path: &Path) -> Result<DeadLetterFile> {
    let files = file::locate(path)?;
    let Some(latest) = files.last() else {
        bail!("{}: no dead-letter files", path.display());
    };
    let read = file::read(latest)?;
    if files.len() > 1 {
        eprintln!(
            "{} dead-letter files; showing the latest, {} (pass a file to see another)",
            files.len(),
            latest.display()
        );
    }
    if let Some(line) = read.partial_tail {
        eprintln!(
            "note: {}:{line} is an unfinished last line (the run stopped while writing it); skipped",
            read.path.display()
        );
    }
    Ok(read)
}

fn held(file: &DeadLetterFile) -> String {
    match (file.letters.first(), file.letters.last()) {
        (Some(first), Some(last)) => format!("{} to {}", first.n, last.n),
        _ => "none".to_owned(),
    }
}

/// Unix ns as `2024-08-08T12:00:00.123Z`.
fn utc(ns: u64) -> String {
    match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        Err(_) => ns.to_string(),
    }
}

/// At most `max` characters of `text` on one line.
fn cut(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut short: String = one_line.chars().take(max.saturating_sub(3)).collect();
    short.push_str("...");
    short
}

fn list(file: &DeadLetterFile) -> String {
    let mut out = format!(
        "{} (run {}, {} dead letter(s))\n",
        file.path.display(),
        file.header.run_id,
        file.letters.len()
    );
    let rows: Vec<[String; 6]> = file
        .letters
        .iter()
        .map(|s| {
            let l = &s.letter;
            [
                s.n.to_string(),
                utc(l.time_unix_ns),
                l.source.name().to_owned(),
                cut(&l.origin.to_string(), 48),
                cut(&l.reason, 100),
                l.raw.len().to_string(),
            ]
        })
        .collect();
    let titles = ["#", "time", "source", "origin", "reason", "size"];
    let mut widths = titles.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: [&str; 6]| {
        let _ = writeln!(
            out,
            "{:>w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {:<w4$}  {:>w5$}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
            w5 = widths[5],
        );
    };
    line(titles);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]]);
    }
    out
}

/// Text a terminal shows as it is: UTF-8 without control characters other than tab.
fn printable(raw: &[u8]) -> Option<&str> {
    std::str::from_utf8(raw)
        .ok()
        .filter(|t| t.chars().all(|c| c == '\t' || !c.is_control()))
}

/// `offset  16 bytes in hex  |ascii|`, as `hexdump -C` shows them.
fn hex_dump(raw: &[u8]) -> String {
    let mut out = String::new();
    for (i, chunk) in raw.chunks(16).enumerate() {
        let _ = write!(out, "  {:08x} ", i * 16);
        for k in 0..16 {
            match chunk.get(k) {
                Some(b) => {
                    let _ = write!(out, " {b:02x}");
                }
                None => out.push_str("   "),
            }
        }
        out.push_str("  |");
        out.extend(chunk.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '.'
            }
        }));
        out.push_str("|\n");
    }
    out
}

fn show(file: &DeadLetterFile, stored: &StoredLetter) -> String {
    let l: &Letter = &stored.letter;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "dead letter {} of {} (line {}, run {})",
        stored.n,
        file.path.display(),
        stored.line,
        file.header.run_id
    );
    let _ = writeln!(out, "source:     {}", l.source.name());
    let _ = writeln!(
        out,
        "time:       {} ({} ns)",
        utc(l.time_unix_ns),
        l.time_unix_ns
    );
    match l.event_ts_ns {
        Some(ts) => {
            let _ = writeln!(out, "event time: {} ({ts} ns)", utc(ts));
        }
        None => out.push_str("event time: unknown\n"),
    }
    let _ = writeln!(out, "origin:     {}", l.origin);
    let _ = writeln!(out, "reason:     {}", l.reason);
    let _ = writeln!(out, "size:       {} bytes", l.raw.len());
    match printable(&l.raw) {
        Some(text) => {
            let _ = writeln!(out, "raw (text):\n  {text}");
        }
        None => {
            let _ = write!(out, "raw (hex):\n{}", hex_dump(&l.raw));
        }
    }
    out
}

fn replay_all(args: &ReplayArgs) -> Result<ExitCode> {
    let file = open(&args.path.path)?;
    let overrides = match &args.config {
        Some(path) => EngineConfig::load(path)?.instruments,
        None => Vec::new(),
    };
    let table = replay::table(&file.header, &overrides).with_context(|| {
        format!(
            "the instrument table of {} with the overrides of {}",
            file.path.display(),
            args.config
                .as_deref()
                .map_or_else(|| "no config".to_owned(), |p| p.display().to_string())
        )
    })?;
    for n in &args.only {
        if file.get(*n).is_none() {
            bail!(
                "--only {n}: {} has no dead letter {n} (it holds {})",
                file.path.display(),
                held(&file)
            );
        }
    }
    let (mut total, mut decoded) = (0usize, 0usize);
    for stored in &file.letters {
        if !args.only.is_empty() && !args.only.contains(&stored.n) {
            continue;
        }
        let l = &stored.letter;
        total += 1;
        let outcome = replay::replay(l, &table);
        let (verdict, text) = match &outcome {
            Outcome::Decoded(what) => ("decodes", what),
            Outcome::Failed(why) => ("still fails", why),
        };
        decoded += usize::from(outcome.decoded());
        println!(
            "#{} {} {}: {verdict}: {text}",
            stored.n,
            l.source.name(),
            l.origin
        );
    }
    println!("{decoded} of {total} dead letter(s) decode now");
    Ok(if decoded == total {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_bytes_show_as_text_or_hex() {
        assert_eq!(printable(b"1,X,1.x,,,,,"), Some("1,X,1.x,,,,,"));
        assert_eq!(printable(b"a\tb"), Some("a\tb"));
        assert_eq!(
            printable(b"row\r"),
            None,
            "a carriage return is shown in hex"
        );
        assert_eq!(printable(&[0xff, 0]), None);
        assert_eq!(
            hex_dump(b"0123456789abcdefXY\x00"),
            "  00000000  30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66  |0123456789abcdef|\n  00000010  58 59 00                                         |XY.|\n"
        );
    }

    #[test]
    fn times_and_cells() {
        assert_eq!(utc(1_723_161_254_123_456_789), "2024-08-08T23:54:14.123Z");
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("a\nb", 10), "a b");
        assert_eq!(cut("0123456789abc", 8), "01234...");
    }
}
