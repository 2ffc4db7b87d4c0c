//! Every input the fuzzer crashed or hung on (`fuzz/regressions/TARGET/`, one file each),
//! replayed through the same entry as the fuzz target (`alpha_panda::fuzzing::TARGETS`:
//! the same preparation, the same parser, the same invariants), in plain `cargo test`: no
//! fuzzer needed. A parser fix that is reverted makes its input panic here again.
//!
//! Also checks the layout the fuzzing needs: every folder under `fuzz/regressions/` and
//! `fuzz/corpus/` names a target, and every target has a binary and a starting corpus.

use std::path::{Path, PathBuf};

use alpha_panda::fuzzing::{TARGETS, target};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir`, sorted by name; none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// The folders of `dir`, by name.
fn folders(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[test]
fn every_crash_the_fuzzer_found_stays_fixed() {
    let root = fuzz_dir().join("regressions");
    let mut replayed = 0;
    for name in folders(&root) {
        let target =
            target(&name).unwrap_or_else(|| panic!("fuzz/regressions/{name}: no such target"));
        for path in files(&root.join(&name)) {
            let mut bytes = std::fs::read(&path).expect("read a regression input");
            (target.prepare)(&mut bytes);
            // Leaked: a few small files, for the length of one test process.
            let input: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            let outcome = std::panic::catch_unwind(|| (target.run)(input));
            assert!(
                outcome.is_ok(),
                "{}: the parser panicked again",
                path.display()
            );
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} fuzz regression inputs");
}

#[test]
fn every_target_has_a_binary_and_a_corpus_and_every_folder_a_target() {
    let fuzz = fuzz_dir();
    for t in TARGETS {
        let binary = fuzz.join("src/bin").join(format!("{}.rs", t.name));
        assert!(binary.is_file(), "{}: no {}", t.name, binary.display());
        let corpus = fuzz.join("corpus").join(t.name);
        assert!(
            !files(&corpus).is_empty(),
            "{}: no seed in {}",
            t.name,
            corpus.display()
        );
    }
    for sub in ["corpus", "regressions"] {
        for name in folders(&fuzz.join(sub)) {
            assert!(target(&name).is_some(), "fuzz/{sub}/{name}: no such target");
        }
    }
    let script =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fuzz.sh"))
            .expect("scripts/fuzz.sh");
    for t in TARGETS {
        assert!(
            script.lines().any(|l| l
                .trim_start()
                .trim_start_matches('"')
                .starts_with(&format!("{} ", t.name))),
            "{}: not in the TARGETS table of scripts/fuzz.sh",
            t.name
        );
    }
}

/// `fuzz/` is its own workspace with its own lock file, built `--locked` by CI: a dependency
/// added to the engine must land in `fuzz/Cargo.lock` too, or the fuzz build fails in CI only.
#[test]
fn the_fuzz_lock_file_matches_the_engine_dependencies() {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--locked", "--format-version", "1"])
        .arg("--manifest-path")
        .arg(fuzz_dir().join("Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "fuzz/Cargo.lock is out of date (run `cargo metadata --manifest-path \
         fuzz/Cargo.toml` and commit it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
