//! One live run per directory: a second `alpha-panda live` on the same log and output
//! directories is refused and writes nothing there; a run killed with SIGKILL leaves a lock
//! the next run takes over (and says so); every log line and `summary.json` carry the run id.

mod common;

use std::process::Command;
use std::time::Duration;

use common::free_port;
use common::live::{Running, live, poll, read, write_config};

/// The `run_id` of every JSON line of `app.log`.
fn run_ids(log: &str) -> Vec<String> {
    log.lines()
        .map(|line| {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            v["run_id"].as_str().unwrap_or("<none>").to_owned()
        })
        .collect()
}

#[test]
fn a_second_instance_is_refused_and_a_killed_ones_lock_is_taken_over() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let config = write_config(dir.path(), port, "");
    let first = Running::spawn("first live run", live(&config));
    poll(
        &format!("http://127.0.0.1:{port}/health/ready"),
        Duration::from_secs(60),
        |s, _| s == 200,
    );
    let app_log = dir.path().join("logs/app.log");
    let before = read(&app_log);

    // The same directories, another metrics port: refused before writing anything.
    let other = write_config(dir.path(), free_port(), "");
    let second = live(&other).output().expect("second run");
    let config = write_config(dir.path(), port, "");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("another alpha-panda run holds") && stderr.contains(".alpha-panda.lock"),
        "{stderr}"
    );
    let first_id = run_ids(&before)[0].clone();
    assert!(
        stderr.contains(&first_id),
        "names the holder {first_id}: {stderr}"
    );
    // (The first run may have logged meanwhile; nothing of the second is there.)
    let ids = run_ids(&read(&app_log));
    assert!(ids.iter().all(|id| *id == first_id), "{ids:?}");

    // SIGKILL: no clean stop, the lock file stays behind.
    let pid = first.pid();
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    let (status, _) = first.wait(Duration::from_secs(30));
    assert!(!status.success());
    assert!(dir.path().join("out/.alpha-panda.lock").exists());

    let third = Running::spawn("third live run", live(&config));
    poll(
        &format!("http://127.0.0.1:{port}/health/ready"),
        Duration::from_secs(60),
        |s, _| s == 200,
    );
    let (status, stderr) = third.stop(Duration::from_secs(60));
    assert!(status.success(), "{stderr}");
    let log = read(&app_log);
    assert!(
        log.contains("taken over from a run that did not stop cleanly")
            && log.contains(&format!("run {first_id}")),
        "{log}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&read(&dir.path().join("out/summary.json"))).expect("summary");
    let third_id = summary["run_id"].as_str().expect("run_id in summary.json");
    assert_ne!(third_id, first_id);
    assert!(run_ids(&log).iter().any(|id| id == third_id));
    assert!(
        !dir.path().join("out/.alpha-panda.lock").exists()
            && !dir.path().join("logs/.alpha-panda.lock").exists(),
        "a clean stop removes its locks"
    );
}
