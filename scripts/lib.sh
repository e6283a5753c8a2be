#!/usr/bin/env bash
# Shared helpers for the set-up, test and demo scripts.

# Installs the Debian packages that are missing from scripts/packages/LIST.txt
# for each LIST given (default: every list).
cvm_install_deps() {
    local root=$1 missing=() pkg lists=() list
    shift
    if [ $# -eq 0 ]; then
        lists=("$root"/scripts/packages/*.txt)
    else
        for list in "$@"; do lists+=("$root/scripts/packages/$list.txt"); done
    fi
    while read -r pkg; do
        [ -n "$pkg" ] || continue
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "${lists[@]}" | sort -u)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages: ${missing[*]}; run this script as root to install them" >&2
        return 1
    fi
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Configures and builds one build tree: cvm_build SRC DIR [cmake args...]
cvm_build() {
    local src=$1 dir=$2
    shift 2
    cmake -S "$src" -B "$dir" -G Ninja "$@" >/dev/null
    cmake --build "$dir" -j "$(nproc)"
}
