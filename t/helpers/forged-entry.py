#!/usr/bin/env python3
"""forged-entry.py PACK SIZE: write pack PACK with one entry whose raw and
stored sizes are SIZE, and print its id.

The entry is made to look valid to a reader that fetches only
(SIZE + 64) mod 2**64 bytes of it, as dos once did when SIZE made that sum
wrap below 64: the header bytes it does not fetch are 0xbe, the bytes
AddressSanitizer fills new memory with, and the header CRC-32 is forced
(by choosing four bytes of the id) to match them.  Used by
t/5500-hostile.bats to keep that over-read from coming back.
"""
import struct
import sys
import zlib

POLY = 0x104C11DB7


def rev(x):
    return int(f'{x:032b}'[::-1], 2)


def mul(x, y):
    """Product of two polynomials over GF(2), modulo the CRC-32 one."""
    z = 0
    while y:
        if y & 1:
            z ^= x
        y >>= 1
        x <<= 1
        if x >> 32:
            x ^= POLY
    return z


def power(x, y):
    z = 1
    while y:
        if y & 1:
            z = mul(z, x)
        x = mul(x, x)
        y >>= 1
    return z


def divmod2(x, y):
    q, dy = 0, y.bit_length() - 1
    for i in range(x.bit_length() - 1 - dy, -1, -1):
        if x >> (i + dy) & 1:
            x ^= y << i
            q |= 1 << i
    return q, x


def inverse(x):
    a, b, y, x = 0, 1, x, POLY
    while y:
        q, r = divmod2(x, y)
        a, b, x, y = b, a ^ mul(q, b), y, r
    return a


def force_crc(buf, at, crc):
    """Change buf[at:at + 4] so that the CRC-32 of buf is crc."""
    delta = rev(zlib.crc32(buf)) ^ rev(crc)
    delta = mul(inverse(power(2, (len(buf) - at) * 8)), delta)
    for i, b in enumerate(rev(delta).to_bytes(4, 'little')):
        buf[at + i] ^= b


path, size = sys.argv[1], int(sys.argv[2])
hdr = bytearray(b'DOSe\0\0\x40\0' + struct.pack('<QQ', size, size) +
                b'\0' * 30 + b'\xbe' * 6)
force_crc(hdr, 24, 0xbebebebe)
with open(path, 'wb') as f:
    f.write(b'DOSPACK\0' + struct.pack('<II', 1, 0) + hdr + b'\xbe' * 4 +
            b'abc')
print(hdr[24:56].hex())
