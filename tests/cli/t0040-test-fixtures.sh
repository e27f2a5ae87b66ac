#!/bin/sh
# t0040-test-fixtures: `tkvm test` on fixtures written by hand, against the test programs
# (hello, echo, headers, isolation): every kind of expectation passing, failures shown as readable
# differences (status, header, a text body as a line diff, a binary body as sizes and hashes),
# -k, --json, --junit, broken fixtures reported with file and line while the others still run,
# a fresh VM for every fixture (ephemeral or not), exit codes, colours only on a terminal.
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/lib/tap.sh"
. "$ROOT/tests/cli/common.sh"

# fixture DIR NAME JSON: writes DIR/NAME.json.
fixture() {
	mkdir -p "$1"
	printf '%s\n' "$3" >"$1/$2.json"
}

for lib in $LIBS; do
	H=$GUESTS/$lib/hello E=$GUESTS/$lib/echo R=$GUESTS/$lib/headers
	P=$TMP/pass-$lib
	printf 'Hello from tkvm: /file\n' >"$TMP/hello-file.txt"
	mkdir -p "$P/data"
	printf 'Hello from tkvm: /file\n' >"$P/data/expected.txt"
	fixture "$P" exact '{"name": "exact", "request": {"method": "GET", "url": "/hello"},
	  "expect": {"status": 200, "headers": ["Content-Type: text/plain"], "body": "Hello from tkvm: /hello\n"}}'
	fixture "$P" from-file '{"name": "from file", "request": {"url": "/file"}, "expect": {"body_file": "data/expected.txt"}}'
	fixture "$P" contains '{"name": "contains", "request": {"url": "/abc?x=1"}, "expect": {"body_contains": "tkvm: /abc"}}'
	fixture "$P" regex '{"name": "regex", "request": {"url": "/r42"}, "expect": {"body_regex": "^Hello from [a-z]+: /r[0-9]+$"}}'
	# sha256 of "Hello from tkvm: /sha\n"
	sha=$(printf 'Hello from tkvm: /sha\n' | sha256sum | cut -d' ' -f1)
	fixture "$P" sha '{"name": "sha", "request": {"url": "/sha"}, "expect": {"body_sha256": "'"$sha"'"}}'
	fixture "$P" post '{"name": "post", "request": {"method": "POST", "url": "/up", "body": "12345"},
	  "expect": {"status": 200, "body": "posted 5 bytes to /up\n"}}'
	check "$lib: hello: exact, body_file, contains, regex, sha256 and POST fixtures pass (exit 0)" \
		run_is 0 '*' '' test --program "$H" "$P"
	check "$lib: one line per fixture, with its time" out_has '^ok    exact +[0-9.]+ ms$'
	check "$lib: fixture names with spaces are shown as written" out_has '^ok    from file +[0-9.]+ ms$'
	check "$lib: the summary line" out_has '^6 passed, 0 failed \([0-9.]+ m?s\)$'
	check "$lib: no colours when stdout is not a terminal" no_escapes "$TMP/tk.out" "$TMP/tk.err"

	# echo: binary bodies both ways, by base64 and from a file; its own headers.
	EB=$TMP/echo-$lib
	mkdir -p "$EB"
	printf '\000\001\002\377binary' >"$EB/in.bin"
	fixture "$EB" binary '{"name": "binary", "request": {"method": "POST", "url": "/", "headers": ["Content-Type: application/x-bin"], "body_base64": "AAEC/2JpbmFyeQ=="},
	  "expect": {"status": 200, "headers": ["Content-Type: application/x-bin", "X-Body-Length: 10"], "body_base64": "AAEC/2JpbmFyeQ=="}}'
	fnv=$(python3 -c '
import sys
h = 0xcbf29ce484222325
for b in open(sys.argv[1], "rb").read():
    h = ((h ^ b) * 0x100000001b3) % (1 << 64)
print("%016x" % h)' "$EB/in.bin")
	fixture "$EB" file-body '{"name": "file-body", "request": {"method": "POST", "url": "/", "body_file": "in.bin"},
	  "expect": {"headers": ["content-type: application/octet-stream", "x-body-fnv: '"$fnv"'"], "body_file": "in.bin"}}'
	check "$lib: echo: binary request and answer bodies (base64, body_file), headers by any case" \
		run_is 0 '*' '' test --program "$E" "$EB"

	# headers: the request's headers reach the program; the program's headers are checked.
	HD=$TMP/headers-$lib
	fixture "$HD" request-headers '{"name": "request-headers", "request": {"method": "PUT", "url": "/h", "arg": "a=1",
	  "headers": ["X-Test: hi there", "Accept: text/plain"]},
	  "expect": {"status": 201, "headers": ["X-Reply: hi there", "X-Set: b", "X-Extra: yes"],
	             "body": "method=PUT\nurl=/h\narg=a=1\nhttp_method=PUT\nheaders=2\nX-Test: hi there\nAccept: text/plain\n"}}'
	check "$lib: headers: method, url, arg and request headers reach the program; its headers match" \
		run_is 0 '*' '' test --program "$R" "$HD"

	# Failures: readable differences.
	F=$TMP/fail-$lib
	fixture "$F" status '{"name": "wrong-status", "request": {"url": "/x"}, "expect": {"status": 404}}'
	fixture "$F" header '{"name": "wrong-header", "request": {"url": "/x"}, "expect": {"headers": ["Content-Type: text/html", "X-Missing: 1"]}}'
	fixture "$F" text '{"name": "wrong-text", "request": {"url": "/x"}, "expect": {"body": "line one\nHello from tkvm: /y\n"}}'
	fixture "$F" ok '{"name": "fine", "request": {"url": "/x"}, "expect": {"status": 200}}'
	check "$lib: failing fixtures: exit 1" run_is 1 '*' '' test --program "$H" "$F"
	check "$lib: a failure is marked FAIL" out_has '^FAIL  wrong-status +[0-9.]+ ms$'
	check "$lib: status difference" out_has '^     status: expected 404, got 200$'
	check "$lib: header with another value" out_has '^     header Content-Type: expected "text/html", got "text/plain"$'
	check "$lib: header missing, with the ones there are" \
		out_has '^     header X-Missing: expected "1", but the answer has no X-Missing header \(it has: Content-Type\)$'
	check "$lib: text body: a unified line diff" sh -c "grep -A6 'body differs from the expected' '$TMP/tk.out' | tr '\n' '|' |
		grep -qF -- '--- expected|       +++ actual|       @@ -1,2 +1,1 @@|       -line one|       -Hello from tkvm: /y|       +Hello from tkvm: /x|'"
	check "$lib: the passing one still passes" out_has '^ok    fine '
	check "$lib: summary counts both" out_has '^1 passed, 3 failed '

	FB=$TMP/fail-binary-$lib
	fixture "$FB" binary '{"name": "binary-differs", "request": {"method": "POST", "url": "/", "body_base64": "AAECAw=="},
	  "expect": {"body_base64": "AAEC/w8="}}'
	check "$lib: binary body failure: sizes, first difference and both sha256, not the bytes" \
		run_is 1 '*' '' test --program "$E" "$FB"
	check "$lib: binary: sizes" out_has '^     body differs \(binary\): expected 5 bytes, got 4 bytes; first difference at byte 3$'
	check "$lib: binary: hashes" sh -c "grep -q '^       expected sha256 [0-9a-f]\{64\}$' '$TMP/tk.out' &&
		grep -q '^       actual   sha256 054edec1d0211f624fed0cbca9d4f9400b0e491c43742af2c5b0abebf0c990d8$' '$TMP/tk.out'"

	# A fresh VM for every fixture: isolation's /count is 1 each time, whatever the order.
	ISO=$TMP/iso-$lib
	for n in 1 2 3; do
		fixture "$ISO" "count$n" '{"name": "count'"$n"'", "request": {"url": "/count"}, "expect": {"body": "count=1\n"}}'
	done
	check "$lib: ephemeral: every fixture sees a reset VM" run_is 0 '*' '' test --program "$GUESTS/$lib/isolation" "$ISO"
	check "$lib: ephemeral=false: a fresh program per fixture" \
		run_is 0 '*' '' test --program "$GUESTS/$lib/isolation" --set ephemeral=false --set concurrency=1 "$ISO"
done

H=$GUESTS/glibc/hello
P=$TMP/pass-glibc F=$TMP/fail-glibc

# -k: by name or file name; nothing selected is an error.
check "-k selects by name" run_is 0 '*' '' test --program "$H" -k regex "$P"
check "-k: only that fixture ran" sh -c "grep -c '^ok' '$TMP/tk.out' | grep -qx 1"
check "-k selects by file name" run_is 0 '*' '' test --program "$H" -k from-file "$P"
check "-k selects from file name: the fixture's name is shown" out_has '^ok    from file '
check "-k repeated: either pattern" sh -c "'$TKVM' test --program '$H' -k exact -k sha '$P' | grep -q '^2 passed, 0 failed'"
check "-k that matches nothing: exit 1, says so" run_is 1 '' "no fixture matches -k 'nothing-like-this'" \
	test --program "$H" -k nothing-like-this "$P"
check "fixture files named one by one" run_is 0 '*' '' test --program "$H" "$P/exact.json" "$P/sha.json"
check "  both ran" out_has '^2 passed, 0 failed'

# The default directory: ./tests.
mkdir -p "$TMP/cwd/tests"
cp "$P/exact.json" "$TMP/cwd/tests/"
check "without FIXTURES: ./tests" sh -c "cd '$TMP/cwd' && '$TKVM' test --program '$H' | grep -q '^1 passed, 0 failed'"
check "no ./tests: exit 1 with a hint" sh -c "cd '$TMP' && '$TKVM' test --program '$H' 2>&1 >/dev/null | grep -q \"no fixtures: 'tests' is not a directory\""

# --json and --junit for CI.
check "--json: exit 1 with failures" run_is 1 '*' '' test --program "$H" --json "$F"
check "--json parses, with the counts" json_is "$TMP/tk.out" 'd["passed"] == 1 and d["failed"] == 3 and len(d["fixtures"]) == 4'
check "--json: each fixture's result, message and details" json_is "$TMP/tk.out" \
	'[x["result"] for x in d["fixtures"]] == ["failed", "passed", "failed", "failed"] and d["fixtures"][0]["message"].startswith("header Content-Type") and "--- expected" in d["fixtures"][3]["details"] and isinstance(d["fixtures"][1]["time_ms"], float)'
check "--json: only JSON on stdout" sh -c "! grep -q '^FAIL' '$TMP/tk.out'"
check "--junit FILE: written" run_is 1 '*' '' test --program "$H" --junit "$TMP/junit.xml" "$F"
check "--junit: well-formed XML with a testcase per fixture and the failures" python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites" and root.get("tests") == "4" and root.get("failures") == "3", root.attrib
cases = root.findall("./testsuite/testcase")
assert [c.get("name") for c in cases] == ["wrong-header", "fine", "wrong-status", "wrong-text"], [c.get("name") for c in cases]
failures = [c.find("failure") for c in cases]
assert failures[1] is None and all(f is not None for f in failures[:1] + failures[2:])
assert failures[2].get("message") == "status: expected 404, got 200"
assert "+++ actual" in failures[3].text
assert all(float(c.get("time")) >= 0 for c in cases)
' "$TMP/junit.xml"
check "--junit with --json" run_is 0 '*' '' test --program "$H" --json --junit "$TMP/junit2.xml" "$P"
check "--junit: a passing run" python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.get("tests") == "6" and root.get("failures") == "0" and root.get("errors") == "0"
' "$TMP/junit2.xml"
check "--junit to a directory that does not exist: exit 1, says why" \
	run_is 1 '*' 'cannot write /nonexistent/dir/j.xml' test --program "$H" --junit /nonexistent/dir/j.xml "$P"

# Broken fixtures: the file and the line, counted as failures; the others still run.
B=$TMP/broken
mkdir -p "$B"
cp "$P/exact.json" "$B/"
printf '{"name": "syntax",\n "request": {"url": "/x",}\n}\n' >"$B/syntax.json"
printf '{"name": "typo", "request": {"url": "/x"},\n "expect": {"staus": 200}}\n' >"$B/typo.json"
printf '{"name": "nofile", "request": {"url": "/x"},\n "expect": {\n   "body_file": "missing.txt"}}\n' >"$B/nofile.json"
printf '{"name": "badre", "request": {"url": "/x"}, "expect": {"body_regex": "(("}}\n' >"$B/badre.json"
printf '' >"$B/empty.json"
check "broken fixtures: exit 1" run_is 1 '*' '' test --program "$H" "$B"
check "broken JSON: file, line and column" out_has '^ERROR syntax\.json +.*/broken/syntax\.json:2:[0-9]+: invalid JSON: trailing comma'
check "an unknown key: file, line and a suggestion" \
	out_has '^ERROR typo\.json +.*/typo\.json:2: unknown key "staus" in expect; did you mean "status"\?$'
check "a body_file that does not exist: file, line and the missing file" \
	out_has '^ERROR nofile\.json +.*/nofile\.json:3: expect\.body_file: cannot open .*/missing\.txt: No such file or directory$'
check "a regular expression that does not compile" out_has '^ERROR badre\.json +.*badre\.json:1: expect\.body_regex is not a valid POSIX'
check "an empty file" out_has '^ERROR empty\.json +.*empty\.json:1:1: invalid JSON: empty text'
check "the good fixture still ran and passed" out_has '^ok    exact '
check "broken ones count as failures" out_has '^1 passed, 5 failed'
check "a fixture file that does not exist: reported, the others run" \
	run_is 1 '*' '' test --program "$H" "$P/exact.json" "$TMP/nope.json"
check "  named with the reason" out_has '^ERROR nope\.json +cannot open .*/nope\.json: No such file or directory$'
check "broken fixtures in --junit are errors" sh -c "'$TKVM' test --program '$H' --junit '$TMP/j3.xml' '$B' >/dev/null;
	python3 -c 'import sys, xml.etree.ElementTree as ET; r = ET.parse(sys.argv[1]).getroot(); assert r.get(\"errors\") == \"5\" and r.get(\"failures\") == \"0\", r.attrib' '$TMP/j3.xml'"
printf '{"name": "a\\u001b[31mred", "request": {"url": "/"}, "expect": {"status": 200}}' >"$TMP/hostile.json"
printf '{"request": {"url": "/\000"}}' >"$TMP/nul.json"
check "hostile fixtures (an escape sequence in the name, a NUL byte): reported, the run goes on" \
	run_is 1 '*' '' test --program "$H" "$TMP/hostile.json" "$TMP/nul.json" "$P/exact.json"
check "  the name's control character" out_has 'hostile\.json:1: name has a control character'
check "  the NUL byte" out_has 'nul\.json:1:[0-9]+: invalid JSON: NUL byte'
check "  no escape sequence reaches the output" no_escapes "$TMP/tk.out"
check "  the good one passed" out_has '^1 passed, 2 failed'

# A program that crashes: the failure says why, with the program's output.
C=$TMP/crash
fixture "$C" null '{"name": "null", "request": {"url": "/null"}, "expect": {"status": 200}}'
fixture "$C" expected-500 '{"name": "expected-500", "request": {"url": "/null"}, "expect": {"status": 500}}'
check "a crash fails the fixture with the cause" run_is 1 '*' '' test --program "$GUESTS/glibc/crash" "$C"
check "  the cause" out_has '^     the request failed: .*NULL pointer dereference'
check "  a fixture that expects the 500 passes" out_has '^ok    expected-500 '
check "a program that does not boot: every fixture fails saying so" \
	run_is 1 '*' '' test --program "$GUESTS/glibc/boot_exit" "$P/exact.json"
check "  with the reason and its output" sh -c "grep -q '^     the program did not boot: program did not call wait_for_requests' '$TMP/tk.out' &&
	grep -q 'boot_exit: leaving main' '$TMP/tk.out'"

# Usage errors: exit 2.
check "unknown option: exit 2" run_is 2 '' "unknown option '--frobnicate'" test --frobnicate
check "-k without a value: exit 2" run_is 2 '' 'option -k needs a value' test --program "$H" -k
check "--har-base without --import-har: exit 2" run_is 2 '' '--har-base only goes with --import-har' test --har-base http://x/
check "--record with --import-har: exit 2" run_is 2 '' 'do not go together' test --record --import-har x.har
check "no project and no --program: exit 2 with a hint" sh -c "cd '$TMP' && '$TKVM' test >/dev/null 2>'$TMP/np.err'; [ \$? = 2 ] && grep -q 'tkvm.json' '$TMP/np.err'"
check "--help: exit 0, usage on stdout" run_is 0 '*' '' test --help
check "  mentions --record and --junit" sh -c "grep -q -- '--record' '$TMP/tk.out' && grep -q -- '--junit FILE' '$TMP/tk.out'"
check "tkvm --help lists test and record" sh -c "'$TKVM' --help | grep -q '^  test ' && '$TKVM' --help | grep -q '^  record '"

# Colours: on a terminal only, never with NO_COLOR.
if command -v script >/dev/null 2>&1 && script -qec true /dev/null </dev/null >/dev/null 2>&1; then
	check "on a terminal: ok and FAIL are coloured" sh -c "script -qec \"'$TKVM' test --program '$H' '$F'\" /dev/null </dev/null >'$TMP/tty.out' 2>&1;
		grep -q \"\$(printf '\\033')\\[32m\" '$TMP/tty.out' && grep -q \"\$(printf '\\033')\\[31m\" '$TMP/tty.out'"
	check "on a terminal with NO_COLOR=1: no escape sequences" sh -c "script -qec \"NO_COLOR=1 '$TKVM' test --program '$H' '$F'\" /dev/null </dev/null >'$TMP/tty2.out' 2>&1;
		grep -q 'wrong-status' '$TMP/tty2.out' && ! grep -q \"\$(printf '\\033')\" '$TMP/tty2.out'"
else
	echo "skip - script(1) with a pty is not available: colours on a terminal not checked"
fi
exit $tap_failed
