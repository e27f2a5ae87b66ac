#!/bin/sh
# t0071-pack-sign-verify: tkvm pack makes the same bytes from the same ELFs (fixed times, owners,
# order) in the layout the VMOD reads; tkvm keygen/sign/verify speak minisign's format both ways
# (the stock minisign verifies ours, we verify its); a flipped bit, another key, a missing
# signature, a wrong password and a signature for another program are refused with clear errors.
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/lib/tap.sh"
. "$ROOT/tests/cli/common.sh"

G=$GUESTS/glibc
export TKVM_KEY_DIR="$TMP/keys"
cd "$TMP" || exit 1

# ---- pack ----
cp "$G/hello" "$TMP/hello"
tk pack "$TMP/hello"
check "pack an ELF: exit 0" status_is 0
check "... says where and the hashes" out_has "^packed ./hello.tar.xz \([0-9]+ bytes\)$"
check "... writes a sha256sum file that checks" sh -c 'sha256sum -c hello.tar.xz.sha256 >/dev/null'
check "... one entry: root-owned, mode 0755, mtime 0" sh -c \
	'tar -tvJf hello.tar.xz | grep -Eq "^-rwxr-xr-x root/root +[0-9]+ 1970-01-01 00:00 hello$" && [ "$(tar -tJf hello.tar.xz)" = hello ]'
check "... the entry is the ELF, byte for byte" sh -c 'tar -xOJf hello.tar.xz hello | cmp -s - hello'
cp hello.tar.xz first.tar.xz
touch -d '2001-02-03 04:05' hello
chmod 0700 hello
tk pack "$TMP/hello"
check "pack again after touch and chmod: the same bytes" cmp first.tar.xz hello.tar.xz
tk pack --name api --storage "$G/echo" -o "$TMP/api.tar.xz" "$TMP/hello"
check "--storage and --name: request entry then api_storage" sh -c \
	'[ "$(tar -tJf api.tar.xz | tr "\n" " ")" = "api api_storage " ] && tar -xOJf api.tar.xz api_storage | cmp -s - "$0"' "$G/echo"
printf 'not an elf\n' >"$TMP/text"
tk pack "$TMP/text"
check "pack a text file: exit 1 naming it" eval 'status_is 1 && err_has "text.*(not an ELF|ELF)"'
tk pack "$TMP/missing"
check "pack a missing file: exit 1" eval 'status_is 1 && err_has "missing"'
tk pack a b c
check "pack with three arguments: usage, exit 2" status_is 2

# ---- keygen ----
printf 'correct horse\n' >"$TMP/pw"
printf 'wrong horse\n' >"$TMP/bad-pw"
tk keygen --fast-kdf --password-file "$TMP/pw"
check "keygen: exit 0" status_is 0
check "... prints the public key and where it lives" eval 'out_has "^public key: $TKVM_KEY_DIR/tkvm.pub$" && out_has "^  RW"'
check "... the secret key is private (0600)" sh -c '[ "$(stat -c %a "$TKVM_KEY_DIR/tkvm.key")" = 600 ]'
check "... minisign reads it as an encrypted secret key" grep -q "^untrusted comment: minisign encrypted secret key" "$TKVM_KEY_DIR/tkvm.key"
tk keygen --fast-kdf --password-file "$TMP/pw"
check "keygen again: refuses to overwrite" eval 'status_is 1 && err_has "already exists"'
tk keygen -W -s "$TMP/other.key" -p "$TMP/other.pub"
check "keygen -W elsewhere: exit 0, not encrypted" eval 'status_is 0 && out_has "not encrypted"'

# ---- sign / verify ----
tk sign --password-file "$TMP/pw" --version 1.2.3 hello.tar.xz
check "sign: exit 0" status_is 0
check "... writes hello.tar.xz.minisig" test -s hello.tar.xz.minisig
check "... the trusted comment binds program, version and hashes" grep -Eq \
	"^trusted comment: timestamp:[0-9]+	file:hello.tar.xz	program:hello	version:1.2.3	sha256:$(cut -d' ' -f1 hello.tar.xz.sha256)	elf_sha256:[0-9a-f]{64}$" hello.tar.xz.minisig
if command -v minisign >/dev/null 2>&1; then
	check "minisign -V accepts tkvm's signature" sh -c 'minisign -Vm hello.tar.xz -p "$TKVM_KEY_DIR/tkvm.pub" | grep -q "program:hello"'
else
	echo "skip - minisign -V: minisign is not installed"
fi
tk verify hello.tar.xz
check "verify: good, with program and version" eval 'status_is 0 && out_has "^hello.tar.xz: good signature by key [0-9A-F]{16}$" && out_has "^  program hello version 1.2.3, signed "'
tk verify --name hello hello.tar.xz
check "verify --name hello: good" status_is 0
tk verify --name other hello.tar.xz
check "verify --name other: refused" eval 'status_is 1 && err_has "signed for program \"hello\", not \"other\""'
tk verify -p "$TMP/other.pub" hello.tar.xz
check "verify with another key: refused naming both keys" eval 'status_is 1 && err_has "signed by key [0-9A-F]{16}, which is not a trusted key \(trusted: [0-9A-F]{16}\)"'
cp hello.tar.xz flipped.tar.xz
cp hello.tar.xz.minisig flipped.tar.xz.minisig
size=$(stat -c %s flipped.tar.xz)
printf "$(printf '\\%03o' $(( $(od -An -tu1 -j $((size / 2)) -N1 flipped.tar.xz) ^ 1 )))" |
	dd of=flipped.tar.xz bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
tk verify flipped.tar.xz
check "one flipped bit: refused" eval 'status_is 1 && err_has "flipped.tar.xz: signature does not match"'
cp hello.tar.xz unsigned.tar.xz
tk verify unsigned.tar.xz
check "no signature: refused with a hint" eval 'status_is 1 && err_has "unsigned.tar.xz: no signature" && err_has "tkvm sign"'
sed 's/program:hello/program:evil/' hello.tar.xz.minisig >edited.minisig
tk verify -x edited.minisig hello.tar.xz
check "an edited trusted comment: refused" eval 'status_is 1 && err_has "trusted comment"'
tk sign --password-file "$TMP/bad-pw" hello.tar.xz
check "sign with a wrong password: refused, the old signature kept" eval 'status_is 1 && err_has "wrong password" && grep -q version:1.2.3 hello.tar.xz.minisig'
printf 'garbage\n' >garbage.minisig
tk verify -x garbage.minisig hello.tar.xz
check "a garbage signature file: refused" eval 'status_is 1 && err_has "hello.tar.xz: "'

# ---- minisign's own signatures ----
if command -v minisign >/dev/null 2>&1; then
	minisign -G -W -p "$TMP/ms.pub" -s "$TMP/ms.key" >/dev/null 2>&1
	cp hello.tar.xz ms.tar.xz
	minisign -S -s "$TMP/ms.key" -m ms.tar.xz -t "release 7" >/dev/null 2>&1
	tk verify -p "$TMP/ms.pub" ms.tar.xz
	check "minisign -S signature: accepted, said to carry no binding" eval \
		'status_is 0 && out_has "trusted comment: release 7" && out_has "no program binding"'
	tk sign -s "$TMP/ms.key" ms.tar.xz
	check "sign with minisign's unencrypted secret key" eval 'status_is 0 && minisign -Vm ms.tar.xz -p "$TMP/ms.pub" >/dev/null'
	minisign -S -l -s "$TMP/ms.key" -m ms.tar.xz -x legacy.minisig >/dev/null 2>&1
	tk verify -p "$TMP/ms.pub" -x legacy.minisig ms.tar.xz
	check "minisign -S -l (legacy, not prehashed): accepted" status_is 0
else
	echo "skip - minisign interop: minisign is not installed"
fi
exit $tap_failed
