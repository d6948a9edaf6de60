"""Reserved tokens, vocabulary validation and the vocabulary file format.

Every kerattn vocabulary starts with the same four reserved tokens at fixed ids, so a model,
its loss masking and its decoding loop can rely on them without reading the vocabulary:
`[PAD]` = 0 (what dense batches are padded with), `[UNK]` = 1, `[START]` = 2, `[END]` = 3.

The file format is UTF-8, one token per line, lines separated by "\\n" only. It is read by
splitting on "\\n" and nothing else: `str.splitlines` would also split on U+2028, U+0085 and
other characters that can be tokens, and stripping lines would lose the " " token of a
character vocabulary.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from kerattn.atomic_files import atomic_write_text

PAD_TOKEN = "[PAD]"
UNKNOWN_TOKEN = "[UNK]"
START_TOKEN = "[START]"
END_TOKEN = "[END]"
RESERVED_TOKENS = (PAD_TOKEN, UNKNOWN_TOKEN, START_TOKEN, END_TOKEN)
PAD_ID, UNKNOWN_ID, START_ID, END_ID = range(len(RESERVED_TOKENS))

VOCABULARY_FILENAME = "vocabulary.txt"


def validate_vocabulary(vocabulary: Iterable[str]) -> list[str]:
    """Checks a vocabulary and returns it as a new list.

    Args:
        vocabulary: tokens in id order.

    Returns:
        The tokens as a list of `str`.

    Raises:
        ValueError: if the reserved tokens are not the first four entries in order, a token is
            empty, contains a line break or appears twice.
    """
    if isinstance(vocabulary, str | bytes):
        raise ValueError(
            f"vocabulary must be a list of token strings, received the single string "
            f"{vocabulary[:50]!r}; to read a file use `read_vocabulary_file`."
        )
    tokens = [token.decode("utf-8") if isinstance(token, bytes) else token for token in vocabulary]
    if tuple(tokens[: len(RESERVED_TOKENS)]) != RESERVED_TOKENS:
        raise ValueError(
            f"vocabulary must start with the reserved tokens {list(RESERVED_TOKENS)}, "
            f"received {tokens[: len(RESERVED_TOKENS)]}."
        )
    seen: set[str] = set()
    for index, token in enumerate(tokens):
        if not isinstance(token, str) or token == "" or "\n" in token or "\r" in token:
            raise ValueError(
                f"vocabulary entry {index} is {token!r}; tokens must be non-empty strings "
                "without line breaks."
            )
        if token in seen:
            raise ValueError(f"vocabulary entry {index} {token!r} appears more than once.")
        seen.add(token)
    return tokens


def write_vocabulary_file(vocabulary: Iterable[str], path: str | os.PathLike) -> None:
    """Writes a vocabulary, one token per line, UTF-8. The file appears whole or not at all (a
    reader in another process never sees half of it), also after a crash: it is written with
    `kerattn.atomic_files.atomic_write_text`."""
    tokens = validate_vocabulary(vocabulary)
    atomic_write_text(path, "".join(token + "\n" for token in tokens))


def read_vocabulary_file(path: str | os.PathLike) -> list[str]:
    """Reads a vocabulary written by `write_vocabulary_file` and validates it."""
    with open(path, encoding="utf-8", newline="") as file:
        content = file.read()
    tokens = content.split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    return validate_vocabulary(tokens)
