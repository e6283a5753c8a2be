#!/usr/bin/env bash
# Real-image scenarios (ctest label `image`, issue 11), for VARIANT dracut or
# initramfs-tools. So far: `boot`: the Debian image built by build_image.sh
# (our package installed by apt inside it) boots through OVMF with Secure Boot
# on and Microsoft's keys, shim, grub and Debian's signed kernel from its own
# ESP; the root, which has no cvmunlock token yet, asks for the build-time key,
# which opens it, and the full userspace comes up (a marker on the console);
# there, `cvmunlock eventlog verify --tpm` matches and the log has the Secure
# Boot chain's events (db authority; shim, grub and kernel images).
# usage: image_test.sh SCENARIO VARIANT SOURCE_DIR BUILD_DIR
set -uo pipefail
scenario=$1 variant=$2 src=$3 build=$4
work=$build/image/$variant
log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
fail() { log "FAIL: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (mmdebstrap --mode=root, chroot)"; exit 77; }
for tool in mmdebstrap mkfs.vfat mcopy sfdisk qemu-system-x86_64 swtpm dpkg-buildpackage; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (scripts/packages/image.txt)"; exit 77; }
done
# shellcheck source=../qemu/lib/boot.sh
. "$src/tests/qemu/lib/boot.sh"
# shellcheck source=../e2e/lib/vm.sh
. "$src/tests/e2e/lib/vm.sh"
mkdir -p "$work"

# One package and one image per variant for every scenario of this build (a lock
# serializes the two variants' builders).
exec {lock}>"$build/image/.lock"
flock "$lock"
if [ ! -s "$build/image/deb/done" ]; then
	log "building the package (scripts/package.sh)"
	DEB_BUILD_OPTIONS=nocheck "$src/scripts/package.sh" "$build/image/deb" >"$build/image/package.log" 2>&1 ||
		{ tail -n 30 "$build/image/package.log"; fail "the package did not build"; }
	touch "$build/image/deb/done"
fi
if [ ! -s "$work/disk.img" ]; then
	log "building the $variant image"
	bash "$src/tests/image/build_image.sh" "$variant" "$(ls "$build"/image/deb/cvmunlock_*_amd64.deb)" "$work" \
		"${CVMUNLOCK_IMAGE_CACHE:-$build/image/cache}" || fail "the image did not build"
fi
flock -u "$lock"

case $scenario in
boot)
	run=$work/run-boot
	rm -rf "$run"
	mkdir -p "$run/tpm"
	cp --sparse=always "$work/disk.img" "$run/disk.img"
	e2e_vm_start "$run" ovmf-secboot - - "$run/disk.img" "" || fail "QEMU did not start"
	trap e2e_vm_stop EXIT
	prompt="Please unlock disk"
	[ "$variant" = dracut ] && prompt="Please enter passphrase"
	e2e_vm_expect 900 "$prompt" "Security Violation" "Kernel panic" || fail "no passphrase prompt"
	[ "$VM_MATCHED" = "$prompt" ] || fail "boot failed: $VM_MATCHED"
	sleep 2
	e2e_vm_type "$(cat "$work/build-key")"
	e2e_vm_expect 900 "CVMIMAGE-USERSPACE-UP" "Kernel panic" || fail "the userspace did not come up"
	[ "$VM_MATCHED" = CVMIMAGE-USERSPACE-UP ] || fail "$VM_MATCHED"
	# Inside the guest, cvmunlock replays this boot's event log against the vTPM, and
	# the log has the Secure Boot chain: db's authority, shim, grub, the kernel.
	e2e_vm_console_has "CVMIMAGE-EVENTLOG-VERIFY exit=0" || fail "eventlog verify --tpm did not pass in the guest"
	for event in "EV_EFI_VARIABLE_AUTHORITY          db" "EV_EFI_BOOT_SERVICES_APPLICATION   node" \
		'EV_EFI_BOOT_SERVICES_APPLICATION   \EFI\BOOT\grubx64.efi' "EV_EFI_BOOT_SERVICES_APPLICATION   image of"; do
		e2e_vm_console_has "$event" || fail "the guest's event log lacks: $event"
	done
	log "PASS: $variant image: Secure Boot, shim, grub, signed kernel, build-time key, full userspace"
	;;
*) fail "unknown scenario $scenario" ;;
esac
