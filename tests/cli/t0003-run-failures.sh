#!/bin/sh
# t0003-run-failures: exit status 1 and a clear message on stderr whenever the request does not
# succeed: 4xx/5xx answers, crashes, timeouts, boot failures, memory exhaustion, on_error recovery,
# hostile host calls; and bad program files (missing, directory, not ELF, dynamic, truncated).
# shellcheck disable=SC2016,SC2317 # single quotes go to sh -c; check calls the functions
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=SCRIPTDIR/../lib/tap.sh
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=SCRIPTDIR/common.sh
. "$ROOT/tests/cli/common.sh"

for lib in $LIBS; do
	G=$GUESTS/$lib

	# A 4xx/5xx answer: the body is printed, the exit status is 1.
	check "$lib: readfile of a missing file answers 404, exit 1" \
		run_is 1 'open /nonexistent/file: No such file or directory\n' '*' run "$G/readfile" /r --arg /nonexistent/file
	check "$lib: ... -i shows 404 Not Found" \
		run_is 1 'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 50\r\n\r\nopen /nonexistent/file: No such file or directory\n' '*' \
		run -i "$G/readfile" /r --arg /nonexistent/file
	check "$lib: a 507 answer exits 1" \
		run_is 1 '*' '*' run --max-memory 64 "$G/memory_bomb" /mmap
	check "$lib: ... with the program's body" out_has '^mmap failed after [0-9]+ MiB$'
	check "$lib: the VM still answers after the checks above (/ok)" \
		run_is 0 'fine\n' '' run "$G/crash" /ok

	# Crashes: 500 with an empty body, the fault and the function on stderr.
	check "$lib: crash /null exits 1 with nothing on stdout" \
		run_is 1 '' 'NULL pointer dereference' run "$G/crash" /null
	check "$lib: ... names the program and the function" \
		err_has '^error: crash: request failed: segmentation fault: NULL pointer dereference \(writing address 0x0\), at 0x[0-9a-f]+ \(deref_null\+0x[0-9a-f]+\)$'
	check "$lib: ... -i shows the 500" \
		run_is 1 'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n' 'deref_null' run -i "$G/crash" /null
	check "$lib: crash /ud2 is an invalid opcode in illegal_instruction" \
		run_is 1 '' 'invalid opcode.*illegal_instruction' run "$G/crash" /ud2
	check "$lib: crash /div0 is a divide error in divide_by_zero" \
		run_is 1 '' 'divide error.*divide_by_zero' run "$G/crash" /div0
	check "$lib: crash /abort says abort() was called" \
		run_is 1 '' 'SIGABRT \(abort\(\) was called\)' run "$G/crash" /abort
	check "$lib: crash /stack is a stack overflow in recurse_forever" \
		run_is 1 '' 'stack overflow.*recurse_forever' run "$G/crash" /stack
	check "$lib: crash /exit says the program exited with status 3" \
		run_is 1 '' 'the program exited with status 3 during the request' run "$G/crash" /exit
	check "$lib: --json for a crash has the error" \
		run_is 1 '*' '*' run --json "$G/crash" /null
	check "$lib: ... parses with status 500, outcome failed, the error" json_is "$TMP/tk.out" \
		'd["status"] == 500 and d["outcome"] == "failed" and "NULL pointer dereference" in d["error"] and d["body"] == ""'

	# Time and memory limits.
	check "$lib: --max-request-time 0.5 on request_loop times out, exit 1" \
		run_is 1 '' 'request timed out after 0\.5 s' run --max-request-time 0.5 "$G/request_loop" /
	check "$lib: ... and says where" err_has '^error: request_loop: request failed: .*\(on_get\+0x[0-9a-f]+\)$'
	check "$lib: --max-boot-time 0.3 on boot_loop fails the boot, exit 1" \
		run_is 1 '' 'did not call wait_for_requests within max_boot_time \(0\.3 s\)' \
		run --max-boot-time 0.3 "$G/boot_loop" /
	check "$lib: ... and says where" err_has '\(main\+0x[0-9a-f]+\)$'
	check "$lib: boot_exit: did not call wait_for_requests, exit 1" \
		run_is 1 '' '^error: boot_exit: program did not call wait_for_requests: it exited with status 0' \
		run "$G/boot_exit" /
	check "$lib: ... --verbose shows what main printed" \
		run_is 1 '' '^boot_exit: leaving main$' run --verbose "$G/boot_exit" /
	check "$lib: memory_bomb with --max-memory 64 runs out of memory, exit 1" \
		run_is 1 '' 'out of memory \(max_memory 64 MB' run --max-memory 64 "$G/memory_bomb" /

	# on_error: the program's second chance answers; still a failure (503).
	check "$lib: crash_recover /null: on_error answers the body" \
		run_is 1 '*' '*' \
		run "$G/crash_recover" /null
	check "$lib: ... the body names the fault" out_has '^recovered: segmentation fault: NULL pointer dereference \(writing address 0x0\), at 0x[0-9a-f]+ \(deref_null\+0x[0-9a-f]+\)$'
	check "$lib: ... stderr has the crash" err_has '^error: crash_recover: request failed: segmentation fault: NULL pointer dereference'
	check "$lib: ... and a hint that on_error answered (status 503)" \
		err_has "^hint: .*on_error.*503"
	check "$lib: ... -i shows 503" run_is 1 '*' '*' run -i "$G/crash_recover" /null
	check "$lib: ... HTTP/1.1 503" out_has '^HTTP/1\.1 503 '
	check "$lib: crash_recover /double: on_error crashes too, empty 500, exit 1" \
		run_is 1 'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n' 'NULL pointer dereference' \
		run -i "$G/crash_recover" /double
	check "$lib: crash_recover /ok" run_is 0 'fine\n' '' run "$G/crash_recover" /ok

	# Hostile host calls: the host ends the request with "bad host call", empty 500.
	for url in /wild-body /huge-length /wild-ctype /long-ctype /bad-status /many-headers \
		/wild-extra /bad-where /find-wild /register-late /wait-twice /huge-log; do
		check "$lib: hostile $url is a bad host call, exit 1" \
			run_is 1 '' '^error: hostile: request failed: bad host call ' run "$G/hostile" "$url"
	done
	check "$lib: hostile /wild-body names the call and the pointer" \
		run_is 1 '' 'bad host call backend_response: body \(0xdead0000000, 16 bytes\) is outside guest memory' \
		run "$G/hostile" /wild-body
	check "$lib: hostile /bad-status names the status" \
		run_is 1 '' 'status 99 is not between 200 and 599' run "$G/hostile" /bad-status
	check "$lib: hostile /unknown-call gets ENOSYS" \
		run_is 0 'enosys ok\n' '' run "$G/hostile" /unknown-call
	check "$lib: hostile /syscall-wild gets EFAULT" \
		run_is 0 'efault ok\n' '' run "$G/hostile" /syscall-wild
	check "$lib: hostile /unknown-url is the program's 404" \
		run_is 1 'unknown /unknown-url\n' 'hostile answered 404 Not Found' run "$G/hostile" /unknown-url
done

# Bad program files: exit 1 and an error naming the file and the problem.
G=$GUESTS/glibc
check "missing program file: cannot open, exit 1" \
	run_is 1 '' "^error: cannot open '$TMP/nosuch': No such file or directory$" run "$TMP/nosuch" GET /
mkdir -p "$TMP/adir"
check "a directory as program, exit 1" \
	run_is 1 '' "^error: '$TMP/adir' is a directory, not a file$" run "$TMP/adir" /
printf '#!/bin/sh\necho hello\n' >"$TMP/script.sh"
chmod +x "$TMP/script.sh"
check "a shell script: not an ELF file, exit 1" \
	run_is 1 '' '^error: script\.sh: ELF: not an ELF file' run "$TMP/script.sh" /
: >"$TMP/empty"
check "an empty file: ELF: file is empty, exit 1" \
	run_is 1 '' '^error: empty: ELF: file is empty$' run "$TMP/empty" /
if [ -f /bin/true ] && od -An -c -N4 /bin/true | grep -q 'E   L   F' &&
	od -An -c /bin/true | grep -q 'l   d   -' ; then
	check "a dynamic executable (/bin/true) is refused, exit 1" \
		run_is 1 '' 'dynamic executables are not supported yet' run /bin/true /
	check "... with a hint to link statically" err_has '^hint: .*-static'
else
	echo "skip - /bin/true is not a dynamic ELF executable here"
fi
head -c 100 "$G/hello" >"$TMP/truncated"
check "an ELF truncated to 100 bytes: program headers past the end, exit 1" \
	run_is 1 '' '^error: truncated: ELF: program headers .* extend past the end of the file' run "$TMP/truncated" /
head -c 3000 "$G/hello" >"$TMP/truncated2"
check "an ELF truncated inside a segment: segment past the end, exit 1" \
	run_is 1 '' '^error: truncated2: ELF: segment [0-9]+ .* extends past the end of the file' run "$TMP/truncated2" /
head -c 10 "$G/hello" >"$TMP/truncated3"
check "an ELF truncated inside its header, exit 1" \
	run_is 1 '' '^error: truncated3: ELF: ' run "$TMP/truncated3" /
if [ "$(id -u)" != 0 ]; then
	cp "$G/hello" "$TMP/unreadable" && chmod 000 "$TMP/unreadable"
	check "an unreadable program: Permission denied, exit 1" \
		run_is 1 '' "cannot open '$TMP/unreadable': Permission denied" run "$TMP/unreadable" /
fi

exit $tap_failed
