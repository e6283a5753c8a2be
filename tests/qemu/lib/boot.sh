# shellcheck shell=bash
# Boots one firmware chain under QEMU (TCG) with swtpm as its TPM 2.0 and
# captures the serial console. Everything lives in the caller's RUN_DIR.

readonly OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
readonly OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
readonly OVMF_CODE_SECBOOT=/usr/share/OVMF/OVMF_CODE_4M.ms.fd
readonly OVMF_VARS_SECBOOT=/usr/share/OVMF/OVMF_VARS_4M.ms.fd
readonly GUEST_CMDLINE="console=ttyS0 panic=-1 loglevel=5"
# Seconds before a hung guest is killed; TCG boots take 10-60 s here.
QEMU_TIMEOUT=${CVMUNLOCK_QEMU_TIMEOUT:-180}

SWTPM_PID=""

# Starts swtpm on a fresh state dir; it ends by itself when QEMU closes the
# control channel (--terminate), and stop_swtpm covers the other paths.
start_swtpm() {
	local dir=$1 waited=0
	mkdir -p "$dir/state"
	swtpm socket --tpm2 --tpmstate "dir=$dir/state" \
		--ctrl "type=unixio,path=$dir/sock" --terminate \
		--log "file=$dir/swtpm.log${SWTPM_LOG_LEVEL:+,level=$SWTPM_LOG_LEVEL}" &
	SWTPM_PID=$!
	while [[ ! -S $dir/sock ]]; do
		if ! kill -0 "$SWTPM_PID" 2>/dev/null || ((waited >= 100)); then
			log "swtpm did not come up; its log:"
			cat "$dir/swtpm.log" >&2 2>/dev/null
			return 1
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
}

stop_swtpm() {
	if [[ -n $SWTPM_PID ]]; then
		kill "$SWTPM_PID" 2>/dev/null
		wait "$SWTPM_PID" 2>/dev/null
		SWTPM_PID=""
	fi
}

# qemu_firmware_args CHAIN RUN_DIR: firmware and machine options, on stdout,
# one per line.
qemu_firmware_args() {
	local chain=$1 run_dir=$2
	case $chain in
	seabios)
		printf '%s\n' -machine pc
		;;
	ovmf)
		cp "$OVMF_VARS" "$run_dir/vars.fd" || return 1
		printf '%s\n' -machine q35 \
			-drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE" \
			-drive "if=pflash,format=raw,unit=1,file=$run_dir/vars.fd"
		;;
	shim-grub | shim-grub-sb-off)
		# sb-off: the same Secure Boot capable firmware with the empty variable
		# store (no PK: setup mode, Secure Boot off), as a host could start it.
		# OVMF_VARS_TEMPLATE: another enrolled store for shim-grub (tests/image's).
		if [[ $chain == shim-grub ]]; then
			cp "${OVMF_VARS_TEMPLATE:-$OVMF_VARS_SECBOOT}" "$run_dir/vars.fd" || return 1
		else
			cp "$OVMF_VARS" "$run_dir/vars.fd" || return 1
		fi
		printf '%s\n' -machine q35,smm=on \
			-global driver=cfi.pflash01,property=secure,value=on \
			-drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE_SECBOOT" \
			-drive "if=pflash,format=raw,unit=1,file=$run_dir/vars.fd"
		;;
	*) return 1 ;;
	esac
}

# boot_guest CHAIN RUN_DIR KERNEL INITRAMFS ESP_IMAGE: boots and writes the
# console to RUN_DIR/console.log. The ESP image is used (as a private copy)
# by shim-grub only; the other chains boot the kernel directly (-kernel).
boot_guest() {
	local chain=$1 run_dir=$2 kernel=$3 initramfs=$4 esp=$5
	local -a args
	mapfile -t args < <(qemu_firmware_args "$chain" "$run_dir")
	((${#args[@]} > 0)) || return 1
	args+=(-accel tcg -cpu max -m 512 -smp 1 -nodefaults -display none
		-no-reboot -serial "file:$run_dir/console.log" -monitor none
		-chardev "socket,id=chrtpm,path=$run_dir/tpm/sock"
		-tpmdev "emulator,id=tpm0,chardev=chrtpm" -device "tpm-tis,tpmdev=tpm0")
	if [[ $chain == shim-grub ]]; then
		cp "$esp" "$run_dir/disk.img" || return 1
		args+=(-drive "if=none,id=esp,format=raw,file=$run_dir/disk.img"
			-device "virtio-blk-pci,drive=esp,bootindex=0")
	else
		args+=(-kernel "$kernel" -initrd "$initramfs" -append "$GUEST_CMDLINE")
	fi
	start_swtpm "$run_dir/tpm" || return 1
	local rc=0
	timeout --kill-after=10 "$QEMU_TIMEOUT" qemu-system-x86_64 "${args[@]}" \
		</dev/null >"$run_dir/qemu.out" 2>&1 || rc=$?
	stop_swtpm
	if ((rc == 124 || rc == 137)); then
		log "QEMU did not power off within ${QEMU_TIMEOUT} s; killed"
	elif ((rc != 0)); then
		log "QEMU exited with $rc:"
		cat "$run_dir/qemu.out" >&2
	fi
	return "$rc"
}
