#!/bin/sh
# t0031-serve-watch: tkvm serve in a project (no PROGRAM) builds and serves the project's program
# with its "program" settings; --watch rebuilds when a source changes and swaps the new program in,
# keeps the server up and the old program answering when the build fails (the compiler's messages
# printed) or the new program does not boot, and picks up the fix.
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/lib/tap.sh"
serve_given_tmp=${TMP:-}
. "$ROOT/tests/cli/common.sh"
. "$ROOT/tests/cli/serve_common.sh"

# count_is_at_least N ERE FILE SECONDS: at least N lines of FILE match ERE within SECONDS.
count_is_at_least() {
	ca_i=0
	while [ $ca_i -lt $(($4 * 10)) ]; do
		[ "$(grep -Ec -- "$2" "$3" 2>/dev/null)" -ge "$1" ] && return 0
		sleep 0.1
		ca_i=$((ca_i + 1))
	done
	echo "fewer than $1 lines of $3 match /$2/ after $4 s:"; tail -10 "$3"; return 1
}

cd "$TMP" || exit 1
"$TKVM" new web >/dev/null || { echo "not ok - tkvm new web failed"; exit 1; }
cd web || exit 1
sed -i 's|"max_memory": 64|"max_memory": 64, "concurrency": 3|' tkvm.json

# Without --watch: built first, then served with the project's settings.
check "serve in a project: starts (building first)" serve_start plain
check "... announces the project's program" grep -q '^tkvm: serving web on http' "$SERVE_OUT"
check "... built it" grep -q '^built build/web (' "$SERVE_ERR"
check "... answers with it" http_is 200 'Hello from web! You asked for /a\n' "${URL}a"
check "... with the \"program\" settings of tkvm.json" http_is 200 '*' "${URL}_tkvm/stats"
check "... (concurrency 3)" json_is "$TMP/http.body" 'd["web"]["concurrency"] == 3'
check "plain server stops" serve_stop

# --watch: edits are rebuilt and swapped in.
check "serve --watch: starts" serve_start watch --watch
check "... says what it watches" grep -q '^tkvm: watching [0-9]* director.* of web' "$SERVE_OUT"
check "... up to date: no rebuild at start" sh -c '! grep -q "^built" "$1"' sh "$SERVE_ERR"
check "... answers" http_is 200 'Hello from web! You asked for /b\n' "${URL}b"
sed -i 's/Hello from/Howdy from/' src/main.c
check "an edit: rebuilt and swapped" eventually 20 '^tkvm: rebuilt build/web: now serving it$' "$SERVE_OUT"
check "... why it rebuilt" grep -q '^tkvm: src/main.c changed: rebuilding web$' "$SERVE_OUT"
check "... the new answer" http_is 200 'Howdy from web! You asked for /c\n' "${URL}c"

printf 'int broken(void) { return nope; }\n' >>src/main.c
check "a syntax error: the build fails" \
	eventually 20 '^tkvm: build failed: still serving the previous program$' "$SERVE_OUT"
check "... the compiler's error is printed, unchanged" \
	eventually 5 "^src/main\.c:[0-9]+:[0-9]+: error: .nope. undeclared" "$SERVE_ERR"
check "... the server is up and the old program answers" http_is 200 'Howdy from web! You asked for /d\n' "${URL}d"

sed -i -e '$d' -e 's/Howdy from/Hi from/' src/main.c
check "fixed: rebuilt again" count_is_at_least 2 '^tkvm: rebuilt build/web: now serving it$' "$SERVE_OUT" 20
check "... the new answer" http_is 200 'Hi from web! You asked for /e\n' "${URL}e"

# A header included from now on is watched too.
printf '#define GREETING "Hey"\n' >src/greeting.h
sed -i 's|#include <stdio.h>|#include <stdio.h>\n#include "greeting.h"|; s|"Hi from web!|GREETING " from web!|' src/main.c
check "a new header: rebuilt" count_is_at_least 3 '^tkvm: rebuilt build/web: now serving it$' "$SERVE_OUT" 20
check "... answers" http_is 200 'Hey from web! You asked for /f\n' "${URL}f"
printf '#define GREETING "Yo"\n' >src/greeting.h
check "editing the header: rebuilt" count_is_at_least 4 '^tkvm: rebuilt build/web: now serving it$' "$SERVE_OUT" 20
check "... answers" http_is 200 'Yo from web! You asked for /g\n' "${URL}g"

# A program that builds but does not boot: the old one stays.
cp src/main.c "$TMP/main.c.good"
sed -i 's|set_backend_get(on_get);|return 0;|' src/main.c
check "a new program that does not boot: the old one stays" \
	eventually 20 '^tkvm: build/web does not start: program did not call wait_for_requests' "$SERVE_OUT"
check "... still serving the previous program" grep -q 'still serving the previous program$' "$SERVE_OUT"
check "... which answers" http_is 200 'Yo from web! You asked for /h\n' "${URL}h"
cp "$TMP/main.c.good" src/main.c
check "restored: rebuilt" count_is_at_least 5 '^tkvm: rebuilt build/web: now serving it$' "$SERVE_OUT" 20

# tkvm.json broken: said, the old program keeps serving; fixed: followed.
cp tkvm.json "$TMP/tkvm.json.good"
sed -i 's|"libc": "glibc"|"libc": "glibc",|' tkvm.json
check "a broken tkvm.json: said" eventually 20 '^tkvm: tkvm\.json has an error: still serving the previous program$' "$SERVE_OUT"
check "... with the line" eventually 5 '^error: tkvm\.json:[0-9]+:[0-9]+: invalid JSON: trailing comma' "$SERVE_ERR"
check "... the server still answers" http_is 200 'Yo from web! You asked for /i\n' "${URL}i"
sed 's|"flags": \[\],|"flags": ["-DGREETING_SUFFIX"],|' "$TMP/tkvm.json.good" >tkvm.json
check "tkvm.json fixed with other flags: rebuilt" count_is_at_least 6 '^tkvm: rebuilt build/web: now serving it$' "$SERVE_OUT" 20
check "... says when \"program\" settings apply" grep -q '"program" settings apply when tkvm serve restarts' "$SERVE_OUT"
check "stats: the swaps are counted as live updates" http_is 200 '*' "${URL}_tkvm/stats"
check "... 6 of them" json_is "$TMP/http.body" 'd["web"]["live_updates"] == 6 and d["web"]["state"] == "running"'
check "watch server stops cleanly" serve_stop

# Usage errors.
check "--watch with a PROGRAM: exit 2" run_is 2 '' '^error: --watch rebuilds a project.s program' \
	serve --watch "$GUESTS/glibc/hello"
check "--watch with --library: exit 2" run_is 2 '' '^error: --watch rebuilds' serve --watch --library x.json
cd "$TMP" || exit 1
check "--watch outside a project: exit 2" \
	run_is 2 '' '^error: no program given and no tkvm\.json here or in a parent directory$' \
	serve --watch --listen 127.0.0.1:0
check "... hint" err_has '^hint: tkvm serve \./hello'

exit $tap_failed
