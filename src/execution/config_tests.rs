//! `[venue.NAME]` latency and queue keys: values read, files resolved against the config
//! file's folder, and every bad value reported with file, line and field.

use std::path::Path;

use super::*;
use crate::config::EngineConfig;

/// A folder holding `lat.csv` (percentiles), `samples.txt`, `empty.csv` and `bad.csv`; the
/// config is parsed as `DIR/e.toml`, so relative paths resolve into it.
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in [
        (
            "lat.csv",
            "percentile,latency_ns\n0,1000\n50,2000\n100,9000\n",
        ),
        ("samples.txt", "# recorded\n1500\n2500\n"),
        ("empty.csv", "# nothing yet\npercentile,latency_ns\n\n"),
        ("bad.csv", "0,1000\n50,-5\n101,3000\n"),
    ] {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    dir
}

fn parse(dir: &Path, venue_lines: &str) -> Result<BrokerConfig, Vec<String>> {
    let text = format!("[venue.paper]\n{venue_lines}");
    EngineConfig::parse(&dir.join("e.toml"), &text)
        .map(|c| c.brokers[0].clone())
        .map_err(|e| e.0.iter().map(ToString::to_string).collect())
}

#[test]
fn model_keys_table() {
    let dir = folder();
    let percentiles = LatencySource::File(LatencyFile {
        path: dir.path().join("lat.csv"),
        table: LatencyTable::Percentiles(vec![(0, 1000), (50_000_000, 2000), (100_000_000, 9000)]),
    });
    let samples = LatencySource::File(LatencyFile {
        path: dir.path().join("samples.txt"),
        table: LatencyTable::Samples(vec![1500, 2500]),
    });
    struct Case {
        name: &'static str,
        lines: &'static str,
        latency: LatencySource,
        md_latency: LatencySource,
        seed: u64,
        queue: QueueModel,
    }
    let defaults = |name, lines, latency| Case {
        name,
        lines,
        latency,
        md_latency: LatencySource::Constant(0),
        seed: DEFAULT_LATENCY_SEED,
        queue: QueueModel::None,
    };
    let cases = [
        defaults(
            "no keys: today's constant model",
            "",
            LatencySource::Constant(0),
        ),
        defaults(
            "latency_ns alone",
            "latency_ns = 250\n",
            LatencySource::Constant(250),
        ),
        defaults(
            "explicit constant",
            "latency = \"constant\"\nlatency_ns = 7\n",
            LatencySource::Constant(7),
        ),
        defaults(
            "percentile file",
            "latency = \"file\"\nlatency_file = \"lat.csv\"\n",
            percentiles.clone(),
        ),
        defaults(
            "sample file, latency_ns 0 allowed",
            "latency = \"file\"\nlatency_file = \"samples.txt\"\nlatency_ns = 0\n",
            samples.clone(),
        ),
        Case {
            md_latency: LatencySource::FromData,
            ..defaults(
                "md from data",
                "md_latency = \"from_data\"\n",
                LatencySource::Constant(0),
            )
        },
        Case {
            md_latency: LatencySource::Constant(3000),
            ..defaults(
                "md constant",
                "md_latency = 3_000\n",
                LatencySource::Constant(0),
            )
        },
        Case {
            md_latency: LatencySource::Constant(0),
            ..defaults(
                "md none",
                "md_latency = \"none\"\n",
                LatencySource::Constant(0),
            )
        },
        Case {
            md_latency: samples.clone(),
            seed: 7,
            ..defaults(
                "md file with a seed",
                "md_latency = \"file\"\nmd_latency_file = \"samples.txt\"\nlatency_seed = 7\n",
                LatencySource::Constant(0),
            )
        },
        Case {
            queue: QueueModel::Conservative,
            ..defaults(
                "queue",
                "queue = \"conservative\"\n",
                LatencySource::Constant(0),
            )
        },
        defaults(
            "queue none",
            "queue = \"none\"\n",
            LatencySource::Constant(0),
        ),
    ];
    for c in cases {
        let broker = parse(dir.path(), c.lines).unwrap_or_else(|e| panic!("{}: {e:#?}", c.name));
        assert_eq!(
            (
                broker.latency,
                broker.md_latency,
                broker.latency_seed,
                broker.queue
            ),
            (c.latency, c.md_latency, c.seed, c.queue),
            "{}",
            c.name
        );
    }
}

#[test]
fn model_key_errors_table() {
    let dir = folder();
    let bad = dir.path().join("bad.csv").display().to_string();
    let cases: [(&str, &str, String); 14] = [
        (
            "unknown latency kind",
            "latency = \"normal\"\n",
            "e.toml:2: field 'venue.paper.latency': expected one of constant | file".into(),
        ),
        (
            "file without a path",
            "latency = \"file\"\n",
            "e.toml:2: field 'venue.paper.latency': \"file\" needs latency_file".into(),
        ),
        (
            "path without file",
            "latency_file = \"lat.csv\"\n",
            "e.toml:2: field 'venue.paper.latency_file': applies with latency = \"file\" only"
                .into(),
        ),
        (
            "latency_ns beside a file",
            "latency = \"file\"\nlatency_file = \"lat.csv\"\nlatency_ns = 5\n",
            "e.toml:4: field 'venue.paper.latency_ns': 5 conflicts with latency = \"file\"".into(),
        ),
        (
            "missing file",
            "latency = \"file\"\nlatency_file = \"nope.csv\"\n",
            "e.toml:3: field 'venue.paper.latency_file': cannot read".into(),
        ),
        (
            "empty file",
            "latency = \"file\"\nlatency_file = \"empty.csv\"\n",
            "e.toml:3: field 'venue.paper.latency_file':".into(),
        ),
        (
            "negative row, at the file's own line",
            "latency = \"file\"\nlatency_file = \"bad.csv\"\n",
            format!("{bad}:2: latency_ns: negative latencies are refused, found \"-5\""),
        ),
        (
            "every bad row reported",
            "latency = \"file\"\nlatency_file = \"bad.csv\"\n",
            format!("{bad}:3: percentile: expected a number in 0..=100"),
        ),
        (
            "unknown md kind",
            "md_latency = \"sometimes\"\n",
            "e.toml:2: field 'venue.paper.md_latency': expected \"none\", \"from_data\", \"file\" or an integer >= 0 (ns), found \"sometimes\"".into(),
        ),
        (
            "negative md constant",
            "md_latency = -1\n",
            "e.toml:2: field 'venue.paper.md_latency': expected integer >= 0, found -1".into(),
        ),
        (
            "md file without a path",
            "md_latency = \"file\"\n",
            "e.toml:2: field 'venue.paper.md_latency': \"file\" needs md_latency_file".into(),
        ),
        (
            "md path without file",
            "md_latency = 5\nmd_latency_file = \"lat.csv\"\n",
            "e.toml:3: field 'venue.paper.md_latency_file': applies with md_latency = \"file\" only"
                .into(),
        ),
        (
            "negative seed",
            "latency_seed = -1\n",
            "e.toml:2: field 'venue.paper.latency_seed': expected integer >= 0, found -1".into(),
        ),
        (
            "unknown queue model",
            "queue = \"fifo\"\n",
            "e.toml:2: field 'venue.paper.queue': expected one of none | conservative".into(),
        ),
    ];
    for (name, lines, needle) in cases {
        let errors = parse(dir.path(), lines).expect_err(name);
        assert!(
            errors.iter().any(|e| e.contains(&needle)),
            "{name}: missing {needle:?} in {errors:#?}"
        );
    }
    let errors = parse(
        dir.path(),
        "latency = \"file\"\nlatency_file = \"empty.csv\"\n",
    )
    .expect_err("empty");
    assert!(
        errors[0].contains("holds no latencies"),
        "empty file: {errors:#?}"
    );
}

#[test]
fn absolute_paths_are_kept() {
    let dir = folder();
    let path = dir.path().join("samples.txt");
    let lines = format!(
        "md_latency = \"file\"\nmd_latency_file = \"{}\"\n",
        path.display()
    );
    let text = format!("[venue.paper]\n{lines}");
    let config = EngineConfig::parse(Path::new("elsewhere/e.toml"), &text).expect("parses");
    let LatencySource::File(file) = &config.brokers[0].md_latency else {
        panic!("a file model");
    };
    assert_eq!(file.path, path);
}
