#!/bin/sh
# make bench: builds the benchmark against libtkvm and prints its table.
# Figures measured on our machines are kept in bench/RESULTS.md.
BUILD=${BUILD:-build}
set -e
cc -std=gnu11 -Wall -Wextra -Werror -O2 -g -I. -D_GNU_SOURCE -o "$BUILD/bench_run" bench/bench_run.c "$BUILD/libtkvm.a" -lpthread -lrt
"$BUILD/bench_run" "$BUILD/guests" "$BUILD/tkvm" "${N:-100}"
if [ -x "$BUILD/tkvm" ] && "$BUILD/tkvm" serve --help >/dev/null 2>&1; then
	sh bench/serve.sh "${SERVE_SECONDS:-5}"
fi
