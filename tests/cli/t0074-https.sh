#!/bin/sh
# t0074-https: publishing to and loading libraries from an https library host, as production
# hosts them: a real nginx on loopback speaking TLS only, with a certificate signed by a private
# CA made for the run. Trusted through CURL_CA_BUNDLE (as curl(1) reads it): publish, serve
# --library and run --library work; not trusted: each command stops with one line saying the
# certificate is not trusted and how to trust it, and nothing is written anywhere.
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/cli/nginx_common.sh"
nginx_require dav_ext openssl
unset CURL_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR
NGINX_TLS=1
nginx_start "$TMP/nginx" || exit 1
check "the library host speaks https" eval 'case $NGINX_URL in https://*) true ;; *) false ;; esac'
export TKVM_KEY_DIR="$TMP/keys"
"$TKVM" keygen -W >/dev/null || { echo "not ok - keygen"; exit 1; }
U=$NGINX_URL/programs
mkdir -p "$NGINX_ROOT/programs"
new_projects hello
cd "$TMP/projects/hello" || exit 1

# Not trusted: nothing is uploaded.
tk publish "$U/"
check "publish to an untrusted https host: exit 1" status_is 1
check "... says the certificate is not trusted, and how to trust it" \
	err_has "^error: .*$U/.*: the server's TLS certificate is not trusted \(.*\); if the host uses a private CA, set CURL_CA_BUNDLE"
check "... nothing uploaded" sh -c '[ -z "$(ls -A "$0")" ]' "$NGINX_ROOT/programs"

# Trusted through CURL_CA_BUNDLE: the whole round.
CURL_CA_BUNDLE=$NGINX_CA tk publish "$U/"
check "publish with CURL_CA_BUNDLE=the CA: exit 0" status_is 0
check "... uploaded over https" eval 'out_has "^uploaded $U/hello.tar.xz \([0-9]+ bytes\)$" && out_has "^published hello 0.1.0 to $U/library.json$"'
check "... the archive on the server is the packed one" cmp "$NGINX_ROOT/programs/hello.tar.xz" build/hello.tar.xz
check "... its signature verifies there" "$TKVM" verify --name hello "$NGINX_ROOT/programs/hello.tar.xz"
check "... the entry's uri is the https one" grep -qF "\"uri\": \"$U/hello.tar.xz\"" "$NGINX_ROOT/programs/library.json"
SSL_CERT_FILE=$NGINX_CA tk publish --dry-run "$U/"
check "SSL_CERT_FILE is read too (publish --dry-run: exit 0)" status_is 0

# Loading: the library's entry says filename /var/cache/tkvm/hello; --cache puts it under TMP.
CURL_CA_BUNDLE=$NGINX_CA tk run --cache "$TMP/cache" --library "$U/library.json" hello GET /tls
check "run --library https://...: answers" eval 'status_is 0 && out_has "^Hello from hello! You asked for /tls$"'
check "... fetched it into the cache" test -s "$TMP/cache/hello"
check "... nginx saw the fetches" nginx_log_has '"GET /programs/hello.tar.xz HTTP/1.1" 200'

export CURL_CA_BUNDLE="$NGINX_CA"
serve_start tls --cache "$TMP/cache" --library "$U/library.json" || exit 1
check "serve --library https://...: answers" hc 200 "Hello from hello! You asked for /x" "${URL}x"
check "... the cached copy was kept (its sha256 matches the library)" grep -Eq "^tkvm: hello: cached $TMP/cache/hello \(sha256 matches the library\)" "$SERVE_ERR"
serve_stop tls
unset CURL_CA_BUNDLE

rm -rf "$TMP/cache"
tk run --cache "$TMP/cache" --library "$U/library.json" hello GET /
check "run --library without trusting the CA: exit 1" status_is 1
check "... the library's URL and the cause" \
	err_has "^error: .*$U/library.json: the server's TLS certificate is not trusted"
check "... nothing cached" test ! -e "$TMP/cache/hello"

printf 'not a certificate\n' >"$TMP/bad.pem"
CURL_CA_BUNDLE=$TMP/bad.pem tk run --cache "$TMP/cache" --library "$U/library.json" hello GET /
check "a CURL_CA_BUNDLE that holds no certificate: exit 1" status_is 1
check "... names the file" err_has "$TMP/bad.pem"
CURL_CA_BUNDLE=$TMP/missing.pem tk run --cache "$TMP/cache" --library "$U/library.json" hello GET /
check "a CURL_CA_BUNDLE that does not exist: exit 1 naming it" eval 'status_is 1 && err_has "$TMP/missing.pem"'

# localhost is in the certificate too.
CURL_CA_BUNDLE=$NGINX_CA tk run --cache "$TMP/cache" --library "https://localhost:$NGINX_PORT/programs/library.json" hello GET /
check "localhost, a name in the certificate: the library loads" eval 'status_is 0 && out_has "^Hello from hello!"'

exit $tap_failed
