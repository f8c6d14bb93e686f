#!/usr/bin/env bash
# Times `wflow runs` and `wflow show` — whole commands, process start included — on a store of
# 1,000 runs and 1,000,000 task records (made once by examples/gen_store.rs).
#
#   runtime/client/benches/cli.sh [STORE_DIR]
set -euo pipefail
cd "$(dirname "$0")/../../.."
store=${1:-target/bench-stores/cli-runs1000-tasks1000}
cargo build --release -q -p wflow-cli -p wflow-client --example gen_store
if [ ! -e "$store/done" ]; then
    rm -rf "$store"
    target/release/examples/gen_store "$store" 1000 1000
    touch "$store/done"
fi
wflow="target/release/wflow --store $store"
run=$($wflow runs --json -n 1 | sed -n 's/.*"pathspec": "\(.*\)",/\1/p' | head -1)
time_cmd() {
    # best and median of 20 runs, in ms
    local times=()
    for _ in $(seq 20); do
        local t0 t1
        t0=$(date +%s%N)
        "$@" >/dev/null 2>&1
        t1=$(date +%s%N)
        times+=($(( (t1 - t0) / 1000 )))
    done
    IFS=$'\n' sorted=($(sort -n <<<"${times[*]}")); unset IFS
    printf '%-48s best %6.1f ms   median %6.1f ms\n' "$*" "$(echo "${sorted[0]}/1000" | bc -l)" "$(echo "${sorted[10]}/1000" | bc -l)"
}
echo "store: $store ($(du -sh "$store/metadata.sqlite" | cut -f1) of records); newest run: $run"
time_cmd $wflow runs
time_cmd $wflow runs --all
time_cmd $wflow runs --json --all
time_cmd $wflow runs --tag nightly
time_cmd $wflow show "$run"
time_cmd $wflow show --json "$run"
time_cmd $wflow show "$run/square"
time_cmd $wflow show "$run/square/500"
time_cmd $wflow show "$run/sum" --html /tmp/wflow-bench.html
