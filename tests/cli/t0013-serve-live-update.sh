#!/bin/sh
# t0013-serve-live-update: the VMOD's live-update endpoint. A POST with X-LiveUpdate: KEY and a raw
# ELF body swaps the program when KEY is its settings' "key": 201 with the VMOD's wording; a wrong
# or missing key is 403 and an ELF that does not boot is 400 with the boot error, and both keep the
# old program; a request running during the swap finishes on the old program; in library mode the
# new ELF is stored at the program's filename.
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/lib/tap.sh"
serve_given_tmp=${TMP:-}
. "$ROOT/tests/cli/common.sh"
. "$ROOT/tests/cli/serve_common.sh"

G=$GUESTS/glibc
update() { # update KEY FILE [CURL ARGS...]: the live-update POST
	uk=$1 uf=$2; shift 2
	hc -o "$TMP/http.body" -D "$TMP/http.headers" -w '%{http_code}' -H "X-LiveUpdate: $uk" \
		-H 'Content-Type: application/octet-stream' --data-binary @"$uf" "$@" >"$TMP/http.status" 2>"$TMP/http.err"
}
status_was() {
	[ "$(cat "$TMP/http.status")" = "$1" ] && return 0
	echo "wanted status $1, got $(cat "$TMP/http.status")"; cat "$TMP/http.err" "$TMP/http.body"; return 1
}

serve_start single --set key=s3cret --max-request-time 2 "$G/hello" || exit 1
check "before: hello answers" http_is 200 'Hello from tkvm: /\n' "${URL}"
printf 'this is not an ELF file\n' >"$TMP/text"
: >"$TMP/empty"

update wrong "$GUESTS/musl/echo" "$URL"
check "a wrong key: 403" status_was 403
check "... says so" body_has '^tkvm: wrong live-update key for hello$'
check "... the log says why" log_has '"POST / HTTP/1\.1" 403 .* hello vm=- cause="live update refused: wrong key"'
check "... hello still answers" http_is 200 'Hello from tkvm: /\n' "${URL}"
update s3cret "$TMP/text" "$URL"
check "not an ELF: 400" status_was 400
check "... with the loader's error" body_has 'ELF: not an ELF file'
check "... hello still answers" http_is 200 'Hello from tkvm: /\n' "${URL}"
update s3cret "$G/boot_exit" "$URL"
check "an ELF that does not boot: 400" status_was 400
check "... with the boot error" body_has 'program did not call wait_for_requests: it exited with status 0'
check "... the log says the old program stays" log_has 'cause="live update failed, hello keeps running the previous program: program did not call'
update s3cret "$TMP/empty" "$URL"
check "an empty body: 400 Empty file received" status_was 400
check "... body" same_text "$TMP/http.body" 'Empty file received\n'
check "a GET with X-LiveUpdate: 405" http_is 405 '*' -H 'X-LiveUpdate: s3cret' "${URL}"
check "... hello still answers" http_is 200 'Hello from tkvm: /x\n' "${URL}x"

# A slow request (request_loop: 2 s until its timeout) runs while the program is swapped.
update s3cret "$G/request_loop" "$URL"
check "the right key: 201" status_was 201
check "... with the VMOD's answer (no filename: not stored)" same_text "$TMP/http.body" 'Update successful (not stored)\n'
check "... now request_loop answers" http_is 200 'fine\n' "${URL}ok"
hc -o "$TMP/slow.body" -w '%{http_code}' "${URL}slow" >"$TMP/slow.status" 2>/dev/null &
SLOW=$!
sleep 0.8
update s3cret "$GUESTS/musl/echo" "$URL"
check "a second update while a request runs: 201" status_was 201
check "... the new program answers at once" http_is 200 'send me a POST\n' "${URL}"
wait_exit "$SLOW" 10
check "... the running request finished on the old program (its timeout: 504)" grep -qx 504 "$TMP/slow.status"
check "... with the old program's error" grep -q 'tkvm: hello: request failed: request timed out after 2 s' "$TMP/slow.body"
check "stats: live_updates == 2" http_is 200 '*' "${URL}_tkvm/stats"
check "... counted" json_is "$TMP/http.body" 'd["hello"]["live_updates"] == 2 and d["hello"]["state"] == "running"'
check "single server stops" serve_stop

serve_start nokey "$G/hello" || exit 1
update anything "$G/echo" "$URL"
check "a program without a key refuses updates: 403" status_was 403
check "... says how to enable it" body_has 'live update of hello is off: its settings have no "key"'
check "... hello still answers" http_is 200 'Hello from tkvm: /\n' "${URL}"
check "nokey server stops" serve_stop

serve_start small --set key=k --max-body 1 "$G/hello" || exit 1
head -c 2000000 /dev/zero >"$TMP/big.elf"
update k "$TMP/big.elf" "$URL"
check "an ELF over --max-body: 413" status_was 413
check "small server stops" serve_stop

# Library mode: Host names the program; the new ELF is stored at its (absolute) filename.
cp "$G/hello" "$TMP/app"
cp "$G/hello" "$TMP/other"
cat >"$TMP/programs.json" <<EOF
{
	"app": { "filename": "$TMP/app", "key": "appkey" },
	"other": { "filename": "$TMP/other", "key": "otherkey" }
}
EOF
serve_start lib --library "$TMP/programs.json" || exit 1
update otherkey "$G/echo" -H 'Host: app' "$URL"
check "library: another program's key: 403" status_was 403
update appkey "$G/echo" -H 'Host: app.example' "$URL"
check "library: Host: app with its key: 201" status_was 201
check "... Update successful (stored)" same_text "$TMP/http.body" 'Update successful (stored)\n'
check "... the new ELF is at the program's filename" cmp -s "$G/echo" "$TMP/app"
check "... app is echo now" http_is 200 'send me a POST\n' "${URL}app/"
check "... other is still hello" http_is 200 'Hello from tkvm: /\n' "${URL}other/"
update otherkey "$TMP/text" "$URL"other/
check "library: a bad ELF by path: 400" status_was 400
check "... the stored file is untouched" cmp -s "$G/hello" "$TMP/other"
check "library server stops" serve_stop
check "after a restart, the stored program answers" serve_start lib2 --library "$TMP/programs.json"
check "... app is echo" http_is 200 'send me a POST\n' -H 'Host: app' "${URL}"
check "lib2 server stops" serve_stop

exit $tap_failed
