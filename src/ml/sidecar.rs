//! Model sidecars: `models/<name>.json` next to `models/<name>.onnx`, saying what the model
//! is, which features it reads in which order, and how to read its score.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::features::{FEATURE_NAMES, FeatureSchema, FeatureSpec};
use crate::strategy::params::PriceSource;

/// The only sidecar format this engine reads.
pub const SIDECAR_FORMAT: &str = "alpha-panda.model.v1";

/// A validated sidecar.
#[derive(Clone, Debug, PartialEq)]
pub struct Sidecar {
    pub name: String,
    pub version: String,
    pub created: String,
    /// `name version` of the training library.
    pub trainer: String,
    pub schema: FeatureSchema,
    pub input_name: String,
    pub output_name: String,
    /// Values per row of the output tensor; the score is `score_index` among them.
    pub output_width: usize,
    pub score_index: usize,
    pub feature_schema_hash: String,
    pub entry_threshold: f64,
    pub exit_threshold: f64,
}

impl Sidecar {
    /// The sidecar of a model file: same path, `.json` extension.
    pub fn path_for(model: &Path) -> PathBuf {
        model.with_extension("json")
    }

    /// Reads and validates a sidecar, including its feature schema hash against the
    /// engine's own extractor.
    ///
    /// # Errors
    /// Every problem found, each naming the file and field.
    pub fn load(path: &Path) -> Result<Sidecar, Vec<String>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![format!("{}: cannot read sidecar: {e}", path.display())])?;
        Sidecar::parse(path, &text)
    }

    /// Validates sidecar text; `path` names it in errors.
    ///
    /// # Errors
    /// Every problem found, each naming the file and field.
    pub fn parse(path: &Path, text: &str) -> Result<Sidecar, Vec<String>> {
        let root: Value = serde_json::from_str(text).map_err(|e| {
            vec![format!(
                "{}:{}: invalid JSON: {e}",
                path.display(),
                e.line()
            )]
        })?;
        let mut r = Reader {
            path,
            errors: Vec::new(),
        };
        let format = r.string(&root, "format");
        if let Some(format) = &format
            && format != SIDECAR_FORMAT
        {
            r.error(
                "format",
                format!("expected \"{SIDECAR_FORMAT}\", found \"{format}\""),
            );
        }
        let name = r.string(&root, "name");
        let version = r.string(&root, "version");
        let created = r.string(&root, "created");
        let trainer = r.field(&root, "trainer").and_then(|t| {
            let name = r.string(t, "trainer.name")?;
            let version = r.string(t, "trainer.version")?;
            Some(format!("{name} {version}"))
        });
        let price_source = r
            .string(&root, "price_source")
            .and_then(|s| match s.as_str() {
                "mid" => Some(PriceSource::Mid),
                "last" => Some(PriceSource::Last),
                other => {
                    r.error(
                        "price_source",
                        format!("expected \"mid\" or \"last\", found \"{other}\""),
                    );
                    None
                }
            });
        let features = r.features(&root);
        let input = r.tensor(&root, "input");
        let output = r.tensor(&root, "output");
        let score_index = r
            .field(&root, "output")
            .map(|o| match o.get("score_index") {
                None => Some(0),
                Some(v) => r.index(v, "output.score_index"),
            })
            .unwrap_or(None);
        let hash = r.string(&root, "feature_schema_hash");
        let thresholds = r.field(&root, "thresholds");
        let entry = thresholds.and_then(|t| r.probability(t, "thresholds.entry"));
        let exit = thresholds.and_then(|t| r.probability(t, "thresholds.exit"));
        if let (Some(entry), Some(exit)) = (entry, exit)
            && exit >= entry
        {
            r.error(
                "thresholds.exit",
                format!("must be below thresholds.entry ({entry}), found {exit}"),
            );
        }
        let schema = match (price_source, features) {
            (Some(price_source), Some(features)) => Some(FeatureSchema {
                price_source,
                features,
            }),
            _ => None,
        };
        if let (Some(schema), Some((_, width))) = (&schema, &input)
            && *width != schema.len()
        {
            r.error(
                "input.shape",
                format!(
                    "expected [-1, {}] (one column per feature), found [-1, {width}]",
                    schema.len()
                ),
            );
        }
        if let (Some((_, width)), Some(index)) = (&output, score_index)
            && index >= *width
        {
            r.error(
                "output.score_index",
                format!("expected < {width} (output columns), found {index}"),
            );
        }
        if let (Some(schema), Some(hash)) = (&schema, &hash) {
            let ours = schema.hash();
            if *hash != ours {
                r.error(
                    "feature_schema_hash",
                    format!(
                        "{hash} does not match the engine's extractor for these features ({ours}, from \"{}\"): the model was trained on different feature definitions",
                        schema.canonical()
                    ),
                );
            }
        }
        if !r.errors.is_empty() {
            return Err(r.errors);
        }
        match (
            name,
            version,
            created,
            trainer,
            schema,
            input,
            output,
            score_index,
            hash,
            entry,
            exit,
        ) {
            (
                Some(name),
                Some(version),
                Some(created),
                Some(trainer),
                Some(schema),
                Some((input_name, _)),
                Some((output_name, output_width)),
                Some(score_index),
                Some(feature_schema_hash),
                Some(entry_threshold),
                Some(exit_threshold),
            ) => Ok(Sidecar {
                name,
                version,
                created,
                trainer,
                schema,
                input_name,
                output_name,
                output_width,
                score_index,
                feature_schema_hash,
                entry_threshold,
                exit_threshold,
            }),
            _ => Err(vec![format!("{}: incomplete sidecar", path.display())]),
        }
    }
}

/// Collects every problem instead of stopping at the first.
struct Reader<'p> {
    path: &'p Path,
    errors: Vec<String>,
}

impl Reader<'_> {
    fn error(&mut self, field: &str, message: impl std::fmt::Display) {
        self.errors.push(format!(
            "{}: field '{field}': {message}",
            self.path.display()
        ));
    }

    /// `dotted` is the full field name; its last part is the key in `parent`.
    fn field<'v>(&mut self, parent: &'v Value, dotted: &str) -> Option<&'v Value> {
        let key = dotted.rsplit('.').next().unwrap_or(dotted);
        let value = parent.get(key);
        if value.is_none() {
            self.error(dotted, "missing");
        }
        value
    }

    fn string(&mut self, parent: &Value, dotted: &str) -> Option<String> {
        match self.field(parent, dotted)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            other => {
                self.error(
                    dotted,
                    format!("expected a non-empty string, found {other}"),
                );
                None
            }
        }
    }

    fn index(&mut self, value: &Value, dotted: &str) -> Option<usize> {
        match value.as_u64().and_then(|v| usize::try_from(v).ok()) {
            Some(v) => Some(v),
            None => {
                self.error(dotted, format!("expected an integer >= 0, found {value}"));
                None
            }
        }
    }

    fn probability(&mut self, parent: &Value, dotted: &str) -> Option<f64> {
        let value = self.field(parent, dotted)?;
        match value.as_f64() {
            Some(v) if (0.0..=1.0).contains(&v) => Some(v),
            _ => {
                self.error(
                    dotted,
                    format!("expected a number in [0, 1], found {value}"),
                );
                None
            }
        }
    }

    /// `{"name", "dtype": "float32", "shape": [-1, width]}` → `(name, width)`.
    fn tensor(&mut self, root: &Value, key: &str) -> Option<(String, usize)> {
        let tensor = self.field(root, key)?;
        let name = self.string(tensor, &format!("{key}.name"));
        let dtype = self.string(tensor, &format!("{key}.dtype"));
        if let Some(dtype) = &dtype
            && dtype != "float32"
        {
            self.error(
                &format!("{key}.dtype"),
                format!("expected \"float32\", found \"{dtype}\""),
            );
        }
        let shape = self.field(tensor, &format!("{key}.shape"))?;
        let dims: Option<Vec<i64>> = shape
            .as_array()
            .and_then(|a| a.iter().map(Value::as_i64).collect());
        let width = match dims.as_deref() {
            Some(&[batch, width]) if batch == -1 && width >= 1 => Some(width as usize),
            _ => {
                self.error(
                    &format!("{key}.shape"),
                    format!("expected [-1, width] (any batch size, width >= 1), found {shape}"),
                );
                None
            }
        };
        Some((name?, width?)).filter(|_| dtype.is_some())
    }

    fn features(&mut self, root: &Value) -> Option<Vec<FeatureSpec>> {
        let list = self.field(root, "features")?;
        let Some(items) = list.as_array().filter(|a| !a.is_empty()) else {
            self.error("features", "expected a non-empty array");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = format!("features[{i}]");
            let Some(name) = item.get("name").and_then(Value::as_str) else {
                self.error(&format!("{at}.name"), "missing or not a string");
                continue;
            };
            let Some((_, keys)) = FEATURE_NAMES.iter().find(|(n, _)| *n == name) else {
                let known: Vec<&str> = FEATURE_NAMES.iter().map(|(n, _)| *n).collect();
                self.error(
                    &format!("{at}.name"),
                    format!("unknown feature \"{name}\" (known: {})", known.join(", ")),
                );
                continue;
            };
            let empty = serde_json::Map::new();
            let params = match item.get("params") {
                None => &empty,
                Some(Value::Object(map)) => map,
                Some(other) => {
                    self.error(
                        &format!("{at}.params"),
                        format!("expected an object, found {other}"),
                    );
                    continue;
                }
            };
            if let Some(extra) = params.keys().find(|k| !keys.contains(&k.as_str())) {
                self.error(
                    &format!("{at}.params.{extra}"),
                    format!(
                        "unknown parameter of {name} (expected: {})",
                        keys.join(", ")
                    ),
                );
                continue;
            }
            let mut values = Vec::with_capacity(keys.len());
            for key in *keys {
                match params.get(*key).map(|v| (v, v.as_u64())) {
                    Some((_, Some(v))) if v <= u64::from(u32::MAX) => values.push(v as u32),
                    Some((v, _)) => self.error(
                        &format!("{at}.params.{key}"),
                        format!("expected a positive integer, found {v}"),
                    ),
                    None => self.error(&format!("{at}.params.{key}"), "missing"),
                }
            }
            if values.len() != keys.len() {
                continue;
            }
            match FeatureSpec::from_parts(name, &values) {
                Ok(spec) => out.push(spec),
                Err(e) => self.error(&at, e),
            }
        }
        (out.len() == items.len()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Value {
        let schema = FeatureSchema {
            price_source: PriceSource::Mid,
            features: vec![FeatureSpec::Ret { k: 10 }, FeatureSpec::SpreadBps],
        };
        serde_json::json!({
            "format": SIDECAR_FORMAT,
            "name": "m",
            "version": "1.0.0",
            "created": "2026-11-23T00:00:00Z",
            "trainer": {"name": "scikit-learn", "version": "1.7.2"},
            "price_source": "mid",
            "features": [{"name": "ret", "params": {"k": 10}}, {"name": "spread_bps", "params": {}}],
            "input": {"name": "features", "dtype": "float32", "shape": [-1, 2]},
            "output": {"name": "score", "dtype": "float32", "shape": [-1, 1], "score_index": 0},
            "feature_schema_hash": schema.hash(),
            "thresholds": {"entry": 0.6, "exit": 0.5},
        })
    }

    fn parse(value: &Value) -> Result<Sidecar, Vec<String>> {
        Sidecar::parse(Path::new("models/m.json"), &value.to_string())
    }

    #[test]
    fn valid_sidecar() {
        let sidecar = parse(&valid()).unwrap();
        assert_eq!(sidecar.schema.len(), 2);
        assert_eq!(sidecar.trainer, "scikit-learn 1.7.2");
        assert_eq!(
            (sidecar.entry_threshold, sidecar.exit_threshold),
            (0.6, 0.5)
        );
    }

    #[test]
    fn hash_mismatch_is_refused() {
        let mut v = valid();
        v["features"][0]["params"]["k"] = 11.into();
        let errors = parse(&v).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(
            errors[0].starts_with("models/m.json: field 'feature_schema_hash': sha256:"),
            "{errors:#?}"
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let mut v = valid();
        v["format"] = "v0".into();
        v["features"][1]["name"] = "rsi".into();
        v["input"]["shape"] = serde_json::json!([1, 2]);
        v["output"]["score_index"] = 3.into();
        v["thresholds"]["exit"] = 0.7.into();
        v.as_object_mut().unwrap().remove("version");
        let errors = parse(&v).unwrap_err();
        for needle in [
            "field 'format': expected \"alpha-panda.model.v1\"",
            "field 'version': missing",
            "field 'features[1].name': unknown feature \"rsi\"",
            "field 'input.shape': expected [-1, width]",
            "field 'output.score_index': expected < 1",
            "field 'thresholds.exit': must be below",
        ] {
            assert!(
                errors.iter().any(|e| e.contains(needle)),
                "missing {needle:?} in {errors:#?}"
            );
        }
    }

    #[test]
    fn invalid_json_names_the_line() {
        let errors = Sidecar::parse(Path::new("m.json"), "{\n\"name\": }").unwrap_err();
        assert!(
            errors[0].starts_with("m.json:2: invalid JSON"),
            "{errors:#?}"
        );
    }
}
