#!/bin/sh
# t0010-serve-basics: tkvm serve with one program, through curl: GET and POST, keep-alive, request
# headers in and response headers out, X-Arg and the query string, Cache-Control from
# set_cacheable, the access log (common and JSON), /_tkvm/stats, --help and usage errors.
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/lib/tap.sh"
serve_given_tmp=${TMP:-}
. "$ROOT/tests/cli/common.sh"
. "$ROOT/tests/cli/serve_common.sh"

for lib in $LIBS; do
	G=$GUESTS/$lib
	check "$lib: serve hello starts and prints its URL" serve_start "hello-$lib" "$G/hello"
	check "$lib: ... the banner names the program and the URL" \
		grep -Eq '^tkvm: serving hello on http://127\.0\.0\.1:[0-9]+/$' "$SERVE_OUT"
	check "$lib: GET /hello answers 200 with the program's body" \
		http_is 200 'Hello from tkvm: /hello\n' "${URL}hello"
	check "$lib: ... with the program's content type" header_has '^Content-Type: text/plain$'
	check "$lib: POST /up with a body" http_is 200 'posted 11 bytes to /up\n' --data-binary 'hello world' "${URL}up"
	check "$lib: the access log has a common-log-format line for it" \
		log_has '^127\.0\.0\.1 - - \[[^]]+\] "POST /up HTTP/1\.1" 200 23 [0-9.]+ms hello vm=[0-9]+$'
	check "$lib: SIGTERM stops it with status 0" serve_stop
done

G=$GUESTS/glibc
serve_start main --concurrency 2 "$G/headers" || exit 1

# Keep-alive: curl sends both requests on one connection (and says so on stderr).
check "keep-alive: two URLs on one connection" \
	sh -c 'curl -sS -v --max-time 20 "$1a" "$1b" >"$2/ka.body" 2>"$2/ka.err"' sh "$URL" "$TMP"
check "... both answered" sh -c 'grep -c "^url=/[ab]$" "$1/ka.body" | grep -qx 2' sh "$TMP"
check "... the connection was reused" grep -Eq 'Re-using existing connection|Connection #0 .* left intact' "$TMP/ka.err"
check "... and not reopened" sh -c '[ "$(grep -c "Connected to" "$1/ka.err")" = 1 ]' sh "$TMP"

# Request headers reach the program; its headers come back.
check "headers: 201 and the method, url, arg" \
	http_is 201 '*' -H 'X-Test: hello there' "${URL}path/to"
check "... method=GET, url=/path/to, empty arg" \
	sh -c 'head -n 3 "$1/http.body" | tr "\n" " " | grep -qx "method=GET url=/path/to arg= "' sh "$TMP"
check "... the program saw X-Test verbatim" body_has '^X-Test: hello there$'
check "... and the Host header" body_has '^Host: 127\.0\.0\.1:[0-9]+$'
check "... response header X-Reply from the request's X-Test" header_has '^X-Reply: hello there$'
check "... X-Set: b (http_set replaced a)" header_has '^X-Set: b$'
check "... X-Extra from backend_response_extra" header_has '^X-Extra: yes$'
check "... no X-Gone (unset)" header_lacks '^X-Gone'
check "... no Cache-Control when not cacheable" header_lacks '^Cache-Control'
check "the query string is the arg" http_is 201 '*' "${URL}q?a=1&b=two%20x"
check "... arg=a=1&b=two%20x (raw), url=/q" \
	sh -c 'grep -qx "arg=a=1&b=two%20x" "$1/http.body" && grep -qx "url=/q" "$1/http.body"' sh "$TMP"
check "X-Arg wins over the query string" http_is 201 '*' -H 'X-Arg: {"w":1}' "${URL}q?ignored"
check '... arg={"w":1}' body_has '^arg=\{"w":1\}$'
check "POST: method and body reach the request handler" http_is 201 '*' --data-binary 'abc' "${URL}p"
check "... method=POST" body_has '^method=POST$'
check "set_cacheable on /cache gives Cache-Control: public, max-age=10" http_is 201 '*' "${URL}cache"
check "... header present" header_has '^Cache-Control: public, max-age=10$'
check "HEAD: status and headers only" http_is 201 '*' -I "${URL}x"
check "... http_method=HEAD reached the program (Content-Length of its body)" header_has '^Content-Length: [1-9]'

check "headers server stops" serve_stop

# The echo program: bytes in, bytes out (binary safe), and its headers.
serve_start echo "$G/echo" || exit 1
head -c 300000 /dev/urandom >"$TMP/random.bin"
check "echo: a 300 KB binary body comes back unchanged" \
	http_is 200 '*' --data-binary @"$TMP/random.bin" -H 'Content-Type: application/x-test' "${URL}e"
check "... same bytes" cmp -s "$TMP/random.bin" "$TMP/http.body"
check "... with the request's content type" header_has '^Content-Type: application/x-test$'
check "... and X-Body-Length: 300000" header_has '^X-Body-Length: 300000$'
check "echo: a chunked upload is read whole" \
	sh -c 'curl -sS --max-time 20 -T - -X POST "$1c" <"$2/random.bin" >"$2/chunked.out"' sh "$URL" "$TMP"
check "... same bytes" cmp -s "$TMP/random.bin" "$TMP/chunked.out"

# Statistics with the VMOD's names.
check "/_tkvm/stats answers JSON" http_is 200 '*' "${URL}_tkvm/stats"
check "... application/json" header_has '^Content-Type: application/json$'
check "... keyed by program with the VMOD's counters" json_is "$TMP/http.body" \
	'd["echo"]["invocations"] == 2 and d["echo"]["status_2xx"] == 2 and d["echo"]["state"] == "running" and all(k in d["echo"] for k in ["resets", "exceptions", "timeouts", "reset_time", "request_cpu_time", "status_3xx", "status_4xx", "status_5xx", "reservation_time", "queue_timeouts", "boot_time", "concurrency", "live_updates"])'
check "POST /_tkvm/stats is 405" http_is 405 '*' -X POST "${URL}_tkvm/stats"
check "/_tkvm/other is 404" http_is 404 '*' "${URL}_tkvm/other"
check "echo server stops" serve_stop

# The program's output with --stdout (one line per line it writes, named after it).
serve_start stdout --stdout "$G/hello" || exit 1
check "--stdout: what main() printed, named after the program" log_has '^hello: hello: ready$'
check "--stdout server stops" serve_stop

# Access log formats.
serve_start quiet --quiet "$G/hello" || exit 1
check "--quiet: answers" http_is 200 'Hello from tkvm: /q\n' "${URL}q"
check "--quiet: SIGTERM" serve_stop
check "--quiet: no access log" sh -c '! grep -q "GET /q" "$1"' sh "$SERVE_ERR"
serve_start json --json-log "$G/hello" || exit 1
check "--json-log: answers" http_is 200 '*' -H 'X-Arg: 1' "${URL}j?x=1"
check "--json-log: SIGTERM" serve_stop
check "--json-log: every stderr line is a JSON object" python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
hit = [l for l in lines if l.get("target") == "/j?x=1"]
assert hit, lines
l = hit[0]
assert l["method"] == "GET" and l["status"] == 200 and l["program"] == "hello" and l["protocol"] == "HTTP/1.1", l
assert l["bytes"] == 20 and l["duration_ms"] >= 0 and l["vm"] >= 0 and l["remote"] == "127.0.0.1" and l["outcome"] == "ok", l
' "$SERVE_ERR"
check "no colour escapes in logs written to a file" no_escapes "$TMP/main.err" "$TMP/main.out"

# Help and usage errors (exit 2), startup failures (exit 1).
check "serve --help documents the options and examples" run_is 0 '*' '' serve --help
for word in --listen --library --queue-timeout --max-body --quiet --json-log --concurrency X-LiveUpdate \
	/_tkvm/stats X-Arg Cache-Control 504 503 431 413 SIGTERM examples: --max-request-time; do
	check "... mentions $word" out_has "$word"
done
check "tkvm --help lists serve" run_is 0 '*' '' --help
check "... with its summary" out_has '^  serve '
check "no program: exit 2 with a hint" run_is 2 '' '^error: no program given' serve
check "... hint" err_has '^hint: tkvm serve \./hello'
check "a program and --library: exit 2" run_is 2 '' 'not both' serve --library x.json "$G/hello"
check "two programs: exit 2" run_is 2 '' 'expected one PROGRAM' serve "$G/hello" "$G/echo"
check "--listen nonsense: exit 2" run_is 2 '' "^error: --listen 127.0.0.1:http: 'http' is not a port number" \
	serve --listen 127.0.0.1:http "$G/hello"
check "--queue-timeout -1: exit 2" run_is 2 '' 'positive number' serve --queue-timeout -1 "$G/hello"
check "--max-body x: exit 2" run_is 2 '' 'positive number' serve --max-body x "$G/hello"
check "an unknown option: exit 2" run_is 2 '' "hint: run 'tkvm serve --help'" serve --frobnicate "$G/hello"
check "a missing program file: exit 1" run_is 1 '*' "^error: hello: cannot open '$TMP/nosuch'" \
	serve --listen 127.0.0.1:0 --name hello "$TMP/nosuch"
check "a program that fails to boot: exit 1 with the reason" run_is 1 '*' \
	'^error: boot_exit: program did not call wait_for_requests' serve --listen 127.0.0.1:0 "$G/boot_exit"
serve_start busyport "$G/hello" || exit 1
taken=${URL#http://127.0.0.1:}; taken=${taken%/}
check "a port in use: exit 1, says so, with a hint" run_is 1 '' \
	"^error: --listen 127.0.0.1:$taken: cannot listen on 127.0.0.1:$taken: Address already in use" \
	serve --listen "127.0.0.1:$taken" "$G/hello"
check "... hint" err_has '^hint: .*port 0'
check "busyport server stops" serve_stop

exit $tap_failed
