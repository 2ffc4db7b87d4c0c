//! Configuration errors: every problem of every file at once, each naming file, line and
//! field; exit code 2.

mod common;

use std::path::Path;

use common::bin;

/// Runs `backtest --strategies STRATEGIES [--config CONFIG]` and expects exit code 2;
/// returns stderr.
fn failing_backtest(strategies: &Path, config: Option<&Path>) -> String {
    let mut cmd = bin();
    cmd.args(["backtest", "--strategies"]).arg(strategies);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    let output = cmd.output().expect("runs");
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn all_problems_of_all_files_are_reported_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let strategies = dir.path().join("strategies");
    std::fs::create_dir(&strategies).expect("mkdir");
    write(
        &strategies,
        "a.toml",
        "id = \"a\"\nkind = \"ema_cross\"\ninstruments = [\"BTCUSDT-SPOT\"]\nbrokers = [\"paper\"]\n[params]\nfast = 0\nslow = 30\nquantity = \"1\"\n",
    );
    write(
        &strategies,
        "b.toml",
        "id = \"b\"\nkind = \"momentum\"\ninstruments = [\"BTCUSDT-SPOT\"]\nbrokers = [\"paper\"]\nextra = 1\n[params]\nlookback = 5\nthreshold_bps = 1\nquantity = \"1\"\n",
    );
    let engine = write(
        dir.path(),
        "engine.toml",
        "[runtime]\nring_capacity = 1000\n[venue.paper]\n",
    );
    let stderr = failing_backtest(&strategies, Some(&engine));
    for needle in [
        "a.toml:6: field 'params.fast': expected integer in 1..=1000000, found 0",
        "b.toml:5: field 'extra': unknown field",
        "engine.toml:2: field 'runtime.ring_capacity': expected a power of two, found 1000",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
}

#[test]
fn unknown_broker_names_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "s.toml",
        "id = \"s\"\nkind = \"breakout\"\ninstruments = [\"BTCUSDT-SPOT\"]\nbrokers = [\"paper\",\n  \"zerodha\"]\n[params]\nwindow = 10\nquantity = \"1\"\n",
    );
    let stderr = failing_backtest(&file, None);
    assert!(
        stderr.contains("s.toml:5: field 'brokers': unknown broker 'zerodha'"),
        "{stderr}"
    );
}

#[test]
fn invalid_toml_is_reported_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "broken.toml", "id = \"x\"\nkind = \n");
    let stderr = failing_backtest(&file, None);
    assert!(stderr.contains("broken.toml:2"), "{}", stderr);
}

#[test]
fn strategy_on_an_instrument_not_in_the_data_is_disabled_not_fatal_in_development() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "aud.toml",
        "id = \"ema_cross_audusd\"\nkind = \"ema_cross\"\ninstruments = [\"AUDUSD\"]\nbrokers = [\"paper\"]\n[params]\nfast = 10\nslow = 30\nquantity = \"1\"\n",
    );
    let summary = common::json(
        &bin()
            .args(["backtest", "--json", "--strategies"])
            .arg(&file)
            .output()
            .expect("runs"),
    );
    assert_eq!(summary["configured_strategies"], 1);
    assert_eq!(summary["registered_strategies"], 0);
    let production = write(
        dir.path(),
        "prod.toml",
        &alpha_panda::config::engine::DEFAULT_ENGINE_TOML.replace(
            "environment = \"development\"",
            "environment = \"production\"",
        ),
    );
    let stderr = failing_backtest(&file, Some(&production));
    assert!(
        stderr.contains("aud.toml:3: field 'instruments': instrument 'AUDUSD' is not in the data")
    );
}

#[test]
fn a_disabled_broker_takes_no_orders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = write(
        dir.path(),
        "engine.toml",
        &format!(
            "{}\n[venue.desk]\nkind = \"paper\"\nenabled = false\n",
            alpha_panda::config::engine::DEFAULT_ENGINE_TOML
        ),
    );
    let strategies = dir.path().join("strategies");
    std::fs::create_dir_all(&strategies).expect("mkdir");
    let both = "id = \"ema_both\"\nkind = \"ema_cross\"\ninstruments = [\"BTCUSDT-SPOT\"]\nbrokers = [\"paper\", \"desk\"]\n[params]\nfast = 5\nslow = 20\nquantity = \"0.01\"\n";
    write(&strategies, "both.toml", both);
    write(
        &strategies,
        "desk_only.toml",
        &both
            .replace("ema_both", "ema_desk_only")
            .replace("\"paper\", \"desk\"", "\"desk\""),
    );
    let summary = common::json(
        &bin()
            .args(["backtest", "--json", "--config"])
            .arg(&engine)
            .arg("--strategies")
            .arg(&strategies)
            .output()
            .expect("runs"),
    );
    let brokers = summary["brokers"].as_array().expect("brokers");
    let desk = brokers
        .iter()
        .find(|b| b["name"] == "desk")
        .expect("desk listed");
    assert_eq!(desk["orders"], 0, "{summary:#}");
    assert_eq!(desk["registered_strategies"], 0, "{summary:#}");
    assert_eq!(desk["configured_strategies"], 2, "{summary:#}");
    let paper = brokers
        .iter()
        .find(|b| b["name"] == "paper")
        .expect("paper");
    assert!(paper["orders"].as_u64().unwrap_or(0) > 0, "{summary:#}");
    assert_eq!(summary["registered_strategies"], 1, "{summary:#}");
    let disabled = summary["disabled_strategies"].to_string();
    assert!(disabled.contains("ema_desk_only"), "{disabled}");
}
