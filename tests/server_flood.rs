//! The metrics and health endpoint of a real `alpha-panda live` under attack on loopback:
//! a flood of idle connections (with the process's open-file limit lowered so it really
//! runs out of descriptors, and without, so the connection cap is what holds), and a
//! slowloris client. After each, `/health` must answer again and the logs and metrics must
//! say what happened. Every process a test starts is stopped by a guard.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::live::{Running, get, write_config};
use common::{free_port, project_root};

/// Connections the flood opens: more than the cap (64) and than the lowered limit (64).
const FLOOD: usize = 600;

/// `alpha-panda live` on `config` under `ulimit -n <nofile>` when given.
fn live_limited(config: &Path, nofile: Option<u32>) -> Running {
    let bin = assert_cmd::cargo::cargo_bin!("alpha-panda");
    let ulimit = nofile.map_or(String::new(), |n| format!("ulimit -n {n} && "));
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("{ulimit}exec \"$0\" \"$@\""))
        .arg(bin)
        .args(["live", "--config"])
        .arg(config)
        .args(["--strategies", "strategies"])
        .current_dir(project_root());
    Running::spawn("alpha-panda live", cmd)
}

/// Polls until `check` is true, up to 60 s; panics with `what` otherwise.
fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..600 {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within 60 s");
}

fn healthy(port: u16) -> bool {
    get(&format!("http://127.0.0.1:{port}/health")).is_some_and(|(status, _)| status == 200)
}

fn log(dir: &Path, channel: &str) -> String {
    std::fs::read_to_string(dir.join("logs").join(format!("{channel}.log"))).unwrap_or_default()
}

/// `alpha_panda_http_connections_dropped_total{reason}` from a scrape.
fn dropped(port: u16, reason: &str) -> f64 {
    let (_, text) = get(&format!("http://127.0.0.1:{port}/metrics")).expect("metrics answer");
    let series = format!("alpha_panda_http_connections_dropped_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str())?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} in\n{text}"))
}

/// Opens up to `n` idle connections (a connect the kernel does not complete in 2 s is
/// skipped, as an attacker would).
fn flood(port: u16, n: usize) -> Vec<TcpStream> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let conns: Vec<TcpStream> = (0..n)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok())
        .collect();
    eprintln!("flood: {} of {n} connections opened", conns.len());
    conns
}

/// Regression (issue 12): 511 idle connections under a 1024 open-file limit closed the
/// listener for good and `/health` never answered again, with nothing logged.
#[test]
fn health_answers_again_after_a_flood_exhausts_descriptors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let config = write_config(dir.path(), port, "");
    // The engine holds ~20 descriptors; 64 leaves fewer than the connection cap.
    let engine = live_limited(&config, Some(64));
    wait_until("/health answers before the flood", || healthy(port));

    let conns = flood(port, FLOOD);
    wait_until("error.log says descriptors ran out", || {
        log(dir.path(), "error").contains("out of file descriptors")
    });
    drop(conns);

    wait_until("/health answers after the flood", || healthy(port));
    assert!(
        dropped(port, "no_descriptor") > 0.0,
        "shed connections counted"
    );
    let error_log = log(dir.path(), "error");
    assert!(
        error_log.contains("Too many open files"),
        "the OS error is named: {error_log}"
    );
    let (status, _) = engine.stop(Duration::from_secs(60));
    assert!(status.success(), "graceful stop after the flood: {status}");
}

/// Past the connection cap, connections are refused (counted and logged) instead of queued;
/// a client that sends half a request line is cut off by the head timeout while another
/// client is served.
#[test]
fn connections_over_the_cap_are_refused_and_a_slow_client_blocks_no_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let config = write_config(dir.path(), port, "");
    let engine = live_limited(&config, None);
    wait_until("/health answers before the flood", || healthy(port));

    let conns = flood(port, FLOOD);
    wait_until("app.log says the cap was reached", || {
        log(dir.path(), "app").contains("connection limit reached")
    });
    drop(conns);
    wait_until("/health answers after the flood", || healthy(port));
    assert!(dropped(port, "limit") > 0.0, "refused connections counted");

    let mut slow = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    slow.write_all(b"GET /hea").expect("half a request line");
    let (status, body) = get(&format!("http://127.0.0.1:{port}/health")).expect("answered");
    assert_eq!(status, 200, "served while the slow client hangs: {body}");
    slow.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("read timeout");
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 408 "),
        "the slow client is cut off: {answer:?}"
    );
    assert!(dropped(port, "timeout") >= 1.0, "timeouts counted");
    let (status, _) = engine.stop(Duration::from_secs(60));
    assert!(status.success(), "graceful stop: {status}");
}
