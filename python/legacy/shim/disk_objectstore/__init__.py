"""disk_objectstore for the legacy test suite (python/legacy/run-suite):
the names the tests import, from dos, beside the legacy modules they use
as helpers (utils, database), copied from the legacy source next to this
file by run-suite."""

from dos import CompressMode, Container, ObjectType

from . import database, utils

__all__ = ('CompressMode', 'Container', 'ObjectType', 'database', 'utils')
