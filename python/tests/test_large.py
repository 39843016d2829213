"""A large object streams through fixed buffers: memory stays flat.

The 1 GiB objects run with DOS_TEST_LARGE=1 (make python-test leaves
them out: a minute or more on this machine)."""

import hashlib
import os

import pytest

import dos

CHUNK = 1 << 20
SIZES = [256 << 20, pytest.param(1 << 30, marks=pytest.mark.large, id='1GiB')]


def rss():
    """Resident memory of this process, in bytes."""
    with open('/proc/self/status', encoding='ascii') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    raise AssertionError('no VmRSS')


class Generated:
    """size bytes made on the fly (a random block, repeated with a counter),
    never all in memory."""

    def __init__(self, size):
        self.block = os.urandom(CHUNK)
        self.left = size
        self.count = 0
        self.peak = 0

    def read(self, size=-1):
        self.peak = max(self.peak, rss())
        if self.left == 0:
            return b''
        n = min(CHUNK, self.left, size if size > 0 else CHUNK)
        self.left -= n
        self.count += 1
        return (self.count.to_bytes(8, 'little') + self.block)[:n]


@pytest.mark.parametrize('size', SIZES)
@pytest.mark.parametrize('where', ['loose', 'packed'])
def test_large_object_flat_memory(container, where, size):
    base = rss()
    source = Generated(size)
    if where == 'loose':
        key = container.add_streamed_object(source)
    else:
        key = container.add_streamed_object_to_pack(source, compress=True)
    assert source.peak - base < 32 << 20
    digest = hashlib.sha256()
    peak = 0
    with container.get_object_stream_and_meta(key) as (stream, meta):
        assert meta.size == size
        buf = bytearray(CHUNK)
        while True:
            n = stream.readinto(buf)
            if n == 0:
                break
            digest.update(memoryview(buf)[:n])
            peak = max(peak, rss())
        # A seek backward near the end starts again without holding the object.
        stream.seek(-10, 2)
        assert len(stream.read()) == 10
        peak = max(peak, rss())
    assert digest.hexdigest() == key
    assert peak - base < 32 << 20, f'{(peak - base) >> 20} MiB above the start'
    assert dos.Container(container.get_folder()).get_object_meta(key).size == size
    # The machine is shared: give the disk space back now.
    container.delete_objects([key])
    container.clean_storage()
    container.repack()
