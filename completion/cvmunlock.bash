# bash completion for cvmunlock(8)
# Commands and options come from the binary's own --help, so this file never
# lists them and cannot fall behind; values are completed here.

# The subcommands, or the options, that `cvmunlock WORDS... --help` lists.
_cvmunlock_help_words() {
    local kind=$1 line section=
    shift
    while IFS= read -r line; do
        case $line in
            Subcommands:*) section=commands; continue ;;
            Positionals:*|"") section=; continue ;;
            [A-Za-z]*:) section=options; continue ;;  # Options: and the option groups
        esac
        if [[ $kind == commands && $section == commands && $line =~ ^\ \ ([a-z][a-z0-9-]*) ]]; then
            printf '%s\n' "${BASH_REMATCH[1]}"
        elif [[ $kind == options && $section == options && $line =~ ^\ \ (-[^ ]+) ]]; then
            local names=${BASH_REMATCH[1]} name
            for name in ${names//,/ }; do
                [[ $name == --* ]] && printf '%s\n' "$name"
            done
        fi
    done < <(LC_ALL=C "$@" --help 2>/dev/null)
}

_cvmunlock() {
    local cur prev words cword
    _init_completion -n = || return

    # The command path typed so far: cvmunlock [group] [command].
    local cmd=("${words[0]}") i sub
    for ((i = 1; i < cword; i++)); do
        [[ ${words[i]} == -* ]] && continue
        sub=$(_cvmunlock_help_words commands "${cmd[@]}")
        [[ -n $sub ]] || break
        grep -qx -- "${words[i]}" <<<"$sub" || break
        cmd+=("${words[i]}")
    done

    case $prev in
        --tpm)
            COMPREPLY=($(compgen -W "device:/dev/tpmrm0 device:/dev/tpm0 swtpm:host=127.0.0.1,port=2321 mssim:host=127.0.0.1,port=2321" -- "$cur"))
            compopt -o nospace 2>/dev/null
            return ;;
        --pcr-bank) COMPREPLY=($(compgen -W "sha256 sha384" -- "$cur")); return ;;
        --efi-variable) COMPREPLY=($(compgen -W "db dbx KEK PK" -- "$cur")); return ;;
        --snp) COMPREPLY=($(compgen -W "require off" -- "$cur")); return ;;
        --snp-evidence) COMPREPLY=($(compgen -W "auto sev-guest tsm azure-hcl" -- "$cur")); return ;;
        --smt|--single-socket) COMPREPLY=($(compgen -W "on off" -- "$cur")); return ;;
        --lock-pcr) COMPREPLY=($(compgen -W "15 none" -- "$cur")); return ;;
        --pcrs) COMPREPLY=($(compgen -W "7 0,7 0,2,4,7 none" -- "$cur")); return ;;
        --wipe-slot)
            COMPREPLY=($(compgen -W "all empty password recovery cvmunlock tpm2 fido2 pkcs11" -- "${cur##*,}"))
            return ;;
        --snp-anchors|--state-dir) _filedir -d; return ;;
        --eventlog|--from-eventlog|--unlock-key-file|--pin-file|--report|--certs|--vcek|--expected|--kernel|--update)
            _filedir; return ;;
        --tpm-timeout|--tpm-command-timeout|--token|--pcr-value|--at|--min-tcb|--measurement|--max-vmpl|\
        --host-data|--id-key-digest|--author-key-digest|--nv-index)
            return ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_cvmunlock_help_words options "${cmd[@]}")" -- "$cur"))
        return
    fi
    sub=$(_cvmunlock_help_words commands "${cmd[@]}")
    if [[ -n $sub ]]; then
        COMPREPLY=($(compgen -W "$sub" -- "$cur"))
        return
    fi
    # A command's positional argument: a LUKS2 device or image, or a report file.
    case ${cmd[*]:1} in
        enroll|unlock|status|wipe|update-policy)
            COMPREPLY=($(compgen -W "$(ls /dev/disk/by-uuid/* /dev/mapper/* 2>/dev/null)" -- "$cur"))
            _filedir
            ;;
        *) _filedir ;;
    esac
} &&
    complete -F _cvmunlock cvmunlock
