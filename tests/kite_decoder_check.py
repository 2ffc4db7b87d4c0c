"""Decodes Kite ticker frames with Zerodha's official Python client, for tests/kite_decoder.rs.

    python tests/kite_decoder_check.py FRAMES.hex > DECODED.jsonl

Input: one frame per line, hex. Output: one JSON line per frame, the list of tick dicts
`KiteTicker._parse_binary` returns, made JSON-exact: floats as `repr` strings (the test parses
them back to the same binary64), datetimes as integer Unix seconds. Run with TZ=UTC: the
client builds naive local datetimes with `datetime.fromtimestamp`, and only in UTC does
`.timestamp()` give back the wire integer for every second.
"""
import json
import sys
import time
from datetime import datetime

from kiteconnect import KiteTicker


def exact(value):
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, dict):
        return {key: exact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [exact(item) for item in value]
    raise TypeError(f"unexpected {type(value).__name__} in a decoded tick")


def main() -> int:
    time.tzset()
    ticker = KiteTicker("api_key", "access_token")
    with open(sys.argv[1]) as frames:
        for line in frames:
            ticks = ticker._parse_binary(bytes.fromhex(line.strip()))
            print(json.dumps(exact(ticks)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
