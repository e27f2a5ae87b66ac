#!/bin/sh
# t0012-serve-library: tkvm serve --library with several programs: routing by the first path
# segment (which the program does not see) and by the Host header's first label, groups, "start",
# programs that cannot run next to ones that can, 404 for unknown names, and stats per program.
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/lib/tap.sh"
serve_given_tmp=${TMP:-}
. "$ROOT/tests/cli/common.sh"
. "$ROOT/tests/cli/serve_common.sh"

G=$GUESTS/glibc
cat >"$TMP/programs.json" <<EOF
{
	// a group: defaults for its programs
	"small": { "concurrency": 1, "max_request_time": 0.5 },
	"hello": { "filename": "$G/hello" },
	"echo": { "group": "small", "filename": "$GUESTS/musl/echo", "start": true },
	"loop": { "group": "small", "filename": "$G/request_loop" },
	"gone": { "filename": "$TMP/no-such-program" },
	"broken": { "filename": "$G/boot_exit", "start": true },
	"remote": { "uri": "https://example.com/programs/remote.tar.xz" }
}
EOF
check "serve --library starts" serve_start lib --library "$TMP/programs.json"
check "... banner: 5 programs of the library" grep -Eq "^tkvm: serving 5 programs of $TMP/programs.json on http://127\.0\.0\.1:[0-9]+/$" "$SERVE_OUT"
check "... one line per program with its URL" grep -Eq '^tkvm:   hello: http://127\.0\.0\.1:[0-9]+/hello/ or Host: hello \(starts on its first request\)$' "$SERVE_OUT"
check "... a program without a filename is a warning" grep -Eq '^warning: remote: GET https://example.com/programs/remote.tar.xz: .*\(not served\)$' "$SERVE_ERR"
check "... a program that fails to boot is an error, the others still serve" grep -Eq '^error: broken: program did not call wait_for_requests' "$SERVE_ERR"

check "by path: /hello/x reaches hello as /x" http_is 200 'Hello from tkvm: /x\n' "${URL}hello/x"
check "by path: /hello reaches hello as /" http_is 200 'Hello from tkvm: /\n' "${URL}hello"
check "by path with a query: /hello/a/b?c=d" http_is 200 'Hello from tkvm: /a/b\n' "${URL}hello/a/b?c=d"
check "by Host: Host: hello answers every path unchanged" http_is 200 'Hello from tkvm: /echo/y\n' -H 'Host: hello' "${URL}echo/y"
check "by Host: Host: hello.localhost:8080 (first label)" http_is 200 'Hello from tkvm: /z\n' -H 'Host: hello.localhost:8080' "${URL}z"
check "by Host: echo (musl) answers GET" http_is 200 'send me a POST\n' -H 'Host: echo.example' "${URL}"
check "by path: echo takes a POST body" http_is 200 'abc' --data-binary abc "${URL}echo/p"
check "the access log names the program" log_has '"POST /echo/p HTTP/1\.1" 200 3 [0-9.]+ms echo vm=[0-9]+$'
check "an unknown name: 404 listing the programs" http_is 404 '*' "${URL}nothing/here"
check "... body" body_has '^programs: hello, echo, loop, gone, broken '
check "the root: 404 too" http_is 404 '*' "${URL}"
check "a group's settings apply: loop times out after 0.5 s (504)" http_is 504 '*' "${URL}loop/"
check "... body" body_has 'request timed out after 0\.5 s'
check "a program whose file is missing: 503 with the reason" http_is 503 '*' "${URL}gone/"
check "... body" body_has "^tkvm: gone could not start: cannot open '$TMP/no-such-program': No such file or directory$"
check "a program that failed to boot: 503 with the boot error" http_is 503 '*' -H 'Host: broken' "${URL}"
check "... body" body_has 'program did not call wait_for_requests'
check "hello still answers after all that" http_is 200 'Hello from tkvm: /again\n' "${URL}hello/again"

check "stats: one object per program" http_is 200 '*' "${URL}_tkvm/stats"
check "... hello and echo ran, with their counters; loop timed out" json_is "$TMP/http.body" \
	'd["hello"]["invocations"] == 6 and d["hello"]["state"] == "running" and d["echo"]["invocations"] == 2 and d["echo"]["concurrency"] == 1 and d["hello"]["concurrency"] == 2 and d["loop"]["timeouts"] == 1'
check "... gone and broken failed, with the reason" json_is "$TMP/http.body" \
	'd["gone"]["state"] == "failed" and "cannot open" in d["gone"]["error"] and d["broken"]["state"] == "failed" and "remote" not in d'
check "library server stops" serve_stop

# Flags apply to every program of the library.
cat >"$TMP/one.json" <<EOF
{ "loop": { "filename": "$G/request_loop" } }
EOF
check "--max-request-time applies to library programs" serve_start one --max-request-time 0.3 --library "$TMP/one.json"
check "... loop times out after 0.3 s" http_is 504 '*' "${URL}"
check "... body" body_has 'timed out after 0\.3 s'
check "... the only program answers every path" http_is 200 'fine\n' "${URL}ok"
check "one-program server stops" serve_stop

# Libraries that cannot serve.
printf '{ "hello": { "filename": ' >"$TMP/broken.json"
check "broken JSON: exit 1 with the place" run_is 1 '' "^error: .*broken\.json:1" serve --listen 127.0.0.1:0 --library "$TMP/broken.json"
printf '{ "remote": { "uri": "https://example.com/x.tar.xz" } }' >"$TMP/remote.json"
check "no local program: exit 1" run_is 1 '' 'no program to serve' serve --listen 127.0.0.1:0 --library "$TMP/remote.json"
check "a missing library: exit 1" run_is 1 '' "cannot open '$TMP/nope.json'" serve --listen 127.0.0.1:0 --library "$TMP/nope.json"
check "--config with --library: exit 2" run_is 2 '' '--config' serve --config x.json --library "$TMP/programs.json"

exit $tap_failed
