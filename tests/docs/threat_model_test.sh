#!/usr/bin/env bash
# Every test that docs/threat-model.md names exists in this build tree's
# ctest list, so a renamed or removed test cannot leave a row without proof.
# (That they pass is the rest of the suite's job.)
#   threat_model_test.sh SOURCE_DIR BUILD_DIR
set -u
doc=$1/docs/threat-model.md build=$2
names=$(grep -oE '`[A-Za-z0-9_/]+\.[A-Za-z0-9_/]+`|`(e2e|image)_[a-z0-9_]+`|`initramfs_tools_hook`' "$doc" | tr -d '`' | sort -u)
[[ -n $names ]] || { echo "FAIL: no test named in $doc"; exit 1; }
listed=$(ctest --test-dir "$build" -N | sed -n 's/.*Test *#[0-9]*: //p')
missing=0
while read -r name; do
	grep -qxF "$name" <<<"$listed" || { echo "FAIL: $doc names $name, which ctest does not list"; missing=1; }
done <<<"$names"
# Every table row names at least one test.
rows=$(grep -cE '^\| [^-].*\|$' "$doc")
bare=$(grep -E '^\| [^-].*\|$' "$doc" | grep -vE '^\| (attack|risk) ' | grep -vcE '`([A-Za-z0-9_/]+\.[A-Za-z0-9_/]+|(e2e|image)_[a-z0-9_]+)`')
((bare == 0)) || { echo "FAIL: $bare table rows name no test"; missing=1; }
((missing == 0)) && echo "ok: $(wc -l <<<"$names") tests named in $rows table lines all exist"
exit "$missing"
