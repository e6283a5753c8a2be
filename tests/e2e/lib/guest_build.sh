# shellcheck shell=bash
# Builds the e2e guest into the cache dir, next to the pieces that the QEMU
# boot tests (tests/qemu) keep there:
#   e2e/modules/<package>_<version>/lib/modules/<kver>/   the kernel's module
#        tree (storage, crypto, dm, TPM drivers only), depmod'ed, for dracut
#   e2e/stage/                what `cmake --install` puts on an image
#   e2e/initramfs-{plain,crypttab}-<key>.img   dracut --add cvmunlock over
#                             the stage; "crypttab" has an /etc/crypttab
#   e2e/root-<key>.img        ext4 root (os-release + static init) converted
#                             to LUKS2 offline, with one passphrase keyslot
# Needs tests/qemu/lib/guest_cache.sh (log, apt_download, prune_stale).
# Return codes as there: 0 done, 77 prerequisite cannot be had, else failure.

E2E_RECIPE=${BASH_SOURCE[0]}
readonly E2E_RECIPE

# The fixed LUKS UUID of the root image, so the kernel command line is known.
readonly E2E_LUKS_UUID=c7a11e2e-0000-4000-8000-00000000e2e0
# Passphrase of the image's first keyslot (the one enrolling opens).
readonly E2E_PASSPHRASE=e2e-initial-passphrase
# Argon2id costs of the passphrase keyslots: the guest has 1 GiB.
readonly E2E_ARGON2=(--pbkdf argon2id --pbkdf-memory 65536 --pbkdf-force-iterations 4 --pbkdf-parallel 1)
# Kernel drivers the guest needs beyond what the dracut modules ask for.
readonly E2E_DRACUT_DRIVERS="virtio_pci virtio_blk ext4 dm_crypt"
# Kernel module dirs kept from the package (the rest is GPU, sound, network...).
readonly E2E_KERNEL_MODULE_DIRS=(arch crypto lib fs block mm virt
	drivers/ata drivers/block drivers/char drivers/crypto drivers/md drivers/nvme
	drivers/scsi drivers/virt drivers/virtio drivers/acpi drivers/firmware drivers/base)

# apt_download's "cannot be obtained" status.
readonly SKIP_RC=77

# files_digest FILE...: one short digest over the files' contents and names.
files_digest() { sha256sum "$@" | sha256sum | cut -c1-16; }

# stage_sums STAGE: the checksum of every file staged, for cache keys.
stage_sums() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); }

# build_failed WHAT RC LOG: says that WHAT failed with RC and shows LOG's end; returns RC.
build_failed() {
	log "$1 failed ($2); the end of $3:"
	tail -n 30 "$3" >&2
	return "$2"
}

# e2e_kernel_modules CACHE KDIR: prints the dir whose lib/modules/<kver> is
# the module tree of the kernel in KDIR (a tests/qemu cache_kernel dir, named
# <package>_<version>), fetching the same package version again.
e2e_kernel_modules() {
	local cache=$1 kdir=$2 name pkg version out work kver dir
	name=${kdir##*/}
	out="$cache/e2e/modules/$name-$(printf '%s\n' "${E2E_KERNEL_MODULE_DIRS[@]}" | sha256sum | cut -c1-8)"
	if [[ -f $out/kver ]]; then
		printf '%s\n' "$out"
		return 0
	fi
	pkg=${name%%_*}
	version=${name#*_}
	mkdir -p "$cache/e2e/modules"
	work=$(mktemp -d "$cache/e2e/modules/.work.XXXXXX") || return 1
	(
		cd "$work" || exit 1
		apt_download "$pkg=$version" || {
			log "the cached kernel $pkg $version cannot be fetched again; delete $cache/kernel to take the current one"
			exit "$SKIP_RC"
		}
		log "extracting the modules of $pkg $version"
		dpkg-deb -x "$pkg"_*.deb root || exit 1
		kver=$(ls root/lib/modules) && [[ -n $kver ]] || exit 1
		mkdir -p "tree/lib/modules/$kver/kernel" || exit 1
		cp root/lib/modules/"$kver"/modules.* "tree/lib/modules/$kver/" || exit 1
		for dir in "${E2E_KERNEL_MODULE_DIRS[@]}"; do
			[[ -d root/lib/modules/$kver/kernel/$dir ]] || continue
			mkdir -p "$(dirname "tree/lib/modules/$kver/kernel/$dir")" &&
				mv "root/lib/modules/$kver/kernel/$dir" "tree/lib/modules/$kver/kernel/$dir" || exit 1
		done
		depmod -b tree "$kver" && printf '%s\n' "$kver" >tree/kver && mv tree "$out"
	)
	local rc=$?
	rm -rf "$work"
	((rc == 0)) || return "$rc"
	for dir in "$cache/e2e/modules"/*; do
		[[ $dir == "$out" ]] || rm -rf "$dir"
	done
	printf '%s\n' "$out"
}

# e2e_stage_install BUILD_DIR SRC_DIR STAGE: what `cmake --install --strip`
# puts on an image (binary, token plugin, units), as a package would, with
# /lib folded into /usr/lib as on a merged-/usr system, plus the dracut module
# of the source tree.
e2e_stage_install() {
	local build=$1 src=$2 stage=$3
	rm -rf "$stage" && mkdir -p "$stage" || return 1
	DESTDIR=$stage cmake --install "$build" --strip >"$stage.log" 2>&1 || {
		log "cmake --install $build failed:"
		cat "$stage.log" >&2
		return 1
	}
	if [[ -d $stage/lib && -L /lib ]]; then
		mkdir -p "$stage/usr/lib" && cp -a "$stage/lib/." "$stage/usr/lib/" && rm -rf "${stage:?}/lib" || return 1
	fi
	compgen -G "$stage/usr/lib/*/cryptsetup/libcryptsetup-token-cvmunlock.so" >/dev/null || {
		log "cmake --install did not install the token plugin in a cryptsetup dir: $stage.log"
		return 1
	}
	mkdir -p "$stage/usr/lib/dracut/modules.d" &&
		rm -rf "$stage/usr/lib/dracut/modules.d/90cvmunlock" &&
		cp -a "$src/initramfs-hooks/dracut/90cvmunlock" "$stage/usr/lib/dracut/modules.d/"
}

# e2e_cached OUT PRUNE_GLOB WHAT BUILD [ARGS...]: prints OUT after making it,
# when missing, with `BUILD OUT.tmp ARGS...` and renaming it into place; older
# items of PRUNE_GLOB beside it are removed.
e2e_cached() {
	local out=$1 glob=$2 what=$3 build=$4 start=$EPOCHSECONDS
	shift 4
	if [[ ! -f $out ]]; then
		log "building $what"
		"$build" "$out.tmp" "$@" || {
			rm -f "$out.tmp"
			return 1
		}
		mv "$out.tmp" "$out" || return 1
		log "$what: $(($(stat -c %s "$out") / 1024)) KiB in $((EPOCHSECONDS - start)) s"
		prune_stale "${out%/*}" "$glob" "$out"
	fi
	printf '%s\n' "$out"
}

# e2e_dracut OUT STAGE MODULES_DIR KVER LOG [ARGS...]: runs dracut as an image
# builder would (--add cvmunlock, and ARGS) while the staged install is
# visible at its real paths: in a private mount namespace, STAGE/usr and
# STAGE/etc are overlaid (read-only) on /usr and /etc. The host is unchanged.
e2e_dracut() {
	local out=$1 stage=$2 moddir=$3 kver=$4 dracut_log=$5 tmp
	shift 5
	tmp=$(mktemp -d "${out%/*}/.dracut.XXXXXX") || return 1
	mkdir -p "$tmp/confdir" "$tmp/work"
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --mount --propagation private -- bash -c '
		set -e
		stage=$1; shift
		mount -t overlay -o "lowerdir=$stage/usr:/usr" cvmunlock-stage /usr
		if [[ -d $stage/etc ]]; then
			mount -t overlay -o "lowerdir=$stage/etc:/etc" cvmunlock-stage /etc
		fi
		exec dracut "$@"' bash "$stage" \
		--conf /dev/null --confdir "$tmp/confdir" --tmpdir "$tmp/work" \
		--force --no-hostonly --no-hostonly-cmdline --reproducible --no-early-microcode \
		--kver "$kver" --kmoddir "$moddir/lib/modules/$kver" \
		--add cvmunlock --drivers "$E2E_DRACUT_DRIVERS" \
		--compress "zstd -q -3 -T0" "$@" "$out" >"$dracut_log" 2>&1
	local rc=$?
	rm -rf "$tmp"
	((rc == 0)) || build_failed dracut "$rc" "$dracut_log"
}

# e2e_cache_initramfs CACHE MODULES_DIR STAGE [CRYPTTAB [ANCHOR]]: prints the
# path of the (cached) initramfs, keyed on everything staged, the kernel and
# dracut. With CRYPTTAB, that file becomes the initramfs's /etc/crypttab; with
# ANCHOR, that ARK becomes an extra SEV-SNP trust anchor in
# /etc/cvmunlock/snp-anchors.d (dracut --include, as docs/image-builder.md
# tells image builders to do).
e2e_cache_initramfs() {
	local cache=$1 moddir=$2 stage=$3 crypttab=${4:-} anchor=${5:-} variant=plain key kver
	local -a extra=()
	if [[ -n $crypttab ]]; then
		variant=crypttab
		extra=(--include "$crypttab" /etc/crypttab)
	fi
	if [[ -n $anchor ]]; then
		variant=snp
		extra+=(--include "$anchor" /etc/cvmunlock/snp-anchors.d/e2e-test-ask-ark.pem)
	fi
	kver=$(<"$moddir/kver")
	key=$({
		stage_sums "$stage"
		printf '%s\n' "$kver" "$E2E_DRACUT_DRIVERS" "$(dpkg-query -W -f='${Version}' dracut-core 2>/dev/null)"
		sha256sum "$E2E_RECIPE" ${crypttab:+"$crypttab"} ${anchor:+"$anchor"}
	} | sha256sum | cut -c1-16)
	e2e_cached "$cache/e2e/initramfs-$variant-$key.img" "initramfs-$variant-*.img" \
		"the $variant initramfs with dracut (kernel $kver)" \
		e2e_dracut "$stage" "$moddir" "$kver" "$cache/e2e/dracut-$variant.log" "${extra[@]}"
}

# e2e_cache_root_image CACHE INIT_C: prints the path of the (cached) LUKS2
# root image: 96 MiB, ext4 of 64 MiB with /etc/os-release (systemd's
# switch-root wants it) and the static /sbin/init, then encrypted in place by
# `cryptsetup reencrypt --encrypt` (offline, no loop device or dm needed).
e2e_cache_root_image() {
	local cache=$1 init_c=$2 key out work
	key=$(files_digest "$init_c" "$E2E_RECIPE")
	out="$cache/e2e/root-$key.img"
	if [[ -f $out ]]; then
		printf '%s\n' "$out"
		return 0
	fi
	work=$(mktemp -d "$cache/e2e/.root.XXXXXX") || return 1
	(
		cd "$work" || exit 1
		mkdir -p root/sbin root/etc root/proc root/sys root/dev root/run root/tmp &&
			gcc -static -O2 -Wall -Wextra -Werror -o root/sbin/init "$init_c" &&
			printf 'PRETTY_NAME="cvmunlock e2e guest"\nID=cvmunlock-e2e\n' >root/etc/os-release &&
			truncate -s 96M root.img &&
			mkfs.ext4 -q -F -d root -L e2e-root -E root_owner=0:0 root.img 64M &&
			printf '%s' "$E2E_PASSPHRASE" >passphrase &&
			cryptsetup reencrypt --encrypt --type luks2 --reduce-device-size 32M --uuid "$E2E_LUKS_UUID" \
				"${E2E_ARGON2[@]}" --key-file passphrase --batch-mode root.img >&2 &&
			mv root.img "$out"
	)
	local rc=$?
	rm -rf "$work"
	((rc == 0)) || return "$rc"
	prune_stale "$cache/e2e" 'root-*.img' "$out"
	printf '%s\n' "$out"
}
