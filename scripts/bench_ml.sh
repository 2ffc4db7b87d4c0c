#!/usr/bin/env bash
# The ML benchmark command: the three shipped ML strategies (benches/strategies/ml_fx/) on the
# four instruments of the FX week (../shared/data/quotes_lean_fx_2014-05-01_07.csv), every tick
# dispatched to all three. Prints the median over RUNS runs of the run-phase ticks/s and ns per
# tick, with batched inference (the backtest default) and with per-tick inference (the live
# path), plus the per-scoring-tick p50/p99 of the per-tick runs.
# The yardstick is the plain EMA backtest (scripts/bench.sh's case) on the same data, run in
# turn with the batched runs (EMA, ML, EMA, ML, ...): the ratio ML/EMA is taken pair by pair
# and its median printed, so machine drift between runs cancels. Timing here is noisy: medians.
source "$(dirname "$0")/bench_setup.sh"
for mode in batched per_tick; do
  sed "s/^ml_inference = .*/ml_inference = \"$mode\"/" src/config/default_engine.toml > "$TMP/$mode.toml"
done
for run in $(seq "$RUNS"); do
  "$BIN" backtest --data "$TMP/fx.bin" --strategies benches/strategies/ema_cross_fx.toml \
    --json > "$TMP/ema.$run.json"
  "$BIN" backtest --data "$TMP/fx.bin" --strategies benches/strategies/ml_fx \
    --config "$TMP/batched.toml" --json > "$TMP/batched.$run.json"
done
for run in $(seq "$RUNS"); do
  "$BIN" backtest --data "$TMP/fx.bin" --strategies benches/strategies/ml_fx \
    --config "$TMP/per_tick.toml" --json > "$TMP/per_tick.$run.json"
done
python3 - "$TMP" "$RUNS" <<'PY'
import json, statistics, sys
tmp, n = sys.argv[1], int(sys.argv[2])
load = lambda kind: [json.load(open(f"{tmp}/{kind}.{i}.json")) for i in range(1, n + 1)]
ema = load("ema")
for mode in ("batched", "per_tick"):
    runs = load(mode)
    tps = statistics.median(r["ticks_per_second"] for r in runs)
    r0 = runs[0]
    rows = sum(m["rows_scored"] for m in r0["models"])
    line = (f"{mode:>8}: {r0['ticks']} ticks, {rows} rows scored, {r0['fills']} fills | run phase median "
            f"{tps/1e6:.2f} M ticks/s = {1e9/tps:.0f} ns/tick ({len(runs)} runs)")
    if mode == "batched":
        ema_tps = statistics.median(r["ticks_per_second"] for r in ema)
        ratio = statistics.median(m["ticks_per_second"] / e["ticks_per_second"] for m, e in zip(runs, ema))
        line += (f"\n          EMA yardstick: median {ema_tps/1e6:.1f} M ticks/s = {1e9/ema_tps:.0f} ns/tick;"
                 f" ML/EMA median of {n} paired ratios {ratio:.3f}")
    if mode == "per_tick":
        for sid, inf in r0["inference"].items():
            p50 = statistics.median(r["inference"][sid]["latency_ns"]["p50"] for r in runs)
            p99 = statistics.median(r["inference"][sid]["latency_ns"]["p99"] for r in runs)
            line += f"\n          {sid}: scoring tick p50 {p50:.0f} ns, p99 {p99:.0f} ns (median of runs)"
    print(line)
PY
