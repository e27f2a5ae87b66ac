# The set-up of the CLI tests that need a real nginx (sourced, not a test): TAP, the tkvm helpers,
# the serve helpers and tests/lib/nginx.sh, in the order nginx.sh's EXIT trap needs.
#
#	ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
#	. "$ROOT/tests/cli/nginx_common.sh"
#	nginx_require dav_ext openssl      # skips the whole test (exit 0) when one is missing
#	new_projects alpha beta            # built projects in $TMP/projects/
#	valid_library FILE alpha beta      # a check: the library has those members
serve_given_tmp=${TMP:-}
. "$ROOT/tests/lib/tap.sh"
. "$ROOT/tests/cli/common.sh"
. "$ROOT/tests/cli/serve_common.sh"
. "$ROOT/tests/lib/nginx.sh"

# nginx_require [dav_ext] [openssl]: nginx, and what else the test needs, is installed; otherwise
# a "skip" line saying what to install, and the test ends with exit 0.
nginx_require() {
	nr_missing=""
	have_nginx || nr_missing=" nginx"
	for nr_need in "$@"; do
		case $nr_need in
		dav_ext) have_nginx_dav_ext || nr_missing="$nr_missing libnginx-mod-http-dav-ext" ;;
		openssl) command -v openssl >/dev/null || nr_missing="$nr_missing openssl" ;;
		*) echo "not ok - nginx_require: unknown need \"$nr_need\""; exit 1 ;;
		esac
	done
	[ -z "$nr_missing" ] && return 0
	echo "skip - $(basename "$0"): not installed:$nr_missing (apt-get install$nr_missing)"
	exit 0
}

# valid_library FILE NAME...: FILE is a library JSON object (comments allowed) whose members
# include every NAME.
valid_library() {
	python3 - "$@" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
text = re.sub(r'^\s*//.*$|/\*.*?\*/', '', text, flags=re.M)
lib = json.loads(text)
missing = [n for n in sys.argv[2:] if n not in lib]
if missing:
    print("missing:", missing, "members:", list(lib)); sys.exit(1)
PY
}

# new_projects NAME...: tkvm new + tkvm build of each in $TMP/projects/NAME; exits the test with a
# "not ok" line when one fails.
new_projects() {
	mkdir -p "$TMP/projects"
	for np_name in "$@"; do
		(cd "$TMP/projects" && "$TKVM" new "$np_name" >/dev/null && cd "$np_name" && "$TKVM" build >/dev/null 2>&1) ||
			{ echo "not ok - tkvm new/build $np_name"; exit 1; }
	done
}

# publish_pair URL TAG: publishes $A and $B (project directories) to URL at the same time; each
# one's output goes to $TMP/TAG[ab].out, its exit status to $TMP/TAG[ab].rc.
publish_pair() {
	(cd "$A" && "$TKVM" publish -q "$1" >"$TMP/$2a.out" 2>&1; echo $? >"$TMP/$2a.rc") &
	pp_a=$!
	(cd "$B" && "$TKVM" publish -q "$1" >"$TMP/$2b.out" 2>&1; echo $? >"$TMP/$2b.rc") &
	pp_b=$!
	wait $pp_a $pp_b
}
