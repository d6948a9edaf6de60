"""The errors of `kerattn export`: each one sentence, and nothing is left half exported."""

from __future__ import annotations

from kerattn.errors import KerattnError, UsageError


class ExportError(KerattnError, RuntimeError):
    """An export that could not be written (a full disk, a read-only folder) or would not be
    servable (refused ops); nothing was exported. Exit code 1."""


class ExportPathError(UsageError, ExportError):
    """A `--base-path` or `--models-config` path that cannot be used as given: a file where a
    folder belongs or the other way round, or a version that exists. Exit code 2."""
