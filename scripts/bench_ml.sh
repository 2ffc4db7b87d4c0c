#!/usr/bin/env bash
# The ML benchmark command: the three shipped ML strategies (benches/strategies/ml_fx/) on the
# four instruments of the FX week (../shared/data/quotes_lean_fx_2014-05-01_07.csv), every tick
# dispatched to all three. Prints the median over RUNS runs of the run-phase ticks/s and ns per
# tick, with batched inference (the backtest default) and with per-tick inference (the live
# path), plus the per-scoring-tick p50/p99 of the per-tick runs. Timing here is noisy: medians.
source "$(dirname "$0")/bench_setup.sh"
for mode in batched per_tick; do
  sed "s/^ml_inference = .*/ml_inference = \"$mode\"/" src/config/default_engine.toml > "$TMP/$mode.toml"
  for _ in $(seq "$RUNS"); do
    "$BIN" backtest --data "$TMP/fx.bin" --strategies benches/strategies/ml_fx \
      --config "$TMP/$mode.toml" --json > "$TMP/$mode.$RANDOM.json"
  done
done
python3 - "$TMP" <<'PY'
import glob, json, statistics, sys
tmp = sys.argv[1]
for mode in ("batched", "per_tick"):
    runs = [json.load(open(f)) for f in glob.glob(f"{tmp}/{mode}.*.json")]
    tps = statistics.median(r["ticks_per_second"] for r in runs)
    r0 = runs[0]
    rows = sum(m["rows_scored"] for m in r0["models"])
    line = (f"{mode:>8}: {r0['ticks']} ticks, {rows} rows scored, {r0['fills']} fills | run phase median "
            f"{tps/1e6:.2f} M ticks/s = {1e9/tps:.0f} ns/tick ({len(runs)} runs)")
    if mode == "per_tick":
        for sid, inf in r0["inference"].items():
            p50 = statistics.median(r["inference"][sid]["latency_ns"]["p50"] for r in runs)
            p99 = statistics.median(r["inference"][sid]["latency_ns"]["p99"] for r in runs)
            line += f"\n          {sid}: scoring tick p50 {p50:.0f} ns, p99 {p99:.0f} ns (median of runs)"
    print(line)
PY
