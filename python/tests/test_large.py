"""A large object streams through fixed buffers: memory stays flat."""

import hashlib
import os

import pytest

import dos

SIZE = 256 << 20
CHUNK = 1 << 20


def rss():
    """Resident memory of this process, in bytes."""
    with open('/proc/self/status', encoding='ascii') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    raise AssertionError('no VmRSS')


class Generated:
    """SIZE bytes made on the fly (a random block, repeated with a counter),
    never all in memory."""

    def __init__(self):
        self.block = os.urandom(CHUNK)
        self.left = SIZE
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


@pytest.mark.parametrize('where', ['loose', 'packed'])
def test_large_object_flat_memory(container, where):
    base = rss()
    source = Generated()
    if where == 'loose':
        key = container.add_streamed_object(source)
    else:
        key = container.add_streamed_object_to_pack(source, compress=True)
    assert source.peak - base < 32 << 20
    digest = hashlib.sha256()
    peak = 0
    with container.get_object_stream_and_meta(key) as (stream, meta):
        assert meta.size == SIZE
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
    assert dos.Container(container.get_folder()).get_object_meta(key).size == SIZE
    # The machine is shared: give the disk space back now.
    container.delete_objects([key])
    container.clean_storage()
    container.repack()
