#!/usr/bin/python3
"""Summarises one bench/boot guest run: medians, min/max and same-iteration
ratios of the unlock paths, and the TPM commands each path sent (read from
the swtpm log between the guest's BENCH-COUNT markers). Prints a table,
writes JSON."""

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

PATHS = {
    "a": "cryptsetup open --disable-external-tokens --key-file (activation only)",
    "b": "systemd-cryptsetup + systemd-tpm2 token",
    "c": "systemd-cryptsetup + cvmunlock token",
    "d": "cvmunlock unlock",
    "e": "systemd-cryptsetup + cvmunlock token, --snp require (azure-hcl)",
}
MODES = ("transient", "persistent")

# TPM 2.0 Library Part 2, table 12 (TPM_CC), the commands an unlock can send.
COMMANDS = {
    0x11F: "NV_UndefineSpaceSpecial", 0x120: "EvictControl", 0x122: "NV_UndefineSpace",
    0x12A: "NV_DefineSpace", 0x131: "CreatePrimary", 0x137: "NV_Write", 0x13C: "PCR_Event",
    0x144: "Startup", 0x145: "Shutdown", 0x146: "StirRandom", 0x147: "ActivateCredential",
    0x148: "Certify", 0x149: "PolicyNV", 0x14E: "NV_Read", 0x151: "PolicySecret",
    0x153: "Create", 0x157: "Load", 0x158: "Quote", 0x15D: "Sign", 0x15E: "Unseal",
    0x160: "PolicySigned", 0x161: "ContextLoad", 0x162: "ContextSave", 0x165: "FlushContext",
    0x167: "LoadExternal", 0x169: "NV_ReadPublic", 0x16A: "PolicyAuthorize",
    0x16B: "PolicyAuthValue", 0x16C: "PolicyCommandCode", 0x171: "PolicyOR",
    0x173: "ReadPublic", 0x176: "StartAuthSession", 0x177: "VerifySignature",
    0x17A: "GetCapability", 0x17B: "GetRandom", 0x17D: "Hash", 0x17E: "PCR_Read",
    0x17F: "PolicyPCR", 0x180: "PolicyRestart", 0x182: "PCR_Extend", 0x189: "PolicyGetDigest",
    0x18A: "TestParms", 0x18C: "PolicyPassword", 0x191: "CreateLoaded",
    0x192: "PolicyAuthorizeNV",
}
# Commands the kernel's resource manager (/dev/tpmrm0) adds around a client's.
RESOURCE_MANAGER = {"ContextLoad", "ContextSave"}


def command_names(log_text):
    """The command of every SWTPM_IO_Read (a command the TPM received)."""
    names = []
    lines = log_text.splitlines()
    for i, line in enumerate(lines):
        if "SWTPM_IO_Read:" not in line or i + 1 >= len(lines):
            continue
        octets = lines[i + 1].split()
        if len(octets) < 10:
            continue
        code = int("".join(octets[6:10]), 16)
        names.append(COMMANDS.get(code, f"0x{code:08x}"))
    return names


def compact(names):
    """ContextLoad ContextLoad Load -> "ContextLoad x2, Load"."""
    out = []
    for name in names:
        if out and out[-1][0] == name:
            out[-1][1] += 1
        else:
            out.append([name, 1])
    return ", ".join(n if k == 1 else f"{n} x{k}" for n, k in out)


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--console", required=True)
    ap.add_argument("--counts", required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--json", required=True)
    args = ap.parse_args()

    times = {m: {p: {} for p in PATHS} for m in MODES}
    pattern = re.compile(r"^BENCH-RUN (\w+) (\d+) ([a-e]) ([0-9.]+)$")
    for line in Path(args.console).read_text(errors="replace").splitlines():
        m = pattern.match(line.strip())
        if m and m.group(1) in times:
            times[m.group(1)][m.group(3)][int(m.group(2))] = float(m.group(4))

    result = {"runs": args.runs, "paths": PATHS, "modes": {}}
    problems = []
    for mode in MODES:
        entry = {"paths": {}, "ratios_to_b": {}}
        for p in PATHS:
            runs = times[mode][p]
            if len(runs) != args.runs:
                problems.append(f"{mode} {p}: {len(runs)} runs, expected {args.runs}")
                continue
            log_file = Path(args.counts) / f"{p}-{mode}.log"
            names = command_names(log_file.read_text(errors="replace")) if log_file.exists() else []
            if p != "a" and not names:
                problems.append(f"{mode} {p}: no TPM command in {log_file}")
            client = [n for n in names if n not in RESOURCE_MANAGER]
            entry["paths"][p] = {
                "ms": summary(list(runs.values())),
                "ms_runs": [runs[i] for i in sorted(runs)],
                "tpm_commands": len(names),
                "tpm_commands_without_context_ops": len(client),
                "create_primary": names.count("CreatePrimary"),
                "tpm_command_list": names,
            }
        if "b" in entry["paths"]:
            b = times[mode]["b"]
            for p in PATHS:
                if p == "b" or p not in entry["paths"]:
                    continue
                ratios = [times[mode][p][i] / b[i] for i in sorted(b) if i in times[mode][p] and b[i] > 0]
                entry["ratios_to_b"][p] = summary(ratios) | {"runs": ratios}
        result["modes"][mode] = entry

    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    for mode in MODES:
        entry = result["modes"][mode]
        print(f"SRK {mode}, {args.runs} runs per path (ms; ratio = run / run of (b) in the same iteration)")
        print(f"{'path':<5} {'median':>8} {'min':>8} {'max':>8} {'ratio med':>9} {'ratio min':>9} {'ratio max':>9}"
              f" {'TPM cmds':>8} {'w/o ctx':>7} {'CreatePrimary':>13}")
        for p, info in entry["paths"].items():
            r = entry["ratios_to_b"].get(p)
            rs = f"{r['median']:>9.3f} {r['min']:>9.3f} {r['max']:>9.3f}" if r else f"{'1':>9} {'':>9} {'':>9}"
            ms = info["ms"]
            print(f"({p})   {ms['median']:>8.1f} {ms['min']:>8.1f} {ms['max']:>8.1f} {rs} {info['tpm_commands']:>8}"
                  f" {info['tpm_commands_without_context_ops']:>7} {info['create_primary']:>13}")
        print()
    for p, text in PATHS.items():
        print(f"({p}) {text}")
    print()
    print("TPM commands at the swtpm, one unlock (through the kernel's resource manager, /dev/tpmrm0;")
    print("without ContextLoad/ContextSave: the commands the client sent, and the manager's FlushContext):")
    for mode in MODES:
        for p, info in result["modes"][mode]["paths"].items():
            client = [n for n in info["tpm_command_list"] if n not in RESOURCE_MANAGER]
            print(f"  ({p}) {mode}: {len(client)}: {compact(client) or '-'}")
    if problems:
        for problem in problems:
            print(f"report.py: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
