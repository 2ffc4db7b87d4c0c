# Shared by the benchmark commands (sourced): the FX week, a release build, a temp dir and
# the FX week in binary form. Sets DATA, RUNS, BIN, TMP.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA=${DATA:-../shared/data/quotes_lean_fx_2014-05-01_07.csv}
RUNS=${RUNS:-5}
[ -f "$DATA" ] || { echo "benchmark data not found: $DATA" >&2; exit 2; }
cargo build --release --quiet
BIN=target/release/alpha-panda
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BIN" convert --data "$DATA" --out "$TMP/fx.bin" >/dev/null
