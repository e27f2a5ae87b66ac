# Helpers for the `tkvm serve` tests (tests/cli/t001*-serve-*.sh), sourced after common.sh.
# Servers listen on 127.0.0.1 port 0 (a free port, read back from the banner), so tests never
# race for a port; every server started here is stopped on exit, and every wait is bounded.
# The script sets serve_given_tmp=${TMP:-} before sourcing common.sh.
SERVE_PIDS=""
serve_stop_all() {
	for ss_pid in $SERVE_PIDS; do
		kill -KILL "$ss_pid" 2>/dev/null
		wait "$ss_pid" 2>/dev/null
	done
	SERVE_PIDS=""
}
trap 'serve_stop_all; [ -z "${serve_given_tmp:-}" ] && rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM

if ! command -v curl >/dev/null 2>&1; then
	echo "not ok - curl is not installed (apt-get install curl)"
	exit 1
fi

# serve_start NAME ARGS...: starts `tkvm serve --listen 127.0.0.1:0 ARGS` in the background with
# stdout in $TMP/NAME.out and stderr (the access log) in $TMP/NAME.err; waits (at most 10 s) for
# the banner and sets PID and URL ("http://127.0.0.1:PORT/"). Fails when the server does not come up.
serve_start() {
	ss_name=$1; shift
	SERVE_OUT=$TMP/$ss_name.out SERVE_ERR=$TMP/$ss_name.err
	# The child truncates the files only after the fork: never read an older server's banner.
	: >"$SERVE_OUT"
	: >"$SERVE_ERR"
	"$TKVM" serve --listen 127.0.0.1:0 "$@" >"$SERVE_OUT" 2>"$SERVE_ERR" &
	PID=$!
	SERVE_PIDS="$SERVE_PIDS $PID"
	URL=""
	ss_i=0
	while [ $ss_i -lt 100 ]; do
		URL=$(sed -n 's/^tkvm: serving .* on \(http:[^ ]*\)$/\1/p' "$SERVE_OUT" | head -n 1)
		[ -n "$URL" ] && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
		ss_i=$((ss_i + 1))
	done
	echo "the server did not start:"
	sed 's/^/stdout: /' "$SERVE_OUT" | head -20
	sed 's/^/stderr: /' "$SERVE_ERR" | head -20
	return 1
}

# wait_exit PID SECONDS: waits until PID has exited (at most SECONDS), then reaps it and sets
# EXIT_STATUS; returns 1 (and kills it) when it is still running.
wait_exit() {
	we_i=0
	while kill -0 "$1" 2>/dev/null && [ $we_i -lt $(($2 * 10)) ]; do
		sleep 0.1
		we_i=$((we_i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		echo "process $1 still running after $2 s"
		return 1
	fi
	wait "$1"
	EXIT_STATUS=$?
	return 0
}

# serve_stop: SIGTERM to the last server; it must exit 0 within 10 s.
serve_stop() {
	kill -TERM "$PID" 2>/dev/null
	wait_exit "$PID" 10 || return 1
	[ "$EXIT_STATUS" = 0 ] || { echo "the server exited with status $EXIT_STATUS"; sed 's/^/stderr: /' "$SERVE_ERR" | tail -20; return 1; }
	return 0
}

# hc ARGS...: curl with a time limit, no progress meter, errors shown.
hc() {
	curl -sS --max-time 20 "$@"
}

# http_is STATUS BODY ARGS...: runs curl ARGS, keeps the status in $TMP/http.status,
# the headers in $TMP/http.headers and the body in $TMP/http.body; the status must be STATUS and the
# body exactly BODY (printf %b; '*' = anything).
http_is() {
	hi_status=$1 hi_body=$2; shift 2
	hc -o "$TMP/http.body" -D "$TMP/http.headers" -w '%{http_code}' "$@" >"$TMP/http.status" 2>"$TMP/http.err"
	if [ "$(cat "$TMP/http.status")" != "$hi_status" ]; then
		echo "wanted status $hi_status, got $(cat "$TMP/http.status")"
		sed 's/^/curl: /' "$TMP/http.err" | head -5
		sed 's/^/headers: /' "$TMP/http.headers" | head -20
		sed 's/^/body: /' "$TMP/http.body" | head -20
		return 1
	fi
	[ "$hi_body" = '*' ] && return 0
	same_text "$TMP/http.body" "$hi_body"
}
# body_has ERE / header_has ERE: the last http_is's body / headers (CR removed) match.
body_has() {
	grep -Eq -- "$1" "$TMP/http.body" && return 0
	echo "body does not match /$1/:"; head -c 2000 "$TMP/http.body"; return 1
}
header_has() {
	tr -d '\r' <"$TMP/http.headers" | grep -Eiq -- "$1" && return 0
	echo "headers do not match /$1/:"; cat "$TMP/http.headers"; return 1
}
header_lacks() {
	tr -d '\r' <"$TMP/http.headers" | grep -Eiq -- "$1" || return 0
	echo "headers match /$1/:"; cat "$TMP/http.headers"; return 1
}
# log_has ERE: some line of the running server's stderr (the access log) matches; waits up to 5 s,
# since a line is written when the answer has been sent.
log_has() {
	lh_i=0
	while [ $lh_i -lt 50 ]; do
		grep -Eq -- "$1" "$SERVE_ERR" && return 0
		sleep 0.1
		lh_i=$((lh_i + 1))
	done
	echo "the access log does not match /$1/:"; tail -20 "$SERVE_ERR"; return 1
}

# eventually SECONDS ERE FILE: some line of FILE matches ERE within SECONDS.
eventually() {
	ev_i=0
	while [ $ev_i -lt $(($1 * 10)) ]; do
		grep -Eq -- "$2" "$3" 2>/dev/null && return 0
		sleep 0.1
		ev_i=$((ev_i + 1))
	done
	echo "$3 does not match /$2/ after $1 s:"; tail -5 "$3" 2>/dev/null; return 1
}

# raw_http URL TEXT: sends TEXT (Python escapes: \r\n) on one connection to the server at URL and
# prints what comes back until the server closes (at most 5 s): for requests curl will not send.
raw_http() {
	python3 - "$1" "$2" <<'EOF'
import socket, sys, time, urllib.parse
url = urllib.parse.urlparse(sys.argv[1])
data = sys.argv[2].encode().decode("unicode_escape").encode("latin1")
s = socket.create_connection((url.hostname, url.port), timeout=5)
try:
    s.sendall(data)
except OSError:
    pass
out = b""
deadline = time.time() + 5
try:
    while time.time() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
except OSError:
    pass
sys.stdout.write(out.decode("latin1"))
EOF
}
