"""The one exception the corpus builders raise for problems a user can fix."""

from __future__ import annotations


class CorpusError(Exception):
    """A corpus could not be built or read; the message says what to change.

    Raised for missing tools or packages, unreadable inputs and invalid options. The message is
    one sentence naming the bad value and what would be accepted, so the CLI prints it as is.
    """
