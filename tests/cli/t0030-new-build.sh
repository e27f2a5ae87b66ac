#!/bin/sh
# t0030-new-build: projects end to end, as a user types them. tkvm new makes a project from a
# template (C, C++, and Rust when cargo is installed); tkvm build compiles it into a static
# x86-64 ELF only when something it is made from changed, passes the compiler's messages through,
# refuses a dynamic result and keeps the previous program; tkvm run with no PROGRAM uses the
# project's (from a subdirectory too); broken tkvm.json files are named with key and line.
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/lib/tap.sh"
. "$ROOT/tests/cli/common.sh"

cd "$TMP" || exit 1
has_test_command() { "$TKVM" --help | grep -q '^  test '; }

# --- tkvm new ------------------------------------------------------------------------------------
check "new hello: exit 0" run_is 0 '*' '' new hello
check "... lists what it made" out_has '^created hello/ \(C\): \.gitignore, README\.md, src/main\.c, tests/hello\.json, tkvm\.json$'
check "... and the next steps" out_has '^  tkvm run GET /'
check "... the files are there" test -f hello/tkvm.json -a -f hello/src/main.c -a -f hello/tests/hello.json \
	-a -f hello/.gitignore -a -f hello/README.md
check "... named after the project" grep -q '"name": "hello"' hello/tkvm.json
check "... no placeholder left" sh -c '! grep -r "{{" hello'
check "... .gitignore ignores build/ and target/" grep -qx 'build/' hello/.gitignore
check "... the fixture expects the greeting" grep -q '"body_contains": "Hello from hello!"' hello/tests/hello.json
check "new into a non-empty directory: exit 1" run_is 1 '' \
	'^error: hello already exists and is not empty' new hello
check "... with a hint" err_has '^hint: .*--dir'
check "... and the project is untouched" grep -q '"name": "hello"' hello/tkvm.json
mkdir empty_dir
check "new into an empty directory (--dir): exit 0" run_is 0 '*' '' new other --dir empty_dir
check "... made it there" test -f empty_dir/src/main.c
printf 'x' >a_file
check "new --dir onto a file: exit 1" run_is 1 '' 'a_file already exists and is not a directory' new x --dir a_file
check "new with a bad name: exit 2" run_is 2 '' "^error: 'a/b' cannot be a program name" new a/b
check "new .hidden: exit 2" run_is 2 '' "must not start with" new .hidden
check "new --lang go: exit 2" run_is 2 '' '^error: --lang go: tkvm has templates for c, cpp and rust$' new x --lang go
check "new without NAME: exit 2" run_is 2 '' '^error: tkvm new needs a NAME' new
check "new a b: exit 2" run_is 2 '' 'expected one NAME' new a b
check "new --help: exit 0" run_is 0 '*' '' new --help
check "... documents --lang" out_has '--lang c\|cpp\|rust'
mkdir nopath
check "new --lang rust without cargo: exit 1" \
	sh -c 'PATH="$1" "$TKVM" new r --lang rust >"$TMP/tk.out" 2>"$TMP/tk.err"; echo $? >"$TMP/tk.rc"; [ "$(cat "$TMP/tk.rc")" = 1 ]' \
	sh "$TMP/nopath"
check "... says cargo is missing" err_has '^error: the Rust template needs cargo, which is not installed'
check "... with a hint" err_has '^hint: install Rust with rustup'
check "... made nothing" test ! -e r
check "new with TKVM_TEMPLATES pointing nowhere: exit 1" \
	sh -c 'TKVM_TEMPLATES=/nonexistent "$TKVM" new t >"$TMP/tk.out" 2>"$TMP/tk.err"; [ $? = 1 ]'
check "... says where it looked" err_has "cannot find tkvm's project templates \(looked in TKVM_TEMPLATES=/nonexistent\)"

# --- tkvm build and run -------------------------------------------------------------------------
cd "$TMP/hello" || exit 1
check "build: exit 0" run_is 0 '*' '' build
check "... reports the result" out_has '^built build/hello \([0-9.]+ (KiB|MiB), static x86-64, glibc\)$'
check "... a static x86-64 ELF" sh -c 'readelf -h build/hello | grep -q "X86-64" && ! readelf -l build/hello | grep -q INTERP'
check "build again: up to date" run_is 0 'build/hello is up to date\n' '' build
check "run GET /: the project's program" run_is 0 'Hello from hello! You asked for /\n' '' run GET /
check "run /x?y=1 (GET, query as arg)" run_is 0 'Hello from hello! You asked for /x?y=1\n' '' run '/x?y=1'
check "run POST -d" run_is 0 'Hello from hello! Received 5 bytes of application/octet-stream at /p\n' '' \
	run POST /p -d hello
check "run with no arguments: GET /" run_is 0 'Hello from hello! You asked for /\n' '' run
check "run -i GET /h: headers" run_is 0 '*' '' run -i GET /h
check "... Content-Type from the program" out_has '^Content-Type: text/plain'
check "the program runs natively too (IS_LINUX_MAIN)" sh -c './build/hello /native | grep -qx "Hello from hello! You asked for /native"'
mkdir -p src/deeper/still
cd src/deeper/still || exit 1
check "run from a subdirectory finds the project" run_is 0 'Hello from hello! You asked for /sub\n' '' run GET /sub
check "build from a subdirectory: paths shown from here" run_is 0 '../../../build/hello is up to date\n' '' build
cd "$TMP/hello" || exit 1
if has_test_command; then
	check "tkvm test: the template's fixture passes" run_is 0 '*' '*' test
else
	echo "skip - tkvm test is not built here: the template's fixture is not replayed"
fi

touch src/main.c
check "touching a source rebuilds" run_is 0 '*' '' build
check "... says built" out_has '^built build/hello '
touch src/main.c
check "build -v says why and shows the commands" run_is 0 '*' '*' build -v
check "... why" err_has '^building hello: src/main\.c changed$'
check "... the compile command" err_has '^\$ gcc -c -O2 -g -Wall .*-I.*sdk.* -MMD .* src/main\.c$'
check "... the link command" err_has '^\$ gcc -static -O2 -g -o build/\.hello\.tkvm/hello '
check "build --debug rebuilds (other options)" run_is 0 '*' '' build --debug
check "... built" out_has '^built '
check "build --debug again: up to date" run_is 0 'build/hello is up to date\n' '' build --debug
check "build --release after --debug rebuilds" run_is 0 '*' '' build --release
check "... built" out_has '^built '
check "--debug --release: exit 2" run_is 2 '' 'choose one' build --debug --release
check "build --nope: exit 2" run_is 2 '' "^error: unknown option '--nope'" build --nope
check "build extra: exit 2" run_is 2 '' 'takes no arguments' build extra

# A header the program includes is followed (the compiler's dependency list).
printf '#define GREETING "Hi"\n' >src/greeting.h
sed -i 's|#include <stdio.h>|#include <stdio.h>\n#include "greeting.h"|' src/main.c
check "a new include: rebuilds" run_is 0 '*' '' build
check "... built" out_has '^built '
check "... up to date after" run_is 0 'build/hello is up to date\n' '' build
printf '#define GREETING "Hello"\n' >src/greeting.h
check "editing the header rebuilds" run_is 0 '*' '*' build -v
check "... because of the header" err_has '^building hello: src/greeting\.h changed$'

# The compiler's messages pass through unchanged; the previous program stays.
cp build/hello "$TMP/hello.good"
cp src/main.c "$TMP/main.c.good"
printf 'int broken(void) { return nope; }\n' >>src/main.c
check "a compile error: exit 1" run_is 1 '' '^error: build failed: gcc exited with status 1$' build
check "... gcc's message, unchanged" err_has "^src/main\.c:[0-9]+:[0-9]+: error: .nope. undeclared"
check "... the previous program is still there" cmp -s build/hello "$TMP/hello.good"
check "run while the build fails: exit 1, no response" run_is 1 '' 'build failed' run GET /
check "... with gcc's message" err_has 'error: .nope. undeclared'
cp "$TMP/main.c.good" src/main.c
check "fixed: builds again" run_is 0 '*' '' build
check "... runs" run_is 0 'Hello from hello! You asked for /\n' '' run

# No compiler: an up-to-date program still runs; a stale one says what to install.
nocc() { PATH="$TMP/nopath" "$TKVM" "$@" >"$TMP/tk.out" 2>"$TMP/tk.err"; echo $? >"$TMP/tk.rc"; }
check "without gcc, up to date: runs" sh -c 'nocc() { PATH="$1/nopath" "$TKVM" run /n; }; nocc "$1" | grep -qx "Hello from hello! You asked for /n"' sh "$TMP"
touch src/main.c
nocc build
check "without gcc, stale: exit 1" status_is 1
check "... says so" err_has '^error: gcc is not installed \(it builds C programs\)$'
check "... and how to install it" err_has '^hint: install it with: sudo apt-get install gcc$'

# tkvm.json: errors name the key and the line; unknown keys are warnings.
cp tkvm.json "$TMP/tkvm.json.good"
sed -i 's|"flags": \[\],|"flags": [], "sources2": 1,|' tkvm.json
check "an unknown key in build: a warning, and it builds" run_is 0 '*' \
	'^warning: tkvm\.json:9: unknown key "sources2" in "build" \(ignored; did you mean "sources"\?\)$' build
sed -i 's|"libc": "glibc"|"libc": "glibc",|' tkvm.json
check "a trailing comma: exit 1 with the line" run_is 1 '' '^error: tkvm\.json:11:[0-9]+: invalid JSON: trailing comma' build
cp "$TMP/tkvm.json.good" tkvm.json
sed -i 's|"sources": \["src/main.c"\],|"sources": "src/main.c",|' tkvm.json
check "build.sources of the wrong type: exit 1 with key and line" \
	run_is 1 '' '^error: tkvm\.json:8: "build\.sources" must be an array of strings, got a string$' build
check "... run says the same" run_is 1 '' 'tkvm\.json:8: "build\.sources" must be' run GET /
(cd src && "$TKVM" build >"$TMP/tk.out" 2>"$TMP/tk.err"; echo $? >"$TMP/tk.rc")
check "... from a subdirectory, the file is ../tkvm.json" err_has '^error: \.\./tkvm\.json:8: "build\.sources"'
cp "$TMP/tkvm.json.good" tkvm.json
sed -i 's|"sources": \["src/main.c"\],|"sources": ["src/main.c", "src/missing.c"],|' tkvm.json
check "a missing source: exit 1" run_is 1 '' '^error: tkvm\.json: "build\.sources": src/missing\.c does not exist$' build
check "... with a hint" err_has '^hint: create it'
cp "$TMP/tkvm.json.good" tkvm.json
sed -i 's|"name": "hello"|"name": "hel lo"|' tkvm.json
check "a bad name: exit 1" run_is 1 '' '^error: tkvm\.json:4: "name" must be 1 to 64 letters' build
cp "$TMP/tkvm.json.good" tkvm.json
sed -i 's|"max_memory": 64|"max_memory": "lots"|' tkvm.json
check "a bad program setting: exit 1 naming it" run_is 1 '' '^error: tkvm\.json:20: .*max_memory' run GET /
cp "$TMP/tkvm.json.good" tkvm.json
# The boot spins for 100 ms of wall-clock time, so 0.01 s can never be enough
# (hello's own boot may take less than a millisecond).
cp src/main.c "$TMP/main.c.good"
sed -i 's|^#include <stdio.h>$|#include <stdio.h>\n#include <time.h>|' src/main.c
sed -i 's|^\tset_backend_get(on_get);$|\tstruct timespec t0, t1;\n\tclock_gettime(CLOCK_MONOTONIC, \&t0);\n\tdo\n\t\tclock_gettime(CLOCK_MONOTONIC, \&t1);\n\twhile ((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) < 100000000L);\n\tset_backend_get(on_get);|' src/main.c
check "the slow-boot edit applied" grep -q 'CLOCK_MONOTONIC, &t1' src/main.c
sed -i 's|"max_memory": 64|"max_memory": 64, "max_boot_time": 0.01|' tkvm.json
check "run uses the \"program\" settings (max_boot_time 0.01)" \
	run_is 1 '' '^error: hello: program did not call wait_for_requests within max_boot_time \(0\.01 s\)' run GET /
check "... flags still override them" run_is 0 'Hello from hello! You asked for /\n' '*' run --max-boot-time 10 GET /
cp "$TMP/tkvm.json.good" tkvm.json
cp "$TMP/main.c.good" src/main.c
sed -i 's|"max_memory": 64|"max_memroy": 64|' tkvm.json
check "an unknown program setting: a warning" run_is 0 'Hello from hello! You asked for /\n' \
	'^warning: tkvm\.json:20: unknown key "max_memroy" \(ignored; did you mean "max_memory"\?\)$' run GET /
cp "$TMP/tkvm.json.good" tkvm.json

# A dynamic result is refused and the previous program stays.
cp build/hello "$TMP/hello.good"
sed -i 's|"flags": \[\],|"flags": ["-Wl,-Bdynamic", "-Wl,--dynamic-linker=/lib64/ld-linux-x86-64.so.2"],|' tkvm.json
check "a dynamic result: exit 1" run_is 1 '' \
	'^error: build failed: build/hello is not a program tkvm can run: .*dynamic executables are not supported' build
check "... with a hint about build.flags" err_has '^hint: tkvm builds with -static; something in "build\.flags"'
check "... the previous program is still there" cmp -s build/hello "$TMP/hello.good"
cp "$TMP/tkvm.json.good" tkvm.json

# musl, flags and source patterns.
check "build --musl: musl-gcc" run_is 0 '*' '' build --musl
check "... says musl" out_has '^built build/hello \(.*, static x86-64, musl\)$'
check "... run keeps that build (no rebuild, nothing on stderr)" run_is 0 'Hello from hello! You asked for /m\n' '' run /m
touch src/main.c
check "... and rebuilds it with musl-gcc when stale" run_is 0 'Hello from hello! You asked for /m\n' \
	'^built build/hello \(.*, static x86-64, musl\)$' run /m
check "build without --musl: glibc again" run_is 0 '*' '' build
check "... glibc" out_has 'static x86-64, glibc\)$'
printf 'const char *suffix(void) { return "!"; }\n' >src/extra.c
sed -i 's|"sources": \["src/main.c"\],|"sources": ["src/*.c"],|; s|"libc": "glibc"|"libc": "musl"|; s|"flags": \[\],|"flags": ["-O3", "-lm"],|' tkvm.json
check "\"src/*.c\", libc musl, -O3 -lm: builds" run_is 0 '*' '*' build -v
check "... compiles both files" err_has 'src/extra\.c$'
check "... -lm only at the link" err_has '^\$ musl-gcc -static .*-main\.o -O3 -lm$'
check "... musl" out_has 'static x86-64, musl\)$'
check "... runs" run_is 0 'Hello from hello! You asked for /\n' '' run
cp "$TMP/tkvm.json.good" tkvm.json
rm src/extra.c

# poll(), which Rust's start-up calls on fds 0-2 (and aborts when it fails): never blocks, open
# descriptors ready for what was asked, others POLLNVAL.
cd "$TMP" && "$TKVM" new polls >/dev/null && cd polls || exit 1
cat >src/main.c <<'EOF'
#include "kvm_api.h"
#include <poll.h>
#include <stdio.h>

static void on_get(const char *url, const char *arg)
{
	struct pollfd fds[4] = {{0, POLLIN, 0}, {1, POLLOUT, 0}, {2, 0, 0}, {99, POLLIN, 0}};
	int ready = poll(fds, 4, 5000);
	char text[64];
	snprintf(text, sizeof text, "%d %d %d %d %d\n", ready, fds[0].revents, fds[1].revents, fds[2].revents, fds[3].revents);
	backend_response_str(200, "text/plain", text);
}

int main(void)
{
	set_backend_get(on_get);
	wait_for_requests();
}
EOF
check "poll(): ready descriptors and POLLNVAL, at once" run_is 0 '3 1 4 0 32\n' '*' run GET /

# Installed layout: PREFIX/bin/tkvm finds PREFIX/share/tkvm/templates and PREFIX/include/tkvm.
mkdir -p "$TMP/prefix/bin" "$TMP/prefix/share/tkvm" "$TMP/prefix/include/tkvm"
cp "$TKVM" "$TMP/prefix/bin/tkvm"
cp -R "$ROOT/templates" "$TMP/prefix/share/tkvm/templates"
cp "$ROOT/sdk/kvm_api.h" "$TMP/prefix/include/tkvm/"
cd "$TMP" || exit 1
check "installed: new finds the templates" sh -c '"$1/prefix/bin/tkvm" new inst >/dev/null' sh "$TMP"
cd inst || exit 1
check "installed: build uses PREFIX/include/tkvm" \
	sh -c '"$1/prefix/bin/tkvm" build -v 2>&1 | grep -q -- "-I$1/prefix/include/tkvm "' sh "$TMP"
check "... and it runs" sh -c '"$1/prefix/bin/tkvm" run /i | grep -qx "Hello from inst! You asked for /i"' sh "$TMP"

cd "$TMP" || exit 1
check "build outside a project: exit 2" run_is 2 '' '^error: no tkvm\.json here or in a parent directory: nothing to build$' build
check "... hint" err_has "^hint: start a project with 'tkvm new NAME'"
check "run outside a project: exit 2" \
	run_is 2 '' '^error: no program given and no tkvm\.json here or in a parent directory$' run GET /
check "... hint: tkvm new" err_has "tkvm new NAME"
check "run /x outside a project: exit 2" run_is 2 '' 'no program given and no tkvm\.json' run /x

# --- C++ ---------------------------------------------------------------------------------------
check "new cxx --lang cpp: exit 0" run_is 0 '*' '' new cxx --lang cpp
check "... C++ sources" out_has '^created cxx/ \(C\+\+\): .*src/main\.cpp'
cd "$TMP/cxx" || exit 1
check "cpp: build" run_is 0 '*' '' build
check "... static x86-64, glibc" out_has '^built build/cxx \(.*static x86-64, glibc\)$'
check "cpp: run GET" run_is 0 'Hello from cxx! You asked for /a?b\n' '' run '/a?b'
check "cpp: run POST" run_is 0 'Hello from cxx! Received 3 bytes of text/x at /p\n' '' run POST /p -d abc -H 'Content-Type: text/x'
check "cpp: up to date" run_is 0 'build/cxx is up to date\n' '' build
check "cpp: --musl is for C: exit 1" run_is 1 '' 'musl-gcc builds C only' build --musl
if has_test_command; then
	check "cpp: tkvm test passes" run_is 0 '*' '*' test
fi

# --- Rust --------------------------------------------------------------------------------------
cd "$TMP" || exit 1
check "new 1abc --lang rust: exit 2 (a cargo name)" run_is 2 '' 'must not start with a digit' new 1abc --lang rust
if command -v cargo >/dev/null 2>&1; then
	check "new rusty --lang rust: exit 0" run_is 0 '*' '' new rusty --lang rust
	check "... a crate" test -f rusty/Cargo.toml -a -f rusty/src/main.rs -a -f rusty/src/kvm_api.rs
	cd "$TMP/rusty" || exit 1
	check "rust: build (cargo)" run_is 0 '*' '*' build
	check "... static x86-64" out_has '^built build/rusty \(.*static x86-64, Rust \(glibc\)\)$'
	check "... no interpreter" sh -c '! readelf -l build/rusty | grep -q INTERP'
	check "rust: up to date (Cargo.lock included)" run_is 0 'build/rusty is up to date\n' '' build
	check "rust: run GET" run_is 0 'Hello from rusty! You asked for /r?q=1\n' '' run '/r?q=1'
	check "rust: run POST" run_is 0 'Hello from rusty! Received 4 bytes of application/octet-stream at /p\n' '' \
		run POST /p -d abcd
	check "rust: natively" sh -c './build/rusty /n | grep -qx "Hello from rusty! You asked for /n"'
	touch src/main.rs
	check "rust: touching main.rs rebuilds" run_is 0 '*' '*' build
	check "... built" out_has '^built build/rusty '
	printf 'fn broken() -> u32 { "no" }\n' >>src/main.rs
	check "rust: a compile error: exit 1" run_is 1 '' 'build failed: cargo exited with status' build
	check "... rustc's message" err_has 'mismatched types'
	if has_test_command; then
		sed -i '$d' src/main.rs
		check "rust: tkvm test passes" run_is 0 '*' '*' test
	fi
else
	echo "skip - Rust template: cargo is not installed here"
fi

exit $tap_failed
