#!/bin/sh
# t0002-run-requests: what `tkvm run` sends reaches the program: methods, bodies (--data text,
# @file, @- from stdin, binary, large), headers (-H), content type, the arg (--arg, query string).
# shellcheck disable=SC2016,SC2317 # single quotes go to sh -c; check calls the functions
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=SCRIPTDIR/../lib/tap.sh
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=SCRIPTDIR/common.sh
. "$ROOT/tests/cli/common.sh"

CR=$(printf '\r')
# fnv64 FILE: FNV-1a 64 of FILE's bytes as 16 lowercase hex digits (what echo's X-Body-Fnv says).
fnv64() {
	python3 -c '
import sys
h = 0xcbf29ce484222325
for b in open(sys.argv[1], "rb").read():
    h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
print("%016x" % h)' "$1"
}
head -c 70000 /dev/urandom >"$TMP/random.bin"
# Every byte value, so no byte is special on the way in or out.
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4)' >"$TMP/allbytes.bin"
head -c 3000000 /dev/urandom >"$TMP/large.bin"
long=$(head -c 70000 /dev/zero | tr '\0' a)

for lib in $LIBS; do
	G=$GUESTS/$lib

	check "$lib: --data makes the method POST" \
		run_is 0 'posted 5 bytes to /p\n' '' run "$G/hello" /p --data hello
	check "$lib: explicit POST with --data" \
		run_is 0 'posted 3 bytes to /q\n' '' run "$G/hello" POST /q -d abc

	check "$lib: --include prints the program's own headers" \
		run_is 0 'HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 60\r\nX-Reply: none\r\nX-Set: b\r\nX-Extra: yes\r\n\r\nmethod=GET\nurl=/h\narg=\nhttp_method=GET\nheaders=1\nX-Other: 1\n' '' \
		run --include "$G/headers" /h -H 'X-Other: 1'
	check "$lib: -H headers reach the program (headers answers with X-Test)" \
		run_is 0 '*' '' run -i "$G/headers" /h -H 'X-Test: hi there' -H 'X-Two: 2'
	check "$lib: ... X-Reply carries the X-Test value" out_has "^X-Reply: hi there$CR\$"
	check "$lib: ... the program saw both headers" out_has '^headers=2$'

	# --data @- reads standard input (binary-safe too).
	check "$lib: --data @- reads stdin" \
		sh -c 'printf "from stdin\n" | "$TKVM" run "$1" /e --data @- >"$TMP/tk.out" 2>"$TMP/tk.err"' sh "$G/echo"
	check "$lib: ... and echo returns it" out_is 'from stdin\n'
	check "$lib: --data @- with a binary body and -o" \
		sh -c '"$TKVM" run -o "$TMP/body3.bin" "$1" /e --data @- <"$TMP/random.bin"' sh "$G/echo"
	check "$lib: ... the file holds the exact body" cmp "$TMP/random.bin" "$TMP/body3.bin"

	# -H Content-Type reaches the program: echo answers with the same content type.
	check "$lib: -H Content-Type reaches the program" \
		run_is 0 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\nX-Body-Length: 7\r\nX-Body-Fnv: 9c3e82dd6fcae8b1\r\n\r\n{"a":1}' '' \
		run -i "$G/echo" POST /j --data '{"a":1}' -H 'Content-Type: application/json'
	check "$lib: without a content type echo answers application/octet-stream" \
		run_is 0 '*' '' run -i "$G/echo" POST /j --data x
	check "$lib: ... Content-Type: application/octet-stream" out_has '^Content-Type: application/octet-stream'

	# The arg: from the query string, or --arg (which wins).
	check "$lib: a query string becomes the arg" \
		run_is 0 'paused GET /p arg=x=1 len=0\n' '' run "$G/hello_paused" '/p?x=1'
	check "$lib: --arg sets the arg" \
		run_is 0 'paused GET /p arg={"q":1} len=0\n' '' run "$G/hello_paused" /p --arg '{"q":1}'
	check "$lib: --arg wins over the query string" \
		run_is 0 'paused PUT /p arg=y=2 len=0\n' '' run "$G/hello_paused" PUT '/p?x=1' --arg y=2
	check "$lib: other methods pass through" \
		run_is 0 'paused DELETE /d arg= len=0\n' '' run "$G/hello_paused" DELETE /d

	for method in GET POST PUT DELETE PATCH HEAD OPTIONS; do
		check "$lib: method $method reaches the program" \
			run_is 0 "paused $method /m arg= len=0\\n" '' run "$G/hello_paused" "$method" /m
	done
	check "$lib: --data with GET keeps GET and sends the body" \
		run_is 0 'paused GET /p arg= len=3\n' '' run "$G/hello_paused" GET /p --data abc
	check "$lib: an empty query string gives an empty arg" \
		run_is 0 'paused GET / arg= len=0\n' '' run "$G/hello_paused" '/?'
	check "$lib: the URL is passed with its query string stripped" \
		run_is 0 'Hello from tkvm: /a/b\n' '' run "$G/hello" '/a/b?k=v&l=w'

	# The program sees exactly the bytes sent: echo's FNV-1a of the body matches ours.
	check "$lib: every byte value survives the trip (-o)" \
		run_is 0 '' '' run -o "$TMP/allbytes.out" "$G/echo" /e --data "@$TMP/allbytes.bin"
	check "$lib: ... the file holds the exact body" cmp "$TMP/allbytes.bin" "$TMP/allbytes.out"
	check "$lib: the program's FNV-1a of the body is ours" \
		run_is 0 '*' '' run -i -o "$TMP/random.out" "$G/echo" /e --data "@$TMP/random.bin"
	check "$lib: ... X-Body-Fnv matches" out_has "^X-Body-Fnv: $(fnv64 "$TMP/random.bin")$CR\$"
	check "$lib: a 3 MB body goes through" \
		run_is 0 '' '' run -o "$TMP/large.out" "$G/echo" /e --data "@$TMP/large.bin"
	check "$lib: ... unchanged" cmp "$TMP/large.bin" "$TMP/large.out"
	check "$lib: an empty --data @file is an empty POST" \
		run_is 0 'posted 0 bytes to /z\n' '' run "$G/hello" /z --data "@/dev/null"

	# Bad request input: refused with a clear error naming what is wrong.
	check "$lib: a header without a colon is a usage error" \
		run_is 2 '' "^error: header 'NoColon' has no colon" run "$G/headers" / -H NoColon
	set --
	i=0
	while [ $i -lt 65 ]; do set -- "$@" -H "X-H$i: $i"; i=$((i + 1)); done
	check "$lib: 65 headers is a usage error" \
		run_is 2 '' 'too many -H headers \(at most 64\)' run "$G/headers" / "$@"
	shift 2
	check "$lib: 64 headers are fine" run_is 0 '*' '' run "$G/headers" / "$@"
	check "$lib: ... the program saw 64" out_has '^headers=64$'
	check "$lib: a 70000-byte URL is refused, exit 1" \
		run_is 1 '' 'url.*shorter than 64 KiB' run "$G/hello" "/$long"
	check "$lib: a 70000-byte arg is refused, exit 1" \
		run_is 1 '' 'arg.*shorter than 64 KiB' run "$G/hello_paused" / --arg "$long"
	check "$lib: a 70000-byte header is refused, exit 1" \
		run_is 1 '' 'request header 0 is longer than 65535 bytes' run "$G/headers" / -H "X-Big: $long"
	check "$lib: a 60000-byte header goes through" \
		run_is 0 '*' '' run "$G/headers" / -H "X-Big: $(printf '%.60000s' "$long")"
	check "$lib: ... intact" sh -c '[ "$(grep "^X-Big: a*\$" "$1" | wc -c)" = 60008 ]' sh "$TMP/tk.out"
	check "$lib: --data @missing says which file" \
		run_is 1 '' "cannot open '$TMP/missing': No such file or directory" run "$G/echo" / --data "@$TMP/missing"
done
rm -f "$TMP"/*.bin "$TMP"/*.out

exit $tap_failed
