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

# Reaching the full userspace: a unit after multi-user.target writes, to the
# serial console, lines that begin `CVMIMAGE[N]` (N counts the boots of this
# disk): the verdict of `eventlog verify --tpm`, the Secure Boot chain's events,
# what cvmunlock and systemd-cryptsetup logged this boot, the marker. After
# the first-boot unit ran, it reboots (the next boot is the first with the vTPM).
cat >"$root/usr/local/sbin/cvmimage-marker" <<'EOF'
#!/bin/sh
n=$(( $(cat /var/lib/cvmimage/boots 2>/dev/null || echo 0) + 1 ))
mkdir -p /var/lib/cvmimage && echo "$n" >/var/lib/cvmimage/boots && sync
p="CVMIMAGE[$n]"
log=/sys/kernel/security/tpm0/binary_bios_measurements
verify=$(cvmunlock eventlog verify --eventlog "$log" --tpm device:/dev/tpmrm0 --json 2>/dev/null)
echo "$p EVENTLOG-VERIFY exit=$? $(printf '%s' "$verify" | tr -d '\n ' | grep -o '"matches":[a-z]*')"
cvmunlock eventlog show --eventlog "$log" 2>/dev/null |
	grep -E 'EV_EFI_VARIABLE_AUTHORITY|EV_EFI_BOOT_SERVICES_APPLICATION' | sed "s/^/$p EVENT /"
journalctl -b -o short-monotonic --no-pager 2>/dev/null | grep -E 'cvmunlock|systemd-cryptsetup|cvmimage-provision' |
	sed "s/^/$p JOURNAL /"
systemctl is-failed --quiet cvmimage-provision.service && echo "$p PROVISION-FAILED"
# The next boot with the same shim, grub and kernel: `predict` must find each
# one's PE image hash among this boot's PCR 4 events and predict this boot.
esp=/boot/efi/EFI/BOOT
predicted=$(cvmunlock predict --json --pcrs 4,7 --update "$esp/BOOTX64.EFI:$esp/BOOTX64.EFI" \
	--update "$esp/grubx64.efi:$esp/grubx64.efi" --kernel "/boot/vmlinuz-$(uname -r)" 2>&1)
echo "$p PREDICT-SAME-IMAGES exit=$? replaced=$(printf '%s' "$predicted" | grep -c '"image"') $(printf '%s' "$predicted" | tr -d '\n ' | grep -o '"changed":[a-z]*' | tr '\n' ' ')"
echo "$p USERSPACE-UP $(tr -d '\n' </proc/cmdline)"
if systemctl is-active --quiet cvmimage-provision.service; then
	echo "$p REBOOTING after the first-boot unit"
	systemctl reboot
fi
EOF
chmod 755 "$root/usr/local/sbin/cvmimage-marker"
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
