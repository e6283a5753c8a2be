# shellcheck shell=bash
# Scenario a, provisioning as an image builder does it, on the host: the
# image's cvmunlock token is sealed, with `cvmunlock enroll --from-eventlog`,
# to the PCR 7 that the guest's firmware will produce, under the storage root
# key of the swtpm state the guest then boots with.
#   e2e/eventlog-ovmf-<key>.bin    the log OVMF leaves (tests/qemu ovmf chain)
#   e2e/provisioned-<key>/         disk.img (enrolled), tpm/state/, enroll.json
# Needs guest_cache.sh (log), boot.sh (OVMF paths) and guest_build.sh.

# e2e_firmware_eventlog CACHE CVMUNLOCK QEMU_TEST: prints the path of the
# firmware event log of a plain OVMF boot. It is captured by the QEMU boot
# test of tests/qemu (which also checks that it replays to the PCRs the guest
# read) and kept per firmware build. PCR 7 depends on the firmware and its
# variables only, not on the kernel or initramfs booted.
e2e_firmware_eventlog() {
	local cache=$1 cli=$2 qemu_test=$3 key out rc=0
	key=$(files_digest "$OVMF_CODE" "$OVMF_VARS")
	out="$cache/e2e/eventlog-ovmf-$key.bin"
	if [[ -f $out ]]; then
		printf '%s\n' "$out"
		return 0
	fi
	log "capturing the OVMF event log: $qemu_test $cli ovmf $cache"
	bash "$qemu_test" "$cli" ovmf "$cache" >"$cache/e2e/eventlog-capture.log" 2>&1 || rc=$?
	((rc == 0)) || tail -n 30 "$cache/e2e/eventlog-capture.log" >&2
	((rc == 0)) || return "$rc"
	cp "$cache/artefacts/ovmf/binary_bios_measurements" "$out.tmp" && mv "$out.tmp" "$out" || return 1
	prune_stale "$cache/e2e" 'eventlog-ovmf-*.bin' "$out"
	printf '%s\n' "$out"
}

HOST_SWTPM_PID=""
HOST_SWTPM_PORT=""

# start_host_swtpm STATE_DIR LOG: swtpm on a free loopback TCP port pair over
# STATE_DIR, for the host-side tools; sets HOST_SWTPM_PID and HOST_SWTPM_PORT.
start_host_swtpm() {
	local state=$1 swtpm_log=$2 try port waited
	for try in 1 2 3 4 5 6 7 8; do
		port=$((20000 + (RANDOM % 20000) * 2))
		swtpm socket --tpm2 --tpmstate "dir=$state" \
			--server "type=tcp,port=$port,bindaddr=127.0.0.1" \
			--ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
			--flags not-need-init,startup-clear --log "file=$swtpm_log" &
		HOST_SWTPM_PID=$!
		waited=0
		while kill -0 "$HOST_SWTPM_PID" 2>/dev/null && ((waited < 50)); do
			if (: <>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				HOST_SWTPM_PORT=$port
				return 0
			fi
			sleep 0.1
			waited=$((waited + 1))
		done
		stop_host_swtpm
		log "swtpm did not listen on port $port (try $try)"
	done
	return 1
}

stop_host_swtpm() {
	if [[ -n $HOST_SWTPM_PID ]]; then
		kill "$HOST_SWTPM_PID" 2>/dev/null
		wait "$HOST_SWTPM_PID" 2>/dev/null
		HOST_SWTPM_PID=""
	fi
}

# e2e_enroll CLI IMAGE STATE_DIR EVENTLOG OUT_JSON: seals the image's token to
# the PCR 7 that EVENTLOG predicts, with a recovery key, under STATE_DIR's SRK.
e2e_enroll() {
	local cli=$1 image=$2 state=$3 eventlog=$4 out=$5 dir rc=0
	dir=${out%/*}
	printf '%s' "$E2E_PASSPHRASE" >"$dir/passphrase" || return 1
	start_host_swtpm "$state" "$dir/swtpm-host.log" || return 1
	"$cli" enroll "$image" --tpm "swtpm:host=127.0.0.1,port=$HOST_SWTPM_PORT" \
		--pcrs 7 --from-eventlog "$eventlog" --unlock-key-file "$dir/passphrase" \
		--recovery-key \
		--json >"$out" || rc=$?
	stop_host_swtpm
	rm -f "$dir/passphrase"
	((rc == 0)) || {
		log "cvmunlock enroll exited $rc"
		return 1
	}
	jq -e '.token >= 0 and (.recovery_key | length) > 0' "$out" >/dev/null || {
		log "unexpected enroll output:"
		cat "$out" >&2
		return 1
	}
}

# e2e_cache_provisioned CACHE CLI ROOT_IMAGE EVENTLOG [TOOL]: prints the dir of
# the provisioned guest (a fresh vTPM state and the image enrolled against it),
# keyed on the image, the event log and the cvmunlock binary. With TOOL (the
# HCL provisioning tool), the Azure-like variant (e2e_enroll_snp) instead.
e2e_cache_provisioned() {
	local cache=$1 cli=$2 image=$3 eventlog=$4 tool=${5:-} key out work old name=provisioned
	[[ -z $tool ]] || name=provisioned-snp
	key=$(files_digest "$image" "$eventlog" "$cli" ${tool:+"$tool"} "$E2E_RECIPE" "${BASH_SOURCE[0]}")
	out="$cache/e2e/$name-$key"
	if [[ -f $out/enroll.json ]]; then
		printf '%s\n' "$out"
		return 0
	fi
	work=$(mktemp -d "$cache/e2e/.$name.XXXXXX") || return 1
	if ! { mkdir -p "$work/tpm/state" && cp "$image" "$work/disk.img" &&
		if [[ -n $tool ]]; then
			e2e_enroll_snp "$cli" "$tool" "$work" "$eventlog"
		else
			e2e_enroll "$cli" "$work/disk.img" "$work/tpm/state" "$eventlog" "$work/enroll.json"
		fi; }; then
		rm -rf "$work"
		return 1
	fi
	rm -rf "$out" && mv "$work" "$out" || return 1
	# The other variant's dirs have another prefix: provisioned-<16 hex> vs provisioned-snp-<16 hex>.
	for old in "$cache/e2e/$name"-????????????????; do
		[[ $old == "$out" ]] || rm -rf "$old"
	done
	printf '%s\n' "$out"
}

# Scenarios f/g, an Azure-like confidential VM: the swtpm is first made to look
# like the vTPM of an Azure CVM (cvmunlock-test-provision-hcl: an AK persisted
# at 0x81000003 and a synthesized HCL report, signed by a test AMD-style chain,
# in NV 0x01400001), then the image is enrolled with `--snp require
# --snp-evidence azure-hcl`, trusting the test chain's ARK (anchors/).
#   e2e/provisioned-snp-<key>/   disk.img, tpm/state/, enroll.json, hcl/, anchors/ask_ark.pem

# e2e_enroll_snp CLI TOOL WORK EVENTLOG: provisions WORK/tpm/state and enrolls WORK/disk.img.
e2e_enroll_snp() {
	local cli=$1 tool=$2 work=$3 eventlog=$4 tcti rc=0
	printf '%s' "$E2E_PASSPHRASE" >"$work/passphrase" || return 1
	mkdir -p "$work/anchors" || return 1
	start_host_swtpm "$work/tpm/state" "$work/swtpm-host.log" || return 1
	tcti="swtpm:host=127.0.0.1,port=$HOST_SWTPM_PORT"
	{ "$tool" --tpm "$tcti" --out "$work/hcl" >"$work/provision-hcl.log" 2>&1 &&
		cp "$work/hcl/ask_ark.pem" "$work/anchors/ask_ark.pem" &&
		"$cli" enroll "$work/disk.img" --tpm "$tcti" \
			--pcrs 7 --from-eventlog "$eventlog" --unlock-key-file "$work/passphrase" \
			--snp require --snp-evidence azure-hcl --snp-anchors "$work/anchors" --vcek "$work/hcl/vcek.der" \
			--recovery-key \
			--json >"$work/enroll.json"; } || rc=$?
	stop_host_swtpm
	rm -f "$work/passphrase"
	((rc == 0)) || {
		log "provisioning the Azure-like vTPM or enrolling with --snp require failed ($rc):"
		cat "$work/provision-hcl.log" >&2
		return 1
	}
	jq -e '.token >= 0 and .snp.azure_bound == true' "$work/enroll.json" >/dev/null || {
		log "unexpected enroll output:"
		cat "$work/enroll.json" >&2
		return 1
	}
}

# e2e_undefine_hcl_nv STATE_DIR: removes NV 0x01400001 from the vTPM state
# with the stock tpm2-tools, as a host that withholds the report would.
e2e_undefine_hcl_nv() {
	local state=$1 rc=0
	start_host_swtpm "$state" "$state/../swtpm-undefine.log" || return 1
	tpm2_nvundefine -T "swtpm:host=127.0.0.1,port=$HOST_SWTPM_PORT" -C o 0x01400001 || rc=$?
	stop_host_swtpm
	return "$rc"
}
