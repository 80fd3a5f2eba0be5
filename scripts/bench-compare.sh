#!/bin/sh
# bench-compare.sh BASE [ROUNDS] [BENCH] [PKG]
#
# Builds the test binary of PKG (default ./proxy) at git revision BASE (in a
# temporary worktree, with the working tree's *bench_test.go files copied in,
# so both sides run the same benchmark code) and from the working tree, then
# runs them alternately ROUNDS times (default 3) back to back, so that both
# see the same machine conditions. Extra environment (SYNCGATE_BENCH_FSYNC,
# BENCHTIME) is passed through. Compare the lines with benchstat, or by eye.
set -eu
base=${1:?usage: bench-compare.sh BASE [ROUNDS] [BENCH] [PKG]}
rounds=${2:-3}
bench=${3:-'GatewayGET|ProxiedGET/(connect|origination)'}
pkg=${4:-./proxy}
benchtime=${BENCHTIME:-2s}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git -C "$root" worktree add --detach "$tmp/base" "$base" >/dev/null 2>&1
for f in "$root/$pkg"/*bench_test.go; do cp "$f" "$tmp/base/$pkg/"; done
(cd "$tmp/base" && go test -c -o "$tmp/old.test" "$pkg")
(cd "$root" && go test -c -o "$tmp/new.test" "$pkg")
dir=$root/$pkg
i=1
while [ "$i" -le "$rounds" ]; do
	for side in old new; do
		echo "# round $i: $side ($( [ $side = old ] && echo "$base" || echo working tree))"
		(cd "$dir" && "$tmp/$side.test" -test.run '^$' -test.bench "$bench" -test.benchmem -test.benchtime "$benchtime") | grep -E '^Benchmark' | sed "s/^/$side /"
	done
	i=$((i + 1))
done
