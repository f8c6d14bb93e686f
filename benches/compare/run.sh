#!/usr/bin/env bash
# Side-by-side comparison of wflow and Metaflow on the same workloads; writes benches/RESULTS.md.
#
#   benches/compare/run.sh                 # everything: 3 rounds, foreach N = 10, 100, 1000
#   QUICK=1 benches/compare/run.sh         # 1 round, foreach N = 10, 100, resume at N = 100
#
# Settings (environment variables):
#   ROUNDS=3              rounds of A/B runs (QUICK: 1); the table shows medians over them
#   WORKLOADS=linear,foreach,bigdata,branch,resume,scale   which workloads, (a)–(f)
#   FOREACH_NS=10,100,1000                           foreach sizes (QUICK: 10,100)
#   SCALE_NS=10000,100000,1000000   (f) wflow alone at scale: foreach sizes (QUICK: 10000); the run
#                         loop, the time outside it, files and bytes per task, peak memory.
#                         WORKLOADS=scale alone needs no Metaflow (not installed then)
#   RESUME_N=1000         foreach size of the resume workload (QUICK: 100)
#   BIG_MB=100            size of the big artifact, MiB; with bigdata, the same run measures the
#                         disk (a fresh BIG_MB write followed by a read) and reports wflow's
#                         start → consume pace as a share of it, and its peak memory per artifact byte
#   WORKERS=$(nproc)      --max-workers of both systems
#   CRITERION=task,flows  criterion benches to run first and report ("" for none; QUICK: none)
#   TIMEOUT=3600          seconds before one run is killed
#   SKIP_BUILD=1          use the wflow binary and guests already built
#   RESULTS_FILE=...      where to write the report (default benches/RESULTS.md)
#   MACHINE_NOTE=...      a sentence about the machine for the report (e.g. what else ran on it)
#   CARGO_TARGET_DIR      honoured: builds, the venv and raw results go under it (default target/)
#
# A 1,000-task foreach takes Metaflow about 5-8 minutes on a 2-core machine, so the full
# comparison takes an hour or more; Metaflow is left out of (f), where it would take hours to days
# (compare.py measures, reporting.py writes the report, measuring.py times one command).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

METAFLOW_VERSION=2.19.39
# Cargo's target directory (CARGO_TARGET_DIR if set): the release build, guests, venv, results.
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
export WFLOW_TARGET_DIR="$TARGET_DIR"
VENV="$TARGET_DIR/compare/venv"
GUEST_TARGET="$TARGET_DIR/bench-guests"

# The command as given, with the settings that were set, for the report.
settings=""
for v in QUICK ROUNDS WORKLOADS FOREACH_NS SCALE_NS RESUME_N BIG_MB WORKERS CRITERION TIMEOUT SKIP_BUILD; do
    if [[ -n "${!v+x}" ]]; then settings+="$v=${!v} "; fi
done
export COMPARE_COMMAND="${settings}benches/compare/run.sh${*:+ $*}"

quick=0
if [[ -n "${QUICK:-}" && "${QUICK}" != 0 ]]; then quick=1; fi
if [[ -z "${CRITERION+x}" ]]; then
    if [[ $quick == 1 ]]; then CRITERION=""; else CRITERION="task,flows"; fi
fi

say() { printf '\n== %s\n' "$*" >&2; }

if [[ "${WORKLOADS:-}" == "scale" ]]; then
    say "WORKLOADS=scale: wflow alone, Metaflow not needed"
elif say "Metaflow $METAFLOW_VERSION in $VENV"; ! "$VENV/bin/python" -c "import metaflow, sys; sys.exit(metaflow.__version__ != '$METAFLOW_VERSION')" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "metaflow==$METAFLOW_VERSION"
fi

if [[ -z "${SKIP_BUILD:-}" ]]; then
    say "Building wflow (release) and the guests"
    rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
    cargo build --release -p wflow-cli
    CARGO_TARGET_DIR="$GUEST_TARGET" cargo build --release --target wasm32-wasip2 \
        -p compare-linear -p compare-fanout -p example-branch -p example-bigdata
fi

if [[ -n "$CRITERION" ]]; then
    CRITERION_SINCE="$(date +%s)"
    export CRITERION_SINCE CRITERION_BENCHES="$CRITERION"
    IFS=',' read -ra benches <<<"$CRITERION"
    for b in "${benches[@]}"; do
        say "cargo bench -p wflow-benches --bench $b"
        cargo bench -p wflow-benches --bench "$b"
    done
fi

say "Comparing"
WFLOW_BIN="$TARGET_DIR/release/wflow" \
    GUESTS_DIR="$GUEST_TARGET/wasm32-wasip2/release" \
    MF_PYTHON="$VENV/bin/python" \
    exec python3 "$ROOT/benches/compare/compare.py"
