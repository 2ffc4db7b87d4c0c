#!/usr/bin/env python3
"""Creates (once) the Python environment the Kite tests and demo need, and prints its
interpreter's path.

    python3 scripts/kite_venv.py        # -> /abs/path/.cache/kite-venv/bin/python

The environment lives in the git-ignored `.cache/kite-venv`, built from
`scripts/requirements-kite.txt` (the official `kiteconnect` client and `websockets`). It is
rebuilt when the requirements change (their hash is kept beside it). Exit 1 with pip's
message when PyPI cannot be reached: the tests then skip outside CI and fail in CI.
"""
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import venv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIREMENTS = os.path.join(ROOT, "scripts", "requirements-kite.txt")
VENV = os.path.join(ROOT, ".cache", "kite-venv")
STAMP = os.path.join(VENV, "requirements.sha256")
PYTHON = os.path.join(VENV, "bin", "python")


def ready(want: str) -> bool:
    """Whether the environment exists and was built from these requirements."""
    try:
        with open(STAMP) as f:
            return f.read().strip() == want and os.path.exists(PYTHON)
    except OSError:
        return False


def main() -> int:
    with open(REQUIREMENTS, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    if ready(want):
        print(PYTHON)
        return 0
    os.makedirs(os.path.dirname(VENV), exist_ok=True)
    # Test binaries run at once: one builds, the others wait on the lock, then find it ready.
    # Nobody ever replaces an environment another process may be using mid-run unless its
    # requirements changed.
    with open(f"{VENV}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready(want):
            print(PYTHON)
            return 0
        tmp = f"{VENV}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        venv.create(tmp, with_pip=True)
        done = subprocess.run(
            [os.path.join(tmp, "bin", "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", "-r", REQUIREMENTS],
            capture_output=True, text=True,
        )
        if done.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            sys.stderr.write(f"pip could not install {REQUIREMENTS}:\n{done.stderr}")
            return 1
        with open(os.path.join(tmp, "requirements.sha256"), "w") as f:
            f.write(want)
        shutil.rmtree(VENV, ignore_errors=True)
        os.rename(tmp, VENV)
    print(PYTHON)
    return 0


if __name__ == "__main__":
    sys.exit(main())
