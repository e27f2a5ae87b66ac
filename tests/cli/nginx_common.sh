# The set-up of the CLI tests that need a real nginx (sourced, not a test): TAP, the tkvm helpers,
# the serve helpers and tests/lib/nginx.sh, in the order nginx.sh's EXIT trap needs.
#
#	ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
#	. "$ROOT/tests/cli/nginx_common.sh"
#	nginx_require dav_ext openssl      # skips the whole test (exit 0) when one is missing
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
