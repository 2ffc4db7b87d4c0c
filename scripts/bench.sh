#!/usr/bin/env bash
# The benchmark command: EMA 10/30 on the four instruments of the FX week
# (../shared/data/quotes_lean_fx_2014-05-01_07.csv). Prints the median of RUNS runs of
# the run-phase ticks/s, CSV load MB/s and binary load MB/s. Timing here is noisy: medians.
source "$(dirname "$0")/bench_setup.sh"
for kind in csv bin; do
  file=$DATA; [ "$kind" = bin ] && file=$TMP/fx.bin
  for _ in $(seq "$RUNS"); do
    "$BIN" backtest --data "$file" --strategies benches/strategies/ema_cross_fx.toml --json > "$TMP/$kind.$RANDOM.json"
  done
done
python3 - "$TMP" "$DATA" "$TMP/fx.bin" <<'PY'
import glob, json, os, statistics, sys
tmp, csv_path, bin_path = sys.argv[1:4]
for kind, path in (("csv", csv_path), ("bin", bin_path)):
    runs = [json.load(open(f)) for f in glob.glob(f"{tmp}/{kind}.*.json")]
    size = os.path.getsize(path)
    tps = statistics.median(r["ticks_per_second"] for r in runs)
    load = statistics.median(r["load_seconds"] for r in runs)
    print(f"{kind}: {runs[0]['ticks']} ticks, {runs[0]['fills']} fills | run phase median {tps/1e6:.1f} M ticks/s "
          f"| load median {load*1000:.0f} ms = {size/load/1e6:.0f} MB/s over {size/1e6:.1f} MB ({len(runs)} runs)")
PY
