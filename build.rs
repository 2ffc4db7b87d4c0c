//! Provisions the ONNX Runtime shared library that ML strategies load at run time.
//!
//! Runs `scripts/fetch_onnxruntime.py` (pip download of the `onnxruntime==1.31.1` wheel from
//! PyPI, library extracted to `.cache/onnxruntime/`) when the library is not there yet, and
//! bakes its absolute path into the binary as `ALPHA_PANDA_ORT_DYLIB`. A failed fetch is a
//! warning, not a build error: rule-based strategies run without the runtime, and an ML run
//! then fails before trading with the fix in its message.
//!
//! Also looks for Prometheus (`promtool`, `prometheus`) on PATH: without it, and outside CI,
//! it sets `cfg(prometheus_missing)` so the tests that need it are reported as ignored with
//! the reason, instead of passing silently. Under CI (env `CI` set) they always run.

use std::path::PathBuf;
use std::process::Command;

const ORT_VERSION: &str = "1.31.1";

fn main() {
    prometheus_check();
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let script = root.join("scripts/fetch_onnxruntime.py");
    let library = root
        .join(".cache/onnxruntime")
        .join(ORT_VERSION)
        .join(format!("libonnxruntime.so.{ORT_VERSION}"));
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", script.display());
    // A missing file counts as changed, so a failed fetch is retried on the next build.
    println!("cargo:rerun-if-changed={}", library.display());
    println!("cargo:rerun-if-env-changed=ALPHA_PANDA_SKIP_ORT_FETCH");
    println!(
        "cargo:rustc-env=ALPHA_PANDA_ORT_DYLIB={}",
        library.display()
    );

    if library.is_file() || std::env::var_os("ALPHA_PANDA_SKIP_ORT_FETCH").is_some() {
        return;
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    match Command::new(&python).arg(&script).arg("--quiet").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => println!(
            "cargo:warning=could not fetch ONNX Runtime {ORT_VERSION} ({}); ML strategies will not load until `python3 scripts/fetch_onnxruntime.py` succeeds or ORT_DYLIB_PATH is set",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .chain(String::from_utf8_lossy(&out.stdout).lines())
                .last()
                .unwrap_or("no output")
        ),
        Err(e) => println!(
            "cargo:warning=could not run {python} to fetch ONNX Runtime {ORT_VERSION}: {e}; ML strategies need `python3 scripts/fetch_onnxruntime.py` or ORT_DYLIB_PATH"
        ),
    }
}

/// Sets `cfg(prometheus_missing)` when `promtool` or `prometheus` is not on PATH (not in CI).
fn prometheus_check() {
    println!("cargo::rustc-check-cfg=cfg(prometheus_missing)");
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo:rerun-if-env-changed=CI");
    let dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let mut missing = false;
    for tool in ["promtool", "prometheus"] {
        match dirs.iter().map(|d| d.join(tool)).find(|p| p.is_file()) {
            // Rerun if it is removed or replaced.
            Some(found) => println!("cargo:rerun-if-changed={}", found.display()),
            None => missing = true,
        }
    }
    if missing {
        // Debian's package installs into /usr/bin; an install there reruns this check.
        // (Other PATH directories are not watched: installs there would rebuild for nothing.)
        println!("cargo:rerun-if-changed=/usr/bin");
        if std::env::var_os("CI").is_none() {
            println!("cargo:rustc-cfg=prometheus_missing");
        }
    }
}
