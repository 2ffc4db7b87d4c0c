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

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::project_root;
use serde_json::Value;

/// The interpreter of the Kite venv, or `None` with a `SKIPPED` note (a failure under `CI`).
fn kite_python(test: &str) -> Option<PathBuf> {
    let why = match Command::new("python3")
        .arg(project_root().join("scripts/kite_venv.py"))
        .current_dir(project_root())
        .output()
    {
        Ok(out) if out.status.success() => {
            return Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        Err(e) => format!("python3 not runnable: {e}"),
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "kite_emulator::{test}: the Kite venv (scripts/kite_venv.py) is required under CI: {why}"
    );
    eprintln!("SKIPPED kite_emulator::{test}: the Kite venv is not available: {why}");
    None
}

/// A running emulator: SIGTERM (then SIGKILL) when dropped, also when a test fails.
struct Emulator {
    child: Option<Child>,
    ws: String,
    http: String,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Emulator {
    /// Starts the emulator with `args` and waits for its start-up line.
    fn start(python: &Path, args: &[&str]) -> Emulator {
        let dir = tempfile::tempdir().expect("temp dir");
        // A file, not a pipe: nobody reads stderr while the emulator runs.
        let stderr = dir.path().join("emulator.stderr");
        let mut child = Command::new(python)
            .arg("scripts/kite_emulator.py")
            .args(["--host", "127.0.0.1", "--ws-port", "0", "--http-port", "0"])
            .args(args)
            .current_dir(project_root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("the emulator starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut emulator = Emulator {
            child: Some(child),
            ws: String::new(),
            http: String::new(),
            stderr,
            _dir: dir,
        };
        // Only a guard against a hung start; nothing is asserted about time.
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let urls: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!(
                "the emulator's first stdout line is not its JSON port line ({e}): {line:?}\n{}",
                emulator.stderr_text()
            )
        });
        emulator.ws = urls["ws"].as_str().expect("ws URL").to_owned();
        emulator.http = urls["http"].as_str().expect("http URL").to_owned();
        assert!(emulator.ws.starts_with("ws://127.0.0.1:"), "{line}");
        assert!(emulator.http.starts_with("http://127.0.0.1:"), "{line}");
        emulator
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends SIGTERM and returns the exit status (SIGKILL and a panic after 20 s).
    fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        for _ in 0..400 {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the emulator did not stop within 20 s of SIGTERM\n{}",
            self.stderr_text()
        )
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            for _ in 0..100 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

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
