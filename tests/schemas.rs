//! Versioned output schemas (issue 12), checked on the files real runs write: a backtest, a
//! live run on a replay, a preflight and a sweep, all on the embedded excerpt.
//!
//! - every JSON output validates against its JSON Schema in `docs/schemas/`;
//! - every CSV's header is its column list there, and every cell has the column's type;
//! - the versions in `report::schema`, in the schema files, in `docs/schemas/README.md` and
//!   in the files themselves agree;
//! - each output's shape (and its schema file) matches its golden under
//!   `tests/data/golden/schemas/`, unless the version was bumped: a change without a bump
//!   fails. Regenerate goldens with `UPDATE_GOLDEN=1 cargo test --test schemas`.

mod common;
#[path = "schemas/golden.rs"]
mod golden;
#[path = "schemas/shape.rs"]
mod shape;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use alpha_panda::metrics::catalog;
use alpha_panda::report::schema::{self, Format, OUTPUTS};
use serde_json::Value;

use common::live::{live, read, write_config};
use common::{bin, free_port, project_root};
use golden::Golden;
use shape::Shape;

/// Where each run wrote its files.
struct Runs {
    backtest: PathBuf,
    /// `backtest --json` on stdout.
    backtest_stdout: Value,
    live: PathBuf,
    preflight: PathBuf,
    sweep: PathBuf,
}

/// The runs, made once per test binary (the tests share them).
fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("schemas");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("scratch dir");
        let backtest = root.join("backtest");
        let output = bin()
            .args(["backtest", "--strategies", "strategies", "--json", "--out"])
            .arg(&backtest)
            .output()
            .expect("backtest runs");
        let backtest_stdout = common::json(&output);

        // Live on an unpaced replay that exits at its end: summary, CSVs, pnl_snapshot.json
        // and the live preflight's preflight_summary.json.
        let live_dir = root.join("live");
        std::fs::create_dir_all(&live_dir).expect("live dir");
        let config = write_config(&live_dir, free_port(), "");
        let text = read(&config)
            .replace("speed = 10", "speed = 0")
            .replace("at_end = \"idle\"", "at_end = \"exit\"");
        std::fs::write(&config, text).expect("live config");
        let out = assert_cmd::Command::from_std(live(&config))
            .timeout(Duration::from_secs(300))
            .output()
            .expect("live runs");
        assert!(
            out.status.success(),
            "live: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        let preflight = root.join("preflight");
        bin()
            .args(["preflight", "--out"])
            .arg(&preflight)
            .assert()
            .success();

        let sweep = root.join("sweep");
        bin()
            .args([
                "sweep",
                "--strategy",
                "strategies/ema_cross_btcusdt_spot.toml",
                "--grid",
                "fast=5,10",
                "--grid",
                "slow=30",
                "--jobs",
                "1",
                "--out",
            ])
            .arg(&sweep)
            .assert()
            .success();
        Runs {
            backtest,
            backtest_stdout,
            live: live_dir.join("out"),
            preflight,
            sweep,
        }
    })
}

fn load_json(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn output(file: &str) -> schema::Output {
    *OUTPUTS
        .iter()
        .find(|o| o.file == file)
        .unwrap_or_else(|| panic!("{file} is not in report::schema::OUTPUTS"))
}

fn schema_of(file: &str) -> Value {
    load_json(&project_root().join(output(file).schema))
}

const CATALOG_FILE: &str = "monitoring/metric_catalog.json";

/// Every instance of each JSON output the runs wrote (and the catalog, from the code).
fn json_instances(runs: &Runs) -> Vec<(&'static str, Vec<(String, Value)>)> {
    let file = |dir: &Path, name: &str| {
        let path = dir.join(name);
        (path.display().to_string(), load_json(&path))
    };
    vec![
        (
            "summary.json",
            vec![
                file(&runs.backtest, "summary.json"),
                ("backtest --json".into(), runs.backtest_stdout.clone()),
                file(&runs.live, "summary.json"),
            ],
        ),
        (
            "pnl_snapshot.json",
            vec![file(&runs.live, "pnl_snapshot.json")],
        ),
        (
            "preflight_summary.json",
            vec![
                file(&runs.live, "preflight_summary.json"),
                file(&runs.preflight, "preflight_summary.json"),
            ],
        ),
        (
            "metric_catalog.json",
            vec![
                ("catalog::catalog_json()".into(), catalog::catalog_json()),
                file(&project_root(), CATALOG_FILE),
            ],
        ),
        ("sweep.json", vec![file(&runs.sweep, "sweep.json")]),
    ]
}

#[test]
fn every_json_output_validates_against_its_schema() {
    let runs = runs();
    let mut problems = Vec::new();
    let instances = json_instances(runs);
    let covered: Vec<&str> = instances.iter().map(|(f, _)| *f).collect();
    let json_outputs: Vec<&str> = OUTPUTS
        .iter()
        .filter(|o| o.format == Format::Json)
        .map(|o| o.file)
        .collect();
    assert_eq!(covered, json_outputs, "every JSON output is checked");
    for (file, docs) in instances {
        let schema = schema_of(file);
        if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
            problems.push(format!(
                "{}: not a valid JSON Schema: {e}",
                output(file).schema
            ));
            continue;
        }
        let validator = jsonschema::draft202012::new(&schema).expect("schema compiles");
        for (name, doc) in &docs {
            for error in validator.iter_errors(doc) {
                problems.push(format!(
                    "{name} against {}: at {}: {error}",
                    output(file).schema,
                    error.instance_path()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The validator rejects a summary with an undocumented field or a float where money is an
/// exact string: the schemas are strict enough to catch a change.
#[test]
fn schemas_refuse_undocumented_fields_and_wrong_types() {
    let schema = schema_of("summary.json");
    let validator = jsonschema::draft202012::new(&schema).expect("schema compiles");
    let good = load_json(&runs().backtest.join("summary.json"));
    assert!(validator.is_valid(&good));
    let mut extra = good.clone();
    extra["new_field"] = 1.into();
    assert!(!validator.is_valid(&extra), "an undocumented field");
    let mut float = good.clone();
    float["strategies"][0]["net_pnl"] = 1.5.into();
    assert!(!validator.is_valid(&float), "money as a float");
    let mut old = good;
    old["schema_version"] = 0.into();
    assert!(!validator.is_valid(&old), "another version");
}

/// `(path, header, rows)` of a CSV: RFC 4180 fields (quotes only where a cell needs them).
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = read(path);
    let mut lines = text.lines().map(split_csv);
    let header = lines.next().unwrap_or_default();
    (header, lines.collect())
}

fn split_csv(line: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cells.last_mut().expect("a cell").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(String::new()),
            (c, _) => cells.last_mut().expect("a cell").push(c),
        }
    }
    cells
}

/// The column list of a CSV schema, `*` (one column per swept parameter) replaced by `axes`.
fn columns(list: &Value, axes: &[String]) -> Vec<Value> {
    let fields = list["fields"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for field in fields {
        if field["name"] == "*" {
            out.extend(axes.iter().map(|a| {
                let mut f = field.clone();
                f["name"] = a.clone().into();
                f
            }));
        } else {
            out.push(field);
        }
    }
    out
}

fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// `2024-08-08T23:54:14.024619568Z` or without the fraction.
fn is_utc_time(s: &str) -> bool {
    let Some(rest) = s.strip_suffix('Z') else {
        return false;
    };
    let (main, frac) = rest.split_once('.').unwrap_or((rest, "0"));
    let shape = main.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        10 => b == b'T',
        13 | 16 => b == b':',
        _ => b.is_ascii_digit(),
    });
    main.len() == 19 && shape && !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit())
}

/// Why `cell` does not fit `field`, if it does not.
fn cell_problem(field: &Value, cell: &str) -> Option<String> {
    let required = field["constraints"]["required"] == true;
    if cell.is_empty() {
        return required.then(|| "empty but required".to_owned());
    }
    if let Some(allowed) = field["constraints"]["enum"].as_array()
        && !allowed.iter().any(|a| a == cell)
    {
        return Some(format!("{cell:?} not one of {allowed:?}"));
    }
    let ok = match field["type"].as_str() {
        Some("integer") => cell.parse::<i128>().is_ok(),
        Some("number") if field["format"] == "exact decimal" => is_decimal(cell),
        Some("number") => cell.parse::<f64>().is_ok(),
        Some("datetime") => is_utc_time(cell),
        Some("string") => true,
        other => return Some(format!("unknown column type {other:?}")),
    };
    (!ok).then(|| format!("{cell:?} is not a {}", field["type"]))
}

/// Every CSV the runs wrote, with the swept parameters of its columns.
fn csv_instances(runs: &Runs) -> Vec<(&'static str, PathBuf, Vec<String>)> {
    let mut out = Vec::new();
    for file in ["fills.csv", "orders.csv", "equity.csv", "trades.csv"] {
        out.push((file, runs.backtest.join(file), Vec::new()));
        out.push((file, runs.live.join(file), Vec::new()));
    }
    let axes: Vec<String> = load_json(&runs.sweep.join("sweep.json"))["axes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    out.push(("sweep.csv", runs.sweep.join("sweep.csv"), axes));
    out
}

#[test]
fn every_csv_header_is_its_column_list_and_every_cell_its_type() {
    let runs = runs();
    let mut problems = Vec::new();
    let instances = csv_instances(runs);
    for o in OUTPUTS.iter().filter(|o| o.format == Format::Csv) {
        assert!(
            instances.iter().any(|(f, _, _)| *f == o.file),
            "{} is checked",
            o.file
        );
    }
    for (file, path, axes) in instances {
        let list = schema_of(file);
        let fields = columns(&list, &axes);
        let names: Vec<&str> = fields.iter().filter_map(|f| f["name"].as_str()).collect();
        let (header, rows) = read_csv(&path);
        if header != names {
            problems.push(format!(
                "{}: header\n  {}\nis not the column list of {}\n  {}",
                path.display(),
                header.join(","),
                output(file).schema,
                names.join(",")
            ));
            continue;
        }
        assert!(!rows.is_empty(), "{}: the run wrote rows", path.display());
        for (i, row) in rows.iter().enumerate() {
            if row.len() != fields.len() {
                problems.push(format!("{}:{}: {} cells", path.display(), i + 2, row.len()));
                continue;
            }
            for (field, cell) in fields.iter().zip(row) {
                if let Some(p) = cell_problem(field, cell) {
                    problems.push(format!(
                        "{}:{}: column {}: {p}",
                        path.display(),
                        i + 2,
                        field["name"]
                    ));
                }
            }
        }
    }
    problems.truncate(20);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn versions_agree_in_code_schemas_readme_and_files() {
    let runs = runs();
    let readme = read(&project_root().join("docs/schemas/README.md"));
    for o in OUTPUTS {
        let schema = schema_of(o.file);
        let documented = match o.format {
            Format::Json => &schema["properties"]["schema_version"]["const"],
            Format::Csv => &schema["schema_version"],
        };
        assert_eq!(documented, o.version, "{}: version in {}", o.file, o.schema);
        let row = format!("| `{}` | {} |", o.file, o.version);
        assert!(
            readme.lines().any(|l| l.starts_with(&row)),
            "docs/schemas/README.md lists `{row}`"
        );
    }
    for (file, docs) in json_instances(runs) {
        for (name, doc) in docs {
            assert_eq!(doc["schema_version"], output(file).version, "{name}");
        }
    }
    // The CSVs' versions, named in the JSON beside them.
    let csv_versions = |doc: &Value| -> Vec<(String, Value)> {
        doc["schemas"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    };
    let expected = |files: &[&str]| -> Vec<(String, Value)> {
        files
            .iter()
            .map(|f| ((*f).to_owned(), output(f).version.into()))
            .collect()
    };
    for dir in [&runs.backtest, &runs.live] {
        let summary = load_json(&dir.join("summary.json"));
        assert_eq!(
            csv_versions(&summary),
            expected(&["fills.csv", "orders.csv", "equity.csv", "trades.csv"]),
            "{}",
            dir.display()
        );
    }
    let sweep = load_json(&runs.sweep.join("sweep.json"));
    assert_eq!(csv_versions(&sweep), expected(&["sweep.csv"]));
}

/// `monitoring/metric_catalog.json` is what the code exports; `UPDATE_GOLDEN=1` rewrites it.
#[test]
fn metric_catalog_file_is_the_code_catalog() {
    let path = project_root().join(CATALOG_FILE);
    let code = catalog::catalog_json();
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        let text = serde_json::to_string_pretty(&code).expect("JSON") + "\n";
        std::fs::write(&path, text).expect("write the catalog");
    }
    assert_eq!(
        load_json(&path),
        code,
        "{CATALOG_FILE} differs from src/metrics/catalog.rs: {}",
        golden::REGENERATE
    );
}

/// `pnl_snapshot.json` repeats rows of `summary.json`; both schemas describe them alike.
#[test]
fn snapshot_and_summary_schemas_share_their_row_definitions() {
    let summary = schema_of("summary.json");
    let snapshot = schema_of("pnl_snapshot.json");
    for def in ["money", "money_map", "stats", "broker", "position"] {
        assert_eq!(
            summary["$defs"][def], snapshot["$defs"][def],
            "$defs/{def} differs between the summary and pnl_snapshot schemas"
        );
        assert!(!summary["$defs"][def].is_null(), "$defs/{def}");
    }
}

/// The shape of every output against its golden: the test that fails when a record's shape
/// changes without a version bump.
#[test]
fn shapes_match_their_goldens_or_the_version_was_bumped() {
    let runs = runs();
    let constant =
        |file: &str| format!("report::schema::{}", file.replace('.', "_").to_uppercase());
    let mut problems = Vec::new();
    for (file, docs) in json_instances(runs) {
        let schema = schema_of(file);
        let mut shape = Shape::default();
        for (_, doc) in &docs {
            shape.add(doc, &schema);
        }
        let now = Golden {
            version: output(file).version,
            fingerprint: golden::fingerprint(&schema),
            shape: shape.lines(),
        };
        if let Err(e) = golden::check(file, output(file).schema, &constant(file), &now) {
            problems.push(e);
        }
    }
    // A CSV's shape is its header; swept parameters show as `*`.
    let mut headers: Vec<(&str, Vec<String>)> = Vec::new();
    for (file, path, axes) in csv_instances(runs) {
        let (header, _) = read_csv(&path);
        let header: Vec<String> = header
            .into_iter()
            .map(|h| if axes.contains(&h) { "*".into() } else { h })
            .collect::<Vec<_>>();
        let mut deduped = header.clone();
        deduped.dedup();
        match headers.iter().find(|(f, _)| *f == file) {
            Some((_, seen)) => assert_eq!(seen, &deduped, "{file}: the same in every run"),
            None => headers.push((file, deduped)),
        }
    }
    for (file, columns) in headers {
        let now = Golden {
            version: output(file).version,
            fingerprint: golden::fingerprint(&schema_of(file)),
            shape: columns.into_iter().map(|c| format!("column {c}")).collect(),
        };
        if let Err(e) = golden::check(file, output(file).schema, &constant(file), &now) {
            problems.push(e);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
