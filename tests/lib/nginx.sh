# A real nginx on loopback as a WebDAV library host for tests/cli/t*.sh (sourced, not a test).
#
# Usage (source it last: it installs the EXIT trap, which also does serve_common.sh's and
# common.sh's clean-up; a trap set after it must call nginx_stop itself):
#
#	ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
#	. "$ROOT/tests/lib/tap.sh"
#	serve_given_tmp=${TMP:-}            # required: tells the trap whether TMP is ours to remove
#	. "$ROOT/tests/cli/common.sh"
#	. "$ROOT/tests/cli/serve_common.sh"  # optional (curl check, http_is, hc, ...)
#	. "$ROOT/tests/lib/nginx.sh"
#	if ! have_nginx; then echo "skip - $(basename "$0"): no $NGINX_BIN (apt-get install nginx libnginx-mod-http-dav-ext)"; exit 0; fi
#	nginx_start "$TMP/nginx" || exit 1   # prints "not ok" and the error log when it fails
#	curl -sS -T library.json "$NGINX_URL/lib/library.json"    # lands in $NGINX_ROOT/lib/library.json
#	nginx_stop                           # optional: the EXIT trap stops it too; safe twice
#
# nginx_start DIR sets NGINX_URL (http://127.0.0.1:PORT, no trailing slash), NGINX_ROOT (DIR/root,
# served at /), NGINX_PID (the master), NGINX_PORT, NGINX_DIR, NGINX_ACCESS_LOG, NGINX_ERROR_LOG.
# Knobs, read by nginx_start: NGINX_LOCK_TIMEOUT (dav_ext lock lifetime, default 60s; whole
# seconds: "1s" at least, "500ms" and "0" are refused), NGINX_EXTRA_CONF (directives pasted into the
# server block, e.g. 'location /ro/ { limit_except GET { deny all; } }'), NGINX_BIN, NGINX_TLS (1:
# https only, with a certificate for 127.0.0.1 and localhost signed by a private CA made for the
# run; NGINX_URL is then https://127.0.0.1:PORT and NGINX_CA the CA's certificate file, which no
# client trusts unless told to: CURL_CA_BUNDLE=$NGINX_CA, or curl --cacert "$NGINX_CA").
# Test locations besides the WebDAV root: /private/... is the same WebDAV store behind HTTP basic
# auth (user $NGINX_USER, password $NGINX_PASSWORD; 401 otherwise); /error500/... answers 500;
# /garbage/... answers 200 with "<garbage that is not JSON>" as application/json. The access log (one line a request) records
# the status and the If, If-Match, If-None-Match and If-Modified-Since headers the client sent.
# dav_lock URL sets DAV_TOKEN ("<urn:xxxxxxxx>") and DAV_STATUS; dav_unlock URL TOKEN.
# Needs the Debian 12 packages nginx (/usr/sbin/nginx, with ngx_http_dav_module built in) and
# libnginx-mod-http-dav-ext (LOCK, UNLOCK, PROPFIND, OPTIONS; without it those are not configured
# and have_nginx_dav_ext fails), plus curl and python3 (a free port; /dev/urandom otherwise), and
# openssl for NGINX_TLS.
#
# What nginx 1.22.1 + dav-ext 3.0.0 (Debian 12) does, found with curl against this configuration:
# a) Conditional PUT: none. PUT ignores If-Match (a stale "deadbeef-8" and the current ETag both
#    give 204 and the file is replaced), If-None-Match: * (an existing file is replaced, 204) and
#    If-Unmodified-Since (a date in 2001 still gives 204). GET and HEAD do honour them: If-Match with
#    a stale ETag -> 412, If-None-Match with the current ETag -> 304, an old If-Unmodified-Since ->
#    412. ETag is strong, "<mtime hex>-<size hex>" of the file (ETag: "6b0222ed-8" for an 8-byte
#    file with mtime 0x6b0222ed), so two writes of the same size within one second have the same
#    ETag. A PUT's mtime is the request's Date header when it has a valid one (Date: Mon, 01 Jan 2001
#    00:00:00 GMT gives Last-Modified 2001 and ETag "3a4fc880-8"), else the time of the write.
#    PUT answers carry no ETag or Last-Modified.
# b) Locks (dav_ext_lock_zone zone=NAME:SIZE [timeout=T] in http, dav_ext_lock zone=NAME and
#    dav_ext_methods ... LOCK UNLOCK in the location). Only exclusive write locks; the LOCK body is
#    read and thrown away (no body at all works the same) and the Timeout header is ignored: every
#    lock lasts the zone's timeout (default 60 s; "timeout=0" and "500ms" are config errors, "1s"
#    is the least, there is no useful maximum - "100y" is accepted; zone size at least 32k).
#    LOCK on an existing file: 200, header "Lock-Token: <urn:3e917b4b>" (8 hex digits), body
#    text/xml <D:prop><D:lockdiscovery><D:activelock>... <D:depth>infinity</D:depth>
#    <D:timeout>Second-60</D:timeout><D:locktoken><D:href>urn:3e917b4b</D:href>... (Depth: 0 or
#    infinity, the default; Depth: 1 -> 400).
#    LOCK on a missing file whose directory exists: 201 Created and an EMPTY file is created (GET
#    then answers 200 with 0 bytes). LOCK in a missing directory: 409 Conflict - but the lock is
#    registered anyway, with a token nobody received, so PUT to that URL answers 423 until it expires.
#    While locked: PUT, DELETE, MKCOL, MOVE (source or Destination) without a token -> 423 (status
#    line "HTTP/1.1 423 " with no reason phrase, empty body), checked before the body is read; a
#    wrong token "If: (<urn:00000001>)" -> 412; the right one "If: (<urn:3e917b4b>)" or tagged
#    "If: <http://host/path> (<urn:3e917b4b>)" -> 201/204. Only that form counts: the token alone or
#    as a Lock-Token header -> 423. GET, HEAD and PROPFIND are not affected. The check is made once,
#    when the request starts: a slow PUT begun before someone's LOCK still lands (204) after the
#    LOCK succeeded, and a PUT begun with a token lands even if the lock was released and taken by
#    another client meanwhile - so a lock holder must finish its PUT well within the lock timeout.
#    A second LOCK without a token -> 423, with a wrong token -> 412; with the right token in If it
#    refreshes (200, same token, timeout restarted). DELETE or MOVE of the locked file with the token also drops the lock.
#    UNLOCK "Lock-Token: <urn:...>" -> 204 and the lock is gone; UNLOCK answers 204 for a wrong or
#    missing token as well, leaving the lock in place (a later PUT without token still gets 423).
#    A locker that dies leaves the lock until it expires: with timeout=3s, PUT without a token gets
#    423 at 2.5 s after the last LOCK/refresh and 204 at 4.5 s (expiry is whole seconds, so a lock
#    lasts between T and T+1 s). After expiry the old token is simply ignored (PUT with it -> 204,
#    not 412). Locks are advisory between cooperating clients: PROPFIND shows the lock token to
#    anyone in <D:lockdiscovery>. A lock on a directory (with infinity depth) covers its contents.
#    OPTIONS (any URL, even a missing one): 200, "DAV: 2" (just "2", not "1,2"; "1" without a
#    lock zone) and "Allow: GET,HEAD,PUT,DELETE,MKCOL,COPY,MOVE,PROPFIND,OPTIONS,LOCK,UNLOCK".
# c) PUT is atomic: the body goes to client_body_temp_path (DIR/tmp/body/0000000009) and is renamed
#    over the target only once complete (the error log of a failed one says: rename()
#    ".../tmp/body/0000000001" to ".../root/..." failed). A 20 MB PUT sent at 1 MB/s and killed
#    (kill -9 curl) after 2 s: GET during the upload and after the kill gives the old content, the
#    temp file is removed, the access log shows the PUT as 400 and the error log "client
#    prematurely closed connection".
#    MOVE with "Overwrite: F" onto an existing file -> 412 (MOVE over an existing file otherwise
#    204), the only create-if-absent nginx offers.
# d) PUT of a new file: 201 Created with "Location: http://127.0.0.1:PORT/lib/library.json" and
#    Content-Length: 0; replacing a file: 204 No Content. With create_full_put_path on, missing
#    parent directories are created (201); off, a missing parent gives 500 (error log: [crit]
#    rename() ... failed (2: No such file or directory)), not 409. PUT on an existing directory's
#    name: 409. An empty body and a chunked body both work. DELETE: 204, then 404.
# e) GET and HEAD send Last-Modified (e.g. "Sat, 21 Nov 2026 23:02:09 GMT") and ETag. If-Modified-
#    Since equal to Last-Modified -> 304 Not Modified (with Last-Modified and ETag, no body); any
#    other date, later ones included, -> 200, since nginx's default is "if_modified_since exact";
#    If-None-Match with the current ETag -> 304. A missing file -> 404 whatever the conditions.
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
NGINX_MODULES=${NGINX_MODULES:-/usr/lib/nginx/modules}
NGINX_PID=""
NGINX_URL=""
NGINX_ROOT=""
NGINX_DIR=""
NGINX_CA=""
NGINX_USER=tkvm-publisher
NGINX_PASSWORD=s3cret-pw

# have_nginx: nginx is installed (tests skip otherwise). have_nginx_dav_ext: so is the module for
# LOCK, UNLOCK, PROPFIND and OPTIONS.
have_nginx() {
	[ -x "$NGINX_BIN" ]
}
have_nginx_dav_ext() {
	[ -f "$NGINX_MODULES/ngx_http_dav_ext_module.so" ]
}

# nginx_exit: the EXIT trap: nginx, then `tkvm serve` servers (serve_common.sh), then TMP unless
# the caller gave it (serve_given_tmp non-empty, or not set at all).
nginx_exit() {
	nginx_stop
	command -v serve_stop_all >/dev/null 2>&1 && serve_stop_all
	if [ -n "${serve_given_tmp+set}" ] && [ -z "$serve_given_tmp" ] && [ -n "${TMP:-}" ]; then
		rm -rf "$TMP"
	fi
}
trap nginx_exit EXIT
trap 'exit 1' INT TERM

# nginx_port: a port free on 127.0.0.1 right now (the kernel's choice when python3 is there).
nginx_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
		echo $((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
}

# nginx_dav_directives: the WebDAV set-up of a location (/ and /private/).
nginx_dav_directives() {
	echo "			dav_methods PUT DELETE MKCOL COPY MOVE;"
	echo "			create_full_put_path on;"
	echo "			dav_access user:rw group:r all:r;"
	echo "			client_max_body_size 200m;"
	echo "			autoindex off;"
	if have_nginx_dav_ext; then
		echo "			dav_ext_methods PROPFIND OPTIONS LOCK UNLOCK;"
		echo "			dav_ext_lock zone=tkvm_locks;"
	fi
}

# nginx_conf DIR PORT: writes DIR/conf/nginx.conf, and DIR/conf/htpasswd for /private/.
nginx_conf() {
	nc_dir=$1 nc_port=$2
	echo "$NGINX_USER:{PLAIN}$NGINX_PASSWORD" >"$nc_dir/conf/htpasswd"
	{
		echo "# written by tests/lib/nginx.sh"
		echo "daemon off;"
		echo "master_process on;"
		echo "worker_processes 1;"
		echo "pid $nc_dir/logs/nginx.pid;"
		echo "error_log $nc_dir/logs/error.log info;"
		# As root, workers would run as nobody and could not write DIR/root (mktemp -d is 0700).
		[ "$(id -u)" = 0 ] && echo "user root;"
		have_nginx_dav_ext && echo "load_module $NGINX_MODULES/ngx_http_dav_ext_module.so;"
		cat <<EOF
events { worker_connections 256; }
http {
	log_format tkvm '\$remote_addr [\$time_local] "\$request" \$status \$body_bytes_sent '
		'if="\$http_if" if_match="\$http_if_match" if_none_match="\$http_if_none_match" '
		'ims="\$http_if_modified_since" ua="\$http_user_agent"';
	access_log $nc_dir/logs/access.log tkvm;
	client_body_temp_path $nc_dir/tmp/body;
	proxy_temp_path $nc_dir/tmp/proxy;
	fastcgi_temp_path $nc_dir/tmp/fastcgi;
	uwsgi_temp_path $nc_dir/tmp/uwsgi;
	scgi_temp_path $nc_dir/tmp/scgi;
	types { application/json json; text/plain txt; application/x-xz xz; application/gzip gz; }
	default_type application/octet-stream;
EOF
		have_nginx_dav_ext && echo "	dav_ext_lock_zone zone=tkvm_locks:1m timeout=${NGINX_LOCK_TIMEOUT:-60s};"
		cat <<EOF
	server {
		listen 127.0.0.1:$nc_port${NGINX_TLS:+ ssl};
		server_name localhost;
EOF
		if [ -n "${NGINX_TLS:-}" ]; then
			echo "		ssl_certificate $nc_dir/tls/server.pem;"
			echo "		ssl_certificate_key $nc_dir/tls/server.key;"
		fi
		cat <<EOF
		root $nc_dir/root;
		location / {
EOF
		nginx_dav_directives
		cat <<EOF
		}
		location /private/ {
			auth_basic "tkvm tests";
			auth_basic_user_file $nc_dir/conf/htpasswd;
EOF
		nginx_dav_directives
		cat <<EOF
		}
		location /error500/ { return 500; }
		location /garbage/ { default_type application/json; return 200 "<garbage that is not JSON>"; }
${NGINX_EXTRA_CONF:-}
	}
}
EOF
	} >"$nc_dir/conf/nginx.conf"
}

# nginx_tls DIR: a private CA (DIR/ca.pem) and a server certificate it signed for 127.0.0.1 and
# localhost (DIR/server.pem, DIR/server.key), valid for two days. openssl's output goes to DIR/log.
nginx_tls() {
	mkdir -p "$1" && (
		cd "$1" &&
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
				-subj '/CN=tkvm test CA' -keyout ca.key -out ca.pem &&
			openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
				-subj '/CN=127.0.0.1' -keyout server.key -out server.csr &&
			printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext &&
			openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
				-extfile server.ext -out server.pem
	) >"$1/log" 2>&1
}

# server_logs FILE...: the last 20 lines of each non-empty FILE, as TAP comments.
server_logs() {
	for sl_log in "$@"; do
		[ -s "$sl_log" ] && tail -n 20 "$sl_log" | sed "s|^|#   $(basename "$sl_log"): |"
	done
	return 0
}

# nginx_fail MESSAGE: a "not ok" line with nginx's logs; stops what is left of it.
nginx_fail() {
	echo "not ok - nginx_start: $1"
	tap_failed=1
	server_logs "$NGINX_DIR/logs/stderr.log" "$NGINX_DIR/logs/error.log"
	nginx_stop
	return 1
}

# nginx_start DIR: see the top of this file. Returns 1 after a "not ok" line when nginx does not
# answer within 10 s.
nginx_start() {
	nginx_stop
	mkdir -p "$1/root" "$1/conf" "$1/logs" "$1/tmp" || { echo "not ok - nginx_start: cannot create $1"; tap_failed=1; return 1; }
	NGINX_DIR=$(cd "$1" && pwd)
	NGINX_ROOT=$NGINX_DIR/root
	NGINX_ACCESS_LOG=$NGINX_DIR/logs/access.log
	NGINX_ERROR_LOG=$NGINX_DIR/logs/error.log
	if ! have_nginx; then
		echo "not ok - nginx_start: $NGINX_BIN is not installed (apt-get install nginx libnginx-mod-http-dav-ext)"
		tap_failed=1
		return 1
	fi
	NGINX_CA=""
	ns_scheme=http
	if [ -n "${NGINX_TLS:-}" ]; then
		if ! nginx_tls "$NGINX_DIR/tls"; then
			echo "not ok - nginx_start: openssl could not make the test certificates:"
			sed 's/^/#   /' "$NGINX_DIR/tls/log" | tail -n 10
			tap_failed=1
			return 1
		fi
		NGINX_CA=$NGINX_DIR/tls/ca.pem
		ns_scheme=https
	fi
	export NGINX_CA
	ns_try=0
	while :; do
		NGINX_PORT=$(nginx_port)
		NGINX_URL=$ns_scheme://127.0.0.1:$NGINX_PORT
		nginx_conf "$NGINX_DIR" "$NGINX_PORT"
		: >"$NGINX_ERROR_LOG"
		# -e: nginx writes to its compiled-in error log before it reads error_log.
		"$NGINX_BIN" -p "$NGINX_DIR/" -c "$NGINX_DIR/conf/nginx.conf" -e "$NGINX_ERROR_LOG" \
			</dev/null >"$NGINX_DIR/logs/stderr.log" 2>&1 &
		NGINX_PID=$!
		export NGINX_URL NGINX_ROOT NGINX_PID NGINX_PORT NGINX_DIR
		server_answers "$NGINX_PID" 500 ${NGINX_CA:+--cacert "$NGINX_CA"} "$NGINX_URL/error500/" && return 0
		ns_try=$((ns_try + 1))
		# Someone took the port between nginx_port and the bind: another one.
		if [ $ns_try -lt 5 ] && grep -q 'Address already in use' "$NGINX_ERROR_LOG" "$NGINX_DIR/logs/stderr.log" 2>/dev/null; then
			nginx_stop
			continue
		fi
		if kill -0 "$NGINX_PID" 2>/dev/null; then
			nginx_fail "nginx ($NGINX_PID) does not answer on $NGINX_URL after 10 s"
		else
			nginx_fail "nginx exited at start-up ($NGINX_DIR/conf/nginx.conf)"
		fi
		return 1
	done
}

# server_answers PID STATUS CURL-ARGS...: waits up to 10 s for curl CURL-ARGS to get STATUS from the
# server PID started; 1 when PID exits first or the time is up.
server_answers() {
	sa_pid=$1 sa_status=$2
	shift 2
	sa_i=0
	while [ $sa_i -lt 100 ]; do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" 2>/dev/null)" = "$sa_status" ] && return 0
		kill -0 "$sa_pid" 2>/dev/null || return 1
		sleep 0.1
		sa_i=$((sa_i + 1))
	done
	return 1
}

# nginx_stop: fast shutdown (TERM), KILL after 5 s, workers included. Safe when nothing runs.
nginx_stop() {
	[ -n "${NGINX_PID:-}" ] || return 0
	# The workers, in case the master has to be killed (they would outlive it).
	nx_workers=$(awk -v p="$NGINX_PID" '$4 == p { print $1 }' /proc/[0-9]*/stat 2>/dev/null)
	kill -TERM "$NGINX_PID" 2>/dev/null
	nx_i=0
	while kill -0 "$NGINX_PID" 2>/dev/null && [ $nx_i -lt 50 ]; do
		sleep 0.1
		nx_i=$((nx_i + 1))
	done
	if kill -0 "$NGINX_PID" 2>/dev/null; then
		echo "# nginx $NGINX_PID ignored SIGTERM for 5 s: killed"
		kill -KILL "$NGINX_PID" 2>/dev/null
	fi
	for nx_w in $nx_workers; do
		kill -KILL "$nx_w" 2>/dev/null
	done
	wait "$NGINX_PID" 2>/dev/null
	NGINX_PID=""
	return 0
}

# nginx_log_has ERE: some line of the access log matches, within 5 s (a line is written once the
# answer has gone out).
nginx_log_has() {
	nl_i=0
	while [ $nl_i -lt 50 ]; do
		grep -Eq -- "$1" "$NGINX_ACCESS_LOG" 2>/dev/null && return 0
		sleep 0.1
		nl_i=$((nl_i + 1))
	done
	echo "the nginx access log does not match /$1/:"; tail -n 10 "$NGINX_ACCESS_LOG"; return 1
}

# dav_lock URL [CURL ARGS...]: LOCK URL (an exclusive write lock, as a WebDAV client asks for it);
# sets DAV_STATUS and DAV_TOKEN ("<urn:xxxxxxxx>", empty when refused). Returns 0 on 200 or 201.
dav_lock() {
	dl_url=$1; shift
	DAV_TOKEN=""
	DAV_STATUS=$(printf '%s' '<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>tkvm tests</D:owner></D:lockinfo>' |
		curl -sS --max-time 20 -X LOCK -H 'Content-Type: application/xml; charset=utf-8' -H 'Timeout: Second-60' \
			--data-binary @- -D "$TMP/dav.headers" -o "$TMP/dav.body" -w '%{http_code}' "$@" "$dl_url")
	DAV_TOKEN=$(tr -d '\r' <"$TMP/dav.headers" | sed -n 's/^[Ll]ock-[Tt]oken: *//p' | tail -n 1)
	case $DAV_STATUS in 200|201) [ -n "$DAV_TOKEN" ] ;; *) return 1 ;; esac
}

# dav_unlock URL TOKEN: UNLOCK; prints the status (nginx answers 204 even for a wrong token).
dav_unlock() {
	curl -sS --max-time 20 -X UNLOCK -H "Lock-Token: $2" -o /dev/null -w '%{http_code}' "$1"
}
