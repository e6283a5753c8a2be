#!/usr/bin/env bash
# Checks are passed to eval as single-quoted strings on purpose.
# shellcheck disable=SC2016,SC2317,SC2034
# Runs the initramfs-tools hook into a temporary DESTDIR, as mkinitramfs would,
# and checks what it copied (and that the token plugin stays out: cryptroot's
# cryptsetup would run it again after cvmunlock refused); shellchecks the hook,
# the local-top and init-bottom scripts and the keyscript.
#   initramfs_tools_hook_test.sh CVMUNLOCK SOURCE_DIR
set -u
cli=$1 src=$2
hook=$src/initramfs-hooks/initramfs-tools/hooks/cvmunlock
keyscript=$src/initramfs-hooks/initramfs-tools/keyscript
local_top=$src/initramfs-hooks/initramfs-tools/scripts/local-top/cvmunlock
init_bottom=$src/initramfs-hooks/initramfs-tools/scripts/init-bottom/cvmunlock
[ -r /usr/share/initramfs-tools/hook-functions ] || { echo "SKIP: initramfs-tools-core not installed"; exit 77; }
command -v shellcheck >/dev/null || { echo "SKIP: shellcheck not installed"; exit 77; }

fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }

shellcheck "$hook" "$keyscript" "$local_top" "$init_bottom" && echo "ok: shellcheck" || fail=1
check "prereqs names cryptroot" '[ "$(sh "$hook" prereqs)" = cryptroot ]'
check "local-top has no prerequisites (cryptroot orders itself last)" '[ -z "$(sh "$local_top" prereqs)" ]'
check "local-top activates with cvmunlock unlock" 'grep -q "/usr/bin/cvmunlock \"\$@\"" "$local_top" && grep -q "set -- unlock" "$local_top"'
check "init-bottom locks" 'grep -q "/usr/bin/cvmunlock lock" "$init_bottom"'

dest=$(mktemp -d)
trap 'rm -rf "$dest" "$dest.crypttab" "$dest.err"' EXIT
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
crypttab=$dest.crypttab
printf 'root UUID=0 none luks,keyscript=%s\n' "$keyscript" >"$crypttab"
DESTDIR=$dest verbose=n version=0-test CVMUNLOCK_BIN=$cli CVMUNLOCK_KEYSCRIPT=$keyscript \
    CVMUNLOCK_CRYPTTAB=$crypttab sh "$hook" 2>"$dest.err"
check "hook exits 0" '[ $? -eq 0 ]'

find_in() { find "$dest" -path "*$1" \( -type f -o -type l \) | grep -q .; }
check "binary at /usr/bin/cvmunlock" '[ -x "$dest/usr/bin/cvmunlock" ]'
check "no token plugin in the initramfs" "! find_in 'libcryptsetup-token-cvmunlock.so'"
check "a crypttab line naming the old keyscript is pointed out" 'grep -q "no longer needed" "$dest.err"'
for lib in libtss2-tcti-device.so.0 libtss2-esys.so.0 libtss2-tctildr.so.0 libtss2-mu.so.0 libtss2-rc.so.0 \
           libcryptsetup.so.12 libcrypto.so.3; do
    check "library $lib" "find_in '/$lib'"
done
# The copied binary must find every library it needs inside the initramfs.
missing=$(LD_LIBRARY_PATH="$dest/usr/lib/$multiarch:$dest/lib/$multiarch" ldd "$dest/usr/bin/cvmunlock" | grep -c "not found")
check "no unresolved library" '[ "$missing" -eq 0 ]'
check "the old keyscript only asks for the passphrase" \
    'grep -q /lib/cryptsetup/askpass "$keyscript" && ! grep -q "cvmunlock unlock" "$keyscript"'

[ $fail -eq 0 ] && echo "initramfs-tools hook: all checks passed"
exit $fail
