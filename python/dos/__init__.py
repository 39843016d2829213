"""dos: a content-addressed disk object store, from Python.

dos.Container is a drop-in for disk_objectstore.Container (see
python/README.md for where dos differs); the storage work is done by the
C library of dos, through the extension dos._dos.
"""

from . import _dos
from .container import CompressMode, Container, ObjectStream, ObjectType
from .dataclasses import ObjectCount, ObjectMeta, TotalSize, ValidationIssues
from .exceptions import (
    ClosingNotAllowed,
    DosError,
    InconsistentContent,
    ModificationNotAllowed,
    NotExistent,
    NotInitialised,
)

_dos.set_exceptions(NotExistent, InconsistentContent, NotInitialised, DosError)

__version__ = _dos.VERSION

__all__ = (
    'ClosingNotAllowed',
    'CompressMode',
    'Container',
    'DosError',
    'InconsistentContent',
    'ModificationNotAllowed',
    'NotExistent',
    'NotInitialised',
    'ObjectCount',
    'ObjectMeta',
    'ObjectStream',
    'ObjectType',
    'TotalSize',
    'ValidationIssues',
)
