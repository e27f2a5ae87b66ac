# Shared set-up and assertions for tests/cli/t*.sh (sourced after tests/lib/tap.sh; not a test itself).
# tests/run.sh exports ROOT, TKVM, GUESTS and TMP; run directly (sh tests/cli/t0001-run-basics.sh)
# a script falls back to the repo's build/ and a private scratch directory.
TKVM=${TKVM:-$ROOT/build/tkvm}
GUESTS=${GUESTS:-$ROOT/build/guests}
if [ -z "${TMP:-}" ]; then
	TMP=$(mktemp -d)
	trap 'rm -rf "$TMP"' EXIT
fi
export ROOT TKVM GUESTS TMP
LIBS="glibc musl"
ESC=$(printf '\033')

if [ ! -x "$TKVM" ]; then
	echo "not ok - $TKVM is not built (run: make && make test-programs)"
	exit 1
fi
for cli_lib in $LIBS; do
	if [ ! -x "$GUESTS/$cli_lib/hello" ]; then
		echo "not ok - test programs missing in $GUESTS/$cli_lib (run: make test-programs)"
		exit 1
	fi
done
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "skip - $(basename "$0"): /dev/kvm is not readable and writable here"
	exit 0
fi

# tk ARGS...: runs "$TKVM" ARGS and keeps its stdout, stderr and exit status in
# $TMP/tk.out, $TMP/tk.err and $TMP/tk.rc for the assertions below.
tk() {
	"$TKVM" "$@" >"$TMP/tk.out" 2>"$TMP/tk.err"
	echo $? >"$TMP/tk.rc"
}

# tk_show: the last run, for a failing check's diagnostics.
tk_show() {
	echo "exit status $(cat "$TMP/tk.rc")"
	# awk ends every line, so an unterminated last line cannot swallow the next ok/not ok.
	awk 'NR <= 15 { print "stdout: " substr($0, 1, 300) }' "$TMP/tk.out"
	awk 'NR <= 15 { print "stderr: " substr($0, 1, 300) }' "$TMP/tk.err"
}

# The assertions are commands for check NAME ...; they print why they failed.
# status_is N: the last run exited with status N.
status_is() {
	[ "$(cat "$TMP/tk.rc")" = "$1" ] && return 0
	echo "wanted exit status $1"; tk_show; return 1
}
# same_text FILE EXPECTED: FILE holds exactly EXPECTED (printf %b escapes: \n, \r, \t, \0NNN).
same_text() {
	printf '%b' "$2" >"$TMP/expected"
	cmp -s "$TMP/expected" "$1" && return 0
	echo "$1 differs from the expected text:"
	od -c "$TMP/expected" | head -10 | sed 's/^/want: /'
	od -c "$1" | head -10 | sed 's/^/got:  /'
	return 1
}
out_is() { same_text "$TMP/tk.out" "$1"; }
err_is() { same_text "$TMP/tk.err" "$1"; }
# out_has ERE / err_has ERE: some line of stdout / stderr matches.
out_has() {
	grep -Eq -- "$1" "$TMP/tk.out" && return 0
	echo "stdout does not match /$1/"; tk_show; return 1
}
err_has() {
	grep -Eq -- "$1" "$TMP/tk.err" && return 0
	echo "stderr does not match /$1/"; tk_show; return 1
}
err_lacks() {
	grep -Eq -- "$1" "$TMP/tk.err" || return 0
	echo "stderr matches /$1/"; tk_show; return 1
}

# run_is CODE STDOUT STDERR ARGS...: runs tkvm ARGS; it must exit CODE, print exactly STDOUT
# (printf %b; '*' = anything) and stderr matching the ERE STDERR ('' = nothing on stderr,
# '*' = anything). Use as: check NAME run_is 0 'Hello\n' '' run PROG GET /.
run_is() {
	ri_code=$1 ri_out=$2 ri_err=$3
	shift 3
	tk "$@"
	status_is "$ri_code" || return 1
	if [ "$ri_out" != '*' ]; then
		out_is "$ri_out" || { tk_show; return 1; }
	fi
	case $ri_err in
	'*') ;;
	'') [ -s "$TMP/tk.err" ] && { echo "stderr is not empty"; tk_show; return 1; } ;;
	*) err_has "$ri_err" || return 1 ;;
	esac
	return 0
}

# no_escapes FILE...: none of the files holds an ESC byte (colour or cursor sequences).
no_escapes() {
	for ne_file in "$@"; do
		if grep -q "$ESC" "$ne_file"; then
			echo "$ne_file has escape sequences:"; od -c "$ne_file" | grep -m3 '033'
			return 1
		fi
	done
	return 0
}

# is_json FILE: FILE parses as one JSON document.
is_json() {
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1"
}
# json_is FILE PYEXPR: the JSON in FILE, as d, makes the Python expression true.
json_is() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
if not eval(sys.argv[2]):
    sys.exit("false: %s\nJSON: %s" % (sys.argv[2], json.dumps(d)[:1500]))
' "$1" "$2"
}
