#!/bin/sh
# t0014-serve-bad-http: hostile HTTP gets a 4xx and the server keeps serving: oversized headers
# (over 8 KB for one line: ours; over the connection's memory: libmicrohttpd's), more than 64
# headers, bad chunked encoding, a malformed request line, and bodies over --max-body: 413 without
# reading them (Content-Length checked first; a chunked body stops when it exceeds).
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/lib/tap.sh"
serve_given_tmp=${TMP:-}
. "$ROOT/tests/cli/common.sh"
. "$ROOT/tests/cli/serve_common.sh"

G=$GUESTS/glibc
serve_start bad --max-body 8 "$G/echo" || exit 1
A20K=$(head -c 20480 /dev/zero | tr '\0' a)
A100K=$(head -c 102400 /dev/zero | tr '\0' a)
first_line() { head -n 1 "$TMP/raw.out" | tr -d '\r'; }
status_line_is() {
	[ "$(first_line)" = "$1" ] && return 0
	echo "wanted '$1', got:"; head -c 600 "$TMP/raw.out"; return 1
}

raw_http "$URL" "GET / HTTP/1.1\r\nHost: x\r\nX: $A20K\r\nConnection: close\r\n\r\n" >"$TMP/raw.out"
check "a 20 KB header line: 431" status_line_is 'HTTP/1.1 431 Request Header Fields Too Large'
check "... saying which header" grep -q 'tkvm: request header X is 20483 bytes long (at most 8192)' "$TMP/raw.out"
check "... logged" log_has '"GET / HTTP/1\.1" 431 .* cause="request header X is 20483 bytes long'
check "... then GET / answers" http_is 200 'send me a POST\n' "$URL"
raw_http "$URL" "GET / HTTP/1.1\r\nHost: x\r\nX: $A100K\r\n\r\n" >"$TMP/raw.out"
check "a 100 KB header: libmicrohttpd's 4xx" sh -c 'head -n 1 "$1" | grep -Eq "^HTTP/1\.1 4[0-9][0-9] "' sh "$TMP/raw.out"
check "... logged with its status" log_has '" 4[0-9][0-9] 0 [0-9.]+ms - vm=- cause="rejected by libmicrohttpd'
check "... then GET / answers" http_is 200 'send me a POST\n' "$URL"

set --
i=0
while [ $i -lt 70 ]; do
	set -- "$@" -H "X-Header-$i: $i"
	i=$((i + 1))
done
check "70 headers: 431" http_is 431 '*' "$@" "$URL"
check "... body says at most 64" body_has '^tkvm: 73 request headers: a program receives at most 64$'
set --
i=0
while [ $i -lt 61 ]; do
	set -- "$@" -H "X-Header-$i: $i"
	i=$((i + 1))
done
check "64 headers (61 + Host, User-Agent, Accept): answered" http_is 200 'send me a POST\n' "$@" "$URL"

raw_http "$URL" "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n" >"$TMP/raw.out"
check "bad chunk size: 400" status_line_is 'HTTP/1.1 400 Bad Request'
raw_http "$URL" "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n" >"$TMP/raw.out"
check "a chunk longer than its size: 400" status_line_is 'HTTP/1.1 400 Bad Request'
raw_http "$URL" "GET / FOO/1.1\r\nHost: x\r\n\r\n" >"$TMP/raw.out"
check "a request line with a bad version: 400" status_line_is 'HTTP/1.1 400 Bad Request'
raw_http "$URL" "GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n" >"$TMP/raw.out"
check "a header line without a colon: 400" status_line_is 'HTTP/1.1 400 Bad Request'
raw_http "$URL" "GET / HTTP/2.0\r\nHost: x\r\n\r\n" >"$TMP/raw.out"
check "HTTP/2.0 in an HTTP/1 request line: 505" status_line_is 'HTTP/1.1 505 HTTP Version Not Supported'
raw_http "$URL" "GET / HTTP/1.1\r\n\r\n" >"$TMP/raw.out"
check "HTTP/1.1 without Host: 400" status_line_is 'HTTP/1.1 400 Bad Request'
check "... saying why" grep -q '^tkvm: an HTTP/1.1 request needs a Host header$' "$TMP/raw.out"
raw_http "$URL" "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n" >"$TMP/raw.out"
check "Content-Length: abc: 400" status_line_is 'HTTP/1.1 400 Bad Request'
check "after all that, POST still echoes" http_is 200 'ok' --data-binary ok "$URL"

# Bodies over --max-body 8 (MB): a 100 MB body.
truncate -s 100M "$TMP/big" 2>/dev/null || head -c 104857600 /dev/zero >"$TMP/big"
check "100 MB with Content-Length (curl waits for 100-continue): 413" \
	http_is 413 '*' -X POST -T "$TMP/big" "$URL"
check "... a short text body" body_has '^tkvm: request body of 104857600 bytes is larger than --max-body \(8 MB\)$'
check "... logged" log_has '"POST /(big)? HTTP/1\.1" 413 [0-9]+ [0-9.]+ms - vm=- cause="request body of 104857600 bytes'
check "100 MB with Content-Length, sent at once (no Expect): 413" \
	http_is 413 '*' -H 'Expect:' -X POST -T "$TMP/big" "$URL"
raw_http "$URL" "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\nabc" >"$TMP/raw.out"
check "Content-Length: 104857600 and no body yet: 413 at once" status_line_is 'HTTP/1.1 413 Content Too Large'
check "100 MB chunked: 413 once 8 MB have arrived" \
	sh -c 'head -c 104857600 /dev/zero | curl -sS --max-time 20 -o "$2/chunked.body" -w "%{http_code}" -X POST -T - "$1" >"$2/chunked.status"' sh "$URL" "$TMP"
check "... status 413" grep -qx 413 "$TMP/chunked.status"
check "... body" grep -q '^tkvm: request body of more than 8388608 bytes is larger than --max-body (8 MB)$' "$TMP/chunked.body"
check "100 MB chunked without Expect: 413" \
	sh -c 'head -c 104857600 /dev/zero | curl -sS --max-time 20 -o /dev/null -w "%{http_code}" -H "Expect:" -X POST -T - "$1" >"$2/chunked.status"' sh "$URL" "$TMP"
check "... status 413" grep -qx 413 "$TMP/chunked.status"
head -c 8388608 /dev/zero >"$TMP/eight"
check "exactly 8 MB: echoed" http_is 200 '*' --data-binary @"$TMP/eight" "$URL"
check "... all of it" cmp -s "$TMP/eight" "$TMP/http.body"
check "the server still answers" http_is 200 'send me a POST\n' "$URL"
check "bad-http server stops" serve_stop
check "no libmicrohttpd complaint about our own 413s" sh -c '! grep -q "Application reported internal error" "$1"' sh "$SERVE_ERR"

exit $tap_failed
