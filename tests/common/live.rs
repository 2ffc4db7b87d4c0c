//! A live engine for tests: `alpha-panda live` on a replay of the embedded excerpt, stopped
//! by a guard (SIGTERM, then kill) also when the test fails, and its HTTP endpoints polled.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::{agent, excerpt, project_root};

/// A child process that is sent SIGTERM (then killed) when dropped.
pub struct Running {
    name: &'static str,
    child: Option<Child>,
}

impl Running {
    pub fn spawn(name: &'static str, mut cmd: Command) -> Running {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name} starts: {e}"));
        Running {
            name,
            child: Some(child),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends one SIGTERM; the `kill` command is run again if it could not be run at all
    /// (a loaded box), never a second signal (that would mean exit 130).
    pub fn terminate(&self) {
        for _ in 0..5 {
            match Command::new("kill")
                .args(["-TERM", &self.pid().to_string()])
                .status()
            {
                Ok(_) => return,
                Err(e) => {
                    eprintln!("running kill failed ({e}); again");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// Sends SIGTERM and waits up to `limit` for the exit; returns its status and stderr.
    pub fn stop(mut self, limit: Duration) -> (ExitStatus, String) {
        self.terminate();
        let mut child = self.child.take().expect("running");
        let status = wait_for(&mut child, limit).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("{} did not stop within {limit:?} of SIGTERM", self.name)
        });
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        (status, stderr)
    }

    /// Waits for the process to exit on its own.
    pub fn wait(mut self, limit: Duration) -> (ExitStatus, String) {
        let mut child = self.child.take().expect("running");
        let status = wait_for(&mut child, limit).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("{} did not exit within {limit:?}", self.name)
        });
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        (status, stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            if wait_for(&mut child, Duration::from_secs(10)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
            // A failing test shows what the process said.
            if std::thread::panicking()
                && let Some(mut pipe) = child.stderr.take()
            {
                let mut stderr = String::new();
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                eprintln!("{} stderr:\n{stderr}", self.name);
            }
        }
    }
}

pub fn wait_for(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let step = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    while waited < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(step);
        waited += step;
    }
    None
}

/// `(status, body)`, or `None` while nothing listens.
pub fn get(url: &str) -> Option<(u16, String)> {
    let mut response = agent().get(url).call().ok()?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().ok()?;
    Some((status, body))
}

/// Polls `url` until `accept` says yes, up to `limit`; returns the last body.
pub fn poll(url: &str, limit: Duration, accept: impl Fn(u16, &str) -> bool) -> String {
    let step = Duration::from_millis(100);
    let mut waited = Duration::ZERO;
    let mut last = None;
    while waited < limit {
        if let Some((status, body)) = get(url) {
            if accept(status, &body) {
                return body;
            }
            last = Some((status, body));
        }
        std::thread::sleep(step);
        waited += step;
    }
    panic!("{url} did not answer as expected within {limit:?}; last answer: {last:?}")
}

/// A live config in `dir`: replay of the embedded excerpt (about a minute of event time)
/// at 10x, so it stays live for a few seconds; metrics on `port`.
pub fn write_config(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let text = format!(
        r#"environment = "development"

[runtime]
mode = "threaded"
ring_capacity = 4096

[feed]
kind = "replay"
path = "{data}"
speed = 10
at_end = "idle"

[metrics]
addr = "127.0.0.1:{port}"

[logging]
dir = "{dir}/logs"
format = "json"
console = false

[output]
dir = "{dir}/out"

[venue.paper]
kind = "paper"

[risk.paper]
max_position = "1000000"
max_open_orders = 1000
{extra}
"#,
        data = excerpt().display(),
        dir = dir.display(),
    );
    let path = dir.join("engine.toml");
    std::fs::write(&path, text).expect("write engine.toml");
    path
}

pub fn live(config: &Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("alpha-panda"));
    cmd.current_dir(project_root())
        .arg("live")
        .arg("--config")
        .arg(config)
        .arg("--strategies")
        .arg("strategies");
    cmd
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
