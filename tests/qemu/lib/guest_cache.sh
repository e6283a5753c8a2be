# shellcheck shell=bash
# Guest pieces kept in the cache dir so that later runs boot at once:
#   kernel/<package>_<version>/   vmlinuz, config and the TPM driver modules of
#                                 Debian's linux-image-amd64 (never installed)
#   kernel/current                name of the kernel dir in use
#   efi/<package>_<version>/      shimx64.efi / grubx64.efi from shim-signed
#                                 and grub-efi-amd64-signed (never installed)
#   initramfs-<key>.cpio.gz       busybox + guest/init (+ modules)
#   esp-<key>.img                 GPT disk image with a FAT ESP for shim-grub
# Steps are chained with && / || return rather than set -e, which bash ignores
# inside functions called from a condition. Callers hold the cache lock (flock) while calling these; every item is built
# under a temporary name and renamed into place, so an interrupted build never
# leaves a half item behind.
#
# Exit status convention of these functions: 0 done, 77 the prerequisite
# cannot be obtained (no apt source, no network), anything else is a failure.

readonly DEBIAN_KERNEL_META=linux-image-amd64
# This file: part of the cache keys, so a changed recipe rebuilds its items.
RECIPE=${BASH_SOURCE[0]}
readonly RECIPE
readonly SHIM_PACKAGE=shim-signed
readonly GRUB_PACKAGE=grub-efi-amd64-signed

log() { printf '%s\n' "$*" >&2; }

# apt-get download into the current directory; 77 when apt cannot fetch.
apt_download() {
	# -o APT::Sandbox::User=root: the download dir is not readable by _apt.
	if ! apt-get -q -o APT::Sandbox::User=root download "$@" >&2; then
		log "apt-get download $* failed (no apt lists? run apt-get update)"
		return 77
	fi
}

# deb_field DEB FIELD: a control field of a .deb file.
deb_field() { dpkg-deb -f "$1" "$2"; }

# In the current (work) dir: downloads the kernel package, keeps what the
# guest needs as KROOT/<package>_<version> and points KROOT/current at it.
fetch_kernel() {
	local kroot=$1 meta dep deb name
	apt_download "$DEBIAN_KERNEL_META" || return
	meta=$(echo "${DEBIAN_KERNEL_META}"_*.deb)
	# Depends: "linux-image-6.1.0-56-amd64 (= 6.1.192-2)", the real image.
	dep=$(deb_field "$meta" Depends | cut -d' ' -f1 | cut -d, -f1) || return
	apt_download "$dep" || return
	deb=$(echo "${dep}"_*.deb)
	name="${dep}_$(deb_field "$deb" Version)" || return
	log "extracting $deb"
	dpkg-deb -x "$deb" root || return
	mkdir -p "$name/modules" &&
		cp root/boot/vmlinuz-* "$name/vmlinuz" &&
		cp root/boot/config-* "$name/config" &&
		cp -r root/lib/modules/*/kernel/drivers/char/tpm "$name/modules/" &&
		mv "$name" "$kroot/" &&
		printf '%s\n' "$name" >"$kroot/current.tmp" &&
		mv "$kroot/current.tmp" "$kroot/current"
}

# Prints the kernel dir (with vmlinuz, config, modules/) after making it.
cache_kernel() {
	local cache=$1 kroot="$1/kernel"
	if [[ -f $kroot/current && -f $kroot/$(<"$kroot/current")/vmlinuz ]]; then
		printf '%s\n' "$kroot/$(<"$kroot/current")"
		return 0
	fi
	mkdir -p "$kroot"
	local work
	work=$(mktemp -d "$kroot/.work.XXXXXX") || return 1
	(cd "$work" && fetch_kernel "$kroot")
	local rc=$?
	rm -rf "$work"
	((rc == 0)) || return "$rc"
	printf '%s\n' "$kroot/$(<"$kroot/current")"
}

# TPM drivers the guest needs, in load order: "CONFIG_SYMBOL module-path".
readonly TPM_DRIVER_MODULES=(
	"CONFIG_TCG_TPM tpm/tpm.ko"
	"CONFIG_TCG_TIS_CORE tpm/tpm_tis_core.ko"
	"CONFIG_TCG_TIS tpm/tpm_tis.ko"
	"CONFIG_TCG_CRB tpm/tpm_crb.ko"
)

# Copies the drivers that the kernel config has as modules (=m) into DEST as
# NN-name.ko so that guest/init loads them in order.
stage_tpm_modules() {
	local kdir=$1 dest=$2 entry symbol path index=10
	mkdir -p "$dest"
	for entry in "${TPM_DRIVER_MODULES[@]}"; do
		read -r symbol path <<<"$entry"
		if grep -qx "$symbol=m" "$kdir/config"; then
			if [[ ! -f $kdir/modules/$path ]]; then
				log "$symbol=m but $path is missing from the kernel package"
				return 1
			fi
			cp "$kdir/modules/$path" "$dest/$index-${path##*/}"
			index=$((index + 1))
		fi
	done
}

# prune_stale DIR GLOB KEEP: removes items of an older recipe or input.
prune_stale() {
	local dir=$1 glob=$2 keep=$3 item
	for item in "$dir"/$glob; do
		[[ -f $item && $item != "$keep" ]] && rm -f "$item"
	done
	return 0
}

# The static busybox, or nothing (a dynamic one cannot run in the initramfs).
find_static_busybox() {
	local candidate
	for candidate in /usr/bin/busybox /bin/busybox; do
		# ldd exits 1 on a static binary, hence no pipe (callers use pipefail).
		if [[ -x $candidate && $(ldd "$candidate" 2>&1) == *"not a dynamic executable"* ]]; then
			printf '%s\n' "$candidate"
			return 0
		fi
	done
	return 1
}

# Prints the path of the (cached) initramfs for KERNEL_DIR and INIT_SCRIPT.
cache_initramfs() {
	local cache=$1 kdir=$2 init_script=$3 busybox key out
	busybox=$(find_static_busybox) || {
		log "no static busybox (package busybox-static)"
		return 77
	}
	key=$({
		sha256sum "$init_script" "$busybox" "$kdir/config" "$RECIPE"
		printf '%s\n' "${TPM_DRIVER_MODULES[@]}"
	} | cut -d' ' -f1 | sha256sum | cut -c1-16)
	out="$cache/initramfs-$key.cpio.gz"
	if [[ -f $out ]]; then
		printf '%s\n' "$out"
		return 0
	fi
	local root
	root=$(mktemp -d "$cache/.initramfs.XXXXXX") || return 1
	mkdir -p "$root/bin" "$root/modules" &&
		cp "$busybox" "$root/bin/busybox" &&
		ln -s busybox "$root/bin/sh" &&
		cp "$init_script" "$root/init" &&
		chmod 0755 "$root/init" &&
		stage_tpm_modules "$kdir" "$root/modules" &&
		(cd "$root" && find . -exec touch -h -d @0 {} + &&
			find . -mindepth 1 | LC_ALL=C sort |
			cpio --quiet -o -H newc -R 0:0 --reproducible | gzip -9n >"$out.tmp")
	local rc=$?
	rm -rf "$root"
	((rc == 0)) || { rm -f "$out.tmp"; return "$rc"; }
	mv "$out.tmp" "$out" || return 1
	prune_stale "$cache" 'initramfs-*.cpio.gz' "$out"
	printf '%s\n' "$out"
}

# In the current (work) dir: downloads shim and grub, keeps the signed
# binaries as EROOT/shim_<version>_grub_<version> and points EROOT/current at it.
fetch_efi_binaries() {
	local eroot=$1 shim_deb grub_deb name
	apt_download "$SHIM_PACKAGE" "$GRUB_PACKAGE" || return
	shim_deb=$(echo "${SHIM_PACKAGE}"_*.deb)
	grub_deb=$(echo "${GRUB_PACKAGE}"_*.deb)
	dpkg-deb -x "$shim_deb" root && dpkg-deb -x "$grub_deb" root || return
	name="shim_$(deb_field "$shim_deb" Version)_grub_$(deb_field "$grub_deb" Version)" || return
	mkdir "$name" &&
		cp root/usr/lib/shim/shimx64.efi.signed "$name/shimx64.efi" &&
		cp root/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed "$name/grubx64.efi" &&
		mv "$name" "$eroot/" &&
		printf '%s\n' "$name" >"$eroot/current.tmp" &&
		mv "$eroot/current.tmp" "$eroot/current"
}

# Prints the dir with shimx64.efi and grubx64.efi (Debian-signed binaries).
cache_efi_binaries() {
	local cache=$1 eroot="$1/efi"
	if [[ -f $eroot/current && -f $eroot/$(<"$eroot/current")/grubx64.efi ]]; then
		printf '%s\n' "$eroot/$(<"$eroot/current")"
		return 0
	fi
	mkdir -p "$eroot"
	local work
	work=$(mktemp -d "$eroot/.work.XXXXXX") || return 1
	(cd "$work" && fetch_efi_binaries "$eroot")
	local rc=$?
	rm -rf "$work"
	((rc == 0)) || return "$rc"
	printf '%s\n' "$eroot/$(<"$eroot/current")"
}

# ESP geometry: a 64 MiB GPT disk with one 62 MiB EFI System Partition at
# 1 MiB (sectors of 512 bytes). Fixed GUIDs and FAT serial keep the image, and
# so the EV_EFI_GPT_EVENT in PCR 5, the same on every machine.
readonly ESP_DISK_MIB=64
readonly ESP_START_SECTOR=2048
readonly ESP_SECTORS=126976
readonly ESP_DISK_GUID=5C4E1F0A-7D3B-4C1E-9A51-C0FFEE000001
readonly ESP_PART_GUID=5C4E1F0A-7D3B-4C1E-9A51-C0FFEE000002
readonly ESP_FAT_SERIAL=0x43564D55

# Prints the path of the (cached) ESP disk image: shim as the removable-media
# loader EFI/BOOT/BOOTX64.EFI, grub beside it (shim loads grubx64.efi from its
# own dir when there is no fbx64.efi), grub.cfg in EFI/debian (where Debian's
# signed grub looks) and in EFI/BOOT, and the kernel and initramfs.
cache_esp() {
	local cache=$1 efidir=$2 kdir=$3 initramfs=$4 grub_cfg=$5 key out
	key=$(sha256sum "$efidir/shimx64.efi" "$efidir/grubx64.efi" "$kdir/vmlinuz" \
		"$initramfs" "$grub_cfg" "$RECIPE" | cut -d' ' -f1 | sha256sum | cut -c1-16)
	out="$cache/esp-$key.img"
	if [[ -f $out ]]; then
		printf '%s\n' "$out"
		return 0
	fi
	local img="$out.tmp" fat
	fat="$img@@$((ESP_START_SECTOR * 512))"
	rm -f "$img"
	if ! (
		export MTOOLS_SKIP_CHECK=1
		truncate -s "${ESP_DISK_MIB}M" "$img" &&
			printf 'label: gpt\nlabel-id: %s\nstart=%d, size=%d, type=uefi, uuid=%s, name="ESP"\n' \
				"$ESP_DISK_GUID" "$ESP_START_SECTOR" "$ESP_SECTORS" "$ESP_PART_GUID" |
			sfdisk --quiet "$img" &&
			mformat -i "$fat" -T "$ESP_SECTORS" -h 64 -s 32 -N "$ESP_FAT_SERIAL" -v ESP :: &&
			mmd -i "$fat" ::/EFI ::/EFI/BOOT ::/EFI/debian &&
			mcopy -i "$fat" "$efidir/shimx64.efi" ::/EFI/BOOT/BOOTX64.EFI &&
			mcopy -i "$fat" "$efidir/grubx64.efi" ::/EFI/BOOT/grubx64.efi &&
			mcopy -i "$fat" "$grub_cfg" ::/EFI/BOOT/grub.cfg &&
			mcopy -i "$fat" "$grub_cfg" ::/EFI/debian/grub.cfg &&
			mcopy -i "$fat" "$kdir/vmlinuz" ::/vmlinuz &&
			mcopy -i "$fat" "$initramfs" ::/initrd.gz
	); then
		rm -f "$img"
		return 1
	fi
	mv "$img" "$out" || return 1
	prune_stale "$cache" 'esp-*.img' "$out"
	printf '%s\n' "$out"
}
