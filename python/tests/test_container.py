"""Every method of dos.Container, with the legacy API's names, defaults,
return types and exceptions."""

import dataclasses
import hashlib
import io
import os
import threading

import pytest

import dos
from dos import CompressMode, ObjectType
from dos.dataclasses import ObjectCount, ObjectMeta, TotalSize, ValidationIssues


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Opener:
    """A LazyOpener-like context manager for open_streams=True."""

    def __init__(self, data):
        self.data = data
        self.entered = 0

    def __enter__(self):
        self.entered += 1
        return io.BytesIO(self.data)

    def __exit__(self, *exc):
        pass


# ---- the container ------------------------------------------------------

def test_init_and_settings(tmp_path):
    cont = dos.Container(tmp_path / 'c')
    assert cont.get_folder() == (tmp_path / 'c').resolve()
    assert not cont.is_initialised
    with pytest.raises(dos.NotInitialised):
        cont.count_objects()
    with pytest.raises(dos.NotInitialised):
        _ = cont.container_id
    cont.init_container(pack_size_target=1 << 20, loose_prefix_len=3, compression_algorithm='zlib+9')
    assert cont.is_initialised
    assert cont.loose_prefix_len == 3
    assert cont.pack_size_target == 1 << 20
    assert cont.hash_type == 'sha256'
    assert cont.compression_algorithm == 'zlib+9'
    assert len(cont.container_id) == 32
    with pytest.raises(FileExistsError):
        cont.init_container()
    old_id = cont.container_id
    cont.add_object(b'x')
    cont.init_container(clear=True)
    assert cont.container_id != old_id
    assert cont.count_objects().loose == 0
    assert cont.compression_algorithm == 'zlib+1'


def test_init_non_empty_folder(tmp_path):
    (tmp_path / 'c').mkdir()
    (tmp_path / 'c' / 'file').write_text('x')
    with pytest.raises(FileExistsError):
        dos.Container(tmp_path / 'c').init_container()


@pytest.mark.parametrize('hash_type', ['sha1', 'md5'])
def test_init_hash_type(tmp_path, hash_type):
    with pytest.raises(ValueError, match='SHA-256 only'):
        dos.Container(tmp_path / 'c').init_container(hash_type=hash_type)


@pytest.mark.parametrize('algorithm', ['gzip', 'zlib', 'zlib+a', 'zlib+-1', 'zlib+10', 'zlib+0', 'unknown-method'])
def test_init_bad_compression(tmp_path, algorithm):
    with pytest.raises(ValueError):
        dos.Container(tmp_path / 'c').init_container(compression_algorithm=algorithm)


@pytest.mark.parametrize('algorithm,shown', [('zstd', 'zstd'), ('zstd:19', 'zstd:19'), ('zlib:6', 'zlib+6'), ('none', 'none')])
def test_init_dos_compression(tmp_path, algorithm, shown):
    cont = dos.Container(tmp_path / 'c')
    cont.init_container(compression_algorithm=algorithm)
    assert cont.compression_algorithm == shown
    key = cont.add_objects_to_pack([b'abc' * 1000], compress=True)[0]
    assert cont.get_object_content(key) == b'abc' * 1000


@pytest.mark.parametrize('value', [{'loose_prefix_len': -1}, {'pack_size_target': 0}, {'loose_prefix_len': 9}])
def test_init_bad_values(tmp_path, value):
    with pytest.raises(ValueError):
        dos.Container(tmp_path / 'c').init_container(**value)


def test_context_manager_and_close(tmp_path):
    with dos.Container(tmp_path / 'c') as cont:
        cont.init_container()
        key = cont.add_object(b'data')
    # Closed: used again, it reopens.
    assert cont.get_object_content(key) == b'data'
    cont.close()
    cont.close()


# ---- writing and reading ----------------------------------------------------

def test_add_object_and_read(container):
    key = container.add_object(b'hello')
    assert key == sha(b'hello')
    assert container.get_object_content(key) == b'hello'
    assert container.add_streamed_object(io.BytesIO(b'hello')) == key
    stream = io.BytesIO(b'skipped:rest')
    stream.seek(8)
    assert container.add_streamed_object(stream) == sha(b'rest')
    assert container.add_object(b'') == sha(b'')
    assert container.get_object_content(sha(b'')) == b''


def test_missing_objects(container):
    for key in ['0' * 64, 'nothex', 'ab']:
        with pytest.raises(dos.NotExistent):
            container.get_object_content(key)
        with pytest.raises(dos.NotExistent):
            with container.get_object_stream(key):
                pass
        with pytest.raises(dos.NotExistent):
            container.get_object_meta(key)
        assert not container.has_object(key)


@pytest.mark.parametrize('where', ['loose', 'packed', 'compressed'])
def test_stream_seek_read(container, where):
    data = bytes(range(256)) * 1000
    if where == 'loose':
        key = container.add_object(data)
    else:
        key = container.add_objects_to_pack([data], compress=where == 'compressed')[0]
    with container.get_object_stream(key) as stream:
        assert stream.readable() and stream.seekable() and not stream.writable()
        assert stream.read(10) == data[:10]
        assert stream.tell() == 10
        assert stream.seek(5, 1) == 15
        assert stream.read(5) == data[15:20]
        assert stream.seek(3) == 3
        assert stream.read(4) == data[3:7]
        assert stream.seek(-6, 2) == len(data) - 6
        assert stream.read() == data[-6:]
        assert stream.read() == b''
        assert stream.seek(len(data) + 10) == len(data) + 10
        assert stream.read(3) == b''
        stream.seek(100)
        buf = bytearray(50)
        assert stream.readinto(buf) == 50
        assert bytes(buf) == data[100:150]
        stream.seek(0)
        assert stream.read(-1) == data
        with pytest.raises(ValueError):
            stream.seek(-1)
        with pytest.raises(ValueError):
            stream.seek(0, 3)
    assert stream.closed
    with pytest.raises(ValueError):
        stream.read()


def test_stream_and_meta(container):
    loose = container.add_object(b'loose')
    packed, comp = container.add_objects_to_pack([b'packed', b'z' * 4000], compress=False), None
    comp = container.add_objects_to_pack([b'y' * 4000], compress=True)[0]
    with container.get_object_stream_and_meta(loose) as (stream, meta):
        assert stream.read() == b'loose'
        assert meta == ObjectMeta(ObjectType.LOOSE, 5, None, None, None, None)
    with container.get_object_stream_and_meta(packed[0]) as (stream, meta):
        assert stream.read() == b'packed'
        assert meta.type == ObjectType.PACKED and meta.size == 6
        assert meta.pack_id == 0 and meta.pack_compressed is False
        # After the pack header and the entry header of format 2: a tag,
        # the size, 8 bytes of the id and a checksum.
        assert meta.pack_offset == 16 + 14 and meta.pack_length == 6
        assert meta['size'] == 6
        assert dataclasses.asdict(meta)['pack_id'] == 0
    meta = container.get_object_meta(comp)
    assert meta.pack_compressed is True and meta.pack_length < 4000
    assert container.get_object_meta(loose).type == ObjectType.LOOSE


def test_objects_stream_and_meta(container):
    keys = [container.add_object(b'a'), *container.add_objects_to_pack([b'b', b'c'])]
    missing = 'f' * 64
    with container.get_objects_stream_and_meta(keys + [missing, keys[0]]) as triplets:
        got = {key: (stream.read(), meta.type) for key, stream, meta in triplets}
    assert got == {keys[0]: (b'a', ObjectType.LOOSE), keys[1]: (b'b', ObjectType.PACKED), keys[2]: (b'c', ObjectType.PACKED)}
    with container.get_objects_stream_and_meta(keys + [missing], skip_if_missing=False) as triplets:
        listed = list(triplets)
    assert len(listed) == 4
    assert [m.type for k, s, m in listed if k == missing] == [ObjectType.MISSING]
    assert [s for k, s, m in listed if k == missing] == [None]
    assert container.get_objects_content(keys + [missing]) == {keys[0]: b'a', keys[1]: b'b', keys[2]: b'c'}
    assert container.get_objects_content([missing], skip_if_missing=False) == {missing: None}
    metas = dict(container.get_objects_meta(keys + [missing]))
    assert set(metas) == set(keys)
    metas = dict(container.get_objects_meta([missing], skip_if_missing=False))
    assert metas[missing].type == ObjectType.MISSING and metas[missing].size is None
    assert container.has_objects(keys + [missing]) == [True, True, True, False]
    assert container.has_objects((keys[0],)) == [True]


def test_many_objects(container):
    datas = [os.urandom(i % 97) + str(i).encode() for i in range(10000)]
    keys = container.add_objects_to_pack(datas)
    assert keys == [sha(d) for d in datas]
    assert container.get_objects_content(keys) == dict(zip(keys, datas))
    assert sorted(container.list_all_objects()) == sorted(set(keys))
    assert list(container.list_all_objects()) == sorted(set(keys))
    assert container.count_objects() == ObjectCount(packed=len(set(keys)), loose=0, pack_files=1)


def test_count_and_sizes(container):
    container.add_object(b'12345')
    container.add_objects_to_pack([b'abc', b'defg'])
    count = container.count_objects()
    assert isinstance(count, ObjectCount)
    assert (count.packed, count.loose, count.pack_files) == (2, 1, 1)
    assert count['loose'] == 1
    size = container.get_total_size()
    assert isinstance(size, TotalSize)
    assert size.total_size_loose == 5
    assert size.total_size_packed == 7
    assert size.total_size_packed_on_disk == 7
    # Two raw entries of format 2: 14 bytes of header each.
    assert size.total_size_packfiles_on_disk == 16 + 7 + 2 * 14
    assert size.total_size_packindexes_on_disk > 0
    assert set(dataclasses.asdict(size)) == {f.name for f in dataclasses.fields(TotalSize)}


# ---- writing to packs ---------------------------------------------------

def test_add_objects_to_pack(container, progress):
    datas = [b'one', b'two', b'one', b'x' * 10000]
    keys = container.add_objects_to_pack(datas, compress=True, callback=progress.callback)
    assert keys == [sha(d) for d in datas]
    assert container.count_objects() == ObjectCount(packed=3, loose=0, pack_files=1)
    assert progress.done == [{'start_value': {'total': 4, 'description': 'Bulk storing'}, 'value': 4}]
    assert container.get_object_meta(keys[3]).pack_compressed
    # Already stored: nothing is appended again.
    before = container.get_total_size().total_size_packfiles_on_disk
    progress.done = []
    keys2 = container.add_objects_to_pack(
        datas, no_holes=True, do_fsync=False, do_commit=False, callback=progress.callback
    )
    assert keys2 == keys
    assert container.get_total_size().total_size_packfiles_on_disk == before
    assert [d['start_value']['description'] for d in progress.done] == ['List existing', 'Bulk storing']


def test_add_objects_to_pack_uninitialised(tmp_path):
    with pytest.raises(ValueError):
        dos.Container(tmp_path / 'c').add_objects_to_pack([b'a'])


def test_add_streamed_objects_to_pack(container, progress):
    openers = [Opener(b'first'), Opener(b'second')]
    keys = container.add_streamed_objects_to_pack(openers, open_streams=True, callback=progress.callback)
    assert keys == [sha(b'first'), sha(b'second')]
    assert [o.entered for o in openers] == [1, 1]
    keys = container.add_streamed_objects_to_pack([io.BytesIO(b'third')], compress=True)
    assert container.get_object_content(keys[0]) == b'third'
    assert progress.done[0]['value'] == 2


def test_add_streamed_object_to_pack(container, progress):
    data = os.urandom(3 << 20)
    key = container.add_streamed_object_to_pack(
        io.BytesIO(data), callback=progress.callback, callback_size_hint=len(data)
    )
    assert key == sha(data)
    assert container.get_object_content(key) == data
    assert progress.done == [{'start_value': {'total': len(data), 'description': 'Streamed object'}, 'value': len(data)}]
    assert container.add_streamed_object_to_pack(Opener(b'opened'), open_streams=True) == sha(b'opened')


# ---- maintenance --------------------------------------------------------

def test_pack_all_loose(container, progress):
    keys = [container.add_object(str(i).encode()) for i in range(20)]
    container.pack_all_loose(callback=progress.callback)
    assert container.count_objects() == ObjectCount(packed=20, loose=20, pack_files=1)
    # Bytes, as legacy counts them: 10 of one digit, 10 of two.
    assert progress.done == [{'start_value': {'total': 30, 'description': 'Packing loose objects'}, 'value': 30}]
    assert all(container.get_object_meta(k).type == ObjectType.PACKED for k in keys)
    container.clean_storage()
    assert container.count_objects() == ObjectCount(packed=20, loose=0, pack_files=1)
    more = container.add_object(b'more')
    container.pack_all_loose(compress=CompressMode.AUTO, clean_loose_per_pack=True)
    assert container.count_objects() == ObjectCount(packed=21, loose=0, pack_files=1)
    assert container.get_object_content(more) == b'more'
    container.pack_all_loose(compress=True)


def test_pack_all_loose_corrupt(container):
    key = container.add_object(b'good')
    bad = container.add_object(b'will be damaged')
    path = container._get_loose_path_from_hashkey(bad)
    path.write_bytes(b'damaged bytes!!')
    with pytest.raises(dos.InconsistentContent):
        container.pack_all_loose()
    assert container.get_object_meta(key).type == ObjectType.PACKED
    with pytest.raises(dos.InconsistentContent):
        container.get_object_content(bad)
    issues = container.validate()
    assert issues.invalid_hashes_loose == [bad]
    assert not issues.is_valid()


def test_validate(container, progress):
    container.add_object(b'loose')
    container.add_objects_to_pack([b'a', b'b' * 5000], compress=True)
    issues = container.validate(callback=progress.callback)
    assert isinstance(issues, ValidationIssues)
    assert issues.is_valid()
    assert issues['invalid_hashes_packed'] == []
    assert progress.done == [
        {'start_value': {'total': 1, 'description': 'Loose objects'}, 'value': 1},
        {'start_value': {'total': 2, 'description': 'Pack 0'}, 'value': 2},
    ]


def test_damaged_pack_is_never_returned(container):
    data = b'the original bytes' * 100
    key = container.add_objects_to_pack([data])[0]
    meta = container.get_object_meta(key)
    pack = container._get_pack_folder() / str(meta.pack_id)
    raw = bytearray(pack.read_bytes())
    raw[meta.pack_offset + 5] ^= 0xFF
    pack.write_bytes(bytes(raw))
    container.close()
    with pytest.raises(dos.InconsistentContent):
        container.get_object_content(key)
    assert container.validate().invalid_hashes_packed == [key]
    pack.write_bytes(b'COR')
    container.close()
    issues = container.validate()
    assert (issues.invalid_hashes_packed, issues.invalid_sizes_packed) == ([key], [key])


def test_delete_and_repack(container, progress):
    keys = container.add_objects_to_pack([b'keep', b'drop' * 1000])
    loose = container.add_object(b'loose')
    assert sorted(container.delete_objects([keys[1], loose, '0' * 64])) == sorted([keys[1], loose])
    assert container.has_objects(keys + [loose]) == [True, False, False]
    before = container.get_total_size().total_size_packfiles_on_disk
    container.repack(callback=progress.callback)
    assert progress.done == [{'start_value': {'total': 4, 'description': 'Repack 0'}, 'value': 4}]
    after = container.get_total_size().total_size_packfiles_on_disk
    assert after < before
    assert container.get_object_content(keys[0]) == b'keep'
    container.repack_pack('0', compress_mode=CompressMode.YES)
    assert container.get_object_meta(keys[0]).pack_compressed
    with pytest.raises(AssertionError):
        container.repack_pack('-1')
    assert container.validate().is_valid()


def test_loosen_object(container):
    key = container.add_objects_to_pack([b'packed object'])[0]
    path = container.loosen_object(key)
    assert path == container._get_loose_path_from_hashkey(key)
    assert path.read_bytes() == b'packed object'
    assert container.loosen_object(key) == path
    with pytest.raises(dos.NotExistent):
        container.loosen_object('0' * 64)


def test_import_objects(container, tmp_path, progress):
    other = dos.Container(tmp_path / 'other')
    other.init_container()
    keys = other.add_objects_to_pack([b'a', b'b', b'c'])
    container.add_object(b'a')
    mapping = container.import_objects(keys + keys[:1], other, callback=progress.callback)
    assert mapping == {keys[1]: keys[1], keys[2]: keys[2]}
    assert container.get_objects_content(keys) == {k: d for k, d in zip(keys, [b'a', b'b', b'c'])}
    assert [d['start_value']['description'] for d in progress.done] == ['Listing objects', 'Copy objects', 'Final flush']
    assert [d['value'] for d in progress.done] == [3, 2, 2]


def test_lock_pack(container):
    with container.lock_pack('0'):
        with pytest.raises(OSError):
            with container.lock_pack('0'):
                pass
    with container.lock_pack('0'):
        pass
    with pytest.raises(AssertionError):
        with container.lock_pack('x'):
            pass


def test_callback_exception_propagates(container):
    container.add_object(b'x')

    def callback(action, value):
        raise RuntimeError('from the callback')

    with pytest.raises(RuntimeError, match='from the callback'):
        container.pack_all_loose(callback=callback)


def test_threads(container):
    """Writers, readers and a packer in threads of one process, one Container."""
    errors = []

    def writer(n):
        try:
            for i in range(30):
                key = container.add_object(f'{n}-{i}'.encode())
                assert container.get_object_content(key) == f'{n}-{i}'.encode()
                container.add_objects_to_pack([f'p{n}-{i}'.encode()])
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(exc)

    def packer():
        try:
            for _ in range(5):
                container.pack_all_loose(clean_loose_per_pack=True)
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)] + [threading.Thread(target=packer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert container.count_objects().packed + container.count_objects().loose >= 180
    assert len(list(container.list_all_objects())) == 180
    assert container.validate().is_valid()


def test_exceptions_and_dataclasses_exported():
    """The legacy names, where legacy code imports them from."""
    from dos import exceptions  # pylint: disable=import-outside-toplevel

    for name in ('NotExistent', 'NotInitialised', 'ModificationNotAllowed', 'ClosingNotAllowed', 'InconsistentContent'):
        assert getattr(dos, name) is getattr(exceptions, name)
        assert issubclass(getattr(dos, name), Exception)
    for cls in (ObjectCount, ObjectMeta, TotalSize, ValidationIssues):
        assert dataclasses.is_dataclass(cls)
    assert {m.value for m in CompressMode} == {'no', 'yes', 'keep', 'auto'}
    assert {m.value for m in ObjectType} == {'loose', 'packed', 'missing'}
