# shellcheck shell=bash
# The guest's disk served by nbdkit with two_faced/two_faced.py: the genuine
# header until the keyslot area of the cvmunlock token's keyslot has been read,
# then a cipher_null one (schedule S1), or the other way round (S2). QEMU
# reaches it over a Unix socket in the run dir; the plugin logs every read.

TWO_FACED_PID=""
# The QEMU drive file name of the disk e2e_two_faced_start serves.
TWO_FACED_DRIVE=""

# e2e_two_faced_start RUN_DIR SCHEDULE: serves RUN_DIR/disk.img on
# RUN_DIR/nbd.sock (sets TWO_FACED_DRIVE). Not in a subshell: nbdkit ends with
# its parent.
e2e_two_faced_start() {
	local run=$1 schedule=$2 waited=0
	nbdkit --foreground --exit-with-parent --unix "$run/nbd.sock" \
		python "$E2E_TWO_FACED_PLUGIN" disk="$run/disk.img" schedule="$schedule" log="$run/two-faced.log" \
		>"$run/nbdkit.log" 2>&1 &
	TWO_FACED_PID=$!
	while [[ ! -S $run/nbd.sock ]]; do
		if ! kill -0 "$TWO_FACED_PID" 2>/dev/null || ((waited >= 100)); then
			log "nbdkit did not come up:"
			cat "$run/nbdkit.log" >&2
			return 1
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
	TWO_FACED_DRIVE="nbd+unix:///?socket=$run/nbd.sock"
}

e2e_two_faced_stop() {
	if [[ -n $TWO_FACED_PID ]]; then
		kill "$TWO_FACED_PID" 2>/dev/null
		wait "$TWO_FACED_PID" 2>/dev/null
		TWO_FACED_PID=""
	fi
}

# e2e_two_faced_swapped RUN_DIR: the face switched during the boot: the disk
# answered the reads after its trigger with the other header. (Whether anybody
# read the header again afterwards is the boot path's business; the keyscript
# control shows a reader that does gets the other face.)
e2e_two_faced_swapped() { grep -q '^switch ' "$1/two-faced.log"; }

# e2e_two_faced_summary RUN_DIR: one line: the switch and how many header reads got each face.
e2e_two_faced_summary() {
	local run=$1
	printf '%s; header reads: %s genuine, %s cipher_null\n' \
		"$(grep -m1 '^switch ' "$run/two-faced.log" || echo 'no switch')" \
		"$(grep -c ' genuine header$' "$run/two-faced.log")" "$(grep -c ' null header$' "$run/two-faced.log")"
}
