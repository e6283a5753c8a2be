#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-16 + libc++ + ASan/UBSan and runs each
# for SECONDS (default 30). Exits non-zero on a build failure or when a fuzzer
# finds a crash, printing the reproducer. Installs nothing (see fuzz/README.md).
#
# Usage: fuzz/run.sh [SECONDS] [BUILD_DIR]     (BUILD_DIR defaults to ./build-fuzz)
#
# Kept in BUILD_DIR between runs: fuzz-corpus/<target>/ (the growing corpus),
# fuzz-artifacts/<target>/ (crash-*, timeout-*, oom-*, leak-*), fuzz-logs/<target>.log.
set -euo pipefail

readonly max_len=1048576  # = kMaxInputSize in fuzz/fuzz_support.hpp
readonly targets=(fuzz_eventlog fuzz_pcr_json fuzz_token fuzz_luks2 fuzz_snp_report fuzz_hcl_report fuzz_authenticode)

fuzz_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$fuzz_dir")
seconds=${1:-30}
build_dir=${2:-$repo/build-fuzz}

die() {
    echo "fuzz/run.sh: $*" >&2
    exit 2
}

[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "SECONDS must be a positive integer, got '$seconds'"
for tool in clang-16 clang++-16 cmake; do
    command -v "$tool" >/dev/null || die "$tool not found (the project's setup script installs it)"
done
mkdir -p "$build_dir"
build_dir=$(cd "$build_dir" && pwd)

configure_and_build() {
    local generator=()
    if [[ ! -f $build_dir/CMakeCache.txt ]] && command -v ninja >/dev/null; then
        generator=(-G Ninja)
    fi
    CC=clang-16 CXX=clang++-16 cmake -S "$repo" -B "$build_dir" "${generator[@]}" \
        -DCMAKE_CXX_COMPILER=clang++-16 \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCVMUNLOCK_CORE_ONLY=ON \
        -DCVMUNLOCK_FUZZ=ON \
        -DCVMUNLOCK_BUILD_TESTS=OFF \
        -DCVMUNLOCK_BUILD_BENCH=OFF
    cmake --build "$build_dir" --parallel "$(nproc)" --target "${targets[@]}"
}

# Copies every file under $1 into $2, flattening the path into the name.
copy_seeds() {
    local src=$1 dest=$2 file rel
    while IFS= read -r -d '' file; do
        rel=${file#"$src"/}
        cp -- "$file" "$dest/${rel//\//_}"
    done < <(find "$src" -type f -print0)
}

seed_root=$(mktemp -d)
trap 'rm -rf -- "$seed_root"' EXIT

make_seed_corpora() {
    mkdir -p "$seed_root/fuzz_eventlog" "$seed_root/fuzz_pcr_json" "$seed_root/fuzz_token" "$seed_root/fuzz_luks2"
    copy_seeds "$repo/tests/data/eventlog" "$seed_root/fuzz_eventlog"
    copy_seeds "$fuzz_dir/seeds/eventlog" "$seed_root/fuzz_eventlog"
    copy_seeds "$fuzz_dir/seeds/pcr_json" "$seed_root/fuzz_pcr_json"
    cp -- "$repo/tests/data/eventlog/expected_pcrs.json" "$seed_root/fuzz_pcr_json/"
    copy_seeds "$fuzz_dir/seeds/token" "$seed_root/fuzz_token"
    # Real SEV-SNP reports and an Azure HCL report (tests/data/README.md).
    mkdir -p "$seed_root/fuzz_snp_report" "$seed_root/fuzz_hcl_report" "$seed_root/fuzz_authenticode"
    # A PE32+ laid out like tests/support/sample_pe.hpp's (headers, two sections, a certificate table).
    copy_seeds "$fuzz_dir/seeds/authenticode" "$seed_root/fuzz_authenticode"
    cp -- "$repo/tests/data/snp/go-sev-guest/attestation.bin" "$repo/tests/data/snp/trustee/test-report.bin" \
        "$repo/tests/data/snp/trustee/test-vlek-report.bin" "$seed_root/fuzz_snp_report/"
    cp -- "$repo/tests/data/snp/trustee/azure-hcl-report.bin" "$seed_root/fuzz_hcl_report/"
    # A real LUKS2 header region (both copies), made with the stock cryptsetup.
    if command -v cryptsetup >/dev/null; then
        local img=$seed_root/luks2.img
        truncate -s 16M "$img"
        printf 'seed' >"$seed_root/key"
        if cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
            --key-file "$seed_root/key" "$img" >/dev/null 2>&1; then
            head -c 32768 "$img" >"$seed_root/fuzz_luks2/luks2-header"
        fi
        rm -f -- "$img" "$seed_root/key"
    fi
}

# Runs one target; returns libFuzzer's exit status and lists this run's artefacts.
run_target() {
    local target=$1 binary=$build_dir/fuzz/$1
    local corpus=$build_dir/fuzz-corpus/$target
    local artifacts=$build_dir/fuzz-artifacts/$target
    local log=$build_dir/fuzz-logs/$target.log
    local stamp=$build_dir/fuzz-logs/$target.started
    local status=0 found=() artifact
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    touch "$stamp"
    echo "=== $target: fuzzing for ${seconds}s (log: $log)"
    # The first corpus directory receives new inputs; the seed copies are only read.
    "$binary" -max_len="$max_len" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -dict="$fuzz_dir/dict/${target#fuzz_}.dict" \
        -artifact_prefix="$artifacts/" "$corpus" "$seed_root/$target" </dev/null >"$log" 2>&1 || status=$?
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
    mapfile -t found < <(find "$artifacts" -type f -newer "$stamp" | sort)
    if ((status != 0)); then
        echo "=== $target: FAILED (libFuzzer exit status $status); last lines of the log:"
        tail -n 40 "$log"
        for artifact in "${found[@]}"; do
            echo "=== $target: reproducer: $artifact"
            echo "    reproduce: $binary $artifact"
        done
        return 1
    fi
    for artifact in "${found[@]}"; do
        echo "=== $target: note: artefact $artifact (slow unit?) though libFuzzer passed"
    done
    echo "=== $target: ok"
}

configure_and_build
make_seed_corpora
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
failed=()
for target in "${targets[@]}"; do
    run_target "$target" || failed+=("$target")
done
if ((${#failed[@]} > 0)); then
    echo "fuzz/run.sh: a crash, timeout, OOM or leak was found in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz/run.sh: no crash in ${targets[*]} (${seconds}s each)"
