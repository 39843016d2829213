"""The exceptions of dos.Container: those of disk_objectstore.exceptions,
by the same names, and DosError for what the legacy package has no name
for (a failed index, a legacy container to migrate...)."""


class NotExistent(Exception):
    """No object has the hash key asked for."""


class NotInitialised(Exception):
    """The container folder holds no container yet: call init_container()."""


class ModificationNotAllowed(Exception):
    """The change asked for is not allowed."""


class ClosingNotAllowed(Exception):
    """A writer was closed by hand instead of by its context manager."""


class InconsistentContent(Exception):
    """Stored bytes do not match their hash key or size: dos raises this
    instead of returning damaged bytes."""


class DosError(Exception):
    """A failure of the dos library with no legacy name."""
