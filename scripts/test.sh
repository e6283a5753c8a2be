#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test suite
# (unit, swtpm, qemu, e2e), builds and checks the Debian package, boots the real
# Debian images built with it (image), runs the unit and swtpm suites again
# under ASan+UBSan, and the libFuzzer targets for FUZZ_SECONDS (default 30) each.
#   CVMUNLOCK_TEST_QUICK=1 skips the package, the images, the sanitizer build,
#   fuzzing and the QEMU boots (qemu, e2e).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
cvm_install_deps "$root"

build=${BUILD_DIR:-$root/build}
quick=${CVMUNLOCK_TEST_QUICK:-0}
status=0
passed=0
failed=0
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT

# Runs ctest and adds its counts to the totals.
run_ctest() {
    local dir=$1 labels=$2 line total bad
    (cd "$dir" && ctest --output-on-failure -L "$labels" -j 2) | tee "$summary" || status=1
    line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$summary" | tail -n 1 || true)
    if [ -n "$line" ]; then
        total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
        bad=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
        passed=$((passed + total - bad))
        failed=$((failed + bad))
    else
        failed=$((failed + 1))
    fi
}

echo "== build ($build)"
cvm_build "$root" "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCVMUNLOCK_WERROR=ON
labels="unit|swtpm|qemu|e2e"
[ "$quick" = 1 ] && labels="unit|swtpm"
echo "== tests ($labels)"
run_ctest "$build" "$labels"

if [ "$quick" != 1 ]; then
    echo "== Debian package (scripts/package.sh; its unit tests ran above)"
    if DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" "$root/scripts/package.sh" "$root/build-deb"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        status=1
    fi
    echo "== real Debian images (tests/image: mmdebstrap, Secure Boot, dracut and initramfs-tools)"
    deb=""
    for f in "$root"/build-deb/cvmunlock_*_amd64.deb; do [ -e "$f" ] && deb=$f; done
    CVMUNLOCK_IMAGE_DEB=$deb run_ctest "$build" image
    echo "== ASan+UBSan build (g++)"
    cvm_build "$root" "$build-asan" -DCMAKE_BUILD_TYPE=Debug -DCVMUNLOCK_WERROR=ON -DCVMUNLOCK_SANITIZE=ON \
        -DCVMUNLOCK_BUILD_BENCH=OFF
    ASAN_OPTIONS=detect_leaks=1 run_ctest "$build-asan" "unit|swtpm"
    echo "== fuzzing (${FUZZ_SECONDS:-30} s per target)"
    if "$root/fuzz/run.sh" "${FUZZ_SECONDS:-30}" "$build-fuzz"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        status=1
    fi
fi

[ $failed -gt 0 ] && status=1
echo "test.sh: $passed passed, $failed failed"
exit $status
