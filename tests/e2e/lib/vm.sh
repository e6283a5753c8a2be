# shellcheck shell=bash
# One e2e guest boot under QEMU (TCG) with swtpm as its TPM and a serial
# console the test can read and type into: QEMU's pipe chardev uses the FIFOs
# RUN_DIR/serial.in and serial.out; a cat copies serial.out to console.log.
# Needs tests/qemu/lib/boot.sh (qemu_firmware_args, start_swtpm, stop_swtpm).
# VM_MATCHED is read by the scenarios that source this file:
# shellcheck disable=SC2034

VM_PID=""
VM_CONSOLE_PID=""
VM_INPUT=""
VM_RUN=""
VM_START=""
# The alternative that e2e_vm_expect saw first.
VM_MATCHED=""

# e2e_vm_start RUN_DIR FIRMWARE KERNEL INITRD DISK CMDLINE: starts the guest
# in the background. RUN_DIR/tpm/state is the vTPM state (kept if present).
# KERNEL "-": the firmware boots the disk itself (its ESP), no -kernel.
#   FIRMWARE  ovmf          OVMF, Secure Boot off (as tests/qemu's ovmf chain)
#             ovmf-secboot  OVMF with Microsoft keys and Secure Boot on, SMM
#                           (tests/qemu's shim-grub firmware): another PCR 7
#             ovmf-secboot-off  the same firmware, empty variables: Secure
#                           Boot off (shim still boots)
# A reboot of the guest ends QEMU (-no-reboot): the test starts it again.
# VM_EXTRA_DRIVES (array): more raw disk files, virtio disks after DISK.
# VM_MEMORY: guest memory in MiB (default 1024).
e2e_vm_start() {
	local run=$1 firmware=$2 kernel=$3 initrd=$4 disk=$5 cmdline=$6 chain extra n=0
	case $firmware in
	ovmf) chain=ovmf ;;
	ovmf-secboot) chain=shim-grub ;;
	ovmf-secboot-off) chain=shim-grub-sb-off ;;
	*) return 2 ;;
	esac
	local -a args
	mapfile -t args < <(qemu_firmware_args "$chain" "$run")
	((${#args[@]} > 0)) || return 1
	args+=(-accel tcg -cpu max -m "${VM_MEMORY:-1024}" -smp 1 -nodefaults -display none -monitor none -no-reboot
		-chardev "pipe,id=console,path=$run/serial" -serial chardev:console
		-chardev "socket,id=chrtpm,path=$run/tpm/sock"
		-tpmdev "emulator,id=tpm0,chardev=chrtpm" -device "tpm-tis,tpmdev=tpm0"
		-drive "if=none,id=root,format=raw,file=$disk")
	if [[ $kernel == - ]]; then
		args+=(-device "virtio-blk-pci,drive=root,bootindex=0")
	else
		args+=(-device "virtio-blk-pci,drive=root" -kernel "$kernel" -initrd "$initrd" -append "$cmdline")
	fi
	for extra in ${VM_EXTRA_DRIVES[@]+"${VM_EXTRA_DRIVES[@]}"}; do
		n=$((n + 1))
		args+=(-drive "if=none,id=extra$n,format=raw,file=$extra" -device "virtio-blk-pci,drive=extra$n")
	done
	mkfifo "$run/serial.in" "$run/serial.out" || return 1
	start_swtpm "$run/tpm" || return 1
	VM_RUN=$run
	VM_START=$EPOCHREALTIME
	qemu-system-x86_64 "${args[@]}" </dev/null >"$run/qemu.out" 2>&1 &
	VM_PID=$!
	cat "$run/serial.out" >"$run/console.log" &
	VM_CONSOLE_PID=$!
	# Read-write: opening a FIFO so never blocks, whoever comes first.
	exec {VM_INPUT}<>"$run/serial.in"
}

# e2e_vm_elapsed: seconds since the VM started, one decimal.
e2e_vm_elapsed() {
	awk -v a="$VM_START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

# e2e_vm_console_has TEXT: whether TEXT is on the console so far.
e2e_vm_console_has() { grep -aqF -- "$1" "$VM_RUN/console.log"; }

# e2e_vm_expect SECONDS TEXT...: waits until one of the TEXTs is on the
# console and sets VM_MATCHED to it; 1 when the VM ends or time runs out first.
e2e_vm_expect() {
	local deadline=$((EPOCHSECONDS + $1)) text running
	shift
	VM_MATCHED=""
	while :; do
		running=0
		kill -0 "$VM_PID" 2>/dev/null && running=1
		for text in "$@"; do
			if e2e_vm_console_has "$text"; then
				VM_MATCHED=$text
				log "console at $(e2e_vm_elapsed) s: $text"
				return 0
			fi
		done
		if ((!running)); then
			log "the VM ended after $(e2e_vm_elapsed) s without: $*"
			return 1
		fi
		if ((EPOCHSECONDS >= deadline)); then
			log "not on the console after $(e2e_vm_elapsed) s: $*"
			return 1
		fi
		sleep 0.5
	done
}

# e2e_vm_type TEXT: types TEXT and Enter on the serial console.
e2e_vm_type() { printf '%s\n' "$1" >&"$VM_INPUT"; }

# e2e_vm_wait SECONDS: waits for the guest to power off; 0 when QEMU exited
# by itself with status 0, 1 otherwise (the VM is killed after SECONDS).
e2e_vm_wait() {
	local deadline=$((EPOCHSECONDS + $1)) rc=0
	while kill -0 "$VM_PID" 2>/dev/null; do
		if ((EPOCHSECONDS >= deadline)); then
			log "the VM did not power off within $1 s; killed"
			e2e_vm_stop
			return 1
		fi
		sleep 0.5
	done
	wait "$VM_PID" || rc=$?
	VM_PID=""
	log "the VM powered off after $(e2e_vm_elapsed) s (QEMU exit status $rc)"
	e2e_vm_stop
	((rc == 0)) || { cat "$VM_RUN/qemu.out" >&2; return 1; }
}

# e2e_vm_stop: kills what is left of the boot (safe to call twice).
e2e_vm_stop() {
	if [[ -n $VM_PID ]]; then
		kill "$VM_PID" 2>/dev/null
		wait "$VM_PID" 2>/dev/null
		VM_PID=""
	fi
	if [[ -n $VM_INPUT ]]; then
		exec {VM_INPUT}>&-
		VM_INPUT=""
	fi
	if [[ -n $VM_CONSOLE_PID ]]; then
		# cat ends at QEMU's exit; it still waits when QEMU never started.
		local waited=0
		while kill -0 "$VM_CONSOLE_PID" 2>/dev/null && ((waited < 20)); do
			sleep 0.1
			waited=$((waited + 1))
		done
		kill "$VM_CONSOLE_PID" 2>/dev/null
		wait "$VM_CONSOLE_PID" 2>/dev/null
		VM_CONSOLE_PID=""
	fi
	stop_swtpm
}
