#!/bin/sh
# Runs every test the machine supports and prints one summary line,
# "N passed, N failed, N skipped". Unit tests always; integration and CLI
# tests only with a readable and writable /dev/kvm (a loud SKIP otherwise).
# ONLY=unit|integration|cli restricts; TESTS=pattern filters file names.
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
export TKVM="$ROOT/$BUILD/tkvm" GUESTS="$ROOT/$BUILD/guests" ROOT
# Real binaries for the ELF unit tests: every kind the loader must take or refuse.
export TKVM_TEST_STATIC_ELF="$GUESTS/glibc/hello:$GUESTS/musl/hello:$GUESTS/glibc/hello_pie:$GUESTS/glibc/cpp_hello"
[ -x /bin/true ] && export TKVM_TEST_DYNAMIC_ELF=/bin/true
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

have_kvm=1
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	have_kvm=0
	echo "SKIP: /dev/kvm is not readable and writable here: integration and CLI tests are NOT run"
fi

run_one() { # kind name command...
	kind=$1 name=$2; shift 2
	case "$name" in *${TESTS:-}*) ;; *) return ;; esac
	printf '%s %s\n' "$kind" "$name"
	out="$results/$(echo "$name" | tr '/' '_').out"
	tmp=$(mktemp -d)
	TMP=$tmp "$@" >"$out" 2>&1
	rc=$?
	rm -rf "$tmp"
	sed 's/^/    /' "$out" | grep -E '^    (not ok|#|skip)' | head -60
	if [ $rc -ne 0 ] && ! grep -q '^not ok' "$out"; then
		echo "not ok - $name exited with status $rc" >>"$out"
		echo "    not ok - $name exited with status $rc"; tail -5 "$out" | sed 's/^/    # /'
	fi
}

if [ "${ONLY:-unit}" = unit ] || [ -z "${ONLY:-}" ]; then
	for t in "$BUILD"/tests/unit/test_*; do
		[ -x "$t" ] && run_one unit "$(basename "$t")" "$t"
	done
fi
if [ $have_kvm = 1 ]; then
	if [ "${ONLY:-integration}" = integration ] || [ -z "${ONLY:-}" ]; then
		for t in "$BUILD"/tests/integration/test_*; do
			[ -x "$t" ] && run_one integration "$(basename "$t")" "$t"
		done
	fi
	if [ "${ONLY:-cli}" = cli ] || [ -z "${ONLY:-}" ]; then
		for t in tests/cli/t*.sh; do
			[ -f "$t" ] && run_one cli "$(basename "$t")" sh "$t"
		done
	fi
else
	echo "skip - integration tests: no usable /dev/kvm" >"$results/kvm.skip.out"
fi

passed=$(cat "$results"/*.out 2>/dev/null | grep -c '^ok ')
failed=$(cat "$results"/*.out 2>/dev/null | grep -c '^not ok')
skipped=$(cat "$results"/*.out 2>/dev/null | grep -c '^skip')
echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
