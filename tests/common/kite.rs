//! The Kite emulator (`scripts/kite_emulator.py`) as tests start it: the Python environment
//! from `scripts/kite_venv.py`, the emulator on free loopback ports, stopped by a guard.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

pub use super::agent;
use super::project_root;

/// The interpreter of the Kite venv, or `None` with a `SKIPPED` note (a failure under `CI`).
pub fn kite_python(test: &str) -> Option<PathBuf> {
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
        "{test}: the Kite venv (scripts/kite_venv.py) is required under CI: {why}"
    );
    eprintln!("SKIPPED {test}: the Kite venv is not available: {why}");
    None
}

/// A running emulator: SIGTERM (then SIGKILL) when dropped, also when a test fails.
pub struct Emulator {
    child: Option<Child>,
    pub ws: String,
    pub http: String,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Emulator {
    /// Starts the emulator with `args` and waits for its start-up line.
    pub fn start(python: &Path, args: &[&str]) -> Emulator {
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

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends SIGTERM and returns the exit status (SIGKILL and a panic after 20 s).
    pub fn stop(&mut self) -> ExitStatus {
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

// Running `alpha-panda live` against the emulator.

pub const API_KEY: &str = "kite_emulator_key";
pub const ACCESS_TOKEN: &str = "kite_emulator_token";

pub fn get_json(url: &str) -> Option<Value> {
    let mut response = agent().get(url).call().ok()?;
    serde_json::from_str(&response.body_mut().read_to_string().ok()?).ok()
}

pub fn post(url: &str) {
    let _ = agent().post(url).send_empty();
}

/// Polls until `accept` holds, up to `limit` (a guard against a hang, not a timing claim).
pub fn wait_until(what: &str, limit: Duration, mut accept: impl FnMut() -> bool) {
    let step = Duration::from_millis(100);
    let mut waited = Duration::ZERO;
    while waited < limit {
        if accept() {
            return;
        }
        std::thread::sleep(step);
        waited += step;
    }
    panic!("{what}: not within {limit:?}");
}

pub fn emulator_stats(emulator: &Emulator) -> Value {
    get_json(&format!("{}/_emulator/stats", emulator.http))
        .map_or(Value::Null, |v| v["data"].clone())
}

/// A child stopped with SIGTERM (then killed) when dropped.
pub struct Live(Option<Child>);

impl Live {
    /// `alpha-panda live` with the emulator's credentials in its environment.
    pub fn start(engine: &Path, strategy: &Path) -> Live {
        Live(Some(
            Command::new(assert_cmd::cargo::cargo_bin!("alpha-panda"))
                .current_dir(project_root())
                .args(["live", "--config"])
                .arg(engine)
                .arg("--strategies")
                .arg(strategy)
                .env("KITE_API_KEY", API_KEY)
                .env("KITE_ACCESS_TOKEN", ACCESS_TOKEN)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("live starts"),
        ))
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.0.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        for _ in 0..600 {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        panic!("live did not stop within 30 s of SIGTERM");
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn write_files(dir: &Path, ws: &str, port: u16) -> (PathBuf, PathBuf) {
    write_files_with(dir, ws, port, "paper", "kind = \"paper\"\n")
}

/// The engine config (broker `broker`, its `[venue]` keys) and an EMA 2/5 strategy on
/// NSE:RELIANCE trading on it.
pub fn write_files_with(
    dir: &Path,
    ws: &str,
    port: u16,
    broker: &str,
    venue: &str,
) -> (PathBuf, PathBuf) {
    let instruments = project_root().join("tests/data/kite/instruments.csv");
    let engine = format!(
        r#"environment = "development"

[runtime]
mode = "threaded"

[feed]
kind = "kite"
url = "{ws}"
api_key_env = "KITE_API_KEY"
access_token_env = "KITE_ACCESS_TOKEN"
instruments = "{instruments}"
mode = "full"
record = "{dir}/ticks.csv"

[metrics]
addr = "127.0.0.1:{port}"

[logging]
dir = "{dir}/logs"
format = "json"
console = false

[output]
dir = "{dir}/out"

[venue.{broker}]
{venue}
[risk.{broker}]
max_position = "1000"
max_open_orders = 100
max_orders_per_second = 1000
price_band_bps = 10000
"#,
        instruments = instruments.display(),
        dir = dir.display(),
    );
    let strategy = format!(
        r#"id = "ema_reliance"
kind = "ema_cross"
instruments = ["NSE:RELIANCE"]
brokers = ["{broker}"]

[params]
fast = 2
slow = 5
quantity = "1"
price_source = "mid"
"#
    );
    let engine_path = dir.join("engine.toml");
    let strategy_path = dir.join("ema_reliance.toml");
    std::fs::write(&engine_path, engine).expect("engine.toml");
    std::fs::write(&strategy_path, strategy).expect("strategy");
    (engine_path, strategy_path)
}

/// Every file under `dir`, as text (lossy).
pub fn all_text(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(all_text(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    out
}

/// The emulator on the sample in `tests/data/kite/`, with `extra` arguments.
pub fn sample_emulator(python: &Path, extra: &[&str]) -> Emulator {
    let sample = [
        "--instruments",
        "tests/data/kite/instruments.csv",
        "--ticks",
        "tests/data/kite/ticks.csv",
    ];
    Emulator::start(python, &[&sample[..], extra].concat())
}
