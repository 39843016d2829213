"""The dataclasses dos.Container returns, with the fields of those of
disk_objectstore.dataclasses, so that dataclasses.asdict() and item
access (meta['size']) work on them as before."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional


class _ItemAccess:
    """Fields read as items too: meta['size'] is meta.size."""

    def __getitem__(self, item: str) -> Any:
        return asdict(self)[item]


@dataclass(frozen=True)
class ObjectCount(_ItemAccess):
    """Objects of a container.

    :param packed: objects in the index (the packed ones).
    :param loose: loose files, whether or not their object is packed too
        (as legacy counts them until clean_storage()).
    :param pack_files: pack files.
    """

    packed: int
    loose: int
    pack_files: int


@dataclass(frozen=True)
class ObjectMeta(_ItemAccess):
    """Where and how an object is stored.

    :param type: ObjectType.LOOSE, PACKED or MISSING.
    :param size: its size in bytes; None when missing.
    :param pack_id: the number of its pack (an int: dos packs are numbered
        as legacy ones are), or None when not packed.
    :param pack_compressed: whether the packed copy is compressed.
    :param pack_offset: where the object's stored bytes start in the pack
        (dos puts a 64-byte entry header in front of them).
    :param pack_length: how many stored bytes there are (compressed or
        not), the header not included.
    """

    type: Any
    size: Optional[int]
    pack_id: Optional[int]
    pack_compressed: Optional[bool]
    pack_offset: Optional[int]
    pack_length: Optional[int]


@dataclass(frozen=True)
class TotalSize(_ItemAccess):
    """Sizes of the objects of a container, in bytes.

    :param total_size_packed: raw size of the packed objects.
    :param total_size_packed_on_disk: their stored bytes in the packs
        (without the entry headers dos adds).
    :param total_size_packfiles_on_disk: size of the pack files, dead
        entries included.
    :param total_size_packindexes_on_disk: disk blocks of index/, the
        Berkeley DB index (legacy: the SQLite file packs.idx).
    :param total_size_loose: size of the loose files.
    """

    total_size_packed: int
    total_size_packed_on_disk: int
    total_size_packfiles_on_disk: int
    total_size_packindexes_on_disk: int
    total_size_loose: int


@dataclass(frozen=True)
class ValidationIssues(_ItemAccess):
    """What validate() found: lists of hash keys, one list per problem.

    :param invalid_hashes_loose: loose files whose bytes do not hash to
        their name.
    :param invalid_hashes_packed: packed objects whose bytes do not hash
        to their key, or whose pack entry is damaged (bad CRC or header) or
        gone (its index record points past the end of its pack).
    :param invalid_sizes_packed: packed objects not of their recorded size
        (those whose entry runs past the end of their pack too).
    :param overlapping_packed: always empty: a dos pack is a sequence of
        entries, each with its own header, which cannot overlap.
    """

    invalid_hashes_loose: list
    invalid_hashes_packed: list
    invalid_sizes_packed: list
    overlapping_packed: list

    def is_valid(self) -> bool:
        """True when every list is empty."""
        return not any(asdict(self).values())
