//! `[venue.NAME]` of `engine.toml`: one broker's venue (the paper simulator for now), whether
//! it takes orders, the names of the credentials it needs, and its cost models.
//!
//! Keys of `[venue.NAME]`:
//!
//! | key | value | default |
//! | --- | --- | --- |
//! | `kind` | `"paper"` | `"paper"` |
//! | `enabled` | boolean | `true` |
//! | `credentials_env` | array of environment variable names | `[]` |
//! | `latency_ns` | integer >= 0, ns of event time | `0` |
//! | `fill_size` | `"order"` \| `"touch"` | `"order"` |
//! | `latency` | order-entry latency: `"constant"` (`latency_ns`) \| `"file"` (`latency_file`) | `"constant"` |
//! | `latency_file` | recorded latencies, `latency = "file"` only: a CSV of `percentile,latency_ns` rows or one `latency_ns` per line | — |
//! | `md_latency` | market-data latency: `"none"` \| `"from_data"` (`local_ts - ts`) \| integer ns >= 0 \| `"file"` (`md_latency_file`) | `"none"` |
//! | `md_latency_file` | as `latency_file`, `md_latency = "file"` only | — |
//! | `latency_seed` | integer >= 0, seeds the draws from the latency files | `42` |
//! | `queue` | resting limit orders: `"none"` (fill when the touch reaches them) \| `"conservative"` (behind the displayed size) | `"none"` |
//! | `fee_bps` | bps of notional, sets both the maker and the taker rate | `0` |
//! | `maker_fee_bps`, `taker_fee_bps` | bps of notional; each overrides `fee_bps` | `fee_bps` |
//! | `buy_fee_bps`, `sell_fee_bps` | extra bps of notional on buys / sells (taxes, levies) | `0` |
//! | `fee_per_unit` | money per unit of quantity (share, contract) | `0` |
//! | `min_fee` | least commission per order, charged on its first fill | `0` |
//! | `slippage` | `"none"` \| `"N ticks"` \| `"X bps"` (taker fills only) | `"none"` |
//!
//! Rates (`*_bps`, the `X` of `slippage`) are exact decimals in `0..=10000` with at most 12
//! decimals; money (`fee_per_unit`, `min_fee`) exact decimals in `0..=1000000` of the
//! settlement currency with at most 18 decimals; `N` of `slippage` an integer in
//! `0..=1000000`. Decimals may be written as strings (`"0.005"`) or TOML numbers (the source
//! text is read, never a float). `slippage` is one string so an environment overlay replaces
//! the whole model.
//!
//! A latency file's path is relative to the config file's folder; it is read here, with the
//! config, so its bad rows are reported (`FILE:LINE: ...`) with every other config problem
//! (formats in `execution::paper::latency`, semantics in `docs/FILL_MODELS.md`). With
//! `latency = "file"`, `latency_ns` must be absent or 0.
//!
//! `[venue.NAME.instruments.SYMBOL]` overrides the cost keys (`fee_bps` … `slippage`) for one
//! instrument; keys it does not give keep the venue's values (its `fee_bps` replaces both of
//! the venue's maker and taker rates, unless it also gives `maker_fee_bps`/`taker_fee_bps`).

use std::path::{Path, PathBuf};

use crate::config::fields::Fields;
use crate::domain::{Decimal, MONEY_SCALE, Money, POW10};
use crate::risk::RiskLimits;
use toml::de::DeValue;

use super::cost::{BPS_DECIMALS, Bps, Costs, Slippage, VenueCosts};
use super::paper::latency::{
    DEFAULT_LATENCY_SEED, LatencyFile, LatencySource, LatencyTable, TableError,
};
use super::paper::queue::QueueModel;

/// Largest `fee_per_unit` and `min_fee`, whole units of the settlement currency.
const MAX_MONEY: i64 = 1_000_000;
/// Largest number of ticks of `slippage`.
const MAX_SLIPPAGE_TICKS: i64 = 1_000_000;

/// How much of an order the paper venue fills on one tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FillSize {
    /// All of the order's open quantity.
    #[default]
    Order,
    /// At most the size shown at the touch (partial fills).
    Touch,
}

/// One broker: its venue and risk limits (`[venue.NAME]` and `[risk.NAME]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConfig {
    pub name: String,
    /// A disabled broker takes no orders; strategies naming it are a config problem.
    pub enabled: bool,
    /// Environment variables the broker needs (API keys of a live broker). Names only:
    /// values are read from the environment and never logged.
    pub credentials_env: Vec<String>,
    /// `latency_ns` as written (0 when absent); `latency` holds the order-entry model.
    pub latency_ns: u64,
    /// Order-entry latency: `Constant(latency_ns)` or a file (`latency = "file"`).
    pub latency: LatencySource,
    /// Market-data latency (`md_latency`), added to the order-entry latency.
    pub md_latency: LatencySource,
    /// Seed of the draws from latency files (`latency_seed`).
    pub latency_seed: u64,
    /// How resting limit orders fill (`queue`).
    pub queue: QueueModel,
    /// The venue's `fee_bps` as written (0 when absent); `costs` holds the full model.
    pub fee_bps: Decimal,
    pub fill_size: FillSize,
    /// Commission and slippage, per instrument.
    pub costs: VenueCosts,
    pub risk: RiskLimits,
    /// `kind = "kite"`: Zerodha Kite Connect (the paper keys above then model its shadow).
    pub kite: Option<super::kite::config::KiteVenueConfig>,
}

/// Reads one `[venue.NAME]` table (risk limits are read from `[risk.NAME]` later).
pub(crate) fn read(name: &str, venue: &mut Fields<'_, '_>) -> BrokerConfig {
    let kite = match venue.opt_choice("kind", &["paper", "kite"]) {
        Some((kind, _)) if kind == "kite" => super::kite::config::read(venue),
        _ => None,
    };
    let enabled = venue.opt_bool("enabled").unwrap_or(true);
    let credentials_env = venue
        .opt_str_list("credentials_env")
        .unwrap_or_default()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let latency_ns = venue.opt_int("latency_ns", 0, i64::MAX).unwrap_or(0) as u64;
    let fill_size = match venue.opt_choice("fill_size", &["order", "touch"]) {
        Some((size, _)) if size == "touch" => FillSize::Touch,
        _ => FillSize::Order,
    };
    let latency = read_latency(venue, latency_ns);
    let md_latency = read_md_latency(venue);
    let latency_seed = venue
        .opt_int("latency_seed", 0, i64::MAX)
        .map_or(DEFAULT_LATENCY_SEED, |seed| seed as u64);
    let queue = match venue.opt_choice("queue", &["none", "conservative"]) {
        Some((model, _)) if model == "conservative" => QueueModel::Conservative,
        _ => QueueModel::None,
    };
    let (default, fee_bps) = read_costs(venue, Costs::default());
    let costs = VenueCosts {
        default,
        overrides: read_overrides(venue, default),
    };
    BrokerConfig {
        name: name.to_owned(),
        enabled,
        credentials_env,
        latency_ns,
        latency,
        md_latency,
        latency_seed,
        queue,
        fee_bps: fee_bps.unwrap_or_default(),
        fill_size,
        costs,
        risk: crate::risk::RiskLimits::default(),
        kite,
    }
}

/// `latency = "constant" | "file"` with `latency_file`; `latency_ns` is the constant.
fn read_latency(fields: &mut Fields<'_, '_>, latency_ns: u64) -> LatencySource {
    let constant = LatencySource::Constant(latency_ns);
    let kind = fields.opt_choice("latency", &["constant", "file"]);
    let file_key = fields.get("latency_file").map(|v| v.span().start);
    let Some((_, offset)) = kind.filter(|(kind, _)| kind == "file") else {
        if let Some(at) = file_key {
            fields.invalid(
                "latency_file",
                at,
                "applies with latency = \"file\" only (add it, or remove latency_file)",
            );
        }
        return constant;
    };
    if latency_ns != 0 {
        let at = fields.get("latency_ns").map_or(offset, |v| v.span().start);
        fields.invalid(
            "latency_ns",
            at,
            format!(
                "{latency_ns} conflicts with latency = \"file\" (the file gives the order-entry latency): remove it or set 0"
            ),
        );
    }
    if file_key.is_none() {
        fields.invalid(
            "latency",
            offset,
            "\"file\" needs latency_file = \"PATH\" (relative to this file)",
        );
        return constant;
    }
    read_latency_file(fields, "latency_file").map_or(constant, LatencySource::File)
}

/// `md_latency = "none" | "from_data" | "file" | N` (ns) with `md_latency_file`.
fn read_md_latency(fields: &mut Fields<'_, '_>) -> LatencySource {
    const KEY: &str = "md_latency";
    const EXPECTED: &str = "expected \"none\", \"from_data\", \"file\" or an integer >= 0 (ns)";
    let none = LatencySource::Constant(0);
    let file_key = fields.get("md_latency_file").map(|v| v.span().start);
    let mut wants_file = None;
    let model = match fields.get(KEY) {
        None => none.clone(),
        Some(value) => {
            let offset = value.span().start;
            match value.get_ref() {
                DeValue::String(text) if text == "none" => none.clone(),
                DeValue::String(text) if text == "from_data" => LatencySource::FromData,
                DeValue::String(text) if text == "file" => {
                    wants_file = Some(offset);
                    none.clone()
                }
                DeValue::Integer(_) => match fields.opt_int(KEY, 0, i64::MAX) {
                    Some(ns) => LatencySource::Constant(ns as u64),
                    None => none.clone(),
                },
                DeValue::String(text) => {
                    fields.invalid(KEY, offset, format!("{EXPECTED}, found \"{text}\""));
                    none.clone()
                }
                _ => {
                    fields.invalid(KEY, offset, EXPECTED);
                    none.clone()
                }
            }
        }
    };
    match (wants_file, file_key) {
        (Some(_), Some(_)) => {
            read_latency_file(fields, "md_latency_file").map_or(none, LatencySource::File)
        }
        (Some(offset), None) => {
            fields.invalid(
                KEY,
                offset,
                "\"file\" needs md_latency_file = \"PATH\" (relative to this file)",
            );
            none
        }
        (None, Some(at)) => {
            fields.invalid(
                "md_latency_file",
                at,
                "applies with md_latency = \"file\" only (add it, or remove md_latency_file)",
            );
            model
        }
        (None, None) => model,
    }
}

/// Reads the latency file `key` names, relative to the config file's folder. Its bad rows
/// are reported at their own file and line; a missing or empty file at `key`.
fn read_latency_file(fields: &mut Fields<'_, '_>, key: &'static str) -> Option<LatencyFile> {
    let (written, offset) = fields.opt_str(key)?;
    let path = resolve(fields.source().path, &written);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            fields.invalid(key, offset, format!("cannot read {}: {e}", path.display()));
            return None;
        }
    };
    match LatencyTable::parse(&path, &text) {
        Ok(table) => Some(LatencyFile { path, table }),
        Err(TableError::Empty) => {
            fields.invalid(
                key,
                offset,
                format!(
                    "{} holds no latencies (expected `percentile,latency_ns` rows or one `latency_ns` per line)",
                    path.display()
                ),
            );
            None
        }
        Err(TableError::Rows(rows)) => {
            fields.errors.extend(rows);
            None
        }
    }
}

/// `written` relative to the folder of the config file at `config`.
fn resolve(config: &Path, written: &str) -> PathBuf {
    let path = PathBuf::from(written);
    match config.parent() {
        Some(base) if path.is_relative() => base.join(path),
        _ => path,
    }
}

/// `[venue.NAME.instruments.SYMBOL]` tables, in file order, each laid over `venue`.
fn read_overrides(fields: &mut Fields<'_, '_>, venue: Costs) -> Vec<(String, Costs)> {
    let Some((table, offset)) = fields.opt_table("instruments") else {
        return Vec::new();
    };
    let mut instruments = fields.sub(table, "instruments", offset);
    let mut overrides = Vec::with_capacity(table.len());
    for (symbol, _) in table.iter() {
        let symbol = symbol.get_ref().as_ref();
        let Some((inner, inner_offset)) = instruments.opt_table(symbol) else {
            continue;
        };
        let mut instrument = instruments.sub(inner, symbol, inner_offset);
        let (costs, _) = read_costs(&mut instrument, venue);
        instrument.finish();
        overrides.push((symbol.to_owned(), costs));
    }
    instruments.finish();
    overrides
}

/// The cost keys of one table laid over `base`, and its `fee_bps` as written.
fn read_costs(fields: &mut Fields<'_, '_>, base: Costs) -> (Costs, Option<Decimal>) {
    let mut costs = base;
    let c = &mut costs.commission;
    let fee_bps = read_bps(fields, "fee_bps");
    if let Some((rate, _)) = fee_bps {
        c.maker_bps = rate;
        c.taker_bps = rate;
    }
    for (key, field) in [
        ("maker_fee_bps", &mut c.maker_bps),
        ("taker_fee_bps", &mut c.taker_bps),
        ("buy_fee_bps", &mut c.buy_bps),
        ("sell_fee_bps", &mut c.sell_bps),
    ] {
        if let Some((rate, _)) = read_bps(fields, key) {
            *field = rate;
        }
    }
    for (key, field) in [
        ("fee_per_unit", &mut c.per_unit),
        ("min_fee", &mut c.min_per_order),
    ] {
        if let Some(amount) = read_money(fields, key) {
            *field = amount;
        }
    }
    if let Some(slippage) = read_slippage(fields) {
        costs.slippage = slippage;
    }
    (costs, fee_bps.map(|(_, written)| written))
}

/// A rate in `0..=10000` bps with at most `BPS_DECIMALS` decimals, and the decimal written.
fn read_bps(fields: &mut Fields<'_, '_>, key: &'static str) -> Option<(Bps, Decimal)> {
    let (mantissa, decimals, offset) = fields.opt_non_negative_decimal(key)?;
    let decimal = Decimal { mantissa, decimals };
    match bps_of(decimal) {
        Ok(rate) => Some((rate, decimal)),
        Err(message) => {
            fields.invalid(key, offset, message);
            None
        }
    }
}

fn bps_of(decimal: Decimal) -> Result<Bps, String> {
    if decimal.decimals > BPS_DECIMALS {
        return Err(format!(
            "at most {BPS_DECIMALS} decimals of a bps, found {decimal}"
        ));
    }
    Bps::from_decimal(decimal).ok_or_else(|| format!("expected bps in 0..=10000, found {decimal}"))
}

/// A money amount in `0..=MAX_MONEY` with at most `MONEY_SCALE` decimals.
fn read_money(fields: &mut Fields<'_, '_>, key: &'static str) -> Option<Money> {
    let (mantissa, decimals, offset) = fields.opt_non_negative_decimal(key)?;
    let decimal = Decimal { mantissa, decimals };
    let Some(&scale) = MONEY_SCALE
        .checked_sub(decimals)
        .and_then(|shift| POW10.get(usize::from(shift)))
    else {
        fields.invalid(
            key,
            offset,
            format!("at most {MONEY_SCALE} decimals, found {decimal}"),
        );
        return None;
    };
    // mantissa < 2^63 and scale <= 10^18: the product fits i128.
    let raw = i128::from(mantissa) * i128::from(scale);
    let max = i128::from(MAX_MONEY) * i128::from(POW10[usize::from(MONEY_SCALE)]);
    if raw > max {
        fields.invalid(
            key,
            offset,
            format!("expected an amount in 0..={MAX_MONEY}, found {decimal}"),
        );
        return None;
    }
    Some(Money(raw))
}

/// `slippage = "none" | "N ticks" | "X bps"`.
fn read_slippage(fields: &mut Fields<'_, '_>) -> Option<Slippage> {
    const KEY: &str = "slippage";
    const EXPECTED: &str = "expected \"none\", \"N ticks\" or \"X bps\"";
    let value = fields.get(KEY)?;
    let offset = value.span().start;
    let DeValue::String(text) = value.get_ref() else {
        fields.invalid(KEY, offset, format!("{EXPECTED} (a string)"));
        return None;
    };
    let parsed = parse_slippage(text);
    match parsed {
        Ok(slippage) => Some(slippage),
        Err(None) => {
            fields.invalid(KEY, offset, format!("{EXPECTED}, found \"{text}\""));
            None
        }
        Err(Some(message)) => {
            fields.invalid(KEY, offset, message);
            None
        }
    }
}

/// `Err(None)`: not of the shape `none` / `N ticks` / `X bps`; `Err(Some(why))`: the shape
/// is right, the number is not.
fn parse_slippage(text: &str) -> Result<Slippage, Option<String>> {
    let mut words = text.split_whitespace();
    let (number, unit) = match (words.next(), words.next(), words.next()) {
        (Some("none"), None, None) => return Ok(Slippage::None),
        (Some(number), Some(unit), None) => (number, unit),
        _ => return Err(None),
    };
    match unit {
        "tick" | "ticks" => number
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=MAX_SLIPPAGE_TICKS).contains(n))
            .and_then(|n| u32::try_from(n).ok())
            .map(Slippage::Ticks)
            .ok_or_else(|| {
                Some(format!(
                    "expected a whole number of ticks in 0..={MAX_SLIPPAGE_TICKS}, found \"{number}\""
                ))
            }),
        "bps" => {
            let (mantissa, decimals) =
                crate::domain::fixed::parse_mantissa(number.as_bytes()).map_err(|_| {
                    Some(format!(
                        "expected a decimal number of bps like \"1.5\", found \"{number}\""
                    ))
                })?;
            bps_of(Decimal { mantissa, decimals })
                .map(Slippage::Bps)
                .map_err(Some)
        }
        _ => Err(None),
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
