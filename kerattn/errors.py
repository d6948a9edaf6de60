"""The errors a user can cause and fix, shared by the library and the command line.

Each carries one sentence naming the bad value and what is accepted. The `kerattn` command prints
it as `kerattn <command>: <sentence>` and exits with the error's `exit_code` (2: the command was
used wrongly; 1: it was used rightly but could not be carried out), with no traceback unless
`--debug` is given. The library's specific errors (CorpusError, RecipeError, ModelLoadError, ...)
derive from these two.
"""

from __future__ import annotations


class KerattnError(Exception):
    """A failure at run time that the user can act on (a damaged file, a full disk, ...)."""

    exit_code = 1


class UsageError(KerattnError, ValueError):
    """A bad argument, option, file or recipe value: the command was used wrongly."""

    exit_code = 2
