//! Bad input to `alpha-panda live`, as an attacker or a tired operator gives it: each case is
//! the input, the exit code, and where the reason must be written. Nothing already done may
//! be lost, and no secret may be echoed.

mod common;

use std::path::Path;
use std::time::Duration;

use common::live::{live, read, write_config};
use common::{excerpt, free_port};

/// Every file under `dir`, as text (lossy), with its path.
fn all_files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((
                    path.display().to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ));
            }
        }
    }
    out
}

#[test]
fn a_bad_row_mid_run_stops_the_feed_and_keeps_every_result_and_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    // 20,000 good rows, a broken one, then more good rows.
    let text = read(&excerpt());
    let mut lines: Vec<&str> = text.lines().collect();
    let ts = lines[20_000].split(',').next().expect("ts").to_owned();
    let bad = format!("{ts},BTCUSDT,not-a-price,1,1,1,,");
    lines.insert(20_001, &bad);
    let data = dir.path().join("broken.csv");
    std::fs::write(&data, lines.join("\n") + "\n").expect("data");
    let config = write_config(dir.path(), free_port(), "");
    let engine_text = read(&config)
        .replace(
            &excerpt().display().to_string(),
            &data.display().to_string(),
        )
        .replace("speed = 10", "speed = 0")
        .replace("at_end = \"idle\"", "at_end = \"exit\"");
    std::fs::write(&config, engine_text).expect("config");
    let out = assert_cmd::Command::from_std(live(&config))
        .timeout(Duration::from_secs(120))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let place = format!("{}:20002: field 'bid'", data.display());
    assert!(stderr.contains(&place), "{stderr}");
    let errors = read(&dir.path().join("logs/error.log"));
    assert!(
        errors.contains(&place),
        "the reason is in error.log: {errors}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&read(&dir.path().join("out/summary.json"))).expect("summary");
    assert_eq!(
        summary["ticks"], 20_000,
        "every tick before it ran: {summary}"
    );
    for file in ["fills.csv", "pnl_snapshot.json", "report.html"] {
        assert!(
            dir.path().join("out").join(file).is_file(),
            "{file} written"
        );
    }
}

#[test]
fn a_secret_pasted_as_a_credential_name_is_refused_and_never_echoed() {
    let secret = "kx8Qz9SECRETpasted00";
    let dir = tempfile::tempdir().expect("temp dir");
    let kite = format!(
        "[feed]\nkind = \"kite\"\nurl = \"ws://127.0.0.1:9\"\napi_key_env = \"{secret}\"\n\
         access_token_env = \"KITE_ACCESS_TOKEN\"\ninstruments = \"{}\"\n",
        common::project_root()
            .join("tests/data/kite/instruments.csv")
            .display()
    );
    let config = write_config(dir.path(), free_port(), "");
    // The replay [feed] of the template gives way to the Kite one.
    let text = read(&config);
    let start = text.find("[feed]").expect("feed");
    let end = start + text[start..].find("\n\n").expect("end of [feed]");
    std::fs::write(&config, format!("{}{kite}{}", &text[..start], &text[end..])).expect("config");
    let line = read(&config)
        .lines()
        .position(|l| l.starts_with("api_key_env"))
        .expect("line")
        + 1;
    for command in ["live", "preflight"] {
        let out = common::bin()
            .current_dir(dir.path())
            .args([command, "--config"])
            .arg(&config)
            .arg("--strategies")
            .arg(common::project_root().join("strategies"))
            .output()
            .expect("runs");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        // `live` says it on stderr; preflight in its report (stdout).
        assert!(
            format!("{stdout}{stderr}").contains(&format!(
                "{}:{line}: field 'feed.api_key_env'",
                config.display()
            )),
            "{command}: {stdout}{stderr}"
        );
        assert!(
            !stderr.contains(secret) && !stdout.contains(secret),
            "{command} echoed the secret: {stderr}"
        );
    }
    for (path, text) in all_files(dir.path()) {
        if !path.ends_with("engine.toml") {
            assert!(!text.contains(secret), "{path} holds the secret");
        }
    }
}
