//! Dead letters through the real binary (issue 12): rows skipped under `bad_rows = "skip"`
//! in a backtest and in `alpha-panda live` (replay feed), and malformed frames, texts and
//! unknown order updates on the Kite ticker (emulator), land in the run's
//! `dead_letters/<run id>.jsonl` with their exact raw bytes and the engine's reason; they
//! are counted on `/metrics`; `dlq list`, `dlq show` and `dlq replay` read them, and replay
//! decodes a row once the config that caused it is fixed.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use alpha_panda::dlq::{DeadLetterFile, Source, file};
use common::live::{Running, live, poll, read, write_config};
use common::{bin, excerpt, free_port};

const STRATEGY: &str = "strategies/ema_cross_btcusdt_spot.toml";
/// A price with a letter in it: bad under any config.
const GARBAGE: &str = "1723161254150000000,BTCUSDT-SPOT,61837.6x,61837.64,1.5,1.5,,";
/// Three decimals: bad while the config fixes BTCUSDT-SPOT at 2, good at 3.
const PRECISE: &str = "1723161254250000000,BTCUSDT-SPOT,61837.635,61837.64,1.5,1.5,,";

/// The first `rows` rows of the excerpt with the two bad rows after rows 2 and 4 (lines 4
/// and 7, the header being line 1); the bad rows' line numbers.
fn data_with_bad_rows(dir: &Path, rows: usize) -> (PathBuf, [u64; 2]) {
    let text = read(&excerpt());
    let mut lines: Vec<&str> = text.lines().take(rows + 1).collect();
    lines.insert(3, GARBAGE);
    lines.insert(6, PRECISE);
    let path = dir.join("bad rows.csv");
    std::fs::write(&path, lines.join("\n") + "\n").expect("data");
    (path, [4, 7])
}

/// An engine config: `[instruments.BTCUSDT-SPOT] price_precision = P` and `bad_rows`.
fn precision_config(dir: &Path, name: &str, precision: u8) -> PathBuf {
    let text = alpha_panda::config::engine::DEFAULT_ENGINE_TOML
        .replace("bad_rows = \"reject\"", "bad_rows = \"skip\"")
        .replace(
            "# price_precision = 2 ",
            &format!("price_precision = {precision} "),
        );
    assert!(text.contains(&format!("price_precision = {precision}")));
    let path = dir.join(name);
    std::fs::write(&path, text).expect("config");
    path
}

/// The one dead-letter file under `out`.
fn dead_letter_file(out: &Path) -> DeadLetterFile {
    let files = file::locate(out).expect("a dead-letter file");
    assert_eq!(files.len(), 1, "{files:?}");
    file::read(&files[0]).expect("readable")
}

fn dlq(args: &[&str]) -> (Option<i32>, String, String) {
    let out = bin().arg("dlq").args(args).output().expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Each letter of `found` is one of the bad rows, raw bytes exact, reason at its line.
fn assert_bad_rows(found: &DeadLetterFile, data: &Path, lines: [u64; 2]) {
    let got: Vec<(Source, &[u8], &str)> = found
        .letters
        .iter()
        .map(|l| {
            (
                l.letter.source,
                l.letter.raw.as_slice(),
                l.letter.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    let name = data.display();
    let expected = [
        (GARBAGE, lines[0], "field 'bid': expected a decimal number"),
        (
            PRECISE,
            lines[1],
            "field 'bid': expected at most 2 decimals",
        ),
    ];
    for ((source, raw, reason), (row, line, says)) in got.into_iter().zip(expected) {
        assert_eq!(source, Source::CsvRow);
        assert_eq!(raw, row.as_bytes(), "raw bytes exactly");
        assert!(
            reason.starts_with(&format!("{name}:{line}: {says}")),
            "{reason}"
        );
    }
}

#[test]
fn a_backtest_under_skip_keeps_every_bad_row_and_replay_decodes_it_after_the_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (data, lines) = data_with_bad_rows(dir.path(), 300);
    let config = precision_config(dir.path(), "skip.toml", 2);
    let out_dir = dir.path().join("out");
    let run = bin()
        .args(["backtest", "--data"])
        .arg(&data)
        .args(["--strategies", STRATEGY, "--json", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).expect("json");
    assert_eq!(summary["skipped_rows"], 2);
    assert!(stderr.contains("2 dead letter(s) in "), "{stderr}");

    let found = dead_letter_file(&out_dir);
    assert_bad_rows(&found, &data, lines);
    assert_eq!(
        found.header.instruments[0].price_precision, 2,
        "the header keeps the run's table"
    );
    let out = out_dir.display().to_string();

    // list: a row per letter with its origin and reason; show: everything, raw as text.
    let (code, list, stderr) = dlq(&["list", &out]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(list.contains("#  time"), "{list}");
    for (n, line) in [(1, lines[0]), (2, lines[1])] {
        let row = list
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{n} ")))
            .unwrap_or_else(|| panic!("row {n}: {list}"));
        assert!(row.contains("csv_row"), "{row}");
        assert!(row.contains(&format!("{}:{line}", data.display())), "{row}");
    }
    let (code, show, _) = dlq(&["show", "2", &out]);
    assert_eq!(code, Some(0));
    assert!(
        show.contains(&format!("raw (text):\n  {PRECISE}\n")),
        "{show}"
    );
    assert!(
        show.contains("event time: 2024-08-08T23:54:14.250Z"),
        "{show}"
    );
    assert!(show.contains("expected at most 2 decimals"), "{show}");

    // replay: nothing decodes under the run's table; at 3 decimals the precise row does.
    let (code, replay, _) = dlq(&["replay", &out]);
    assert_eq!(code, Some(1), "{replay}");
    assert!(
        replay.contains("0 of 2 dead letter(s) decode now"),
        "{replay}"
    );
    let fixed = precision_config(dir.path(), "fixed.toml", 3);
    let fixed = fixed.display().to_string();
    let (code, replay, stderr) = dlq(&["replay", &out, "--config", &fixed]);
    assert_eq!(code, Some(1), "{replay}{stderr}");
    assert!(
        replay.contains("#2 csv_row")
            && replay.contains("decodes: quote BTCUSDT-SPOT at 1723161254250000000 bid 61837.635"),
        "{replay}"
    );
    assert!(
        replay.contains("#1 csv_row") && replay.contains("still fails:"),
        "{replay}"
    );
    assert!(
        replay.contains("1 of 2 dead letter(s) decode now"),
        "{replay}"
    );
    let (code, replay, _) = dlq(&["replay", &out, "--config", &fixed, "--only", "2"]);
    assert_eq!(code, Some(0), "{replay}");

    // Bad arguments and corrupt files are errors (exit 2) that name what is wrong.
    let (code, _, stderr) = dlq(&["show", "9", &out]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("no dead letter 9 (it holds 1 to 2)"),
        "{stderr}"
    );
    let (code, _, stderr) = dlq(&["list", &dir.path().join("nowhere").display().to_string()]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no such file or directory"), "{stderr}");
    let corrupt = dir.path().join("corrupt.jsonl");
    let mut text = read(&found.path);
    text.push_str("{\"n\":3,\"source\":\"csv_row\"}\n{}\n");
    std::fs::write(&corrupt, text).expect("corrupt file");
    let (code, _, stderr) = dlq(&["list", &corrupt.display().to_string()]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains(&format!("{}:4: expected a dead letter", corrupt.display())),
        "{stderr}"
    );
}

#[test]
fn a_backtest_without_bad_rows_or_without_out_writes_no_dead_letters() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clean = dir.path().join("clean.csv");
    let text = read(&excerpt());
    let rows: Vec<&str> = text.lines().take(200).collect();
    std::fs::write(&clean, rows.join("\n") + "\n").expect("data");
    let out = dir.path().join("out");
    let run = bin()
        .args(["backtest", "--data"])
        .arg(&clean)
        .args(["--strategies", STRATEGY, "--json", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(run.status.code(), Some(0));
    assert!(out.join("summary.json").is_file());
    assert!(
        !out.join("dead_letters").exists(),
        "a clean run leaves no file"
    );
    let (code, _, stderr) = dlq(&["list", &out.display().to_string()]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no dead-letter files"), "{stderr}");
}

#[test]
fn live_on_a_replay_counts_skipped_rows_on_metrics_and_keeps_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (data, lines) = data_with_bad_rows(dir.path(), 2_000);
    let port = free_port();
    let config = write_config(dir.path(), port, "");
    let text = read(&config)
        .replace(
            &excerpt().display().to_string(),
            &data.display().to_string(),
        )
        .replace("speed = 10", "speed = 0")
        + "\n[data]\nbad_rows = \"skip\"\n\n[instruments.BTCUSDT-SPOT]\nprice_precision = 2\n";
    std::fs::write(&config, text).expect("config");
    let running = Running::spawn("live", live(&config));
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let sample = "alpha_panda_dead_letters_total{source=\"csv_row\"} 2\n";
    let body = poll(&metrics, Duration::from_secs(120), |status, body| {
        status == 200 && body.contains(sample)
    });
    for source in Source::ALL.iter().filter(|s| **s != Source::CsvRow) {
        let zero = format!(
            "alpha_panda_dead_letters_total{{source=\"{}\"}} 0\n",
            source.name()
        );
        assert!(body.contains(&zero), "{zero}: {body}");
    }
    assert!(
        body.contains("alpha_panda_dead_letters_dropped_total 0\n"),
        "{body}"
    );
    // The file is flushed whenever the writer's queue runs empty: readable while running.
    let while_running = dead_letter_file(&dir.path().join("out"));
    assert_bad_rows(&while_running, &data, lines);
    let (status, stderr) = running.stop(Duration::from_secs(60));
    assert!(status.success(), "{stderr}");
    let found = dead_letter_file(&dir.path().join("out"));
    assert_bad_rows(&found, &data, lines);
    assert!(
        found
            .path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains('Z')),
        "named after the run id: {}",
        found.path.display()
    );
    let market_data = read(&dir.path().join("logs/market_data.log"));
    assert!(market_data.contains("dead letter(s) in"), "{market_data}");
}

#[test]
fn kite_frames_texts_and_unknown_order_updates_become_dead_letters() {
    use common::kite::{Live, agent, kite_python, sample_emulator, wait_until, write_files_with};
    let Some(python) = kite_python("dead_letters") else {
        return;
    };
    let emulator = sample_emulator(&python, &["--loop", "--interval-ms", "5"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let venue = format!(
        "kind = \"kite\"\nroot_url = \"{}\"\napi_key_env = \"KITE_API_KEY\"\naccess_token_env = \"KITE_ACCESS_TOKEN\"\nproduct = \"MIS\"\norders = \"live\"\npoll_ms = 200\n",
        emulator.http
    );
    let (engine, strategy) = write_files_with(dir.path(), &emulator.ws, port, "zerodha", &venue);
    let mut live = Live::start(&engine, &strategy);
    let ready = format!("http://127.0.0.1:{port}/health/ready");
    wait_until("ready", Duration::from_secs(120), || {
        agent()
            .get(&ready)
            .call()
            .is_ok_and(|r| r.status().as_u16() == 200)
    });
    // A frame that says one 8-byte packet and ends after its length; text that is not JSON;
    // an update for an order nobody placed through this run; an update without an order.
    let frame_hex = "00010008000601";
    let unknown = r#"{"type":"order","data":{"order_id":"990001","status":"COMPLETE","quantity":1,"filled_quantity":1,"average_price":100.5,"tag":"manual"}}"#;
    let no_order = r#"{"type":"order","data":"oops"}"#;
    let push = |body: serde_json::Value| {
        let answer = agent()
            .post(&format!("{}/_emulator/push", emulator.http))
            .header("Content-Type", "application/json")
            .send(body.to_string());
        assert!(answer.is_ok(), "push {body}");
    };
    push(serde_json::json!({ "binary_hex": frame_hex }));
    push(serde_json::json!({ "text": "hello, not json" }));
    push(serde_json::json!({ "text": unknown }));
    push(serde_json::json!({ "text": no_order }));
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let count = |body: &str, source: &str| -> u64 {
        let key = format!("alpha_panda_dead_letters_total{{source=\"{source}\"}} ");
        body.lines()
            .find_map(|l| l.strip_prefix(&key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    poll(&metrics, Duration::from_secs(60), |_, body| {
        count(body, "kite_frame") >= 1
            && count(body, "kite_text") >= 1
            && count(body, "kite_order_update") >= 2
    });
    let status = live.terminate();
    assert!(status.success(), "{status:?}");

    let found = dead_letter_file(&dir.path().join("out"));
    let find = |source: Source, raw: &[u8]| {
        found
            .letters
            .iter()
            .find(|l| l.letter.source == source && l.letter.raw == raw)
            .unwrap_or_else(|| panic!("{source:?} {raw:?} in {:?}", found.letters))
    };
    let frame: Vec<u8> = (0..frame_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&frame_hex[i..i + 2], 16).expect("hex"))
        .collect();
    let f = find(Source::KiteFrame, &frame);
    assert!(
        f.letter.reason.contains("past the end"),
        "{}",
        f.letter.reason
    );
    assert_eq!(f.letter.origin.to_string(), "kite ticker");
    let t = find(Source::KiteText, b"hello, not json");
    assert!(
        t.letter.reason.contains("not Kite JSON"),
        "{}",
        t.letter.reason
    );
    let u = find(Source::KiteOrderUpdate, unknown.as_bytes());
    assert!(
        u.letter
            .reason
            .contains("order 990001 (tag manual), which is not one of this run's orders"),
        "{}",
        u.letter.reason
    );
    let o = find(Source::KiteOrderUpdate, no_order.as_bytes());
    assert!(
        o.letter.reason.contains("field 'data'"),
        "{}",
        o.letter.reason
    );
    // The frame is binary: `show` dumps it in hex. Replay: the unknown order's update
    // decodes (it is readable; only the run did not know it), the others still fail.
    let path = found.path.display().to_string();
    let (code, show, _) = dlq(&["show", &f.n.to_string(), &path]);
    assert_eq!(code, Some(0));
    assert!(
        show.contains("raw (hex):\n  00000000  00 01 00 08 00 06 01"),
        "{show}"
    );
    let only: Vec<String> = [f.n, t.n, u.n, o.n].iter().map(u64::to_string).collect();
    let mut args = vec!["replay", path.as_str()];
    for n in &only {
        args.extend(["--only", n.as_str()]);
    }
    let (code, replay, _) = dlq(&args);
    assert_eq!(code, Some(1), "{replay}");
    assert!(replay.contains(&format!("#{} kite_order_update kite ticker: decodes: order 990001 COMPLETE filled 1/1 avg 100.50 tag manual", u.n)), "{replay}");
    assert!(
        replay.contains(&format!("#{} kite_frame kite ticker: still fails", f.n)),
        "{replay}"
    );
    assert!(
        replay.contains("1 of 4 dead letter(s) decode now"),
        "{replay}"
    );
}
