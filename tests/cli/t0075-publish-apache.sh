#!/bin/sh
# t0075-publish-apache: tkvm publish against a real Apache httpd (mod_dav), the library host that
# honours If-Match on PUT (nginx does not). With locks (DAV class 2): LOCK, then PUT with the token.
# Where LOCK is forbidden: the conditional PUT alone (If-None-Match: * for a new library, If-Match
# with the ETag read), a 412 when someone wrote in between -> read again and retry, and Apache's
# weak ETags (a library changed within the last second) waited out instead of sent. The race is
# made to happen every time: TKVM_TEST_PUBLISH_HOOK writes the library between tkvm's read and
# its write. Two publishers at once never lose an entry.
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/cli/nginx_common.sh"
. "$ROOT/tests/lib/apache.sh"
if ! have_apache; then
	echo "skip - $(basename "$0"): not installed: apache2 (apt-get install apache2)"
	exit 0
fi
unset TKVM_TEST_PUBLISH_HOOK
apache_start "$TMP/apache" || exit 1
export TKVM_KEY_DIR="$TMP/keys"
"$TKVM" keygen -W >/dev/null || { echo "not ok - keygen"; exit 1; }
U=$APACHE_URL/programs
N=$APACHE_URL/nolock/programs

# What the tests below rely on, checked against this Apache.
printf '{}\n' >"$TMP/v1.json"
mkdir -p "$APACHE_ROOT/probe" && chown --reference="$APACHE_ROOT" "$APACHE_ROOT/probe"
check "Apache: a first PUT" http_is 201 '*' -T "$TMP/v1.json" "$APACHE_URL/probe/x.json"
check "... OPTIONS says DAV class 2" sh -c 'curl -s -i -X OPTIONS "$0/" | tr -d "\r" | grep -q "^DAV: 1,2$"' "$APACHE_URL"
check "... PUT with a stale If-Match: 412" http_is 412 '*' -H 'If-Match: "1-1"' -T "$TMP/v1.json" "$APACHE_URL/probe/x.json"
check "... PUT with If-None-Match: * on an existing file: 412" http_is 412 '*' -H 'If-None-Match: *' -T "$TMP/v1.json" "$APACHE_URL/probe/x.json"
check "... LOCK under /nolock/: 403" http_is 403 '*' -X LOCK --data '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>' "$APACHE_URL/nolock/x.json"

new_projects alpha beta
A=$TMP/projects/alpha
B=$TMP/projects/beta

# With locks.
cd "$A" || exit 1
tk publish -q "$U/"
check "publish to Apache (locks): exit 0" eval 'status_is 0 && out_has "^published alpha 0.1.0 to $U/library.json$"'
check "... the archive there is the packed one" cmp "$APACHE_ROOT/programs/alpha.tar.xz" "$A/build/alpha.tar.xz"
check "... it locked the library and wrote with the token" \
	grep -Eq '"PUT /programs/library.json HTTP/1.1" 201 .*if="\(<opaquelocktoken:[^>]+>\)"' "$APACHE_ACCESS_LOG"
cd "$B" || exit 1
tk publish -q "$U/"
check "publish another right after (the library's ETag still weak): exit 0 at once" \
	eval 'status_is 0 && ! grep -q "reading it again" "$TMP/tk.out"'
check "... both entries" valid_library "$APACHE_ROOT/programs/library.json" alpha beta

# Locks forbidden: the conditional PUT alone.
cd "$A" || exit 1
tk publish -q "$N/"
check "publish where LOCK is forbidden: exit 0" status_is 0
check "... a new library is written with If-None-Match: *" \
	grep -Eq '"PUT /nolock/programs/library.json HTTP/1.1" 201 .*if_none_match="\*"' "$APACHE_ACCESS_LOG"
cd "$B" || exit 1
tk publish -q "$N/"
check "publish another right after: exit 0" status_is 0
check "... it waited for the weak ETag to become strong, and said so" \
	out_has "changed within the last second \(weak ETag\) and the server has no lock for us: reading it again in a second"
check "... then wrote with If-Match and the strong ETag" \
	grep -Eq '"PUT /nolock/programs/library.json HTTP/1.1" 204 .*if_match="\\"[0-9a-f]+-[0-9a-f]+\\""' "$APACHE_ACCESS_LOG"
check "... both entries" valid_library "$APACHE_ROOT/nolock/programs/library.json" alpha beta

# The race, every time: someone writes the library between tkvm's read and its write (once).
cat >"$TMP/hook.sh" <<EOF
[ -e "$TMP/hooked" ] && exit 0
touch "$TMP/hooked"
curl -sS -o "$TMP/hook.json" "\$TKVM_LIBRARY_URL" &&
	sed -i '0,/{/s//{ "intruder": { "uri": "file:\/\/\/srv\/intruder" },/' "$TMP/hook.json" &&
	curl -sS -o /dev/null -w '%{http_code}' -T "$TMP/hook.json" "\$TKVM_LIBRARY_URL" >"$TMP/hook.status"
EOF
sleep 1.2 # strong ETags: the retry below is then the 412's, not the weak ETag's
sed -i 's/"max_request_time": 2/"max_request_time": 3/' "$B/tkvm.json"
rm -f "$TMP/hooked"
TKVM_TEST_PUBLISH_HOOK="sh $TMP/hook.sh" tk publish -q "$N/"
check "a write between tkvm's read and write (no locks): the intruder's PUT landed" grep -qx 204 "$TMP/hook.status"
check "... tkvm's conditional PUT got 412" \
	grep -Eq '"PUT /nolock/programs/library.json HTTP/1.1" 412 .*if_match="\\"' "$APACHE_ACCESS_LOG"
check "... it read again and published: exit 0" \
	eval 'status_is 0 && out_has "changed while we wrote it: reading it again \(attempt 2\)"'
check "... nothing lost: the intruder, alpha and beta (new settings)" python3 - "$APACHE_ROOT/nolock/programs/library.json" <<'PY'
import json, sys
lib = json.load(open(sys.argv[1]))
assert set(lib) >= {"intruder", "alpha", "beta"}, list(lib)
assert lib["beta"]["max_request_time"] == 3, lib["beta"]
PY

rm -f "$TMP/hooked"
sed -i 's/"max_request_time": 3/"max_request_time": 4/' "$B/tkvm.json"
TKVM_TEST_PUBLISH_HOOK="sh $TMP/hook.sh" tk publish -q "$U/"
check "the same race with locks: the intruder is refused while tkvm holds the lock (423)" grep -qx 423 "$TMP/hook.status"
check "... tkvm published at once: exit 0" eval 'status_is 0 && ! grep -q "reading it again" "$TMP/tk.out"'
check "... with its new settings" grep -q '"max_request_time": 4' "$APACHE_ROOT/programs/library.json"

# Two publishers at once, twice, where only the conditional PUT protects them.
sleep 1.2
for round in 1 2; do
	publish_pair "$N/" "p$round"
	sed -i "s/\"max_request_time\": [0-9]*/\"max_request_time\": $((round + 4))/" "$A/tkvm.json" "$B/tkvm.json"
done
check "two publishers at once without locks: every run exit 0" \
	sh -c '[ "$(cat "$0"/p[12][ab].rc | grep -cx 0)" = 4 ] || { cat "$0"/p[12][ab].out; exit 1; }' "$TMP"
check "... every entry still there" valid_library "$APACHE_ROOT/nolock/programs/library.json" intruder alpha beta
exit $tap_failed
