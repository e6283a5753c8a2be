#!/usr/bin/env bash
# Made tests/data/golden/v1 once, with the cvmunlock of the commit that added
# it: two small LUKS2 images enrolled against a fresh swtpm (PCR 7 at its
# reset value), the swtpm state they were sealed under, and their keys.
# tests/luks/golden_test.cpp unlocks them with every later build: a change to
# what is sealed or stored (token JSON, sealed bytes, volume-key pin, policy,
# authValue) that would strand enrolled volumes fails that test. Do not run
# this to make a failing golden test pass: a deliberate format change bumps
# the token version and keeps version 1 volumes unlocking.
#   make_v1.sh CVMUNLOCK OUT_DIR
set -euo pipefail
cli=$1 out=$2
mkdir -p "$out/tpm-state"
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
port=$((20000 + (RANDOM % 20000) * 2))
swtpm socket --tpm2 --tpmstate "dir=$out/tpm-state" --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
	--ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" --flags not-need-init,startup-clear &
pid=$!
sleep 0.5
tcti="swtpm:host=127.0.0.1,port=$port"
printf 'golden passphrase' >"$out/passphrase"
printf '1234' >"$out/pin"
for name in plain pin; do
	img=$work/$name.img
	truncate -s 1M "$img"
	cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		--luks2-keyslots-size 512k --uuid "601de2e0-0000-4000-8000-00000000000$([[ $name == plain ]] && echo 1 || echo 2)" \
		--key-file "$out/passphrase" "$img"
	extra=()
	[[ $name == pin ]] && extra=(--pin-file "$out/pin")
	"$cli" enroll "$img" --tpm "$tcti" --pcrs 7 --unlock-key-file "$out/passphrase" "${extra[@]}"
	gzip -9 -n -c "$img" >"$out/$name.img.gz"
done
