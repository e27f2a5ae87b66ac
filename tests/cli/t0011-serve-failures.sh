#!/bin/sh
# t0011-serve-failures: a misbehaving program never stops the server. A crash answers 500 with a
# short text body, a timeout 504, a request that waits too long for a free VM 503; the access log
# names the cause; the on_error answer goes out as the program made it; good requests around the
# bad ones still answer.
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/lib/tap.sh"
serve_given_tmp=${TMP:-}
. "$ROOT/tests/cli/common.sh"
. "$ROOT/tests/cli/serve_common.sh"

G=$GUESTS/glibc

# Crashes among good requests.
serve_start crash "$G/crash" || exit 1
check "crash /ok before: 200" http_is 200 'fine\n' "${URL}ok"
check "crash /null: 500" http_is 500 '*' "${URL}null"
check "... text body naming the fault and the function" \
	body_has '^tkvm: crash: request failed: segmentation fault: NULL pointer dereference .*\(deref_null\+0x[0-9a-f]+\)$'
check "... as text/plain" header_has '^Content-Type: text/plain'
check "... the access log names the cause" \
	log_has '"GET /null HTTP/1\.1" 500 [0-9]+ [0-9.]+ms crash vm=[0-9]+ outcome=failed cause="segmentation fault: NULL pointer dereference'
check "crash /ok after: 200" http_is 200 'fine\n' "${URL}ok"
for url in ud2 div0 abort stack exit; do
	check "crash /$url: 500" http_is 500 '*' "${URL}$url"
done
check "... and /ok still answers" http_is 200 'fine\n' "${URL}ok"
check "keep-alive survives a crash: /null then /ok on one connection" \
	sh -c 'curl -sS --max-time 20 -o /dev/null -o "$2/ka.ok" -w "%{http_code} " "$1null" "$1ok" >"$2/ka.codes"' sh "$URL" "$TMP"
check "... 500 then 200" sh -c 'grep -qx "500 200 " "$1/ka.codes" && grep -qx fine "$1/ka.ok"' sh "$TMP"
check "stats count the exceptions" http_is 200 '*' "${URL}_tkvm/stats"
check "... exceptions >= 7, status_5xx >= 7, status_2xx >= 3" json_is "$TMP/http.body" \
	'd["crash"]["exceptions"] >= 7 and d["crash"]["status_5xx"] >= 7 and d["crash"]["status_2xx"] >= 3'
check "crash server stops" serve_stop

# Hostile host calls: a bad call is a 500 too.
serve_start hostile "$G/hostile" || exit 1
check "hostile /wild-body: 500 naming the bad host call" http_is 500 '*' "${URL}wild-body"
check "... body" body_has 'bad host call backend_response: body \(0xdead0000000, 16 bytes\) is outside guest memory'
check "hostile /many-headers: 500" http_is 500 '*' "${URL}many-headers"
check "hostile /unknown-call: 200" http_is 200 'enosys ok\n' "${URL}unknown-call"
check "hostile server stops" serve_stop

# on_error: the program's own answer, unchanged.
serve_start recover "$G/crash_recover" || exit 1
check "crash_recover /null: the on_error answer (503) as the program made it" http_is 503 '*' "${URL}null"
check "... its body" body_has '^recovered: segmentation fault: NULL pointer dereference'
check "... its content type" header_has '^Content-Type: text/plain$'
check "... the log says it was recovered, and why" \
	log_has '"GET /null HTTP/1\.1" 503 [0-9]+ [0-9.]+ms crash_recover vm=[0-9]+ outcome=recovered cause="answered by on_error after: segmentation fault'
check "crash_recover /double: on_error fails too: 500 with the text body" http_is 500 '*' "${URL}double"
check "... body" body_has '^tkvm: crash_recover: request failed: '
check "crash_recover /ok" http_is 200 'fine\n' "${URL}ok"
check "recover server stops" serve_stop

# Timeouts: 504, and the VM recovers.
serve_start loop --max-request-time 0.5 "$G/request_loop" || exit 1
check "request_loop / with --max-request-time 0.5: 504" http_is 504 '*' "${URL}"
check "... body says it timed out and where" body_has '^tkvm: request_loop: request failed: request timed out after 0\.5 s.*\(on_get\+0x[0-9a-f]+\)$'
check "... the log names the timeout" log_has '"GET / HTTP/1\.1" 504 .* outcome=failed cause="request timed out after 0\.5 s'
check "request_loop /ok afterwards: 200" http_is 200 'fine\n' "${URL}ok"
check "stats count the timeout" http_is 200 '*' "${URL}_tkvm/stats"
check "... timeouts == 1" json_is "$TMP/http.body" 'd["request_loop"]["timeouts"] == 1'
check "loop server stops" serve_stop

# Queue timeout: one VM, busy for 3 s; a second request gives up after 0.2 s with 503.
serve_start queue --concurrency 1 --queue-timeout 0.2 --max-request-time 3 "$G/request_loop" || exit 1
hc -o "$TMP/slow.body" -w '%{http_code}' "${URL}slow" >"$TMP/slow.status" 2>/dev/null &
SLOW=$!
sleep 1
check "a request while the only VM is busy: 503" http_is 503 '*' "${URL}ok"
check "... a clear body" body_has '^tkvm: request_loop is busy: no free VM within the queue timeout \(0\.2 s, 1 VMs\)$'
check "... the log says queue timeout" log_has '"GET /ok HTTP/1\.1" 503 .* request_loop vm=- outcome=busy cause="queue timeout'
wait_exit "$SLOW" 10
check "the slow request itself ends in 504" grep -qx 504 "$TMP/slow.status"
check "then /ok answers" http_is 200 'fine\n' "${URL}ok"
check "stats count the queue timeout" http_is 200 '*' "${URL}_tkvm/stats"
check "... queue_timeouts == 1" json_is "$TMP/http.body" 'd["request_loop"]["queue_timeouts"] == 1 and d["request_loop"]["concurrency"] == 1'
check "queue server stops" serve_stop

# Out of memory inside a request: the program's 507, then the VM still answers.
serve_start bomb --max-memory 64 "$G/memory_bomb" || exit 1
check "memory_bomb /mmap: the program's own 507" http_is 507 '*' "${URL}mmap"
check "memory_bomb /: 500 naming out of memory" http_is 500 '*' "${URL}"
check "... body" body_has 'out of memory'
check "memory_bomb /ok" http_is 200 'fine\n' "${URL}ok"
check "bomb server stops" serve_stop

exit $tap_failed
