#!/bin/sh
# t0004-run-settings: program settings from --config (library-JSON keys, comments allowed) and
# from flags (--allow, --env, --main-arg, --name, --max-*, --set), and their errors: broken JSON
# names file:line and exits 2, unknown keys warn with "did you mean", bad values exit 2.
# shellcheck disable=SC2016,SC2317 # single quotes go to sh -c; check calls the functions
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=SCRIPTDIR/../lib/tap.sh
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=SCRIPTDIR/common.sh
. "$ROOT/tests/cli/common.sh"

# In tkvm's environment, never in the program's.
TKVM_LEAK_CHECK=1
export TKVM_LEAK_CHECK

printf 'allowed content\n' >"$TMP/allowed.txt"
printf 'not listed\n' >"$TMP/other.txt"
printf 'third\n' >"$TMP/third.txt"
cat >"$TMP/config.json" <<EOF
// settings for readfile (a line comment)
{
	/* a block comment */
	"allowed_paths": ["$TMP/allowed.txt"], // a comment after a value
	"max_memory": 128,
	"max_request_time": 4
}
EOF
printf '{\n\t"max_memory": 64,\n}\n' >"$TMP/trailing.json"
printf '{\n\t"max_memroy": 64\n}\n' >"$TMP/typo.json"
printf '{\n\t"max_memory": "big"\n}\n' >"$TMP/badvalue.json"
printf '{\n\t"max_memory": 64\n' >"$TMP/unterminated.json"
printf '[1, 2]\n' >"$TMP/array.json"
printf '{\n\t"main_arguments": ["from-config"],\n\t"environment": ["CFG=1"]\n}\n' >"$TMP/env.json"
printf '{\n\t"stdout": true\n}\n' >"$TMP/stdout.json"

for lib in $LIBS; do
	G=$GUESTS/$lib

	# --config with comments and allowed_paths.
	check "$lib: --config: an allowed file is readable (200 with its bytes)" \
		run_is 0 'allowed content\n' '' run --config "$TMP/config.json" "$G/readfile" /r --arg "$TMP/allowed.txt"
	check "$lib: --config: X-File-Size is the file's size" \
		run_is 0 '*' '' run -i -c "$TMP/config.json" "$G/readfile" /r --arg "$TMP/allowed.txt"
	check "$lib: ... X-File-Size: 16" out_has "^X-File-Size: 16$(printf '\r')\$"
	check "$lib: --config: a file not listed is not there (404, exit 1)" \
		run_is 1 "open $TMP/other.txt: No such file or directory\\n" 'readfile answered 404 Not Found' \
		run -c "$TMP/config.json" "$G/readfile" /r --arg "$TMP/other.txt"
	check "$lib: without settings no host file is visible" \
		run_is 1 "open $TMP/allowed.txt: No such file or directory\\n" 'readfile answered 404 Not Found' run "$G/readfile" /r --arg "$TMP/allowed.txt"
	check "$lib: --allow PATH makes a file readable" \
		run_is 0 'not listed\n' '' run --allow "$TMP/other.txt" "$G/readfile" /r --arg "$TMP/other.txt"
	check "$lib: --allow adds to the config's allowed_paths" \
		run_is 0 'allowed content\n' '' \
		run -c "$TMP/config.json" --allow "$TMP/third.txt" "$G/readfile" /r --arg "$TMP/allowed.txt"
	check "$lib: ... and the --allow'ed file is readable too" \
		run_is 0 'third\n' '' \
		run -c "$TMP/config.json" --allow "$TMP/third.txt" "$G/readfile" /r --arg "$TMP/third.txt"
	check "$lib: --allow'ed /stat gives the size" \
		run_is 0 'size=11\n' '' run --allow "$TMP/other.txt" "$G/readfile" /stat --arg "$TMP/other.txt"

	# --env and --main-arg, visible through the env program.
	check "$lib: --env and --main-arg reach the program" \
		run_is 0 '*' '' run --env FOO=bar --env 'SPACED=a b' --main-arg one --main-arg 'two words' "$G/env" /
	check "$lib: ... argc=3" out_has '^argc=3$'
	check "$lib: ... argv[0] is the program name" out_has '^argv\[0\]=env$'
	check "$lib: ... argv[1]=one" out_has '^argv\[1\]=one$'
	check "$lib: ... argv[2]=two words" out_has '^argv\[2\]=two words$'
	check "$lib: ... env=FOO=bar" out_has '^env=FOO=bar$'
	check "$lib: ... env=SPACED=a b" out_has '^env=SPACED=a b$'
	check "$lib: ... KVM_NAME defaults to the file name" out_has '^env=KVM_NAME=env$'
	check "$lib: ... tkvm's own environment does not leak in" sh -c '! grep -q "TKVM_LEAK_CHECK" "$1"' sh "$TMP/tk.out"
	check "$lib: --name sets KVM_NAME" run_is 0 '*' '' run --name myprog "$G/env" /
	check "$lib: ... env=KVM_NAME=myprog" out_has '^env=KVM_NAME=myprog$'
	check "$lib: --config environment and main_arguments" run_is 0 '*' '' run -c "$TMP/env.json" "$G/env" /
	check "$lib: ... argv[1]=from-config" out_has '^argv\[1\]=from-config$'
	check "$lib: ... env=CFG=1" out_has '^env=CFG=1$'
	check "$lib: flags add to the config's lists" \
		run_is 0 '*' '' run -c "$TMP/env.json" --main-arg flag --env FLAG=2 "$G/env" /
	check "$lib: ... argv[2]=flag" out_has '^argv\[2\]=flag$'
	check "$lib: ... env=FLAG=2" out_has '^env=FLAG=2$'

	# Limits from flags and config take effect.
	check "$lib: --config \"stdout\": true shows the program's output" \
		run_is 0 'Hello from tkvm: /\n' '^hello: ready$' run -c "$TMP/stdout.json" "$G/hello" /
	check "$lib: --max-request-time from flags wins over --config" \
		run_is 1 '' 'request timed out after 0\.5 s' run -c "$TMP/config.json" --max-request-time 0.5 "$G/request_loop" /
	check "$lib: --max-memory 64 limits memory" \
		run_is 1 '*' '*' run --max-memory 64 "$G/memory_bomb" /mmap
	check "$lib: ... mmap fails below 64 MiB" sh -c 'n=$(sed -n "s/^mmap failed after \([0-9]*\) MiB$/\1/p" "$1"); [ -n "$n" ] && [ "$n" -lt 64 ]' sh "$TMP/tk.out"

	# --set KEY=VALUE: any settings key (the help's own example is --set stdout=true).
	check "$lib: --set stdout=true shows the program's output" \
		run_is 0 'Hello from tkvm: /\n' '^hello: ready$' run --set stdout=true "$G/hello" /
	check "$lib: --set max_memory=128" \
		run_is 0 'Hello from tkvm: /\n' '' run --set max_memory=128 "$G/hello" /
	check "$lib: --set group=mygroup sets KVM_GROUP" run_is 0 '*' '' run --set group=mygroup "$G/env" /
	check "$lib: ... env=KVM_GROUP=mygroup" out_has '^env=KVM_GROUP=mygroup$'
done

G=$GUESTS/glibc
# Settings errors: exit 2 before anything runs, naming the file, line and problem.
check "a config with a trailing comma: exit 2" \
	run_is 2 '' 'trailing comma' run -c "$TMP/trailing.json" "$G/hello" /
check "... names file:line" err_has "^error: $TMP/trailing\\.json:2(:[0-9]+)?: .*trailing comma"
check "an unknown config key: warning with did you mean, still runs" \
	run_is 0 'Hello from tkvm: /\n' 'did you mean "max_memory"' run -c "$TMP/typo.json" "$G/hello" /
check "... warning: file:line: unknown key" err_has "^warning: $TMP/typo\\.json:2: unknown key \"max_memroy\""
check "a bad config value: exit 2 naming the key" \
	run_is 2 '' "^error: $TMP/badvalue\\.json:2: \"max_memory\" must be a number" run -c "$TMP/badvalue.json" "$G/hello" /
check "an unterminated config: exit 2" \
	run_is 2 '' "^error: $TMP/unterminated\\.json:[0-9]+(:[0-9]+)?: invalid JSON" run -c "$TMP/unterminated.json" "$G/hello" /
check "a config that is not an object: exit 2" \
	run_is 2 '' 'must be a JSON object, got an array' run -c "$TMP/array.json" "$G/hello" /
check "a missing config file: exit 2" \
	run_is 2 '' "^error: cannot open '$TMP/nosuch\\.json': No such file or directory" run -c "$TMP/nosuch.json" "$G/hello" /
check "--max-request-time abc: exit 2" \
	run_is 2 '' '"max_request_time" must be a number of seconds, got "abc"' run --max-request-time abc "$G/hello" /
check "--max-request-time 0: exit 2" \
	run_is 2 '' '"max_request_time" must be more than 0' run --max-request-time 0 "$G/hello" /
check "--max-boot-time -1: exit 2" \
	run_is 2 '' '"max_boot_time" must be more than 0' run --max-boot-time -1 "$G/hello" /
check "--max-memory 0: exit 2" \
	run_is 2 '' '"max_memory" must be' run --max-memory 0 "$G/hello" /
check "--max-memory lots: exit 2" \
	run_is 2 '' '"max_memory" must be a number of megabytes, got "lots"' run --max-memory lots "$G/hello" /
check "--env without =: exit 2" \
	run_is 2 '' 'must look like NAME=value, got "NOEQUALS"' run --env NOEQUALS "$G/hello" /
check "--set with an unknown key: exit 2 with did you mean" \
	run_is 2 '' 'unknown setting "max_memroy" \(did you mean "max_memory"\?\)' run --set max_memroy=3 "$G/hello" /
check "--set without =: exit 2" \
	run_is 2 '' "^error: --set wants KEY=VALUE, got 'stdout'" run --set stdout "$G/hello" /
check "--set with a bad value: exit 2 quoting the value" \
	run_is 2 '' '"stdout" must be true or false, got "maybe"' run --set stdout=maybe "$G/hello" /

exit $tap_failed
