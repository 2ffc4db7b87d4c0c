//! A parameter sweep's variants: the grid (`--grid NAME=V1,V2,...` on the command line, or a
//! sweep file) and, optionally, a seeded random sample of it. Variants are the cartesian
//! product in grid order (the first parameter varies slowest), numbered `v001`, `v002`, ...
//! in that order; a random search keeps `samples` distinct points of the product, drawn
//! with a seeded ChaCha8 generator, in ascending variant order — the same file gives the
//! same variants everywhere.
//!
//! Sweep file:
//! ```toml
//! strategy = "strategies/ema_cross_btcusdt_spot.toml"  # optional; else --strategy
//! [grid]
//! fast = [5, 10, 20]
//! slow = { min = 30, max = 120, step = 30 }           # inclusive integer or decimal range
//! [random]                                            # optional: random search
//! samples = 16
//! seed = 7
//! ```
//! A parameter is a key of the strategy file's `[params]` table; values are written into
//! a copy of the file as TOML integers, decimals (as strings, which every decimal parameter
//! accepts), booleans or strings.

use std::path::{Path, PathBuf};

use rand_chacha::rand_core::{RngCore, SeedableRng};

use crate::config::ConfigErrors;
use crate::config::fields::{Fields, Source, parse_document};
use crate::domain::fixed::parse_mantissa;

/// Most variants a sweep may have: beyond this, use a random search.
pub const MAX_VARIANTS: usize = 100_000;

/// One swept parameter and its values, as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub name: String,
    pub values: Vec<String>,
}

/// The variants to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub axes: Vec<Axis>,
    /// `Some((samples, seed))`: a random search.
    pub random: Option<(usize, u64)>,
    /// The sweep file's `strategy`, resolved against the file's folder.
    pub strategy: Option<PathBuf>,
}

/// One variant: its id and one value per axis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    pub id: String,
    pub values: Vec<String>,
}

impl Grid {
    /// Parses `NAME=V1,V2,...` arguments.
    ///
    /// # Errors
    /// A malformed argument or a parameter given twice, naming the argument.
    pub fn from_args(args: &[String]) -> Result<Grid, String> {
        let mut axes: Vec<Axis> = Vec::new();
        for arg in args {
            let Some((name, values)) = arg.split_once('=') else {
                return Err(format!("--grid {arg}: expected NAME=V1,V2,..."));
            };
            let name = name.trim();
            let values: Vec<String> = values.split(',').map(|v| v.trim().to_owned()).collect();
            if name.is_empty() || values.iter().any(String::is_empty) {
                return Err(format!(
                    "--grid {arg}: expected NAME=V1,V2,... with no empty value"
                ));
            }
            if axes.iter().any(|a| a.name == name) {
                return Err(format!("--grid {arg}: parameter '{name}' is swept twice"));
            }
            axes.push(Axis {
                name: name.to_owned(),
                values,
            });
        }
        Ok(Grid {
            axes,
            random: None,
            strategy: None,
        })
    }

    /// Reads a sweep file.
    ///
    /// # Errors
    /// Every problem, with file, line and field.
    pub fn from_file(path: &Path) -> Result<Grid, ConfigErrors> {
        let text = crate::config::read_file(path)?;
        let source = Source { path, text: &text };
        let doc = parse_document(&source).map_err(ConfigErrors)?;
        let mut errors = Vec::new();
        let mut grid = Grid {
            axes: Vec::new(),
            random: None,
            strategy: None,
        };
        let mut root = Fields::new(&source, doc.get_ref(), "", 0, &mut errors);
        if let Some((strategy, _)) = root.opt_str("strategy") {
            let base = path.parent().unwrap_or(Path::new("."));
            grid.strategy = Some(base.join(strategy));
        }
        match root.opt_table("grid") {
            Some((table, offset)) => {
                let mut fields = root.sub(table, "grid", offset);
                for (name, value) in table.iter() {
                    let name = name.get_ref().as_ref();
                    let _ = fields.get(name);
                    match axis_values(value.get_ref()) {
                        Ok(values) => grid.axes.push(Axis {
                            name: name.to_owned(),
                            values,
                        }),
                        Err(message) => fields.invalid(name, value.span().start, message),
                    }
                }
                fields.finish();
            }
            None => root.invalid("grid", 0, "missing table [grid]"),
        }
        if let Some((table, offset)) = root.opt_table("random") {
            let mut fields = root.sub(table, "random", offset);
            let samples = fields.req_int("samples", 1, MAX_VARIANTS as i64);
            let seed = fields.opt_int("seed", 0, i64::MAX).unwrap_or(0);
            fields.finish();
            if let Some(samples) = samples {
                grid.random = Some((samples as usize, seed as u64));
            }
        }
        root.finish();
        if errors.is_empty() {
            Ok(grid)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Size of the full cartesian product (saturating).
    pub fn size(&self) -> usize {
        self.axes
            .iter()
            .fold(1usize, |n, a| n.saturating_mul(a.values.len()))
    }

    /// The variants, in variant order.
    ///
    /// # Errors
    /// An empty grid, or more than `MAX_VARIANTS` variants.
    pub fn variants(&self) -> Result<Vec<Variant>, String> {
        if self.axes.is_empty() {
            return Err("nothing to sweep: give --grid NAME=V1,V2,... or a [grid] table".into());
        }
        let size = self.size();
        let indices: Vec<usize> = match self.random {
            Some((samples, _)) if samples >= size => (0..size).collect(),
            Some((samples, seed)) => {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                let mut picked = std::collections::BTreeSet::new();
                while picked.len() < samples {
                    // Multiply-shift onto 0..size: bias below 2^-40 for any size allowed here.
                    let draw = (u128::from(rng.next_u64()) * size as u128) >> 64;
                    picked.insert(draw as usize);
                }
                picked.into_iter().collect()
            }
            None if size > MAX_VARIANTS => {
                return Err(format!(
                    "{size} variants exceed the maximum of {MAX_VARIANTS}: sample them with [random] samples = N in a sweep file"
                ));
            }
            None => (0..size).collect(),
        };
        let width = size.to_string().len().max(3);
        Ok(indices
            .into_iter()
            .map(|index| {
                // Mixed radix, last axis fastest.
                let mut rest = index;
                let mut values = vec![String::new(); self.axes.len()];
                for (slot, axis) in values.iter_mut().zip(&self.axes).rev() {
                    *slot = axis.values[rest % axis.values.len()].clone();
                    rest /= axis.values.len();
                }
                Variant {
                    id: format!("v{:0width$}", index + 1),
                    values,
                }
            })
            .collect())
    }
}

/// A `[grid]` value: an array of values or an inclusive `{ min, max, step }` range.
fn axis_values(value: &toml::de::DeValue<'_>) -> Result<Vec<String>, String> {
    use toml::de::DeValue;
    let text = |v: &DeValue<'_>| -> Option<String> {
        match v {
            DeValue::Integer(i) => Some(i.as_str().replace('_', "")),
            DeValue::Float(f) => Some(f.as_str().replace('_', "")),
            DeValue::String(s) => Some(s.to_string()),
            DeValue::Boolean(b) => Some(b.to_string()),
            _ => None,
        }
    };
    match value {
        DeValue::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| {
                text(v.get_ref()).ok_or_else(|| "expected numbers, strings or booleans".to_owned())
            })
            .collect(),
        DeValue::Table(t) => {
            let get = |k: &str| -> Result<(i64, u8), String> {
                let v = t
                    .get(k)
                    .and_then(|v| text(v.get_ref()))
                    .ok_or_else(|| format!("expected {{ min, max, step }}: '{k}' missing"))?;
                parse_mantissa(v.as_bytes()).map_err(|e| format!("'{k}': {e}"))
            };
            if let Some(extra) = t
                .iter()
                .map(|(k, _)| k.get_ref().as_ref())
                .find(|k| !["min", "max", "step"].contains(k))
            {
                return Err(format!("unknown key '{extra}': expected min, max, step"));
            }
            let (min, max, step) = (get("min")?, get("max")?, get("step")?);
            let decimals = min.1.max(max.1).max(step.1);
            let scale = |(m, d): (i64, u8)| m.checked_mul(10i64.pow(u32::from(decimals - d)));
            let (Some(lo), Some(hi), Some(step_raw)) = (scale(min), scale(max), scale(step)) else {
                return Err("range out of bounds".into());
            };
            if step_raw <= 0 || hi < lo {
                return Err("expected step > 0 and max >= min".into());
            }
            let count = (hi - lo) / step_raw + 1;
            if count as usize > MAX_VARIANTS {
                return Err(format!("{count} values exceed {MAX_VARIANTS}"));
            }
            Ok((0..count)
                .map(|k| {
                    crate::domain::fixed::DecimalDisplay::fixed(lo + k * step_raw, decimals)
                        .to_string()
                })
                .collect())
        }
        _ => Err("expected a non-empty array of values or { min, max, step }".into()),
    }
}

/// The TOML value a grid value is written as: integer, boolean, decimal string, or string.
pub fn toml_value(text: &str) -> toml::Value {
    if let Ok(i) = text.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match text {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cartesian_order_ids_and_random_subsets() {
        let grid = Grid::from_args(&["fast=5,10".into(), "slow=30,60,90".into()]).expect("grid");
        let v = grid.variants().expect("variants");
        assert_eq!(v.len(), 6);
        assert_eq!(
            (v[0].id.as_str(), v[0].values.clone()),
            ("v001", vec!["5".to_owned(), "30".to_owned()])
        );
        assert_eq!(v[1].values, ["5", "60"], "the last axis varies fastest");
        assert_eq!(v[5].values, ["10", "90"]);
        let random = Grid {
            random: Some((3, 7)),
            ..grid.clone()
        };
        let a = random.variants().expect("random");
        assert_eq!(a.len(), 3);
        assert_eq!(a, random.variants().expect("again"), "seeded");
        assert!(a.windows(2).all(|w| w[0].id < w[1].id), "in variant order");
        for bad in ["fast", "=1", "fast=1,,2"] {
            assert!(Grid::from_args(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(
            Grid::from_args(&["a=1".into(), "a=2".into()]).is_err(),
            "twice"
        );
    }

    #[test]
    fn sweep_file_ranges_and_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sweep.toml");
        std::fs::write(
            &path,
            "strategy = \"s.toml\"\n[grid]\nfast = [5, 10]\nz = { min = \"0.5\", max = 1, step = \"0.25\" }\n[random]\nsamples = 4\nseed = 1\n",
        )
        .expect("write");
        let grid = Grid::from_file(&path).expect("valid");
        assert_eq!(grid.strategy, Some(dir.path().join("s.toml")));
        let z = grid.axes.iter().find(|a| a.name == "z").expect("z");
        assert_eq!(z.values, ["0.50", "0.75", "1.00"]);
        assert_eq!(grid.random, Some((4, 1)));
        std::fs::write(
            &path,
            "[grid]\nfast = { min = 5, max = 1, step = 1 }\nslow = []\n[random]\nsamples = 0\n",
        )
        .expect("write");
        let err = Grid::from_file(&path).expect_err("invalid").to_string();
        for needle in [
            ":2: field 'grid.fast'",
            ":3: field 'grid.slow'",
            "random.samples",
        ] {
            assert!(err.contains(needle), "missing {needle} in {err}");
        }
    }

    #[test]
    fn values_become_toml_of_their_kind() {
        assert_eq!(toml_value("20"), toml::Value::Integer(20));
        assert_eq!(toml_value("0.5"), toml::Value::String("0.5".into()));
        assert_eq!(toml_value("mid"), toml::Value::String("mid".into()));
        assert_eq!(toml_value("true"), toml::Value::Boolean(true));
    }
}
