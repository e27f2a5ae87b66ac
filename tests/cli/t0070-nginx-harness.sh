#!/bin/sh
# t0070-nginx-harness: the real nginx that tests/lib/nginx.sh runs as a WebDAV library host behaves
# the way tkvm relies on: PUT creates (201) and replaces (204) atomically (a client killed mid-upload
# leaves the old file), GET gives Last-Modified and a strong ETag and honours If-Modified-Since
# exactly, PUT ignores If-Match (so writers must lock), LOCK/UNLOCK with the If: (<token>) header
# guard writes and a lock expires after the zone's timeout, and the /error500/ and /garbage/
# locations fail as intended. Skipped when nginx is not installed.
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/cli/nginx_common.sh"
nginx_require
unset NGINX_LOCK_TIMEOUT NGINX_EXTRA_CONF

# etag_of URL / last_modified_of URL: the header of a HEAD request, CR removed.
etag_of() { hc -I "$1" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p'; }
last_modified_of() { hc -I "$1" | tr -d '\r' | sed -n 's/^[Ll]ast-[Mm]odified: //p'; }
# file_is FILE TEXT: FILE (on the server's disk) holds exactly TEXT (printf %b).
file_is() { same_text "$1" "$2"; }
# no_body_temp: nginx's temp directory for request bodies is empty, within 5 s.
no_body_temp() {
	nt_i=0
	while [ $nt_i -lt 50 ]; do
		[ -z "$(ls -A "$NGINX_DIR/tmp/body" 2>/dev/null)" ] && return 0
		sleep 0.1
		nt_i=$((nt_i + 1))
	done
	echo "left in $NGINX_DIR/tmp/body:"; ls -l "$NGINX_DIR/tmp/body"; return 1
}
# body_temp_grows: a request body is being written to nginx's temp directory, within 10 s.
body_temp_grows() {
	bt_i=0
	while [ $bt_i -lt 100 ]; do
		for bt_f in "$NGINX_DIR/tmp/body/"*; do
			[ -s "$bt_f" ] && return 0
		done
		sleep 0.1
		bt_i=$((bt_i + 1))
	done
	echo "nothing in $NGINX_DIR/tmp/body after 10 s"; return 1
}
# lock_status_is STATUS URL [CURL ARGS...]: LOCK answers STATUS.
lock_status_is() {
	ls_want=$1; shift
	dav_lock "$@"
	[ "$DAV_STATUS" = "$ls_want" ] && return 0
	echo "LOCK answered $DAV_STATUS, wanted $ls_want"; cat "$TMP/dav.headers"; return 1
}
# stopped: nginx_stop left no process behind.
stopped() {
	[ -z "$NGINX_PID" ] || { echo "NGINX_PID is still $NGINX_PID"; return 1; }
	! kill -0 "$1" 2>/dev/null || { echo "nginx $1 still runs"; return 1; }
	[ -z "$(awk -v p="$1" '$4 == p { print $1 }' /proc/[0-9]*/stat 2>/dev/null)" ] || { echo "workers of $1 still run"; return 1; }
}

check "nginx starts" nginx_start "$TMP/nginx"
[ -n "$NGINX_PID" ] || exit 1
check "... on loopback, serving NGINX_ROOT" sh -c "case '$NGINX_URL' in http://127.0.0.1:[0-9]*) ;; *) exit 1 ;; esac && [ -d '$NGINX_ROOT' ]"
L=$NGINX_URL/lib/library.json
printf '{"v":1}\n' >"$TMP/v1.json"
printf '{"v":2}\n' >"$TMP/v2.json"
printf '{"version":3}\n' >"$TMP/v3.json"

# PUT and GET.
check "PUT of a new file: 201, missing directories created" http_is 201 '' -T "$TMP/v1.json" "$L"
check "... the file is on disk" file_is "$NGINX_ROOT/lib/library.json" '{"v":1}\n'
check "GET returns it" http_is 200 '{"v":1}\n' "$L"
check "... with Last-Modified" header_has '^Last-Modified: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT$'
check "... and a strong ETag \"mtime-size\" in hex" header_has '^ETag: "[0-9a-f]+-8"$'
check "PUT over it: 204" http_is 204 '' -T "$TMP/v2.json" "$L"
check "... replaced" http_is 200 '{"v":2}\n' "$L"
check "a missing file: 404" http_is 404 '*' "$NGINX_URL/lib/nothing.json"

# Conditional requests.
LM=$(last_modified_of "$L")
# (curl leaves the -o file alone on a 304, so http_is cannot check the body: '*'.)
check "If-Modified-Since = Last-Modified: 304" http_is 304 '*' -H "If-Modified-Since: $LM" "$L"
check "... with the same Last-Modified" header_has "^Last-Modified: $LM\$"
check "... HEAD too" http_is 304 '*' -I -H "If-Modified-Since: $LM" "$L"
check "... an older date: 200" http_is 200 '{"v":2}\n' -H 'If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT' "$L"
check "... a later date: 200 too (nginx compares exactly)" http_is 200 '{"v":2}\n' -H 'If-Modified-Since: Fri, 01 Jan 2038 00:00:00 GMT' "$L"
ETAG=$(etag_of "$L")
check "If-None-Match with the current ETag: 304" http_is 304 '*' -H "If-None-Match: $ETAG" "$L"
check "PUT ignores If-Match with a stale ETag (204: writers must lock)" http_is 204 '' -H 'If-Match: "1-1"' -T "$TMP/v1.json" "$L"
check "... and If-None-Match: * on an existing file" http_is 204 '' -H 'If-None-Match: *' -T "$TMP/v2.json" "$L"
check "... the file was replaced both times" file_is "$NGINX_ROOT/lib/library.json" '{"v":2}\n'

# The failing locations.
check "/error500/: 500" http_is 500 '*' "$NGINX_URL/error500/library.json"
check "/garbage/: 200 that is not JSON" http_is 200 '<garbage that is not JSON>' "$NGINX_URL/garbage/library.json"
check "... as application/json" header_has '^Content-Type: application/json'
check "... not JSON" sh -c "! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' '$TMP/http.body' 2>/dev/null"

# Atomic PUT: kill -9 the client mid-upload; the old file stays whole.
head -c 5000000 /dev/zero | tr '\0' 'x' >"$TMP/big"
curl -sS -o /dev/null --limit-rate 500k -T "$TMP/big" "$L" 2>/dev/null &
UPLOAD=$!
check "a slow 5 MB PUT is under way (its body in nginx's temp directory)" body_temp_grows
check "... GET meanwhile: the old content" http_is 200 '{"v":2}\n' "$L"
kill -KILL "$UPLOAD" 2>/dev/null
wait "$UPLOAD" 2>/dev/null
check "... the client killed: the PUT is logged as 400" nginx_log_has '"PUT /lib/library.json HTTP/1.1" 400 '
check "... the old content is intact" file_is "$NGINX_ROOT/lib/library.json" '{"v":2}\n'
check "... GET agrees" http_is 200 '{"v":2}\n' "$L"
check "... the partial body is deleted" no_body_temp

if ! have_nginx_dav_ext; then
	echo "skip - $(basename "$0"): no $NGINX_MODULES/ngx_http_dav_ext_module.so: LOCK and UNLOCK not checked"
	check "nginx stops" nginx_stop
	exit $tap_failed
fi

# Locks.
check "OPTIONS: DAV: 2 (locking)" http_is 200 '' -X OPTIONS "$L"
check "... LOCK and UNLOCK allowed" header_has '^Allow: .*LOCK,UNLOCK'
check "LOCK: 200 with a Lock-Token" dav_lock "$L"
T1=$DAV_TOKEN
check "... the token is <urn:8 hex digits>" sh -c "printf '%s\n' '$T1' | grep -Eq '^<urn:[0-9a-f]{8}>$'"
check "... the body describes the lock (60 s, whatever Timeout asked)" grep -q '<D:timeout>Second-60</D:timeout>' "$TMP/dav.body"
check "PUT without the token: 423" http_is 423 '' -T "$TMP/v3.json" "$L"
check "... with a wrong token: 412" http_is 412 '*' -H 'If: (<urn:00000001>)' -T "$TMP/v3.json" "$L"
check "... DELETE without it: 423" http_is 423 '' -X DELETE "$L"
check "... the file is untouched" file_is "$NGINX_ROOT/lib/library.json" '{"v":2}\n'
check "... GET still works" http_is 200 '{"v":2}\n' "$L"
check "a second LOCK: 423" lock_status_is 423 "$L"
check "PUT with If: (<token>): 204" http_is 204 '' -H "If: ($T1)" -T "$TMP/v3.json" "$L"
check "... written" file_is "$NGINX_ROOT/lib/library.json" '{"version":3}\n'
check "... the access log shows the If header" nginx_log_has "\"PUT /lib/library.json HTTP/1.1\" 204 .* if=\"\\($T1\\)\""
check "LOCK with If: (<token>) refreshes: 200" lock_status_is 200 "$L" -H "If: ($T1)"
check "... same token" [ "$DAV_TOKEN" = "$T1" ]
check "UNLOCK with a wrong token: 204 but still locked" [ "$(dav_unlock "$L" "<urn:00000001>")" = 204 ]
check "... PUT without the token: 423" http_is 423 '' -T "$TMP/v2.json" "$L"
check "UNLOCK with the token: 204" [ "$(dav_unlock "$L" "$T1")" = 204 ]
check "... PUT without a token works again: 204" http_is 204 '' -T "$TMP/v2.json" "$L"
check "... a new LOCK works" dav_lock "$L"
check "... UNLOCK" [ "$(dav_unlock "$L" "$DAV_TOKEN")" = 204 ]

# LOCK before the file exists: creates it, empty.
N=$NGINX_URL/new/library.json
mkdir -p "$NGINX_ROOT/new"
check "LOCK of a missing file (its directory exists): 201" lock_status_is 201 "$N"
check "... creates an empty file (GET: 200, no body)" http_is 200 '' "$N"
check "... PUT with the token fills it: 204" http_is 204 '' -H "If: ($DAV_TOKEN)" -T "$TMP/v1.json" "$N"
check "... UNLOCK" [ "$(dav_unlock "$N" "$DAV_TOKEN")" = 204 ]

NG1=$NGINX_PID
check "nginx stops" nginx_stop
check "... no process left" stopped "$NG1"
check "... stopping twice is harmless" nginx_stop

# A locker that dies: its lock expires after the zone's timeout.
NGINX_LOCK_TIMEOUT=1s
check "nginx starts with NGINX_LOCK_TIMEOUT=1s, same root" nginx_start "$TMP/nginx"
[ -n "$NGINX_PID" ] || exit 1
L=$NGINX_URL/lib/library.json
check "... the file survived the restart" http_is 200 '{"v":2}\n' "$L"
check "LOCK (the locker then vanishes)" dav_lock "$L"
check "... the body says 1 s" grep -q '<D:timeout>Second-1</D:timeout>' "$TMP/dav.body"
check "... PUT without the token: 423" http_is 423 '' -T "$TMP/v3.json" "$L"
sleep 2.2
check "after 2.2 s the lock has expired: PUT without a token: 204" http_is 204 '' -T "$TMP/v3.json" "$L"
check "... an expired token is ignored, not refused: 204" http_is 204 '' -H "If: ($DAV_TOKEN)" -T "$TMP/v1.json" "$L"
NG2=$NGINX_PID
check "nginx stops" nginx_stop
check "... no process left" stopped "$NG2"

exit $tap_failed
