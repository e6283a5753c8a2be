#!/usr/bin/env bash
# Real-image scenarios (ctest label `image`, issue 11), for VARIANT dracut or
# initramfs-tools, on one disk and one vTPM through its lifetime (in order; the
# ctest fixtures keep the order):
#   provision  the Debian image built by build_image.sh (our package installed
#              by apt inside it) boots through OVMF with Secure Boot on and
#              Microsoft's keys (and the snakeoil KEK: build_varstore), shim, grub and Debian's signed kernel from its
#              own ESP; the first boot opens the root with the build-time key
#              (a first-boot initrd that grub loads); the first-boot unit seals to this vTPM (PCRs 4+7),
#              escrows a recovery key to the operator's certificate and wipes
#              the build-time key, and the guest reboots; the second boot
#              unlocks with no prompt and reaches the full userspace, where
#              `cvmunlock eventlog verify --tpm` matches and the log has the
#              Secure Boot chain's events.
#   build-key-wiped  on the disk that boot left: the build-time key opens
#              nothing, the escrowed recovery key opens the root, the tokens
#              are a cvmunlock token sealed to PCRs 4+7 and systemd's recovery
#              token, and the recovery key never reached the console.
#   unpredicted-sb-off  the same disk and vTPM, the same firmware with Secure
#              Boot off (a change nobody predicted): refused naming PCR 7 and
#              the event, the recovery key typed at the prompt opens the root,
#              `cvmunlock explain` in that boot names the SecureBoot event, and
#              the after-boot policy update refuses to admit this boot.
#   kernel-update  (the token was enrolled with --nv-policy) the same disk and
#              vTPM, Secure Boot on: the vTPM opens the root; inside the guest
#              the newer Debian kernel staged in the image is installed with
#              apt, whose kernel hook admits the predicted next boot; the guest
#              reboots into it with no prompt, its PCR 4 (read from the vTPM)
#              is the predicted value and not the one the old policy admitted,
#              and the after-boot update leaves only that boot admitted.
#   grub       the same disk and vTPM: grub's configuration is changed inside the
#              guest to start the previous kernel (/boot/vmlinuz.old),
#              `cvmunlock update-policy --kernel /boot/vmlinuz.old` admits that
#              boot, and it comes up with no prompt and the predicted PCR 4.
#   dbx-update the same disk and vTPM: a dbx append signed with the snakeoil
#              KEK (the variable store every Secure Boot boot uses was
#              enrolled in setup mode with it, beside Microsoft's keys:
#              enroll_varstore.sh) is written in the guest through efivarfs,
#              `cvmunlock update-policy --efi-variable dbx` admits the boot
#              with the new dbx, and it comes up with no prompt and the
#              predicted PCR 7.
# usage: image_test.sh SCENARIO VARIANT SOURCE_DIR BUILD_DIR
set -uo pipefail
scenario=$1 variant=$2 src=$3 build=$4
work=$build/image/$variant
life=$work/lifetime
log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
# A failure during a boot shows the end of that boot's console.
fail() {
	log "FAIL: $*"
	if [ -n "${VM_RUN:-}" ] && [ -s "$VM_RUN/console.log" ]; then
		log "the last lines of $VM_RUN/console.log:"
		tail -n 40 "$VM_RUN/console.log" | tr -d '\r' | cut -c1-200
	fi
	exit 1
}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (mmdebstrap --mode=root, chroot)"; exit 77; }
for tool in mmdebstrap mkfs.vfat mcopy sfdisk debugfs jq openssl qemu-system-x86_64 swtpm dpkg-buildpackage; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (scripts/packages/image.txt)"; exit 77; }
done
# shellcheck source=../qemu/lib/boot.sh
. "$src/tests/qemu/lib/boot.sh"
# shellcheck source=../e2e/lib/vm.sh
. "$src/tests/e2e/lib/vm.sh"
mkdir -p "$work"

prompt="Please unlock disk"
[ "$variant" = dracut ] && prompt="Please enter passphrase"

# The image, built once per build tree for its inputs (the package and these
# scripts); the package is the one scripts/test.sh built (CVMUNLOCK_IMAGE_DEB)
# or one built here, once for both variants (a lock); the two variants' images
# are built side by side (mmdebstrap waits on the archive much of the time).
build_image() {
	local deb=${CVMUNLOCK_IMAGE_DEB:-} inputs
	exec {lock}>"$build/image/.lock"
	flock "$lock"
	if [ -z "$deb" ]; then
		if [ ! -e "$build/image/deb/done" ]; then
			log "building the package (scripts/package.sh)"
			DEB_BUILD_OPTIONS=nocheck "$src/scripts/package.sh" "$build/image/deb" >"$build/image/package.log" 2>&1 ||
				{ tail -n 30 "$build/image/package.log"; fail "the package did not build"; }
			touch "$build/image/deb/done"
		fi
		deb=$(ls "$build"/image/deb/cvmunlock_*_amd64.deb)
	fi
	flock -u "$lock"
	inputs=$(cd "$src/tests/image" && cat "$deb" build_image.sh configure_root.sh assemble_disk.sh build-key-or-ask \
		cvmimage-provision cvmimage-provision.service cvmimage-marker | sha256sum | cut -c1-16)
	if [ ! -s "$work/disk.img" ] || [ "$(cat "$work/inputs" 2>/dev/null)" != "$inputs" ]; then
		log "building the $variant image"
		rm -f "$work/disk.img" "$work/inputs"
		bash "$src/tests/image/build_image.sh" "$variant" "$deb" "$work" \
			"${CVMUNLOCK_IMAGE_CACHE:-$build/image/cache}" || fail "the image did not build"
		echo "$inputs" >"$work/inputs"
	fi
}

# The firmware's variable store for every Secure Boot boot of the lifetime,
# enrolled in setup mode by enroll_varstore.sh (Microsoft's db, dbx and KEK,
# the snakeoil KEK whose key signs the dbx scenario's update), built with the
# image's own kernel once per image and firmware.
vars=$work/vars-enrolled.fd
export OVMF_VARS_TEMPLATE=$vars
build_varstore() {
	local inputs boot=$work/boot.part
	inputs=$(cat /usr/share/OVMF/OVMF_VARS_4M.fd /usr/share/OVMF/OVMF_VARS_4M.ms.fd /usr/share/OVMF/OVMF_CODE_4M.ms.fd \
		/usr/share/ovmf/PkKek-1-snakeoil.pem "$src/tests/image/enroll_varstore.sh" "$src/tests/image/varstore.py" \
		"$work/inputs" | sha256sum | cut -c1-16)
	[ -s "$vars" ] && [ "$(cat "$work/vars-inputs" 2>/dev/null)" = "$inputs" ] && return 0
	log "enrolling the firmware's keys in setup mode"
	rm -f "$vars" "$work/vars-inputs"
	# shellcheck disable=SC1091
	. "$work/image.env"
	dd if="$work/disk.img" of="$boot" bs=1M iflag=skip_bytes,count_bytes skip="$BOOT_OFFSET" count="$BOOT_SIZE" \
		status=none
	debugfs -R "dump /vmlinuz-$KVER $work/enroll-vmlinuz" "$boot" >/dev/null 2>&1
	rm -f "$boot"
	bash "$src/tests/image/enroll_varstore.sh" "$work/enroll" "$work/enroll-vmlinuz" \
		"$work/root/lib/modules/$KVER/kernel/fs/efivarfs/efivarfs.ko" "$vars" || fail "the key enrollment failed"
	echo "$inputs" >"$work/vars-inputs"
}

# partition OFFSET SIZE OUT: copies a partition of the lifetime's disk to OUT.
partition() {
	dd if="$life/disk.img" of="$3" bs=1M iflag=skip_bytes,count_bytes skip="$1" count="$2" \
		conv=sparse status=none
}

# recovery_key: the recovery key that the first-boot unit escrowed to /boot,
# decrypted with the operator's private key.
recovery_key() {
	local boot=$life/boot.part
	# shellcheck disable=SC1091
	. "$work/image.env"
	partition "$BOOT_OFFSET" "$BOOT_SIZE" "$boot"
	debugfs -R "cat /cvmimage-recovery-key.p7m" "$boot" 2>/dev/null |
		openssl cms -decrypt -inform PEM -inkey "$work/escrow.key" -recip "$work/escrow.pem" |
		grep -oE '([cbdefghijklnrtuv]{8}-){7}[cbdefghijklnrtuv]{8}' | head -n 1
	rm -f "$boot"
}

# update_scenario CUE TAG SECONDS PCR [FILE]: leaves CUE in
# /boot/cvmimage-scenario (and FILE as /boot/cvmimage-FILENAME), boots
# (Secure Boot on, the lifetime's vTPM): the vTPM opens the root with no
# prompt, the guest makes the change (TAG-UPDATE/TAG-CHANGE lines), prints
# what update-policy admitted (TAG-PREDICTED) and powers off; the test starts
# it again (same disk, the variable store as the guest left it, the vTPM's
# state with its PCRs reset: a restart by the host). A warm reset instead hung
# twice in OVMF's LoadImage of shim under TCG after the guest had run the
# updated kernel; a cold start is what a host's restart of the VM does. The
# next boot comes up with no prompt (TAG-NEXT-BOOT-UP), runs the kernel it was
# meant to, has the predicted value of PCR, which differs from the boot before
# (the old policy alone would have refused it), and the after-boot update left
# only it admitted. Sets run (the boot that made the change), before, now, next.
update_scenario() {
	local cue=$1 tag=$2 seconds=$3 pcr=$4 file=${5:-} predicted after
	[ -s "$life/disk.img" ] || fail "no disk from the provisioning scenario"
	[ -s "$vars" ] || fail "no enrolled variable store from the provisioning scenario"
	# shellcheck disable=SC1091
	. "$work/image.env"
	# The cue for the guest: a file on /boot (which the host may write).
	partition "$BOOT_OFFSET" "$BOOT_SIZE" "$life/boot.part"
	printf '%s\n' "$cue" >"$life/scenario"
	debugfs -w -R "write $life/scenario cvmimage-scenario" "$life/boot.part" >/dev/null 2>&1 ||
		fail "could not leave the scenario file on /boot"
	if [ -n "$file" ]; then
		debugfs -w -R "write $file cvmimage-$(basename "$file")" "$life/boot.part" >/dev/null 2>&1 ||
			fail "could not leave $file on /boot"
	fi
	dd if="$life/boot.part" of="$life/disk.img" bs=1M oflag=seek_bytes seek="$BOOT_OFFSET" conv=notrunc status=none
	rm -f "$life/boot.part"
	run=$life/$cue
	rm -rf "$run"
	mkdir -p "$run"
	ln -s ../tpm "$run/tpm"
	e2e_vm_start "$run" ovmf-secboot - - "$life/disk.img" "" || fail "QEMU did not start"
	trap e2e_vm_stop EXIT
	e2e_vm_expect 900 "USERSPACE-UP" "$prompt" "Kernel panic" || fail "the boot before the change did not come up"
	[ "$VM_MATCHED" = "USERSPACE-UP" ] || fail "the boot before the change: $VM_MATCHED"
	e2e_vm_expect "$seconds" "$tag-UPDATE RESTARTING" "$tag-CHANGE RESTARTING" "Kernel panic" ||
		fail "the guest did not make the change"
	[ "$VM_MATCHED" != "Kernel panic" ] || fail "the guest panicked"
	tr -d '\r' <"$run/console.log" | grep -aE "$tag-|APT|PCR4" | cut -c1-240
	before=$(tr -d '\r' <"$run/console.log" | grep -a -m1 -oE "PCR$pcr [0-9a-f]{64}" | cut -d' ' -f2)
	predicted=$(tr -d '\r' <"$run/console.log" | grep -a -m1 "$tag-PREDICTED" | grep -oE "\"$pcr\":\"[0-9a-f]{64}\"" | cut -d'"' -f4)
	grep -aq "$tag-PREDICTED exit=0" "$run/console.log" || fail "update-policy failed in the guest"
	[ -n "$before" ] && [ -n "$predicted" ] || fail "no PCR $pcr before the change or no prediction"
	next=$(tr -d '\r' <"$run/console.log" | grep -a -m1 -oE 'RESTARTING into [^ ]+' | cut -d' ' -f3)
	e2e_vm_wait 300 || fail "the guest did not power off after the change"
	mkdir -p "$run/next"
	ln -s ../tpm "$run/next/tpm"
	OVMF_VARS_TEMPLATE=$run/vars.fd e2e_vm_start "$run/next" ovmf-secboot - - "$life/disk.img" "" ||
		fail "QEMU did not start again"
	# A boot takes about 70 s here.
	e2e_vm_expect 600 "$tag-NEXT-BOOT-UP" "$prompt" "Kernel panic" || fail "the boot after the change did not come up"
	[ "$VM_MATCHED" = "$tag-NEXT-BOOT-UP" ] || fail "after the change: $VM_MATCHED"
	after=$(tr -d '\r' <"$run/next/console.log" | grep -a -m1 "$tag-NEXT-BOOT-UP")
	log "after the change: $after"
	now=$(grep -oE "PCR$pcr [0-9a-f]{64}" <<<"$after" | cut -d' ' -f2)
	[[ $after == *"kernel=$next "* ]] || fail "the guest did not boot $next: $after"
	# Every sealed PCR (4 and 7) the vTPM has in that boot is the predicted one.
	local sealed value expected
	for sealed in 4 7; do
		value=$(grep -oE "PCR$sealed [0-9a-f]{64}" <<<"$after" | cut -d' ' -f2)
		expected=$(tr -d '\r' <"$run/console.log" | grep -a -m1 "$tag-PREDICTED" | grep -oE "\"$sealed\":\"[0-9a-f]{64}\"" | cut -d'"' -f4)
		[ -n "$value" ] && [ "$value" = "$expected" ] ||
			fail "PCR $sealed of the boot after the change (${value:-none}) is not the predicted ${expected:-none}"
		# And the same from `cvmunlock predict` where the guest ran it (TAG-PREDICT).
		if grep -aq "$tag-PREDICT " "$run/console.log"; then
			expected=$(tr -d '\r' <"$run/console.log" | grep -a -m1 "$tag-PREDICT " | grep -oE " $sealed=[0-9a-f]{64}" | cut -d= -f2)
			[ "$value" = "$expected" ] ||
				fail "PCR $sealed of the boot after the change ($value) is not what cvmunlock predict gave (${expected:-none})"
			log "PCR $sealed: cvmunlock predict gave $expected, the vTPM has it"
		fi
	done
	[ "$now" = "$predicted" ] || fail "PCR $pcr of the boot after the change ($now) is not the predicted $predicted"
	# The old policy admitted only PCR $pcr = $before: alone, it would have refused this boot.
	[ "$now" != "$before" ] || fail "PCR $pcr did not change: the change proves nothing"
	[[ $after == *"branches=1"* ]] || fail "the after-boot update did not leave only this boot admitted: $after"
}

case $scenario in
provision)
	build_image
	build_varstore
	rm -rf "$life"
	mkdir -p "$life/tpm"
	cp --sparse=always "$work/disk.img" "$life/disk.img"
	e2e_vm_start "$life" ovmf-secboot - - "$life/disk.img" "" || fail "QEMU did not start"
	trap e2e_vm_stop EXIT
	# Boot 1: the build-time key file in the initramfs opens the root; the
	# first-boot unit runs; the marker reboots.
	e2e_vm_expect 900 "CVMIMAGE[1] USERSPACE-UP" "$prompt" "Security Violation" "Kernel panic" ||
		fail "the first boot did not come up"
	[ "$VM_MATCHED" = "CVMIMAGE[1] USERSPACE-UP" ] || fail "first boot: $VM_MATCHED"
	grep -a 'CVMIMAGE\[1\] JOURNAL.*cvmimage-provision\[' "$life/console.log" | cut -d' ' -f6- | tail -n 8
	e2e_vm_console_has "CVMIMAGE[1] PROVISION-FAILED" && fail "the first-boot unit failed"
	e2e_vm_expect 60 "CVMIMAGE[1] REBOOTING" || fail "the first-boot unit did not run"
	# The guest's reboot ends QEMU and the test starts it again: the same disk,
	# the variable store as the first boot left it, the same vTPM state (its
	# PCRs reset), as a host restarts a confidential VM (SEV-SNP guests cannot
	# be reset in place). A warm reset in the same QEMU hung once in OVMF under
	# TCG before the firmware printed anything (as update_scenario's did).
	e2e_vm_wait 300 || fail "the guest did not end its first boot"
	mkdir -p "$life/boot2"
	ln -s ../tpm "$life/boot2/tpm"
	OVMF_VARS_TEMPLATE=$life/vars.fd e2e_vm_start "$life/boot2" ovmf-secboot - - "$life/disk.img" "" ||
		fail "QEMU did not start again"
	# Boot 2: the vTPM opens the root; no prompt.
	e2e_vm_expect 900 "CVMIMAGE[2] USERSPACE-UP" "$prompt" "Kernel panic" || fail "the second boot did not come up"
	[ "$VM_MATCHED" = "CVMIMAGE[2] USERSPACE-UP" ] || fail "second boot: $VM_MATCHED"
	grep -a 'CVMIMAGE\[2\] JOURNAL' "$life/boot2/console.log" | grep -E 'cvmunlock' | head -n 5
	if [ "$variant" = dracut ]; then
		grep -aqE 'CVMIMAGE\[2\] JOURNAL.*cvmunlock: unsealed from the vTPM' "$life/boot2/console.log" ||
			fail "the second boot's journal has no unseal by the token plugin"
	else
		e2e_vm_console_has "root: opened with the vTPM-sealed key (cvmunlock)" ||
			fail "the local-top script did not open the root"
	fi
	# Inside the guest, cvmunlock replays this boot's event log against the vTPM,
	# and the log has the Secure Boot chain: db's and shim's authorities, shim,
	# grub and the kernel.
	e2e_vm_console_has "CVMIMAGE[2] EVENTLOG-VERIFY exit=0 \"matches\":true" ||
		fail "eventlog verify --tpm did not pass in the guest"
	# `predict` with shim, grub and the kernel unchanged finds each one's PE image
	# hash in the PCR 4 events the firmware and shim logged (shim and grub once,
	# the kernel twice) and predicts this boot's PCRs 4 and 7.
	line=$(grep -a -m1 '^CVMIMAGE\[2\] PREDICT-SAME-IMAGES' "$life/boot2/console.log" | tr -d '\r')
	log "$line"
	[[ $line == *"exit=0 replaced=4 \"changed\":false \"changed\":false"* ]] ||
		fail "predict did not find shim, grub and the kernel in this boot's log, or predicted other values"
	# `predict --esp /boot/efi` (the dpkg trigger's) finds the files the log
	# names (\EFI\BOOT\BOOTX64.EFI, \EFI\BOOT\grubx64.efi) on the ESP.
	line=$(grep -a -m1 '^CVMIMAGE\[2\] PREDICT-ESP' "$life/boot2/console.log" | tr -d '\r')
	log "$line"
	[[ $line == *"exit=0 replaced=2 \"changed\":false \"changed\":false"* ]] ||
		fail "predict --esp did not find shim and grub on the ESP, or predicted other values"
	# db's authority is the CA that signed shim; shim logs its vendor certificate
	# (Debian's CA, which signed grub and the kernel) as MokListRT's.
	grep -a '^CVMIMAGE\[2\] EVENT ' "$life/boot2/console.log" | tr -d '\r' >"$life/events.txt"
	for event in 'PCR 7 +EV_EFI_VARIABLE_AUTHORITY +db \([0-9]+ bytes\): Microsoft Corporation UEFI CA 2011$' \
		'PCR 7 +EV_EFI_VARIABLE_AUTHORITY +MokListRT \([0-9]+ bytes\): Debian Secure Boot CA$' \
		'PCR 4 +EV_EFI_BOOT_SERVICES_APPLICATION +.*\\EFI\\BOOT\\BOOTX64.EFI$' \
		'PCR 4 +EV_EFI_BOOT_SERVICES_APPLICATION +\\EFI\\BOOT\\grubx64.efi$' \
		'PCR 4 +EV_EFI_BOOT_SERVICES_APPLICATION +image of [0-9]+ bytes$'; do
		grep -qE -- "$event" "$life/events.txt" || fail "the guest's event log has no event like: $event"
	done
	log "PASS: $variant image: Secure Boot, shim, grub, signed kernel; first boot bound the root to the vTPM; second boot unlocked with no prompt"
	;;
build-key-wiped)
	[ -s "$life/disk.img" ] || fail "no disk from the provisioning scenario"
	# shellcheck disable=SC1091
	. "$work/image.env"
	header=$life/root-header.img
	partition "$ROOT_OFFSET" $((32 << 20)) "$header"
	cryptsetup luksDump --dump-json-metadata "$header" >"$life/metadata.json" || fail "no LUKS2 header on the root"
	jq -c '{keyslots: (.keyslots | keys), tokens: [.tokens[] | {type, keyslots, pcrs}]}' "$life/metadata.json"
	if cryptsetup open --test-passphrase --disable-external-tokens --key-file "$work/build-key" "$header" 2>/dev/null; then
		fail "the build-time key still opens the root"
	fi
	rk=$(recovery_key)
	[ -n "$rk" ] || fail "no recovery key in the escrow on /boot"
	printf '%s' "$rk" | cryptsetup open --test-passphrase --disable-external-tokens --key-file - "$header" ||
		fail "the escrowed recovery key does not open the root"
	[ "$(jq '.keyslots | length' "$life/metadata.json")" = 2 ] || fail "expected two keyslots (vTPM, recovery)"
	jq -e '[.tokens[] | select(.type == "cvmunlock")] | length == 1 and .[0].pcrs == [4, 7]' "$life/metadata.json" >/dev/null ||
		fail "no cvmunlock token sealed to PCRs 4+7"
	jq -e '[.tokens[] | select(.type == "systemd-recovery")] | length == 1' "$life/metadata.json" >/dev/null ||
		fail "no systemd-recovery token"
	! grep -aqF "$rk" "$life/console.log" "$life/boot2/console.log" || fail "the recovery key is on the console"
	rm -f "$header"
	log "PASS: $variant image: the build-time key opens nothing, the escrowed recovery key opens the root"
	;;
unpredicted-sb-off)
	[ -s "$life/disk.img" ] || fail "no disk from the provisioning scenario"
	rk=$(recovery_key)
	[ -n "$rk" ] || fail "no recovery key in the escrow on /boot"
	run=$life/sb-off
	rm -rf "$run"
	mkdir -p "$run"
	ln -s ../tpm "$run/tpm"
	e2e_vm_start "$run" ovmf-secboot-off - - "$life/disk.img" "" || fail "QEMU did not start"
	trap e2e_vm_stop EXIT
	e2e_vm_expect 900 "$prompt" "CVMIMAGE[3] USERSPACE-UP" "Kernel panic" || fail "no passphrase prompt"
	[ "$VM_MATCHED" = "$prompt" ] || fail "Secure Boot off: $VM_MATCHED (the vTPM key was not refused)"
	sleep 2
	e2e_vm_type "$rk"
	e2e_vm_expect 900 "CVMIMAGE[3] USERSPACE-UP" "Kernel panic" || fail "the recovery key did not open the root"
	[ "$VM_MATCHED" = "CVMIMAGE[3] USERSPACE-UP" ] || fail "$VM_MATCHED"
	# The refusal names PCR 7 and the event: on the console (initramfs-tools),
	# in the boot's journal (dracut: the token plugin inside systemd-cryptsetup).
	refusal=$(tr -d '\r' <"$run/console.log" | grep -a -m1 'PCR 7 (sha256) changed since enrollment')
	log "refusal: $refusal"
	[[ $refusal == *"first differing event"*"EV_EFI_VARIABLE_DRIVER_CONFIG"*"SecureBoot"* ]] ||
		fail "the refusal does not name the Secure Boot event"
	! grep -aqF "$rk" "$run/console.log" || fail "the recovery key was echoed to the console"
	# In the boot the recovery key opened: `explain` lists the SecureBoot event
	# as this boot's, and the after-boot update does not admit this boot.
	grep -a 'CVMIMAGE\[3\] EXPLAIN' "$run/console.log" | tr -d '\r' | head -n 12
	grep -aqE 'CVMIMAGE\[3\] EXPLAIN .*advisory' "$run/console.log" || fail "explain did not say it is advisory"
	grep -aqE 'CVMIMAGE\[3\] EXPLAIN +\+ #[0-9]+ EV_EFI_VARIABLE_DRIVER_CONFIG.*SecureBoot' "$run/console.log" ||
		fail "explain did not name the SecureBoot event"
	grep -aqE "CVMIMAGE\[3\] JOURNAL.*this boot is not one the vTPM's policy index admits \(PCRs? [0-9, ]*7 " "$run/console.log" ||
		fail "the after-boot policy update did not refuse the Secure-Boot-off boot"
	log "PASS: $variant image: Secure Boot off refused naming the event; the recovery key opened the root; explain named it"
	;;
kernel-update)
	update_scenario kernel-update KERNEL 2400 4
	grep -aqE 'KERNEL-UPDATE apt exit=0' "$run/console.log" || fail "apt did not install the kernel"
	log "PASS: $variant image: kernel $KVER -> $next installed by apt; the next boot's PCR 4 was predicted ($now, was $before) and it unlocked with no prompt"
	;;
grub)
	update_scenario grub-old-kernel GRUB 900 4
	log "PASS: $variant image: grub.cfg changed to start $next; update-policy predicted PCR 4 ($now, was $before); it unlocked with no prompt"
	;;
dbx-update)
	# A dbx update as the firmware's owner would sign it: one more SHA-256
	# entry (an image nobody boots), appended to dbx with the snakeoil KEK's
	# signature; the guest writes it through efivarfs and update-policy
	# predicts PCR 7 from the dbx the firmware now holds.
	update=$life/dbx-update.bin
	esl=$life/dbx-append.esl
	key=$life/snakeoil.key
	/usr/bin/python3 -c 'import hashlib, struct, sys
sha256 = bytes.fromhex("2616c4c14c509240aca941f936934328")
owner = bytes.fromhex("2e1ea7c7000000408000000000005eed")
entry = owner + hashlib.sha256(b"cvmunlock image test: an image revoked by dbx").digest()
sys.stdout.buffer.write(sha256 + struct.pack("<III", 28 + len(entry), 0, len(entry)) + entry)' >"$esl"
	openssl rsa -in /usr/share/ovmf/PkKek-1-snakeoil.key -passin pass:snakeoil -out "$key" 2>/dev/null ||
		fail "could not read the snakeoil key"
	sign-efi-sig-list -a -k "$key" -c /usr/share/ovmf/PkKek-1-snakeoil.pem dbx "$esl" "$life/dbx-append.auth" >/dev/null ||
		fail "sign-efi-sig-list failed"
	rm -f "$key"
	# efivarfs takes the attributes first: 0x67 is 0x27 with EFI_VARIABLE_APPEND_WRITE.
	{ printf '\x67\x00\x00\x00'; cat "$life/dbx-append.auth"; } >"$update"
	update_scenario dbx-update DBX 600 7 "$update"
	grep -aqE 'DBX-UPDATE write exit=0' "$run/console.log" || fail "the guest could not write dbx"
	log "PASS: $variant image: dbx update applied in the guest; the next boot's PCR 7 was predicted ($now, was $before) and it unlocked with no prompt"
	;;
*) fail "unknown scenario $scenario" ;;
esac
