#!/bin/sh
# Builds the test programs in tests/guests/ as static executables:
# OUTDIR/glibc/<name> (gcc, g++ for .cpp) and OUTDIR/musl/<name> (musl-gcc, C only),
# plus static-pie builds of hello. Rebuilds only what is older than its inputs.
# Usage: sh tests/lib/build-guests.sh OUTDIR
set -eu

if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: sh tests/lib/build-guests.sh OUTDIR" >&2
	exit 2
fi
out=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
guests=$root/tests/guests
header=$root/sdk/kvm_api.h
script=$root/tests/lib/build-guests.sh

for tool in gcc g++ readelf; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "build-guests: $tool not found" >&2
		echo "hint: sudo apt-get install build-essential binutils" >&2
		exit 1
	fi
done
if ! command -v musl-gcc >/dev/null 2>&1; then
	echo "build-guests: musl-gcc not found: the test programs are built with both glibc and musl" >&2
	echo "hint: sudo apt-get install musl-tools" >&2
	exit 1
fi

# -Werror: the programs must stay warning-free with both C libraries.
common="-O2 -g -fno-omit-frame-pointer -Wall -Wextra -Werror -I$root ${GUEST_CFLAGS:-}"
mkdir -p "$out/glibc" "$out/musl"

# needs_build DST SRC: true when DST is missing or older than SRC, the SDK header or this script.
needs_build() {
	[ ! -f "$1" ] || [ "$2" -nt "$1" ] || [ "$header" -nt "$1" ] || [ "$script" -nt "$1" ]
}

# check_static FILE: a static executable has no program interpreter and needs no shared library.
check_static() {
	if readelf -lW "$1" | grep -q 'Requesting program interpreter' ||
	   readelf -dW "$1" 2>/dev/null | grep -q '(NEEDED)'; then
		echo "build-guests: $1 is not statically linked" >&2
		rm -f "$1"
		exit 1
	fi
}

# build DST SRC COMPILER FLAGS...: compiles into a temporary file, then renames it into place.
# $link_tail (normally empty) lists objects that must follow the source on the command line.
link_tail=""
build() {
	dst=$1 src=$2 compiler=$3
	shift 3
	needs_build "$dst" "$src" || return 0
	echo "  GUEST   ${dst#"$out"/}"
	# shellcheck disable=SC2086
	if ! "$compiler" "$@" -o "$dst.tmp" "$src" $link_tail; then
		rm -f "$dst.tmp"
		echo "build-guests: $compiler failed on ${src#"$root"/}" >&2
		exit 1
	fi
	check_static "$dst.tmp"
	mv -f "$dst.tmp" "$dst"
}

found=0
for src in "$guests"/*.c "$guests"/*.cpp; do
	[ -f "$src" ] || continue
	found=1
	file=${src##*/}
	case $file in
	*.cpp)
		name=${file%.cpp}
		# shellcheck disable=SC2086
		build "$out/glibc/$name" "$src" g++ -std=gnu++17 -static $common
		;;
	*.c)
		name=${file%.c}
		# shellcheck disable=SC2086
		build "$out/glibc/$name" "$src" gcc -std=gnu11 -static $common
		# shellcheck disable=SC2086
		build "$out/musl/$name" "$src" musl-gcc -std=gnu11 -static $common
		;;
	esac
done
if [ "$found" = 0 ]; then
	echo "build-guests: no test programs in $guests" >&2
	exit 1
fi

# shellcheck disable=SC2086
build "$out/glibc/hello_pie" "$guests/hello.c" gcc -std=gnu11 -static-pie -fPIE $common

# Debian's musl-gcc specs ignore -static-pie (the result would be dynamic), so spell it out:
# musl's self-relocating rcrt1.o, static libc, PIE, no interpreter.
musl_lib=""
wrapper=$(command -v musl-gcc)
specs=$(sed -n 's/.*-specs *"\{0,1\}\([^" ]*musl-gcc\.specs\).*/\1/p' "$wrapper" 2>/dev/null | head -n 1)
for candidate in "$specs" /usr/lib/x86_64-linux-musl/musl-gcc.specs /usr/lib/musl/lib/musl-gcc.specs \
		/usr/local/musl/lib/musl-gcc.specs; do
	if [ -n "$candidate" ] && [ -f "$candidate" ]; then
		scrt1=$(grep -o '[^ ]*/Scrt1\.o' "$candidate" | head -n 1)
		musl_lib=$(dirname "${scrt1:-$candidate}")
		break
	fi
done
if [ -z "$musl_lib" ] || [ ! -f "$musl_lib/rcrt1.o" ]; then
	echo "build-guests: cannot find musl's rcrt1.o (needed for the musl static-pie build of hello)" >&2
	echo "hint: sudo apt-get install musl-dev" >&2
	exit 1
fi
link_tail="$(musl-gcc -print-file-name=crtendS.o) $musl_lib/crtn.o"
# shellcheck disable=SC2086
build "$out/musl/hello_pie" "$guests/hello.c" musl-gcc -std=gnu11 -fPIE -nostartfiles \
	-Wl,-static -Wl,-pie -Wl,--no-dynamic-linker -Wl,-z,text $common \
	"$musl_lib/rcrt1.o" "$musl_lib/crti.o" "$(musl-gcc -print-file-name=crtbeginS.o)"
link_tail=""
