#!/usr/bin/python3
"""Reads one UEFI variable's content from an OVMF variable store file.

usage: varstore.py VARS_FD NAME GUID OUT

The store (EDK2's layout): a firmware volume header (its length at offset
0x30), the variable store header (28 bytes), then variables one after another,
each 4-byte aligned: an authenticated variable header (StartId 0x55AA, State,
reserved, Attributes, MonotonicCount, TimeStamp, PubKeyIndex, NameSize,
DataSize, VendorGuid; 60 bytes), the CHAR16 name and the data. The live record
of NAME/GUID (State VAR_ADDED, or VAR_ADDED in deleted transition) is written
to OUT; none: exit 1.
"""
import struct
import sys
import uuid

VAR_HEADER = struct.Struct("<HBBIQ16sIII16s")
VAR_ADDED = 0x3F
VAR_IN_DELETED_TRANSITION = 0xFE


def main():
    path, name, guid, out = sys.argv[1:5]
    store = open(path, "rb").read()
    fv_header_length = struct.unpack_from("<H", store, 0x30)[0]
    store_size = struct.unpack_from("<I", store, fv_header_length + 16)[0]
    end = min(len(store), fv_header_length + store_size)
    want_name = (name + "\0").encode("utf-16-le")
    want_guid = uuid.UUID(guid).bytes_le
    offset = fv_header_length + 28
    found = None
    while offset + VAR_HEADER.size <= end:
        start_id, state, _, _, _, _, _, name_size, data_size, vendor = VAR_HEADER.unpack_from(store, offset)
        if start_id != 0x55AA:
            break
        at = offset + VAR_HEADER.size
        var_name = store[at:at + name_size]
        data = store[at + name_size:at + name_size + data_size]
        live = state in (VAR_ADDED, VAR_ADDED & VAR_IN_DELETED_TRANSITION)
        if live and var_name == want_name and vendor == want_guid:
            found = data
        offset = (at + name_size + data_size + 3) & ~3
    if found is None:
        sys.exit(f"varstore.py: {path} holds no live variable {name}-{guid}")
    with open(out, "wb") as f:
        f.write(found)


if __name__ == "__main__":
    main()
