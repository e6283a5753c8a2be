#!/usr/bin/env bash
# The bash completion (completion/cvmunlock.bash) against the built binary:
# commands and options come from its --help, values from the script.
# usage: completion_test.sh SOURCE_DIR CVMUNLOCK_BINARY
set -uo pipefail
src=$1 bin=$2
if [ ! -r /usr/share/bash-completion/bash_completion ]; then
	echo "SKIP: bash-completion is not installed"
	exit 77
fi
PATH=$(dirname "$bin"):$PATH
# shellcheck disable=SC1091
. /usr/share/bash-completion/bash_completion
# shellcheck source=../../completion/cvmunlock.bash
. "$src/completion/cvmunlock.bash"

failures=0
# complete LINE: the candidates for the last word of LINE (a trailing space: a new word).
complete_line() {
	local line=$1
	read -r -a COMP_WORDS <<<"$line"
	[[ $line == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE=$line
	COMP_POINT=${#line}
	COMPREPLY=()
	_cvmunlock cvmunlock "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	printf '%s\n' "${COMPREPLY[@]}" | sort -u
}
expect() {  # expect LINE WORD...: every WORD is a candidate
	local line=$1 got w
	shift
	got=$(complete_line "$line")
	for w in "$@"; do
		grep -qxF -- "$w" <<<"$got" || { echo "FAIL: '$line' does not offer '$w' (offers: $(tr '\n' ' ' <<<"$got"))"; failures=$((failures + 1)); }
	done
}
refuse() {  # refuse LINE WORD...: no WORD is a candidate
	local line=$1 got w
	shift
	got=$(complete_line "$line")
	for w in "$@"; do
		grep -qxF -- "$w" <<<"$got" && { echo "FAIL: '$line' offers '$w'"; failures=$((failures + 1)); }
	done
}

expect "cvmunlock " enroll unlock lock status wipe eventlog snp agent
expect "cvmunlock un" unlock
refuse "cvmunlock un" enroll
expect "cvmunlock eventlog " show replay verify
expect "cvmunlock snp v" verify
expect "cvmunlock unlock --" --test --tpm --json --pin-file --tpm-timeout --allow-discards
expect "cvmunlock enroll disk.img --pcr" --pcrs --pcr-bank --pcr-value
expect "cvmunlock eventlog verify --" --eventlog --tpm --expected --pcr-bank
refuse "cvmunlock eventlog verify --" --log --bank
expect "cvmunlock enroll disk.img --pcr-bank " sha256 sha384
expect "cvmunlock unlock disk.img --tpm " device:/dev/tpmrm0
expect "cvmunlock enroll disk.img --snp-evidence " auto azure-hcl
expect "cvmunlock enroll disk.img --wipe-slot " all empty password recovery cvmunlock
# Every option of every command's --help is offered (nothing listed by hand can fall behind).
for cmd in enroll unlock lock status wipe "eventlog show" "eventlog replay" "eventlog verify" \
	"snp check" "snp verify" "snp report" "agent check"; do
	# shellcheck disable=SC2086
	mapfile -t opts < <("$bin" $cmd --help | grep -oE '^  (-[a-z],)?--[a-z0-9_-]+' | sed -E 's/^  (-[a-z],)?//')
	[ ${#opts[@]} -gt 1 ] || { echo "FAIL: no options parsed from '$cmd --help'"; failures=$((failures + 1)); }
	expect "cvmunlock $cmd --" "${opts[@]}"
done

if [ "$failures" -ne 0 ]; then
	echo "$failures completion failure(s)"
	exit 1
fi
echo "completion: all checks passed"
