#!/bin/sh
# t0020-fetch: programs fetch over HTTP through sys_fetch, against a real server on loopback
# (python3 http.server): denied unless allowed_hosts lists the host, GET and POST with headers,
# response headers captured, a buffer too small, redirects re-checked against allowed_hosts,
# self-requests under run and serve, a server that answers 500, and one that is not there.
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/lib/tap.sh"
serve_given_tmp=${TMP:-}
. "$ROOT/tests/cli/common.sh"
. "$ROOT/tests/cli/serve_common.sh"

cat >"$TMP/origin.py" <<'PY'
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args): pass
    def answer(self, status, body, ctype="text/plain", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra: self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path == "/hello": self.answer(200, b"hello from origin\n", extra=[("X-Origin", "yes")])
        elif self.path == "/error": self.answer(500, b"origin failed\n")
        elif self.path == "/redirect-inside": self.answer(302, b"", extra=[("Location", "/hello")])
        elif self.path == "/redirect-outside": self.answer(302, b"", extra=[("Location", "http://127.0.0.2:%d/hello" % self.server.server_port)])
        else: self.answer(404, b"no such page\n")
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.answer(201, b"got " + body + b" from " + self.headers.get("X-From", "?").encode(), "application/x-echo")
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_port, flush=True)
server.serve_forever()
PY
python3 "$TMP/origin.py" >"$TMP/origin.port" 2>/dev/null &
ORIGIN_PID=$!
SERVE_PIDS="$SERVE_PIDS $ORIGIN_PID"
i=0; while [ ! -s "$TMP/origin.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
PORT=$(cat "$TMP/origin.port")
O=http://127.0.0.1:$PORT

for lib in glibc musl; do
	F=$GUESTS/$lib/fetch
	check "$lib: no allowed_hosts: the fetch is denied (CURLE_REMOTE_ACCESS_DENIED) with a clear log line" \
		run_is 0 'rc=-9 status=0 ctype= length=0\n\n' 'is not in allowed_hosts' run "$F" /get --arg "$O/hello"
	check "$lib: --allow-host HOST:PORT: GET answers the origin's body" \
		run_is 0 'rc=0 status=200 ctype=text/plain length=18\n\nhello from origin\n' '' \
		run --allow-host "127.0.0.1:$PORT" "$F" /get --arg "$O/hello"
	check "$lib: allowed_hosts from --config, host without port" \
		sh -c "printf '{\"allowed_hosts\": [\"127.0.0.1\"]}' >'$TMP/fetch.json' && '$TKVM' run -c '$TMP/fetch.json' '$F' /get --arg '$O/hello' | grep -q 'hello from origin'"
	check "$lib: POST with a request header" \
		run_is 0 'rc=0 status=201 ctype=application/x-echo length=30\n\ngot posted-by-guest from guest' '' \
		run --allow-host 127.0.0.1 "$F" /post --arg "$O/post"
	check "$lib: response headers are captured" \
		sh -c "'$TKVM' run --allow-host 127.0.0.1 '$F' /headers --arg '$O/hello' | grep -q '^X-Origin: yes'"
	check "$lib: an answer larger than the program's buffer is CURLE_WRITE_ERROR" \
		run_is 0 'rc=-23 status=200 ctype= length=0\n\n' 'does not fit' run --allow-host 127.0.0.1 "$F" /small --arg "$O/hello"
	check "$lib: a 500 from the origin reaches the program as status 500" \
		run_is 0 'rc=0 status=500 ctype=text/plain length=14\n\norigin failed\n' '' run --allow-host 127.0.0.1 "$F" /get --arg "$O/error"
	check "$lib: a redirect inside allowed_hosts is followed" \
		sh -c "'$TKVM' run --allow-host 127.0.0.1 '$F' /get --arg '$O/redirect-inside' | grep -q 'hello from origin'"
	check "$lib: a redirect leaving allowed_hosts is refused" \
		run_is 0 'rc=-9 status=0 ctype= length=0\n\n' 'redirect to http://127.0.0.2.* denied' \
		run --allow-host 127.0.0.1 "$F" /get --arg "$O/redirect-outside"
	check "$lib: a server that is not there: CURLE_COULDNT_CONNECT" \
		run_is 0 'rc=-7 status=0 ctype= length=0\n\n' "Couldn't connect" run --allow-host '*' "$F" /get --arg "http://127.0.0.1:1/x"
	check "$lib: only http and https" \
		run_is 0 'rc=-1 status=0 ctype= length=0\n\n' 'only http and https' run --allow-host '*' "$F" /get --arg "file:///etc/passwd"
	check "$lib: tkvm run: a self-request goes to the same program" \
		run_is 0 'rc=0 status=200 ctype=text/plain length=15\n\ntarget reached\n' '' run "$F" /self
	check "$lib: serve with the fetch program starts" serve_start fetch-$lib --quiet "$F"
	check "$lib: tkvm serve: a self-request comes back through the server" \
		sh -c "curl -s '${URL}self' | grep -qx 'target reached'"
	kill "$PID"; wait_exit "$PID" 10 >/dev/null
done
exit $tap_failed
