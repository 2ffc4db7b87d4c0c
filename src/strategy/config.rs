//! Strategy files (`strategies/*.toml`): one strategy each, of a kind the `Registry` knows.
//! Unknown keys are errors and every problem of every file is reported at once, with file,
//! line and field; a user's kind reads its own `[params]` through the same machinery.

use std::path::{Path, PathBuf};

pub use super::params::PriceSource;
use super::params::{MAX_WINDOW, Params, QuantityParam};
use super::position::Mode;
use super::registry::{Registry, UserConfig};
use crate::config::fields::{Fields, Source, parse_document};
use crate::config::{ConfigError, ConfigErrors};
use crate::domain::Decimal;
use crate::domain::fixed::POW10;

/// Kind-specific parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum StrategyParams {
    EmaCross {
        fast: u32,
        slow: u32,
        price_source: PriceSource,
        mode: Mode,
    },
    Momentum {
        lookback: u32,
        threshold_bps: Decimal,
        price_source: PriceSource,
        mode: Mode,
    },
    MeanReversion {
        window: u32,
        entry_z: f64,
        exit_z: f64,
        price_source: PriceSource,
        mode: Mode,
    },
    Breakout {
        window: u32,
        price_source: PriceSource,
        mode: Mode,
    },
    /// An ONNX model scoring features; long when the score reaches `entry`, flat at `exit`.
    Ml {
        /// The `model` path as written; resolved when the engine loads it.
        model: String,
        /// Line of `model` in the strategy file.
        model_line: usize,
        /// Overrides of the sidecar's thresholds.
        entry_threshold: Option<f64>,
        exit_threshold: Option<f64>,
    },
    /// A kind a user registered, with the parameters it read.
    User(UserConfig),
}

impl StrategyParams {
    /// The price a built-in rule kind reads (`None`: ML, whose sidecar names it, and user
    /// kinds).
    pub fn price_source(&self) -> Option<PriceSource> {
        match self {
            StrategyParams::EmaCross { price_source, .. }
            | StrategyParams::Momentum { price_source, .. }
            | StrategyParams::MeanReversion { price_source, .. }
            | StrategyParams::Breakout { price_source, .. } => Some(*price_source),
            StrategyParams::Ml { .. } | StrategyParams::User(_) => None,
        }
    }
}

/// One validated strategy file.
#[derive(Clone, Debug, PartialEq)]
pub struct StrategyConfig {
    pub id: String,
    pub file: PathBuf,
    pub kind: String,
    /// Symbols with the line they are named on.
    pub instruments: Vec<(String, usize)>,
    /// Broker names with the line they are named on.
    pub brokers: Vec<(String, usize)>,
    /// Every order quantity the parameters name (built-ins: `quantity`), exact: instrument
    /// quantity precisions are widened to fit them.
    pub quantities: Vec<QuantityParam>,
    pub params: StrategyParams,
}

impl StrategyConfig {
    /// The `quantity` parameter (every built-in kind has one).
    pub fn quantity(&self) -> Option<Decimal> {
        self.quantities
            .iter()
            .find(|q| q.field == "params.quantity")
            .map(|q| q.value)
    }
}

/// Expands each path (a `.toml` file or a directory of them, sorted by name) and parses
/// every file with the built-in kinds.
///
/// # Errors
/// Every problem of every file, and duplicate ids across files.
pub fn load_strategies(paths: &[PathBuf]) -> Result<Vec<StrategyConfig>, ConfigErrors> {
    load_strategies_with(paths, &Registry::builtin())
}

/// `load_strategies` with the kinds of `registry` (built-ins and a user's).
///
/// # Errors
/// Every problem of every file, and duplicate ids across files.
pub fn load_strategies_with(
    paths: &[PathBuf],
    registry: &Registry,
) -> Result<Vec<StrategyConfig>, ConfigErrors> {
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            match std::fs::read_dir(path) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                        .collect();
                    found.sort();
                    if found.is_empty() {
                        errors.push(file_error(path, "directory holds no .toml strategy file"));
                    }
                    files.extend(found);
                }
                Err(e) => errors.push(file_error(path, &format!("cannot read directory: {e}"))),
            }
        } else {
            files.push(path.clone());
        }
    }
    let mut strategies: Vec<StrategyConfig> = Vec::new();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                if let Some(config) = parse_strategy(&file, &text, registry, &mut errors) {
                    if let Some(first) = strategies.iter().find(|s| s.id == config.id) {
                        errors.push(ConfigError {
                            file: file.clone(),
                            line: 1,
                            field: "id".to_owned(),
                            message: format!(
                                "duplicate id '{}', also in {}",
                                config.id,
                                first.file.display()
                            ),
                        });
                    } else {
                        strategies.push(config);
                    }
                }
            }
            Err(e) => errors.push(file_error(&file, &format!("cannot read: {e}"))),
        }
    }
    if errors.is_empty() {
        Ok(strategies)
    } else {
        Err(ConfigErrors(errors))
    }
}

fn file_error(path: &Path, message: &str) -> ConfigError {
    ConfigError {
        file: path.to_owned(),
        line: 0,
        field: String::new(),
        message: message.to_owned(),
    }
}

/// Parses one strategy file, pushing its problems to `errors`.
pub fn parse_strategy(
    path: &Path,
    text: &str,
    registry: &Registry,
    errors: &mut Vec<ConfigError>,
) -> Option<StrategyConfig> {
    let source = Source { path, text };
    let doc = match parse_document(&source) {
        Ok(doc) => doc,
        Err(e) => {
            errors.extend(e);
            return None;
        }
    };
    let before = errors.len();
    let mut root = Fields::new(&source, doc.get_ref(), "", 0, errors);
    let id = root.req_str("id").map(|(id, offset)| {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            root.invalid(
                "id",
                offset,
                format!("expected letters, digits, '_', '-' or '.', found \"{id}\""),
            );
        }
        id
    });
    let kinds = registry.names();
    let kind = match root.req_str("kind") {
        Some((kind, _)) if kinds.contains(&kind.as_str()) => Some(kind),
        Some((kind, offset)) => {
            root.invalid(
                "kind",
                offset,
                format!("expected one of {}, found \"{kind}\"", kinds.join(" | ")),
            );
            None
        }
        None => None,
    };
    let user_kind = kind.as_deref().and_then(|k| registry.user_kind(k));
    // Only ML strategies name a model; for any other kind `model` stays an unknown field.
    let model = if kind.as_deref() == Some("ml") {
        match root.req_str("model") {
            Some((model, offset)) if !model.trim().is_empty() => {
                Some((model, root.source().line_of(offset)))
            }
            Some((_, offset)) => {
                root.invalid("model", offset, "expected a path like \"models/name.onnx\"");
                None
            }
            None => None,
        }
    } else {
        None
    };
    let instruments = non_empty_list(&mut root, "instruments");
    let brokers = non_empty_list(&mut root, "brokers");
    let mut quantities = Vec::new();
    let mut params = None;
    match root.opt_table("params") {
        Some((table, offset)) => {
            let mut p = root.sub(table, "params", offset);
            if let Some(kind) = user_kind {
                let mut reader = Params::new(&mut p, &mut quantities);
                params = registry
                    .configure(kind, &mut reader)
                    .map(StrategyParams::User);
                p.finish();
            } else if let Some(kind) = kind.as_deref() {
                let quantity = Params::new(&mut p, &mut quantities).quantity("quantity");
                params = match kind {
                    "ml" => read_ml_params(&mut p, model),
                    kind => read_params(&mut p, kind, offset),
                };
                if quantity.is_none() {
                    params = None;
                }
                p.finish();
            }
            // Without a known kind the params cannot be checked: the `kind` error says why.
        }
        None => {
            if doc.get_ref().get("params").is_none() {
                root.invalid("params", 0, "missing table [params]");
            }
        }
    }
    root.finish();
    if errors.len() > before {
        return None;
    }
    Some(StrategyConfig {
        id: id?,
        file: path.to_owned(),
        kind: kind?,
        instruments: instruments?,
        brokers: brokers?,
        quantities,
        params: params?,
    })
}

fn non_empty_list<'s>(root: &mut Fields<'s, '_>, key: &'s str) -> Option<Vec<(String, usize)>> {
    let offset_of_table = 0;
    let list = match root.opt_str_list(key) {
        Some(list) => list,
        None => {
            if root.get(key).is_none() {
                root.invalid(
                    key,
                    offset_of_table,
                    "missing (expected a non-empty array of strings)",
                );
            }
            return None;
        }
    };
    if list.is_empty() {
        let offset = root.get(key).map_or(0, |v| v.span().start);
        root.invalid(key, offset, "expected a non-empty array of strings");
        return None;
    }
    let source = root.source();
    let mut out: Vec<(String, usize)> = Vec::with_capacity(list.len());
    for (name, offset) in list {
        if out.iter().any(|(n, _)| *n == name) {
            root.invalid(key, offset, format!("'{name}' listed twice"));
        } else {
            out.push((name, source.line_of(offset)));
        }
    }
    Some(out)
}

/// Optional threshold overrides of an ML strategy, probabilities with entry above exit.
/// `model` is `None` when the file's `model` was missing or invalid (already reported); the
/// parameters are still checked so every problem shows at once.
fn read_ml_params(
    p: &mut Fields<'_, '_>,
    model: Option<(String, usize)>,
) -> Option<StrategyParams> {
    let probability = |p: &mut Fields<'_, '_>, key| match p.opt_decimal(key) {
        Some((m, d, _)) if (0..=POW10[d as usize]).contains(&m) => {
            Some(Some(m as f64 / POW10[d as usize] as f64))
        }
        Some((_, _, at)) => {
            p.invalid(key, at, "expected a probability between 0 and 1");
            None
        }
        None => Some(None),
    };
    let source_given = p.get("price_source").map(|v| v.span().start);
    if let Some(at) = source_given {
        p.invalid(
            "price_source",
            at,
            "not an ML parameter: the model reads the price its sidecar names",
        );
    }
    let entry = probability(p, "entry_threshold");
    let exit = probability(p, "exit_threshold");
    let (entry_threshold, exit_threshold) = (entry?, exit?);
    if source_given.is_some() {
        return None;
    }
    let (model, model_line) = model?;
    if let (Some(entry), Some(exit)) = (entry_threshold, exit_threshold)
        && exit >= entry
    {
        let at = p.get("exit_threshold").map_or(0, |v| v.span().start);
        p.invalid(
            "exit_threshold",
            at,
            format!("expected a value below entry_threshold ({entry}), found {exit}"),
        );
        return None;
    }
    Some(StrategyParams::Ml {
        model,
        model_line,
        entry_threshold,
        exit_threshold,
    })
}

fn read_params(p: &mut Fields<'_, '_>, kind: &str, offset: usize) -> Option<StrategyParams> {
    // Every window, lookback and EMA period: bounded so its ring fits in memory.
    let max = MAX_WINDOW;
    // A bad value is recorded in `p`; `Mid` only keeps the other keys checked.
    let price_source = PriceSource::read(p).unwrap_or_default();
    let mode = match p.opt_choice("mode", &Mode::NAMES) {
        Some((m, _)) => Mode::parse(&m).unwrap_or_default(),
        None => Mode::LongFlat,
    };
    match kind {
        "ema_cross" => {
            let fast = p.req_int("fast", 1, max);
            let slow = p.req_int("slow", 1, max);
            let (fast, slow) = (fast?, slow?);
            if fast >= slow {
                let at = p.get("slow").map_or(offset, |v| v.span().start);
                p.invalid(
                    "slow",
                    at,
                    format!("expected an integer > fast ({fast}), found {slow}"),
                );
                return None;
            }
            Some(StrategyParams::EmaCross {
                fast: fast as u32,
                slow: slow as u32,
                price_source,
                mode,
            })
        }
        "momentum" => {
            let lookback = p.req_int("lookback", 1, max);
            let threshold = p.opt_non_negative_decimal("threshold_bps");
            if threshold.is_none() && p.get("threshold_bps").is_none() {
                p.invalid(
                    "threshold_bps",
                    offset,
                    "missing (expected a decimal >= 0, in basis points)",
                );
            }
            let (mantissa, decimals, at) = threshold?;
            if decimals > 8 {
                p.invalid(
                    "threshold_bps",
                    at,
                    format!("expected at most 8 decimals, found {decimals}"),
                );
                return None;
            }
            Some(StrategyParams::Momentum {
                lookback: lookback? as u32,
                threshold_bps: Decimal { mantissa, decimals },
                price_source,
                mode,
            })
        }
        "mean_reversion" => {
            let window = p.req_int("window", 2, max);
            let entry = p.opt_decimal("entry_z");
            let exit = p.opt_decimal("exit_z");
            let as_f64 = |(m, d, _): (i64, u8, usize)| m as f64 / 10f64.powi(i32::from(d));
            let entry_z = match entry {
                Some(v) if v.0 > 0 => as_f64(v),
                Some((_, _, at)) => {
                    p.invalid("entry_z", at, "expected a decimal > 0");
                    return None;
                }
                None => {
                    if p.get("entry_z").is_none() {
                        p.invalid(
                            "entry_z",
                            offset,
                            "missing (expected a decimal > 0, in standard deviations)",
                        );
                    }
                    return None;
                }
            };
            let exit_z = exit.map_or(0.0, as_f64);
            if exit_z >= entry_z {
                p.invalid(
                    "exit_z",
                    offset,
                    format!("expected a value < entry_z ({entry_z}), found {exit_z}"),
                );
                return None;
            }
            Some(StrategyParams::MeanReversion {
                window: window? as u32,
                entry_z,
                exit_z,
                price_source,
                mode,
            })
        }
        "breakout" => Some(StrategyParams::Breakout {
            window: p.req_int("window", 1, max)? as u32,
            price_source,
            mode,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StrategyConfig, Vec<String>> {
        let mut errors = Vec::new();
        let parsed = parse_strategy(Path::new("s.toml"), text, &Registry::builtin(), &mut errors);
        if errors.is_empty() {
            Ok(parsed.expect("no errors means a config"))
        } else {
            Err(errors.iter().map(ToString::to_string).collect())
        }
    }

    #[test]
    fn valid_ema_cross() {
        let config = parse(
            "id = \"ema\"\nkind = \"ema_cross\"\ninstruments = [\"AUDUSD\"]\nbrokers = [\"paper\"]\n[params]\nfast = 10\nslow = 30\nquantity = \"1.5\"\nprice_source = \"mid\"\n",
        )
        .unwrap();
        assert_eq!(
            config.params,
            StrategyParams::EmaCross {
                fast: 10,
                slow: 30,
                price_source: PriceSource::Mid,
                mode: Mode::LongFlat,
            }
        );
        assert_eq!(
            config.quantity(),
            Some(Decimal {
                mantissa: 15,
                decimals: 1
            })
        );
        assert_eq!(config.instruments, vec![("AUDUSD".to_owned(), 3)]);
    }

    #[test]
    fn all_errors_at_once_table() {
        let text = "id = \"x\"\nkind = \"ema_cross\"\ninstruments = []\nbrokers = [\"paper\"]\ncolour = \"red\"\n[params]\nfast = 0\nslow = \"30\"\nquantity = \"-1\"\n";
        let errors = parse(text).unwrap_err();
        let expected = [
            "s.toml:3: field 'instruments': expected a non-empty array of strings",
            "s.toml:5: field 'colour': unknown field",
            "s.toml:7: field 'params.fast': expected integer in 1..=1000000, found 0",
            "s.toml:8: field 'params.slow': expected integer in 1..=1000000, found string \"30\"",
            "s.toml:9: field 'params.quantity': expected a decimal > 0",
        ];
        for needle in expected {
            assert!(
                errors.iter().any(|e| e.contains(needle)),
                "missing {needle:?} in {errors:#?}"
            );
        }
    }

    #[test]
    fn kind_specific_checks() {
        let base = "id = \"x\"\ninstruments = [\"A\"]\nbrokers = [\"paper\"]\n";
        let cases = [
            (
                "fast >= slow",
                "kind = \"ema_cross\"\n[params]\nfast = 5\nslow = 5\nquantity = \"1\"\n",
                "field 'params.slow': expected an integer > fast (5)",
            ),
            (
                "unknown kind",
                "kind = \"martingale\"\n[params]\nquantity = \"1\"\n",
                "field 'kind': expected one of",
            ),
            (
                "missing window",
                "kind = \"breakout\"\n[params]\nquantity = \"1\"\n",
                "field 'params.window': missing",
            ),
            (
                "exit above entry",
                "kind = \"mean_reversion\"\n[params]\nwindow = 5\nentry_z = 1\nexit_z = 2\nquantity = \"1\"\n",
                "field 'params.exit_z'",
            ),
            (
                "momentum unknown param",
                "kind = \"momentum\"\n[params]\nlookback = 5\nthreshold_bps = 2\nfast = 1\nquantity = \"1\"\n",
                "field 'params.fast': unknown field",
            ),
        ];
        for (name, tail, needle) in cases {
            let errors = parse(&format!("{base}{tail}")).unwrap_err();
            assert!(
                errors.iter().any(|e| e.contains(needle)),
                "{name}: {errors:#?}"
            );
        }
    }
}
