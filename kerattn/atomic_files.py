"""Atomic, durable writes of files and folders: the one implementation kerattn uses everywhere.

A reader (TF Serving polling a base path, `--resume`, a user's shell) either sees the old
content or the complete new one, never a half-written file, also across a crash or power loss:

1. the content is written under a temporary name in the destination's own folder (so the final
   rename stays on one file system), with the prefix `.kerattn-` that marks it as ours;
2. every file written, and every folder holding them, is fsync'd;
3. the temporary is renamed into place (`os.replace` for files, `os.rename` for folders) and
   the parent folder is fsync'd so that the rename itself is durable.

`atomic_write_text/bytes/with` write one file, `atomic_folder` a whole new folder, and
`staged_files` several files into a folder that already exists and may hold other files
(which it never touches). An OSError about a temporary name is re-raised naming the final path,
the one the user knows.

A process killed between 1 and 3 leaves a `.kerattn-*` temporary behind; `remove_stale_temporaries`
deletes those of them that no live process can still be writing (nothing in them changed for an
hour, and the process that made them, whose id the name carries, is gone).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

TEMPORARY_PREFIX = ".kerattn-"
STALE_AFTER_SECONDS = 3600.0
_WRITER_PID = re.compile(re.escape(TEMPORARY_PREFIX) + r"(\d+)-")


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
    # The writer's process id comes first, so `remove_stale_temporaries` can tell it is alive.
    return f"{TEMPORARY_PREFIX}{os.getpid()}-{final.name}.{kind}"


@contextlib.contextmanager
def _naming_final_paths(temporary: Path, final: Path) -> Iterator[None]:
    """Re-raises an OSError about `temporary` (or a path inside it) as one about `final`, and
    one about no file (a full disk reported by `write`) as one about `final` too."""
    try:
        yield
    except OSError as error:
        if error.strerror is None:  # not from the OS (`FileExistsError("... exists.")`): as is
            raise
        if error.filename is None:
            error.filename = os.fspath(final)
        for attribute in ("filename", "filename2"):
            name = getattr(error, attribute, None)
            if not isinstance(name, str | os.PathLike):
                continue
            try:
                relative = Path(os.path.abspath(name)).relative_to(os.path.abspath(temporary))
            except ValueError:
                continue
            setattr(error, attribute, os.fspath(final / relative))
        raise


def _make_folders(folder: Path) -> list[Path]:
    """Creates `folder` and its missing parents durably; returns those created, outermost first."""
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.is_dir():
            break
        missing.append(candidate)
    folder.mkdir(parents=True, exist_ok=True)
    missing.reverse()
    for created in missing:
        fsync_path(created.parent)
    return missing


def _make_temporary_folder(parent: Path, final: Path) -> Path:
    """A new, empty `.kerattn-` folder in `parent` for the content of `final`."""
    prefix = _temporary_name(Path(os.path.abspath(final)), "")  # abspath: `.` has no name
    try:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    except OSError as error:
        if isinstance(error.filename, str) and os.path.basename(error.filename).startswith(prefix):
            error.filename = os.fspath(final)
        raise


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
    with _naming_final_paths(temporary, final):
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

    The folder's files are fsync'd before the rename, the parent folder after it (and any
    parent this call creates). If the body raises, the temporary folder is deleted and `final`
    is untouched.

    Args:
        final: the folder to create.
        replace: whether an existing `final` folder may be replaced (it is moved aside and
            deleted only once the new folder is in place). Without it, an existing `final`
            raises FileExistsError at the rename and nothing is lost.
    """
    final = Path(final)
    _make_folders(final.parent)
    temporary = _make_temporary_folder(final.parent, final)
    with _naming_final_paths(temporary, final):
        try:
            # mkdtemp makes the folder private (0700); a server running as another user must
            # read it.
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


@contextlib.contextmanager
def staged_files(folder: str | os.PathLike, last: Iterable[str] = ()) -> Iterator[Path]:
    """Yields an empty staging folder inside `folder`; on success its files move into `folder`.

    For a destination that must stay where it is: one that holds files of the user's (never
    touched) or that cannot be renamed (`.`, whose parent may not even be writable). The files
    written into the staging folder are fsync'd, then each replaces its namesake in `folder`
    atomically (`os.replace`); those named in `last` (a marker such as `manifest.json`) follow
    only once the other renames are durable, and `folder` is fsync'd at the end. A reader sees
    each file old or new, never half written; the files change one after the other.

    If the body raises, the staging folder is deleted and `folder` is as it was (if this call
    created `folder`, it is removed again, with any parents it created). Only plain files at
    the top of the staging folder are moved; anything else raises ValueError before any move.

    Args:
        folder: the destination (created if missing).
        last: names of files to move after all the others, in this order.
    """
    folder = Path(folder)
    created = _make_folders(folder)
    try:
        staging = _make_temporary_folder(folder, folder)
    except BaseException:
        _remove_empty(created)
        raise
    with _naming_final_paths(staging, folder):
        try:
            staging.chmod(0o755)
            yield staging
            names = sorted(entry.name for entry in staging.iterdir())
            last = [name for name in last if name in names]
            order = [name for name in names if name not in last] + last
            for name in order:
                if (staging / name).is_symlink() or not (staging / name).is_file():
                    raise ValueError(
                        f"staged_files moves plain files only; {staging / name} is not one."
                    )
                if (folder / name).is_dir() and not (folder / name).is_symlink():
                    raise IsADirectoryError(
                        errno.EISDIR,
                        "Is a directory, not replaced by a file",
                        os.fspath(folder / name),
                    )
            fsync_tree(staging)
            for name in order:
                if name in last:
                    fsync_path(folder)
                os.replace(staging / name, folder / name)
            fsync_path(folder)
            staging.rmdir()
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            _remove_empty(created)
            raise


def _remove_empty(folders: list[Path]) -> None:
    """Removes the folders (outermost first in `folders`) that are still empty, innermost first."""
    for created in reversed(folders):
        try:
            created.rmdir()
        except OSError:
            return


def _newest_change(entry: Path) -> float:
    """The newest modification time of `entry` and, for a folder, of everything under it."""
    newest = entry.lstat().st_mtime
    if entry.is_dir() and not entry.is_symlink():
        for root, folders, files in os.walk(entry):
            for name in (*folders, *files):
                with contextlib.suppress(FileNotFoundError):
                    newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
    return newest


def _writer_is_alive(name: str) -> bool:
    """Whether the process whose id the temporary's name carries still runs on this machine."""
    match = _WRITER_PID.match(name)
    if not match:
        return False  # a name from an older kerattn, without the writer's id: age decides alone
    pid = int(match.group(1))
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, as another user's process
        return True
    return True


def remove_stale_temporaries(
    folder: str | os.PathLike, older_than_seconds: float = STALE_AFTER_SECONDS
) -> list[Path]:
    """Deletes the `.kerattn-*` temporaries in `folder` that no writer can still be using.

    Only names with kerattn's own prefix are considered, so nothing a user made is touched. A
    temporary is removed only when nothing in it changed for `older_than_seconds` and the
    process that created it is not running on this machine, so a concurrent writer's
    temporary is left alone: a long export's too, and one from another machine sharing the
    folder while it still writes. Symbolic links are removed, never followed. Returns what was
    removed.
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
            age = now - _newest_change(entry)
        except FileNotFoundError:
            continue
        if age < older_than_seconds or _writer_is_alive(entry.name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
        removed.append(entry)
    return removed
