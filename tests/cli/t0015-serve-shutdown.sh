#!/bin/sh
# t0015-serve-shutdown: SIGTERM/SIGINT stop the server cleanly: no new connections, running
# requests finish and get their answer, idle keep-alive connections are closed, exit status 0
# within a few seconds and no process left; a second signal exits at once (status 1); a signal
# while the programs boot exits at once too.
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/lib/tap.sh"
serve_given_tmp=${TMP:-}
. "$ROOT/tests/cli/common.sh"
. "$ROOT/tests/cli/serve_common.sh"

G=$GUESTS/glibc

# Under load: a loop of curls (at most 300, each at most 5 s) while SIGTERM arrives.
serve_start load --concurrency 2 "$G/hello" || exit 1
rm -f "$TMP/stop-load"
(
	i=0
	while [ ! -f "$TMP/stop-load" ] && [ $i -lt 300 ]; do
		curl -s --max-time 5 -o /dev/null -o /dev/null -w '%{http_code}\n' "${URL}load$i" "${URL}again$i" >>"$TMP/load.codes" 2>/dev/null
		i=$((i + 1))
	done
) &
LOAD=$!
check "under load: requests are answered" eventually 10 '^200$' "$TMP/load.codes"
sleep 0.5
kill -TERM "$PID"
check "SIGTERM under load: the server exits within 10 s" wait_exit "$PID" 10
check "... with status 0" test "$EXIT_STATUS" = 0
check "... and is gone" sh -c '! kill -0 "$1" 2>/dev/null' sh "$PID"
check "... it said so" grep -q '^tkvm: SIGTERM: stopping (' "$SERVE_OUT"
check "... and stopped" grep -qx 'tkvm: stopped' "$SERVE_OUT"
touch "$TMP/stop-load"
check "the curl loop ends" wait_exit "$LOAD" 15
check "... every answer was a 200 (or no connection at all)" sh -c '! grep -Ev "^(200|000)$" "$1"' sh "$TMP/load.codes"
check "the port is closed" sh -c '! curl -s --max-time 2 -o /dev/null "$1"' sh "$URL"

# A request in flight finishes and gets its answer.
serve_start inflight --max-request-time 2 "$G/request_loop" || exit 1
hc -o "$TMP/slow.body" -w '%{http_code}' "${URL}slow" >"$TMP/slow.status" 2>"$TMP/slow.err" &
SLOW=$!
sleep 0.7
kill -TERM "$PID"
check "SIGTERM with a request in flight: exits within 10 s" wait_exit "$PID" 10
check "... with status 0" test "$EXIT_STATUS" = 0
check "... said one request was in flight" grep -q '^tkvm: SIGTERM: stopping (1 request in flight' "$SERVE_OUT"
wait_exit "$SLOW" 10
check "... the request got its answer (504 after its 2 s limit)" grep -qx 504 "$TMP/slow.status"
check "... logged" grep -Eq '"GET /slow HTTP/1\.1" 504 ' "$SERVE_ERR"

# SIGINT, with an idle keep-alive connection open.
serve_start idle "$G/hello" || exit 1
python3 - "$URL" >"$TMP/idle.out" 2>&1 <<'EOF' &
import socket, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
s = socket.create_connection((u.hostname, u.port), timeout=10)
s.sendall(b"GET /idle HTTP/1.1\r\nHost: x\r\n\r\n")
data = b""
deadline = time.time() + 10
while time.time() < deadline:
    chunk = s.recv(65536)
    if not chunk:
        print("closed by the server")
        break
    data += chunk
    if b"Hello from tkvm: /idle" in data:
        print("answered, idle now")
EOF
IDLE=$!
check "an idle keep-alive connection was answered" eventually 5 'answered, idle now' "$TMP/idle.out"
kill -INT "$PID"
check "SIGINT with an idle keep-alive connection: exits within 5 s" wait_exit "$PID" 5
check "... with status 0" test "$EXIT_STATUS" = 0
check "... SIGINT named" grep -q '^tkvm: SIGINT: stopping' "$SERVE_OUT"
wait_exit "$IDLE" 12
check "... the idle connection was closed by the server" grep -q 'closed by the server' "$TMP/idle.out"

# A second signal: at once, status 1.
serve_start twice --max-request-time 5 "$G/request_loop" || exit 1
hc -o /dev/null "${URL}slow" >/dev/null 2>&1 &
SLOW=$!
sleep 0.5
kill -TERM "$PID"
sleep 0.5
kill -TERM "$PID"
check "a second SIGTERM: exits within 2 s" wait_exit "$PID" 2
check "... with status 1" test "$EXIT_STATUS" = 1
check "... saying so" grep -q '^tkvm: second signal: exiting now$' "$SERVE_ERR"
wait_exit "$SLOW" 10

# A signal while booting: at once.
"$TKVM" serve --listen 127.0.0.1:0 --max-boot-time 20 "$G/boot_loop" >"$TMP/boot.out" 2>"$TMP/boot.err" &
BOOT=$!
SERVE_PIDS="$SERVE_PIDS $BOOT"
sleep 0.5
kill -TERM "$BOOT"
check "SIGTERM while the program boots: exits within 2 s" wait_exit "$BOOT" 2
check "... with status 1" test "$EXIT_STATUS" = 1
check "... saying so" grep -q '^tkvm: interrupted while starting$' "$TMP/boot.err"

exit $tap_failed
