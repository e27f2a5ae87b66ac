#!/bin/sh
# t0073-library-load: tkvm serve --library URL and tkvm run --library load a library from a real
# nginx the way production does: archives fetched into the cache, 304 keeping it on the next
# start, sha256 checked, signatures enforced where the library lists trusted keys; a tampered
# archive, another key, a missing signature, a 404, a 500, garbage, a wrong hash and a program
# with nowhere to come from are each reported with the program's name and cause while the other
# programs load. Hand-made `tar -cJf` archives and raw ELFs load too. Broken libraries (404,
# 500, garbage, trailing commas) stop the server with a clear error.
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/cli/nginx_common.sh"
nginx_require
export XDG_CACHE_HOME="$TMP/xdg-cache"
nginx_start "$TMP/nginx" || exit 1
G=$GUESTS/glibc
M=$GUESTS/musl
export TKVM_KEY_DIR="$TMP/keys"
"$TKVM" keygen -W >/dev/null && "$TKVM" keygen -W -s "$TMP/other.key" -p "$TMP/other.pub" >/dev/null ||
	{ echo "not ok - keygen"; exit 1; }
PUB=$(sed -n 2p "$TMP/keys/tkvm.pub")
S=$NGINX_ROOT/lib
U=$NGINX_URL/lib
mkdir -p "$S" "$TMP/work"
cd "$TMP/work" || exit 1

# Archives on the server: ours (signed), one made by hand with tar (signed), a raw ELF, one with a
# flipped bit, one signed by another key, one with no signature.
cp "$G/hello" hello && "$TKVM" pack -o "$S/hello.tar.xz" ./hello >/dev/null && "$TKVM" sign "$S/hello.tar.xz" >/dev/null
mkdir -p byhand/bin && cp "$M/echo" byhand/bin/echo && printf 'notes\n' >byhand/README &&
	(cd byhand && tar -cJf "$S/byhand.tar.xz" ./bin ./README) && "$TKVM" sign --name byhand "$S/byhand.tar.xz" >/dev/null 2>&1
cp "$M/hello" "$S/raw"
cp "$S/hello.tar.xz" "$S/tampered.tar.xz" && cp "$S/hello.tar.xz.minisig" "$S/tampered.tar.xz.minisig"
size=$(stat -c %s "$S/tampered.tar.xz")
printf "$(printf '\\%03o' $(( $(od -An -tu1 -j $((size / 3)) -N1 "$S/tampered.tar.xz") ^ 16 )))" |
	dd of="$S/tampered.tar.xz" bs=1 seek=$((size / 3)) conv=notrunc 2>/dev/null
cp "$S/hello.tar.xz" "$S/wrongkey.tar.xz" && "$TKVM" sign -s "$TMP/other.key" --name wrongkey "$S/wrongkey.tar.xz" >/dev/null
cp "$S/hello.tar.xz" "$S/unsigned.tar.xz"
cp "$S/hello.tar.xz" "$S/renamed.tar.xz" && cp "$S/hello.tar.xz.minisig" "$S/renamed.tar.xz.minisig"
check "the archives are on the server" test -s "$S/byhand.tar.xz.minisig"

cat >"$S/library.json" <<JSON
{
  // signed programs only
  "signed": { "trusted_keys": ["$PUB"], "max_request_time": 2, "colour": "blue" },
  "hello": { "group": "signed", "uri": "$U/hello.tar.xz" },
  "byhand": { "group": "signed", "uri": "$U/byhand.tar.xz" },
  "raw": { "uri": "$U/raw" },
  "tampered": { "group": "signed", "uri": "$U/tampered.tar.xz" },
  "wrongkey": { "group": "signed", "uri": "$U/wrongkey.tar.xz" },
  "unsigned": { "group": "signed", "uri": "$U/unsigned.tar.xz" },
  "renamed": { "group": "signed", "uri": "$U/renamed.tar.xz" },
  "missing": { "uri": "$U/nothere.tar.xz" },
  "failing": { "uri": "$NGINX_URL/error500/x.tar.xz" },
  "garbled": { "uri": "$NGINX_URL/garbage/x.tar.xz" },
  "badhash": { "uri": "$U/raw", "sha256": "0000000000000000000000000000000000000000000000000000000000000000" },
  "nowhere": { "group": "signed" /* neither uri nor filename */ }
}
JSON

serve_start lib --cache "$TMP/cache" --library "$U/library.json"
check "serve --library URL: starts with what loads" grep -Eq "^tkvm: serving 3 programs of $U/library.json on " "$SERVE_OUT"
check "... hello fetched, signature checked" grep -Eq "^tkvm: hello: fetched $U/hello.tar.xz \([0-9]+ bytes\), signature by key [0-9A-F]{16}$" "$SERVE_ERR"
check "... a hand-made tar -cJf archive (./ prefixes, a directory, a README)" grep -Eq "^tkvm: byhand: fetched .*signature by key" "$SERVE_ERR"
check "... ... its README skipped with a warning" grep -Eq "^warning: byhand: .*README" "$SERVE_ERR"
check "... a raw ELF" grep -Eq "^tkvm: raw: fetched $U/raw \([0-9]+ bytes, a raw ELF\)$" "$SERVE_ERR"
check "... one flipped bit: refused" grep -Eq "^warning: tampered: $U/tampered.tar.xz.minisig: signature does not match.*\(not served\)$" "$SERVE_ERR"
check "... another key: refused naming the keys" grep -Eq "^warning: wrongkey: .*signed by key [0-9A-F]{16}, which is not a trusted key \(trusted: [0-9A-F]{16}\) \(not served\)$" "$SERVE_ERR"
check "... no signature: refused" grep -Eq "^warning: unsigned: $U/unsigned.tar.xz.minisig: missing \(the library lists trusted keys.*\(not served\)$" "$SERVE_ERR"
check "... a signature for another program: refused" grep -Eq "^warning: renamed: .*signed for program \"hello\", not \"renamed\" \(not served\)$" "$SERVE_ERR"
check "... a 404: refused" grep -Eq "^warning: missing: GET $U/nothere.tar.xz: 404 Not Found \(not served\)$" "$SERVE_ERR"
check "... a 500: refused" grep -Eq "^warning: failing: GET $NGINX_URL/error500/x.tar.xz: 500 Internal Server Error \(not served\)$" "$SERVE_ERR"
check "... garbage: refused" grep -Eq "^warning: garbled: .*not a tar.xz archive or an ELF.*\(not served\)$" "$SERVE_ERR"
check "... a wrong sha256: refused" grep -Eq "^warning: badhash: .*sha256 of the program is [0-9a-f]{64}, the library says 0{64} \(not served\)$" "$SERVE_ERR"
check "... no uri or filename: refused with its line" grep -Eq "^warning: .*:15: .*nowhere.*neither \"uri\" nor \"filename\"" "$SERVE_ERR"
check "... an unknown key: a warning with its line" grep -Eq "^warning: .*:3: .*colour" "$SERVE_ERR"
check "hello answers" sh -c 'curl -sS --max-time 20 "$0" | grep -q "^Hello from"' "${URL}hello/"
check "... byhand (musl echo from the hand-made archive) answers" sh -c 'curl -sS --max-time 20 -d ping "$0" | grep -q ping' "${URL}byhand/"
check "... raw answers" sh -c 'curl -sS --max-time 20 "$0" | grep -q .' "${URL}raw/"
check "... a refused program is not served (404)" sh -c '[ "$(curl -s -o /dev/null -w %{http_code} "$0")" = 404 ]' "${URL}tampered/"
check "... the cache holds the ELF, not the archive" sh -c 'cmp "$0/hello" "$1"' "$TMP/cache" "$G/hello"
serve_stop
check "server stops" true

# Second start: If-Modified-Since, 304 keeps the cache.
lines_before=$(wc -l <"$NGINX_ACCESS_LOG")
serve_start lib2 --cache "$TMP/cache" --library "$U/library.json"
check "restart: hello kept from the cache (304)" grep -Eq "^tkvm: hello: cached $TMP/cache/hello \(304 Not Modified\), signature by key" "$SERVE_ERR"
check "... nginx answered 304 to If-Modified-Since" sh -c 'tail -n +$(($0 + 1)) "$1" | grep -q "\"GET /lib/hello.tar.xz HTTP/1.1\" 304"' "$lines_before" "$NGINX_ACCESS_LOG"
serve_stop

# A new version on the server is fetched; a tampered cache is fetched again.
"$TKVM" pack -o "$S/hello.tar.xz" "$M/hello" --name hello >/dev/null && "$TKVM" sign "$S/hello.tar.xz" >/dev/null
touch -d '2030-01-01' "$S/hello.tar.xz"
serve_start lib3 --cache "$TMP/cache" --library "$U/library.json"
check "a new version on the server: fetched" grep -Eq "^tkvm: hello: fetched $U/hello.tar.xz" "$SERVE_ERR"
check "... the cache holds the new ELF" cmp "$TMP/cache/hello" "$M/hello"
serve_stop
printf 'X' | dd of="$TMP/cache/hello" bs=1 seek=100 conv=notrunc 2>/dev/null
serve_start lib4 --cache "$TMP/cache" --library "$U/library.json"
check "an altered cached ELF: fetched again, not trusted" grep -Eq "^tkvm: hello: fetched $U/hello.tar.xz" "$SERVE_ERR"
check "... and repaired" cmp "$TMP/cache/hello" "$M/hello"
serve_stop

# --trusted-key on the command line: programs of the test group must be signed too.
serve_start lib5 --cache "$TMP/cache" --trusted-key "$TMP/other.pub" --library "$U/library.json"
check "--trusted-key: the raw ELF (unsigned) refused now" grep -Eq "^warning: raw: $U/raw.minisig: missing" "$SERVE_ERR"
check "... wrongkey (signed by that key) loads" grep -Eq "^tkvm: wrongkey: fetched" "$SERVE_ERR"
serve_stop

# tkvm run --library
tk run --cache "$TMP/cache" --library "$U/library.json" hello GET /x
check "run --library URL NAME: answers" eval 'status_is 0 && out_has "Hello"'
tk run --cache "$TMP/cache" --library "$U/library.json" tampered GET /
check "run --library with a tampered program: exit 1 with the cause" eval 'status_is 1 && err_has "^error: tampered: .*signature does not match"'
tk run --library "$U/library.json" nosuch GET /
check "run --library with an unknown name: exit 2 listing the programs" eval 'status_is 2 && err_has "no program named \"nosuch\"" && err_has "hello, byhand, raw"'
cp "$S/library.json" "$TMP/local.json"
tk run --cache "$TMP/cache2" --library "file://$TMP/local.json" raw GET /
check "run --library file://: answers" status_is 0

# Broken libraries: a clear error, exit 1.
tk serve --listen 127.0.0.1:0 --library "$U/nope.json"
check "a 404 library: exit 1" eval 'status_is 1 && err_has "^error: library GET $U/nope.json: 404 Not Found$"'
tk serve --listen 127.0.0.1:0 --library "$NGINX_URL/error500/library.json"
check "a library answering 500: exit 1" eval 'status_is 1 && err_has "500 Internal Server Error"'
tk serve --listen 127.0.0.1:0 --library "$NGINX_URL/garbage/library.json"
check "a garbage library: exit 1 with the place" eval 'status_is 1 && err_has "garbage/library.json:1:1: invalid JSON"'
printf '{ "raw": { "uri": "%s/raw", }, }\n' "$U" >"$S/commas.json"
tk serve --listen 127.0.0.1:0 --library "$U/commas.json"
check "trailing commas: exit 1 naming them" eval 'status_is 1 && err_has "commas.json:1:[0-9]+: .*trailing comma"'
tk serve --listen 127.0.0.1:0 --library "http://127.0.0.1:1/library.json"
check "no server: exit 1 with curl's reason" eval 'status_is 1 && err_has "127.0.0.1:1/library.json: Couldn.t connect"'
exit $tap_failed
