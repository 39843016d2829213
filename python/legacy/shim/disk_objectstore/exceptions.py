"""disk_objectstore.exceptions for the legacy test suite: dos's."""

from dos.exceptions import (  # noqa: F401
    ClosingNotAllowed,
    InconsistentContent,
    ModificationNotAllowed,
    NotExistent,
    NotInitialised,
)
