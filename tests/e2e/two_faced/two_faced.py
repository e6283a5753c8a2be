# nbdkit python plugin: a disk that answers two reads of its LUKS2 header
# differently, as a hostile host can. It serves `disk` (reads and writes), but
# the first 2 * hdr_size bytes (both header copies) come from one of two
# faces: the genuine header, or the same header whose segment uses
# cipher_null-ecb (same keyslots and digest, valid checksums: stock
# cryptsetup activates it, mapping the disk's ciphertext as "plaintext").
#
#   nbdkit -U SOCK python two_faced.py disk=IMG schedule=S1|S2 log=FILE
#
# The face switches once:
#   S1  genuine until a read touches the keyslot area of the keyslot the
#       cvmunlock token names, then cipher_null: whoever checks the header
#       and unseals sees the genuine one; a second reader of the header, the
#       one that would use the key, gets the other (check, then use).
#   S2  cipher_null until one read covers the whole JSON area of the
#       secondary header copy, as a LUKS2 loader's does (udev's probes read
#       a few KiB at a time), then genuine: the first loader gets the lie,
#       whoever checks afterwards sees the genuine header (use, then check).
# Every read is logged with the face it got ("read OFFSET LENGTH FACE header",
# or "read OFFSET LENGTH - rest" past the headers), and the switch as
# "switch FROM->TO after read OFFSET LENGTH".
import builtins
import hashlib
import json
import os
import struct

import nbdkit

API_VERSION = 2

BINARY_HEADER = 4096  # LUKS2 spec 2.1: binary header, then the JSON area
CSUM_OFFSET, CSUM_SIZE = 448, 64
HDR_SIZE_OFFSET = 8
SCHEDULES = {"S1": ("genuine", "null"), "S2": ("null", "genuine")}

cfg = {}
state = {}


def config(key, value):
    cfg[key] = value


def thread_model():
    return nbdkit.THREAD_MODEL_SERIALIZE_ALL_REQUESTS


def _copy_with_json(copy, meta, hdr_size):
    """One header copy (binary header + JSON area) with META as its JSON, checksum recomputed."""
    text = json.dumps(meta, separators=(",", ":")).encode()
    area = hdr_size - BINARY_HEADER
    if len(text) >= area:
        raise RuntimeError("the cipher_null JSON does not fit the JSON area")
    out = bytearray(copy[:BINARY_HEADER]) + text + bytes(area - len(text))
    out[CSUM_OFFSET:CSUM_OFFSET + CSUM_SIZE] = bytes(CSUM_SIZE)
    out[CSUM_OFFSET:CSUM_OFFSET + 32] = hashlib.sha256(out).digest()
    return bytes(out)


def config_complete():
    disk = cfg["disk"]
    schedule = cfg.get("schedule", "S1")
    if schedule not in SCHEDULES:
        raise RuntimeError("schedule must be S1 or S2")
    with builtins.open(disk, "rb") as f:
        head = f.read(BINARY_HEADER)
        (hdr_size,) = struct.unpack(">Q", head[HDR_SIZE_OFFSET:HDR_SIZE_OFFSET + 8])
        f.seek(0)
        genuine = f.read(2 * hdr_size)
    meta = json.loads(genuine[BINARY_HEADER:hdr_size].split(b"\0", 1)[0])
    token = next(t for t in meta["tokens"].values() if t.get("type") == "cvmunlock")
    area = meta["keyslots"][token["keyslots"][0]]["area"]
    null_meta = json.loads(json.dumps(meta))
    null_meta["segments"]["0"]["encryption"] = "cipher_null-ecb"
    null_face = b"".join(_copy_with_json(genuine[i * hdr_size:(i + 1) * hdr_size], null_meta, hdr_size)
                         for i in range(2))
    state.update(
        fd=os.open(disk, os.O_RDWR),
        size=os.path.getsize(disk),
        header_len=2 * hdr_size,
        faces={"genuine": genuine, "null": null_face},
        order=SCHEDULES[schedule],
        face=SCHEDULES[schedule][0],
        # The byte range whose reading switches the face: S1 when a read
        # touches it, S2 when one read covers all of it.
        trigger=((int(area["offset"]), int(area["offset"]) + int(area["size"])) if schedule == "S1"
                 else (hdr_size + BINARY_HEADER, 2 * hdr_size)),
        cover=schedule == "S2",
        log=builtins.open(cfg["log"], "a", buffering=1),
    )
    what = "a read touches the keyslot area" if schedule == "S1" else "a read covers the secondary JSON area"
    state["log"].write(f"schedule {schedule}: {state['order'][0]} until {what} "
                       f"({state['trigger'][0]}..{state['trigger'][1]}), then {state['order'][1]}\n")


def open(readonly):  # noqa: A001 - nbdkit's name
    return {}


def get_size(h):
    return state["size"]


def can_write(h):
    return True


def can_flush(h):
    return True


def pread(h, buf, offset, flags):
    n = len(buf)
    data = bytearray(os.pread(state["fd"], n, offset))
    if len(data) != n:
        raise RuntimeError("short read")
    end = offset + n
    header = offset < state["header_len"]
    if header:
        face = state["faces"][state["face"]]
        stop = min(end, state["header_len"])
        data[0:stop - offset] = face[offset:stop]
    buf[:] = data
    state["log"].write(f"read {offset} {n} {state['face'] if header else '-'} {'header' if header else 'rest'}\n")
    lo, hi = state["trigger"]
    hit = offset <= lo and end >= hi if state["cover"] else offset < hi and end > lo
    if state["face"] == state["order"][0] and hit:
        state["face"] = state["order"][1]
        state["log"].write(f"switch {state['order'][0]}->{state['order'][1]} after read {offset} {n}\n")


def pwrite(h, buf, offset, flags):
    if offset < state["header_len"]:
        state["log"].write(f"write {offset} {len(buf)} header\n")
    os.pwrite(state["fd"], buf, offset)


def flush(h, flags):
    os.fsync(state["fd"])
