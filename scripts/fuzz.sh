#!/usr/bin/env bash
# scripts/fuzz.sh [TARGET|all] [SECONDS]: coverage-guided fuzzing of the parsers of outside
# input (targets in fuzz/, entries in src/fuzzing.rs) with cargo-afl and its own AFL++.
#
# For each target: builds (once), fuzzes SECONDS (default 60; with FUZZ_EXECS=N, until N
# executions if that comes first) on one core starting from
# fuzz/corpus/TARGET/, prints executions, crashes, hangs and corpus size, and merges what the
# run found back into fuzz/corpus/TARGET/ minimised by afl-cmin (FUZZ_MERGE=0 skips that, as
# CI does). Exits 1 when any target crashed or hung (reproduced outside afl); the inputs are
# kept under .cache/fuzz/findings/TARGET/ (a fix adds each to fuzz/regressions/TARGET/).
# FUZZ_OUT moves .cache/fuzz (afl's output, logs, findings), e.g. for two runs at once.
#
# Installs what it needs into git-ignored caches, never elsewhere: cargo-afl (crates.io) into
# .cache/cargo-afl, and AFL++ built from the sources cargo-afl ships into .cache/afl-data
# (it needs make and a C compiler). Builds into $CARGO_TARGET_DIR/afl (default target/afl).
# Debian's afl++ package is not used: the runtime linked into the targets and afl-fuzz must
# come from the same AFL++ build.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

# The targets: one binary each (fuzz/src/bin/NAME.rs, entry in alpha_panda::fuzzing::TARGETS),
# the AFL++ dictionary it mutates with (fuzz/dict/, - for none) and the longest input afl may
# make, bytes. The caps keep execution rates up: a row or a config key does not need a
# 90 KB input to go wrong (csv_row ran at ~1.5 k/s on such inputs against ~7 k/s on small
# ones), while binary files get room for blocks of records.
TARGETS=(
  "csv_row            csv.dict   8192"
  "binary_ticks       -          65536"
  "engine_toml        toml.dict  16384"
  "strategy_toml      toml.dict  8192"
  "model_sidecar      json.dict  16384"
  "kite_frame         -          4096"
  "kite_instruments   csv.dict   16384"
  "kite_order_update  json.dict  16384"
  "http_request       http.dict  16384"
  "journal_records    -          65536"
)
CARGO_AFL_VERSION=0.18.2 # = the `afl` crate in fuzz/Cargo.lock: runtime and fuzzer must match

WHICH="${1:-all}"
SECONDS_EACH="${2:-60}"
case "$SECONDS_EACH" in '' | *[!0-9]*)
  echo "usage: scripts/fuzz.sh [TARGET|all] [SECONDS]" >&2
  exit 2
  ;;
esac
CACHE="$ROOT/.cache"
OUT="${FUZZ_OUT:-$CACHE/fuzz}" # afl output, logs, findings
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/afl"
BIN="$TARGET_DIR/release"
# cargo-afl keeps AFL++ under $XDG_DATA_HOME/afl.rs: inside the checkout's cache, not $HOME.
export XDG_DATA_HOME="$CACHE/afl-data"
export PATH="$CACHE/cargo-afl/bin:$PATH"

names=()
for row in "${TARGETS[@]}"; do
  read -r name _ <<<"$row"
  names+=("$name")
done
if [ "$WHICH" = all ]; then
  selected=("${names[@]}")
elif [[ " ${names[*]} " == *" $WHICH "* ]]; then
  selected=("$WHICH")
else
  echo "scripts/fuzz.sh: unknown target '$WHICH' (targets: ${names[*]} all)" >&2
  exit 2
fi

install() {
  # AFL++ is built from source: make and a C compiler (Debian's, when missing).
  if ! command -v make >/dev/null || ! command -v cc >/dev/null; then
    local sudo=""
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then sudo="sudo"; fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends make gcc libc6-dev >/dev/null ||
      { $sudo apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends make gcc libc6-dev >/dev/null; }
  fi
  if ! cargo-afl afl --version 2>/dev/null | grep -q "$CARGO_AFL_VERSION"; then
    echo "== installing cargo-afl $CARGO_AFL_VERSION into .cache/cargo-afl"
    cargo install --quiet --root "$CACHE/cargo-afl" cargo-afl --version "$CARGO_AFL_VERSION" --locked
  fi
  if ! compgen -G "$XDG_DATA_HOME/afl.rs/rustc-*/afl.rs-$CARGO_AFL_VERSION/afl/bin/afl-fuzz" >/dev/null; then
    echo "== building AFL++ into .cache/afl-data"
    cargo afl config --build
  fi
}

build() {
  echo "== building the fuzz targets (cargo afl build --release)"
  # The ONNX Runtime download of build.rs is for ML runs; the parsers never load it.
  ALPHA_PANDA_SKIP_ORT_FETCH=1 CARGO_TARGET_DIR="$TARGET_DIR" \
    cargo afl build --quiet --release --locked --manifest-path fuzz/Cargo.toml
}

# Prints the value of KEY in an afl fuzzer_stats file.
stat() { sed -n "s/^$2 *: *//p" "$1" | head -n 1; }

# Runs one input through a target outside afl (stdin mode); true when it ends normally
# within 10 s.
replays_clean() { timeout 10 "$BIN/$1" <"$2" >/dev/null 2>&1; }

# afl-cmin over the committed corpus and the run's queue, into fuzz/corpus/TARGET.
merge() {
  local target="$1" queue="$2" all="$OUT/$1/merge-in" min="$OUT/$1/merge-out"
  rm -rf "$all" "$min"
  mkdir -p "$all"
  cp "fuzz/corpus/$target"/* "$all"/ 2>/dev/null || true
  find "$queue" -maxdepth 1 -type f -name 'id:*' -exec cp {} "$all"/ \;
  # Names from the content: the same input found twice is one file, and reruns are stable.
  (cd "$all" && for f in *; do mv -n "$f" "$(sha1sum "$f" | cut -c1-16)" 2>/dev/null || true; done)
  # The shell afl-cmin: the Python one of this AFL++ finds no coverage in persistent targets.
  # -e: edges only, not hit counts, which keeps a few hundred files instead of thousands.
  if AFL_NO_UI=1 "$AFL_BIN/afl-cmin.bash" -e -i "$all" -o "$min" -- "$BIN/$target" >"$OUT/$target/cmin.log" 2>&1 &&
    [ -n "$(ls -A "$min")" ]; then
    rm -rf "fuzz/corpus/$target"
    mkdir -p "fuzz/corpus/$target"
    cp "$min"/* "fuzz/corpus/$target"/
  else
    echo "   (cmin failed, corpus left as it was: $OUT/$target/cmin.log)"
  fi
}

# One target: fuzz, report, keep findings, merge.
fuzz_one() {
  local target="$1" dict="$2" max_len="$3" out="$OUT/$1"
  rm -rf "$out/afl"
  mkdir -p "$out"
  local dict_args=()
  if [ "$dict" != - ]; then dict_args=(-x "fuzz/dict/$dict"); fi
  local execs_args=()
  if [ -n "${FUZZ_EXECS:-}" ]; then execs_args=(-E "$FUZZ_EXECS"); fi
  echo "== $target: ${SECONDS_EACH}s"
  # AFL_NO_AFFINITY: the machine is shared, no core is reserved for us. The rest: no UI
  # (a log), no CPU-governor or core-pattern checks (containers), calibrate fast, seeds that
  # time out once under load are not fatal.
  local status=0
  AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 \
    AFL_FAST_CAL=1 AFL_IGNORE_SEED_PROBLEMS=1 AFL_CMPLOG_ONLY_NEW=1 \
    cargo afl fuzz -i "fuzz/corpus/$target" -o "$out/afl" -V "$SECONDS_EACH" -G "$max_len" "${execs_args[@]}" "${dict_args[@]}" \
    -- "$BIN/$target" >"$out/afl.log" 2>&1 || status=$?
  local stats="$out/afl/default/fuzzer_stats"
  if [ ! -f "$stats" ]; then
    echo "   afl-fuzz did not start (exit $status); the end of $out/afl.log:" >&2
    tail -n 25 "$out/afl.log" >&2
    return 1
  fi
  local execs crashes hangs run_time corpus
  execs="$(stat "$stats" execs_done)"
  crashes="$(stat "$stats" saved_crashes)"
  hangs="$(stat "$stats" saved_hangs)"
  run_time="$(stat "$stats" run_time)"
  corpus="$(stat "$stats" corpus_count)"
  local findings="$OUT/findings/$target" failed=0
  rm -rf "$findings"
  for kind in crashes hangs; do
    for f in "$out/afl/default/$kind"/id:*; do
      [ -e "$f" ] || continue
      mkdir -p "$findings"
      cp "$f" "$findings/$kind-$(sha1sum "$f" | cut -c1-16)"
      # A hang under a loaded machine may be the machine: it counts when it reproduces.
      if [ "$kind" = crashes ] || ! replays_clean "$target" "$f"; then failed=1; fi
    done
  done
  printf '   %s: %s execs in %s s (%s/s), crashes %s, hangs %s, queue %s\n' \
    "$target" "$execs" "$run_time" "$((execs / (run_time > 0 ? run_time : 1)))" \
    "$crashes" "$hangs" "$corpus"
  echo "$target execs=$execs seconds=$run_time crashes=$crashes hangs=$hangs queue=$corpus" >>"$OUT/summary.txt"
  if [ "$failed" = 1 ]; then
    echo "   FAILED: inputs in $findings (replay: $BIN/$target < FILE)" >&2
  fi
  if [ "${FUZZ_MERGE:-1}" != 0 ]; then
    merge "$target" "$out/afl/default/queue"
    echo "   corpus: $(find "fuzz/corpus/$target" -type f | wc -l) files in fuzz/corpus/$target"
  fi
  return "$failed"
}

install
# afl-cmin runs afl-showmap by name: it must be this AFL++'s, not another on PATH.
AFL_BIN="$(dirname "$(compgen -G "$XDG_DATA_HOME/afl.rs/rustc-*/afl.rs-$CARGO_AFL_VERSION/afl/bin/afl-fuzz" | head -n 1)")"
export PATH="$AFL_BIN:$PATH" AFL_PATH="$AFL_BIN"
build
mkdir -p "$OUT"
: >"$OUT/summary.txt"
failed=()
for row in "${TARGETS[@]}"; do
  read -r name dict max_len <<<"$row"
  [[ " ${selected[*]} " == *" $name "* ]] || continue
  fuzz_one "$name" "$dict" "$max_len" || failed+=("$name")
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "scripts/fuzz.sh: crashes or hangs in: ${failed[*]}" >&2
  exit 1
fi
echo "scripts/fuzz.sh: no crash in ${selected[*]}"
