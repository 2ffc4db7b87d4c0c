//! The Kite emulator (`scripts/kite_emulator.py`) against Zerodha's official Python client,
//! so the emulator speaks Kite's protocol and not only ours. The emulator runs on free
//! loopback ports with the sample in `tests/data/kite/`; `tests/kite_emulator_check.py`
//! drives it with `KiteConnect(root=...)` and `KiteTicker(root=...)` (orders placed,
//! modified, cancelled, rejected and filled; books and positions read; ticks decoded by the
//! client and compared with the tick file; a dropped connection, the rate limit, login and
//! token expiry). The emulator must stop cleanly on SIGTERM, and report bad input files
//! with file and line.
//!
//! The Python environment comes from `scripts/kite_venv.py` (PyPI's `kiteconnect` and
//! `websockets`). Where it cannot be built the tests print `SKIPPED` and pass, except under
//! `CI`, where they fail.
//!
//! Starting the emulator from a test: spawn `<venv python> scripts/kite_emulator.py
//! --ws-port 0 --http-port 0 ...` with stdout piped and read its first line, one JSON
//! object: `{"ws": "ws://127.0.0.1:P", "http": "http://127.0.0.1:Q", "pid": N}`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::kite::{Emulator, kite_python};
use common::project_root;
use serde_json::Value;

const SAMPLE: [&str; 6] = [
    "--instruments",
    "tests/data/kite/instruments.csv",
    "--ticks",
    "tests/data/kite/ticks.csv",
    "--state",
    "tests/data/kite/state.json",
];

#[test]
fn official_python_client_drives_the_emulator() {
    let Some(python) = kite_python("official_python_client_drives_the_emulator") else {
        return;
    };
    let mut emulator = Emulator::start(
        &python,
        &[&SAMPLE[..], &["--loop", "--interval-ms", "10"]].concat(),
    );
    let output = assert_cmd::Command::new(&python)
        .arg("tests/kite_emulator_check.py")
        .args(["--http", &emulator.http, "--ws", &emulator.ws])
        .args(SAMPLE)
        .current_dir(project_root())
        // Only a guard against a hang; the script's own waits are far shorter.
        .timeout(Duration::from_secs(300))
        .output()
        .expect("the check script runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the official client's checks failed:\n{}\n{stdout}\n--- emulator stderr ---\n{}",
        String::from_utf8_lossy(&output.stderr),
        emulator.stderr_text()
    );
    let summary: Value = serde_json::from_str(&stdout).expect("the check prints JSON");
    assert_eq!(summary["ok"], true, "{summary}");
    let checks = summary["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 14, "every check ran: {summary}");
    for (symbol, n) in summary["ticks_compared"]
        .as_object()
        .expect("ticks_compared")
    {
        assert!(
            n.as_u64().unwrap_or(0) >= 2,
            "{symbol}: too few ticks compared: {summary}"
        );
    }
    assert!(
        summary["http_429"].as_u64().unwrap_or(0) > 0,
        "rate limit hit: {summary}"
    );
    let status = emulator.stop();
    assert!(
        status.success(),
        "the emulator exits 0 on SIGTERM: {status}\n{}",
        emulator.stderr_text()
    );
}

#[test]
fn bad_input_files_are_reported_with_file_and_line() {
    let Some(python) = kite_python("bad_input_files_are_reported_with_file_and_line") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let ticks = dir.path().join("ticks.csv");
    std::fs::write(
        &ticks,
        "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n\
         1781235900000000000,NSE:INFY,1572.60,1572.70,5,5,1572.65,1\n\
         1781235900100000000,NSE:INFY,1572.605,1572.70,5,5,,\n\
         1781235900200000000,NSE:NOPE,1.00,1.05,1,1,,\n\
         1781235900300000000,NSE:INFY,1572.60,1572.70,x,5,,\n",
    )
    .expect("ticks");
    let output = Command::new(&python)
        .arg("scripts/kite_emulator.py")
        .args([
            "--instruments",
            "tests/data/kite/instruments.csv",
            "--ticks",
        ])
        .arg(&ticks)
        .current_dir(project_root())
        .output()
        .expect("the emulator runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "exit 2 on bad input: {stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "no port line when it does not start"
    );
    let path = ticks.display().to_string();
    for needle in [
        format!("{path}:3: field 'bid': '1572.605' has more than 2 decimals"),
        format!("{path}:4: symbol 'NSE:NOPE' is not in"),
        format!("{path}:5: field 'bid_size': expected an integer, found 'x'"),
    ] {
        assert!(
            stderr.contains(&needle),
            "stderr lacks {needle:?}:\n{stderr}"
        );
    }
}
