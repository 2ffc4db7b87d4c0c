//! Finding and loading the ONNX Runtime shared library, once per process.
//!
//! Order: `ORT_DYLIB_PATH`, then the library `build.rs` fetched into the project's
//! `.cache/onnxruntime/`, then the same cache under the working directory. Runs without ML
//! strategies never get here, so they work on a machine without the library.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The ONNX Runtime release the `ort` bindings and the shipped models are built against.
pub const ORT_VERSION: &str = "1.31.1";

const FIX: &str = "fix: run `python3 scripts/fetch_onnxruntime.py` (downloads the onnxruntime==1.31.1 wheel from PyPI into .cache/onnxruntime/), or set ORT_DYLIB_PATH to a libonnxruntime.so of version 1.31";

static ENVIRONMENT: OnceLock<Result<(ort::environment::Environment, PathBuf), String>> =
    OnceLock::new();

/// Where the library would be loaded from, without loading it.
///
/// # Errors
/// Every place looked at, and how to fix it.
pub fn locate() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "ORT_DYLIB_PATH is set to {}, which is not a file; {FIX}",
                path.display()
            ))
        };
    }
    let file = format!("libonnxruntime.so.{ORT_VERSION}");
    let mut candidates = Vec::new();
    if let Some(built) = option_env!("ALPHA_PANDA_ORT_DYLIB") {
        candidates.push(PathBuf::from(built));
    }
    candidates.push(
        Path::new(".cache/onnxruntime")
            .join(ORT_VERSION)
            .join(&file),
    );
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    Err(format!(
        "ONNX Runtime {ORT_VERSION} not found (ORT_DYLIB_PATH is unset; looked in {}); {FIX}",
        looked.join(", ")
    ))
}

/// The process-wide ONNX Runtime environment and the library it came from, loaded on first
/// use.
///
/// # Errors
/// Why the library could not be found or loaded, with the fix.
pub fn environment() -> Result<&'static (ort::environment::Environment, PathBuf), String> {
    ENVIRONMENT
        .get_or_init(|| {
            let path = locate()?;
            let builder = ort::init_from(&path).map_err(|e| {
                format!(
                    "cannot load ONNX Runtime from {}: {e}; {FIX}",
                    path.display()
                )
            })?;
            let environment = builder
                .with_name("alpha-panda")
                .with_telemetry(false)
                .build()
                .map_err(|e| format!("ONNX Runtime from {}: {e}", path.display()))?;
            Ok((environment, path))
        })
        .as_ref()
        .map_err(Clone::clone)
}
