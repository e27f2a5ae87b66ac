#!/bin/sh
# t0050-profile: `tkvm profile` end to end. split (tests/guests/split.c) spends its GET in work_a and
# work_b, 1:3: the samples must say so for glibc and musl; the phase table, the flame graph (SVG),
# speedscope JSON, folded stacks, --save/--against (a regression fails with exit 1), a build
# without frame pointers (leaf functions and a hint), bad inputs with clear errors.
# shellcheck disable=SC2016,SC2317 # single quotes go to sh -c / python; check calls the functions
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=SCRIPTDIR/../lib/tap.sh
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=SCRIPTDIR/common.sh
. "$ROOT/tests/cli/common.sh"

# split_share FILE: work_b / (work_a + work_b) by self samples, from a --save/--json profile.
split_share_between() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
self = {f["name"]: f["self"] for f in d["functions"]}
a, b = self.get("work_a", 0), self.get("work_b", 0)
share = b / (a + b) if a + b else 0
print("work_b share %.3f (work_a %.3f, work_b %.3f, %d samples)" % (share, a, b, d["sampling"]["samples"]))
sys.exit(0 if float(sys.argv[2]) <= share <= float(sys.argv[3]) else 1)
' "$1" "$2" "$3"
}

# svg_ok FILE NAME...: FILE parses as XML, is an <svg>, and names each NAME in a frame's title.
svg_ok() {
	python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
titles = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}title")]
rects = list(root.iter("{http://www.w3.org/2000/svg}rect"))
for name in sys.argv[2:]:
    assert any(t.startswith(name + " ") or t.startswith(name + ":") for t in titles), "no frame " + name
assert len(rects) > len(sys.argv) - 2, "too few rectangles"
' "$@"
}

# speedscope_ok FILE NAME...: the essentials of speedscope'"'"'s file-format schema, and frames named NAME.
speedscope_ok() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["$schema"] == "https://www.speedscope.app/file-format-schema.json"
frames = d["shared"]["frames"]
assert isinstance(frames, list) and frames
for f in frames:
    assert isinstance(f["name"], str) and f["name"]
    assert "line" not in f or isinstance(f["line"], int)
p = d["profiles"][0]
assert p["type"] == "sampled", p["type"]
assert p["unit"] in ("none", "nanoseconds", "microseconds", "milliseconds", "seconds", "bytes")
assert isinstance(p["name"], str) and p["endValue"] >= p["startValue"]
assert len(p["samples"]) == len(p["weights"]) > 0
for stack in p["samples"]:
    assert stack and all(isinstance(i, int) and 0 <= i < len(frames) for i in stack), stack
names = {f["name"] for f in frames}
for name in sys.argv[2:]:
    assert name in names, "no frame " + name
' "$@"
}

# folded_ok FILE SAVED: every line is "frame;frame;... count", and the counts add up to the samples of SAVED.
folded_ok() {
	python3 -c '
import json, re, sys
total = 0
for line in open(sys.argv[1]):
    m = re.fullmatch(r"(\S[^\n]*) (\d+)\n", line)
    assert m, "bad line %r" % line
    assert all(m.group(1).split(";")), "empty frame in %r" % line
    total += int(m.group(2))
samples = json.load(open(sys.argv[2]))["sampling"]["samples"]
assert total == samples, "%d folded, %d samples" % (total, samples)
' "$1" "$2"
}

for lib in $LIBS; do
	G=$GUESTS/$lib
	out=$TMP/$lib
	mkdir -p "$out"

	# One run, every output: 200 requests per set at 1000 Hz, ~2.5 samples each.
	check "$lib: profile split with every output" \
		run_is 0 '*' '' profile -n 200 --hz 1000 --svg "$out/flame.svg" --speedscope "$out/speedscope.json" \
		--folded "$out/folded.txt" --save "$out/split.json" "$G/split" GET /
	check "$lib: ... the 1:3 split lands (work_b share in 0.68..0.82)" split_share_between "$out/split.json" 0.68 0.82
	check "$lib: ... the phase table has p50, p90 and p99" out_has '^phase \(per request\) +calls +p50 +p90 +p99$'
	check "$lib: ... the request row" out_has '^request \(dispatch to stop\) +[0-9.]+ ms +[0-9.]+ ms +[0-9.]+ ms$'
	check "$lib: ... the guest row" out_has '^  in the guest \(program \+ entries/exits\) '
	check "$lib: ... backend_response, once per request" out_has '^    backend_response +1 +[0-9.]+ [nµm]?s '
	check "$lib: ... reset, pages restored, exits, bytes" \
		sh -c 'grep -Eq "^reset after the request " "$1" && grep -Eq "^pages restored +[0-9]" "$1" &&
			grep -Eq "^VM exits +1 +1 +1$" "$1" && grep -Eq "^bytes out +23 +23 +23$" "$1"' sh "$TMP/tk.out"
	check "$lib: ... the functions, with file:line from DWARF" out_has '^ +[0-9.]+% +[0-9.]+% +work_b +split\.c:[0-9]+$'
	check "$lib: ... on_get, their caller" out_has '^ +[0-9.]+% +[0-9.]+% +on_get +split\.c:[0-9]+$'
	check "$lib: ... is on every stack through them (total >= their self)" \
		json_is "$out/split.json" '[f["total"] for f in d["functions"] if f["name"] == "on_get"][0] >= sum(f["self"] for f in d["functions"] if f["name"] in ("work_a", "work_b")) - 1e-9'
	check "$lib: ... the sampling overhead, per request and per sample" \
		out_has '^sampling overhead: [+-][0-9.]+ [nµm]?s ± [0-9.]+ [nµm]?s per request \([+-][0-9.]+%\), [-0-9.]+ [nµm]?s ± [0-9.]+ [nµm]?s per sample'
	check "$lib: ... no frame-pointer hint for a program built with them" err_lacks 'frame pointers'
	check "$lib: ... no escape sequences when not on a terminal" no_escapes "$TMP/tk.out" "$TMP/tk.err"
	check "$lib: ... the SVG parses and shows work_a, work_b, on_get" svg_ok "$out/flame.svg" work_a work_b on_get
	check "$lib: ... speedscope JSON has the schema's essentials" speedscope_ok "$out/speedscope.json" work_a work_b
	check "$lib: ... folded stacks parse and add up" folded_ok "$out/folded.txt" "$out/split.json"
	check "$lib: ... folded stacks run from the request down" grep -Eq '^\[tkvm request\];on_get;work_b [0-9]+$' "$out/folded.txt"
	check "$lib: ... the saved profile has phase percentiles" \
		json_is "$out/split.json" 'd["tkvm_profile"] == 1 and d["phases"]["request"]["p50"] > 0 and d["phases"]["host_call:backend_response"]["p99"] > 0'

	check "$lib: --json prints the profile as JSON" run_is 0 '*' '' profile --json -n 20 "$G/split" /
	check "$lib: ... with phases and functions" \
		json_is "$TMP/tk.out" 'd["program"] == "split" and d["requests"] == 20 and "p90" in d["phases"]["guest"] and d["sample_hz"] == 500 and isinstance(d["functions"], list)'

	# Timings swing with the load of a shared machine: the same program must pass, but with room.
	check "$lib: --against the same program passes" \
		run_is 0 '*' '' profile -n 50 --against "$out/split.json" --threshold 1000% "$G/split" /
	check "$lib: ... and says so" out_has '^no regression beyond 1000%$'
	check "$lib: --save a profile of hello (much faster)" run_is 0 '*' '' profile -n 50 --save "$out/hello.json" "$G/hello" /
	check "$lib: split --against hello fails with exit 1" \
		run_is 1 '*' 'regression: request \(dispatch to stop\) \(request\): p50 .* → .* ms' \
		profile -n 20 --against "$out/hello.json" "$G/split" /
	check "$lib: ... the table marks it" out_has '^request \(dispatch to stop\) .* regression$'
	check "$lib: --against --json adds the comparison" \
		run_is 1 '*' 'regression' profile -n 20 --json --against "$out/hello.json" "$G/split" /
	check "$lib: ... naming the regressions" json_is "$TMP/tk.out" '"request" in d["comparison"]["regressions"]'

	# Without frame pointers: leaf functions only, the split still right, and the hint.
	case $lib in glibc) cc=gcc ;; musl) cc=musl-gcc ;; esac
	check "$lib: split.c builds with -fomit-frame-pointer" \
		"$cc" -std=gnu11 -static -O2 -fomit-frame-pointer -I"$ROOT" -o "$out/split_nofp" "$ROOT/tests/guests/split.c"
	check "$lib: ... profiles" run_is 0 '*' '*' profile -n 150 --hz 1000 --save "$out/nofp.json" "$out/split_nofp" /
	check "$lib: ... with the frame-pointer hint" err_has '^hint: build with -fno-omit-frame-pointer \(tkvm build --profile\)'
	check "$lib: ... saying the samples have no callers" err_has '^warning: [0-9]+ of [0-9]+ samples have no callers'
	check "$lib: ... and the leaf split still lands" split_share_between "$out/nofp.json" 0.66 0.84
done

G=$GUESTS/glibc
check "--hz 0: phases only" run_is 0 '*' '' profile --hz 0 -n 10 "$G/hello" /
check "... no samples section" sh -c '! grep -q "^samples:" "$1"' sh "$TMP/tk.out"
check "--help" run_is 0 '*' '' profile --help
check "... shows the usage" out_has '^usage: tkvm profile \[options\] \[PROGRAM\] \[METHOD\] URL$'

check "a missing program" run_is 1 '' "^error: cannot open '$TMP/nothing': No such file or directory" \
	profile "$TMP/nothing" GET /
check "a bad --hz" run_is 2 '' "^error: --hz wants a sampling rate from 1 to 5000 per second \(0: phases only\), got 'fast'" \
	profile --hz fast "$G/split" /
check "a --hz too high" run_is 2 '' "got '99999'" profile --hz 99999 "$G/split" /
check "a negative --hz" run_is 2 '' "got '-5'" profile --hz -5 "$G/split" /
check "-n 0" run_is 2 '' "^error: -n wants a number of requests from 1 to 100000, got '0'" profile -n 0 "$G/split" /
check "a bad --threshold" run_is 2 '' "^error: --threshold wants a percentage above 0, such as 10%, got 'lots'" \
	profile --threshold lots --against "$TMP/glibc/split.json" "$G/split" /
check "--svg with --hz 0" run_is 2 '' '^error: --svg, --speedscope and --folded need samples' \
	profile --hz 0 --svg "$TMP/x.svg" "$G/split" /
check "an unreadable --against file" run_is 2 '' "^error: cannot open '$TMP/missing.json': No such file or directory" \
	profile --against "$TMP/missing.json" "$G/split" /
printf '{"tkvm_profile": 1, "phases": {' >"$TMP/broken.json"
check "a --against file that is not JSON" run_is 2 '' "^error: $TMP/broken.json:1:[0-9]+: invalid JSON" \
	profile --against "$TMP/broken.json" "$G/split" /
printf '{"phases": {}}\n' >"$TMP/other.json"
check "a --against file that is not a profile" \
	run_is 2 '' "^error: '$TMP/other.json' is not a saved tkvm profile: no \"tkvm_profile\" version number" \
	profile --against "$TMP/other.json" "$G/split" /
printf '{"tkvm_profile": 1, "phases": {"request": {"p50": "fast"}}}\n' >"$TMP/typed.json"
printf '{"tkvm_profile": 1, "phases": {"request": {"p50": -1}}}\n' >"$TMP/negative.json"
check "a --against phase without a numeric p50" run_is 2 '' 'phase "request" has no "p50" \(a number from 0 to 1e12\)' \
	profile --against "$TMP/typed.json" "$G/split" /
check "a --against phase with a negative p50" run_is 2 '' 'phase "request" has no "p50"' \
	profile --against "$TMP/negative.json" "$G/split" /
check "an output file that cannot be written" \
	run_is 1 '*' "^error: cannot write the flame graph '$TMP/no/such/dir/f.svg': No such file or directory" \
	profile -n 5 --svg "$TMP/no/such/dir/f.svg" "$G/split" /
check "a request that fails ends the profile" \
	run_is 1 '' '^error: crash: the warm-up request failed: .*NULL' profile -n 5 "$G/crash" /null
check "an unknown option" run_is 2 '' "^error: unknown option '--flame'" profile --flame "$G/split" /
check "--svg without a value" run_is 2 '' "^error: option '--svg' needs a value" profile "$G/split" / --svg

exit $tap_failed
