"""dos.Container: the API of disk_objectstore.Container on a dos container.

Every method has the name, signature, defaults, return type and
exceptions of the legacy one (disk-objectstore ~1.5), so that code written
for it works after changing its import.  Where the legacy behaviour is
tied to its format (SQLite rows, pack offsets, the repack pack -1) the
docstring says what dos does instead; python/README.md sums these up.
The storage work is done by the C extension dos._dos, without the GIL.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from . import _dos
from .dataclasses import ObjectCount, ObjectMeta, TotalSize, ValidationIssues
from .exceptions import (
    DosError,
    InconsistentContent,
    NotExistent,
    NotInitialised,
)

# Objects handed to the pack writer per call, between progress reports.
_PACK_BATCH = 1024
# get_objects_stream_and_meta reads Container._MAX_CHUNK_ITERATE_LENGTH
# objects at a time in one library call, those of up to _STREAM_SMALL
# bytes whole (at most 16 MiB a call; the others stream from a Reader):
# a call per object would cost more than reading it.
_STREAM_SMALL = 16 * 1024


# The open Stores of this process, by folder: {folder: [Store, users]}.
# The library opens a container's index once per process (a second open
# of the same Berkeley DB environment in one process fails), so the
# Containers of one folder share one Store, closed with the last of them.
_stores: dict = {}
_stores_lock = threading.Lock()


def _store_take(folder: str):
    with _stores_lock:
        entry = _stores.get(folder)
        if entry is None:
            entry = _stores[folder] = [_dos.Store(folder), 0]
        entry[1] += 1
        return entry[0]


def _store_give(folder: str) -> None:
    with _stores_lock:
        entry = _stores.get(folder)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _stores[folder]
            entry[0].close()


class ObjectType(Enum):
    """Where an object is, as ObjectMeta.type says."""

    LOOSE = 'loose'
    PACKED = 'packed'
    MISSING = 'missing'


class CompressMode(Enum):
    """Whether to compress objects written to packs."""

    NO = 'no'
    YES = 'yes'
    KEEP = 'keep'
    AUTO = 'auto'


_MODES = {
    CompressMode.NO: _dos.COMPRESS_NEVER,
    CompressMode.YES: _dos.COMPRESS_ALWAYS,
    CompressMode.KEEP: _dos.COMPRESS_KEEP,
    CompressMode.AUTO: _dos.COMPRESS_AUTO,
}


def _compress_mode(compress: bool | CompressMode) -> int:
    """The library's mode for a legacy compress argument."""
    if isinstance(compress, CompressMode):
        return _MODES[compress]
    return _dos.COMPRESS_ALWAYS if compress else _dos.COMPRESS_NEVER


def _check_compression_algorithm(algorithm: str) -> None:
    """ValueError unless dos can use algorithm: a legacy name 'zlib+N'
    (N from 1 to 9) or one of dos's own ('zstd', 'zstd:19', 'zlib:6',
    'none').  A bare 'zlib' is refused, as legacy refuses it."""
    if not isinstance(algorithm, str):
        raise ValueError(f"Unknown or unsupported compression algorithm '{algorithm}'")
    name, plus, variant = algorithm.partition('+')
    if name == 'zlib' and (not plus or variant not in {str(i) for i in range(1, 10)}):
        raise ValueError(f"Invalid variant '{variant}' for compression algorithm 'zlib'")
    _dos.parse_codec(algorithm)


# The library makes the ObjectMeta of the objects it finds (pack_offset
# and pack_length are those of the stored bytes, past the entry header,
# as legacy's are); this one is the missing objects'.
_dos.set_meta(ObjectMeta, ObjectType.LOOSE, ObjectType.PACKED)


def _missing_meta() -> ObjectMeta:
    return ObjectMeta(ObjectType.MISSING, None, None, None, None, None)


class ObjectStream:
    """A read-only, seekable binary stream of one object's bytes; name is
    the path of the file it is read from (the loose file, or the pack).

    read(), readinto(), seek() with whence 0, 1 or 2, and tell().  It reads
    through fixed buffers whatever the object's size; a seek backward
    starts the object again (decoding it from the start if compressed),
    a seek forward skips bytes.  The bytes are checked as they are read:
    the read that reaches the end of a damaged object raises
    InconsistentContent instead of returning bad data.
    """

    __slots__ = ('_reader', '_container', '_hashkey', '_meta')
    mode = 'rb'

    def __init__(self, reader, container: Container, hashkey: str, meta: ObjectMeta) -> None:
        """reader: a Reader, or an io.BytesIO of an object read already.
        The methods below call the reader's: cheaper than binding them to
        every stream, of which get_objects_stream_and_meta makes one per
        object."""
        self._reader = reader
        self._container = container
        self._hashkey = hashkey
        self._meta = meta

    def read(self, size: int | None = -1) -> bytes:
        return self._reader.read(size)

    def readinto(self, buffer) -> int:
        return self._reader.readinto(buffer)

    def seek(self, target: int, whence: int = 0) -> int:
        return self._reader.seek(target, whence)

    def tell(self) -> int:
        return self._reader.tell()

    @property
    def closed(self) -> bool:
        return self._reader.closed

    @property
    def name(self) -> str:
        if self._meta.type is ObjectType.LOOSE:
            return str(self._container._get_loose_path_from_hashkey(self._hashkey))
        return str(self._container._get_pack_folder() / str(self._meta.pack_id))

    def close(self) -> None:
        self._reader.close()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def __enter__(self) -> ObjectStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class LazyLooseStream:
    """A stream of an object's loose file, made when the stream is opened
    (open_stream() or a with block): a packed object is written loose
    first (Container.loosen_object), so that its bytes can be read,
    seeked and re-read as a plain file.  Nothing happens until then:
    read, seek and tell raise ValueError on a stream not open."""

    mode = 'rb'

    def __init__(self, container: Container, hashkey: str) -> None:
        self._container = container
        self._hashkey = hashkey
        self._stream = None

    @staticmethod
    def seekable() -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self._stream is None or self._stream.closed

    def _open_stream(self):
        if self.closed:
            raise ValueError('I/O operation on closed file.')
        return self._stream

    def read(self, size: int = -1) -> bytes:
        return self._open_stream().read(size)

    def seek(self, target: int, whence: int = 0) -> int:
        return self._open_stream().seek(target, whence)

    def tell(self) -> int:
        return self._open_stream().tell()

    def open_stream(self) -> None:
        """Open the loose file, writing it first if there is none.  A
        concurrent clean_storage or dos pack may remove it between the two:
        then it is written again, a few times at most."""
        for _ in range(4):
            if not self.closed:
                return
            path = self._container.loosen_object(self._hashkey)
            try:
                self._stream = open(path, 'rb')  # pylint: disable=consider-using-with
            except FileNotFoundError:
                continue
        if self.closed:
            raise RuntimeError(
                f'Unable to open the loose object {self._hashkey}: it was removed each time it was '
                'written (is a clean_storage or dos pack running in a loop?)'
            )

    def close_stream(self) -> None:
        if not self.closed:
            self._stream.close()
        self._stream = None

    def __enter__(self) -> LazyLooseStream:
        self.open_stream()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close_stream()


class _Progress:
    """A legacy progress callback: init with a total and a description,
    updates, close."""

    def __init__(self, callback: Callable | None) -> None:
        self.callback = callback
        self.open = False

    def init(self, total: int, description: str) -> None:
        if self.callback:
            self.close()
            self.callback(action='init', value={'total': total, 'description': description})
            self.open = True

    def update(self, value: int) -> None:
        if self.callback and value:
            self.callback(action='update', value=value)

    def close(self) -> None:
        if self.callback and self.open:
            self.callback(action='close', value=None)
            self.open = False


class _CallbackReader:
    """A stream read through, reporting the bytes read to a progress."""

    def __init__(self, stream, progress: _Progress) -> None:
        self.stream = stream
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.progress.update(len(chunk))
        return chunk


class Container:  # pylint: disable=too-many-public-methods
    """A dos container in a folder, with the API of disk_objectstore's.

    A Container may be used from several threads at once (the library
    calls are serialised per Container, without the GIL), and beside other
    processes and the dos commands working on the same folder.
    """

    # Objects looked up and read together as get_objects_stream_and_meta
    # goes (legacy's name, for its chunks of SQL queries).
    _MAX_CHUNK_ITERATE_LENGTH = 1024

    def __init__(self, folder: str | Path) -> None:
        """:param folder: the folder of the container (made by init_container)."""
        self._folder = Path(folder).resolve()
        self._store = None
        self._config: dict | None = None
        self._open_lock = threading.Lock()

    # ---- the container itself ---------------------------------------

    def get_folder(self) -> Path:
        """The folder of the container."""
        return self._folder

    def close(self) -> None:
        """Close the container's files and index; it reopens when used again."""
        with self._open_lock:
            store, self._store = self._store, None
        if store is not None:
            _store_give(str(self._folder))

    def __enter__(self) -> Container:
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, '_store', None) is not None:
            _store_give(str(self._folder))

    def _get_config_file(self) -> Path:
        return self._folder / 'config.json'

    def _get_loose_folder(self) -> Path:
        return self._folder / 'loose'

    def _get_pack_folder(self) -> Path:
        return self._folder / 'packs'

    def _get_sandbox_folder(self) -> Path:
        return self._folder / 'sandbox'

    def _get_loose_path_from_hashkey(self, hashkey: str) -> Path:
        """Where the loose file of hashkey is (or would be)."""
        n = self.loose_prefix_len
        if n:
            return self._get_loose_folder() / hashkey[:n] / hashkey[n:]
        return self._get_loose_folder() / hashkey

    @property
    def is_initialised(self) -> bool:
        """True if the folder holds a container: a config.json that is
        JSON, and the loose/, packs/ and sandbox/ folders.  A legacy
        container counts too; using it raises DosError, as it must be
        migrated first (dos migrate)."""
        try:
            with open(self._get_config_file(), encoding='utf8') as fhandle:
                json.load(fhandle)
        except (ValueError, OSError):
            return False
        return all((self._folder / name).is_dir() for name in ('loose', 'packs', 'sandbox'))

    def init_container(
        self,
        clear: bool = False,
        pack_size_target: int = 4 * 1024 * 1024 * 1024,
        loose_prefix_len: int = 2,
        hash_type: str = 'sha256',
        compression_algorithm: str = 'zlib+1',
    ) -> None:
        """Make a new container in the folder.

        :param clear: remove the folder and everything in it first.
        :param pack_size_target: the size at which a pack is full.
        :param loose_prefix_len: hex digits of the loose shard folders
            (0: none); dos takes at most 8.
        :param hash_type: 'sha256', the only hash of dos: anything else is a
            ValueError (a legacy sha1 container is migrated with
            ``dos migrate --map``, which maps its keys to dos ids).
        :param compression_algorithm: 'zlib+1' to 'zlib+9' as legacy names
            them, or dos's own 'zstd', 'zstd:N', 'zlib:N', 'none'.
        :raises FileExistsError: if there is a container already, or the
            folder is not empty (and clear is False).
        """
        if loose_prefix_len < 0:
            raise ValueError('The loose prefix length can only be zero or a positive integer')
        if loose_prefix_len > 8:
            raise ValueError('dos takes a loose prefix length of at most 8')
        if pack_size_target <= 0:
            raise ValueError('The pack size target can only be a non-zero positive integer')
        if hash_type != 'sha256':
            raise ValueError(
                f'Unknown hash type "{hash_type}": dos is SHA-256 only '
                '(a legacy sha1 container is migrated with `dos migrate --map`)'
            )
        _check_compression_algorithm(compression_algorithm)
        if clear:
            self.close()
            if self._folder.exists():
                shutil.rmtree(self._folder)
        self._config = None
        if self.is_initialised:
            raise FileExistsError(
                'The container already exists, so you cannot initialise it - '
                'use the clear option if you want to overwrite with a clean one'
            )
        self._folder.mkdir(parents=True, exist_ok=True)
        if any(self._folder.iterdir()):
            raise FileExistsError(
                'There is already some file or folder in the Container folder, I cannot initialise it!'
            )
        _dos.create(str(self._folder), loose_prefix_len, pack_size_target, compression_algorithm)

    def _get_store(self):
        """The open Store, opened on first use."""
        store = self._store
        if store is not None:
            return store
        with self._open_lock:
            if self._store is None:
                if not self.is_initialised:
                    raise NotInitialised('The container is not initialised yet - use .init_container() first')
                self._store = _store_take(str(self._folder))
            return self._store

    def _get_repository_config(self) -> dict:
        if self._config is None:
            self._config = self._get_store().config()
        return self._config

    @property
    def loose_prefix_len(self) -> int:
        """Hex digits of the loose shard folders."""
        return self._get_repository_config()['loose_prefix_len']

    @property
    def pack_size_target(self) -> int:
        """The size at which a pack is full."""
        return self._get_repository_config()['pack_size_target']

    @property
    def hash_type(self) -> str:
        """Always 'sha256'."""
        self._get_repository_config()
        return 'sha256'

    @property
    def container_id(self) -> str:
        """The container's random id, made by init_container (32 hex digits)."""
        return self._get_repository_config()['container_id']

    @property
    def compression_algorithm(self) -> str:
        """The codec of compressed objects, in legacy spelling for zlib
        ('zlib+1'), else dos's ('zstd', 'zstd:19', 'none')."""
        config = self._get_repository_config()
        codec, level = config['codec'], config['level']
        if codec == 'zlib':
            return f'zlib+{level or 6}'
        return f'{codec}:{level}' if level else codec

    # ---- reading -------------------------------------------------------

    def get_object_content(self, hashkey: str) -> bytes:
        """The bytes of an object (NotExistent if there is none)."""
        reader = self._get_store().reader(hashkey)
        try:
            return reader.read()
        finally:
            reader.close()

    @contextmanager
    def get_object_stream(self, hashkey: str) -> Iterator[ObjectStream]:
        """A context manager yielding an ObjectStream of the object."""
        with self.get_object_stream_and_meta(hashkey) as (stream, _):
            yield stream

    @contextmanager
    def get_object_stream_and_meta(self, hashkey: str) -> Iterator[tuple[ObjectStream, ObjectMeta]]:
        """A context manager yielding (ObjectStream, ObjectMeta) of the object."""
        reader = self._get_store().reader(hashkey)
        try:
            yield ObjectStream(reader, self, hashkey, reader.info), reader.info
        finally:
            reader.close()

    def _stream_meta_generator(self, hashkeys: Iterable[str], skip_if_missing: bool):
        store = self._get_store()
        keys = list(dict.fromkeys(hashkeys))
        for chunk in store.read_iter(keys, _STREAM_SMALL, self._MAX_CHUNK_ITERATE_LENGTH):
            for key, data, meta in chunk:
                if meta is None:
                    if not skip_if_missing:
                        yield key, None, _missing_meta()
                    continue
                try:
                    # Larger objects, and damaged ones (whose stream fails
                    # the read that reaches the end), stream from a Reader.
                    reader = store.reader(key) if data is None else io.BytesIO(data)
                except NotExistent:
                    # Deleted since it was looked up.
                    if not skip_if_missing:
                        yield key, None, _missing_meta()
                    continue
                try:
                    yield key, ObjectStream(reader, self, key, meta), meta
                finally:
                    reader.close()

    @contextmanager
    def get_objects_stream_and_meta(
        self, hashkeys: Iterable[str], skip_if_missing: bool = True
    ) -> Iterator[Iterator[tuple[str, ObjectStream | None, ObjectMeta]]]:
        """A context manager yielding a generator of (hashkey, stream, meta).

        Each hash key comes once, packed objects first in pack order (the
        order differs from hashkeys), then loose ones, then with
        skip_if_missing=False the missing ones, with a stream of None.
        A stream is valid until the generator moves on.
        """
        yield self._stream_meta_generator(hashkeys, skip_if_missing)

    def get_objects_content(self, hashkeys: list[str], skip_if_missing: bool = True) -> dict[str, bytes | None]:
        """{hashkey: bytes} of the objects (None for missing ones unless
        skip_if_missing), read in one library call."""
        return self._get_store().read_dict(list(dict.fromkeys(hashkeys)), skip_if_missing)

    def get_lazy_loose_stream(self, hashkey: str) -> LazyLooseStream:
        """A LazyLooseStream of the object: its loose file, written (from
        the pack) only when the stream is opened."""
        return LazyLooseStream(self, hashkey)

    def get_objects_meta(self, hashkeys: Iterable[str], skip_if_missing: bool = True) -> Iterator[tuple[str, ObjectMeta]]:
        """A generator of (hashkey, ObjectMeta), in the order of
        get_objects_stream_and_meta."""
        store = self._get_store()
        keys = list(dict.fromkeys(hashkeys))
        # max_size 0: no object is read (an empty one is, at no cost).
        for chunk in store.read_iter(keys, 0, self._MAX_CHUNK_ITERATE_LENGTH):
            for key, _, meta in chunk:
                if meta is not None and meta.type is ObjectType.LOOSE:
                    # Looked up again as it comes, as legacy does: a packer
                    # may have packed it meanwhile, or removed it.
                    meta = store.info_many([key])[0]
                if meta is None:
                    if skip_if_missing:
                        continue
                    meta = _missing_meta()
                yield key, meta

    def get_object_meta(self, hashkey: str) -> ObjectMeta:
        """ObjectMeta of the object (NotExistent if there is none)."""
        meta = self._get_store().info_many([hashkey])[0]
        if meta is None:
            raise NotExistent(f'No object with hash key {hashkey}')
        return meta

    def has_objects(self, hashkeys: list[str] | tuple[str, ...]) -> list[bool]:
        """Whether each hash key names a stored object, in order."""
        return [info is not None for info in self._get_store().info_many(list(hashkeys))]

    def has_object(self, hashkey: str) -> bool:
        """Whether hashkey names a stored object."""
        return self.has_objects([hashkey])[0]

    def list_all_objects(self) -> Iterator[str]:
        """Every hash key once, in sorted order (legacy: packed ones by
        index row, then loose ones).  Listed a 256th at a time, so memory
        stays small whatever the container's size."""
        store = self._get_store()
        for prefix in range(256):
            yield from store.list_prefix(f'{prefix:02x}')

    def _list_loose(self) -> Iterator[str]:
        """The hash keys of the loose files."""
        loose = self._get_loose_folder()
        n = self.loose_prefix_len
        for first in sorted(os.listdir(loose)):
            if not n:
                yield first
                continue
            if not self._is_valid_loose_prefix(first):
                continue
            try:
                names = os.listdir(loose / first)
            except NotADirectoryError:
                continue
            for second in names:
                if self._is_valid_hashkey(first + second):
                    yield first + second

    @staticmethod
    def _is_valid_pack_id(pack_id: str, allow_repack_pack: bool = False) -> bool:
        """Whether pack_id names a pack: a decimal number without leading
        zeros (legacy's rule, and dos's); '-1', legacy's repack pack, only
        with allow_repack_pack (dos has none)."""
        if allow_repack_pack and pack_id == '-1':
            return True
        return pack_id.isdigit() and pack_id.isascii() and (pack_id == '0' or pack_id[0] != '0')

    def _is_valid_loose_prefix(self, prefix: str) -> bool:
        """Whether prefix names a loose shard folder: loose_prefix_len
        lowercase hex digits."""
        return len(prefix) == self.loose_prefix_len and self._is_valid_hashkey(prefix)

    @staticmethod
    def _is_valid_hashkey(hashkey: str) -> bool:
        """Whether hashkey is lowercase hex (its length is not checked)."""
        return all(char in '0123456789abcdef' for char in hashkey)

    def _get_pack_path_from_pack_id(self, pack_id: str | int, allow_repack_pack: bool = False) -> Path:
        pack_id = str(pack_id)
        if not self._is_valid_pack_id(pack_id, allow_repack_pack):
            raise AssertionError(f'Invalid pack ID {pack_id}')
        return self._get_pack_folder() / pack_id

    @property
    def _current_pack_id(self) -> int | None:
        """The pack objects are written to: the newest (None before the
        first), as legacy keeps it."""
        packs = [int(pack) for pack in self._list_packs()]
        return max(packs) if packs else None

    def _list_packs(self) -> Iterator[str]:
        """The ids of the pack files."""
        for name in os.listdir(self._get_pack_folder()):
            if self._is_valid_pack_id(name):
                yield name

    def count_objects(self) -> ObjectCount:
        """ObjectCount: packed objects, loose files, pack files."""
        packed, loose, packs, _ = self._get_store().count()
        return ObjectCount(packed=packed, loose=loose, pack_files=packs)

    def get_total_size(self) -> TotalSize:
        """TotalSize of the container (see its fields for what dos counts)."""
        sizes = self._get_store().sizes()
        return TotalSize(
            total_size_packed=sizes['size_packed_raw'],
            total_size_packed_on_disk=sizes['size_packed_stored'],
            total_size_packfiles_on_disk=sizes['size_pack'],
            total_size_packindexes_on_disk=sizes['size_index'],
            total_size_loose=sizes['size_loose'],
        )

    # ---- writing -------------------------------------------------------

    @contextmanager
    def _writer(self, compress: bool | CompressMode):
        """The pack writer (holding packs/lock), flushed at the end of the
        context unless it raised, and closed."""
        writer = self._get_store().writer(_compress_mode(compress))
        try:
            yield writer
            writer.flush()
        finally:
            writer.close()

    def add_object(self, content: bytes) -> str:
        """Store content as a loose object, durably; its hash key."""
        return self._get_store().add_loose(content)

    def add_streamed_object(self, stream) -> str:
        """Store what stream.read() gives, from its current position to its
        end, as a loose object, durably; its hash key."""
        return self._get_store().add_loose(stream)

    def _list_existing(self, progress: _Progress, no_holes: bool) -> None:
        """The 'List existing' round legacy reports with no_holes, over
        the packed objects: dos looks each object up in the index instead
        of listing them first, so the round is over at once."""
        if no_holes and progress.callback:
            packed = self.count_objects().packed
            if packed:
                progress.init(packed, 'List existing')
                progress.update(packed)
                progress.close()

    def add_objects_to_pack(  # pylint: disable=too-many-arguments
        self,
        content_list: list[bytes] | tuple[bytes, ...],
        compress: bool = False,
        no_holes: bool = False,
        no_holes_read_twice: bool = True,
        callback: Callable | None = None,
        do_fsync: bool = True,
        do_commit: bool = True,
    ) -> list[str]:
        """Write contents straight into packs; their hash keys, in order.

        dos never writes an object that is packed already (no_holes is
        always in effect: legacy appends duplicates and leaves the bytes
        as holes); one stored loose is packed, as legacy packs it.  dos
        always makes the batch durable and indexed before
        returning: do_fsync and do_commit are accepted and change nothing.
        """
        if not self.is_initialised:
            raise ValueError('Invalid use of function, please first initialise the container.')
        progress = _Progress(callback)
        self._list_existing(progress, no_holes)
        progress.init(len(content_list), 'Bulk storing')
        hashkeys: list[str] = []
        with self._writer(compress) as writer:
            for start in range(0, len(content_list), _PACK_BATCH):
                chunk = content_list[start : start + _PACK_BATCH]
                hashkeys += writer.add_many(chunk)
                progress.update(len(chunk))
        progress.close()
        return hashkeys

    def add_streamed_objects_to_pack(  # pylint: disable=too-many-arguments
        self,
        stream_list: list,
        compress: bool = False,
        open_streams: bool = False,
        no_holes: bool = False,
        no_holes_read_twice: bool = True,
        callback: Callable | None = None,
        do_fsync: bool = True,
        do_commit: bool = True,
    ) -> list[str]:
        """Write the streams' contents straight into packs; their hash keys.

        With open_streams, each is a context manager (a LazyOpener) entered
        to get the stream.  Duplicates, do_fsync and do_commit as in
        add_objects_to_pack.
        """
        progress = _Progress(callback)
        self._list_existing(progress, no_holes)
        progress.init(len(stream_list), 'Bulk storing')
        hashkeys: list[str] = []
        with self._writer(compress) as writer:
            for stream in stream_list:
                if open_streams:
                    with stream as opened:
                        hashkeys.append(writer.add(opened)[0])
                else:
                    hashkeys.append(writer.add(stream)[0])
                progress.update(1)
        progress.close()
        return hashkeys

    def add_streamed_object_to_pack(  # pylint: disable=too-many-arguments
        self,
        stream,
        compress: bool = False,
        open_streams: bool = False,
        no_holes: bool = False,
        no_holes_read_twice: bool = True,
        callback: Callable | None = None,
        callback_size_hint: int = 0,
        do_fsync: bool = True,
        do_commit: bool = True,
    ) -> str:
        """Write one stream's content straight into a pack; its hash key.
        The callback reports the bytes read (callback_size_hint the total)."""
        progress = _Progress(callback)
        progress.init(callback_size_hint, 'Streamed object')
        with self._writer(compress) as writer:
            if open_streams:
                with stream as opened:
                    hashkey = writer.add(_CallbackReader(opened, progress))[0]
            else:
                hashkey = writer.add(_CallbackReader(stream, progress))[0]
        progress.close()
        return hashkey

    def loosen_object(self, hashkey: str) -> Path:
        """Make the object loose too (packed objects stay packed); the path
        of its loose file.  As with legacy, a concurrent clean_storage or
        dos pack may remove the file again."""
        path = self._get_loose_path_from_hashkey(hashkey)
        if path.exists():
            return path
        with self.get_object_stream(hashkey) as stream:
            written = self._get_store().add_loose(stream, True)
        if written != hashkey:
            raise InconsistentContent(f'Mismatch in the hashkey when loosening {hashkey}: {written}')
        return path

    def import_objects(  # pylint: disable=too-many-arguments
        self,
        hashkeys: Iterable[str],
        source_container,
        compress: bool = False,
        target_memory_bytes: int = 104857600,
        callback: Callable | None = None,
        do_fsync: bool = True,
    ) -> dict[str, str]:
        """Copy the objects of hashkeys from source_container (a dos or a
        legacy Container) into packs here; {source key: key here} of the
        objects copied.  From a sha256 source the objects already here are
        skipped (the keys are the same); from a sha1 one every object is
        copied and mapped to its SHA-256 key.  Objects stream through
        fixed buffers: target_memory_bytes and do_fsync change nothing.
        The callback gets legacy's rounds: 'Listing objects' (from a
        sha256 source), 'Copy objects', 'Final flush'."""
        progress = _Progress(callback)
        wanted = sorted(set(hashkeys))
        if source_container.hash_type == 'sha256':
            progress.init(len(wanted), 'Listing objects')
            present = self.has_objects(wanted)
            progress.update(len(wanted))
            progress.close()
            wanted = [key for key, here in zip(wanted, present) if not here]
        progress.init(len(wanted), 'Copy objects')
        mapping: dict[str, str] = {}
        with self._writer(compress) as writer:
            with source_container.get_objects_stream_and_meta(wanted) as triplets:
                for old, stream, _ in triplets:
                    mapping[old] = writer.add(stream)[0]
                    progress.update(1)
            progress.close()
            # Legacy's last round writes what it cached: here the batch
            # written as the objects were read becomes durable.
            if mapping:
                progress.init(len(mapping), 'Final flush')
        progress.update(len(mapping))
        progress.close()
        return mapping

    # ---- maintenance ---------------------------------------------------

    def _maintain(self, what: str, mode: int, callback: Callable | None, description: str, size: int, objects: int):
        """Run Store.maintain; the objects it could not handle raise
        InconsistentContent at the end.  The callback counts bytes out of
        size, as legacy's does: the library reports objects done (out of
        objects), and each update is their share of size."""
        progress = _Progress(callback)
        progress.init(size, description)
        problems: list = []
        state = {'sent': 0}

        def on_progress(done: int) -> None:
            share = size * min(done, objects) // max(objects, 1)
            progress.update(share - state['sent'])
            state['sent'] = share

        def on_problem(hashkey: str, why: str, code: int) -> None:
            problems.append((hashkey, why, code))

        try:
            self._get_store().maintain(what, mode, on_problem, on_progress if callback else None)
        finally:
            progress.update(size - state['sent'])
            progress.close()
        if problems:
            hashkey, why, _ = problems[0]
            raise InconsistentContent(f"Error when packing object '{hashkey}': {why}")

    def pack_all_loose(  # pylint: disable=too-many-arguments
        self,
        compress: bool | CompressMode = CompressMode.NO,
        validate_objects: bool = True,
        do_fsync: bool = True,
        callback: Callable | None = None,
        clean_loose_per_pack: bool = False,
    ) -> None:
        """Pack every loose object (under packs/lock: it waits for a dos pack
        or another packer to finish).

        Every object is hashed as it is packed, whatever validate_objects,
        and a loose file that does not hash to its name is left in place
        and raises InconsistentContent once the rest is packed.  The loose
        files stay (removed by clean_storage) unless clean_loose_per_pack,
        when each batch's are removed once it is durable.
        """
        mode = _compress_mode(compress)
        if mode == _dos.COMPRESS_KEEP:
            mode = _dos.COMPRESS_NEVER
        size = self.get_total_size().total_size_loose if callback else 0
        objects = self.count_objects().loose if callback else 0
        what = 'pack-clean' if clean_loose_per_pack else 'pack'
        self._maintain(what, mode, callback, 'Packing loose objects', size, objects)

    def repack(self, compress_mode: CompressMode = CompressMode.KEEP, callback: Callable | None = None) -> None:
        """Rewrite the packs without their dead entries (deleted objects),
        with KEEP only the packs that have any, else every pack with
        compress_mode.  dos writes new packs and removes the old ones; no
        pack -1 is used, and the pack ids of objects change."""
        size = self.get_total_size().total_size_packed if callback else 0
        objects = self.count_objects().packed if callback else 0
        description = 'Repack ' + ','.join(sorted(self._list_packs(), key=int))
        self._maintain('repack', _MODES[compress_mode], callback, description, size, objects)

    def repack_pack(self, pack_id: str, compress_mode: CompressMode = CompressMode.KEEP, callback: Callable | None = None) -> None:
        """dos repacks a container as a whole (its packs are rewritten into
        new ones): this checks pack_id and does what repack() does."""
        if str(pack_id) == '-1':
            raise AssertionError(f"The specified pack_id '{pack_id}' is invalid, it is the one used for repacking")
        self._get_pack_path_from_pack_id(pack_id)
        self.repack(compress_mode=compress_mode, callback=callback)

    def clean_storage(self, vacuum: bool = False) -> None:
        """Remove the loose files of objects that are also packed, and the
        temp files of dead writers in sandbox/ (under packs/lock).  vacuum
        is accepted: the Berkeley DB index needs no VACUUM."""
        self._get_store().clean()

    def delete_objects(self, hashkeys: list[str]) -> list[str]:
        """Delete the objects; the hash keys that were stored.  Packed ones
        get a tombstone (their bytes go at the next repack), loose files
        are removed, durably."""
        return self._get_store().remove(list(hashkeys))

    def validate(self, callback: Callable | None = None) -> ValidationIssues:
        """Check every object (dos fsck): ValidationIssues lists the hash
        keys with a problem.  The callback gets legacy's rounds: 'Loose
        objects', then 'Pack N' for each pack."""
        lists: dict = {
            'invalid_hashes_loose': [],
            'invalid_hashes_packed': [],
            'invalid_sizes_packed': [],
            'overlapping_packed': [],
        }
        store = self._get_store()
        progress = _Progress(callback)
        # Legacy's rounds: the loose objects, then each pack's objects;
        # a pack's round is reported once the check read past its bytes.
        rounds: list = []
        if callback:
            _, loose, _, per_pack = store.count()
            progress.init(loose, 'Loose objects')
            progress.update(loose)
            progress.close()
            end = 0
            for pack in sorted(per_pack):
                try:
                    end += (self._get_pack_folder() / str(pack)).stat().st_size
                except OSError:
                    pass
                rounds.append((end, pack, per_pack[pack]))
        state = {'next': 0}

        def report(kind: str, cls: int, subject: str, detail: str) -> None:
            if not cls:
                return
            if kind == 'hash-mismatch' and 'loose' in f'{subject} {detail}':
                names = ['invalid_hashes_loose']
            elif kind in ('hash-mismatch', 'crc-mismatch', 'bad-header'):
                names = ['invalid_hashes_packed']
            elif kind == 'size-mismatch':
                names = ['invalid_sizes_packed']
            elif kind == 'out-of-bounds':
                # Its bytes run past the end of the pack: neither its size
                # nor its hash can be right.
                names = ['invalid_hashes_packed', 'invalid_sizes_packed']
            else:
                return
            key = subject.replace('loose/', '').replace('/', '')
            for name in names:
                if key not in lists[name]:
                    lists[name].append(key)

        def report_packs(done: float) -> None:
            while state['next'] < len(rounds) and rounds[state['next']][0] <= done:
                _, pack, objects = rounds[state['next']]
                progress.init(objects, f'Pack {pack}')
                progress.update(objects)
                progress.close()
                state['next'] += 1

        def on_progress(name: str, done: int, total: int) -> None:
            report_packs(done)

        store.fsck(report, on_progress if callback else None, os.cpu_count() or 1)
        report_packs(float('inf'))
        return ValidationIssues(**lists)

    @contextmanager
    def lock_pack(self, pack_id: str, allow_repack_pack: bool = False) -> Iterator[None]:
        """Hold packs/lock, the lock of every dos pack writer, for the
        context; raises BlockingIOError (an OSError) if another holds it.
        dos has one lock for all packs (pack_id is only checked) and
        yields None: pack files are not for writing by hand."""
        self._get_pack_path_from_pack_id(pack_id, allow_repack_pack)
        store = self._get_store()
        fd = store.lock(True)
        try:
            yield None
        finally:
            store.unlock(fd)


__all__ = ['CompressMode', 'Container', 'DosError', 'LazyLooseStream', 'ObjectStream', 'ObjectType']
