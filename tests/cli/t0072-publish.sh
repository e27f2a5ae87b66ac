#!/bin/sh
# t0072-publish: tkvm publish against a real nginx (WebDAV PUT + dav_ext locks) on loopback and
# against a directory: archive and signature uploaded, the library's other members, groups and
# comments kept byte for byte, --dry-run changing nothing, two publishers at once never losing an
# entry, a publisher killed with -9 in the middle of the library's upload leaving the old library
# or the new one (never a torn one), and clear errors from a server answering 500 or not at all.
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/cli/nginx_common.sh"
nginx_require dav_ext
NGINX_LOCK_TIMEOUT=4s
nginx_start "$TMP/nginx" || exit 1
export TKVM_KEY_DIR="$TMP/keys"
"$TKVM" keygen -W >/dev/null || { echo "not ok - keygen"; exit 1; }
U=$NGINX_URL/programs
LIB=$NGINX_ROOT/programs/library.json

new_projects alpha beta
A=$TMP/projects/alpha
B=$TMP/projects/beta

# A library already on the server, written by people.
mkdir -p "$NGINX_ROOT/programs"
cat >"$LIB" <<'JSON'
{
  // production groups: keep these comments
  "compute": { "concurrency": 2, "max_request_time": 6.0 },
  "other": { "group": "compute", "uri": "https://example.com/other.tar.xz" } /* theirs */
}
JSON
cp "$LIB" "$TMP/library.before"

cd "$A" || exit 1
tk publish "$U/"
check "publish to nginx: exit 0" status_is 0
check "... says what it did" eval 'out_has "^uploaded $U/alpha.tar.xz \([0-9]+ bytes\)$" && out_has "^uploaded $U/alpha.tar.xz.minisig" && out_has "^published alpha 0.1.0 to $U/library.json$"'
check "... the archive on the server is the packed one" cmp "$NGINX_ROOT/programs/alpha.tar.xz" "$A/build/alpha.tar.xz"
check "... its signature verifies there" "$TKVM" verify --name alpha "$NGINX_ROOT/programs/alpha.tar.xz"
check "... the library keeps its members byte for byte (a comma added after the last)" sh -c \
	'[ "$(head -3 "$0")" = "$(head -3 "$1")" ] && sed -n 4p "$0" | grep -qxF "  \"other\": { \"group\": \"compute\", \"uri\": \"https://example.com/other.tar.xz\" }, /* theirs */"' "$LIB" "$TMP/library.before"
check "... comments kept" sh -c 'grep -q "keep these comments" "$0" && grep -q "/\* theirs \*/" "$0"' "$LIB"
check "... the new entry: uri, filename, sha256 of the ELF, settings" python3 - "$LIB" "$U/alpha.tar.xz" "$(sha256sum "$A/build/alpha" | cut -d' ' -f1)" <<'PY'
import json, re, sys
lib = json.loads(re.sub(r'^\s*//.*$|/\*.*?\*/', '', open(sys.argv[1]).read(), flags=re.M))
e = lib["alpha"]
assert e["uri"] == sys.argv[2], e
assert e["filename"] == "/var/cache/tkvm/alpha", e
assert e["sha256"] == sys.argv[3], e
assert e["max_request_time"] == 2, e
assert lib["other"] == {"group": "compute", "uri": "https://example.com/other.tar.xz"}, lib["other"]
PY
check "... it took a WebDAV lock and wrote with its token" sh -c 'nginx_log_has "\"LOCK /programs/library.json" 2>/dev/null || grep -q "\"LOCK /programs/library.json" "$0"' "$NGINX_ACCESS_LOG"

# --dry-run
cp "$LIB" "$TMP/library.published"
sed -i 's/"max_request_time": 2/"max_request_time": 3/' "$A/tkvm.json"
tk publish --dry-run "$U/"
check "--dry-run: exit 0, shows the change" eval 'status_is 0 && out_has "would replace \"alpha\"" && out_has "^  -    \"max_request_time\": 2,?$" && out_has "^  \+    \"max_request_time\": 3,?$"'
check "... and changes nothing on the server" cmp "$LIB" "$TMP/library.published"
tk publish "$U/"
check "publish again: the entry replaced in place" eval 'status_is 0 && grep -q "\"max_request_time\": 3" "$LIB" && [ "$(grep -c "\"alpha\"" "$LIB")" = 1 ]'
tk publish "$U/"
check "publishing the same again reuses the signature (no key needed)" eval 'status_is 0 && out_has "^published alpha"'

# Two publishers at once, three times each: every entry survives.
for round in 1 2 3; do
	publish_pair "$U/" "p$round"
done
check "two publishers at once: every run exit 0" sh -c '[ "$(cat "$0"/p[123][ab].rc | grep -cx 0)" = 6 ] || { cat "$0"/p[123][ab].out; exit 1; }' "$TMP"
check "... both entries and the others present" valid_library "$LIB" alpha beta other compute
check "... comments still there" grep -q "keep these comments" "$LIB"

# A directory (file://), two publishers at once.
mkdir -p "$TMP/dir"
for round in 1 2; do
	publish_pair "file://$TMP/dir/" "f$round"
done
check "file://: two publishers at once, both exit 0" sh -c '[ "$(cat "$0"/f[12][ab].rc | grep -cx 0)" = 4 ] || { cat "$0"/f[12][ab].out; exit 1; }' "$TMP"
check "... both entries present" valid_library "$TMP/dir/library.json" alpha beta
check "... archive, signature, nothing half-written left" sh -c 'cd "$0" && ls | sort | tr "\n" " " | grep -qx "alpha.tar.xz alpha.tar.xz.minisig beta.tar.xz beta.tar.xz.minisig library.json library.json.lock "' "$TMP/dir"
tk publish "file://$TMP/no-such-dir/"
check "file:// to a missing directory: exit 1" eval 'status_is 1 && err_has "no such directory"'

# kill -9 in the middle of the library's upload: a big library, a slow upload.
python3 - "$LIB" <<'PY'
import json, re, sys
path = sys.argv[1]
text = open(path).read().rstrip()
pad = ",\n".join('  "pad%04d": { "uri": "https://example.com/%s.tar.xz" }' % (i, "x" * 200) for i in range(1500))
open(path, "w").write(text[:-1].rstrip() + ",\n" + pad + "\n}\n")
PY
cp "$LIB" "$TMP/library.old"
size=$(stat -c %s "$LIB")
: >"$NGINX_ACCESS_LOG.mark"
lines_before=$(wc -l <"$NGINX_ACCESS_LOG")
sed -i 's/"max_request_time": 3/"max_request_time": 4/' "$A/tkvm.json"
(cd "$A" && exec "$TKVM" publish -q --limit-rate 100k "$U/" >"$TMP/killed.out" 2>&1) &
victim=$!
# Wait for its LOCK (the archive is up, the library comes next), then for the PUT to be under way.
i=0
while [ $i -lt 200 ] && ! tail -n +$((lines_before + 1)) "$NGINX_ACCESS_LOG" | grep -q '"LOCK /programs/library.json'; do
	sleep 0.1; i=$((i + 1))
done
sleep 1
kill -9 $victim 2>/dev/null
wait $victim 2>/dev/null
check "kill -9 mid-upload: the library ($size bytes) was being uploaded" test $i -lt 200
check "... the library is the old one, whole" cmp "$LIB" "$TMP/library.old"
tk publish -q "$U/"
check "... the next publisher waits out the dead one's lock and succeeds" eval 'status_is 0 && grep -q "\"max_request_time\": 4" "$LIB"'
check "... and keeps every other entry" valid_library "$LIB" alpha beta other compute pad0000 pad1499

# On a terminal (script(1) gives the command one): a progress bar on stderr, redrawn in place.
# The archive (~270 KB) at 100 kB/s takes ~3 s, and curl reports progress at least once a second.
if command -v script >/dev/null; then
	sed -i 's/"max_request_time": 4/"max_request_time": 5/' "$A/tkvm.json"
	(cd "$A" && script -qec "'$TKVM' publish --limit-rate 100k '$U/'" /dev/null) </dev/null >"$TMP/tty.out" 2>&1
	check "on a terminal: publish exits 0" test $? = 0
	check "... the progress bar reaches 100% on a line of its own" \
		sh -c 'tr "\r" "\n" <"$0" | grep -Eq "^  uploading alpha\.tar\.xz \[#{30}\] 100% [0-9.]+/[0-9.]+ KiB"' "$TMP/tty.out"
	check "... and is redrawn as the upload goes (at least 3 steps, each on the same line)" \
		sh -c '[ "$(tr "\r" "\n" <"$0" | grep -Ec "^  uploading alpha\.tar\.xz \[[# ]{30}\] +[0-9]+%")" -ge 3 ] &&
			[ "$(grep -c "uploading alpha" "$0")" = 1 ]' "$TMP/tty.out"
	check "... then says what it did" grep -q "^published alpha 0.1.0 to $U/library.json" "$TMP/tty.out"
	check "... the library has the new settings" grep -q '"max_request_time": 5' "$LIB"
	check "not on a terminal: no progress bar" sh -c '! grep -q "uploading" "$0"' "$TMP/tk.err"
fi

# A host behind HTTP basic auth: the login comes from ~/.netrc, never from the command line.
P=$NGINX_URL/private/programs
HOME=$TMP/home-none tk publish -q "$P/"
check "a host that wants a login, none in ~/.netrc: exit 1" status_is 1
check "... 401, and where tkvm takes logins from" \
	err_has "^error: PUT $P/alpha\.tar\.xz: 401 Unauthorized \(tkvm logs in with this host's entry in ~/\.netrc"
check "... nothing stored" test ! -e "$NGINX_ROOT/private/programs/alpha.tar.xz"
mkdir -p "$TMP/home-bad" "$TMP/home"
printf 'machine 127.0.0.1 login %s password wrong\n' "$NGINX_USER" >"$TMP/home-bad/.netrc"
HOME=$TMP/home-bad tk publish -q "$P/"
check "a wrong password in ~/.netrc: exit 1, 401" eval 'status_is 1 && err_has "401 Unauthorized"'
printf 'machine 127.0.0.1\n  login %s\n  password %s\n' "$NGINX_USER" "$NGINX_PASSWORD" >"$TMP/home/.netrc"
chmod 600 "$TMP/home/.netrc"
HOME=$TMP/home tk publish -q "$P/"
check "the login in ~/.netrc: published" eval 'status_is 0 && out_has "^published alpha 0.1.0 to $P/library.json$"'
check "... archive and library stored behind the login" \
	eval 'cmp -s "$NGINX_ROOT/private/programs/alpha.tar.xz" "$A/build/alpha.tar.xz" && valid_library "$NGINX_ROOT/private/programs/library.json" alpha'
HOME=$TMP/home tk run --cache "$TMP/private-cache" --library "$P/library.json" alpha GET /netrc
check "run --library from behind the login: answers" eval 'status_is 0 && out_has "^Hello from alpha! You asked for /netrc$"'
HOME=$TMP/home-none tk run --cache "$TMP/private-cache2" --library "$P/library.json" alpha GET /
check "... without the login: exit 1, 401 for the library" \
	eval 'status_is 1 && err_has "GET $P/library\.json: 401 Unauthorized \(tkvm logs in"'

# Servers that fail.
tk publish "$NGINX_URL/error500/"
check "a server answering 500: exit 1 naming the URL and status" eval 'status_is 1 && err_has "PUT $NGINX_URL/error500/alpha.tar.xz: 500 Internal Server Error"'
tk publish "http://127.0.0.1:1/programs/"
check "no server: exit 1, curl's reason" eval 'status_is 1 && err_has "127.0.0.1:1/programs/alpha.tar.xz: (Couldn.t connect|Could not connect)"'
tk publish "ftp://example.com/"
check "an ftp:// URL: usage error" status_is 2
TKVM_KEY_DIR="$TMP/nokeys" tk publish "file://$TMP/dir/"
check "no key to sign with: exit 1 with hints" eval 'status_is 1 && err_has "tkvm keygen" && err_has "--no-sign"'
TKVM_KEY_DIR="$TMP/nokeys" tk publish --no-sign "file://$TMP/dir/"
check "--no-sign: published unsigned" eval 'status_is 0 && out_has "\(unsigned\)$"'
exit $tap_failed
