#!/usr/bin/env bash
# Each man page renders with man(1) without a groff warning, and has the
# sections a man page needs.
set -euo pipefail
status=0
for page in "$@"; do
	err=$(mktemp)
	if ! text=$(MANWIDTH=100 man --warnings -E UTF-8 -l "$page" 2>"$err"); then
		echo "FAIL: man -l $page failed: $(cat "$err")"
		status=1
	elif [ -s "$err" ]; then
		echo "FAIL: man -l $page warns:"; cat "$err"
		status=1
	fi
	rm -f "$err"
	for section in NAME DESCRIPTION "SEE ALSO"; do
		[ "$section" = DESCRIPTION ] && grep -q '^SYNOPSIS' <<<"$text" && continue
		grep -q "^$section" <<<"$text" || { echo "FAIL: $page has no $section section"; status=1; }
	done
	echo "$(basename "$page"): $(wc -l <<<"$text") lines"
done
exit $status
