#!/usr/bin/env bash
# What each TPM2 unlock tool adds to a dracut initramfs: the same dracut run
# (Debian's kernel and its e2e module tree, --no-hostonly, zstd -3) with
#   base      systemd + crypt (systemd-cryptsetup), no TPM2 support
#   +tpm2-tss base + dracut's tpm2-tss module: what dracut adds for a crypttab
#             with tpm2-device= (systemd-tpm2's token plugin and tss2 libraries)
#   +cvmunlock on top of +tpm2-tss: --add cvmunlock (this build, staged)
#   cvmunlock base + --add cvmunlock alone
#   clevis    base + clevis and clevis-pin-tpm2 (Debian 12's clevis, clevis-luks,
#             clevis-systemd, clevis-tpm2, clevis-dracut, jose, luksmeta, unpacked
#             from their packages: installing clevis-dracut would pull dracut,
#             which replaces initramfs-tools)
# and prints the compressed and uncompressed bytes and the files of each, and
# the differences, as a markdown table (and JSON with --json FILE).
#
# usage: bench/initramfs_footprint.sh [BUILD_DIR] [--json FILE]
# Needs root (dracut runs in a private mount namespace over the staged files)
# and the e2e packages (scripts/packages/e2e.txt).
# shellcheck source-path=SCRIPTDIR
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src_dir=$(cd "$here/.." && pwd)
# shellcheck source=../tests/qemu/lib/guest_cache.sh
source "$src_dir/tests/qemu/lib/guest_cache.sh"
# shellcheck source=../tests/e2e/lib/guest_build.sh
source "$src_dir/tests/e2e/lib/guest_build.sh"

build_dir=$src_dir/build
json_out=""
while (($#)); do
	case $1 in
	--json) json_out=${2:-}; shift ;;
	-h | --help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) build_dir=$1 ;;
	esac
	shift
done
build_dir=$(cd "$build_dir" && pwd) || exit 2
cache=$build_dir/guest-cache
((EUID == 0)) || { log "needs root"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/cvmunlock-footprint.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

kdir=$(cache_kernel "$cache") || { log "no guest kernel"; exit 1; }
moddir=$(e2e_kernel_modules "$cache" "$kdir") || exit 1
kver=$(<"$moddir/kver")

# One stage: this build's install and clevis's packages, unpacked.
stage=$work/stage
e2e_stage_install "$build_dir" "$src_dir" "$stage" || exit 1
mkdir -p "$work/debs" || exit 1
if ! (cd "$work/debs" && apt-get download -q clevis clevis-luks clevis-systemd clevis-tpm2 clevis-dracut jose \
	libjose0 luksmeta libluksmeta0 >"$work/apt.log" 2>&1); then
	log "apt-get download of clevis failed:"
	cat "$work/apt.log" >&2
	exit 1
fi
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/clevis" || exit 1; done
if [[ -d $work/clevis/lib ]]; then
	mkdir -p "$work/clevis/usr/lib" && cp -a "$work/clevis/lib/." "$work/clevis/usr/lib/" && rm -rf "$work/clevis/lib"
fi
cp -a "$work/clevis/." "$stage/" || exit 1
versions=$(dpkg-deb -f "$(ls "$work"/debs/clevis_*.deb)" Version)

readonly ALL_OPTIONAL="tpm2-tss cvmunlock clevis clevis-pin-null clevis-pin-tang clevis-pin-tpm2 clevis-pin-sss"
# variant NAME ADD: builds the initramfs with ADD and every other optional module omitted.
variant() {
	local name=$1 add=$2 omit="" m
	for m in $ALL_OPTIONAL; do
		[[ " $add " == *" $m "* ]] || omit+=" $m"
	done
	log "dracut: $name (--add \"$add\")"
	e2e_dracut "$work/$name.img" "$stage" "$moddir" "$kver" "$work/$name.log" \
		--add "crypt systemd $add" --omit "$omit" || exit 1
	zstd -dc "$work/$name.img" >"$work/$name.cpio" || exit 1
	(cd "$work" && mkdir -p "x-$name" && cd "x-$name" && cpio -idm --quiet <"../$name.cpio") || exit 1
	(cd "$work/x-$name" && find . \( -type f -o -type l \) | LC_ALL=C sort) >"$work/$name.files"
}
variant base ""
variant tpm2 "tpm2-tss"
variant both "tpm2-tss cvmunlock"
variant cvm "cvmunlock"
variant clevis "clevis clevis-pin-tpm2"

bytes() { stat -c %s "$1"; }
# added OVER UNDER: the files of UNDER's image that OVER's lacks, with their sizes.
added() {
	comm -13 "$work/$1.files" "$work/$2.files" | while IFS= read -r f; do
		printf '%s %s\n' "$(stat -c %s "$work/x-$2/$f")" "${f#./}"
	done | sort -rn
}

row() {
	local label=$1 name=$2 over=$3
	local c u n dc du dn
	c=$(bytes "$work/$name.img")
	u=$(bytes "$work/$name.cpio")
	n=$(wc -l <"$work/$name.files")
	if [[ -n $over ]]; then
		dc=$((c - $(bytes "$work/$over.img")))
		du=$((u - $(bytes "$work/$over.cpio")))
		dn=$((n - $(wc -l <"$work/$over.files")))
	else
		dc=0 du=0 dn=0
	fi
	printf '| %s | %d | %d | %d | %+d | %+d | %+d |\n' "$label" "$c" "$u" "$n" "$dc" "$du" "$dn"
	JSON_ROWS+=("{\"variant\":\"$name\",\"label\":\"$label\",\"over\":\"$over\",\"compressed\":$c,\"uncompressed\":$u,\"files\":$n,\"added_compressed\":$dc,\"added_uncompressed\":$du,\"added_files\":$dn}")
}

JSON_ROWS=()
printf 'dracut %s, kernel %s, clevis %s, %s\n\n' "$(dpkg-query -W -f='${Version}' dracut-core)" "$kver" "$versions" "$(date -u +%F)"
printf '| initramfs | compressed (zstd -3) | uncompressed (cpio) | files | added, compressed | added, uncompressed | added files |\n'
printf '|---|---:|---:|---:|---:|---:|---:|\n'
row "base: systemd + crypt (systemd-cryptsetup)" base ""
row "+ tpm2-tss (systemd-tpm2 support), over base" tpm2 base
row "+ tpm2-tss + cvmunlock, over + tpm2-tss" both tpm2
row "+ cvmunlock alone, over base" cvm base
row "+ clevis + clevis-pin-tpm2, over base" clevis base
printf '\nLargest files cvmunlock adds over + tpm2-tss:\n'
added tpm2 both | head -n 12 | sed 's/^/    /'
printf '\nLargest files tpm2-tss adds over base:\n'
added base tpm2 | head -n 8 | sed 's/^/    /'
printf '\nLargest files clevis adds over base:\n'
added base clevis | head -n 12 | sed 's/^/    /'
if [[ -n $json_out ]]; then
	(
		IFS=,
		printf '{"date":"%s","kernel":"%s","rows":[%s]}\n' "$(date -u +%F)" "$kver" "${JSON_ROWS[*]}"
	) >"$json_out"
fi
