#!/bin/sh
# t0001-run-basics: `tkvm run` prints what the program answers, in each output form
# (body, -i, -o, --json, --verbose, --strace), for glibc and musl, static and static-pie.
# shellcheck disable=SC2016,SC2317 # single quotes go to sh -c; check calls the functions
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=SCRIPTDIR/../lib/tap.sh
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=SCRIPTDIR/common.sh
. "$ROOT/tests/cli/common.sh"

# ends_with_blank_line FILE: the last four bytes are \r\n\r\n.
ends_with_blank_line() {
	[ "$(tail -c 4 "$1" | od -An -tx1)" = "$(printf '\r\n\r\n' | od -An -tx1)" ]
}

for lib in $LIBS; do
	G=$GUESTS/$lib

	check "$lib: run hello GET /hello prints the body" \
		run_is 0 'Hello from tkvm: /hello\n' '' run "$G/hello" GET /hello
	check "$lib: the method defaults to GET" \
		run_is 0 'Hello from tkvm: /x\n' '' run "$G/hello" /x
	check "$lib: options may follow the URL" \
		run_is 0 'Hello from tkvm: /after\n' '' run "$G/hello" /after --max-memory 128
	check "$lib: static-pie hello" \
		run_is 0 'Hello from tkvm: /pie\n' '' run "$G/hello_pie" GET /pie

	# -i: status line, headers, blank line, body, with CRLF after the head lines.
	check "$lib: -i prints status line, headers, blank line and body" \
		run_is 0 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n\r\nHello from tkvm: /x\n' '' \
		run -i "$G/hello" GET /x

	# -o FILE: the body goes to the file, byte for byte, nothing to stdout.
	head -c 70000 /dev/urandom >"$TMP/random.bin"
	rm -f "$TMP/body.bin"
	check "$lib: -o FILE with a binary --data @file body" \
		run_is 0 '' '' run -o "$TMP/body.bin" "$G/echo" POST /echo --data "@$TMP/random.bin"
	check "$lib: ... the file holds the exact body" cmp "$TMP/random.bin" "$TMP/body.bin"
	rm -f "$TMP/body2.bin"
	check "$lib: -i with -o prints the head, the body goes to the file" \
		run_is 0 '*' '' run -i --output "$TMP/body2.bin" "$G/echo" /echo --data "@$TMP/random.bin"
	check "$lib: ... head has X-Body-Length: 70000" out_has "^X-Body-Length: 70000"
	check "$lib: ... and ends with a blank line (CRLF CRLF)" ends_with_blank_line "$TMP/tk.out"
	check "$lib: ... the file holds the exact body" cmp "$TMP/random.bin" "$TMP/body2.bin"

	# --json: the response and statistics as one JSON document.
	check "$lib: --json exits 0" run_is 0 '*' '' run --json "$G/hello" GET /j
	check "$lib: --json output parses" is_json "$TMP/tk.out"
	check "$lib: --json has status, body and stats" json_is "$TMP/tk.out" \
		'd["status"] == 200 and d["body"] == "Hello from tkvm: /j\n" and isinstance(d["stats"], dict) and d["content_type"] == "text/plain"'
	check "$lib: --json stats count the request" json_is "$TMP/tk.out" \
		'd["stats"]["request_exits"] >= 1 and d["stats"]["boot_ms"] > 0'
	check "$lib: --json for a 404 still parses, status 404, exit 1" \
		run_is 1 '*' '' run --json "$G/readfile" /r --arg /nonexistent/file
	check "$lib: ... status 404 and the body" json_is "$TMP/tk.out" \
		'd["status"] == 404 and d["body"] == "open /nonexistent/file: No such file or directory\n"'

	# --verbose: boot, request and exit figures plus the program's own output, all on stderr.
	check "$lib: --verbose prints the body on stdout" \
		run_is 0 'Hello from tkvm: /v\n' '*' run --verbose "$G/hello" /v
	check "$lib: ... the program's stdout (hello: ready) on stderr" err_has '^hello: ready$'
	check "$lib: ... a boot line" err_has '^boot +[0-9.]+ ms'
	check "$lib: ... a request line" err_has '^request +[0-9.]+ ms +exits [0-9]+'
	check "$lib: ... a total exits line" err_has 'exits [0-9]+ +syscalls [0-9]+'
	check "$lib: -v is --verbose" run_is 0 'Hello from tkvm: /v\n' 'hello: ready' run -v "$G/hello" /v
	check "$lib: --stdout shows the program's output only" \
		run_is 0 'Hello from tkvm: /s\n' '^hello: ready$' run --stdout "$G/hello" /s
	check "$lib: ... and no statistics" err_lacks '^boot '

	# --strace: every emulated syscall and host call on stderr.
	check "$lib: --strace prints the body on stdout" \
		run_is 0 'Hello from tkvm: /t\n' '*' run --strace "$G/hello" /t
	# Numbers may print in hex or decimal; the names and the shape are what matter.
	check "$lib: ... syscall lines" err_has '^(brk|arch_prctl|set_tid_address)\(.*\) = (0x)?[0-9a-f]+$'
	check "$lib: ... the write(v) of hello: ready to fd 1, 13 bytes" \
		err_has '^writev?\((0x)?1, .*\) = (0xd|13)$'
	check "$lib: ... [host] register_func" err_has '^\[host\] register_func\('
	check "$lib: ... [host] wait_for_requests" err_has '^\[host\] wait_for_requests\('
	check "$lib: ... [host] backend_response with status 200" err_has '^\[host\] backend_response\((0xc8|200), '
	check "$lib: --strace on a failing request shows the bad host call" \
		run_is 1 '' '^\[host\] backend_response\(' run --strace "$G/hostile" /wild-body
	check "$lib: ... and the error" err_has '^error: hostile: request failed: bad host call backend_response'
done
rm -f "$TMP"/*.bin

exit $tap_failed
