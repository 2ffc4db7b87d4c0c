//! ML strategies on ONNX Runtime: feature extractors (per tick in `features`, a chunk at
//! a time in `batch`, same values), model sidecars, sessions, and the strategy that joins
//! them. See `docs/ml/` for the feature contract and the model format.

pub mod batch;
pub mod features;
pub mod model;
pub mod runtime;
pub mod schema;
pub mod sidecar;
pub mod strategy;

use std::path::{Path, PathBuf};

pub use batch::BatchExtractor;
pub use features::{FeatureExtractor, FeatureSchema, FeatureSpec};
pub use model::Model;
pub use sidecar::Sidecar;
pub use strategy::{InferenceMode, MlStats, MlStrategy};

use crate::clock::Stopwatch;

/// Resolves a strategy file's `model` path: as given if absolute, else against the strategy
/// file's folder, then its parent (the project root when strategy files live in
/// `strategies/`), then the working directory. `models/x.onnx` and `./models/x.onnx` are the
/// same path.
///
/// # Errors
/// Every place looked at.
pub fn resolve_model_path(strategy_file: &Path, model: &str) -> Result<PathBuf, String> {
    let written = Path::new(model);
    if written.is_absolute() {
        return if written.is_file() {
            Ok(written.to_owned())
        } else {
            Err(format!("model file {} not found", written.display()))
        };
    }
    let relative: PathBuf = written
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    let folder = strategy_file.parent().unwrap_or(Path::new(""));
    let mut candidates = vec![folder.join(&relative)];
    if let Some(root) = folder.parent() {
        candidates.push(root.join(&relative));
    }
    candidates.push(relative.clone());
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let mut looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    looked.dedup();
    Err(format!(
        "model file '{model}' not found (looked at {})",
        looked.join(", ")
    ))
}

/// Outcome of loading one ML strategy's model: what preflight and the run summary report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ModelCheck {
    pub strategy: String,
    pub strategy_file: PathBuf,
    /// The `model` path as written in the strategy file.
    pub model: String,
    pub resolved: Option<PathBuf>,
    pub ok: bool,
    pub problems: Vec<String>,
    pub load_ms: f64,
    pub name: Option<String>,
    pub version: Option<String>,
    pub feature_schema_hash: Option<String>,
}

/// Resolves and loads the model of one strategy, timing it.
pub fn load_model(
    strategy: &str,
    strategy_file: &Path,
    model: &str,
) -> (Option<Model>, ModelCheck) {
    let watch = Stopwatch::start();
    let mut check = ModelCheck {
        strategy: strategy.to_owned(),
        strategy_file: strategy_file.to_owned(),
        model: model.to_owned(),
        resolved: None,
        ok: false,
        problems: Vec::new(),
        load_ms: 0.0,
        name: None,
        version: None,
        feature_schema_hash: None,
    };
    let loaded = match resolve_model_path(strategy_file, model) {
        Ok(path) => {
            check.resolved = Some(path.clone());
            match Model::load(&path) {
                Ok(model) => Some(model),
                Err(problems) => {
                    check.problems = problems;
                    None
                }
            }
        }
        Err(problem) => {
            check.problems.push(problem);
            None
        }
    };
    check.load_ms = watch.elapsed().as_secs_f64() * 1e3;
    if let Some(model) = &loaded {
        check.ok = true;
        check.name = Some(model.sidecar.name.clone());
        check.version = Some(model.sidecar.version.clone());
        check.feature_schema_hash = Some(model.sidecar.feature_schema_hash.clone());
    }
    (loaded, check)
}
