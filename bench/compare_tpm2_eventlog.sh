#!/usr/bin/env bash
# Whole-process comparison of `cvmunlock eventlog replay --eventlog F --json` with
# `tpm2_eventlog F` (tpm2-tools) on every real log under tests/data/eventlog
# and on the synthetic 100,000-record log (bench/synthetic_log.hpp). Also
# checks that tpm2_eventlog accepts the synthetic log (exit 0, nothing on
# stderr, with --eventlog-version 1 and 2) and that both tools end with the
# same PCR values. Prints a markdown table (median wall time of RUNS runs).
#
# Usage: bench/compare_tpm2_eventlog.sh [BUILD_DIR]        (default: <repo>/build)
#   BUILD_DIR must hold src/cli/cvmunlock and bench/cvmunlock_make_synthetic_log.
# Environment:
#   RUNS=N                 timed runs per tool and log after one warm-up (default 11)
#   SYNTHETIC_RECORDS=N    records in the synthetic log (default 100000)
#   HYPERFINE=0            time with the plain bash loop even if hyperfine is installed
# Needs bash, coreutils, grep, awk and tpm2-tools; installs nothing.
# Exit status: 0 all checks passed, 1 a check failed, 2 usage or a missing tool.
set -euo pipefail
export LC_ALL=C

repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${1:-$repo_dir/build}"
readonly repo_dir build_dir
readonly runs="${RUNS:-11}"
readonly records="${SYNTHETIC_RECORDS:-100000}"
readonly cvmunlock="$build_dir/src/cli/cvmunlock"
readonly make_log="$build_dir/bench/cvmunlock_make_synthetic_log"
readonly data_dir="$repo_dir/tests/data/eventlog"

die() { echo "compare_tpm2_eventlog: $*" >&2; exit 2; }

[[ $# -le 1 ]] || die "usage: $0 [BUILD_DIR]"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ -x "$cvmunlock" ]] || die "$cvmunlock not found: build the project first"
[[ -x "$make_log" ]] || die "$make_log not found: build with CVMUNLOCK_BUILD_BENCH=ON"
command -v tpm2_eventlog >/dev/null || die "tpm2_eventlog not found (Debian package tpm2-tools)"

use_hyperfine=0
if [[ "${HYPERFINE:-1}" != 0 ]] && command -v hyperfine >/dev/null; then use_hyperfine=1; fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failures=0
notes=()

# Sets $now to microseconds since the epoch: bash 5's EPOCHREALTIME needs no
# fork, which matters when a process start costs milliseconds; else date.
tick() {
    if [[ -n "${EPOCHREALTIME:-}" ]]; then
        now=$((10#${EPOCHREALTIME/[.,]/}))
    else
        now=$(($(date +%s%N) / 1000))
    fi
}

# Median wall time in milliseconds of RUNS runs of "$@" (stdout and stderr discarded).
median_ms() {
    if [[ $use_hyperfine == 1 ]]; then
        local cmd
        cmd="$(printf '%q ' "$@")"
        hyperfine --style none --shell=none --warmup 1 --runs "$runs" --export-json "$tmp/hf.json" \
            -- "$cmd" >/dev/null 2>&1 || { echo "n/a"; return; }
        grep -o '"median": *[0-9.e+-]*' "$tmp/hf.json" | head -1 | awk '{ printf "%.2f", $2 * 1000 }'
        return
    fi
    "$@" >/dev/null 2>&1 || true  # warm-up: page cache, dynamic loader
    local i start now
    for ((i = 0; i < runs; i++)); do
        tick; start=$now
        "$@" >/dev/null 2>&1 || true
        tick; echo $((now - start))
    done | sort -n | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m / 1000 }'
}

# "bank pcr hex" lines from tpm2_eventlog's final `pcrs:` section.
tpm2_pcrs() {
    awk '/^pcrs:/ { p = 1; next }
         p && /^  [a-z0-9_]+:$/ { bank = $1; sub(":", "", bank); next }
         p && /^    [0-9]+ *: 0x/ { v = $NF; sub("0x", "", v); print bank, $1, v }' "$1" | sort
}

# "bank pcr hex" lines from `cvmunlock eventlog replay --json` (two-space indented JSON).
our_pcrs() {
    awk '/^  "banks": \{/ { p = 1; next }
         p && /^  \}/ { p = 0 }
         p && /^    "[a-z0-9_]+": \{/ { bank = $1; gsub(/[":]/, "", bank); next }
         p && /^      "[0-9]+": "/ { pcr = $1; gsub(/[":]/, "", pcr); v = $2; gsub(/[",]/, "", v); print bank, pcr, v }' "$1" | sort
}

# Copy of a log as tpm2-tools 5.4 replays it, for our replay to reproduce:
# 5.4 extends EV_NO_ACTION records like any other (tpm2-tools issue #3224,
# fixed by PR #3230) and so never applies a StartupLocality (issue #3146,
# PR #3242). Every EV_NO_ACTION record after the Spec ID header becomes
# EV_POST_CODE (type at record offset + 4, PFP TCG_PCR_EVENT2).
as_tpm2_tools_54_replays() {
    cp "$1" "$2"
    local offset
    for offset in $("$cvmunlock" eventlog show --eventlog "$1" --json | awk '
            /^      "index": / { index_ = $2 + 0 }
            /^      "offset": / { offset = $2 + 0 }
            /^      "type": 3,/ && index_ > 0 { print offset }'); do
        printf '\001' | dd of="$2" bs=1 seek=$((offset + 4)) conv=notrunc status=none
    done
}

# Acceptance: tpm2_eventlog must read the synthetic log to the end, silently.
check_acceptance() {
    local log="$1" version rc count
    for version in 1 2; do
        rc=0
        tpm2_eventlog --eventlog-version="$version" "$log" >"$tmp/accept.yaml" 2>"$tmp/accept.err" || rc=$?
        count=$(grep -c '^- EventNum:' "$tmp/accept.yaml" || true)
        if [[ $rc != 0 || -s "$tmp/accept.err" || "$count" != "$records" ]]; then
            echo "FAIL: tpm2_eventlog --eventlog-version=$version on the synthetic log: exit $rc," \
                 "$count of $records events, stderr:" >&2
            head -5 "$tmp/accept.err" >&2
            failures=$((failures + 1))
        else
            echo "tpm2_eventlog --eventlog-version=$version accepts the synthetic log: exit 0, $count events, no warnings"
        fi
    done
}

# PCR verdict for one log; sets $verdict, may append to notes and failures.
compare_pcrs() {
    local name="$1" log="$2" tpm2_rc="$3"
    if [[ $tpm2_rc != 0 ]]; then
        verdict="tpm2_eventlog rejects it (exit $tpm2_rc)"
        notes+=("$name: tpm2_eventlog exits $tpm2_rc: $(head -1 "$tmp/tpm2.err")")
        return
    fi
    tpm2_pcrs "$tmp/tpm2.yaml" >"$tmp/tpm2.pcrs"
    our_pcrs "$tmp/ours.json" >"$tmp/ours.pcrs"
    local n
    n=$(wc -l <"$tmp/ours.pcrs")
    if [[ -s "$tmp/ours.pcrs" ]] && cmp -s "$tmp/tpm2.pcrs" "$tmp/ours.pcrs"; then
        verdict="agree ($n values)"
        return
    fi
    as_tpm2_tools_54_replays "$log" "$tmp/as54.bin"
    "$cvmunlock" eventlog replay --eventlog "$tmp/as54.bin" --json >"$tmp/as54.json"
    if ! cmp -s "$tmp/as54.bin" "$log" && cmp -s "$tmp/tpm2.pcrs" <(our_pcrs "$tmp/as54.json"); then
        local pcrs
        pcrs=$(comm -3 "$tmp/tpm2.pcrs" "$tmp/ours.pcrs" | awk '{ print $2 }' | sort -nu | paste -sd, -)
        verdict="differ on PCR $pcrs: tpm2_eventlog quirk (note)"
        notes+=("$name: tpm2_eventlog $tpm2_version extends EV_NO_ACTION records and ignores StartupLocality\
 (tpm2-tools issues #3224 and #3146, fixed after 5.4 by PRs #3230 and #3242); our replay of a copy with those\
 records retyped as EV_POST_CODE reproduces its values exactly. Ours:\
 $(comm -13 "$tmp/tpm2.pcrs" "$tmp/ours.pcrs" | paste -sd ';' -). tpm2_eventlog:\
 $(comm -23 "$tmp/tpm2.pcrs" "$tmp/ours.pcrs" | paste -sd ';' -).")
        return
    fi
    verdict="DISAGREE"
    failures=$((failures + 1))
    echo "FAIL: $name: PCRs differ (< tpm2_eventlog, > cvmunlock):" >&2
    diff "$tmp/tpm2.pcrs" "$tmp/ours.pcrs" >&2 || true
}

tpm2_version=$(tpm2_eventlog --version 2>/dev/null | sed -n 's/.*version="\([^"]*\)".*/\1/p')
synthetic="$tmp/synthetic-$records.bin"
"$make_log" "$synthetic" "$records" >/dev/null
check_acceptance "$synthetic"

logs=()
while IFS= read -r f; do logs+=("$f"); done < <(find "$data_dir" -mindepth 2 -type f | sort)
logs+=("$synthetic")

rows=()
for log in "${logs[@]}"; do
    case "$log" in
        "$synthetic") name="synthetic ($records records)" ;;
        *) name="${log#"$data_dir"/}" ;;
    esac
    ours_rc=0
    "$cvmunlock" eventlog replay --eventlog "$log" --json >"$tmp/ours.json" 2>"$tmp/ours.err" || ours_rc=$?
    tpm2_rc=0
    tpm2_eventlog "$log" >"$tmp/tpm2.yaml" 2>"$tmp/tpm2.err" || tpm2_rc=$?
    if [[ $ours_rc != 0 ]]; then
        # A malformed vector: fine if tpm2_eventlog rejects it too.
        rows+=("| $name | | $(stat -c %s "$log") | rejects it (exit $ours_rc) | exit $tpm2_rc | n/a | not compared |")
        notes+=("$name: cvmunlock exits $ours_rc: $(head -1 "$tmp/ours.err")")
        if [[ $tpm2_rc == 0 ]]; then
            echo "FAIL: $name: cvmunlock rejects a log tpm2_eventlog accepts" >&2
            failures=$((failures + 1))
        fi
        continue
    fi
    if [[ $tpm2_rc == 0 && -s "$tmp/tpm2.err" && "$log" != "$synthetic" ]]; then
        notes+=("$name: tpm2_eventlog warns: $(head -1 "$tmp/tpm2.err")")
    fi
    compare_pcrs "$name" "$log" "$tpm2_rc"
    events=$(awk -F': ' '/"events"/ { gsub(/[ ,]/, "", $2); print $2 }' "$tmp/ours.json")
    ours_ms=$(median_ms "$cvmunlock" eventlog replay --eventlog "$log" --json)
    tpm2_ms="n/a"; ratio="n/a"
    if [[ $tpm2_rc == 0 ]]; then
        tpm2_ms=$(median_ms tpm2_eventlog "$log")
        ratio=$(awk -v a="$tpm2_ms" -v b="$ours_ms" 'BEGIN { if (b > 0 && a + 0 == a) printf "%.1fx", a / b; else print "n/a" }')
    fi
    rows+=("| $name | $events | $(stat -c %s "$log") | $ours_ms | $tpm2_ms | $ratio | $verdict |")
done

if [[ $use_hyperfine == 1 ]]; then
    timer="hyperfine $(hyperfine --version | awk '{ print $2 }')"
else
    timer="a bash loop (EPOCHREALTIME)"
fi
echo
echo "tpm2_eventlog $tpm2_version. Median wall time of $runs runs after one warm-up, timed with $timer," \
     "output to /dev/null. Process start floor (/bin/true): $(median_ms /bin/true) ms."
echo
echo "| Log | Records | Bytes | cvmunlock replay --json (ms) | tpm2_eventlog (ms) | tpm2_eventlog / cvmunlock | Final PCRs |"
echo "|---|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${rows[@]}"
if [[ ${#notes[@]} -gt 0 ]]; then
    echo
    for note in "${notes[@]}"; do echo "- $note"; done
fi
exit $((failures > 0 ? 1 : 0))
