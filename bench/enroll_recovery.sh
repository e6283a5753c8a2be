#!/usr/bin/env bash
# Enrolling with a recovery key, against systemd-cryptenroll --recovery-key on
# the same kind of image: RUNS runs of each, every run on a fresh copy of a
# 32 MiB LUKS2 image whose keyslot 0 opens with a passphrase (KDF as asked:
# pbkdf2 at 1000 iterations, the tests' kind, or argon2id, luksFormat's
# default), cvmunlock sealing to a private swtpm. Prints the runs, the medians
# and their ratio; exits 1 when the ratio is above LIMIT.
#
# Usage: bench/enroll_recovery.sh [BUILD_DIR]     (default: <repo>/build)
# Environment: RUNS (default 5), KDF (pbkdf2 | argon2id, default pbkdf2), LIMIT (default 3)
set -euo pipefail
export LC_ALL=C
repo_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${1:-$repo_dir/build}
readonly runs=${RUNS:-5} kdf=${KDF:-pbkdf2} limit=${LIMIT:-3}
readonly cvmunlock=$build_dir/src/cli/cvmunlock
for tool in swtpm cryptsetup systemd-cryptenroll; do
	command -v "$tool" >/dev/null || { echo "enroll_recovery: $tool not found" >&2; exit 2; }
done
[[ -x $cvmunlock ]] || { echo "enroll_recovery: build $cvmunlock first" >&2; exit 2; }

work=$(mktemp -d)
swtpm_pid=
trap '[[ -z $swtpm_pid ]] || kill "$swtpm_pid" 2>/dev/null; rm -rf "$work"' EXIT
port=$((20000 + (RANDOM % 20000) * 2))
swtpm socket --tpm2 --tpmstate "dir=$work" --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
	--ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" --flags not-need-init,startup-clear &
swtpm_pid=$!
sleep 0.5
readonly tcti="swtpm:host=127.0.0.1,port=$port"

printf 'benchmark passphrase' >"$work/key"
chmod 600 "$work/key"
truncate -s 32M "$work/base.img"
if [[ $kdf == pbkdf2 ]]; then
	kdf_args=(--pbkdf pbkdf2 --pbkdf-force-iterations 1000)
else
	kdf_args=(--pbkdf argon2id)
fi
cryptsetup luksFormat --type luks2 --batch-mode "${kdf_args[@]}" --key-file "$work/key" "$work/base.img"

# time_ms CMD...: wall time of one run in milliseconds (output discarded).
time_ms() {
	local start end
	start=$(date +%s%N)
	"$@" >/dev/null 2>&1
	end=$(date +%s%N)
	echo $(((end - start) / 1000000))
}
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

ours=() theirs=()
for i in $(seq 1 "$runs"); do
	cp "$work/base.img" "$work/a.img"
	cp "$work/base.img" "$work/b.img"
	theirs+=("$(time_ms systemd-cryptenroll --unlock-key-file="$work/key" --recovery-key "$work/a.img")")
	ours+=("$(time_ms "$cvmunlock" enroll "$work/b.img" --tpm "$tcti" --pcrs 7 --unlock-key-file "$work/key" --recovery-key)")
	# Both really enrolled a recovery keyslot that systemd-cryptenroll lists.
	systemd-cryptenroll "$work/b.img" | grep -q recovery || { echo "enroll_recovery: run $i made no recovery slot" >&2; exit 1; }
done
m_ours=$(printf '%s\n' "${ours[@]}" | median)
m_theirs=$(printf '%s\n' "${theirs[@]}" | median)
ratio=$(awk -v a="$m_ours" -v b="$m_theirs" 'BEGIN { printf "%.2f", a / b }')
echo "image: 32 MiB LUKS2, keyslot 0 $kdf; $runs runs each"
echo "systemd-cryptenroll --recovery-key (ms): ${theirs[*]}; median $m_theirs"
echo "cvmunlock enroll --recovery-key (ms):    ${ours[*]}; median $m_ours (seals to swtpm too)"
echo "ratio: $ratio (limit $limit)"
awk -v r="$ratio" -v l="$limit" 'BEGIN { exit !(r <= l) }'
