#!/usr/bin/env bash
# Recovery time for a journal of TICKS ticks (default 10 M): `alpha-panda live` on an
# unpaced, looped replay until its journal holds TICKS ticks, killed with SIGKILL; then
# restarted on the same journal, timed from the process start to the "journal replayed"
# log line (scan and check of every record, then every tick through the engine again).
# Repeats the restart RUNS times (default 3) and prints the median.
#   scripts/bench_recovery.sh [TICKS] [RUNS]        (files under $DIR, default out/bench-recovery)
# CHECKPOINT_EVERY (default 1000000; 0: none) sets `[journal] checkpoint_every`: with
# checkpoints a restart replays only the ticks after the newest one. STRATEGIES (default
# `strategies`) names the strategy files; ML strategies keep no checkpoint yet, so compare
# with the rule strategies alone. See docs/bench/recovery.md.
set -euo pipefail
cd "$(dirname "$0")/.."
TICKS=${1:-10000000}
RUNS=${2:-3}
DIR=${DIR:-out/bench-recovery}
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
path = "$PWD/tests/data/binance_l1_2024-08-08_excerpt.csv"
speed = 0
at_end = "loop"
[metrics]
addr = "127.0.0.1:$PORT"
[logging]
dir = "$DIR/logs"
format = "json"
console = false
[output]
dir = "$DIR/out"
[journal]
fsync = "never"
checkpoint_every = ${CHECKPOINT_EVERY:-1000000}
[venue.paper]
kind = "paper"
[risk.paper]
max_position = "1000000"
max_open_orders = 1000
TOML
BIN=target/release/alpha-panda
echo "writing a journal of $TICKS ticks ..."
$BIN live --config "$DIR/engine.toml" --strategies "${STRATEGIES:-strategies}" > /dev/null 2> "$DIR/write.err" &
PID=$!
python3 - "$PORT" "$TICKS" <<'PY'
import sys, time, urllib.request
port, want = sys.argv[1], int(sys.argv[2])
while True:
    time.sleep(0.5)
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        continue
    for line in text.splitlines():
        if line.startswith("alpha_panda_journal_records_total "):
            if float(line.split()[1]) >= want:
                sys.exit(0)
PY
kill -KILL "$PID"; wait "$PID" 2>/dev/null || true
du -sh "$DIR/out/journal"
$BIN journal verify "$DIR/out/journal" | sed -n 1p
times=()
for run in $(seq 1 "$RUNS"); do
  : > "$DIR/logs/app.log"
  START=$(python3 -c 'import time; print(time.time())')
  $BIN live --config "$DIR/engine.toml" --strategies "${STRATEGIES:-strategies}" > /dev/null 2> "$DIR/restart.err" &
  PID=$!
  T=$(python3 - "$DIR/logs/app.log" "$START" <<'PY'
import json, sys, time
path, start = sys.argv[1], float(sys.argv[2])
deadline = time.time() + 1800
while time.time() < deadline:
    with open(path) as f:
        for line in f:
            if '"journal replayed' in line:
                print(f"{time.time() - start:.2f} {json.loads(line).get('ticks')}")
                sys.exit(0)
    time.sleep(0.05)
sys.exit("no 'journal replayed' line within 30 minutes")
PY
)
  kill -KILL "$PID"; wait "$PID" 2>/dev/null || true
  # Killed right after the replay: the journal keeps what the restart appended; count again.
  echo "restart $run: recovered $(echo "$T" | cut -d' ' -f2) ticks in $(echo "$T" | cut -d' ' -f1) s"
  times+=("$(echo "$T" | cut -d' ' -f1)")
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print "median recovery: " a[int((NR+1)/2)] " s over " NR " restarts"}'
