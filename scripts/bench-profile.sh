#!/bin/sh
# bench-profile.sh [SECONDS] [SYSTEM]
#
# A CPU profile of the `syncgate serve` process under the bench's
# closed-loop load: runs `bin/syncgate demo --bench` for SYSTEM alone
# (syncgate, the plain listener, by default; or syncgate-intercept), waits
# until the gateway has answered a few thousand requests, records SECONDS
# (default 15) of the gateway process with perf (cpu-clock, call graphs
# through Go's frame pointers), and prints where its CPU goes: kernel vs
# each binary, then the top symbols. Needs perf (apt-get install -y
# linux-perf) and the permission to trace the process (root, or
# kernel.perf_event_paranoid ≤ 1). Run `make build` first.
set -eu
secs=${1:-15}
system=${2:-syncgate}
root=$(git rev-parse --show-toplevel 2>/dev/null || pwd)
bin=$root/bin/syncgate
dir=$root/demo-out/profile
out=${PERF_DATA:-$dir.perf.data}
command -v perf >/dev/null 2>&1 || { echo "perf is not installed (apt-get install -y linux-perf)"; exit 1; }
[ -x "$bin" ] || { echo "$bin is missing: run make build"; exit 1; }
SYNCGATE_BENCH_SYSTEMS=$system SYNCGATE_BENCH_ROUNDS=1 "$bin" demo --bench --bench-duration "$((secs + 10))s" --dir "$dir" >"$dir.bench.txt" 2>&1 &
bench=$!
# On any exit (a closed pipe included) the bench stops, and with it the gateway.
trap 'kill "$bench" 2>/dev/null || true' EXIT
trap 'exit 1' INT TERM HUP PIPE
# The gateway is the bench's child running serve with the batch config.
pid=""
i=0
while [ -z "$pid" ] && [ "$i" -lt 150 ]; do
	pid=$(pgrep -P "$bench" -f "serve --config $dir/bench-batch.yaml" || true)
	i=$((i + 1))
	sleep 0.2
done
[ -n "$pid" ] || { echo "the gateway did not start (see $dir.bench.txt)"; exit 1; }
# Past the warm-up: a few thousand audit records.
i=0
while [ "$(wc -l <"$dir/audit-bench-batch.jsonl" 2>/dev/null || echo 0)" -lt 3000 ] && [ "$i" -lt 300 ]; do
	i=$((i + 1))
	sleep 0.2
done
a=$(wc -l <"$dir/audit-bench-batch.jsonl")
perf record -q -F 999 -g -p "$pid" -o "$out" -- sleep "$secs"
b=$(wc -l <"$dir/audit-bench-batch.jsonl")
echo "# $system: $((b - a)) requests during the $secs s profile of pid $pid ($out)"
echo "# where the CPU goes, by binary (kernel vs syncgate):"
perf report -i "$out" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -6
echo "# top symbols (self time):"
perf report -i "$out" --no-children --sort sym --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40
echo "# call graphs: perf report -i $out --no-children"
# The rest of the bench is not needed: SIGTERM makes it stop its gateway.
kill "$bench" 2>/dev/null || true
wait "$bench" 2>/dev/null || true
trap - EXIT
