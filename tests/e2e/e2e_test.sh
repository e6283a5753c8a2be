#!/usr/bin/env bash
# End-to-end boot of an encrypted-root guest: a dracut initramfs built with
# the cvmunlock module (`dracut --add cvmunlock`, as an image builder does),
# Debian's kernel, a LUKS2 root image enrolled on the host, OVMF and swtpm
# under QEMU (TCG). See README.md for the scenarios.
#
# usage: e2e_test.sh SCENARIO CVMUNLOCK BUILD_DIR CACHE_DIR
#   SCENARIO   provision | token-unlock | pcr7-tampered | vtpm-swapped | snp-azure |
#              snp-no-report | initramfs-tools-unlock | two-faced-plugin-s1 |
#              two-faced-plugin-s2 | two-faced-initramfs-tools-s1 |
#              two-faced-initramfs-tools-s2 | two-faced-keyscript-control
#   CVMUNLOCK  the cvmunlock binary (host-side enrolment)
#   BUILD_DIR  the build tree; `cmake --install` stages what goes in the image
#   CACHE_DIR  shared with tests/qemu: kernel, captured event log; the e2e
#              guest lives in CACHE_DIR/e2e, the last consoles in e2e/artefacts
# exit: 0 pass, 1 fail, 2 usage, 77 skip (a prerequisite cannot be had)
# shellcheck source-path=SCRIPTDIR
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src_dir=$(cd "$here/../.." && pwd)
qemu_dir="$src_dir/tests/qemu"
# shellcheck source=../qemu/lib/guest_cache.sh
source "$qemu_dir/lib/guest_cache.sh"
# shellcheck source=../qemu/lib/boot.sh
source "$qemu_dir/lib/boot.sh"
# shellcheck source=lib/guest_build.sh
source "$here/lib/guest_build.sh"
# shellcheck source=lib/initramfs_tools.sh
source "$here/lib/initramfs_tools.sh"
# shellcheck source=lib/two_faced.sh
source "$here/lib/two_faced.sh"
# shellcheck source=lib/provision.sh
source "$here/lib/provision.sh"
# shellcheck source=lib/vm.sh
source "$here/lib/vm.sh"

readonly SKIP=77
# Seconds to wait for another run that is filling the cache (dracut: ~2 min).
readonly CACHE_LOCK_TIMEOUT=1800
# Seconds one boot may take, from QEMU's start to power-off (TCG).
readonly BOOT_TIMEOUT=${CVMUNLOCK_E2E_TIMEOUT:-300}
# systemd-cryptsetup's prompt: "Please enter passphrase for disk ...", or "...
# passphrase or recovery key for disk ..." once a systemd-recovery token marks
# the recovery keyslot (enroll --recovery-key).
readonly PROMPT="Please enter passphrase"
# cryptroot's prompt (askpass) in the initramfs-tools guest.
readonly ITOOLS_PROMPT="Please unlock disk root"
readonly MARKER="CVMUNLOCK-E2E-MARKER root file system reached"
# Guest kernel command line: no emergency shell (power off instead), the
# journal on the console so the token plugin's verdicts (libcryptsetup log
# lines of systemd-cryptsetup) and the agent's show.
readonly CMDLINE="console=ttyS0 panic=-1 rd.shell=0 rd.emergency=poweroff systemd.journald.forward_to_console=1"
# The root volume without crypttab: the generator names it luks-<UUID>.
readonly UUID_ROOT="luks-$E2E_LUKS_UUID"
readonly UUID_ARGS="rd.luks.uuid=$E2E_LUKS_UUID root=/dev/mapper/$UUID_ROOT"
# The initramfs-tools guest: its crypttab names the root volume "root".
readonly ITOOLS_CMDLINE="console=ttyS0 panic=-1 root=/dev/mapper/root"
readonly E2E_TWO_FACED_PLUGIN="$here/two_faced/two_faced.py"

skip() {
	log "SKIP: $*"
	exit "$SKIP"
}
fail() {
	log "FAIL: $*"
	exit 1
}

check_prerequisites() {
	local tool file
	for tool in qemu-system-x86_64 swtpm dracut unshare cryptsetup mkfs.ext4 gcc depmod \
		dpkg-deb apt-get cmake jq flock zstd mkfifo tpm2_nvundefine mkinitramfs nbdkit; do
		command -v "$tool" >/dev/null || skip "$tool not found (scripts/packages/e2e.txt)"
	done
	for file in "$OVMF_CODE" "$OVMF_VARS" "$OVMF_CODE_SECBOOT" "$OVMF_VARS_SECBOOT" \
		/usr/lib/systemd/systemd-cryptsetup /usr/share/initramfs-tools/hooks/cryptroot \
		/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-python-plugin.so; do
		[[ -e $file ]] || skip "$file not found (scripts/packages/e2e.txt)"
	done
	[[ -n $(gcc -print-file-name=libc.a) && -f $(gcc -print-file-name=libc.a) ]] ||
		skip "no static libc for the guest's init (package libc6-dev)"
	((EUID == 0)) || skip "needs root: dracut runs in a private mount namespace over the staged install"
	unshare --mount true 2>/dev/null || skip "cannot create a mount namespace here"
}

# with_lock FILE COMMAND...: runs COMMAND holding an exclusive flock on FILE.
with_lock() {
	local file=$1 fd rc=0
	shift
	exec {fd}>"$file" || return 1
	flock -w "$CACHE_LOCK_TIMEOUT" "$fd" || {
		log "lock $file busy for ${CACHE_LOCK_TIMEOUT} s"
		exec {fd}>&-
		return 1
	}
	"$@" || rc=$?
	exec {fd}>&-
	return "$rc"
}

# build_guest: fills INITRAMFS, EVENTLOG, PROVISIONED and STAGED_UNITS (cached):
# the dracut initramfs, or for initramfs-tools-* and two-faced-initramfs-tools-*
# the mkinitramfs one (for the keyscript control, with its own local-top script).
build_guest() {
	local moddir root_image start stage="$cache/e2e/stage"
	start=$EPOCHSECONDS
	moddir=$(e2e_kernel_modules "$cache" "$KDIR") || return
	e2e_stage_install "$build_dir" "$src_dir" "$stage" || return
	# The units staged, read now: another test may stage again once we unlock.
	STAGED_UNITS=$(find "$stage" -path '*/systemd/system/cvmunlock-*' -printf ' %f ') || return
	root_image=$(e2e_cache_root_image "$cache" "$here/guest/init.c") || return
	EVENTLOG=$(e2e_firmware_eventlog "$cache" "$cli" "$qemu_dir/firmware_eventlog_test.sh") || return
	case $scenario in
	snp-*)
		# The Azure-like guest: its own vTPM state and enrolment, and an
		# initramfs that trusts the test chain's ARK.
		PROVISIONED=$(e2e_cache_provisioned "$cache" "$cli" "$root_image" "$EVENTLOG" "$provision_tool") || return
		INITRAMFS=$(e2e_cache_initramfs "$cache" "$moddir" "$stage" "" "$PROVISIONED/anchors/ask_ark.pem") || return
		;;
	initramfs-tools-* | two-faced-initramfs-tools-*)
		PROVISIONED=$(e2e_cache_provisioned "$cache" "$cli" "$root_image" "$EVENTLOG") || return
		INITRAMFS=$(e2e_cache_initramfs_tools "$cache" "$KDIR" "$moddir" "$stage") || return
		;;
	two-faced-keyscript-control)
		PROVISIONED=$(e2e_cache_provisioned "$cache" "$cli" "$root_image" "$EVENTLOG") || return
		INITRAMFS=$(e2e_cache_initramfs_tools "$cache" "$KDIR" "$moddir" "$stage" "$here/guest/keyscript-handoff") || return
		;;
	*)
		PROVISIONED=$(e2e_cache_provisioned "$cache" "$cli" "$root_image" "$EVENTLOG") || return
		INITRAMFS=$(e2e_cache_initramfs "$cache" "$moddir" "$stage") || return
		;;
	esac
	log "guest ready in $((EPOCHSECONDS - start)) s"
}

prepare_guest() {
	local rc=0
	mkdir -p "$cache/e2e" || fail "cannot create $cache/e2e"
	# The kernel is tests/qemu's, under its lock; the rest under ours.
	KDIR=$(with_lock "$cache/.lock" cache_kernel "$cache") || rc=$?
	((rc == SKIP)) && skip "the guest kernel cannot be obtained"
	((rc == 0)) || fail "could not fetch the guest kernel into $cache"
	KERNEL="$KDIR/vmlinuz"
	with_lock "$cache/e2e/.lock" build_guest || rc=$?
	((rc == SKIP)) && skip "a guest prerequisite cannot be obtained"
	((rc == 0)) || fail "could not prepare the guest in $cache/e2e"
	log "kernel:      $KDIR"
	log "initramfs:   $INITRAMFS"
	log "event log:   $EVENTLOG"
	log "provisioned: $PROVISIONED"
}

# new_run_dir TPM_STATE: a private copy of the enrolled disk and of the vTPM
# state (fresh when TPM_STATE is empty).
new_run_dir() {
	run_dir=$(mktemp -d "${TMPDIR:-/tmp}/cvmunlock-e2e-$scenario.XXXXXX") || fail "mktemp"
	{ mkdir -p "$run_dir/tpm/state" && cp "$PROVISIONED/disk.img" "$run_dir/disk.img"; } || fail "cannot copy the disk"
	if [[ -n $1 ]]; then
		cp -a "$1/." "$run_dir/tpm/state/" || fail "cannot copy the vTPM state"
	fi
}

# boot FIRMWARE ARGS [DISK]: starts the guest on the run dir's disk (or the
# QEMU drive file DISK) and vTPM, with ARGS added to the kernel command line.
boot() {
	log "booting ($1, timeout ${BOOT_TIMEOUT} s) with $2"
	e2e_vm_start "$run_dir" "$1" "$KERNEL" "$INITRAMFS" "${3:-$run_dir/disk.img}" "$CMDLINE $2" ||
		fail "could not start the guest"
}

# boot_itools [DISK]: the initramfs-tools guest (crypttab names the volume "root").
boot_itools() {
	log "booting the initramfs-tools guest (timeout ${BOOT_TIMEOUT} s)"
	e2e_vm_start "$run_dir" ovmf "$KERNEL" "$INITRAMFS" "${1:-$run_dir/disk.img}" "$ITOOLS_CMDLINE" ||
		fail "could not start the guest"
}

# staged UNIT: whether the build installs UNIT (so the initramfs has it).
staged() { [[ $STAGED_UNITS == *" $1 "* ]]; }

# save_console: keeps the console of the last boot of this scenario.
save_console() {
	[[ -n ${run_dir:-} && -f $run_dir/console.log ]] || return 0
	mkdir -p "$cache/e2e/artefacts/$scenario" &&
		tr -d '\r' <"$run_dir/console.log" >"$cache/e2e/artefacts/$scenario/console.log"
}

# console_fail WHY: fails with the end of the console.
console_fail() {
	save_console
	log "console: $cache/e2e/artefacts/$scenario/console.log; its end:"
	tr -d '\r' <"$run_dir/console.log" | tail -n 40 >&2
	[[ ! -s $run_dir/qemu.out ]] || { log "QEMU said:"; tail -n 20 "$run_dir/qemu.out" >&2; }
	fail "$scenario: $*"
}

# console_value KEY: the rest of the guest init's "CVMUNLOCK-E2E-KEY " line.
console_value() {
	tr -d '\r' <"$run_dir/console.log" | sed -n "s|^CVMUNLOCK-E2E-$1 ||p" | tail -n 1
}

# expect_root_opened NAME: the guest reached the root file system on the
# dm-crypt volume NAME.
expect_root_opened() {
	e2e_vm_console_has "$MARKER" || e2e_vm_expect "$BOOT_TIMEOUT" "$MARKER" ||
		console_fail "the root file system was not reached"
	e2e_vm_wait 60 || console_fail "the guest did not power off"
	local root table
	root=$(console_value ROOT)
	[[ $root == "/dev/mapper/$1 ext4" ]] || console_fail "/ is '$root', not /dev/mapper/$1"
	# What the kernel maps, whatever any header said.
	table=$(console_value DMTABLE)
	[[ $table == "crypt aes-xts-plain64" ]] || console_fail "the root's dm table is '$table', not crypt aes-xts-plain64"
	log "root: $root, dm: $(console_value DM), table: $table"
}

# expect_no_prompt_boot NAME [PROMPT]: the guest reaches the root file system
# on NAME and no passphrase prompt (systemd's, or PROMPT) ever appears.
expect_no_prompt_boot() {
	local prompt=${2:-$PROMPT}
	e2e_vm_expect "$BOOT_TIMEOUT" "$MARKER" "$prompt" || console_fail "neither the root file system nor a prompt"
	[[ $VM_MATCHED == "$MARKER" ]] || console_fail "a passphrase prompt appeared; refusal: $(refusal_line)"
	expect_root_opened "$1"
	save_console
	! e2e_vm_console_has "$prompt" || console_fail "a passphrase prompt appeared"
}

# refusal_line: the token plugin's refusal on the console (or `cvmunlock
# unlock`'s, in the initramfs-tools guest).
refusal_line() {
	tr -d '\r' <"$run_dir/console.log" | grep -a -m1 -E 'cvmunlock: (token [0-9]* refused|unlock /dev/)' || true
}

scenario_provision() {
	local dump
	dump=$(cryptsetup luksDump --dump-json-metadata "$PROVISIONED/disk.img") || fail "luksDump"
	jq -e '[.tokens[] | select(.type == "cvmunlock")] | length == 1' <<<"$dump" >/dev/null ||
		fail "the enrolled image has no cvmunlock token"
	jq -e '.keyslots | length == 3' <<<"$dump" >/dev/null ||
		fail "expected 3 keyslots (passphrase, sealed key, recovery key)"
	log "enrolled: $(jq -c 'del(.recovery_key)' "$PROVISIONED/enroll.json")"
	log "sealed to: $(jq -c '.tokens[] | select(.type == "cvmunlock") | .pcr_values' <<<"$dump")"
	log "PCR 7 of the captured log: $("$cli" eventlog replay --eventlog "$EVENTLOG" --json | jq -r '.banks.sha256["7"]')"
}

# b: the token plugin opens the root volume inside systemd-cryptsetup.
scenario_token_unlock() {
	new_run_dir "$PROVISIONED/tpm/state"
	boot ovmf "$UUID_ARGS"
	expect_no_prompt_boot "$UUID_ROOT"
	e2e_vm_console_has "cvmunlock: unsealed" || console_fail "no success line from the token plugin"
	expect_no_key_in_initramfs
	log "$(tr -d '\r' <"$run_dir/console.log" | grep -a -m1 'cvmunlock: unsealed')"
	expect_mounts
	expect_verdict
	expect_locked
}

# The initramfs-tools guest (Ubuntu's way): the local-top script opens the root
# with `cvmunlock unlock` from the validated snapshot before cryptroot runs,
# cryptroot finds it open, init-bottom extends the lock PCR; no prompt.
scenario_initramfs_tools_unlock() {
	new_run_dir "$PROVISIONED/tpm/state"
	boot_itools
	expect_no_prompt_boot root "$ITOOLS_PROMPT"
	e2e_vm_console_has "root: opened with the vTPM-sealed key (cvmunlock)" ||
		console_fail "the local-top script did not open the root"
	expect_no_key_in_initramfs
	expect_locked_always
}

# expect_locked_always: PCR 15 was extended before the real root started.
expect_locked_always() {
	local pcr15
	pcr15=$(console_value "PCR sha256 15")
	[[ -n $pcr15 && $pcr15 == *[!0]* ]] || console_fail "PCR 15 is '$pcr15' when the real root started: not locked"
	log "PCR 15 when the real root started: $pcr15 (locked)"
}

# two_faced_boot PATH SCHEDULE: the guest (PATH plugin: dracut and the token
# plugin; initramfs-tools: the local-top script) on a disk served by nbdkit
# that swaps faces (S1: genuine then cipher_null; S2: cipher_null then
# genuine). It must end with the genuine aes-xts-plain64 table, or with a
# refusal and the prompt; never with cipher_null mapped. The swap must have
# happened.
two_faced_boot() {
	local path=$1 schedule=$2 prompt=$PROMPT
	new_run_dir "$PROVISIONED/tpm/state"
	e2e_two_faced_start "$run_dir" "$schedule" || fail "could not start nbdkit"
	if [[ $path == plugin ]]; then
		boot ovmf "$UUID_ARGS" "$TWO_FACED_DRIVE"
	else
		prompt=$ITOOLS_PROMPT
		boot_itools "$TWO_FACED_DRIVE"
	fi
	e2e_vm_expect "$BOOT_TIMEOUT" "$MARKER" "$prompt" || console_fail "neither the root file system nor a prompt"
	if [[ $VM_MATCHED == "$MARKER" ]]; then
		expect_root_opened "$([[ $path == plugin ]] && echo "$UUID_ROOT" || echo root)"
		log "opened, with the genuine table"
	else
		log "refused: $(refusal_line)"
		[[ -n $(refusal_line) ]] || console_fail "a prompt without a refusal from cvmunlock"
		e2e_vm_stop
	fi
	save_console
	cp "$run_dir/two-faced.log" "$cache/e2e/artefacts/$scenario/two-faced.log" 2>/dev/null
	e2e_two_faced_swapped "$run_dir" || fail "the disk did not swap faces: $(e2e_two_faced_summary "$run_dir")"
	log "two-faced disk: $(e2e_two_faced_summary "$run_dir")"
}

scenario_two_faced_plugin_s1() { two_faced_boot plugin S1; }
scenario_two_faced_plugin_s2() { two_faced_boot plugin S2; }
scenario_two_faced_initramfs_tools_s1() { two_faced_boot initramfs-tools S1; }
scenario_two_faced_initramfs_tools_s2() { two_faced_boot initramfs-tools S2; }

# The negative control: the key hand-off of older versions (keyscript:
# `cvmunlock unlock --key-to-stdout | cryptsetup open`) on the S1 disk. It must
# end with cipher_null mapped, which shows that the disk really lies.
scenario_two_faced_keyscript_control() {
	local table
	new_run_dir "$PROVISIONED/tpm/state"
	e2e_two_faced_start "$run_dir" S1 || fail "could not start nbdkit"
	boot_itools "$TWO_FACED_DRIVE"
	e2e_vm_expect "$BOOT_TIMEOUT" "CVMUNLOCK-E2E-HANDOFF " || console_fail "the hand-off did not run"
	e2e_vm_wait 60 || true
	save_console
	cp "$run_dir/two-faced.log" "$cache/e2e/artefacts/$scenario/two-faced.log" 2>/dev/null
	table=$(console_value HANDOFF)
	log "hand-off mapped: $table; two-faced disk: $(e2e_two_faced_summary "$run_dir")"
	[[ $table == "crypt cipher_null-ecb" ]] || fail "the hand-off mapped '$table', not cipher_null: the disk did not lie"
}

# expect_no_key_in_initramfs: the root opened with no key file in the
# initramfs: neither the passphrase nor the recovery key is anywhere in it,
# and there is no crypttab key file.
expect_no_key_in_initramfs() {
	local recovery unpacked
	recovery=$(jq -r '.recovery_key' "$PROVISIONED/enroll.json")
	unpacked=$(mktemp) || fail "mktemp"
	zstd -dc "$INITRAMFS" >"$unpacked" 2>/dev/null || cat "$INITRAMFS" >"$unpacked"
	if grep -a -q -F -e "$E2E_PASSPHRASE" -e "$recovery" "$unpacked"; then
		rm -f "$unpacked"
		fail "a key is in the initramfs"
	fi
	grep -a -q -F "TRAILER!!!" "$unpacked" || { rm -f "$unpacked"; fail "could not unpack the initramfs to check it"; }
	rm -f "$unpacked"
	log "no key in the initramfs (passphrase and recovery key searched)"
}

# expect_mounts: the initrd mounted securityfs (the event log) and configfs
# (the SEV-SNP TSM report interface); switch-root moved them along.
expect_mounts() {
	local point want fstype
	for point in /sys/kernel/security:securityfs /sys/kernel/config:configfs; do
		want=${point#*:}
		point=${point%:*}
		fstype=$(console_value "MOUNT $point")
		[[ $fstype == "$want" ]] || console_fail "$point is '$fstype', not $want"
	done
	log "securityfs and configfs mounted"
}

# expect_locked: with cvmunlock-lock.service in the initrd, the lock PCR (15)
# was extended before switch-root, so the real root cannot unseal again.
expect_locked() {
	staged cvmunlock-lock.service || return 0
	local pcr15
	pcr15=$(console_value "PCR sha256 15")
	[[ -n $pcr15 && $pcr15 == *[!0]* ]] || console_fail "PCR 15 is '$pcr15' after the initrd: not locked"
	log "PCR 15 after the initrd: $pcr15 (locked)"
}

# expect_verdict: cvmunlock-agent.service ran in the initrd and its verdict
# (/run/cvmunlock/verdict.json, kept across switch-root) says the event log
# replays to the vTPM's PCRs.
expect_verdict() {
	staged cvmunlock-agent.service || return 0
	local verdict
	verdict=$(console_value VERDICT)
	[[ $verdict != "(absent)" ]] || console_fail "no /run/cvmunlock/verdict.json: cvmunlock-agent.service did not run"
	jq -e '.ok == true and .comparison.matches == true' <<<"$verdict" >/dev/null || console_fail "verdict: $verdict"
	log "verdict: $(jq -c . <<<"$verdict")"
}

# typed_unlock FIRMWARE SECRET WANT: boots, expects a refusal naming WANT,
# answers the passphrase prompt with SECRET, expects the root file system.
typed_unlock() {
	local firmware=$1 secret=$2 want=$3 refusal
	boot "$firmware" "$UUID_ARGS"
	e2e_vm_expect "$BOOT_TIMEOUT" "$PROMPT" "$MARKER" || console_fail "no passphrase prompt"
	[[ $VM_MATCHED == "$PROMPT" ]] || console_fail "the volume opened although it should have been refused"
	refusal=$(refusal_line)
	log "refusal: $refusal"
	[[ $refusal == *"$want"* ]] || console_fail "the refusal does not say '$want'"
	# Let the password agent switch the terminal to non-canonical mode first.
	sleep 2
	e2e_vm_type "$secret"
	expect_root_opened "$UUID_ROOT"
	save_console
}

# d: Secure Boot on changes PCR 7: refused, naming PCR 7; the passphrase opens.
scenario_pcr7_tampered() {
	new_run_dir "$PROVISIONED/tpm/state"
	typed_unlock ovmf-secboot "$E2E_PASSPHRASE" "PCR 7"
	local sealed now
	sealed=$(cryptsetup luksDump --dump-json-metadata "$PROVISIONED/disk.img" |
		jq -r '.tokens[] | select(.type == "cvmunlock") | .pcr_values["7"]')
	now=$(console_value "PCR sha256 7" | tr 'A-F' 'a-f')
	log "PCR 7 sealed $sealed, in the guest $now"
	[[ -n $now && $now != "$sealed" ]] || fail "PCR 7 did not change"
}

# e: another vTPM (fresh state, another SRK): refused; the recovery key opens.
scenario_vtpm_swapped() {
	new_run_dir ""
	typed_unlock ovmf "$(jq -r .recovery_key "$PROVISIONED/enroll.json")" "storage root key"
}

# f: an Azure-like CVM whose token requires SEV-SNP evidence from the vTPM's
# HCL report: inside systemd-cryptsetup the plugin reads NV 0x01400001,
# verifies the report against the test ARK in the initramfs, binds the vTPM's
# AK to it (TPM2_Certify of the SRK over a fresh nonce) and only then unseals.
scenario_snp_azure() {
	new_run_dir "$PROVISIONED/tpm/state"
	boot ovmf "$UUID_ARGS"
	expect_no_prompt_boot "$UUID_ROOT"
	e2e_vm_console_has "vTPM bound to the report" || console_fail "the plugin did not report the SEV-SNP verdict"
	log "$(tr -d '\r' <"$run_dir/console.log" | grep -a -m1 'cvmunlock: unsealed')"
}

# g: the same disk and vTPM, but the host withholds the HCL report (NV
# 0x01400001 undefined): refused before unsealing, naming the index; the
# recovery key typed at the prompt opens the root.
scenario_snp_no_report() {
	new_run_dir "$PROVISIONED/tpm/state"
	e2e_undefine_hcl_nv "$run_dir/tpm/state" || fail "could not remove NV 0x01400001 from the vTPM state"
	typed_unlock ovmf "$(jq -r .recovery_key "$PROVISIONED/enroll.json")" "0x01400001"
}

main() {
	(($# == 4)) || {
		log "usage: $0 SCENARIO CVMUNLOCK BUILD_DIR CACHE_DIR (scenarios: tests/e2e/README.md)"
		exit 2
	}
	scenario=$1 cli=$2 build_dir=$3 cache=$4
	case $scenario in
	provision | token-unlock | pcr7-tampered | vtpm-swapped | snp-azure | snp-no-report | initramfs-tools-unlock | \
		two-faced-plugin-s1 | two-faced-plugin-s2 | two-faced-initramfs-tools-s1 | two-faced-initramfs-tools-s2 | \
		two-faced-keyscript-control) ;;
	*) log "unknown scenario $scenario" && exit 2 ;;
	esac
	[[ -x $cli ]] || fail "$cli is not an executable"
	provision_tool="$build_dir/tests/tpm/cvmunlock-test-provision-hcl"
	[[ $scenario != snp-* || -x $provision_tool ]] || fail "$provision_tool is not built"
	cli=$(cd "${cli%/*}" && pwd)/${cli##*/}
	check_prerequisites
	mkdir -p "$cache" || fail "cannot create $cache"
	cache=$(cd "$cache" && pwd)
	run_dir=""
	trap 'e2e_vm_stop; e2e_two_faced_stop; stop_host_swtpm; [[ -z $run_dir ]] || rm -rf "$run_dir"' EXIT
	prepare_guest
	"scenario_${scenario//-/_}"
	echo "PASS: e2e $scenario"
}

main "$@"
