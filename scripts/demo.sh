#!/usr/bin/env bash
# The main job on its embedded default: a real firmware event log (an AMD SEV-SNP
# VM's, tests/data) is measured into a private swtpm, then cvmunlock shows,
# replays and verifies it against the vTPM; a LUKS2 image file is enrolled and
# unlocks; then PCR 7 is tampered with: verify and unlock refuse, naming the PCR,
# and the recovery key still opens the image. Needs no real TPM: swtpm on a
# loopback port.
#   scripts/demo.sh [LOG]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
cvm_install_deps "$root"

build=${BUILD_DIR:-$root/build}
cvm_build "$root" "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cli=$build/src/cli/cvmunlock
log=${1:-$root/tests/data/eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin}

state=$(mktemp -d)
swtpm_pid=
cleanup() {
    [ -n "$swtpm_pid" ] && kill "$swtpm_pid" 2>/dev/null
    rm -rf "$state"
}
trap cleanup EXIT

# swtpm on a free loopback port pair.
for _ in $(seq 1 20); do
    port=$((20000 + RANDOM % 20000))
    swtpm socket --tpm2 --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
        --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
        --flags not-need-init,startup-clear --tpmstate "dir=$state" &
    swtpm_pid=$!
    for _ in $(seq 1 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break 2
        kill -0 "$swtpm_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill "$swtpm_pid" 2>/dev/null || true
    swtpm_pid=
done
[ -n "$swtpm_pid" ] || { echo "demo: could not start swtpm" >&2; exit 4; }
tcti="swtpm:host=127.0.0.1,port=$port"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

echo "vTPM: swtpm at $tcti; event log: $log"
step "firmware (stand-in) measures the boot into the vTPM"
"$build/tests/tpm/cvmunlock-test-extend-log" "$tcti" "$log"
step "cvmunlock eventlog show --eventlog LOG   (first events)"
"$cli" eventlog show --eventlog "$log" >"$state/show.txt"
head -n 24 "$state/show.txt"
step "cvmunlock eventlog replay --eventlog LOG"
"$cli" eventlog replay --eventlog "$log"
step "cvmunlock eventlog verify --eventlog LOG --tpm $tcti"
"$cli" eventlog verify --eventlog "$log" --tpm "$tcti"

# A disk image file stands in for the VM's root disk.
img=$state/disk.img
printf 'demo passphrase' >"$state/key"
truncate -s 32M "$img"
step "cryptsetup luksFormat disk.img   (an ordinary LUKS2 volume)"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$state/key" "$img"
step "cvmunlock enroll --pcrs 7 --recovery-key disk.img"
"$cli" enroll "$img" --tpm "$tcti" --pcrs 7 --unlock-key-file "$state/key" --recovery-key >"$state/recovery"
echo "recovery key: $(cat "$state/recovery")"
step "cvmunlock unlock --test disk.img   (the vTPM releases the key: this boot matches)"
"$cli" unlock --test --tpm "$tcti" "$img"

step "tpm2_pcrextend 7:sha256=00..42   (something the log does not record)"
tpm2_pcrextend -T "$tcti" "7:sha256=$(printf '%064x' 66)"
step "cvmunlock eventlog verify --eventlog LOG --tpm $tcti"
rc=0
"$cli" eventlog verify --eventlog "$log" --tpm "$tcti" || rc=$?
echo "(exit code $rc: the log no longer explains the vTPM's PCR 7)"
[ "$rc" -eq 1 ]
step "cvmunlock unlock --test disk.img   (refused, naming the PCR)"
rc=0
"$cli" unlock --test --tpm "$tcti" --eventlog "$log" "$img" || rc=$?
echo "(exit code $rc)"
[ "$rc" -eq 1 ]
step "cryptsetup open --test-passphrase disk.img with the recovery key"
tr -d '\n' <"$state/recovery" | cryptsetup open --test-passphrase --key-file - "$img" && echo "the recovery key opens it"

# SEV-SNP, offline: real reports from tests/data, checked against the AMD roots
# that ship in data/amd-roots (installed to share/cvmunlock/amd-roots).
snp=$root/tests/data/snp
anchors=(--snp-anchors "$root/data/amd-roots")
step "cvmunlock snp check   (this machine is no SEV-SNP guest: nothing is claimed)"
"$cli" snp check
step "cvmunlock snp verify --report azure-hcl-report.bin --certs azure-vcek.pem   (a real Azure CVM's HCL report)"
"$cli" snp verify --report "$snp/trustee/azure-hcl-report.bin" --certs "$snp/trustee/azure-vcek.pem" "${anchors[@]}"
step "cvmunlock snp verify --report attestation.bin --certs vcek.der   (a debuggable guest: refused by default)"
rc=0
"$cli" snp verify --report "$snp/go-sev-guest/attestation.bin" --certs "$snp/go-sev-guest/vcek.testcer" "${anchors[@]}" || rc=$?
echo "(exit code $rc)"
