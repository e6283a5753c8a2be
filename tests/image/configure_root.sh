#!/usr/bin/env bash
# The configuration an image builder writes into the root tree before the
# package goes in: crypttab and fstab by label/UUID-free names the disk
# assembly fills in, the initramfs tools' settings for a chroot build, a serial
# console, and a marker unit that says the full userspace came up.
# usage: configure_root.sh VARIANT ROOT
set -euo pipefail
variant=$1 root=$2

echo cvmimage >"$root/etc/hostname"
# The root's LUKS UUID is fixed here and given to cryptsetup reencrypt later,
# so crypttab, the initramfs and grub.cfg agree before the disk exists.
luks_uuid=$(cat /proc/sys/kernel/random/uuid)
echo "$luks_uuid" >"$root/etc/cvmimage-luks-uuid"
# `initramfs`: cryptroot includes the entry although it cannot see the device
# in a chroot; no key file: the token (or the prompt) opens it.
echo "root UUID=$luks_uuid none luks,discard,initramfs" >"$root/etc/crypttab"
cat >"$root/etc/fstab" <<'EOF'
/dev/mapper/root  /      ext4  defaults,errors=remount-ro  0 1
LABEL=cvmboot     /boot  ext4  defaults                    0 2
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

# Reaching the full userspace: a unit after multi-user.target writes the marker
# to the serial console, with what cvmunlock sees of this boot's event log: the
# verdict of `eventlog verify --tpm` and the Secure Boot chain's events.
mkdir -p "$root/usr/local/sbin"
cat >"$root/usr/local/sbin/cvmimage-marker" <<'EOF'
#!/bin/sh
log=/sys/kernel/security/tpm0/binary_bios_measurements
verify=$(cvmunlock eventlog verify --eventlog "$log" --tpm device:/dev/tpmrm0 --json 2>/dev/null)
echo "CVMIMAGE-EVENTLOG-VERIFY exit=$? $(printf '%s' "$verify" | tr -d '\n ' | grep -o '"matches":[a-z]*')"
cvmunlock eventlog show --eventlog "$log" 2>/dev/null |
	grep -E 'EV_EFI_VARIABLE_AUTHORITY|EV_EFI_BOOT_SERVICES_APPLICATION' | sed 's/^/CVMIMAGE-EVENT /'
echo "CVMIMAGE-USERSPACE-UP $(tr -d '\n' </proc/cmdline)"
EOF
chmod 755 "$root/usr/local/sbin/cvmimage-marker"
cat >"$root/etc/systemd/system/cvmimage-marker.service" <<'EOF'
[Unit]
Description=cvmimage: the full userspace is up
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c '/usr/local/sbin/cvmimage-marker >/dev/ttyS0 2>&1'

[Install]
WantedBy=multi-user.target
EOF
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/cvmimage-marker.service "$root/etc/systemd/system/multi-user.target.wants/cvmimage-marker.service"
# No login prompt is needed; keep the console quiet after the marker.
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
