//! Schema versions of every file a user's tools read, in one place, so the code that writes
//! them, the schemas under `docs/schemas/` and the tests (`tests/schemas.rs`) agree.
//!
//! A version is a plain integer per file, starting at 1 and raised by one on every change
//! of the file's shape (a field or column added, removed, renamed, retyped, reordered for
//! CSV) or of a field's meaning or unit; `docs/schemas/README.md` gives the rule and the
//! history. JSON files carry theirs in a top-level `schema_version`; CSV files stay plain
//! CSV (header first) and their versions are named in `summary.json`'s (or `sweep.json`'s)
//! `schemas` object, so a tool checks them without opening the CSV.

use super::indexmap_like::OrderedMap;

/// `summary.json` (also `backtest --json` on stdout).
pub const SUMMARY_JSON: u32 = 1;
/// `pnl_snapshot.json`, written by live runs.
pub const PNL_SNAPSHOT_JSON: u32 = 1;
/// `preflight_summary.json` (also `preflight --json` on stdout).
pub const PREFLIGHT_SUMMARY_JSON: u32 = 1;
/// The metric catalog's machine-readable form (`monitoring/metric_catalog.json`).
pub const METRIC_CATALOG_JSON: u32 = 1;
/// `sweep.json`.
pub const SWEEP_JSON: u32 = 1;
/// `fills.csv`.
pub const FILLS_CSV: u32 = 1;
/// `orders.csv`.
pub const ORDERS_CSV: u32 = 1;
/// `equity.csv`.
pub const EQUITY_CSV: u32 = 1;
/// `trades.csv`.
pub const TRADES_CSV: u32 = 1;
/// `sweep.csv`.
pub const SWEEP_CSV: u32 = 1;

/// How a file is described under `docs/schemas/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A JSON Schema (draft 2020-12): `docs/schemas/<file stem>.schema.json`.
    Json,
    /// A column list (Frictionless Table Schema): `docs/schemas/<file>.json`.
    Csv,
}

/// One versioned output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Output {
    /// The file name as written (`summary.json`).
    pub file: &'static str,
    pub version: u32,
    pub format: Format,
    /// Its schema, relative to the repository root.
    pub schema: &'static str,
}

const fn output(file: &'static str, version: u32, format: Format, schema: &'static str) -> Output {
    Output {
        file,
        version,
        format,
        schema,
    }
}

/// Every versioned output, in the order `docs/schemas/README.md` lists them.
pub const OUTPUTS: &[Output] = &[
    output(
        "summary.json",
        SUMMARY_JSON,
        Format::Json,
        "docs/schemas/summary.schema.json",
    ),
    output(
        "pnl_snapshot.json",
        PNL_SNAPSHOT_JSON,
        Format::Json,
        "docs/schemas/pnl_snapshot.schema.json",
    ),
    output(
        "preflight_summary.json",
        PREFLIGHT_SUMMARY_JSON,
        Format::Json,
        "docs/schemas/preflight_summary.schema.json",
    ),
    output(
        "metric_catalog.json",
        METRIC_CATALOG_JSON,
        Format::Json,
        "docs/schemas/metric_catalog.schema.json",
    ),
    output(
        "sweep.json",
        SWEEP_JSON,
        Format::Json,
        "docs/schemas/sweep.schema.json",
    ),
    output(
        "fills.csv",
        FILLS_CSV,
        Format::Csv,
        "docs/schemas/fills.csv.json",
    ),
    output(
        "orders.csv",
        ORDERS_CSV,
        Format::Csv,
        "docs/schemas/orders.csv.json",
    ),
    output(
        "equity.csv",
        EQUITY_CSV,
        Format::Csv,
        "docs/schemas/equity.csv.json",
    ),
    output(
        "trades.csv",
        TRADES_CSV,
        Format::Csv,
        "docs/schemas/trades.csv.json",
    ),
    output(
        "sweep.csv",
        SWEEP_CSV,
        Format::Csv,
        "docs/schemas/sweep.csv.json",
    ),
];

/// The `schemas` object of `summary.json`: the CSV files a run writes beside it and their
/// versions.
pub fn run_csv_versions() -> OrderedMap<u32> {
    OrderedMap(
        [
            ("fills.csv", FILLS_CSV),
            ("orders.csv", ORDERS_CSV),
            ("equity.csv", EQUITY_CSV),
            ("trades.csv", TRADES_CSV),
        ]
        .into_iter()
        .map(|(file, version)| (file.to_owned(), version))
        .collect(),
    )
}

/// The version of `file`, if it is a versioned output.
pub fn version_of(file: &str) -> Option<u32> {
    OUTPUTS.iter().find(|o| o.file == file).map(|o| o.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_output_is_listed_once_with_a_schema_of_its_format() {
        for (i, o) in OUTPUTS.iter().enumerate() {
            assert!(o.version >= 1, "{}: versions start at 1", o.file);
            assert_eq!(
                OUTPUTS.iter().position(|p| p.file == o.file),
                Some(i),
                "{} listed twice",
                o.file
            );
            let suffix = match o.format {
                Format::Json => ".schema.json",
                Format::Csv => ".csv.json",
            };
            assert!(
                o.schema.starts_with("docs/schemas/") && o.schema.ends_with(suffix),
                "{}: schema path {}",
                o.file,
                o.schema
            );
        }
    }

    #[test]
    fn summary_names_every_csv_a_run_writes() {
        // The files `report::write_outputs` writes as CSV.
        let named: Vec<(String, Option<u32>)> = run_csv_versions()
            .0
            .into_iter()
            .map(|(file, v)| (file, Some(v)))
            .collect();
        let expected: Vec<(String, Option<u32>)> =
            ["fills.csv", "orders.csv", "equity.csv", "trades.csv"]
                .into_iter()
                .map(|f| (f.to_owned(), version_of(f)))
                .collect();
        assert_eq!(named, expected);
    }
}
