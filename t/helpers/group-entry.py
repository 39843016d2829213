#!/usr/bin/env python3
"""group-entry.py [--flip-id K] [--grow-size K] FILE...: write to stdout a
pack entry of format 2 that is a group of the files, in order (zlib, no
dictionary; dos-container(5), "Group entries").

With --flip-id K the first id byte of member K in the group's table is
flipped, with --grow-size K the size of member K is one more than it is:
damage a check of the entry's checksum cannot see, as the checksum is
computed over the damaged bytes.  Used by t/3050-fsck-group.bats, which
cannot make such damage through a dos that writes groups right.
"""
import hashlib
import sys
import zlib


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def main(argv):
    flip = grow = None
    while argv and argv[0].startswith('--'):
        if argv[0] == '--flip-id':
            flip = int(argv[1])
        elif argv[0] == '--grow-size':
            grow = int(argv[1])
        else:
            sys.exit(f'group-entry.py: unknown option {argv[0]}')
        argv = argv[2:]
    members = [open(path, 'rb').read() for path in argv]
    sizes = [len(m) + (1 if i == grow else 0) for i, m in enumerate(members)]
    ids = [bytearray(hashlib.sha256(m).digest()[:8]) for m in members]
    if flip is not None:
        ids[flip][0] ^= 0xFF
    raw = (varint(len(members)) + b''.join(varint(s) for s in sizes) +
           b''.join(ids) + b''.join(members))
    stored = zlib.compress(raw, 9)
    # Tag: group (0xE0), codec zlib (1); then the sizes; no id bytes.
    header = bytes([0xE0 | 1]) + varint(len(raw)) + varint(len(stored))
    check = zlib.crc32(header + stored)
    sys.stdout.buffer.write(header + check.to_bytes(4, 'little') + stored)


main(sys.argv[1:])
