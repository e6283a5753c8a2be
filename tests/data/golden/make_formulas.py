#!/usr/bin/env python3
"""Writes formulas.json: inputs and the expected bytes of what cvmunlock seals
or stores, computed here from the formulas in docs/token-format.md (TPM 2.0
Part 3 for the policy digests), independently of the C++ code that
tests/core/golden_formulas_test.cpp checks against them.

Run once when a format is added; never to make a failing golden test pass."""
import base64
import hashlib
import json
import struct
import sys

SHA256 = 0x000B
CC_POLICY_PCR = 0x0000017F
CC_POLICY_AUTH_VALUE = 0x0000016B


def h(*parts):
    return hashlib.sha256(b"".join(parts)).digest()


def volume_key_pin(uuid, vk, requirements=b""):
    data = b"cvmunlock volume-key pin v1\0" + uuid.encode() + b"\0" + vk
    if requirements:
        data += b"\0" + requirements
    return h(data)


def requirements_auth(base, requirements):
    if not requirements:
        return base
    return h(b"cvmunlock requirements auth v1\0", base, b"\0", requirements)


def pcr_selection(bank, pcrs):
    bitmap = bytearray(3)
    for p in pcrs:
        bitmap[p // 8] |= 1 << (p % 8)
    return struct.pack(">IHB", 1, bank, 3) + bytes(bitmap)


def policy_pcr(old, bank, values):
    pcrs = sorted(values)
    return h(old, struct.pack(">I", CC_POLICY_PCR), pcr_selection(bank, pcrs), h(*(values[p] for p in pcrs)))


def policy_auth_value(old):
    return h(old, struct.pack(">I", CC_POLICY_AUTH_VALUE))


def main(out):
    uuid = "601de2e0-0000-4000-8000-000000000001"
    vk = bytes(range(64))
    snp = {"evidence": "azure-hcl", "policy": {"max_vmpl": 0, "min_tcb": {"bootloader": 3, "microcode": 115, "snp": 8, "tee": 0}}}
    requirements = json.dumps(snp, sort_keys=True, separators=(",", ":")).encode()
    pin, salt, iterations = b"1234", bytes(range(16)), 1000
    base = hashlib.pbkdf2_hmac("sha256", pin, salt, iterations, 32)
    secret = bytes(range(100, 132))
    pcr7 = bytes.fromhex("0a" * 32)
    lock = bytes(32)
    pcr_only = policy_pcr(bytes(32), SHA256, {7: pcr7, 15: lock})
    vectors = {
        "inputs": {
            "uuid": uuid, "volume_key": vk.hex(), "snp": snp, "pin": pin.decode(), "pin_salt": salt.hex(),
            "pin_iterations": iterations, "secret": secret.hex(), "pcr_values": {"7": pcr7.hex(), "15": lock.hex()},
        },
        "requirements": requirements.decode(),
        "volume_key_pin": volume_key_pin(uuid, vk).hex(),
        "volume_key_pin_with_requirements": volume_key_pin(uuid, vk, requirements).hex(),
        "pin_auth_value": base.hex(),
        "requirements_auth_value_no_pin": requirements_auth(b"", requirements).hex(),
        "requirements_auth_value_pin": requirements_auth(base, requirements).hex(),
        "passphrase": base64.b64encode(secret).decode(),
        "policy_pcr_7_15": pcr_only.hex(),
        "policy_pcr_7_15_auth_value": policy_auth_value(pcr_only).hex(),
    }
    with open(out, "w") as f:
        json.dump(vectors, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "formulas.json")
