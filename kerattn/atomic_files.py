"""Atomic, durable writes of files and folders: the one implementation kerattn uses everywhere.

A reader (TF Serving polling a base path, `--resume`, a user's shell) either sees the old
content or the complete new one, never a half-written file, also across a crash or power loss:

1. the content is written under a temporary name in the destination's own folder (so the final
   rename stays on one file system), with the prefix `.kerattn-` that marks it as ours;
2. every file written, and every folder holding them, is fsync'd;
3. the temporary is renamed into place (`os.replace` for files, `os.rename` for folders) and
   the parent folder is fsync'd so that the rename itself is durable.

A process killed between 1 and 3 leaves a `.kerattn-*` temporary behind; `remove_stale_temporaries`
deletes those of them that no live process can still be writing (older than an hour).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

TEMPORARY_PREFIX = ".kerattn-"
STALE_AFTER_SECONDS = 3600.0


def fsync_path(path: str | os.PathLike) -> None:
    """fsync one file or folder (folders: so that the names they hold are durable)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if Path(path).is_dir() else os.O_RDONLY
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_tree(folder: str | os.PathLike) -> None:
    """fsync every file and folder under `folder`, the folder itself included."""
    for root, _, files in os.walk(folder):
        for name in files:
            fsync_path(os.path.join(root, name))
        fsync_path(root)


def _temporary_name(final: Path, kind: str) -> str:
    return f"{TEMPORARY_PREFIX}{final.name}.{os.getpid()}.{kind}"


def atomic_write_bytes(path: str | os.PathLike, content: bytes) -> None:
    """Writes `content` to `path` atomically and durably (replacing an existing file)."""
    atomic_write_with(path, lambda temporary: temporary.write_bytes(content))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Writes UTF-8 `text` to `path` atomically and durably (replacing an existing file)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: str | os.PathLike, write: Callable[[Path], object]) -> None:
    """Calls `write(temporary_file_path)`, then moves the finished file to `path` durably.

    For writers that insist on a file name of their own (`model.save(...)`): the temporary
    keeps the destination's suffix (e.g. `.keras`).
    """
    final = Path(path)
    temporary = final.with_name(_temporary_name(final, "partial") + final.suffix)
    try:
        write(temporary)
        fsync_path(temporary)
        os.replace(temporary, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    fsync_path(final.parent)


@contextlib.contextmanager
def atomic_folder(final: str | os.PathLike, replace: bool = False) -> Iterator[Path]:
    """Yields an empty temporary folder beside `final`; on success it becomes `final`.

    The folder's files are fsync'd before the rename. If the body raises, the temporary folder
    is deleted and `final` is untouched.

    Args:
        final: the folder to create.
        replace: whether an existing `final` folder may be replaced (it is moved aside and
            deleted only once the new folder is in place). Without it, an existing `final`
            raises FileExistsError at the rename and nothing is lost.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=_temporary_name(final, ""), dir=final.parent))
    try:
        # mkdtemp makes the folder private (0700); a server running as another user must read it.
        temporary.chmod(0o755)
        yield temporary
        fsync_tree(temporary)
        if final.exists():
            if not replace:
                raise FileExistsError(f"{final} already exists.")
            retired = final.with_name(_temporary_name(final, "old"))
            os.rename(final, retired)
            os.rename(temporary, final)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(temporary, final)
        fsync_path(final.parent)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def remove_stale_temporaries(
    folder: str | os.PathLike, older_than_seconds: float = STALE_AFTER_SECONDS
) -> list[Path]:
    """Deletes the `.kerattn-*` temporaries in `folder` not modified for `older_than_seconds`.

    Only names with kerattn's own prefix are considered, so nothing a user made is touched; the
    age threshold leaves a concurrent writer's fresh temporary alone. Returns what was removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    now = time.time()
    removed = []
    for entry in folder.iterdir():
        if not entry.name.startswith(TEMPORARY_PREFIX):
            continue
        try:
            age = now - entry.lstat().st_mtime
        except FileNotFoundError:
            continue
        if age < older_than_seconds:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
        removed.append(entry)
    return removed
