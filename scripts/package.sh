#!/usr/bin/env bash
# Builds the Debian package from the committed tree (a scratch copy of what git
# tracks, so a dirty work tree never leaks in), then checks it: lintian with no
# errors, the files the package must contain, and man(1) rendering its pages.
#   scripts/package.sh [OUT_DIR]    (default build-deb/); DEB_BUILD_OPTIONS is passed on
#   (CI uses nocheck: the unit tests already ran from the test build).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build-deb}
rm -rf "$out"
mkdir -p "$out/src"
git -C "$root" ls-files -z | (cd "$root" && xargs -0 tar cf - --no-recursion) | tar xf - -C "$out/src"

echo "== dpkg-buildpackage -us -uc -b (DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-})"
start=$(date +%s)
(cd "$out/src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 || {
    tail -n 60 "$out/build.log"
    echo "package.sh: dpkg-buildpackage failed (log: $out/build.log)"
    exit 1
}
echo "built in $(($(date +%s) - start)) s: $(basename -a "$out"/*.deb | tr '\n' ' ')"

deb=$(ls "$out"/cvmunlock_*_amd64.deb)
status=0
echo "== lintian"
lintian --fail-on error "$out"/cvmunlock_*_amd64.changes || status=1

echo "== contents"
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/cvmunlock \
         ./usr/lib/x86_64-linux-gnu/cryptsetup/libcryptsetup-token-cvmunlock.so \
         ./lib/systemd/system/cvmunlock-agent.service ./lib/systemd/system/cvmunlock-lock.service \
         ./usr/lib/dracut/modules.d/90cvmunlock/module-setup.sh ./usr/lib/dracut/dracut.conf.d/90-cvmunlock.conf \
         ./usr/share/initramfs-tools/hooks/cvmunlock ./usr/share/initramfs-tools/scripts/local-top/cvmunlock \
         ./usr/share/initramfs-tools/scripts/init-bottom/cvmunlock \
         ./usr/share/man/man8/cvmunlock.8.gz ./usr/share/man/man8/cvmunlock-agent.service.8.gz \
         ./usr/share/man/man5/cvmunlock-token.5.gz ./usr/share/bash-completion/completions/cvmunlock \
         ./usr/share/cvmunlock/amd-roots/ask_ark_milan.pem \
         ./lib/systemd/system/cvmunlock-update-policy.service ./usr/lib/cvmunlock/update-policy-all \
         ./etc/kernel/postinst.d/zzz-cvmunlock ./etc/initramfs/post-update.d/zzz-cvmunlock; do
    grep -qxF -- "$f" <<<"$contents" || { echo "FAIL: the package lacks $f"; status=1; }
done
# (Read whole first: grep -q would close the pipe early, and pipefail would count dpkg-deb's SIGPIPE.)
info=$(dpkg-deb -I "$deb")
grep -q 'Recommends: dracut-core | cryptsetup-initramfs' <<<"$info" || { echo "FAIL: Recommends: $(grep Recommends <<<"$info")"; status=1; }
if dpkg-deb -e "$deb" "$out/control" && grep -rqsE '(enable|start).*cvmunlock-(agent|lock)' "$out/control"; then
    echo "FAIL: the maintainer scripts enable or start an initrd unit in the real root"
    status=1
fi
if ! grep -qs 'cvmunlock-update-policy.service' "$out/control/postinst"; then
    echo "FAIL: the postinst does not enable cvmunlock-update-policy.service"
    status=1
fi
# shim's and grub's EFI images: the trigger, and the postinst that answers it.
for path in /usr/lib/shim /usr/lib/grub/x86_64-efi-signed; do
    grep -qsx "interest-noawait $path" "$out/control/triggers" || { echo "FAIL: no dpkg trigger on $path"; status=1; }
done
grep -qs 'update-policy-all --esp /boot/efi' "$out/control/postinst" ||
    { echo "FAIL: the postinst does not answer the trigger"; status=1; }

echo "== man pages"
tmp=$(mktemp -d)
dpkg-deb -x "$deb" "$tmp"
for page in "$tmp"/usr/share/man/man*/*.gz; do
    lines=$(man -l "$page" 2>/dev/null | wc -l)
    [ "$lines" -gt 20 ] || { echo "FAIL: man -l $(basename "$page") renders $lines lines"; status=1; }
    echo "$(basename "$page"): $lines lines"
done
rm -rf "$tmp"
[ $status -eq 0 ] && echo "package.sh: $deb is good"
exit $status
