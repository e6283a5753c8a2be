# shellcheck shell=bash
# The initramfs-tools guest (Ubuntu's way): an initramfs made by mkinitramfs
# with cryptsetup-initramfs's hooks and ours, from the same stage as the dracut
# guest, on the host, in a private mount namespace where the stage, the
# kernel's module tree and a test /etc (crypttab, CRYPTSETUP=y) are overlaid on
# /usr and /etc. The host is unchanged.
#   e2e/initramfs-tools-<variant>-<key>.img
# Needs guest_build.sh (E2E_* constants, files_digest, log, prune_stale).

E2E_ITOOLS_RECIPE=${BASH_SOURCE[0]}
readonly E2E_ITOOLS_RECIPE
# Modules for the guest's disk and root file system; cryptroot's hook adds
# dm_crypt and the ciphers.
readonly E2E_ITOOLS_MODULES=(virtio_pci virtio_blk ext4)

# e2e_itools_confdir DIR EXTRA_LOCAL_TOP: an initramfs-tools configuration
# directory as an image builder would have it (MODULES=list, busybox, zstd),
# with EXTRA_LOCAL_TOP (when given) as a local-top script of its own, named
# to run first (local-top scripts without prerequisites run in name order).
e2e_itools_confdir() {
	local dir=$1 extra=${2:-}
	mkdir -p "$dir/conf.d" "$dir/hooks" "$dir/scripts/local-top" || return 1
	printf '%s\n' MODULES=list BUSYBOX=y COMPRESS=zstd COMPRESSLEVEL=3 RUNSIZE=10% FSTYPE=ext4 >"$dir/initramfs.conf"
	printf '%s\n' "${E2E_ITOOLS_MODULES[@]}" >"$dir/modules"
	if [[ -n $extra ]]; then
		install -m 0755 "$extra" "$dir/scripts/local-top/00-${extra##*/}" || return 1
	fi
}

# e2e_itools_etc DIR: the /etc the hooks read: crypttab with the root volume
# (option initramfs: include it although it is not this host's root) and
# cryptsetup-initramfs's CRYPTSETUP=y.
e2e_itools_etc() {
	local dir=$1
	mkdir -p "$dir/cryptsetup-initramfs" || return 1
	printf 'root UUID=%s none luks,initramfs\n' "$E2E_LUKS_UUID" >"$dir/crypttab"
	printf 'CRYPTSETUP=y\n' >"$dir/cryptsetup-initramfs/conf-hook"
}

# e2e_mkinitramfs OUT STAGE MODULES_DIR KERNEL_CONFIG KVER LOG [EXTRA_LOCAL_TOP]
e2e_mkinitramfs() {
	local out=$1 stage=$2 moddir=$3 config=$4 kver=$5 build_log=$6 extra=${7:-} tmp bin
	tmp=$(mktemp -d "${out%/*}/.mkinitramfs.XXXXXX") || return 1
	bin=$(cd "$stage" && find usr -path '*/bin/cvmunlock' | head -n 1)
	# mkinitramfs reads the kernel's config from /boot (compression support).
	{ e2e_itools_confdir "$tmp/conf" "$extra" && e2e_itools_etc "$tmp/etc" && mkdir "$tmp/boot" &&
		cp "$config" "$tmp/boot/config-$kver"; } || {
		rm -rf "$tmp"
		return 1
	}
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --mount --propagation private -- bash -c '
		set -e
		stage=$1 moddir=$2 etc=$3 boot=$4; shift 4
		mount -t overlay -o "lowerdir=$stage/usr:$moddir:/usr" cvmunlock-stage /usr
		mount --bind "$boot" /boot
		mount -t overlay -o "lowerdir=$etc:$stage/etc:/etc" cvmunlock-stage /etc 2>/dev/null ||
			mount -t overlay -o "lowerdir=$etc:/etc" cvmunlock-stage /etc
		exec "$@"' bash "$stage" "$moddir" "$tmp/etc" "$tmp/boot" \
		env CVMUNLOCK_BIN="/$bin" TMPDIR="$tmp" mkinitramfs -d "$tmp/conf" -o "$out" "$kver" >"$build_log" 2>&1
	local rc=$?
	rm -rf "$tmp"
	((rc == 0)) || build_failed mkinitramfs "$rc" "$build_log"
}

# e2e_cache_initramfs_tools CACHE KDIR MODULES_DIR STAGE [EXTRA_LOCAL_TOP]:
# prints the path of the (cached) initramfs-tools initramfs for the kernel in
# KDIR (its config); the variant with EXTRA_LOCAL_TOP is keyed apart.
e2e_cache_initramfs_tools() {
	local cache=$1 kdir=$2 moddir=$3 stage=$4 extra=${5:-} variant=cvmunlock key kver
	[[ -z $extra ]] || variant=${extra##*/}
	kver=$(<"$moddir/kver")
	key=$({
		stage_sums "$stage"
		printf '%s\n' "$kver" "${E2E_ITOOLS_MODULES[@]}"
		dpkg-query -W -f='${Version}\n' initramfs-tools-core cryptsetup-initramfs busybox-static 2>/dev/null
		sha256sum "$E2E_ITOOLS_RECIPE" ${extra:+"$extra"}
	} | sha256sum | cut -c1-16)
	e2e_cached "$cache/e2e/initramfs-tools-$variant-$key.img" "initramfs-tools-$variant-*.img" \
		"the initramfs-tools initramfs ($variant) with mkinitramfs (kernel $kver)" \
		e2e_mkinitramfs "$stage" "$moddir" "$kdir/config" "$kver" "$cache/e2e/mkinitramfs-$variant.log" "$extra"
}
