#!/usr/bin/env bash
# Boots a real firmware chain in QEMU (TCG) with swtpm as the TPM, captures
# the event log the firmware left (securityfs binary_bios_measurements) and
# the PCR banks as the guest kernel reads them, then checks that
#   cvmunlock eventlog replay --json   reproduces every PCR it lists, and
#   cvmunlock eventlog verify          accepts the guest's PCRs.
#
# usage: firmware_eventlog_test.sh CVMUNLOCK CHAIN CACHE_DIR
#   CHAIN      ovmf | seabios | shim-grub
#   CACHE_DIR  kernel, initramfs, ESP image (built once, flock-guarded) and
#              artefacts/<chain>/ with the last captured log, PCRs and console
# exit: 0 pass, 1 fail, 2 usage, 77 skip (a prerequisite cannot be obtained)
# shellcheck source-path=SCRIPTDIR
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/guest_cache.sh
source "$here/lib/guest_cache.sh"
# shellcheck source=lib/boot.sh
source "$here/lib/boot.sh"

readonly SKIP=77
# Seconds to wait for another run that is filling the cache.
readonly CACHE_LOCK_TIMEOUT=900

skip() {
	log "SKIP: $*"
	exit "$SKIP"
}
fail() {
	log "FAIL: $*"
	exit 1
}

# Host tools and firmware; their packages are in scripts/packages/qemu.txt.
check_prerequisites() {
	local chain=$1 tool file
	local -a tools=(qemu-system-x86_64 swtpm apt-get dpkg-deb cpio gzip base64
		jq flock timeout sha256sum)
	local -a files=()
	case $chain in
	ovmf) files=("$OVMF_CODE" "$OVMF_VARS") ;;
	shim-grub)
		files=("$OVMF_CODE_SECBOOT" "$OVMF_VARS_SECBOOT")
		tools+=(sfdisk mformat mmd mcopy truncate)
		;;
	esac
	for tool in "${tools[@]}"; do
		command -v "$tool" >/dev/null || skip "$tool not found (scripts/packages/qemu.txt)"
	done
	for file in "${files[@]}"; do
		[[ -r $file ]] || skip "$file not found (package ovmf)"
	done
	find_static_busybox >/dev/null || skip "no static busybox (package busybox-static)"
}

# prepare_guest CACHE CHAIN: fills the cache under its lock and sets KERNEL,
# INITRAMFS and ESP_IMAGE (empty unless shim-grub).
prepare_guest() {
	local cache=$1 chain=$2 kdir efidir rc=0
	exec {lock_fd}>"$cache/.lock" || fail "cannot open $cache/.lock"
	flock -w "$CACHE_LOCK_TIMEOUT" "$lock_fd" || fail "cache lock busy for ${CACHE_LOCK_TIMEOUT} s"
	{
		kdir=$(cache_kernel "$cache") &&
			INITRAMFS=$(cache_initramfs "$cache" "$kdir" "$here/guest/init") &&
			ESP_IMAGE="" &&
			if [[ $chain == shim-grub ]]; then
				efidir=$(cache_efi_binaries "$cache") &&
					ESP_IMAGE=$(cache_esp "$cache" "$efidir" "$kdir" "$INITRAMFS" "$here/guest/grub.cfg")
			fi
	} || rc=$?
	exec {lock_fd}>&-
	((rc == SKIP)) && skip "guest kernel or boot loader cannot be obtained"
	((rc == 0)) || fail "could not prepare the guest in $cache"
	KERNEL="$kdir/vmlinuz"
	log "kernel:    $kdir"
	log "initramfs: $INITRAMFS"
	[[ -z $ESP_IMAGE ]] || log "ESP image: $ESP_IMAGE (shim/grub from $efidir)"
}

# console_section CONSOLE NAME: the lines between CVMUNLOCK-NAME-BEGIN/-END.
console_section() {
	tr -d '\r' <"$1" | sed -n "/^CVMUNLOCK-$2-BEGIN\$/,/^CVMUNLOCK-$2-END\$/p" | sed '1d;$d'
}

# extract_eventlog CONSOLE OUT: decodes the log and checks it against the
# size and SHA-256 the guest printed.
extract_eventlog() {
	local console=$1 out=$2 want_size want_sha size sha
	want_size=$(tr -d '\r' <"$console" | sed -n 's/^CVMUNLOCK-EVENTLOG-SIZE //p')
	want_sha=$(tr -d '\r' <"$console" | sed -n 's/^CVMUNLOCK-EVENTLOG-SHA256 //p')
	if [[ -z $want_size ]]; then
		grep -a 'CVMUNLOCK-EVENTLOG-MISSING' "$console" >&2
		return 1
	fi
	console_section "$console" EVENTLOG | base64 -d >"$out" || return 1
	size=$(stat -c %s "$out")
	sha=$(sha256sum <"$out" | cut -d' ' -f1)
	if [[ $size != "$want_size" || $sha != "$want_sha" ]]; then
		log "event log garbled on the console: $size bytes $sha, guest had $want_size bytes $want_sha"
		return 1
	fi
	log "event log: $size bytes, sha256 $sha"
}

# extract_pcrs CONSOLE OUT: {"banks": {"sha256": {"0": "<hex>", ...}, ...}}
extract_pcrs() {
	console_section "$1" PCRS |
		jq -Rn '[inputs | capture("^PCR (?<bank>[a-z0-9_]+) (?<pcr>[0-9]+) (?<value>[0-9a-fA-F]+)$")]
			| if length == 0 then error("no PCR lines") else . end
			| reduce .[] as $p ({banks: {}}; .banks[$p.bank][$p.pcr] = ($p.value | ascii_downcase))' \
			>"$2"
}

# compare_pcrs REPLAY_JSON GUEST_JSON: every PCR the replay lists, in every
# bank both have, must equal the guest's.
compare_pcrs() {
	local replay=$1 guest=$2 bank pcr want got compared=0 mismatched=0
	while IFS=$'\t' read -r bank pcr got want; do
		compared=$((compared + 1))
		if [[ $got == "$want" ]]; then
			printf '  %-7s PCR %-2s ok       %s\n' "$bank" "$pcr" "$got"
		else
			mismatched=$((mismatched + 1))
			printf '  %-7s PCR %-2s MISMATCH\n' "$bank" "$pcr"
			printf '      replay %s\n      guest  %s\n' "$got" "$want"
		fi
	done < <(jq -r --slurpfile guest "$guest" '
		.banks | to_entries[] | .key as $bank | select($guest[0].banks[$bank] != null)
		| .value | to_entries[]
		| [$bank, .key, (.value | ascii_downcase), ($guest[0].banks[$bank][.key] // "absent")]
		| @tsv' "$replay" | sort -t$'\t' -k1,1 -k2,2n)
	jq -r --slurpfile guest "$guest" '
		(.banks | keys) as $r | ($guest[0].banks | keys) as $g
		| ($r - $g | map("  bank \(.) is in the log but not in the TPM: not compared")),
		  ($g - $r | map("  bank \(.) is in the TPM but not in the log: not compared"))
		| .[]' "$replay"
	((compared > 0)) || { log "no PCR compared"; return 1; }
	log "$compared PCRs compared, $mismatched mismatched"
	((mismatched == 0))
}

# check_cli CVMUNLOCK LOG PCRS OUT_DIR: replay and verify against the guest.
check_cli() {
	local cli=$1 eventlog=$2 pcrs=$3 out=$4 rc=0
	"$cli" eventlog replay --eventlog "$eventlog" --json >"$out/replay.json" || {
		log "cvmunlock eventlog replay exited $?"
		return 1
	}
	jq -e '.banks | type == "object"' "$out/replay.json" >/dev/null || {
		log "replay output is not the expected JSON:"
		cat "$out/replay.json" >&2
		return 1
	}
	echo "events: $(jq -r '.event_count' "$out/replay.json"), startup locality: $(jq -r '.startup_locality' "$out/replay.json")"
	compare_pcrs "$out/replay.json" "$pcrs" || rc=1
	"$cli" eventlog verify --eventlog "$eventlog" --expected "$pcrs" >"$out/verify.txt" 2>&1 || {
		log "cvmunlock eventlog verify exited $?:"
		cat "$out/verify.txt" >&2
		rc=1
	}
	return "$rc"
}

main() {
	(($# == 3)) || {
		log "usage: $0 CVMUNLOCK ovmf|seabios|shim-grub CACHE_DIR"
		exit 2
	}
	local cli=$1 chain=$2 cache=$3
	case $chain in ovmf | seabios | shim-grub) ;; *) log "unknown chain $chain" && exit 2 ;; esac
	[[ -x $cli ]] || fail "$cli is not an executable"
	check_prerequisites "$chain"
	mkdir -p "$cache" || fail "cannot create $cache"
	cache=$(cd "$cache" && pwd)
	prepare_guest "$cache" "$chain"

	run_dir=$(mktemp -d "${TMPDIR:-/tmp}/cvmunlock-qemu-$chain.XXXXXX") || fail "mktemp"
	trap 'stop_swtpm; rm -rf "$run_dir"' EXIT
	local start=$EPOCHREALTIME
	boot_guest "$chain" "$run_dir" "$KERNEL" "$INITRAMFS" "$ESP_IMAGE"
	local boot_rc=$?
	log "$chain: boot took $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"

	local artefacts="$cache/artefacts/$chain"
	mkdir -p "$artefacts"
	cp "$run_dir/console.log" "$artefacts/console.log" 2>/dev/null
	local eventlog="$artefacts/binary_bios_measurements" pcrs="$artefacts/pcrs.json"
	if ! extract_eventlog "$run_dir/console.log" "$run_dir/eventlog" ||
		! extract_pcrs "$run_dir/console.log" "$run_dir/pcrs.json"; then
		log "console of the failed boot (QEMU rc $boot_rc): $artefacts/console.log"
		tail -n 40 "$artefacts/console.log" >&2
		fail "$chain: no event log or PCRs captured"
	fi
	if ! mv "$run_dir/eventlog" "$eventlog" || ! mv "$run_dir/pcrs.json" "$pcrs"; then
		fail "cannot save artefacts in $artefacts"
	fi
	log "artefacts: $artefacts"

	check_cli "$cli" "$eventlog" "$pcrs" "$artefacts" || fail "$chain: replay or verify disagrees with the guest (log $eventlog)"
	echo "PASS: $chain"
}

main "$@"
