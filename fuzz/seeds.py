#!/usr/bin/env python3
"""Writes the starting corpus of every fuzz target into fuzz/corpus/<target>/ from real inputs,
and the dictionaries the fuzzer mutates with into fuzz/dict/.

Sources: tick CSVs (tests/data, ../shared/data: the first rows of each), the engine's default
config and the examples of docs/, strategy files, model sidecars, Kite ticker packets (the
shared fixtures, plus one frame of every packet length), Kite order JSON (shared fixtures)
request heads a metrics scraper sends, and journal segments (the pinned record bytes and the
checked-in v1 run). Binary tick files are made from the CSV seeds with
`alpha-panda convert` (pass its path as the first argument), so they are real files.

Dictionaries: the syntax tokens of the format (TOML, JSON, CSV, HTTP) and the words of this
engine's own inputs (config keys and choices, sidecar and Kite fields, header names), which a
fuzzer would take long to find byte by byte.

Run once to start a corpus; its output is committed, and `scripts/fuzz.sh` then merges what
each run finds back into it (minimised): later runs build on that, not on these seeds alone.
Usage: fuzz/seeds.py [ALPHA_PANDA_BINARY]
"""

import base64
import json
import pathlib
import re
import struct
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CORPUS = ROOT / "fuzz" / "corpus"
# Seeds stay small: the fuzzer mutates faster and cmin keeps what covers something.
MAX_ROWS = 12


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (folder / name).write_bytes(data)


def tick_csvs():
    """(name, text) of the first rows of every tick CSV beside the code."""
    paths = sorted((ROOT / "tests" / "data").glob("**/*.csv")) + sorted((SHARED / "data").glob("*.csv"))
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.readline()
            if not head.startswith("ts_ns,"):
                continue  # an instruments dump, not ticks
            rows = [f.readline() for _ in range(MAX_ROWS)]
        yield path.stem, head + "".join(rows)


def csv_seeds():
    seeds = dict(tick_csvs())
    header = "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size\n"
    seeds["shapes"] = header + (
        "1700000000000000001,A,1.0,1.2,5,6,1.1,7\n"
        "1700000000000000002,A,,1.2,,6,,\n"
        "1700000000000000002,B,,,,,1.1,\n"
        "1800000000000000000,A,1,2,,,,\n"
        "1700000000000000003,A,1.3,1.2,,,,\r\n\r\n"
        "1700000000000000004,A,1.0,1.123456789,,,,"
    )
    seeds["bom_crlf"] = "\ufeff" + header.replace("\n", "\r\n") + "1700000000000000001,A,1,2,,,,\r\n"
    for name, text in seeds.items():
        write("csv_row", name + ".csv", text)
    return seeds


def binary_seeds(binary, csvs):
    if not binary:
        print("seeds.py: no alpha-panda binary given: binary_ticks gets no seeds", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for name in ["shapes", "binance_l1_2024-08-08_excerpt", "trades_lean_us_equities_2013-10-07_08"]:
            if name not in csvs:
                continue
            src = pathlib.Path(tmp) / (name + ".csv")
            # The converter refuses what the reader refuses: keep the rows it takes.
            src.write_text(csvs[name].replace("1800000000000000000", "1700000000000000002"))
            out = pathlib.Path(tmp) / (name + ".bin")
            done = subprocess.run([binary, "convert", "--data", str(src), "--out", str(out)], capture_output=True)
            if done.returncode == 0:
                write("binary_ticks", name + ".bin", out.read_bytes())
            else:
                print(f"seeds.py: convert {name}: {done.stderr.decode()[-300:]}", file=sys.stderr)


def toml_blocks(markdown):
    return re.findall(r"```toml\n(.*?)```", markdown, re.S)


def engine_seeds():
    write("engine_toml", "default_engine.toml", (ROOT / "src/config/default_engine.toml").read_text())
    for doc in ["docs/ops/README.md", "docs/KITE.md", "README.md"]:
        for i, block in enumerate(toml_blocks((ROOT / doc).read_text())):
            if "[" in block:
                write("engine_toml", f"{pathlib.Path(doc).parent.name or 'root'}_{pathlib.Path(doc).stem}_{i}.toml", block)
    write("engine_toml", "kite_feed.toml", (
        'environment = "production"\n[feed]\nkind = "kite"\nurl = "ws://127.0.0.1:9"\n'
        'api_key_env = "KITE_API_KEY"\naccess_token_env = "KITE_ACCESS_TOKEN"\n'
        'instruments = "instruments.csv"\nmode = "full"\n[venue.kite]\nkind = "kite"\n'
        '[environments.production.runtime]\nmode = "threaded"\n'
    ))


def strategy_seeds():
    paths = sorted((ROOT / "strategies").glob("*.toml")) + sorted((ROOT / "benches/strategies").glob("**/*.toml"))
    for path in paths:
        write("strategy_toml", path.name, path.read_text())
    for i, block in enumerate(toml_blocks((ROOT / "docs/STRATEGY_API.md").read_text())):
        if "kind" in block:
            write("strategy_toml", f"strategy_api_{i}.toml", block)


def sidecar_seeds():
    for path in sorted((ROOT / "models").glob("*.json")) + sorted((ROOT / "tests/data/models").glob("*.json")):
        write("model_sidecar", path.name, path.read_text())


def frame(bodies):
    out = struct.pack(">H", len(bodies))
    for body in bodies:
        out += struct.pack(">H", len(body)) + body
    return out


def kite_frame_seeds():
    fixtures = SHARED / "kite" / "fixtures"
    for path in sorted(fixtures.glob("*.packet")):
        write("kite_frame", path.stem + ".bin", base64.b64decode(path.read_text()))
    # One packet of every length Kite defines, on a few segments (NSE, CDS, indices), with
    # plausible values: token, prices, quantities, times and a 5-level book.
    ts = 1_625_461_887
    ltp = struct.pack(">Ii", 408065, 157315)
    index = struct.pack(">Iiiiiii", 256265, 1500000, 1510000, 1490000, 1495000, 1498000, 5000)
    quote = struct.pack(">IiIiIIIiiii", 408065, 157315, 7, 157033, 1175986, 256511, 360503, 156915, 157500, 156105, 156780)
    depth = b"".join(struct.pack(">IiHH", 10 + i, 157300 - 5 * i, 1 + i, 0) for i in range(5))
    depth += b"".join(struct.pack(">IiHH", 20 + i, 157320 + 5 * i, 2 + i, 0) for i in range(5))
    full = quote + struct.pack(">IIIII", ts, 0, 0, 0, ts) + depth
    cds = struct.pack(">I", 412675) + full[4:]
    write("kite_frame", "heartbeat.bin", b"\x00")
    write("kite_frame", "ltp.bin", frame([ltp]))
    write("kite_frame", "index.bin", frame([index, index + struct.pack(">I", ts)]))
    write("kite_frame", "quote_full.bin", frame([quote, full, cds]))
    write("kite_frame", "repeat_trade.bin", frame([full, full]))
    write("kite_frame", "unknown_length.bin", frame([b"\x00" * 12, ltp]))


def instruments_seeds():
    """Kite instruments dumps: the shared fixtures and the test dump, cut to their first rows."""
    paths = sorted((SHARED / "kite" / "fixtures").glob("instruments*.csv")) + [ROOT / "tests/data/kite/instruments.csv"]
    for path in paths:
        if path.exists():
            lines = path.read_text().splitlines(keepends=True)
            write("kite_instruments", path.parent.name + "_" + path.name, "".join(lines[: MAX_ROWS + 1]))
    write("kite_instruments", "quoted.csv", (
        "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,"
        "instrument_type,segment,exchange\n"
        '408065,1594,INFY,"INFOSYS, LTD",0,,0,0.05,1,EQ,NSE,NSE\n'
        '412675,1612,USDINR26JUNFUT,"USD ""INR""\nFUT",0,2026-06-26,0,0.0025,1,FUT,CDS-FUT,CDS\n'
    ))


def order_seeds():
    fixtures = SHARED / "kite" / "fixtures"
    postback = json.loads((fixtures / "postback.json").read_text())
    write("kite_order_update", "postback.json", json.dumps(postback))
    write("kite_order_update", "order_update.json", json.dumps({"type": "order", "data": postback}))
    for name in ["orders.json", "order_info.json", "order_response.json", "trades.json"]:
        data = json.loads((fixtures / name).read_text()).get("data")
        rows = data if isinstance(data, list) else [data]
        for i, row in enumerate(rows[:4]):
            write("kite_order_update", f"{pathlib.Path(name).stem}_{i}.json", json.dumps({"type": "order", "data": row}))
    write("kite_order_update", "error.json", '{"type":"error","data":"Invalid access token"}')
    write("kite_order_update", "rest_error.json", '{"status":"error","message":"Insufficient funds","error_type":"MarginException"}')


def http_seeds():
    heads = {
        "metrics": "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9464\r\nUser-Agent: Prometheus/2.45.0\r\nAccept: text/plain\r\n\r\n",
        "health_query": "GET /health/ready?verbose=1 HTTP/1.0\r\n\r\n",
        "bare_newlines": "POST /health HTTP/1.1\n\n",
        "curl": "GET /health/detailed HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
        "body_after": "GET /metrics HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody",
    }
    for name, text in heads.items():
        write("http_request", name + ".http", text)


def journal_seeds():
    """Segments from the pinned record bytes (one of each type, renumbered 0, 1, ...), whole,
    torn, zero-filled past the end and header only, and the checked-in v1 run. CRCs are left
    as they fall: the target reseals every input before reading it."""
    records = []
    for line in (ROOT / "tests" / "data" / "journal" / "v1-records.hex").read_text().splitlines():
        if line and not line.startswith("#"):
            records.append(bytearray(bytes.fromhex(line.split()[1])))
    header = b"APJRNL01" + struct.pack("<I", 1) + bytes(4)
    body = bytearray()
    for seq, record in enumerate(records):
        record[8:16] = struct.pack("<Q", seq)
        body += record
    write("journal_records", "every_type", header + body)
    write("journal_records", "torn_tail", header + body[:-3])
    write("journal_records", "zero_tail", header + body + bytes(40))
    write("journal_records", "header_only", header)
    for segment in (ROOT / "tests" / "data" / "journal" / "v1").glob("*.apj"):
        write("journal_records", "v1_run", segment.read_bytes())


def dict_file(name, words):
    """An AFL++ dictionary: one quoted token per line, escaped as afl reads them."""
    folder = ROOT / "fuzz" / "dict"
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, word in enumerate(sorted(set(words))):
        escaped = "".join(
            "\\x%02x" % b if b < 32 or b >= 127 or b in b'"\\' else chr(b) for b in word.encode()
        )
        lines.append(f'w{i}="{escaped}"')
    (folder / name).write_text("\n".join(lines) + "\n")


def dictionaries():
    toml_syntax = ["=", "[", "]", "[[", "]]", '"', "'", "'" * 3, '"' * 3, "{", "}", ",", ".", "#",
                   "true", "false", "-1", "0", "1e3", "1.5", "inf", "nan", "0x1f",
                   "1979-05-27T07:32:00Z", "\\u00e9", "\n"]
    texts = [(ROOT / "src/config/default_engine.toml").read_text(), (ROOT / "docs/ops/README.md").read_text(),
             (ROOT / "docs/KITE.md").read_text()]
    texts += [p.read_text() for p in sorted((ROOT / "src").glob("**/config*.rs"))]
    words = set()
    for text in texts:
        words.update(re.findall(r"^\s*\[?([a-z_][a-z0-9_.]*)\]?\s*=", text, re.M))
        words.update(re.findall(r'"([a-z_][a-z0-9_.]{1,30})"', text))
    dict_file("toml.dict", toml_syntax + [w for w in words if w])
    json_syntax = ["{", "}", "[", "]", ":", ",", '"', "null", "true", "false", "-0", "1e309", "0.5",
                   "\\u0000", '\\"']
    json_words = set()
    for path in sorted((ROOT / "models").glob("*.json")) + sorted((SHARED / "kite/fixtures").glob("*.json")):
        json_words.update(re.findall(r'"([A-Za-z_][A-Za-z0-9_ .:-]{0,40})"', path.read_text()))
    dict_file("json.dict", json_syntax + sorted(json_words))
    dict_file("csv.dict", [",", "\n", "\r\n", ".", "-", "1700000000000000000",
                           "ts_ns,symbol,bid,ask,bid_size,ask_size,last,last_size", ",exchange_ts_ns",
                           "\ufeff", "99999999999999999999", "0.000000001"])
    dict_file("http.dict", ["GET", "POST", "HEAD", " ", "\r\n", "\n", "\r\n\r\n", "HTTP/1.1", "HTTP/1.0",
                            "/metrics", "/health", "/health/ready", "/health/detailed", "?", "Host: ",
                            "Content-Length: ", "\udcff".encode("utf-8", "surrogateescape").decode("latin-1")])


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else None
    csvs = csv_seeds()
    binary_seeds(binary, csvs)
    engine_seeds()
    strategy_seeds()
    sidecar_seeds()
    kite_frame_seeds()
    instruments_seeds()
    order_seeds()
    http_seeds()
    journal_seeds()
    dictionaries()


if __name__ == "__main__":
    main()
