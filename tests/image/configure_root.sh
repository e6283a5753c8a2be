#!/usr/bin/env bash
# The configuration an image builder writes into the root tree before the
# package goes in: crypttab with the build-time key, fstab, the initramfs
# tools' settings for a chroot build, a serial console, the first-boot unit
# that binds the root to the VM's vTPM (docs/image-builder.md, "First boot"),
# and a marker unit that says the full userspace came up.
# usage: configure_root.sh VARIANT ROOT ESCROW_CERT
set -euo pipefail
variant=$1 root=$2 escrow_cert=$3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$root/usr/local/sbin" "$root/etc/systemd/system/multi-user.target.wants"

echo cvmimage >"$root/etc/hostname"
# The root's LUKS UUID is fixed here and given to cryptsetup reencrypt later,
# so crypttab, the initramfs and grub.cfg agree before the disk exists.
luks_uuid=$(cat /proc/sys/kernel/random/uuid)
echo "$luks_uuid" >"$root/etc/cvmimage-luks-uuid"
# The build-time key (docs/image-builder.md, "First boot"): a key file the
# first boot reads from a small initrd of its own, /boot/cvmimage-build-key.img
# (assemble_disk.sh makes it; grub loads it while it exists), at the path
# where systemd-cryptsetup looks for a volume's key by itself; the same file
# on the root is what the first-boot unit enrolls with. The unit deletes both:
# the initramfs never holds the key and is never rebuilt for it.
install -d -m 0700 "$root/etc/cryptsetup-keys.d"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$root/etc/cryptsetup-keys.d/root.key"
chmod 0400 "$root/etc/cryptsetup-keys.d/root.key"
# `initramfs`: cryptroot includes the entry although it cannot see the device
# in a chroot (systemd ignores the option). initramfs-tools' cryptroot does not
# look for key files by itself: a keyscript gives it the build-time key while
# the first-boot initrd is there, and asks otherwise.
case $variant in
	dracut) echo "root UUID=$luks_uuid none luks,discard,initramfs" >"$root/etc/crypttab" ;;
	initramfs-tools)
		echo "root UUID=$luks_uuid none luks,discard,initramfs,keyscript=/usr/local/lib/cvmimage/build-key-or-ask" \
			>"$root/etc/crypttab"
		install -d "$root/usr/local/lib/cvmimage"
		install -m 0755 "$here/build-key-or-ask" "$root/usr/local/lib/cvmimage/build-key-or-ask"
		;;
esac
cat >"$root/etc/fstab" <<'EOF'
/dev/mapper/root  /      ext4  defaults,errors=remount-ro  0 1
LABEL=cvmboot     /boot  ext4  defaults                    0 2
LABEL=CVMESP      /boot/efi  vfat  umask=0077              0 0
EOF
mkdir -p "$root/boot/efi"
# The kernel's symlinks in /boot (linux-base), where grub.cfg names them: an
# installed kernel becomes the next boot's (/boot/vmlinuz), as on a
# distribution install whose grub.cfg update-grub keeps.
cat >"$root/etc/kernel-img.conf" <<'EOF'
do_symlinks = yes
link_in_boot = yes
EOF

case $variant in
	dracut)
		mkdir -p "$root/etc/dracut.conf.d"
		# Not host-only: the build host is not the VM.
		cat >"$root/etc/dracut.conf.d/10-image.conf" <<'EOF'
hostonly="no"
install_items+=" /etc/crypttab "
EOF
		;;
	initramfs-tools)
		mkdir -p "$root/etc/cryptsetup-initramfs"
		echo 'CRYPTSETUP=y' >>"$root/etc/cryptsetup-initramfs/conf-hook"
		;;
esac

# The first-boot unit and the operator's certificate that the recovery key is
# escrowed to (build_image.sh made the pair; the private key stays outside).
install -m 0755 "$here/cvmimage-provision" "$root/usr/local/sbin/cvmimage-provision"
install -m 0644 "$here/cvmimage-provision.service" "$root/etc/systemd/system/cvmimage-provision.service"
ln -sf /etc/systemd/system/cvmimage-provision.service \
	"$root/etc/systemd/system/multi-user.target.wants/cvmimage-provision.service"
install -d "$root/etc/cvmimage"
install -m 0644 "$escrow_cert" "$root/etc/cvmimage/recovery-escrow.pem"

# Reaching the full userspace: a unit after multi-user.target writes what the
# test reads to the serial console (cvmimage-marker says what).
install -m 0755 "$here/cvmimage-marker" "$root/usr/local/sbin/cvmimage-marker"
cat >"$root/etc/systemd/system/cvmimage-marker.service" <<'EOF'
[Unit]
Description=cvmimage: the full userspace is up
After=multi-user.target cvmimage-provision.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c '/usr/local/sbin/cvmimage-marker >/dev/ttyS0 2>&1'

[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/cvmimage-marker.service "$root/etc/systemd/system/multi-user.target.wants/cvmimage-marker.service"
# No login prompt is needed; keep the console quiet after the marker.
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
