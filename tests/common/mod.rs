//! Helpers shared by the integration tests: paths to the project, the embedded excerpt and
//! the team's shared data, and running the real binary.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::PathBuf;

pub mod kite;
pub mod live;

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn excerpt() -> PathBuf {
    project_root().join("tests/data/binance_l1_2024-08-08_excerpt.csv")
}

/// A file of `../shared/data`, or `None` (with a note on stderr) when the shared data is
/// not beside this checkout.
pub fn shared_data(name: &str) -> Option<PathBuf> {
    let path = project_root().join("../shared/data").join(name);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: {} not found (the shared data set is not beside this checkout)",
            path.display()
        );
        None
    }
}

pub fn bin() -> assert_cmd::Command {
    let mut cmd =
        assert_cmd::Command::cargo_bin("alpha-panda").expect("the alpha-panda binary is built");
    cmd.current_dir(project_root());
    cmd
}

/// One of the example binaries (a user's strategy kind with the full command line), built
/// next to the test binaries.
pub fn example(name: &str) -> assert_cmd::Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> → target/<profile>/examples/<name>
    let dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>");
    let path = dir.join("examples").join(name);
    // `cargo test` builds every example, but `cargo test --test NAME` does not, and would run
    // a stale binary: build it (a no-op when it is fresh), once per test binary.
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !built.iter().any(|b| b == name) {
        let mut build = std::process::Command::new(env!("CARGO"));
        build
            .current_dir(project_root())
            .args(["build", "--quiet", "--example", name]);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo builds the example");
        assert!(status.success(), "cargo build --example {name}");
        built.push(name.to_owned());
    }
    drop(built);
    let mut cmd = assert_cmd::Command::new(path);
    cmd.current_dir(project_root());
    cmd
}

/// The embedded engine config with `replacements` (`from`, `to`) applied, written to
/// `dir/name`.
pub fn engine_config(dir: &std::path::Path, name: &str, replacements: &[(&str, &str)]) -> PathBuf {
    let mut text = alpha_panda::config::engine::DEFAULT_ENGINE_TOML.to_owned();
    for (from, to) in replacements {
        assert!(text.contains(from), "the embedded config has {from:?}");
        text = text.replace(from, to);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the engine config");
    path
}

/// Rows of a CSV file as maps from column name to value.
pub fn csv_rows(path: &std::path::Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    lines
        .map(|line| {
            header
                .iter()
                .zip(line.split(','))
                .map(|(k, v)| ((*k).to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// Parses stdout of a `--json` run.
pub fn json(output: &std::process::Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON object")
}

/// The summary without the fields that measure time or the runtime itself.
pub fn without_timings(mut summary: serde_json::Value) -> serde_json::Value {
    let object = summary.as_object_mut().expect("summary is an object");
    for key in [
        "run_id",
        "load_seconds",
        "run_seconds",
        "wait_seconds",
        "ticks_per_second",
        "latency_ns",
        "runtime",
        "ring_full",
        "inference",
    ] {
        object.remove(key);
    }
    summary
}

/// The path of an external tool on PATH (e.g. `promtool`, `prometheus`), or `None` when it
/// is missing: then the test fails under CI (env `CI` set; `.ci/run` installs Prometheus)
/// and otherwise prints which test it skipped and why.
pub fn installed_tool(name: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: {name} not found on PATH and CI is set: CI must install it (apt-get install -y prometheus)"
        );
        eprintln!("SKIPPED {test}: {name} not found on PATH (apt-get install -y prometheus)");
    }
    found
}

/// A free TCP port on 127.0.0.1 (bound, read and released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral port on loopback")
}

/// The excerpt's ticks and an engine built on them from `config` and the shipped
/// strategies (instrument precisions fitted as a run does).
pub fn excerpt_engine(
    config: &alpha_panda::config::EngineConfig,
) -> (alpha_panda::runtime::Engine, Vec<alpha_panda::domain::Tick>) {
    use alpha_panda::feed::DataSource;

    let sources = [DataSource::File(excerpt())];
    let strategies = alpha_panda::strategy::load_strategies(&[project_root().join("strategies")])
        .expect("shipped strategies are valid");
    let mut assembled =
        alpha_panda::app::assemble(config, &strategies, &sources).expect("assembled");
    let (mut ticks, mut chunk) = (Vec::new(), Vec::new());
    while assembled.reader.read_chunk(&mut chunk, 4096).expect("read") > 0 {
        ticks.extend_from_slice(&chunk);
    }
    (assembled.engine, ticks)
}

/// An HTTP client for tests: answers with any status, never hangs past 5 s.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(5)))
        .build()
        .into()
}
