"""disk_objectstore.dataclasses for the legacy test suite: dos's."""

from dos.dataclasses import ObjectCount, ObjectMeta, TotalSize, ValidationIssues  # noqa: F401
