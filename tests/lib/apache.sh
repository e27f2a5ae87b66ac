# A real Apache httpd (mod_dav + mod_dav_fs) on loopback as a second WebDAV library host for
# tests/cli/t*.sh (sourced, not a test). nginx (tests/lib/nginx.sh) ignores If-Match on PUT;
# Apache honours it, which is the path tkvm's conditional PUT and its 412 retries take.
#
#	. "$ROOT/tests/cli/nginx_common.sh"   # TAP, tkvm helpers and the EXIT trap (nginx_exit)
#	. "$ROOT/tests/lib/apache.sh"         # after it: apache_stop joins the trap
#	have_apache || { echo "skip - ..."; exit 0; }
#	apache_start "$TMP/apache" || exit 1
#
# apache_start DIR sets APACHE_URL (http://127.0.0.1:PORT), APACHE_ROOT (DIR/root, served at /),
# APACHE_ACCESS_LOG, APACHE_ERROR_LOG, APACHE_PID. Locations: / is WebDAV class 1 and 2 (locks in
# DIR/lock/DavLock); /nolock/... is the same store where LOCK and UNLOCK are forbidden (403), so
# a client can only protect its writes with If-Match. The access log records each request's
# status and its If-Match, If-None-Match and If headers.
# As root, Apache's children run as www-data: DIR/root and DIR/lock are given to it, and DIR and
# its parent made traversable (o+x).
#
# What Apache 2.4 (Debian 12) does, found with curl against this configuration: OPTIONS says
# "DAV: 1,2" everywhere (even where LOCK is then forbidden). PUT honours If-Match (a stale ETag
# -> 412) and If-None-Match: * (an existing file -> 412). ETags are "size-mtime(us)" in hex, and
# WEAK (W/"...") while the file's mtime is less than a second old: If-Match compares strongly, so
# a weak ETag never matches (412) until the second has passed. Without a DavLockDB, every PUT
# fails with 500 ("Failed to query lock-null status").
APACHE_BIN=${APACHE_BIN:-/usr/sbin/apache2}
APACHE_MODULES=${APACHE_MODULES:-/usr/lib/apache2/modules}
APACHE_PID=""
APACHE_URL=""

have_apache() {
	[ -x "$APACHE_BIN" ] && [ -f "$APACHE_MODULES/mod_dav_fs.so" ] && [ -f "$APACHE_MODULES/mod_mpm_event.so" ]
}

# The EXIT trap: Apache, then what nginx_exit does.
apache_exit() {
	apache_stop
	nginx_exit
}
trap apache_exit EXIT

# apache_conf DIR PORT: writes DIR/conf/httpd.conf.
apache_conf() {
	ac_dir=$1 ac_port=$2
	{
		cat <<EOF
# written by tests/lib/apache.sh
ServerRoot $ac_dir
ServerName 127.0.0.1
Listen 127.0.0.1:$ac_port
PidFile $ac_dir/logs/httpd.pid
DefaultRuntimeDir $ac_dir/run
ErrorLog $ac_dir/logs/error.log
LogLevel info
LoadModule mpm_event_module $APACHE_MODULES/mod_mpm_event.so
LoadModule authz_core_module $APACHE_MODULES/mod_authz_core.so
LoadModule dav_module $APACHE_MODULES/mod_dav.so
LoadModule dav_fs_module $APACHE_MODULES/mod_dav_fs.so
StartServers 1
ServerLimit 2
ThreadsPerChild 16
MaxRequestWorkers 32
EOF
		[ "$(id -u)" = 0 ] && printf 'User www-data\nGroup www-data\n'
		cat <<EOF
DocumentRoot $ac_dir/root
DavLockDB $ac_dir/lock/DavLock
LogFormat "%h [%t] \"%r\" %>s if_match=\"%{If-Match}i\" if_none_match=\"%{If-None-Match}i\" if=\"%{If}i\"" tkvm
CustomLog $ac_dir/logs/access.log tkvm
<Directory $ac_dir/root>
	Dav On
	Require all granted
</Directory>
<Location /nolock/>
	<Limit LOCK UNLOCK>
		Require all denied
	</Limit>
</Location>
EOF
	} >"$ac_dir/conf/httpd.conf"
}

# apache_start DIR: see the top. Returns 1 after a "not ok" line when Apache does not answer.
apache_start() {
	apache_stop
	mkdir -p "$1/root" "$1/conf" "$1/logs" "$1/lock" "$1/run" ||
		{ echo "not ok - apache_start: cannot create $1"; tap_failed=1; return 1; }
	APACHE_DIR=$(cd "$1" && pwd)
	APACHE_ROOT=$APACHE_DIR/root
	APACHE_ACCESS_LOG=$APACHE_DIR/logs/access.log
	APACHE_ERROR_LOG=$APACHE_DIR/logs/error.log
	if [ "$(id -u)" = 0 ]; then
		chmod o+x "$APACHE_DIR" "$(dirname "$APACHE_DIR")" && chown -R www-data:www-data "$APACHE_ROOT" "$APACHE_DIR/lock" ||
			{ echo "not ok - apache_start: cannot give $APACHE_ROOT to www-data"; tap_failed=1; return 1; }
	fi
	as_try=0
	while :; do
		as_port=$(nginx_port)
		APACHE_URL=http://127.0.0.1:$as_port
		apache_conf "$APACHE_DIR" "$as_port"
		: >"$APACHE_ERROR_LOG"
		"$APACHE_BIN" -f "$APACHE_DIR/conf/httpd.conf" -DFOREGROUND </dev/null >"$APACHE_DIR/logs/stderr.log" 2>&1 &
		APACHE_PID=$!
		export APACHE_URL APACHE_ROOT APACHE_PID
		server_answers "$APACHE_PID" 200 -X OPTIONS "$APACHE_URL/" && return 0
		as_try=$((as_try + 1))
		if [ $as_try -lt 5 ] && grep -q 'Address already in use' "$APACHE_ERROR_LOG" "$APACHE_DIR/logs/stderr.log" 2>/dev/null; then
			apache_stop
			continue
		fi
		echo "not ok - apache_start: Apache does not answer on $APACHE_URL"
		tap_failed=1
		server_logs "$APACHE_DIR/logs/stderr.log" "$APACHE_ERROR_LOG"
		apache_stop
		return 1
	done
}

# apache_stop: graceful-less stop (TERM), KILL after 5 s. Safe when nothing runs.
apache_stop() {
	[ -n "${APACHE_PID:-}" ] || return 0
	kill -TERM "$APACHE_PID" 2>/dev/null
	ap_i=0
	while kill -0 "$APACHE_PID" 2>/dev/null && [ $ap_i -lt 50 ]; do
		sleep 0.1
		ap_i=$((ap_i + 1))
	done
	kill -KILL "$APACHE_PID" 2>/dev/null
	wait "$APACHE_PID" 2>/dev/null
	APACHE_PID=""
	return 0
}
