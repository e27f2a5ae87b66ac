#!/bin/sh
# t0005-doctor-and-usage: --help/--version, usage errors (exit 2 with a hint), `tkvm doctor`
# (text and --json), and colours: none when NO_COLOR is set or the output is not a terminal.
# shellcheck disable=SC2016,SC2317 # single quotes go to sh -c; check calls the functions
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=SCRIPTDIR/../lib/tap.sh
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=SCRIPTDIR/common.sh
. "$ROOT/tests/cli/common.sh"

G=$GUESTS/glibc

# Help and version: exit 0, on stdout, nothing on stderr.
check "tkvm --help exits 0" run_is 0 '*' '' --help
check "... usage line" out_has '^usage: tkvm '
check "... lists run" out_has '^  run  '
check "... lists doctor" out_has '^  doctor  '
check "tkvm -h is --help" run_is 0 '*' '' -h
check "... usage line" out_has '^usage: tkvm '
check "tkvm run --help exits 0" run_is 0 '*' '' run --help
check "... usage: tkvm run" out_has '^usage: tkvm run \[options\] PROGRAM \[METHOD\] URL$'
check "... documents --data, -i, --json, --config, --set" \
	sh -c 'for o in -- "--data" "--include" "--json" "--config" "--set" "--max-memory" "--allow" "--strace"; do
		[ "$o" = -- ] && continue; grep -q -e "$o" "$1" || { echo "missing $o"; exit 1; }; done' sh "$TMP/tk.out"
check "... documents the exit status" out_has '^exit status: 0 '
check "tkvm run --help wins over other arguments" run_is 0 '*' '' run "$G/hello" / --help
check "... usage: tkvm run" out_has '^usage: tkvm run '
check "tkvm doctor --help exits 0" run_is 0 '*' '' doctor --help
check "... usage: tkvm doctor" out_has '^usage: tkvm doctor'
check "tkvm --version exits 0" run_is 0 '*' '' --version
check "... prints tkvm and a version number" out_has '^tkvm [0-9]+\.[0-9]+\.[0-9]+'

# Usage errors: exit 2, nothing on stdout, an error and a hint on stderr.
check "tkvm with no arguments: usage on stderr, exit 2" run_is 2 '' '^usage: tkvm ' 
check "tkvm nosuchcommand: exit 2" \
	run_is 2 '' "^error: 'nosuchcommand' is not a tkvm command$" nosuchcommand
check "... with a hint" err_has "^hint: .*tkvm --help"
check "tkvm --nosuchoption: exit 2" run_is 2 '' "nosuchoption" --nosuchoption
check "tkvm run with no arguments (and no project): exit 2" \
	run_is 2 '' '^error: no program given and no tkvm\.json here or in a parent directory$' run
check "... with an example as hint" err_has '^hint: tkvm run \./hello GET /hello'
check "tkvm run PROG (no URL): exit 2" run_is 2 '' 'expected PROGRAM \[METHOD\] URL' run "$G/hello"
check "tkvm run PROG GET / extra: exit 2" run_is 2 '' 'expected PROGRAM \[METHOD\] URL' run "$G/hello" GET / extra
check "tkvm run PROG FETCH /: bad method, exit 2" \
	run_is 2 '' "^error: 'FETCH' is not an HTTP method$" run "$G/hello" FETCH /
check "tkvm run PROG get /: methods are upper case, exit 2" \
	run_is 2 '' "'get' is not an HTTP method" run "$G/hello" get /
check "tkvm run PROG GET hello: URL without a leading slash, exit 2" \
	run_is 2 '' "^error: URL 'hello' must start with '/'$" run "$G/hello" GET hello
check "tkvm run PROG hello: URL without a leading slash, exit 2" \
	run_is 2 '' "'hello'" run "$G/hello" hello
check "tkvm run --bogus: unknown option, exit 2" \
	run_is 2 '' "(unrecognized|unknown) option '--bogus'" run --bogus "$G/hello" /
check "... with a hint to --help" err_has "^hint: .*tkvm run --help"
check "tkvm run -Z: unknown short option, exit 2" run_is 2 '' "option.*Z" run -Z "$G/hello" /
check "tkvm run PROG / --max-memory: missing option value, exit 2" \
	run_is 2 '' "option '--max-memory' needs a value" run "$G/hello" / --max-memory
check "usage errors do not run the program (missing file is not reported)" \
	run_is 2 '' "'FETCH' is not an HTTP method" run "$TMP/nosuch" FETCH /
check "tkvm doctor --bogus: exit 2" run_is 2 '' "'--bogus'" doctor --bogus
check "tkvm doctor extra: exit 2" run_is 2 '' "'extra'" doctor extra

# doctor: this machine has a usable /dev/kvm (or the script would have skipped).
check "tkvm doctor exits 0" run_is 0 '*' '*' doctor
check "... checks /dev/kvm" out_has '/dev/kvm'
check "... mentions the platform" out_has 'platform +(PVM|VMX|SVM)'
check "... says programs can run" out_has 'can run TinyKVM programs'
check "tkvm doctor --json exits 0" run_is 0 '*' '*' doctor --json
check "... parses as JSON" is_json "$TMP/tk.out"
check "... has the platform" json_is "$TMP/tk.out" 'd["platform"] in ("PVM", "VMX", "SVM")'
check "... and kvm: true" json_is "$TMP/tk.out" 'd["kvm"] is True'

# Colours: never in a pipe or file, never with NO_COLOR set.
# plain_output [VAR=VALUE] ARGS...: runs tkvm ARGS (under env VAR=VALUE) with stdout and stderr
# to files; something was printed and neither file holds an ESC byte.
plain_output() {
	case $1 in
	*=*) po_env=$1; shift ;;
	*) po_env=TKVM_CLI_TEST=1 ;;
	esac
	env "$po_env" "$TKVM" "$@" >"$TMP/c.out" 2>"$TMP/c.err"
	if [ ! -s "$TMP/c.out" ] && [ ! -s "$TMP/c.err" ]; then
		echo "tkvm $* printed nothing"; return 1
	fi
	no_escapes "$TMP/c.out" "$TMP/c.err"
}
printf '{\n\t"max_memroy": 64,\n}\n' >"$TMP/bad.json"
printf '{\n\t"max_memroy": 64\n}\n' >"$TMP/typo.json"
for args in "run $G/crash /null" "run $G/crash_recover /null" "run $G/hello FETCH /" "nosuchcommand" \
	"run -c $TMP/bad.json $G/hello /" "run -c $TMP/typo.json $G/hello /" "run --verbose $G/hello /" \
	"run --strace $G/hello /" "run -i $G/hello /" "run $TMP/nosuch /" "doctor" "--help"; do
	# shellcheck disable=SC2086 # word splitting wanted: no spaces in these paths' arguments
	check "tkvm $args: no escape sequences when not a terminal" plain_output $args
	# shellcheck disable=SC2086
	check "tkvm $args: no escape sequences with NO_COLOR=1" plain_output NO_COLOR=1 $args
done

# On a terminal (a pty from script(1)) colours appear, unless NO_COLOR is set.
if command -v script >/dev/null 2>&1 && script -qec true /dev/null </dev/null >/dev/null 2>&1; then
	# on_tty OUTFILE COMMAND: runs the shell COMMAND on a pty, all its output in OUTFILE.
	on_tty() {
		script -qec "$2" /dev/null </dev/null >"$1" 2>&1
	}
	# tty_colour COMMAND: on a pty, COMMAND prints escape sequences.
	tty_colour() {
		on_tty "$TMP/tty.out" "$1"
		grep -q "$ESC" "$TMP/tty.out" && return 0
		echo "no escape sequences on a terminal:"; cat "$TMP/tty.out"; return 1
	}
	# tty_plain COMMAND: on a pty, COMMAND prints something without escape sequences.
	tty_plain() {
		on_tty "$TMP/tty.out" "$1"
		[ -s "$TMP/tty.out" ] || { echo "printed nothing"; return 1; }
		no_escapes "$TMP/tty.out"
	}
	# These two show that the detection works here, so the NO_COLOR checks can fail.
	check "on a terminal: errors are coloured" tty_colour '"$TKVM" run "$GUESTS/glibc/crash" /null'
	check "on a terminal: doctor is coloured" tty_colour '"$TKVM" doctor'
	for cmd in 'run "$GUESTS/glibc/crash" /null' 'run "$GUESTS/glibc/crash_recover" /null' \
		'run "$GUESTS/glibc/hello" FETCH /' 'run -c "$TMP/bad.json" "$GUESTS/glibc/hello" /' \
		'run -c "$TMP/typo.json" "$GUESTS/glibc/hello" /' 'run -v "$GUESTS/glibc/hello" /' \
		'run -i "$GUESTS/glibc/hello" /' 'doctor' 'nosuchcommand'; do
		check "on a terminal with NO_COLOR=1: tkvm $cmd has no escape sequences" \
			tty_plain "NO_COLOR=1 \"\$TKVM\" $cmd"
	done
	# stderr_plain: on a pty with stderr redirected to a file, the error in the file is plain.
	stderr_plain() {
		on_tty "$TMP/tty.out" '"$TKVM" run "$GUESTS/glibc/crash" /null 2>"$TMP/tty.err"'
		grep -q 'NULL pointer dereference' "$TMP/tty.err" || { echo "no error in the file"; return 1; }
		no_escapes "$TMP/tty.err"
	}
	check "on a terminal with stderr to a file: the file has no escape sequences" stderr_plain
else
	echo "skip - script(1) with a pty is not available: colours on a terminal not checked"
fi

exit $tap_failed
