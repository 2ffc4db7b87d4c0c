//! The journal and recovery, through the real binary: `live` killed with SIGKILL again and
//! again ends with the fills and summary of an uninterrupted run; torn tails are cut,
//! corrupt records refused with `FILE:OFFSET`; a finished run restarts into its results; a
//! journal of another config is refused; a full disk fails closed; `journal` reads it all.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::live::{Running, live, read, wait_for};
use common::{bin, excerpt};

/// A live replay of the excerpt at 20x that exits at the end of the data (about 3 s).
fn config(dir: &Path, extra: &str) -> PathBuf {
    let text = format!(
        r#"environment = "development"
[runtime]
mode = "threaded"
ring_capacity = 4096
[feed]
kind = "replay"
path = "{data}"
speed = 20
at_end = "exit"
[metrics]
enabled = false
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

/// Starts `live` quietly.
fn spawn_quiet(config: &Path) -> std::process::Child {
    live(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("live starts")
}

/// Starts `live` and kills it with SIGKILL mid-run, once its journal holds at least
/// `bytes` (a fixed delay killed it before its first record on a loaded box).
fn kill_once_journaled(dir: &Path, config: &Path, bytes: u64) {
    let mut child = spawn_quiet(config);
    let journaled = || -> u64 {
        std::fs::read_dir(dir.join("out/journal"))
            .map(|d| {
                d.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    };
    for _ in 0..6000 {
        if journaled() >= bytes || child.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(
        journaled() >= bytes,
        "the run journaled {bytes} bytes before it was killed"
    );
}

/// Runs `live` to its end; status and stderr.
fn run_to_end(config: &Path) -> (i32, String) {
    let (status, stderr) = Running::spawn("live", live(config)).wait(Duration::from_secs(120));
    (status.code().unwrap_or(-1), stderr)
}

/// summary.json without what differs between any two runs (timings, the run id).
fn comparable_summary(dir: &Path) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        if let serde_json::Value::Object(map) = v {
            for key in [
                "run_seconds",
                "load_seconds",
                "wait_seconds",
                "ticks_per_second",
                "latency_ns",
                "load_ms",
                "ring_full",
                "run_id",
            ] {
                map.remove(key);
            }
            for value in map.values_mut() {
                strip(value);
            }
        }
    }
    let mut v: serde_json::Value =
        serde_json::from_str(&read(&dir.join("out/summary.json"))).expect("summary.json");
    strip(&mut v);
    v
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("out/journal"))
        .expect("journal dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "apj"))
        .collect();
    v.sort();
    v
}

/// The uninterrupted run every recovery is compared with.
fn reference() -> (tempfile::TempDir, String, serde_json::Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, stderr) = run_to_end(&config(dir.path(), ""));
    assert_eq!(code, 0, "{stderr}");
    let fills = read(&dir.path().join("out/fills.csv"));
    assert!(fills.lines().count() > 50, "the reference run trades");
    let summary = comparable_summary(dir.path());
    (dir, fills, summary)
}

#[test]
fn killed_again_and_again_the_run_ends_as_if_never_interrupted() {
    let (_keep, fills, summary) = reference();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), "");
    // Kill points spread over start-up, replay and trading (fixed, so a failure reproduces).
    let mut rng = 0x2545_f491_u64;
    let mut kills = 0;
    let mut restarts_with_ticks = 0;
    for _ in 0..40 {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let after = Duration::from_millis(100 + (rng >> 33) % 700);
        let mut child = spawn_quiet(&config);
        if let Some(status) = wait_for(&mut child, after) {
            assert!(
                status.success(),
                "a run that was not killed ends well: {status}"
            );
            break;
        }
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        kills += 1;
        let log = read(&dir.path().join("logs/app.log"));
        restarts_with_ticks = log.matches("recovering from the journal").count();
    }
    assert!(kills >= 3, "killed only {kills} times");
    // Whatever is left runs to the end.
    let (code, stderr) = run_to_end(&config);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        restarts_with_ticks >= 2,
        "{restarts_with_ticks} restarts recovered ticks"
    );
    let got = read(&dir.path().join("out/fills.csv"));
    assert_eq!(
        got.lines().count(),
        fills.lines().count(),
        "0 lost, 0 duplicated fills"
    );
    assert!(
        got == fills,
        "fills.csv is byte-identical to the uninterrupted run"
    );
    assert_eq!(comparable_summary(dir.path()), summary);
    // The journal holds each tick once, in order, and the run's end.
    let verify = bin()
        .args(["journal", "verify"])
        .arg(dir.path().join("out/journal"))
        .output()
        .expect("verify");
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{text}");
    assert!(text.contains("40000 ticks"), "{text}");
    assert!(text.contains("finished"), "{text}");
}

#[test]
fn a_torn_tail_is_cut_and_a_finished_run_restarts_into_its_results() {
    let (_keep, fills, summary) = reference();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), "");
    kill_once_journaled(dir.path(), &config, 64 * 1024);
    // A record cut short, as a crash mid-write leaves it.
    let last = segments(dir.path()).pop().expect("a segment");
    let mut bytes = std::fs::read(&last).expect("segment");
    let whole = bytes.len() as u64;
    bytes.extend_from_slice(&[0x26, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
    std::fs::write(&last, &bytes).expect("tear");
    let verify = bin()
        .args(["journal", "verify"])
        .arg(dir.path().join("out/journal"))
        .output()
        .expect("verify");
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "torn tail at {}:{whole} (11 bytes)",
            last.display()
        )),
        "{text}"
    );

    let (code, stderr) = run_to_end(&config);
    assert_eq!(code, 0, "{stderr}");
    let log = read(&dir.path().join("logs/app.log"));
    assert!(log.contains("cut off a torn tail"), "the cut is logged");
    assert_eq!(std::fs::metadata(&last).expect("segment").len(), whole);
    assert!(read(&dir.path().join("out/fills.csv")) == fills);

    // Finished: a restart replays the journal, writes the same results and exits 0.
    std::fs::remove_file(dir.path().join("out/fills.csv")).expect("rm");
    let (code, stderr) = run_to_end(&config);
    assert_eq!(code, 0, "{stderr}");
    assert!(read(&dir.path().join("out/fills.csv")) == fills);
    assert_eq!(comparable_summary(dir.path()), summary);
    let log = read(&dir.path().join("logs/app.log"));
    assert!(log.contains("the journal shows this run finished"), "{log}");
}

#[test]
fn a_corrupt_record_is_refused_with_its_place_and_another_config_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = config(dir.path(), "");
    kill_once_journaled(dir.path(), &config_path, 64 * 1024);

    // Another config: refused, the journal untouched, the way out named.
    config(dir.path(), "[data]\nbad_rows = \"skip\"\n");
    let (code, stderr) = run_to_end(&config_path);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("another config, strategies or data"),
        "{stderr}"
    );
    assert!(stderr.contains("alpha-panda journal archive"), "{stderr}");
    config(dir.path(), "");

    // One flipped byte early in the first segment: no torn tail, a hole.
    let first = segments(dir.path()).remove(0);
    let mut bytes = std::fs::read(&first).expect("segment");
    let at = 16 + 200;
    bytes[at] ^= 0x10;
    std::fs::write(&first, &bytes).expect("corrupt");
    let verify = bin()
        .args(["journal", "verify"])
        .arg(dir.path().join("out/journal"))
        .output()
        .expect("verify");
    let err = String::from_utf8_lossy(&verify.stderr);
    assert_eq!(verify.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{}:", first.display())), "{err}");
    let (code, stderr) = run_to_end(&config_path);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("{}:", first.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("checksum mismatch") || stderr.contains("decode"),
        "{stderr}"
    );
    // A live box is read from its logs: the refusal is there too, with the place.
    let errors = read(&dir.path().join("logs/error.log"));
    assert!(
        errors.contains("live run failed") && errors.contains(&format!("{}:", first.display())),
        "error.log: {errors}"
    );
    assert_eq!(
        std::fs::read(&first).expect("segment"),
        bytes,
        "nothing cut"
    );

    // Archived, the next run starts afresh.
    bin()
        .args(["journal", "archive"])
        .arg(dir.path().join("out/journal"))
        .assert()
        .success();
    assert!(segments(dir.path()).is_empty());
    let (code, stderr) = run_to_end(&config_path);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_full_disk_stops_orders_and_the_run_and_says_why() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), "[journal]\nfsync = \"always\"\n");
    // Files may not grow past 400 KiB: the journal gets there first (EFBIG, with SIGXFSZ
    // ignored), the other outputs stay below.
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg("trap '' XFSZ; ulimit -f 400; exec \"$@\"")
        .arg("bash");
    let inner = live(&config);
    cmd.arg(inner.get_program());
    cmd.args(inner.get_args());
    cmd.current_dir(common::project_root());
    let (status, stderr) = Running::spawn("live", cmd).wait(Duration::from_secs(120));
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the journal failed"), "{stderr}");
    assert!(stderr.contains("File too large"), "{stderr}");
    let errors = read(&dir.path().join("logs/error.log"));
    assert!(errors.contains("journal failed"), "{errors}");
    let summary: serde_json::Value =
        serde_json::from_str(&read(&dir.path().join("out/summary.json"))).expect("summary");
    let ticks = summary["ticks"].as_u64().unwrap_or(0);
    assert!(
        ticks > 0 && ticks < 40_000,
        "stopped early, results written: {ticks}"
    );
}

#[test]
fn export_and_inspect_read_the_journal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, stderr) = run_to_end(&config(dir.path(), ""));
    assert_eq!(code, 0, "{stderr}");
    let journal = dir.path().join("out/journal");
    let out = bin()
        .args(["journal", "export", "--format", "csv"])
        .arg(&journal)
        .output()
        .expect("export");
    assert!(out.status.success());
    let csv = String::from_utf8_lossy(&out.stdout);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("seq,type,ts_ns,symbol,book,order_id,side,what,qty,price,detail")
    );
    let fills = csv.lines().filter(|l| l.contains(",filled,")).count();
    let fills_csv = read(&dir.path().join("out/fills.csv")).lines().count() - 1;
    assert_eq!(
        fills, fills_csv,
        "every fill of fills.csv is in the journal"
    );
    let out = bin()
        .args([
            "journal", "export", "--format", "jsonl", "--from", "1", "--to", "3",
        ])
        .arg(&journal)
        .output()
        .expect("export");
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["type"], "tick");
    assert_eq!(rows[0]["symbol"], "ETHUSDT-SPOT");
    assert_eq!(rows[0]["price"], "2683.80/2683.81");
    let out = bin()
        .args(["journal", "inspect", "--to", "0"])
        .arg(&journal)
        .output()
        .expect("inspect");
    assert!(String::from_utf8_lossy(&out.stdout).contains("start"));
    bin()
        .args(["journal", "verify"])
        .arg(dir.path().join("nope"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no such journal directory"));
    // Ranges that hold nothing are refused, not answered with silence.
    bin()
        .args(["journal", "inspect", "--from", "5", "--to", "2"])
        .arg(&journal)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--from 5 is after --to 2"));
    bin()
        .args(["journal", "export", "--from", "99999999"])
        .arg(&journal)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--from 99999999 is past the end"));
    bin()
        .args(["journal", "verify"])
        .arg(journal.join(alpha_panda::journal::format::segment_name(0)))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("not a directory"));
}
