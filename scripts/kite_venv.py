#!/usr/bin/env python3
"""Creates (once) the Python environment the Kite tests and demo need, and prints its
interpreter's path.

    python3 scripts/kite_venv.py        # -> /abs/path/.cache/kite-venv/bin/python

The environment lives in the git-ignored `.cache/kite-venv`, built from
`scripts/requirements-kite.txt` (the official `kiteconnect` client and `websockets`). It is
rebuilt when the requirements change (their hash is kept beside it). Exit 1 with pip's
message when PyPI cannot be reached: the tests then skip outside CI and fail in CI.
"""
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


def main() -> int:
    with open(REQUIREMENTS, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    python = os.path.join(VENV, "bin", "python")
    try:
        with open(STAMP) as f:
            if f.read().strip() == want and os.path.exists(python):
                print(python)
                return 0
    except OSError:
        pass
    # Built beside the final place and moved in, so a concurrent or interrupted build never
    # leaves a half-installed environment behind the stamp.
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
    try:
        os.rename(tmp, VENV)
    except OSError:
        # Another process won the race: use its environment.
        shutil.rmtree(tmp, ignore_errors=True)
    print(python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
