#!/usr/bin/env bash
# The main job on its embedded default, a newcomer's first five minutes: a private
# swtpm stands in for the VM's vTPM and a disk image file for its root disk.
#   1. a real firmware event log (an AMD SEV-SNP VM's, tests/data) is measured into
#      the swtpm, and cvmunlock verifies the log against it;
#   2. a LUKS2 image is enrolled: the token shows in `cryptsetup luksDump`, and both
#      `cvmunlock unlock --test` and stock `cryptsetup open --token-only` (through the
#      token plugin) open it;
#   3. the VM "reboots" with its Secure Boot db changed by the host: unlock refuses,
#      naming the event that changed, stock cryptsetup falls back to the
#      passphrase, and the recovery key still opens the image;
#   4. SEV-SNP reports are verified offline against AMD's built-in roots.
# Installs only what it needs (scripts/packages/demo.txt) and builds only the
# targets it uses, in build-demo/.
#   scripts/demo.sh [LOG]
#   CVMUNLOCK_DEMO_BUILD=DIR: use the targets already built in DIR (the test
#   build, for the demo's own test), installing and building nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

t1=$(date +%s)
if [ -n "${CVMUNLOCK_DEMO_BUILD:-}" ]; then
    build=$CVMUNLOCK_DEMO_BUILD
else
bold "== packages (scripts/packages/demo.txt)"
t0=$(date +%s)
cvm_install_deps "$root" demo
echo "packages ready in $(($(date +%s) - t0)) s"

build=${BUILD_DIR:-$root/build-demo}
bold "== build: cvmunlock, its token plugin and the firmware stand-ins ($build)"
t1=$(date +%s)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DCVMUNLOCK_BUILD_TESTS=OFF \
    -DCVMUNLOCK_BUILD_BENCH=OFF -DCVMUNLOCK_MAN=OFF >"$build.configure.log" 2>&1 ||
    { cat "$build.configure.log"; exit 1; }
# Ninja's own [done/total] lines are the progress.
cmake --build "$build" -j "$(nproc)" --target cvmunlock cryptsetup-token-cvmunlock \
    cvmunlock-test-extend-log cvmunlock-test-edit-log | grep --line-buffered -E '^\[[0-9]+/[0-9]+\]|error|warning' |
    sed -E 's/^(\[[0-9]+\/[0-9]+\]) .* ([^ ]+)$/\1 \2/'
echo "built in $(($(date +%s) - t1)) s"
fi
t2=$(date +%s)

cli=$build/src/cli/cvmunlock
plugin=$build/src/token-plugin/libcryptsetup-token-cvmunlock.so
extend_log=$build/tests/tools/cvmunlock-test-extend-log
edit_log=$build/tests/tools/cvmunlock-test-edit-log
log=${1:-$root/tests/data/eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin}
token_dir=$(pkg-config --variable=libdir libcryptsetup 2>/dev/null || echo /usr/lib/x86_64-linux-gnu)/cryptsetup

state=$(mktemp -d)
swtpm_pid=
cleanup() {
    [ -n "$swtpm_pid" ] && kill "$swtpm_pid" 2>/dev/null
    rm -rf "$state"
}
trap cleanup EXIT

# swtpm on a free loopback port pair (P, and P+1 for its control channel); its
# state (the storage root key's seed) lives in $state/tpm across "reboots".
mkdir "$state/tpm"
start_swtpm() {
    local try
    for try in $(seq 1 20); do
        port=${port:-$((20000 + RANDOM % 20000))}
        swtpm socket --tpm2 --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
            --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
            --flags not-need-init,startup-clear --tpmstate "dir=$state/tpm" &
        swtpm_pid=$!
        for _ in $(seq 1 50); do
            if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                tcti="swtpm:host=127.0.0.1,port=$port"
                export CVMUNLOCK_TCTI=$tcti  # the token plugin inside stock cryptsetup finds the vTPM here
                return 0
            fi
            kill -0 "$swtpm_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$swtpm_pid" 2>/dev/null || true
        wait "$swtpm_pid" 2>/dev/null || true
        swtpm_pid=
        [ "$try" -gt 1 ] && port=
    done
    echo "demo: could not start swtpm" >&2
    exit 4
}
stop_swtpm() {
    kill "$swtpm_pid"
    wait "$swtpm_pid" 2>/dev/null || true
    swtpm_pid=
}
start_swtpm
# Stock cryptsetup with only our token plugin in its token directory, in a private mount namespace.
mkdir "$state/plugins"
cp "$plugin" "$state/plugins/"
stock_cryptsetup() {
    # shellcheck disable=SC2016  # expanded by the inner sh
    unshare -m sh -c 'mount --bind "$0" "$1" && shift && exec cryptsetup "$@"' "$state/plugins" "$token_dir" "$@"
}

bold "== 1. the boot, measured"
echo "vTPM: swtpm at $tcti; event log: $log"
step "firmware (a stand-in here) measures the boot into the vTPM"
"$extend_log" "$tcti" "$log"
step "cvmunlock eventlog verify --eventlog LOG --tpm   (the log explains every PCR of the vTPM)"
"$cli" eventlog verify --eventlog "$log" --tpm "$tcti"

bold "== 2. a LUKS2 volume, sealed to PCR 7 (Secure Boot)"
img=$state/disk.img
printf 'demo passphrase' >"$state/key"
truncate -s 32M "$img"
step "cryptsetup luksFormat disk.img"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$state/key" "$img"
step "cvmunlock enroll disk.img --pcrs 7 --recovery-key --eventlog LOG"
"$cli" enroll "$img" --tpm "$tcti" --pcrs 7 --unlock-key-file "$state/key" --recovery-key --eventlog "$log" \
    >"$state/recovery"
echo "recovery key (shown once): $(cat "$state/recovery")"
step "cryptsetup luksDump disk.img   (the cvmunlock token beside systemd's recovery token)"
cryptsetup luksDump "$img" | sed -n '/^Tokens:/,/^Digests:/p' | sed '$d'
step "cvmunlock unlock --test disk.img   (the vTPM releases the key: this boot matches)"
"$cli" unlock --test --tpm "$tcti" "$img"
step "cryptsetup open --test-passphrase --token-only disk.img   (stock cryptsetup, through the token plugin)"
stock_cryptsetup open --test-passphrase --token-only -v "$img"

bold "== 3. the host changed the VM's Secure Boot db; the VM reboots"
step "cvmunlock-test-edit-log LOG changed.log db   (the firmware now measures another db)"
"$edit_log" "$log" "$state/changed.log" db
stop_swtpm
start_swtpm
"$extend_log" "$tcti" "$state/changed.log"
step "cvmunlock eventlog verify --eventlog changed.log --tpm   (the log is honest about it)"
"$cli" eventlog verify --eventlog "$state/changed.log" --tpm "$tcti"
step "cvmunlock unlock --test disk.img --eventlog changed.log   (refused, naming the event)"
rc=0
"$cli" unlock --test --tpm "$tcti" --eventlog "$state/changed.log" "$img" || rc=$?
echo "(exit code $rc)"
[ "$rc" -eq 1 ]
step "cryptsetup open --test-passphrase --token-only disk.img   (the plugin refuses too; a boot would ask for the passphrase)"
rc=0
stock_cryptsetup open --test-passphrase --token-only -v "$img" || rc=$?
echo "(exit code $rc)"
[ "$rc" -ne 0 ]
step "cryptsetup open --test-passphrase disk.img < recovery key"
tr -d '\n' <"$state/recovery" | cryptsetup open --test-passphrase --key-file - "$img" && echo "the recovery key opens it"

bold "== 4. SEV-SNP, offline, against AMD's roots compiled into cvmunlock"
snp=$root/tests/data/snp
step "cvmunlock snp check   (this machine is no SEV-SNP guest: nothing is claimed)"
"$cli" snp check
step "cvmunlock snp verify --report azure-hcl-report.bin --certs azure-vcek.pem   (a real Azure CVM's report)"
"$cli" snp verify --report "$snp/trustee/azure-hcl-report.bin" --certs "$snp/trustee/azure-vcek.pem"
step "cvmunlock snp verify --report attestation.bin --certs vcek.der   (a debuggable guest: refused by default)"
rc=0
"$cli" snp verify --report "$snp/go-sev-guest/attestation.bin" --certs "$snp/go-sev-guest/vcek.testcer" || rc=$?
echo "(exit code $rc)"

bold "demo: done; ran in $(($(date +%s) - t2)) s (packages aside: build $((t2 - t1)) s)"
