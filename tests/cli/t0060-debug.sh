#!/bin/sh
# t0060-debug: stock gdb (batch mode) attached to a request inside its request VM, for both C
# libraries: stop at the handler, backtrace, arguments and globals, next/finish, breakpoints,
# stepping through a syscall and over a host call, a crash stopping with SIGSEGV in the faulting
# function, detach (the request runs on) and kill (the request ends with 500).
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/lib/tap.sh"
serve_given_tmp=${TMP:-}
. "$ROOT/tests/cli/common.sh"
. "$ROOT/tests/cli/serve_common.sh"

if ! command -v gdb >/dev/null 2>&1; then
	echo "skip - gdb is not installed (apt-get install gdb)"
	exit 0
fi

# debug_session NAME PROGRAM URL GDB-COMMANDS...: starts `tkvm debug` on a free port, runs gdb
# -batch with the commands against it, waits for tkvm; gdb's output in $TMP/NAME.gdb, tkvm's
# stdout in $TMP/NAME.out, stderr in $TMP/NAME.err, its exit status in $TMP/NAME.status.
debug_session() {
	ds_name=$1 ds_program=$2 ds_url=$3; shift 3
	: >"$TMP/$ds_name.err"
	"$TKVM" debug --port 0 "$ds_program" GET "$ds_url" >"$TMP/$ds_name.out" 2>"$TMP/$ds_name.err" &
	ds_pid=$!
	SERVE_PIDS="$SERVE_PIDS $ds_pid"
	ds_port="" ds_i=0
	while [ -z "$ds_port" ] && [ $ds_i -lt 100 ]; do
		ds_port=$(sed -n 's/.*waiting for gdb on 127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/$ds_name.err")
		[ -z "$ds_port" ] && sleep 0.1
		ds_i=$((ds_i + 1))
	done
	[ -n "$ds_port" ] || { echo "tkvm debug did not start"; cat "$TMP/$ds_name.err"; return 1; }
	echo "target remote 127.0.0.1:$ds_port" >"$TMP/$ds_name.cmds"
	for ds_command in "$@"; do echo "$ds_command" >>"$TMP/$ds_name.cmds"; done
	timeout 60 gdb -batch -nx -x "$TMP/$ds_name.cmds" "$ds_program" >"$TMP/$ds_name.gdb" 2>&1
	wait_exit "$ds_pid" 20 >/dev/null
	echo "$EXIT_STATUS" >"$TMP/$ds_name.status"
}
gdb_has() { grep -Eq -- "$2" "$TMP/$1.gdb" || { echo "gdb output lacks /$2/:"; sed 's/^/  /' "$TMP/$1.gdb" | tail -30; return 1; }; }
tkvm_has() { grep -Eq -- "$3" "$TMP/$1.$2" || { echo "tkvm $2 lacks /$3/:"; sed 's/^/  /' "$TMP/$1.$2" | tail -20; return 1; }; }
status_is() { [ "$(cat "$TMP/$1.status")" = "$2" ] || { echo "exit status $(cat "$TMP/$1.status"), wanted $2"; return 1; }; }

for lib in glibc musl; do
	G=$GUESTS/$lib
	debug_session hello-$lib "$G/hello" /dbg 'info registers rip' 'bt' 'print url' 'next' 'x/s body' 'continue'
	check "$lib: the request stops at the handler, waiting for gdb" tkvm_has hello-$lib err 'GET /dbg stopped at on_get'
	check "$lib: gdb sees the handler, its source line and arguments" gdb_has hello-$lib 'on_get \(url=0x[0-9a-f]+ "/dbg"'
	check "$lib: info registers rip names on_get" gdb_has hello-$lib 'rip +0x[0-9a-f]+ +0x[0-9a-f]+ <on_get'
	check "$lib: print url" gdb_has hello-$lib '\$1 = 0x[0-9a-f]+ "/dbg"'
	check "$lib: next runs snprintf; x/s shows the global it wrote" gdb_has hello-$lib '"Hello from tkvm: /dbg\\n"'
	check "$lib: continue: the request completes (gdb: exited normally)" gdb_has hello-$lib 'exited normally'
	check "$lib: ... and tkvm prints the response" tkvm_has hello-$lib out '^Hello from tkvm: /dbg$'
	check "$lib: ... exit status 0" status_is hello-$lib 0

	debug_session break-$lib "$G/hello" /b 'break snprintf' 'continue' 'bt' 'finish' 'continue'
	check "$lib: a breakpoint in a library function is hit" gdb_has break-$lib 'Breakpoint 1, .*snprintf'
	check "$lib: bt goes through the handler" gdb_has break-$lib '#1 .* on_get \(url='
	check "$lib: finish returns to the handler, on its next line" gdb_has break-$lib 'on_get \(.*hello.c:13'
	check "$lib: ... the request still completes" tkvm_has break-$lib out '^Hello from tkvm: /b$'

	debug_session crash-$lib "$G/crash" /null 'continue' 'bt' 'info registers rip' 'kill'
	check "$lib: a crash stops gdb with SIGSEGV in the faulting function" gdb_has crash-$lib 'SIGSEGV.*\n?.*deref_null|deref_null.*SIGSEGV|Program received signal SIGSEGV'
	check "$lib: ... at deref_null" gdb_has crash-$lib 'deref_null'
	check "$lib: bt from the fault reaches on_get" gdb_has crash-$lib 'on_get'
	check "$lib: kill ends the request: 500 and the cause" tkvm_has crash-$lib err 'NULL pointer dereference'
	check "$lib: ... exit status 1" status_is crash-$lib 1

	debug_session syscall-$lib "$G/syscalls" / 'break write' 'continue' 'stepi 40' 'info registers rip' 'detach'
	check "$lib: break on write and step through its syscall" gdb_has syscall-$lib 'Breakpoint 1, .*write'
	check "$lib: ... stepi keeps stopping after the syscall" gdb_has syscall-$lib 'rip +0x'
	check "$lib: detach: the request runs on to its answer" tkvm_has syscall-$lib out 'uname.sysname=Linux'
	check "$lib: ... exit status 0" status_is syscall-$lib 0

	debug_session step-$lib "$G/hello" /s 'break sys_backend_response' 'continue' 'stepi 10'
	check "$lib: breakpoint on the host-call stub" gdb_has step-$lib 'Breakpoint 1, .*sys_backend_response'
	check "$lib: stepping over the host call ends the request" gdb_has step-$lib 'exited normally'
	check "$lib: ... with its response" tkvm_has step-$lib out '^Hello from tkvm: /s$'
done

# gdb_attach NAME ERRFILE COMMANDS...: waits for "waiting for gdb on 127.0.0.1:PORT" in ERRFILE and
# runs gdb -batch with the commands against that port (output in $TMP/NAME.gdb).
gdb_attach() {
	ga_name=$1 ga_err=$2 ga_program=$3; shift 3
	ga_port="" ga_i=0
	while [ -z "$ga_port" ] && [ $ga_i -lt 150 ]; do
		ga_port=$(sed -n 's/.*waiting for gdb on 127.0.0.1:\([0-9]*\).*/\1/p' "$ga_err" | head -n 1)
		[ -z "$ga_port" ] && sleep 0.1
		ga_i=$((ga_i + 1))
	done
	[ -n "$ga_port" ] || { echo "nobody waited for gdb:"; cat "$ga_err"; return 1; }
	echo "target remote 127.0.0.1:$ga_port" >"$TMP/$ga_name.cmds"
	for ga_command in "$@"; do echo "$ga_command" >>"$TMP/$ga_name.cmds"; done
	timeout 60 gdb -batch -nx -x "$TMP/$ga_name.cmds" "$ga_program" >"$TMP/$ga_name.gdb" 2>&1
}

for lib in glibc musl; do
	D=$GUESTS/$lib/debug_me
	# breakpoint() with allow_debug: tkvm run waits for gdb there; gdb changes a global, continues.
	"$TKVM" run --set allow_debug=true --debug-port 0 "$D" /bp >"$TMP/bp-$lib.out" 2>"$TMP/bp-$lib.err" &
	bp_pid=$!
	SERVE_PIDS="$SERVE_PIDS $bp_pid"
	check "$lib: breakpoint() with allow_debug stops the request for gdb" \
		gdb_attach bp-$lib "$TMP/bp-$lib.err" "$D" 'bt' 'set var counter = 42' 'continue'
	wait_exit "$bp_pid" 20 >/dev/null
	check "$lib: ... gdb sees the call in on_get" gdb_has bp-$lib 'on_get'
	check "$lib: ... and the request answers with what gdb set" tkvm_has bp-$lib out '^after breakpoint 42$'
	check "$lib: breakpoint() without allow_debug is only logged" \
		run_is 0 'after breakpoint 1\n' 'breakpoint\(\) ignored' run "$D" /bp

	# serve --debug-on-crash: a crashing request waits for gdb; after gdb kills it, 500 and the
	# server keeps serving.
	check "$lib: serve --debug-on-crash starts" serve_start dbgsrv-$lib --debug-on-crash --debug-port 0 "$D"
	curl -s -o "$TMP/crash-$lib.body" -w '%{http_code}' "${URL}crash" >"$TMP/crash-$lib.code" &
	curl_pid=$!
	check "$lib: a crashing request waits for gdb, stopped in crash_here" \
		gdb_attach dbgcrash-$lib "$SERVE_ERR" "$D" 'bt' 'info registers rip' 'kill'
	wait "$curl_pid"
	check "$lib: ... gdb saw SIGSEGV in crash_here" gdb_has dbgcrash-$lib 'crash_here'
	check "$lib: ... after gdb, the request answers 500" sh -c "[ \"\$(cat '$TMP/crash-$lib.code')\" = 500 ]"
	check "$lib: ... and the server still answers" sh -c "curl -s '${URL}ok' | grep -qx fine"
	kill "$PID"; wait_exit "$PID" 10 >/dev/null
done

# --break-main: stop before main() in the boot VM; a breakpoint set there is carried into the
# request VM after the park.
for lib in glibc musl; do
	H=$GUESTS/$lib/hello
	"$TKVM" debug --break-main --port 0 "$H" GET /bm >"$TMP/bm-$lib.out" 2>"$TMP/bm-$lib.err" &
	bm_pid=$!
	SERVE_PIDS="$SERVE_PIDS $bm_pid"
	check "$lib: --break-main stops before main() runs" \
		gdb_attach bm-$lib "$TMP/bm-$lib.err" "$H" 'bt' 'break on_get' 'continue' 'print url' 'continue'
	wait_exit "$bm_pid" 20 >/dev/null
	check "$lib: ... at main" tkvm_has bm-$lib err 'booting, before main\) stopped at main'
	check "$lib: ... gdb's first frame is main" gdb_has bm-$lib '#0 +main \('
	check "$lib: ... a breakpoint set during boot is hit in the request" gdb_has bm-$lib 'Breakpoint 1, on_get \(url=0x[0-9a-f]+ "/bm"'
	check "$lib: ... main's own output came first" tkvm_has bm-$lib err 'hello: ready'
	check "$lib: ... and the request answers" tkvm_has bm-$lib out '^Hello from tkvm: /bm$'
done

# gdb vanishing mid-request (a client that sends half a packet and hangs up): the request is
# ended cleanly (500, exit 1) and nothing is left running.
"$TKVM" debug --port 0 "$GUESTS/musl/hello" GET /gone >"$TMP/gone.out" 2>"$TMP/gone.err" &
gone_pid=$!
SERVE_PIDS="$SERVE_PIDS $gone_pid"
gone_port="" i=0
while [ -z "$gone_port" ] && [ $i -lt 100 ]; do
	gone_port=$(sed -n 's/.*waiting for gdb on 127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/gone.err"); [ -z "$gone_port" ] && sleep 0.1; i=$((i + 1))
done
check "a client that hangs up mid-packet" python3 -c "
import socket; s = socket.create_connection(('127.0.0.1', $gone_port)); s.sendall(b'\$qSupp'); s.close()"
wait_exit "$gone_pid" 10 >/dev/null
check "... ends the request cleanly (exit 1)" sh -c "[ '$EXIT_STATUS' = 1 ]"
check "... saying gdb went away" tkvm_has gone err 'gdb went away|ended by the debugger'

# --gdb: tkvm starts gdb itself, attached, with the program's symbols (commands from stdin).
check "--gdb starts gdb attached with symbols; the request completes" sh -c "
	printf 'bt\\ncontinue\\n' | timeout 60 '$TKVM' debug --gdb --port 0 '$GUESTS/glibc/hello' GET /g >'$TMP/g.out' 2>&1 &&
	grep -q 'on_get (url=0x[0-9a-f]* \"/g\"' '$TMP/g.out' && grep -q 'exited normally' '$TMP/g.out' && grep -q '^Hello from tkvm: /g\$\|Hello from tkvm: /g' '$TMP/g.out'"

check "the debug port is on loopback only by default" sh -c "'$TKVM' debug --help | grep -q 'loopback only'"
check "--port with a bad value is a usage error" expect_fail "bad port" 2 'port number' "$TKVM" debug --port abc "$GUESTS/glibc/hello" /
exit $tap_failed
