#!/usr/bin/env bash
# A GPT disk image from the root tree, from files only (no loop device, no
# device-mapper on the build host): ESP (FAT, mtools), /boot (ext4, mkfs -d),
# root (ext4, mkfs -d, then encrypted in place with the build-time key).
# usage: assemble_disk.sh ROOT OUT_DIR   -> OUT_DIR/disk.img, OUT_DIR/build-key (a copy of the
# root's /etc/cryptsetup-keys.d/root.key), OUT_DIR/image.env
set -euo pipefail
root=$1 out=$2
work=$out/parts
rm -rf "$work"
mkdir -p "$work"
luks_uuid=$(cat "$root/etc/cvmimage-luks-uuid")
kver=$(basename "$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n 1)")
kver=${kver#vmlinuz-}
[ -s "$root/boot/initrd.img-$kver" ] || { echo "assemble_disk.sh: no initramfs for $kver" >&2; exit 1; }

mib() { du -s --block-size=1M "$1" | cut -f1; }

# /boot/vmlinuz and /boot/initrd.img name the kernel to boot (linux-base keeps
# them there: configure_root.sh set link_in_boot).
ln -sfn "vmlinuz-$kver" "$root/boot/vmlinuz"
ln -sfn "initrd.img-$kver" "$root/boot/initrd.img"

# ESP: shim as the removable-media boot loader, grub beside it, grub.cfg where
# Debian's signed grub looks when booted from there.
# linuxefi/initrdefi: Debian's grub starts the kernel through its EFI stub (which
# hands the firmware's TPM event log to the kernel) with Secure Boot on or off;
# its `linux` does so only with Secure Boot on, and with it off the booted
# system would have no event log to name what changed.
cat >"$work/grub.cfg" <<CFG
set timeout=0
search --no-floppy --label cvmboot --set=root
linuxefi /vmlinuz root=/dev/mapper/root ro console=ttyS0,115200 panic=-1
if [ -f /cvmimage-build-key.img ]; then
	initrdefi /initrd.img /cvmimage-build-key.img
else
	initrdefi /initrd.img
fi
boot
CFG
esp=$work/esp.img
truncate -s 64M "$esp"
mkfs.vfat -n CVMESP "$esp" >/dev/null
export MTOOLS_SKIP_CHECK=1
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/EFI/debian
mcopy -i "$esp" "$root/usr/lib/shim/shimx64.efi.signed" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" "$root/usr/lib/shim/mmx64.efi.signed" ::/EFI/BOOT/mmx64.efi
mcopy -i "$esp" "$root/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed" ::/EFI/BOOT/grubx64.efi
mcopy -i "$esp" "$work/grub.cfg" ::/EFI/BOOT/grub.cfg
mcopy -i "$esp" "$work/grub.cfg" ::/EFI/debian/grub.cfg

# The first-boot initrd: only the build-time key, at the path systemd-cryptsetup
# (dracut) and the image's keyscript (initramfs-tools) read; grub appends it to
# the initramfs while it exists; the first-boot unit deletes it.
addon=$work/build-key-initrd
install -d -m 0700 "$addon/etc/cryptsetup-keys.d"
install -m 0400 "$root/etc/cryptsetup-keys.d/root.key" "$addon/etc/cryptsetup-keys.d/root.key"
(cd "$addon" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$root/boot/cvmimage-build-key.img"
chmod 0600 "$root/boot/cvmimage-build-key.img"

# /boot: the kernel, the initramfs the image built and the first-boot initrd,
# outside the encrypted root; room for a second kernel and its initramfs.
boot=$work/boot.img
boot_mib=$(( $(mib "$root/boot") * 2 + 64 ))
mkfs.ext4 -q -L cvmboot -d "$root/boot" "$boot" "${boot_mib}M"
rm -rf "${root:?}/boot/"*

# Root: ext4 32 MiB smaller than its partition, then encrypted in place: the
# LUKS2 header takes the 32 MiB (reencrypt --reduce-device-size).
rootimg=$work/root.img
install -m 0600 "$root/etc/cryptsetup-keys.d/root.key" "$out/build-key"
root_mib=$(( $(mib "$root") * 5 / 4 + 768 ))  # room for the staged kernel's modules
truncate -s "$((root_mib + 32))M" "$rootimg"
mkfs.ext4 -q -L cvmroot -d "$root" "$rootimg" "${root_mib}M"
cryptsetup reencrypt --encrypt --type luks2 --batch-mode --reduce-device-size 32M --uuid "$luks_uuid" \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$out/build-key" "$rootimg" >/dev/null

# GPT: ESP, /boot, root; each partition dd'ed in at its offset.
esp_s=2048
boot_s=$(( esp_s + $(stat -c %s "$esp") / 512 ))
root_s=$(( boot_s + $(stat -c %s "$boot") / 512 ))
end_s=$(( root_s + $(stat -c %s "$rootimg") / 512 ))
disk=$out/disk.img
rm -f "$disk"
truncate -s $(( (end_s + 2048) * 512 )) "$disk"
sfdisk -q "$disk" <<GPT
label: gpt
start=$esp_s, size=$((boot_s - esp_s)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="ESP"
start=$boot_s, size=$((root_s - boot_s)), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="boot"
start=$root_s, size=$((end_s - root_s)), type=CA7D7CCB-63ED-4C53-861C-1742536059CC, name="root"
GPT
dd if="$esp" of="$disk" bs=512 seek="$esp_s" conv=notrunc,sparse status=none
dd if="$boot" of="$disk" bs=512 seek="$boot_s" conv=notrunc,sparse status=none
dd if="$rootimg" of="$disk" bs=512 seek="$root_s" conv=notrunc,sparse status=none
cat >"$out/image.env" <<ENV
KVER=$kver
LUKS_UUID=$luks_uuid
BOOT_OFFSET=$((boot_s * 512))
BOOT_SIZE=$(stat -c %s "$boot")
ROOT_OFFSET=$((root_s * 512))
ROOT_SIZE=$(stat -c %s "$rootimg")
ENV
rm -rf "$work"
echo "disk: $disk ($(du -h --apparent-size "$disk" | cut -f1), $(du -h "$disk" | cut -f1) used), kernel $kver, LUKS $luks_uuid"
