//! Bad market data files through the real binary (issue 12): prices that could overflow a
//! sum, zero and negative prices, timestamps in the wrong unit, a file given twice, a
//! timestamp typo under `bad_rows = "skip"`, and damaged binary tick files. Each is refused
//! with exit 2 and `file:line: field` (binary files: the byte offset), or, where the data
//! can be used, gives exactly the results of the clean file.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{bin, excerpt, json, without_timings};

const H: &str = "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n";
/// A strategy that trades on the excerpt (BTCUSDT-SPOT), so changed data shows in its fills.
const STRATEGY: &str = "strategies/ema_cross_btcusdt_spot.toml";

fn backtest(data: &[&Path], config: Option<&Path>) -> Output {
    let mut cmd = bin();
    cmd.arg("backtest");
    for path in data {
        cmd.arg("--data").arg(path);
    }
    cmd.args(["--strategies", STRATEGY, "--json"]);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    cmd.output().expect("runs")
}

/// Runs a backtest that must fail with exit 2; returns stderr.
fn refused(data: &[&Path], config: Option<&Path>) -> String {
    let output = backtest(data, config);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    stderr
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

fn skip_config(dir: &Path) -> PathBuf {
    let engine = alpha_panda::config::engine::DEFAULT_ENGINE_TOML
        .replace("bad_rows = \"reject\"", "bad_rows = \"skip\"");
    assert!(
        engine.contains("bad_rows = \"skip\""),
        "the default names bad_rows"
    );
    write(dir, "skip.toml", &engine)
}

#[test]
fn prices_that_could_overflow_and_prices_not_above_zero_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = "1723161254000000000,BTCUSDT-SPOT,61837.63,61837.64,1.5,1.5,,\n";
    let cases = [
        (
            "bid and ask near 4.6e16 wrapped their sum",
            "1723161254100000000,BTCUSDT-SPOT,50000000000000000.00,50000000000000000.01,1,1,,\n",
            "p.csv:3: field 'bid': expected at most 10000000000000000 (10^18 raw",
        ),
        (
            "zero bid",
            "1723161254100000000,BTCUSDT-SPOT,0,61837.64,1,1,,\n",
            "p.csv:3: field 'bid': expected a price > 0, found '0'",
        ),
        (
            "negative last",
            "1723161254100000000,BTCUSDT-SPOT,,,,,-61837.64,1\n",
            "p.csv:3: field 'last': expected a price > 0, found '-61837.64'",
        ),
        (
            "size that could overflow a sum",
            "1723161254100000000,BTCUSDT-SPOT,61837.63,61837.64,99999999999999999.9,1,,\n",
            "p.csv:3: field 'bid_size': expected at most 10000000000000 (10^18 raw at the instrument's 5 decimals",
        ),
    ];
    for (name, row, says) in cases {
        let data = write(dir.path(), "p.csv", &format!("{H}{good}{row}"));
        let stderr = refused(&[&data], None);
        assert!(stderr.contains(says), "{name}: {stderr}");
    }
}

#[test]
fn timestamps_in_the_wrong_unit_are_refused_and_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        ("milliseconds", "1723161254024", "milliseconds"),
        ("seconds", "1723161254", "seconds"),
        ("microseconds", "1723161254024619", "microseconds"),
    ];
    for (name, ts, unit) in cases {
        let data = write(
            dir.path(),
            "t.csv",
            &format!("{H}{ts},BTCUSDT-SPOT,61837.63,61837.64,1,1,,\n"),
        );
        let stderr = refused(&[&data], None);
        let says = format!(
            "t.csv:2: field 'ts_ns': expected nanoseconds since the Unix epoch from 2000-01-01 up \
             to 2100-01-01, found {ts} (it looks like {unit} since the epoch)"
        );
        assert!(stderr.contains(&says), "{name}: {stderr}");
    }
}

#[test]
fn a_data_file_given_twice_is_refused_naming_both() {
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("copy.csv");
    std::fs::copy(excerpt(), &copy).expect("copy");
    let original = excerpt();
    let cases: [(&str, [&Path; 2], &str); 2] = [
        ("same path", [&original, &original], "the same file as"),
        ("same bytes", [&original, &copy], "the same bytes as"),
    ];
    for (name, data, what) in cases {
        let stderr = refused(&data, None);
        let says = format!(
            "{}: {what} {} (data source 1 of 2)",
            data[1].display(),
            data[0].display()
        );
        assert!(stderr.contains(&says), "{name}: {stderr}");
        assert!(stderr.contains("every tick twice"), "{name}: {stderr}");
    }
    // Different files merge as before.
    let other = write(
        dir.path(),
        "other.csv",
        &format!("{H}1723161254000000000,BTCUSDT-SPOT,61837.63,61837.64,1,1,,\n"),
    );
    let alone = json(&backtest(&[&original], None));
    let merged = json(&backtest(&[&original, &other], None));
    assert_eq!(
        merged["ticks"].as_u64(),
        alone["ticks"].as_u64().map(|t| t + 1),
        "{merged}"
    );
}

/// The excerpt's text with `row` inserted as line `line` (1-based, the header is line 1).
fn excerpt_with(line: usize, row: &str) -> String {
    let text = std::fs::read_to_string(excerpt()).expect("excerpt");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(line - 1, row);
    lines.join("\n") + "\n"
}

#[test]
fn a_timestamp_typo_far_ahead_is_the_one_skipped_row() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = skip_config(dir.path());
    let text = std::fs::read_to_string(excerpt()).expect("excerpt");
    let line_20: Vec<&str> = text
        .lines()
        .nth(19)
        .expect("line 20")
        .splitn(2, ',')
        .collect();
    // Line 20's row again, its timestamp a year ahead (a typo'd digit).
    let typo_ts = line_20[0].parse::<u64>().expect("ts") + 31_536_000_000_000_000;
    let typo = write(
        dir.path(),
        "typo.csv",
        &excerpt_with(21, &format!("{typo_ts},{}", line_20[1])),
    );
    let clean = without_timings(json(&backtest(&[&excerpt()], Some(&config))));
    let output = backtest(&[&typo], Some(&config));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let mut skipped = without_timings(json(&output));
    assert_eq!(skipped["skipped_rows"], 1, "{skipped}");
    assert!(
        stderr.contains("typo.csv:21: field 'ts_ns': expected a timestamp the next row confirms"),
        "{stderr}"
    );
    // Apart from the count of skipped rows, the run is the clean one: every other row kept.
    skipped["skipped_rows"] = 0.into();
    assert_eq!(skipped, clean);
    // Under reject the run stops where time goes back, naming the row it goes back from.
    let stderr = refused(&[&typo], None);
    assert!(
        stderr.contains(&format!(
            "typo.csv:22: field 'ts_ns': expected a timestamp >= {typo_ts} (the previous row's, line 21;"
        )),
        "{stderr}"
    );
}

/// Converts the excerpt into a binary tick file in `dir`.
fn binary_excerpt(dir: &Path) -> PathBuf {
    let out = dir.join("excerpt.bin");
    bin()
        .args(["convert", "--data"])
        .arg(excerpt())
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    out
}

/// Header length + 12 (magic and length) + 4 (header CRC): the first record's offset.
fn first_record(bytes: &[u8]) -> usize {
    let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    12 + len + 4
}

#[test]
fn bit_flips_in_a_binary_file_are_refused_or_change_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = binary_excerpt(dir.path());
    let good = std::fs::read(&path).expect("read");
    let baseline = backtest(&[&path], None);
    let expected = without_timings(json(&baseline));
    assert!(
        expected["fills"].as_u64().unwrap_or_default() > 0,
        "{expected}"
    );
    let records = first_record(&good);
    let offsets = [
        3,                        // magic
        9,                        // header length
        16,                       // header
        records - 2,              // header CRC
        records,                  // first record's ts
        records + 20,             // kind
        records + 21,             // flags
        records + 22,             // reserved
        records + 56 * 17 + 25,   // a bid
        records + 56 * 4096 + 3,  // the first block's CRC
        records + 56 * 5000 + 44, // a size in the second block
        good.len() - 1,           // the last block's CRC
        good.len() / 2,           // somewhere in the middle
    ];
    for (i, offset) in offsets.into_iter().enumerate() {
        let mut bytes = good.clone();
        bytes[offset] ^= 1 << (i % 8);
        let flipped = dir.path().join("flipped.bin");
        std::fs::write(&flipped, &bytes).expect("write");
        let output = backtest(&[&flipped], None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        match output.status.code() {
            // A flip in the magic makes it no binary file: then it is no tick CSV either.
            Some(2) => assert!(
                stderr.contains("flipped.bin: byte ")
                    || stderr.contains("flipped.bin:1: expected header"),
                "offset {offset}: {stderr}"
            ),
            Some(0) => assert_eq!(
                without_timings(json(&output))
                    .as_object()
                    .map(|o| o.iter().filter(|(k, _)| *k != "data").collect::<Vec<_>>()),
                expected
                    .as_object()
                    .map(|o| o.iter().filter(|(k, _)| *k != "data").collect::<Vec<_>>()),
                "offset {offset}: a flip that is not refused changes nothing"
            ),
            other => panic!("offset {offset}: exit {other:?}: {stderr}"),
        }
    }
}

#[test]
fn binary_records_follow_the_csv_rules_and_old_files_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = binary_excerpt(dir.path());
    let good = std::fs::read(&path).expect("read");
    let records = first_record(&good);
    // Record 2's bid set to zero, then the block sealed again: only the rules catch it.
    let mut bytes = good.clone();
    let second = records + 56;
    bytes[second + 24..second + 32].copy_from_slice(&0i64.to_le_bytes());
    let block = 4096.min((good.len() - records) / 56) * 56;
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&0u64.to_le_bytes()),
        &bytes[records..records + block],
    );
    bytes[records + block..records + block + 4].copy_from_slice(&crc.to_le_bytes());
    let zero = dir.path().join("zero.bin");
    std::fs::write(&zero, &bytes).expect("write");
    let stderr = refused(&[&zero], None);
    assert!(
        stderr.contains(&format!(
            "zero.bin: byte {second}: record 2: field 'bid': expected a price > 0, found raw 0"
        )),
        "{stderr}"
    );
    // A file of the first generation (no checksums) is refused with what to do.
    let mut old = good.clone();
    old[7] = b'1';
    let old_path = dir.path().join("old.bin");
    std::fs::write(&old_path, &old).expect("write");
    let stderr = refused(&[&old_path], None);
    assert!(
        stderr.contains("old.bin: unsupported binary tick file: expected 'APTICKS2', found 'APTICKS1'; regenerate it from the CSV with `alpha-panda convert`"),
        "{stderr}"
    );
}
