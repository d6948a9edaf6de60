"""Reading and writing the corpus TSV files: UTF-8, one row a line, tab-separated, no header."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence

from kerattn.data.corpus_error import CorpusError

_TABS_AND_NEWLINES = re.compile(r"[\t\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029]+")


def sanitize_field(text: str) -> str:
    """Return `text` with tabs and line breaks replaced by one space, so it fits one TSV field.

    Besides `\\t` and `\\n` this replaces every character Python's `str.splitlines` treats as a
    line break, so a written file always reads back with the same number of rows.
    """
    return _TABS_AND_NEWLINES.sub(" ", text)


def write_rows(path: str | os.PathLike, rows: Iterable[Sequence[str]]) -> int:
    """Write `rows` to `path` as UTF-8 TSV with `\\n` line ends and return the number written.

    Args:
        path: file to create or overwrite.
        rows: sequences of strings; each field goes through `sanitize_field`.

    Returns:
        The number of rows written.
    """
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as file:
        for row in rows:
            file.write("\t".join(sanitize_field(field) for field in row) + "\n")
            count += 1
    return count


def read_rows(path: str | os.PathLike, min_fields: int = 2) -> list[tuple[str, ...]]:
    """Read a UTF-8 TSV file into tuples of fields, skipping blank lines.

    Args:
        path: the TSV file.
        min_fields: rows with fewer fields are an error.

    Returns:
        One tuple per non-blank line.

    Raises:
        CorpusError: if the file is missing, a folder, not UTF-8 text, or a line has fewer
            than `min_fields`.
    """
    rows = []
    try:
        with open(path, encoding="utf-8", newline="") as file:
            for number, line in enumerate(file, start=1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                if "\x00" in line:
                    raise CorpusError(
                        f"Line {number} of {os.fspath(path)} contains a NUL character, so the "
                        "file is not UTF-8 text (a binary or UTF-16 file?); pass a UTF-8 TSV file."
                    )
                fields = tuple(line.split("\t"))
                if len(fields) < min_fields:
                    raise CorpusError(
                        f"Line {number} of {os.fspath(path)} has {len(fields)} tab-separated "
                        f"field(s); expected at least {min_fields} (source<TAB>target)."
                    )
                rows.append(fields)
    except FileNotFoundError:
        raise CorpusError(
            f"TSV file {os.fspath(path)} does not exist; pass an existing file."
        ) from None
    except IsADirectoryError:
        raise CorpusError(f"TSV file {os.fspath(path)} is a folder; pass a TSV file.") from None
    except UnicodeDecodeError:
        line, offset = _first_invalid_utf8(path)
        raise CorpusError(
            f"TSV file {os.fspath(path)} is not valid UTF-8 (line {line}, byte offset {offset}); "
            "convert it to UTF-8 first (a binary file cannot be used)."
        ) from None
    return rows


def _first_invalid_utf8(path: str | os.PathLike) -> tuple[int, int]:
    """(line number, byte offset in the file) of the first byte that is not UTF-8."""
    # The decoder reports a position inside its read buffer, not in the file: find it again,
    # counting lines as `read_rows` does.
    offset = 0
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as file:
        for number, line in enumerate(file, start=1):
            raw = line.encode("utf-8", "surrogateescape")
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                return number, offset + error.start
            offset += len(raw)
    return 0, offset


def read_pairs(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Read the first two columns of a corpus TSV: (source, target) or (text, label) pairs.

    Args:
        path: a split file written by a builder (`train.tsv`, ...) or any `a<TAB>b` file.

    Returns:
        A list of (source, target) tuples in file order; further columns (origin) are ignored.
    """
    return [(row[0], row[1]) for row in read_rows(path)]
