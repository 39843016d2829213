"""disk_objectstore.container for the legacy test suite: the names its
concurrency workers import, from dos."""

from dos import CompressMode, Container, ObjectType  # noqa: F401
from dos.exceptions import NotExistent  # noqa: F401
