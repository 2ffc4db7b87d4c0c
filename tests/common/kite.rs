//! The Kite emulator (`scripts/kite_emulator.py`) as tests start it: the Python environment
//! from `scripts/kite_venv.py`, the emulator on free loopback ports, stopped by a guard.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

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
