#!/bin/sh
# bench/shipping.sh: wall time of the shipping commands (issue 5) on this machine, each the best
# and the median of N runs (default 5): pack, sign, verify, and tkvm run --library from a real
# nginx on loopback (tests/lib/nginx.sh) over http and https, fetched into an empty cache and with
# the cache kept (If-Modified-Since -> 304), signatures checked, next to running the local ELF. Needs nginx,
# libnginx-mod-http-dav-ext and openssl (make deps installs them).
# Usage: sh bench/shipping.sh [N]    (from the repository, after make)
N=${1:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TKVM=$ROOT/build/tkvm
TMP=$(mktemp -d)
serve_given_tmp=""
. "$ROOT/tests/lib/tap.sh"
. "$ROOT/tests/lib/nginx.sh"
[ -x "$TKVM" ] || { echo "bench/shipping.sh: build tkvm first (make)"; exit 1; }
have_nginx && have_nginx_dav_ext && command -v openssl >/dev/null ||
	{ echo "bench/shipping.sh: needs nginx, libnginx-mod-http-dav-ext and openssl"; exit 1; }

# measure LABEL COMMAND...: runs COMMAND N times (output dropped, must succeed), prints best/median.
measure() {
	label=$1; shift
	: >"$TMP/times"
	i=0
	while [ $i -lt "$N" ]; do
		[ -n "${BEFORE:-}" ] && eval "$BEFORE"
		start=$(date +%s%N)
		"$@" >/dev/null 2>"$TMP/err" || { echo "$label: failed:"; cat "$TMP/err"; exit 1; }
		end=$(date +%s%N)
		echo $(((end - start) / 1000)) >>"$TMP/times"
		i=$((i + 1))
	done
	sort -n "$TMP/times" | awk -v label="$label" '{ t[NR] = $1 } END {
		printf "| %-58s | %7.1f ms | %7.1f ms |\n", label, t[1] / 1000, t[int((NR + 1) / 2)] / 1000 }'
}

export TKVM_KEY_DIR="$TMP/keys"
"$TKVM" keygen -W >/dev/null
(cd "$TMP" && "$TKVM" new hello >/dev/null && cd hello && "$TKVM" build >/dev/null 2>&1) || exit 1
cd "$TMP/hello" || exit 1
echo "| command ($N runs) | best | median |"
echo "|---|---|---|"
measure "tkvm pack (xz level 6, one thread)" "$TKVM" pack
measure "tkvm sign (unencrypted key)" "$TKVM" sign build/hello.tar.xz
measure "tkvm verify" "$TKVM" verify build/hello.tar.xz
measure "tkvm run build/hello GET / (the local ELF)" "$TKVM" run build/hello GET /

for scheme in http https; do
	NGINX_TLS=""
	[ $scheme = https ] && NGINX_TLS=1
	nginx_start "$TMP/nginx-$scheme" >/dev/null || { echo "nginx did not start"; exit 1; }
	[ -n "$NGINX_CA" ] && export CURL_CA_BUNDLE="$NGINX_CA"
	"$TKVM" publish -q "$NGINX_URL/programs/" >/dev/null || exit 1
	L=$NGINX_URL/programs/library.json
	# The library's sha256 would skip the request altogether; without it, If-Modified-Since.
	sed -i '/"sha256"/d' "$NGINX_ROOT/programs/library.json"
	BEFORE='rm -rf "$TMP/cache"' measure "run --library $scheme://...: fetched, unpacked, checked" \
		"$TKVM" run --cache "$TMP/cache" --trusted-key "$TKVM_KEY_DIR/tkvm.pub" --library "$L" hello GET /
	measure "run --library $scheme://...: cache kept (304 Not Modified)" \
		"$TKVM" run --cache "$TMP/cache" --trusted-key "$TKVM_KEY_DIR/tkvm.pub" --library "$L" hello GET /
	nginx_stop
	unset CURL_CA_BUNDLE
done
rm -rf "$TMP"
