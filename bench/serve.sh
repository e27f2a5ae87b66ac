#!/bin/sh
# tkvm serve under wrk (1 and 16 connections) against two native baselines
# behind the same HTTP stack, measured in the same run: the hello handler
# in a fork()ed child per request, and directly in the server.
# Usage: BUILD=build bench/serve.sh [seconds]
BUILD=${BUILD:-build}
SECONDS_EACH=${1:-5}
set -e
command -v wrk >/dev/null || { echo "bench/serve.sh: wrk is missing (apt-get install wrk)"; exit 1; }
cc -std=gnu11 -O2 -Wall -Wextra -Werror bench/native_server.c -o "$BUILD/native_server" -lmicrohttpd
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.1; done; return 1; }
# wrk's summary as "requests/s p50 p99" (latency in ms)
measure() {
	wrk -t"$([ "$2" -gt 1 ] && echo 2 || echo 1)" -c"$2" -d"${SECONDS_EACH}s" --latency "http://127.0.0.1:$1/hello" |
		awk '/Requests\/sec/ {rps=$2} / 50%/ {p50=$2} / 99%/ {p99=$2}
		     function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
		     END {printf "%.0f %.3f %.3f\n", rps, ms(p50), ms(p99)}'
}
run_server() { # name command... (PORT in the command is replaced)
	name=$1; shift
	p=$(port)
	cmd=""
	for a in "$@"; do cmd="$cmd '$(printf %s "$a" | sed "s/PORT/$p/")'"; done
	eval "set -- $cmd"
	"$@" >/dev/null 2>&1 &   # the server itself, so that kill reaches it
	pid=$!
	wait_up "$p" || { echo "$name did not start"; kill $pid; exit 1; }
	for c in 1 16; do
		set -- $(measure "$p" $c)
		echo "$name $c $1 $2 $3"
	done
	kill $pid; wait $pid 2>/dev/null || true
}
results=$(mktemp)
run_server "tkvm-serve" "$BUILD/tkvm" serve --quiet --set concurrency=2 --listen 127.0.0.1:PORT "$BUILD/guests/musl/hello" >>"$results"
run_server "native-fork" "$BUILD/native_server" PORT fork >>"$results"
run_server "native-direct" "$BUILD/native_server" PORT direct >>"$results"
echo
echo "tkvm serve vs native baselines (hello, wrk ${SECONDS_EACH}s, same HTTP stack: libmicrohttpd)"
printf '%-16s %5s %10s %10s %10s %s\n' server conns req/s p50_ms p99_ms "ratio (req/s) to tkvm"
awk '{rps[$1" "$2]=$3; line[NR]=$0}
     END {for (i=1;i<=NR;i++) {split(line[i],f," "); r=rps["tkvm-serve "f[2]]/f[3];
          printf "%-16s %5s %10s %10s %10s tkvm x%.2f\n", f[1], f[2], f[3], f[4], f[5], r}}' "$results"
rm -f "$results"
