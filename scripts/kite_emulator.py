#!/usr/bin/env python3
"""Zerodha Kite emulator for tests and demos: the ticker WebSocket and the order REST API
on loopback. `--help` documents the command line, the start-up line and the control
endpoints; the package `scripts/kite_emulator/` holds the code, and its docstring says what
is emulated and what is not.

    PY=$(python3 scripts/kite_venv.py)      # a venv with `websockets` (and `kiteconnect`)
    $PY scripts/kite_emulator.py --loop     # prints {"ws": ..., "http": ..., "pid": ...}
"""
import sys

# Python imports the package directory `kite_emulator/` beside this file before this
# module of the same name (a package wins over a module in one directory).
from kite_emulator.app import main

if __name__ == "__main__":
    sys.exit(main())
