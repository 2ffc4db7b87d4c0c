#!/usr/bin/env bash
# The sweep benchmark: 64 EMA variants (fast 4..32 step 4 × slow 40..180 step 20) of
# benches/strategies/ema_cross_fx.toml over the FX week, with --jobs 1 and --jobs 2. Prints
# the median over RUNS runs of the run phase (ticks loaded once, not counted), the speed-up
# of 2 jobs over 1, and ticks x variants per second. Timing here is noisy: medians.
source "$(dirname "$0")/bench_setup.sh"
for jobs in 1 2; do
  for _ in $(seq "$RUNS"); do
    "$BIN" sweep --data "$TMP/fx.bin" --strategy benches/strategies/ema_cross_fx.toml \
      --grid fast=4,8,12,16,20,24,28,32 --grid slow=40,60,80,100,120,140,160,180 \
      --jobs "$jobs" --out "$TMP/sweep.$jobs" > /dev/null
    cp "$TMP/sweep.$jobs/sweep.json" "$TMP/jobs$jobs.$RANDOM.json"
  done
done
cmp -s "$TMP/sweep.1/sweep.csv" "$TMP/sweep.2/sweep.csv" || { echo "the tables differ between --jobs 1 and 2" >&2; exit 1; }
python3 - "$TMP" <<'PY'
import glob, json, statistics, sys
tmp = sys.argv[1]
median = {}
for jobs in (1, 2):
    runs = [json.load(open(f)) for f in glob.glob(f"{tmp}/jobs{jobs}.*.json")]
    median[jobs] = statistics.median(r["run_seconds"] for r in runs)
    r0 = runs[0]
    rate = r0["ticks"] * r0["variants"] / median[jobs]
    print(f"--jobs {jobs}: {r0['variants']} variants x {r0['ticks']} ticks | run median {median[jobs]:.2f} s "
          f"= {rate/1e6:.1f} M ticks x variants/s | load median "
          f"{statistics.median(r['load_seconds'] for r in runs):.2f} s ({len(runs)} runs)")
print(f"speed-up of 2 jobs over 1: {median[1] / median[2]:.2f}x; tables identical")
PY
