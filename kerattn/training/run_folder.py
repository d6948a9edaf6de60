"""The run folder of `kerattn train`: which files are the run's own, what counts as progress,
the lock that makes one trainer its owner, stale temporaries, `overwrite`, and the up-front
check that the folders can be written.

The run's own files::

    recipe.toml  vocabulary/{source,target}.txt  best.keras  final.keras  metrics.json
    checkpoints/{ckpt-N.index, ckpt-N.data-*, checkpoint}
    logs/{train,valid}/events.out.tfevents.*     (or under --logdir)

Anything else in the folder is the user's and is never touched. *Progress* is any checkpoint,
`best.keras`, `final.keras` or `metrics.json`: a folder with progress is trained on only to
resume it or, with `overwrite`, to start it again (`remove_run_files` then deletes the run's
own files, and nothing else).

Ownership: the chief trainer holds an exclusive `flock` on the run folder itself (no lock file)
while it runs. The kernel releases it when the process ends, however it ends, so it never goes
stale; a second trainer on the same folder is refused instead of interleaving its writes.

Stale temporaries, removed when a run starts (`remove_stale_temporaries`; nothing else is ever
deleted there):

- kerattn's `.kerattn-*` temporaries (`atomic_files`) and TensorFlow's `ckpt-N_temp*` shard
  folders in `checkpoints/` and `vocabulary/`, and the temporaries of the run's own files in
  the run folder (`.kerattn-best.keras.*`, ...): whatever their age when this process holds the
  lock, since only a trainer writes them and no other trainer can be running there; they are
  what a killed process left;
- every other `.kerattn-*` in the run folder (another kerattn command may be writing one
  there), and everything when the lock cannot be taken (no `flock` on this platform or file
  system): only once older than `atomic_files.STALE_AFTER_SECONDS` (an hour), the age past
  which no live writer is still at work on one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from kerattn import atomic_files
from kerattn.atomic_files import TEMPORARY_PREFIX
from kerattn.errors import KerattnError, UsageError
from kerattn.training import checkpoints

OWN_FILES = ("recipe.toml", "best.keras", "final.keras", "metrics.json")
PROGRESS_FILES = ("best.keras", "final.keras", "metrics.json")
VOCABULARY_FILES = ("source.txt", "target.txt")
LOG_SPLITS = ("train", "valid")
# What kerattn versions before atomic_files left when killed while saving.
_EARLIER_TEMPORARIES = ("best.partial.keras", "final.partial.keras", "metrics.json.partial")
# TensorFlow's sharded-save folders: `ckpt-N_temp`, or `ckpt-N_temp_<uuid hex>` in older versions.
_TENSORFLOW_TEMPORARY = re.compile(r"^ckpt-\d+_temp(_[0-9a-f]{32})?$")
_EVENT_FILE = re.compile(r"^events\.out\.tfevents\.")
# atomic_files's temporaries of the run's own files: `.kerattn-[<pid>-]best.keras.<...>`.
_OWN_TEMPORARY = re.compile(
    re.escape(TEMPORARY_PREFIX) + r"(\d+-)?(" + "|".join(map(re.escape, OWN_FILES)) + r")\."
)


class RunFolderError(KerattnError):
    """The run folder (or TensorBoard folder) cannot be used: not writable, or in use."""


class RunFolderPathError(UsageError, RunFolderError):
    """A `--run-dir` or `--logdir` that names a file or lies under one. Exit code 2."""


class RunFolderConflict(UsageError):
    """The run folder's state does not fit the options (progress without resume/overwrite,
    resume without a checkpoint)."""


def progress(run_dir: Path) -> list[str]:
    """What in `run_dir` shows that a run trained there: "checkpoints/", "best.keras", ..."""
    found = []
    checkpoint_dir = run_dir / "checkpoints"
    if (
        checkpoints.checkpoint_numbers(checkpoint_dir)
        or (checkpoint_dir / checkpoints.STATE_FILE).exists()
    ):
        found.append("checkpoints/")
    return found + [name for name in PROGRESS_FILES if (run_dir / name).exists()]


def check_progress(run_dir: Path, *, resume: bool, overwrite: bool) -> None:
    """Raises `RunFolderConflict` unless the run folder's progress fits the options: `resume`
    needs a checkpoint, and a folder with progress needs `resume` or `overwrite`."""
    found = progress(run_dir)
    if resume:
        if not checkpoints.checkpoint_numbers(run_dir / "checkpoints"):
            advice = (
                "pass --overwrite instead to start it again"
                if found
                else "train without --resume to start it"
            )
            raise RunFolderConflict(
                f"Run folder {run_dir} has no checkpoint to resume from; {advice}."
            )
    elif found and not overwrite:
        raise RunFolderConflict(
            f"Run folder {run_dir} already has a run's progress ({', '.join(found)}); "
            "pass --resume to continue it, or --overwrite to start it again (replacing the "
            "run's own files only), or choose another --run-dir."
        )


def check_writable(folder: Path, what: str, option: str, subfolders: tuple[str, ...] = ()) -> None:
    """Raises `RunFolderError` unless files can be created in `folder` and in those of its
    `subfolders` that exist (or, if it does not exist yet, in its nearest existing parent);
    `RunFolderPathError` if `folder` is a file or lies under one.

    A real file is created and deleted: permission bits alone do not tell (root, read-only
    mounts, ACLs).
    """
    folder = Path(os.path.abspath(folder))
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        if existing == folder:
            raise RunFolderPathError(f"{what} {folder} is a file; pass a folder as {option}.")
        raise RunFolderPathError(
            f"{what} {folder} lies under {existing}, which is a file; pass another {option}."
        )
    probes = [existing]
    if existing == folder:
        probes += [folder / name for name in subfolders if (folder / name).is_dir()]
    for probe in probes:
        try:
            descriptor, name = tempfile.mkstemp(
                prefix=f"{TEMPORARY_PREFIX}{os.getpid()}-write-check.", dir=probe
            )
        except OSError as error:
            reason = error.strerror or type(error).__name__
            if probe == folder:
                where = f"{what} {folder} is not writable"
            elif existing == folder:
                where = f"{what} {folder} has a folder {probe.name} that is not writable"
            else:
                where = f"{what} {folder} cannot be created: {probe} is not writable"
            raise RunFolderError(
                f"{where} ({reason}); pass another {option} or make it writable."
            ) from None
        os.close(descriptor)
        os.unlink(name)


class RunFolderLock:
    """An exclusive, non-blocking `flock` on a folder, held until `release`."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.descriptor: int | None = None

    def acquire(self) -> bool:
        """Takes the lock; False where locking is not available (then nothing is held).

        Raises:
            RunFolderError: if another process holds it.
        """
        try:
            import fcntl
        except ImportError:  # Windows
            return False
        descriptor = os.open(self.folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise RunFolderError(
                f"Run folder {self.folder} is in use by another kerattn train; wait for it to "
                "finish or pass another --run-dir."
            ) from None
        except OSError:  # a file system without flock
            os.close(descriptor)
            return False
        self.descriptor = descriptor
        return True

    def release(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)  # closing the descriptor releases the flock
            self.descriptor = None


def remove_stale_temporaries(run_dir: Path, owned: bool) -> list[Path]:
    """Deletes the stale temporaries of `run_dir` as the module docstring sets out.

    owned: whether this process holds the run folder's lock. Returns what was removed.
    """
    if not run_dir.is_dir():
        return []
    now = time.time()
    threshold = 0.0 if owned else atomic_files.STALE_AFTER_SECONDS
    removed = []
    checkpoint_dir = run_dir / "checkpoints"
    for folder in (checkpoint_dir, run_dir / "vocabulary"):
        removed += atomic_files.remove_stale_temporaries(folder, older_than_seconds=threshold)
    if checkpoint_dir.is_dir():
        for entry in checkpoint_dir.iterdir():
            if (
                _TENSORFLOW_TEMPORARY.match(entry.name)
                and entry.is_dir()
                and _age(entry, now) >= threshold
            ):
                _remove(entry)
                removed.append(entry)
    if owned:
        for entry in run_dir.iterdir():
            if _OWN_TEMPORARY.match(entry.name):
                _remove(entry)
                removed.append(entry)
    return removed + atomic_files.remove_stale_temporaries(run_dir)


def remove_run_files(run_dir: Path, logdir: Path) -> list[Path]:
    """Deletes the run's own files (module docstring) from `run_dir` and its TensorBoard event
    files from `logdir`, and the folders this leaves empty; other files stay. Returns what was
    removed."""
    removed = []
    checkpoint_dir = run_dir / "checkpoints"
    for number in sorted(checkpoints.stored_numbers(checkpoint_dir)):
        # The index first: a checkpoint half deleted is no longer listed.
        for path in reversed(checkpoints.checkpoint_files(checkpoint_dir, number)):
            removed += _remove_if_there(path)
    if checkpoint_dir.is_dir():
        for entry in checkpoint_dir.iterdir():
            if (
                entry.name == checkpoints.STATE_FILE
                or entry.name.startswith(TEMPORARY_PREFIX)
                or (_TENSORFLOW_TEMPORARY.match(entry.name) and entry.is_dir())
            ):
                removed += _remove_if_there(entry)
    for name in OWN_FILES + _EARLIER_TEMPORARIES:
        removed += _remove_if_there(run_dir / name)
    for name in VOCABULARY_FILES:
        removed += _remove_if_there(run_dir / "vocabulary" / name)
    for split in LOG_SPLITS:
        folder = logdir / split
        if folder.is_dir():
            for entry in folder.iterdir():
                if _EVENT_FILE.match(entry.name) and entry.is_file():
                    removed += _remove_if_there(entry)
    empty_candidates = [checkpoint_dir, run_dir / "vocabulary"]
    empty_candidates += [logdir / split for split in LOG_SPLITS]
    if logdir == run_dir / "logs":
        empty_candidates.append(logdir)  # a --logdir elsewhere is the user's folder
    for folder in empty_candidates:
        with contextlib.suppress(OSError):  # not empty, or not there
            folder.rmdir()
    if run_dir.is_dir():
        atomic_files.fsync_path(run_dir)
    return removed


def _age(path: Path, now: float) -> float:
    try:
        return now - path.lstat().st_mtime
    except FileNotFoundError:
        return -1.0


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _remove_if_there(path: Path) -> list[Path]:
    if not (path.exists() or path.is_symlink()):
        return []
    _remove(path)
    return [path]
