#!/bin/sh
# t0041-test-record-replay: `tkvm record` and `tkvm test --record` against a local origin server
# (python3 http.server on 127.0.0.1), then `tkvm test` replaying offline with the origin stopped:
# the same results; a fetch with no recording fails showing the closest recording and the
# difference; JSON bodies match by value (key order, white space); secrets redacted (Authorization,
# Set-Cookie, a header named in tkvm.json); --import-har; broken fixtures beside good ones. The
# project is a real one (tkvm.json, built by tkvm) around tests/guests/fetch.c.
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/lib/tap.sh"
serve_given_tmp=${TMP:-}
. "$ROOT/tests/cli/common.sh"
. "$ROOT/tests/cli/serve_common.sh"

# The origin: ORIGIN_VERSION changes what /hello says; "port" as argument reuses a port.
cat >"$TMP/origin.py" <<'PY'
import http.server, os, sys
VERSION = os.environ.get("ORIGIN_VERSION", "1")
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
        if self.path == "/hello":
            self.answer(200, b"hello from origin v" + VERSION.encode() + b"\n",
                        extra=[("X-Origin", "yes"), ("Set-Cookie", "session=origin-cookie-s3cret")])
        else: self.answer(404, b"no such page\n")
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.answer(201, b"got " + body + b" from " + self.headers.get("X-From", "?").encode(),
                    self.headers.get("Content-Type", "application/x-echo"))
http.server.ThreadingHTTPServer.allow_reuse_address = True
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
print(server.server_port, flush=True)
server.serve_forever()
PY

# origin_start [PORT]: starts the origin (ORIGIN_VERSION from the environment), waits for its port.
origin_start() {
	: >"$TMP/origin.port"
	python3 "$TMP/origin.py" ${1:+"$1"} >"$TMP/origin.port" 2>/dev/null &
	ORIGIN_PID=$!
	SERVE_PIDS="$SERVE_PIDS $ORIGIN_PID"
	i=0; while [ ! -s "$TMP/origin.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	PORT=$(cat "$TMP/origin.port")
	[ -n "$PORT" ]
}
origin_stop() {
	kill "$ORIGIN_PID" 2>/dev/null
	wait_exit "$ORIGIN_PID" 10 >/dev/null
}

# The project: fetch.c as its program, fixtures in tests/, X-From redacted as configured.
PROJ=$TMP/project
mkdir -p "$PROJ/src"
sed 's|#include "sdk/kvm_api.h"|#include "kvm_api.h"|' "$ROOT/tests/guests/fetch.c" >"$PROJ/src/main.c"
cat >"$PROJ/tkvm.json" <<'EOF'
{
  "name": "fetcher",
  "build": {"language": "c", "sources": ["src/main.c"], "output": "build/fetcher"},
  "test": {"directory": "tests", "redact_headers": ["X-From"]},
  "program": {"allowed_hosts": ["127.0.0.1"], "max_request_time": 4}
}
EOF
# in_project COMMAND...: runs tkvm COMMAND in the project directory (like tk).
in_project() {
	(cd "$PROJ" && "$TKVM" "$@") >"$TMP/tk.out" 2>"$TMP/tk.err"
	echo $? >"$TMP/tk.rc"
}
# project_is CODE ARGS...: in_project ARGS must exit CODE.
project_is() {
	pi_code=$1; shift
	in_project "$@"
	status_is "$pi_code"
}
# without_times FILE: the report without its timings, for comparing runs.
without_times() {
	sed -E 's/ +[0-9.]+ m?s( |$)/ T\1/; s/\([0-9.]+ m?s\)/(T)/' "$1"
}

check "the origin starts" origin_start
O=http://127.0.0.1:$PORT

# Recording: the project is built first, fetches go to the origin.
check "record GET with a secret header: exit 0" \
	project_is 0 record GET /get --arg "$O/hello" -H 'Authorization: Bearer s3cret-token' -H 'Accept: text/plain'
check "  the project was built first" err_has '^built build/fetcher'
check "  says what it recorded" out_has '^recorded get-get in tests/get-get\.json: 200, [0-9]+ bytes, 1 fetch'
F=$PROJ/tests/get-get.json
check "  the fixture parses and holds request, answer and fetch" json_is "$F" \
	'd["request"]["url"] == "/get" and d["expect"]["status"] == 200 and d["expect"]["body"].endswith("hello from origin v1\n") and len(d["fetches"]) == 1 and d["fetches"][0]["request"]["url"].endswith("/hello") and d["fetches"][0]["response"]["body"] == "hello from origin v1\n"'
check "  Authorization is redacted, other headers kept" json_is "$F" \
	'd["request"]["headers"] == ["Authorization: <redacted>", "Accept: text/plain"]'
check "  the origin's Set-Cookie is redacted, X-Origin kept" json_is "$F" \
	'"Set-Cookie: <redacted>" in d["fetches"][0]["response"]["headers"] and "X-Origin: yes" in d["fetches"][0]["response"]["headers"]'
check "  no secret anywhere in the file" sh -c "! grep -q 's3cret' '$F'"
check "record a guest POST: the configured header (X-From) is redacted" \
	project_is 0 record --name guest-post GET /post --arg "$O/post"
check "  X-From: <redacted> in the fetch" json_is "$PROJ/tests/guest-post.json" \
	'd["fetches"][0]["request"]["headers"] == ["X-From: <redacted>"] and d["fetches"][0]["request"]["body"] == "posted-by-guest"'
check "record a JSON POST" project_is 0 record --name post-json POST /forward --arg "$O/echo" \
	--data '{"b":[1,2],"a":"x"}' -H 'Content-Type: application/json'
check "  the fetch's JSON body is recorded" json_is "$PROJ/tests/post-json.json" \
	'd["fetches"][0]["request"]["body"] == "{\"b\":[1,2],\"a\":\"x\"}" and d["fetches"][0]["response"]["status"] == 201'
check "record a self-request" project_is 0 record GET /self
check "  recorded as a fetch of /target" json_is "$PROJ/tests/get-self.json" \
	'd["fetches"][0]["request"]["url"] == "/target" and d["fetches"][0]["response"]["body"] == "target reached\n"'
check "record a fetch that fails (nothing listens): the failure is recorded" \
	project_is 0 record --name unreachable GET /get --arg "http://127.0.0.1:1/x"
check "  as curl_code 7 with the error" json_is "$PROJ/tests/unreachable.json" \
	'd["fetches"][0]["response"]["curl_code"] == 7 and d["expect"]["body"].startswith("rc=-7 ")'

# What users would write by hand next to recordings: a body_contains fixture.
cat >"$PROJ/tests/contains.json" <<EOF
{"name": "contains", "request": {"url": "/get", "arg": "$O/hello"},
 "expect": {"status": 200, "body_contains": "hello from origin"}}
EOF
check "test --record: a fixture without fetches gets them, its body_contains stays" \
	project_is 0 test --record -k contains
check "  reported as recorded" out_has '^rec   contains +[0-9.]+ ms  200, [0-9]+ bytes, 1 fetch$'
check "  the summary" out_has '^1 recorded, 0 failed'
check "  body_contains kept, the fetch added" json_is "$PROJ/tests/contains.json" \
	'd["expect"]["body_contains"] == "hello from origin" and "body" not in d["expect"] and len(d["fetches"]) == 1'

check "test with the origin up: every fixture passes" project_is 0 test
check "  six fixtures" out_has '^6 passed, 0 failed'
without_times "$TMP/tk.out" >"$TMP/online.txt"

origin_stop
check "the origin is down (a live fetch fails)" \
	run_is 0 'rc=-7 status=0 ctype= length=0\n\n' '*' run --allow-host 127.0.0.1 "$GUESTS/glibc/fetch" /get --arg "$O/hello"
check "test with the origin stopped: the same results, offline" project_is 0 test
without_times "$TMP/tk.out" >"$TMP/offline.txt"
check "  identical report (timings aside)" cmp "$TMP/online.txt" "$TMP/offline.txt"

# JSON bodies match by value: the program posts the request's body; the recording has another layout.
python3 - "$PROJ/tests/post-json.json" "$PROJ/tests/reordered.json" "$PROJ/tests/changed.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["name"] = "reordered"
d["request"]["body"] = '{\n  "a": "x",\n  "b": [1, 2]\n}'
json.dump(d, open(sys.argv[2], "w"), indent=2)
d["name"] = "changed"
d["request"]["body"] = '{"a": "y", "b": [1, 2], "c": true}'
json.dump(d, open(sys.argv[3], "w"), indent=2)
PY
check "a JSON body in another key order and layout matches the recording" project_is 0 test -k reordered
check "a JSON body with other values fails" project_is 1 test -k changed
check "  fetch not recorded, first" out_has "^     fetch not recorded: POST $O/echo \\([0-9]+-byte body\\)$"
check "  the closest recording with its file and line" \
	out_has "^       closest recording: fetches\\[0\\] \\(tests/changed\\.json:[0-9]+\\): POST $O/echo$"
check "  the JSON difference by path" sh -c "grep -q '^         \\\$\\.a: recorded \"x\", the fetch has \"y\"$' '$TMP/tk.out' &&
	grep -q '^         \\\$\\.c: in the fetch (true), not in the recording$' '$TMP/tk.out'"
check "  the program got a connection failure (its log says why)" out_has 'log: sys_fetch POST .* failed: tkvm test: no recorded fetch matches'

# An unrecorded URL: the closest recording and where the URLs part.
python3 - "$F" "$PROJ/tests/other-url.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["name"] = "other-url"
d["request"]["arg"] = d["request"]["arg"].replace("/hello", "/help?x=1")
json.dump(d, open(sys.argv[2], "w"), indent=2)
PY
check "a fetch with no recording fails the fixture" project_is 1 test -k other-url
check "  which fetch" out_has "^     fetch not recorded: GET $O/help\\?x=1$"
check "  the closest one" out_has "^       closest recording: fetches\\[0\\] \\(tests/other-url\\.json:[0-9]+\\): GET $O/hello$"
check "  the two URLs, one above the other, a caret where they part" python3 -c '
import sys
lines = open(sys.argv[1]).read().split("\n")
i = next(i for i, l in enumerate(lines) if l.startswith("       url: recorded "))
recorded, fetched, caret = lines[i], lines[i + 1], lines[i + 2]
assert fetched.startswith("            fetch    ") and fetched.endswith("/help?x=1"), fetched
column = next(c for c in range(21, len(recorded)) if recorded[c] != fetched[c])
assert caret == " " * column + "^", (recorded, fetched, caret)
assert recorded[column - 3:column] == "hel"
' "$TMP/tk.out"
check "  the body difference follows" out_has '^     body differs from the expected'
check "  --json says so too" sh -c "cd '$PROJ' && '$TKVM' test --json -k other-url | python3 -c '
import json, sys; d = json.load(sys.stdin); x = d[\"fixtures\"][0]
assert x[\"result\"] == \"failed\" and x[\"message\"].startswith(\"fetch not recorded: GET\") and \"closest recording\" in x[\"details\"], x'"
rm -f "$PROJ/tests/other-url.json" "$PROJ/tests/changed.json"

# Re-recording: a new origin answer, same port; replay keeps the old until --record.
ORIGIN_VERSION=2
export ORIGIN_VERSION
check "the origin starts again on the same port, answering v2" origin_start "$PORT"
check "replay does not see the origin's change" project_is 0 test -k get-get
check "test --record rewrites the fixtures from live answers" project_is 0 test --record
check "  every one recorded" out_has '^7 recorded, 0 failed'
check "  the new answer and fetch" json_is "$F" \
	'd["expect"]["body"].endswith("hello from origin v2\n") and d["fetches"][0]["response"]["body"] == "hello from origin v2\n"'
check "  secrets still redacted" sh -c "! grep -rq 's3cret' '$PROJ/tests'"
check "  the request part is kept as it was" json_is "$F" 'd["request"]["headers"] == ["Authorization: <redacted>", "Accept: text/plain"]'
origin_stop
check "and they replay offline" project_is 0 test
check "  all of them" out_has '^7 passed, 0 failed'

# Broken fixtures beside good ones.
printf '{"name": "broken",\n  "request": {"url": "/get"\n}\n' >"$PROJ/tests/broken.json"
printf '{"name": "nofile", "request": {"url": "/get"},\n "fetches": [{"request": {"url": "http://x/"},\n  "response": {"status": 200, "body_file": "gone.bin"}}]}\n' >"$PROJ/tests/nofile.json"
check "broken fixture JSON: exit 1" project_is 1 test
check "  the file and line" out_has '^ERROR broken\.json +tests/broken\.json:4:1: invalid JSON: unexpected end of text'
check "  a missing body file: the fixture's file and line, the missing file" \
	out_has '^ERROR nofile\.json +tests/nofile\.json:3: fetches\[0\]\.response\.body_file: cannot open tests/gone\.bin: No such file or directory$'
check "  the others still ran and passed" out_has '^7 passed, 2 failed'
rm -f "$PROJ/tests/broken.json" "$PROJ/tests/nofile.json"

# tkvm record: refusals.
check "record over an existing fixture: exit 1 with a hint" project_is 1 record GET /self
check "  says it exists, how to re-record" sh -c "grep -q 'tests/get-self.json exists' '$TMP/tk.err' && grep -q 'tkvm test --record -k get-self' '$TMP/tk.err'"
check "  --force replaces it" project_is 0 record --force GET /self
check "record a request that crashes: exit 1, nothing written" \
	run_is 1 '' 'request failed, nothing recorded' record --program "$GUESTS/glibc/crash" --directory "$TMP/crash-fixtures" GET /null
check "  no fixture file" sh -c "! ls '$TMP/crash-fixtures'/*.json 2>/dev/null"
check "record without a URL: exit 2" project_is 2 record
check "record with a bad header: exit 2" project_is 2 record -H 'NoColon' GET /
check "record with a URL that is not a path: exit 2" project_is 2 record GET hello
check "record --help: exit 0" project_is 0 record --help

# Without a project: --program, --directory, --redact-header, both C libraries.
origin_start
O=http://127.0.0.1:$PORT
for lib in $LIBS; do
	D=$TMP/plain-$lib
	check "$lib: record --program --directory with --redact-header" \
		run_is 0 '*' '' record --program "$GUESTS/$lib/fetch" --allow-host 127.0.0.1 --directory "$D" \
		--redact-header x-from --name "Guest post ($lib)" GET /post --arg "$O/post"
	check "$lib:   a file name from the name, the name as given" json_is "$D/guest-post-$lib.json" \
		'd["name"] == "Guest post ('"$lib"')" and d["fetches"][0]["request"]["headers"] == ["X-From: <redacted>"]'
	check "$lib:   replays" run_is 0 '*' '' test --program "$GUESTS/$lib/fetch" --allow-host 127.0.0.1 "$D"
done
origin_stop
for lib in $LIBS; do
	check "$lib:   replays with the origin stopped" run_is 0 '*' '' test --program "$GUESTS/$lib/fetch" --allow-host 127.0.0.1 "$TMP/plain-$lib"
done

# --import-har: a capture made against `tkvm serve` of hello.
cat >"$TMP/capture.har" <<'EOF'
{"log": {"version": "1.2", "creator": {"name": "t0041", "version": "1"}, "entries": [
  {"request": {"method": "GET", "url": "http://127.0.0.1:8080/hello?lang=en", "httpVersion": "HTTP/1.1",
               "headers": [{"name": "Host", "value": "127.0.0.1:8080"}, {"name": "Cookie", "value": "sid=h4r-s3cret"},
                           {"name": "Accept", "value": "text/plain"}]},
   "response": {"status": 200, "headers": [{"name": "Content-Type", "value": "text/plain"}, {"name": "Date", "value": "Mon, 01 Jan 2024 00:00:00 GMT"}],
                "content": {"size": 24, "mimeType": "text/plain", "text": "Hello from tkvm: /hello\n"}}},
  {"request": {"method": "POST", "url": "http://127.0.0.1:8080/upload", "headers": [],
               "postData": {"mimeType": "application/octet-stream", "text": "AAECAw==", "encoding": "base64"}},
   "response": {"status": 200, "headers": [], "content": {"size": 25, "text": "cG9zdGVkIDQgYnl0ZXMgdG8gL3VwbG9hZAo=", "encoding": "base64"}}},
  {"request": {"method": "GET", "url": "http://127.0.0.1:8080/_tkvm/stats", "headers": []}, "response": {"status": 200, "content": {"text": "{}"}}},
  {"request": {"method": "GET", "url": "https://cdn.example.com/app.js", "headers": []}, "response": {"status": 0, "content": {}}}
]}}
EOF
HAR=$TMP/har
check "--import-har: exit 0" run_is 0 '*' 'hint: run .tkvm test.' test --program "$GUESTS/glibc/hello" --import-har "$TMP/capture.har" "$HAR"
check "  created the two program entries" sh -c "grep -q '^created .*/har/get-hello\\.json$' '$TMP/tk.out' && grep -q '^created .*/har/post-upload\\.json$' '$TMP/tk.out'"
check "  skipped the others, saying why" sh -c "grep -q '^skipped entry 2 .*: a tkvm serve endpoint, not the program$' '$TMP/tk.out' &&
	grep -q '^skipped entry 3 .*: its response has no status' '$TMP/tk.out'"
check "  the summary" out_has '^2 fixtures imported into .*/har, 2 entries skipped$'
check "  the Cookie is redacted, Host left out" json_is "$HAR/get-hello.json" \
	'd["request"]["headers"] == ["Cookie: <redacted>", "Accept: text/plain"] and d["request"]["url"] == "/hello?lang=en" and d["fetches"] == []'
check "  expect: status, Content-Type, body (not Date)" json_is "$HAR/get-hello.json" \
	'd["expect"] == {"status": 200, "headers": ["Content-Type: text/plain"], "body": "Hello from tkvm: /hello\n"}'
check "  the imported fixtures pass against the program" run_is 0 '*' '' test --program "$GUESTS/glibc/hello" "$HAR"
check "  and with musl" run_is 0 '*' '' test --program "$GUESTS/musl/hello" "$HAR"
check "importing again: existing fixtures left alone, exit 1" \
	run_is 1 '*' '' test --program "$GUESTS/glibc/hello" --import-har "$TMP/capture.har" "$HAR"
check "  says --force replaces them" out_has 'get-hello\.json exists \(--force replaces it\)'
check "  --force replaces them" run_is 0 '*' 'hint: run .tkvm test.' test --program "$GUESTS/glibc/hello" --import-har "$TMP/capture.har" --force "$HAR"
check "--har-base: only entries under it, cut off" \
	run_is 0 '*' 'hint: run .tkvm test.' test --program "$GUESTS/glibc/hello" --import-har "$TMP/capture.har" --har-base http://127.0.0.1:8080/hello "$TMP/har2"
check "  /hello became /" json_is "$TMP/har2/get-root.json" 'd["request"]["url"] == "/?lang=en"'
printf '{"log": {"entries": [\n  {"request": }\n]}}\n' >"$TMP/broken.har"
check "a broken HAR: exit 1 with the file and line" \
	run_is 1 '' 'broken\.har:2:[0-9]+: invalid JSON' test --program "$GUESTS/glibc/hello" --import-har "$TMP/broken.har" "$TMP/har3"
check "a HAR without log.entries: exit 1" \
	run_is 1 '' 'not a HAR capture' test --program "$GUESTS/glibc/hello" --import-har "$TMP/origin.port" "$TMP/har3"
check "a HAR that does not exist: exit 1" \
	run_is 1 '' 'cannot open .*nope\.har' test --program "$GUESTS/glibc/hello" --import-har "$TMP/nope.har" "$TMP/har3"
check "--import-har inside the project: into test.directory" \
	project_is 0 test --import-har "$TMP/capture.har"
check "  tests/get-hello.json" sh -c "[ -f '$PROJ/tests/get-hello.json' ]"
exit $tap_failed
