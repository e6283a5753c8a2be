#!/usr/bin/env bash
# usage: demo_test.sh SOURCE_DIR BUILD_DIR
set -uo pipefail
src=$1 build=$2
[ "$(id -u)" -eq 0 ] || { echo "SKIP: the demo bind-mounts the token plugin (needs root)"; exit 77; }
out=$(CVMUNLOCK_DEMO_BUILD=$build bash "$src/scripts/demo.sh" 2>&1)
rc=$?
echo "$out"
[ $rc -eq 0 ] || { echo "FAIL: demo.sh exited $rc"; exit 1; }
for want in "Command successful." \
            "first differing event #6 EV_EFI_VARIABLE_DRIVER_CONFIG: db" \
            "cvmunlock: token 0 refused:" \
            "the recovery key opens it" \
            "valid: Milan report signed by the VCEK"; do
    grep -qF -- "$want" <<<"$out" || { echo "FAIL: the demo did not say: $want"; exit 1; }
done
echo "demo: as documented"
