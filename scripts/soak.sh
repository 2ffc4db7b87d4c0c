#!/usr/bin/env bash
# Soak: `alpha-panda live` on an unpaced, looped replay for SECONDS (default 600), its
# /metrics scraped every second. Prints ticks/s (median of the per-second rates), RSS and
# open file descriptors at minute 1 and at the end, every ring's full count, and the error
# lines written; exits 1 when RSS or descriptors grew, or an error line was written.
#   scripts/soak.sh [SECONDS] [DATA_FILE]      (results under $DIR, default out/soak)
# Memory "flat": end RSS within 10% (+8 MiB) of minute 1; descriptors: the fewest held in the
# last minute no more than around minute 1. The feed → strategy ring is full
# by design on an unpaced replay (the feed waits for the strategies: lossless back-pressure);
# the rings after it are the ones that must not fill.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-600}
DATA=${2:-$PWD/tests/data/binance_l1_2024-08-08_excerpt.csv}
DIR=${DIR:-out/soak}
rm -rf "$DIR" && mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
cargo build --release --quiet
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$DIR/engine.toml" <<TOML
environment = "development"

[runtime]
mode = "threaded"

[feed]
kind = "replay"
path = "$DATA"
speed = 0
at_end = "loop"

[metrics]
addr = "127.0.0.1:$PORT"

[logging]
dir = "$DIR/logs"
console = false

[output]
dir = "$DIR/out"

[venue.paper]
kind = "paper"

[risk.paper]
max_position = "1000000"
max_open_orders = 1000
TOML
target/release/alpha-panda live --config "$DIR/engine.toml" --strategies strategies \
  > "$DIR/stdout.txt" 2> "$DIR/stderr.txt" &
PID=$!
trap 'kill -TERM "$PID" 2>/dev/null || true' EXIT
STATUS=0
python3 - "$PID" "$PORT" "$SECONDS_TO_RUN" "$DIR" <<'PY' || STATUS=$?
import json, os, statistics, sys, time, urllib.request

pid, port, duration, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]

def scrape():
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    ticks, full = 0.0, {}
    for line in text.splitlines():
        if line.startswith("alpha_panda_ticks_total{"):
            ticks += float(line.rsplit(" ", 1)[1])
        elif line.startswith("alpha_panda_ring_full_total{"):
            ring = line.split('ring="', 1)[1].split('"', 1)[0]
            full[ring] = float(line.rsplit(" ", 1)[1])
    return ticks, full

def process():
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))

deadline = time.time() + 120
while scrape() is None:
    if time.time() > deadline:
        sys.exit("the engine did not serve /metrics within 120 s")
    time.sleep(0.2)
samples, start = [], time.time()
while time.time() - start < duration:
    time.sleep(1)
    m = scrape()
    if m is None or not os.path.exists(f"/proc/{pid}"):
        sys.exit("the engine stopped during the soak (see stderr.txt)")
    rss, fds = process()
    samples.append({"t": time.time() - start, "ticks": m[0], "ring_full": m[1], "rss": rss, "fds": fds})
with open(f"{out}/samples.json", "w") as f:
    json.dump(samples, f)
rates = [(b["ticks"] - a["ticks"]) / (b["t"] - a["t"]) for a, b in zip(samples, samples[1:])]
at = lambda s: min(samples, key=lambda x: abs(x["t"] - s))
first, last = at(min(60, duration / 10)), samples[-1]
floor = lambda t: min(x["fds"] for x in samples if abs(x["t"] - t) <= 30)
report = {
    "seconds": round(last["t"]),
    "ticks": last["ticks"],
    "ticks_per_second_median": statistics.median(rates),
    "ticks_per_second_p10_p90": [statistics.quantiles(rates, n=10)[0], statistics.quantiles(rates, n=10)[-1]],
    "rss_mib": [round(first["rss"] / 2**20, 1), round(last["rss"] / 2**20, 1)],
    # Descriptors come and go by one or two (a scrape's socket, a journal segment rolling
    # over); a leak raises the floor, so each end is the fewest held within its minute.
    "fds": [floor(first["t"]), floor(last["t"])],
    "ring_full": last["ring_full"],
}
print(json.dumps(report, indent=1))
with open(f"{out}/soak.json", "w") as f:
    json.dump(report, f, indent=1)
grew = last["rss"] > first["rss"] * 1.1 + 8 * 2**20 or report["fds"][1] > report["fds"][0]
sys.exit(1 if grew else 0)
PY
kill -TERM "$PID" && wait "$PID" || true
trap - EXIT
ERRORS=$(cat "$DIR/logs/error.log" 2>/dev/null | wc -l)
echo "error lines: $ERRORS (in $DIR/logs/error.log); results in $DIR"
[ "$STATUS" = 0 ] && [ "$ERRORS" = 0 ]
