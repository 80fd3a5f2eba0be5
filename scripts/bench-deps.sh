#!/bin/sh
# bench-deps.sh: the reference proxies `make bench` compares syncgate with
# (nginx and haproxy from the distribution). Installs the missing ones with
# apt-get when run as root; otherwise prints the one command to run. Never
# fails: the bench leaves out, and says so, a proxy that is not installed.
set -u
missing=""
for p in nginx haproxy; do
	if ! command -v "$p" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$p" ]; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "bench: installing$missing (apt-get)"
	# RUNLEVEL=1: the packages' scripts must not start system-wide
	# services (nginx on port 80); the bench runs its own instances.
	export DEBIAN_FRONTEND=noninteractive RUNLEVEL=1
	# shellcheck disable=SC2086
	apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 ||
		{ apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends $missing >/dev/null 2>&1; } ||
		echo "bench: could not install$missing; the bench leaves them out"
else
	echo "bench:$missing not installed; to compare with them run: sudo apt-get install -y$missing"
fi
exit 0
