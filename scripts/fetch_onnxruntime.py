#!/usr/bin/env python3
"""Fetch the ONNX Runtime shared library the engine loads at run time.

ONNX Runtime 1.31.1 ships its C library inside the PyPI wheel `onnxruntime==1.31.1`
(`onnxruntime/capi/libonnxruntime.so.1.31.1`). This script downloads that wheel with pip
(PyPI only, no other host) and extracts just the library into
`.cache/onnxruntime/1.31.1/` under the project root (ignored by git).

`build.rs` runs it on the first build, so `cargo run` and `cargo test` need no manual step;
run it by hand to repair a deleted or damaged cache. Standard library only.

    python3 scripts/fetch_onnxruntime.py [--dest DIR] [--quiet]

Prints the library's absolute path on success; exits non-zero with the reason otherwise.
"""

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

VERSION = "1.31.1"
LIBRARY = f"libonnxruntime.so.{VERSION}"
MEMBER = f"onnxruntime/capi/{LIBRARY}"
# sha256 of the library in the manylinux x86_64 wheels (identical across CPython tags).
# Other platforms get no pin: the library differs per architecture.
PINNED_SHA256 = {
    ("Linux", "x86_64"): "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
}
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified(path: Path) -> bool:
    pinned = PINNED_SHA256.get((platform.system(), platform.machine()))
    return path.is_file() and (pinned is None or sha256(path) == pinned)


def fetch(dest: Path, quiet: bool) -> Path:
    target = dest / LIBRARY
    if verified(target):
        return target
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ort-wheel-") as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--dest", tmp, f"onnxruntime=={VERSION}",
        ]
        if quiet:
            command.append("--quiet")
        result = subprocess.run(command, capture_output=quiet, text=True)
        if result.returncode != 0:
            detail = (result.stderr or "").strip().splitlines()[-3:] if quiet else []
            raise SystemExit(
                f"pip could not download onnxruntime=={VERSION} from PyPI "
                f"(exit {result.returncode}). {' '.join(detail)}"
            )
        wheels = sorted(Path(tmp).glob("onnxruntime-*.whl"))
        if not wheels:
            raise SystemExit(f"pip reported success but left no onnxruntime wheel in {tmp}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            if MEMBER not in wheel.namelist():
                raise SystemExit(f"{wheels[0].name} holds no {MEMBER}: not a Linux wheel?")
            partial = dest / (LIBRARY + ".partial")
            with wheel.open(MEMBER) as src, partial.open("wb") as out:
                shutil.copyfileobj(src, out)
    if not verified(partial):
        partial.unlink(missing_ok=True)
        raise SystemExit(f"{MEMBER} from the wheel does not match the pinned sha256")
    os.chmod(partial, 0o755)
    # Rename last, so a reader never sees a half-written library.
    partial.replace(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path,
                        default=PROJECT_ROOT / ".cache" / "onnxruntime" / VERSION,
                        help=f"folder for the library (default: .cache/onnxruntime/{VERSION})")
    parser.add_argument("--quiet", action="store_true", help="print only the path")
    args = parser.parse_args()
    print(fetch(args.dest.resolve(), args.quiet))


if __name__ == "__main__":
    main()
