#!/usr/bin/env bash
# Live trading against the Kite emulator, in one command:
#   scripts/kite_demo.sh            (Ctrl-C stops the engine and the emulator)
# The emulator (scripts/kite_emulator.py) plays tests/data/kite/ticks.csv in a loop on a
# loopback ticker socket and serves Kite's order API; `alpha-panda live` subscribes to its
# ticker ([feed] kind = "kite") and sends an EMA cross's orders to it ([venue.zerodha]
# kind = "kite", orders = "live"). Results, logs and the recording go to $DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${DIR:-out/kite-demo}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
PY=$(python3 scripts/kite_venv.py)
"$PY" scripts/kite_emulator.py --ws-port 0 --http-port 0 --loop --stamp-now --interval-ms 20 \
  > "$DIR/emulator.json" 2> "$DIR/emulator.log" &
EMULATOR=$!
trap 'kill "$EMULATOR" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  [ -s "$DIR/emulator.json" ] && break
  sleep 0.1
done
read -r WS HTTP < <(python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).readline()); print(d["ws"], d["http"])' "$DIR/emulator.json")
cat > "$DIR/engine.toml" <<TOML
environment = "development"

[feed]
kind = "kite"
url = "$WS"
api_key_env = "KITE_API_KEY"
access_token_env = "KITE_ACCESS_TOKEN"
instruments = "$PWD/tests/data/kite/instruments.csv"
mode = "full"
record = "$DIR/ticks.csv"

[venue.zerodha]
kind = "kite"
root_url = "$HTTP"
api_key_env = "KITE_API_KEY"
access_token_env = "KITE_ACCESS_TOKEN"
product = "MIS"
orders = "live"

[risk.zerodha]
max_position = "100"
max_orders_per_second = 5
price_band_bps = 10000

[logging]
dir = "$DIR/logs"
format = "text"

[output]
dir = "$DIR/out"
TOML
cat > "$DIR/ema_reliance.toml" <<TOML
id = "ema_reliance"
kind = "ema_cross"
instruments = ["NSE:RELIANCE"]
brokers = ["zerodha"]

[params]
fast = 2
slow = 5
quantity = "1"
price_source = "mid"
TOML
echo "emulator: ticker $WS, orders $HTTP; engine config $DIR/engine.toml; Ctrl-C to stop" >&2
# The emulator's own credentials: a real session exports these from `alpha-panda kite session`.
KITE_API_KEY=kite_emulator_key KITE_ACCESS_TOKEN=kite_emulator_token \
  cargo run --release --quiet -- live --config "$DIR/engine.toml" --strategies "$DIR/ema_reliance.toml" || true
echo "results: $DIR/out (summary.json, fills.csv), recording: $DIR/ticks.csv, logs: $DIR/logs" >&2
