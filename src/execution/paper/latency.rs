//! Latency models of the paper venue: how long, in event time, an order takes from its
//! signal to the venue. Contract: a model answers one delay per accepted order, in the order
//! orders are submitted, with no allocation and no clock; a drawn model uses its own seeded
//! generator, so the same run (same config, same data) draws the same delays, inline or
//! threaded.
//!
//! Two delays add up (see `PaperVenue`): the market-data latency (the signal's tick reached
//! the strategy that much after the exchange stamped it) and the order-entry latency (the
//! order reached the venue that much after the strategy sent it). Each is a `Latency`:
//! - `Constant(ns)`: the same delay for every order (`latency_ns`; `md_latency = N`).
//! - `FromData`: `local_ts - ts` of the order instrument's last tick the venue saw (0 when
//!   the local clock is behind the exchange's, or before any tick).
//! - `Sampled`: drawn from a recorded `LatencyTable` with a `SplitMix64` generator.
//!
//! A recorded latency file (`LatencyTable::parse`) is one of:
//! - percentiles: `percentile,latency_ns` rows, percentile in `0..=100` with at most 6
//!   decimals, strictly rising, latencies (integer ns, `>= 0`) never falling. A draw takes a
//!   uniform percentile `u` in `0..=100` (steps of 1e-6) and interpolates linearly between
//!   the two rows around it (integer arithmetic, rounded down); below the first row it is the
//!   first latency, above the last the last.
//! - samples: one `latency_ns` per line; a draw picks one line uniformly.
//!
//! Blank lines and lines starting with `#` are skipped; an optional first line `percentile,
//! latency_ns` or `latency_ns` names the format, else the first row's column count does.

use std::path::Path;

use crate::config::ConfigError;
use crate::domain::fixed::parse_fixed;

/// The seed of latency draws when config gives none (`latency_seed`).
pub const DEFAULT_LATENCY_SEED: u64 = 42;

/// Decimals of a percentile in a latency file: its raw unit is 1e-6 percent.
pub const PERCENTILE_DECIMALS: u8 = 6;

/// 100 percent, in raw percentile units.
pub const HUNDRED_PERCENT: u64 = 100_000_000;

/// Largest latency a file may hold, ns (the largest `latency_ns` config accepts).
pub const MAX_LATENCY_NS: u64 = i64::MAX as u64;

/// Bad rows reported per file before the rest are only counted.
const MAX_ROW_ERRORS: usize = 20;

/// Mixed into the seed of the market-data draws so they are independent of the
/// order-entry draws of the same venue (ASCII `md_laten`).
const MD_STREAM: u64 = 0x6d64_5f6c_6174_656e;

/// A delay added to an order on its way to the venue (hftbacktest's `LatencyModel`, entry
/// side). One call per accepted order, in submission order.
pub trait LatencyModel {
    /// The next order's delay, ns of event time. `data_ns` is `local_ts - ts` of the last
    /// tick of the order's instrument (0 when unknown).
    fn next_ns(&mut self, data_ns: u64) -> u64;
}

/// The latency models config picks from, dispatched by `match`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Latency {
    /// The same delay for every order, ns.
    Constant(u64),
    /// The data's own delay: `local_ts - ts` of the instrument's last tick.
    FromData,
    /// Drawn from a recorded distribution.
    Sampled(Sampler),
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Constant(0)
    }
}

impl LatencyModel for Latency {
    #[inline]
    fn next_ns(&mut self, data_ns: u64) -> u64 {
        match self {
            Latency::Constant(ns) => *ns,
            Latency::FromData => data_ns,
            Latency::Sampled(sampler) => sampler.draw(),
        }
    }
}

impl Latency {
    /// The model of a config source; `seed` seeds a drawn model's generator.
    pub fn new(source: &LatencySource, seed: u64) -> Latency {
        match source {
            LatencySource::Constant(ns) => Latency::Constant(*ns),
            LatencySource::FromData => Latency::FromData,
            LatencySource::File(file) => Latency::Sampled(Sampler::new(file.table.clone(), seed)),
        }
    }

    /// The delay when it is the same for every order.
    pub fn fixed(&self) -> Option<u64> {
        match self {
            Latency::Constant(ns) => Some(*ns),
            Latency::FromData | Latency::Sampled(_) => None,
        }
    }
}

/// The seed of a venue's market-data draws, from its `latency_seed`: another stream than
/// the order-entry draws', so adding one model does not shift the other's delays.
pub fn md_seed(seed: u64) -> u64 {
    SplitMix64::new(seed ^ MD_STREAM).next_u64()
}

/// Where a latency comes from, as config gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LatencySource {
    /// ns, the same for every order.
    Constant(u64),
    /// `local_ts - ts` of the data (market-data latency only).
    FromData,
    /// A recorded distribution.
    File(LatencyFile),
}

impl Default for LatencySource {
    fn default() -> Self {
        LatencySource::Constant(0)
    }
}

/// A latency file read at config time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LatencyFile {
    /// Resolved against the config file's folder.
    pub path: std::path::PathBuf,
    pub table: LatencyTable,
}

/// A recorded latency distribution, never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LatencyTable {
    /// `(percentile, latency ns)`: percentile in raw units of 1e-6 percent, strictly rising;
    /// latencies never falling.
    Percentiles(Vec<(u64, u64)>),
    /// Latencies, ns, in file order.
    Samples(Vec<u64>),
}

/// Why a latency file was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableError {
    /// No rows (blank lines, comments and a header only).
    Empty,
    /// Bad rows, each with the file and line.
    Rows(Vec<ConfigError>),
}

impl LatencyTable {
    /// Reads a latency file's text; `path` names it in messages.
    ///
    /// # Errors
    /// `Empty` when it holds no rows; else every bad row (up to 20, then a count), with
    /// `path` and its line.
    pub fn parse(path: &Path, text: &str) -> Result<LatencyTable, TableError> {
        let mut reader = Reader {
            path,
            errors: Vec::new(),
            more: 0,
        };
        let mut columns = None;
        let mut percentiles = Vec::new();
        let mut samples = Vec::new();
        // (line, percentile, latency) of the last good percentile row.
        let mut previous: Option<(usize, u64, u64)> = None;
        let mut first = true;
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let row = raw.trim();
            if row.is_empty() || row.starts_with('#') {
                continue;
            }
            let cells: Vec<&str> = row.split(',').map(str::trim).collect();
            // An optional header names the format; else the first row's column count does.
            if std::mem::take(&mut first)
                && let Some(count) = header(&cells)
            {
                columns = Some(count);
                continue;
            }
            let count = cells.len();
            let expected = match columns {
                Some(expected) => expected,
                None if (1..=2).contains(&count) => *columns.insert(count),
                None => {
                    reader.error(
                        line,
                        format!(
                            "expected 1 column (latency_ns) or 2 (percentile,latency_ns), found {count}"
                        ),
                    );
                    continue;
                }
            };
            if count != expected {
                let shape = if expected == 2 {
                    "2 columns (percentile,latency_ns)"
                } else {
                    "1 column (latency_ns)"
                };
                reader.error(line, format!("expected {shape}, found {count}"));
                continue;
            }
            if expected == 1 {
                if let Some(ns) = reader.latency(line, cells[0]) {
                    samples.push(ns);
                }
                continue;
            }
            let (Some(p), Some(ns)) = (
                reader.percentile(line, cells[0]),
                reader.latency(line, cells[1]),
            ) else {
                continue;
            };
            if let Some((at, last_p, last_ns)) = previous {
                if p <= last_p {
                    reader.error(
                        line,
                        format!(
                            "percentile: must rise, found {} after {} (line {at})",
                            Percent(p),
                            Percent(last_p)
                        ),
                    );
                    continue;
                }
                if ns < last_ns {
                    reader.error(
                        line,
                        format!(
                            "latency_ns: must not fall as the percentile rises, found {ns} after {last_ns} (line {at})"
                        ),
                    );
                    continue;
                }
            }
            previous = Some((line, p, ns));
            percentiles.push((p, ns));
        }
        if !reader.errors.is_empty() {
            return Err(TableError::Rows(reader.finish()));
        }
        match (percentiles.is_empty(), samples.is_empty()) {
            (false, _) => Ok(LatencyTable::Percentiles(percentiles)),
            (true, false) => Ok(LatencyTable::Samples(samples)),
            (true, true) => Err(TableError::Empty),
        }
    }
}

/// The column count a header line names, if it is one.
fn header(cells: &[&str]) -> Option<usize> {
    let lower: Vec<String> = cells.iter().map(|c| c.to_ascii_lowercase()).collect();
    match lower.as_slice() {
        [p, l] if p == "percentile" && l == "latency_ns" => Some(2),
        [l] if l == "latency_ns" => Some(1),
        _ => None,
    }
}

/// Collects a file's bad rows.
struct Reader<'p> {
    path: &'p Path,
    errors: Vec<ConfigError>,
    /// Bad rows past `MAX_ROW_ERRORS`, counted only.
    more: usize,
}

impl Reader<'_> {
    fn error(&mut self, line: usize, message: String) {
        if self.errors.len() < MAX_ROW_ERRORS {
            self.errors.push(ConfigError {
                file: self.path.to_owned(),
                line,
                field: String::new(),
                message,
            });
        } else {
            self.more += 1;
        }
    }

    fn finish(mut self) -> Vec<ConfigError> {
        if self.more > 0 {
            let line = self.errors.last().map_or(0, |e| e.line);
            self.errors.push(ConfigError {
                file: self.path.to_owned(),
                line,
                field: String::new(),
                message: format!("and {} more bad rows after this one", self.more),
            });
        }
        self.errors
    }

    /// A latency: an integer number of ns in `0..=MAX_LATENCY_NS`.
    fn latency(&mut self, line: usize, cell: &str) -> Option<u64> {
        let digits = cell.strip_prefix('+').unwrap_or(cell).replace('_', "");
        match digits.parse::<u64>() {
            Ok(ns) if ns <= MAX_LATENCY_NS => Some(ns),
            _ => {
                let why = if cell.starts_with('-') {
                    "negative latencies are refused"
                } else {
                    "expected a whole number of ns >= 0"
                };
                self.error(line, format!("latency_ns: {why}, found \"{cell}\""));
                None
            }
        }
    }

    /// A percentile in `0..=100`, at most `PERCENTILE_DECIMALS` decimals, in raw units.
    fn percentile(&mut self, line: usize, cell: &str) -> Option<u64> {
        match parse_fixed(cell.as_bytes(), PERCENTILE_DECIMALS) {
            Ok(raw) if (0..=HUNDRED_PERCENT as i64).contains(&raw) => Some(raw as u64),
            _ => {
                self.error(
                    line,
                    format!(
                        "percentile: expected a number in 0..=100 with at most {PERCENTILE_DECIMALS} decimals, found \"{cell}\""
                    ),
                );
                None
            }
        }
    }
}

/// A raw percentile, shown as written (`99.9`).
struct Percent(u64);

impl std::fmt::Display for Percent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scale = HUNDRED_PERCENT / 100;
        let (whole, frac) = (self.0 / scale, self.0 % scale);
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:06}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// The latency at raw percentile `u` of `rows` (non-empty, percentiles rising).
#[inline]
fn interpolate(rows: &[(u64, u64)], u: u64) -> u64 {
    let above = rows.partition_point(|&(p, _)| p <= u);
    if above == 0 {
        return rows[0].1;
    }
    let Some(&(p1, l1)) = rows.get(above) else {
        return rows[rows.len() - 1].1;
    };
    let (p0, l0) = rows[above - 1];
    // p0 <= u < p1 and l0 <= l1: the step fits u128 and the result lies in l0..=l1.
    let step = u128::from(l1 - l0) * u128::from(u - p0) / u128::from(p1 - p0);
    l0 + step as u64
}

/// Draws latencies from a table with its own generator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sampler {
    table: LatencyTable,
    rng: SplitMix64,
}

impl Sampler {
    /// Where the generator stands (a checkpoint).
    pub(crate) fn rng_state(&self) -> u64 {
        self.rng.state
    }

    /// Puts the generator back where a checkpoint found it.
    pub(crate) fn set_rng_state(&mut self, state: u64) {
        self.rng.state = state;
    }

    pub fn new(table: LatencyTable, seed: u64) -> Sampler {
        Sampler {
            table,
            rng: SplitMix64::new(seed),
        }
    }

    /// The next delay, ns.
    #[inline]
    pub fn draw(&mut self) -> u64 {
        match &self.table {
            LatencyTable::Percentiles(rows) => {
                interpolate(rows, self.rng.below(HUNDRED_PERCENT + 1))
            }
            LatencyTable::Samples(samples) => {
                samples[self.rng.below(samples.len() as u64) as usize]
            }
        }
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a 64-bit generator with a fixed, documented
/// output for each seed. Kept in-tree so the draws of a seed never change with a
/// dependency's version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n >= 1`), unbiased (Lemire's multiply-and-reject).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }
}

#[cfg(test)]
#[path = "latency_tests.rs"]
mod tests;
