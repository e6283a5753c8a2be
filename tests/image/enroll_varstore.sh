#!/usr/bin/env bash
# Builds the firmware variable store of the image tests' Secure Boot boots the
# way an owner takes over a machine: OVMF starts from its empty store (setup
# mode) and a guest writes, through Linux's efivarfs, db, dbx and KEK and last
# PK (which ends setup mode), as authenticated variables:
#   db, dbx  Microsoft's, as OVMF_VARS_4M.ms.fd has them (db: Microsoft's
#            UEFI CA, which signed shim, and Windows PCA)
#   KEK      Debian's and Microsoft's KEKs from OVMF_VARS_4M.ms.fd, and the
#            ovmf package's snakeoil key, whose private half is public: it
#            signs the dbx update of the image tests' dbx scenario
#   PK       the snakeoil key
# The guest is the image's own kernel with a busybox initramfs; it powers off.
# usage: enroll_varstore.sh WORK_DIR KERNEL EFIVARFS_KO OUT
set -euo pipefail
work=$1 kernel=$2 efivarfs_ko=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
ovmf=/usr/share/OVMF
snakeoil=/usr/share/ovmf/PkKek-1-snakeoil
global=8be4df61-93ca-11d2-aa0d-00e098032b8c
security_db=d719b2cb-3d3a-4596-a3bc-dad00e67656f
# The owner GUID of the snakeoil entries (any GUID; this one names the tests).
owner=c7a11e2e-0000-4000-8000-000000005eed
busybox=$(command -v busybox) || { echo "enroll_varstore.sh: no busybox (busybox-static)" >&2; exit 1; }
if ldd "$busybox" >/dev/null 2>&1; then
	echo "enroll_varstore.sh: $busybox is not static (package busybox-static)" >&2
	exit 1
fi
[ -s "$efivarfs_ko" ] || { echo "enroll_varstore.sh: no efivarfs module at $efivarfs_ko" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work/initramfs/bin" "$work/initramfs/vars"
trap 'rm -f "$work/snakeoil.key"' EXIT
openssl rsa -in "$snakeoil.key" -passin pass:snakeoil -out "$work/snakeoil.key" 2>/dev/null
for name in db dbx KEK; do
	guid=$security_db
	[ "$name" = KEK ] && guid=$global
	/usr/bin/python3 "$here/varstore.py" "$ovmf/OVMF_VARS_4M.ms.fd" "$name" "$guid" "$work/$name.esl"
done
cert-to-efi-sig-list -g "$owner" "$snakeoil.pem" "$work/snakeoil.esl" >/dev/null
cat "$work/snakeoil.esl" >>"$work/KEK.esl"
cp "$work/snakeoil.esl" "$work/PK.esl"
# Each file: the attributes efivarfs takes first (non-volatile, boot and
# runtime access, time-based authenticated write: 0x27), then the signed update.
for name in db dbx KEK PK; do
	sign-efi-sig-list -k "$work/snakeoil.key" -c "$snakeoil.pem" "$name" "$work/$name.esl" "$work/$name.auth" >/dev/null
	{ printf '\x27\x00\x00\x00'; cat "$work/$name.auth"; } >"$work/initramfs/vars/$name"
done
rm -f "$work/snakeoil.key"

cp "$busybox" "$work/initramfs/bin/busybox"
cp "$efivarfs_ko" "$work/initramfs/efivarfs.ko"
cat >"$work/initramfs/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
insmod /efivarfs.ko 2>/dev/null
vars=/sys/firmware/efi/efivars
mount -t efivarfs efivarfs \$vars || echo "ENROLL no efivarfs"
echo "ENROLL SetupMode before: \$(od -An -tu1 \$vars/SetupMode-$global | awk '{ print \$NF }')"
for name in db dbx KEK PK; do
	guid=$security_db
	case \$name in KEK | PK) guid=$global ;; esac
	# One write() of the whole update, as efivarfs wants it.
	if dd if=/vars/\$name of=\$vars/\$name-\$guid bs=1M conv=notrunc 2>/dev/null; then
		echo "ENROLL \$name ok"
	else
		echo "ENROLL \$name FAILED"
	fi
done
echo "ENROLL-DONE SetupMode=\$(od -An -tu1 \$vars/SetupMode-$global | awk '{ print \$NF }')"
poweroff -f
INIT
chmod 0755 "$work/initramfs/init"
(cd "$work/initramfs" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$work/initramfs.cpio.gz"

cp "$ovmf/OVMF_VARS_4M.fd" "$work/vars.fd"
timeout 600 qemu-system-x86_64 -machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on \
	-drive "if=pflash,format=raw,unit=0,readonly=on,file=$ovmf/OVMF_CODE_4M.ms.fd" \
	-drive "if=pflash,format=raw,unit=1,file=$work/vars.fd" \
	-accel tcg -cpu max -m 512 -smp 1 -nodefaults -display none -monitor none -no-reboot \
	-serial "file:$work/console.log" -kernel "$kernel" -initrd "$work/initramfs.cpio.gz" \
	-append "console=ttyS0 panic=-1 quiet" </dev/null >"$work/qemu.out" 2>&1 || true
grep -a '^ENROLL' "$work/console.log" | tr -d '\r' >&2 || true
for name in db dbx KEK PK; do
	grep -aq "^ENROLL $name ok" "$work/console.log" || { echo "enroll_varstore.sh: $name was not written" >&2; exit 1; }
done
grep -aq '^ENROLL-DONE SetupMode=0' "$work/console.log" ||
	{ echo "enroll_varstore.sh: the firmware did not leave setup mode" >&2; exit 1; }
mv "$work/vars.fd" "$out"
