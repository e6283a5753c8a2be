#!/usr/bin/env bash
# Checks are passed to eval as single-quoted strings on purpose.
# shellcheck disable=SC2016,SC2317,SC2034
# Runs the initramfs-tools hook into a temporary DESTDIR, as mkinitramfs would,
# and checks what it copied; shellchecks the hook and the keyscript.
#   initramfs_tools_hook_test.sh CVMUNLOCK TOKEN_PLUGIN SOURCE_DIR
set -u
cli=$1 plugin=$2 src=$3
hook=$src/initramfs-hooks/initramfs-tools/hooks/cvmunlock
keyscript=$src/initramfs-hooks/initramfs-tools/keyscript
[ -r /usr/share/initramfs-tools/hook-functions ] || { echo "SKIP: initramfs-tools-core not installed"; exit 77; }
command -v shellcheck >/dev/null || { echo "SKIP: shellcheck not installed"; exit 77; }

fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }

shellcheck "$hook" "$keyscript" && echo "ok: shellcheck" || fail=1
check "prereqs names cryptroot" '[ "$(sh "$hook" prereqs)" = cryptroot ]'

dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
DESTDIR=$dest verbose=n version=0-test CVMUNLOCK_BIN=$cli CVMUNLOCK_KEYSCRIPT=$keyscript \
    CVMUNLOCK_TOKEN_PLUGIN=$plugin sh "$hook"
check "hook exits 0" '[ $? -eq 0 ]'

find_in() { find "$dest" -path "*$1" \( -type f -o -type l \) | grep -q .; }
check "binary at /usr/bin/cvmunlock" '[ -x "$dest/usr/bin/cvmunlock" ]'
check "keyscript at /usr/lib/cvmunlock/keyscript" '[ -x "$dest/usr/lib/cvmunlock/keyscript" ]'
check "token plugin in the libcryptsetup token dir" "find_in '/$multiarch/cryptsetup/libcryptsetup-token-cvmunlock.so'"
for lib in libtss2-tcti-device.so.0 libtss2-esys.so.0 libtss2-tctildr.so.0 libtss2-mu.so.0 libtss2-rc.so.0 \
           libcryptsetup.so.12 libcrypto.so.3; do
    check "library $lib" "find_in '/$lib'"
done
# The copied binary must find every library it needs inside the initramfs.
missing=$(LD_LIBRARY_PATH="$dest/usr/lib/$multiarch:$dest/lib/$multiarch" ldd "$dest/usr/bin/cvmunlock" | grep -c "not found")
check "no unresolved library" '[ "$missing" -eq 0 ]'
check "keyscript falls back to askpass" 'grep -q /lib/cryptsetup/askpass "$dest/usr/lib/cvmunlock/keyscript"'

[ $fail -eq 0 ] && echo "initramfs-tools hook: all checks passed"
exit $fail
