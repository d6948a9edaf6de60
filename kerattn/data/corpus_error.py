"""The one exception the corpus builders raise for problems a user can fix."""

from __future__ import annotations

from kerattn.errors import UsageError


class CorpusError(UsageError):
    """A corpus could not be built or read; the message says what to change.

    Raised for missing tools or packages, unreadable inputs, invalid options and output
    folders a build may not write into. The message is one sentence naming the bad value and
    what would be accepted; the `kerattn` command prints it as is (exit code 2). As a
    `UsageError` it is also a `ValueError`.
    """
