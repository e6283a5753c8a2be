#!/usr/bin/env bash
# Builds a Debian 12 disk image the way an image builder does (issue 11):
#   1. a base tree from Debian's archive with mmdebstrap (the host's own apt
#      sources and options), cached as a tarball keyed on its inputs;
#   2. our package installed into a copy with apt inside the image, which
#      triggers the distribution's initramfs tool (dracut, or initramfs-tools
#      with cryptsetup-initramfs);
#   3. a GPT disk assembled from files: an ESP (shim, grub, grub.cfg; mtools),
#      an unencrypted /boot (ext4, mkfs -d) and the root (ext4, mkfs -d, then
#      `cryptsetup reencrypt --encrypt` with the build-time key).
# usage: build_image.sh VARIANT DEB OUT_DIR [CACHE_DIR]
#   VARIANT  dracut | initramfs-tools
#   DEB      cvmunlock_*.deb (scripts/package.sh)
#   OUT_DIR  gets disk.img, build-key (the build-time key of the root), image.env,
#            escrow.key and escrow.pem (the operator's pair the recovery key is escrowed to)
# Each step's time goes to stdout ("step NAME: N s").
set -euo pipefail
variant=$1 deb=$(realpath "$2") out=$3
cache=${4:-$out/cache}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out" "$cache"
out=$(realpath "$out")

step_start=$(date +%s)
step() {
	local now
	now=$(date +%s)
	echo "step $1: $((now - step_start)) s"
	step_start=$now
}

# The kernel: the second-newest Debian kernel ABI the archive offers today; the
# newest is staged in the image (/var/cache/cvmimage) for the kernel-update
# scenario (issue 12). Both are chosen now, from what apt sees.
mapfile -t abis < <(apt-cache pkgnames linux-image- | grep -E '^linux-image-[0-9.]+-[0-9]+-amd64$' | sort -V)
((${#abis[@]} >= 2)) || { echo "build_image.sh: the archive offers fewer than two kernel ABIs: ${abis[*]}" >&2; exit 1; }
kernel_now=${abis[-2]} kernel_next=${abis[-1]}
echo "kernels: $kernel_now installed, $kernel_next staged"
common=systemd,systemd-sysv,udev,kmod,e2fsprogs,openssl,$kernel_now,shim-signed,grub-efi-amd64-signed,cryptsetup,tpm2-tools,libtss2-tcti-device0
case $variant in
	dracut) packages=$common,dracut ;;
	initramfs-tools) packages=$common,initramfs-tools,cryptsetup-initramfs ;;
	*) echo "build_image.sh: VARIANT is dracut or initramfs-tools" >&2; exit 2 ;;
esac

# The host's apt configuration, so mmdebstrap reaches the archive apt-get
# reaches here: its sources file, and the option files that set no hooks
# (an Invoke hook names host commands the image does not have).
sources=/etc/apt/sources.list.d/debian.sources
[ -r "$sources" ] || sources=/etc/apt/sources.list
aptopts=()
for f in /etc/apt/apt.conf.d/*; do
	[ -f "$f" ] || continue
	grep -q 'Invoke' "$f" && continue
	aptopts+=(--aptopt="$f")
done

# 1. The base layer, keyed on everything that goes into it.
# Not unpacked: documentation, locales, and the kernel modules a VM never loads
# (graphics, sound, wireless, media, InfiniBand, staging): the modules are
# most of the image, and every byte is encrypted and copied at each build.
dpkgopts=(--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
	--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
	--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias')
for tree in drivers/gpu drivers/media drivers/net/wireless drivers/infiniband drivers/staging drivers/bluetooth \
	drivers/iio drivers/isdn drivers/net/can sound net/wireless net/bluetooth net/mac80211; do
	dpkgopts+=(--dpkgopt="path-exclude=/lib/modules/*/kernel/$tree/*" --dpkgopt="path-exclude=/usr/lib/modules/*/kernel/$tree/*")
done
key=$( { echo "$variant $packages"; printf '%s\n' "${dpkgopts[@]}"; cat "$sources"
	for o in "${aptopts[@]}"; do cat "${o#--aptopt=}"; done; mmdebstrap --version; } | sha256sum | cut -c1-16)
base=$cache/base-$variant-$key.tar
if [ ! -s "$base" ]; then
	mmdebstrap --variant=apt --mode=root --format=tar "${aptopts[@]}" "${dpkgopts[@]}" \
		--include="$packages" bookworm "$base.tmp" "$sources" >"$out/mmdebstrap.log" 2>&1 ||
		{ tail -n 30 "$out/mmdebstrap.log"; exit 1; }
	mv "$base.tmp" "$base"
fi
step base

# 2. The image's root: the base, its configuration, our package installed by apt.
root=$out/root
rm -rf "$root"
mkdir -p "$root"
tar -xf "$base" -C "$root"
# The operator's escrow pair: the image gets the certificate, the private key
# stays with the operator (here: OUT_DIR, for the test to read the escrow).
openssl req -x509 -newkey rsa:3072 -nodes -days 30 -subj /CN=cvmimage-operator-escrow \
	-keyout "$out/escrow.key" -out "$out/escrow.pem" 2>/dev/null
bash "$here/configure_root.sh" "$variant" "$root" "$out/escrow.pem"
# The next kernel's package, downloaded once per cache (apt-get download: the
# host's archive, as for the base).
next_deb=$(ls "$cache/${kernel_next}"_*.deb 2>/dev/null | head -n 1 || true)
if [ -z "$next_deb" ]; then
	(cd "$cache" && apt-get download "$kernel_next" >"$out/download.log" 2>&1) || { tail -n 20 "$out/download.log"; exit 1; }
	next_deb=$(ls "$cache/${kernel_next}"_*.deb | head -n 1)
fi
install -d "$root/var/cache/cvmimage"
cp "$next_deb" "$root/var/cache/cvmimage/"
cp "$deb" "$root/tmp/cvmunlock.deb"
# apt inside the image (no network needed: every dependency is in the base);
# installing the package fires the update-initramfs trigger, which dracut or
# initramfs-tools answers by building the initramfs from the package's hooks.
unshare -m --propagation private sh -c '
	set -e
	for d in proc sys dev dev/pts; do mkdir -p "$0/$d"; done
	mount -t proc proc "$0/proc"
	mount --rbind /sys "$0/sys"
	mount --rbind /dev "$0/dev"
	chroot "$0" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends /tmp/cvmunlock.deb
' "$root" >"$out/install.log" 2>&1 || { tail -n 40 "$out/install.log"; exit 1; }
rm -f "$root/tmp/cvmunlock.deb"
grep -E 'update-initramfs|dracut|mkinitramfs|cvmunlock' "$out/install.log" | tail -n 5 || true
step install

# 3. The disk, from files.
bash "$here/assemble_disk.sh" "$root" "$out"
step disk
