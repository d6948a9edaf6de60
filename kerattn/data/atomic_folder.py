"""Atomic creation of an output folder: built under a temporary name, renamed when complete."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from kerattn.data.corpus_error import CorpusError


@contextlib.contextmanager
def atomic_folder(final: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside `final`; rename it to `final` on success.

    The temporary folder lives in the same parent (so the rename is atomic on one file system)
    and is deleted if the body raises, so a failed build leaves neither a half-written folder
    nor a changed old one. An existing `final` folder is replaced only once the new one is
    complete.

    Args:
        final: the folder to create or replace.

    Yields:
        The temporary folder to write into.

    Raises:
        CorpusError: if `final` exists and is not a folder.
    """
    final = Path(final)
    if final.exists() and not final.is_dir():
        raise CorpusError(f"Output path {final} is a file; pass a folder path with --out.")
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    try:
        yield temporary
        os.chmod(temporary, 0o755)
        if final.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
            os.rename(final, retired / final.name)
            os.rename(temporary, final)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(temporary, final)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
