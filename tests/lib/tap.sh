# Shell side of the TAP harness, sourced by tests/cli/*.sh.
# check NAME COMMAND...  runs the command and prints ok / not ok.
# Variables: TKVM (the binary), GUESTS (built test programs), TMP (scratch).
tap_failed=0
check() {
	name=$1; shift
	if "$@" >"$TMP/last.out" 2>"$TMP/last.err"; then
		echo "ok - $name"
	else
		echo "not ok - $name"; tap_failed=1
		sed 's/^/#   out: /' "$TMP/last.out" | head -20
		sed 's/^/#   err: /' "$TMP/last.err" | head -20
	fi
}
# expect_fail NAME EXIT_CODE PATTERN COMMAND...: must exit with EXIT_CODE and
# print PATTERN (grep -E) on stdout or stderr.
expect_fail() {
	name=$1; code=$2; pattern=$3; shift 3
	"$@" >"$TMP/last.out" 2>"$TMP/last.err"; rc=$?
	if [ "$rc" = "$code" ] && cat "$TMP/last.out" "$TMP/last.err" | grep -Eq -- "$pattern"; then
		echo "ok - $name"
	else
		echo "not ok - $name (exit $rc, wanted $code and /$pattern/)"; tap_failed=1
		sed 's/^/#   out: /' "$TMP/last.out" | head -20
		sed 's/^/#   err: /' "$TMP/last.err" | head -20
	fi
}
