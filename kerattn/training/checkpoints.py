"""A run's training checkpoints: atomic, durable writes, keep-N rotation, and a resume that falls
back to the newest checkpoint that can actually be read.

A checkpoint is TensorFlow's file set `ckpt-N.index` + `ckpt-N.data-*-of-*` (N = the step) in
the run's `checkpoints/` folder. The folder itself is the truth: checkpoints are found by
listing their `.index` files, never only through the `checkpoint` state file (it is still
written, for `tf.train.latest_checkpoint` and other TensorFlow tools, but a damaged or stale
state file does not hide a checkpoint).

Writing (`write_checkpoint`): TensorFlow writes a checkpoint in place (and a `ckpt-N_temp`
folder for its shards), so a process killed mid-write leaves a half-written `ckpt-N`. Here the
checkpoint is written into a `.kerattn-*` staging folder inside `checkpoints/`
(`atomic_files.staged_files`), every file is fsync'd, the data files are renamed into place
first and the `.index` file last, once they are durable: the index appearing is the commit, so
a checkpoint whose index is listed is complete. A process killed earlier leaves the staging
folder (removed by `run_folder` when the run starts again) or data files without an index
(removed by the next `write_checkpoint`).

Reading (`restore_newest_readable`): the checkpoints are restored newest first until one reads
back completely (a truncated, bit-flipped or missing file raises); the unreadable ones are
reported and left in place.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kerattn.atomic_files import atomic_write_text, fsync_path, staged_files
from kerattn.errors import KerattnError

STATE_FILE = "checkpoint"
_INDEX = re.compile(r"^ckpt-(\d+)\.index$")
_DATA = re.compile(r"^ckpt-(\d+)\.data-\d+-of-\d+$")


class CheckpointError(KerattnError):
    """A run folder's checkpoints cannot be resumed from (none of them reads back)."""


@dataclass(frozen=True)
class Unreadable:
    """A checkpoint that failed to restore: its number and the first line of the reason."""

    number: int
    reason: str


def checkpoint_numbers(folder: str | os.PathLike) -> list[int]:
    """The numbers N of the `ckpt-N.index` files in `folder`, ascending (empty if none)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    numbers = (_INDEX.match(entry.name) for entry in folder.iterdir())
    return sorted(int(match.group(1)) for match in numbers if match)


def stored_numbers(folder: str | os.PathLike) -> set[int]:
    """The numbers of every checkpoint file in `folder`, index or data: the listed checkpoints
    and the data files a process killed while committing one left without their index."""
    folder = Path(folder)
    if not folder.is_dir():
        return set()
    matches = (_INDEX.match(entry.name) or _DATA.match(entry.name) for entry in folder.iterdir())
    return {int(match.group(1)) for match in matches if match}


def checkpoint_prefix(folder: str | os.PathLike, number: int) -> Path:
    """The TensorFlow path prefix of checkpoint `number` (`folder/ckpt-N`)."""
    return Path(folder) / f"ckpt-{number}"


def checkpoint_files(folder: str | os.PathLike, number: int) -> list[Path]:
    """The files of checkpoint `number`: its data files, then its index (deletion order)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    data = [
        entry
        for entry in folder.iterdir()
        if (match := _DATA.match(entry.name)) and int(match.group(1)) == number
    ]
    index = folder / f"ckpt-{number}.index"
    return sorted(data) + ([index] if index.exists() else [])


def write_checkpoint(checkpoint, folder: str | os.PathLike, number: int, keep: int) -> Path:
    """Writes `checkpoint` (a `tf.train.Checkpoint`) as `folder/ckpt-<number>` atomically and
    durably, then keeps only the newest `keep` checkpoints numbered up to `number`.

    Checkpoints numbered above `number` are removed too: they exist only after a resume fell
    back past unreadable ones, and the resumed run has replaced that part of the run.
    Returns the checkpoint's prefix.
    """
    folder = Path(folder)
    index = f"ckpt-{number}.index"
    # The data files move in first, the index last: its appearing commits the checkpoint.
    with staged_files(folder, last=[index]) as staging:
        _write(checkpoint, staging / f"ckpt-{number}")
        if not (staging / index).is_file():
            raise OSError(f"TensorFlow wrote no checkpoint index {index}")
        _delete_checkpoint(folder, number)  # an unreadable ckpt-N of an abandoned attempt
    numbers = checkpoint_numbers(folder)
    kept = [n for n in numbers if n <= number][-keep:]
    # Data files without an index are what a process killed while committing left behind.
    for old in stored_numbers(folder):
        if old not in kept:
            _delete_checkpoint(folder, old)
    fsync_path(folder)
    _write_state_file(folder, kept)
    return checkpoint_prefix(folder, number)


def write_checkpoint_elsewhere(checkpoint) -> None:
    """A non-chief worker's part in a save (every worker must write): into a folder of its own,
    deleted at once, since only the chief's copy is kept."""
    folder = tempfile.mkdtemp(prefix="kerattn-worker-checkpoint-")
    try:
        _write(checkpoint, Path(folder) / "ckpt")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def restore_newest_readable(checkpoint, folder: str | os.PathLike) -> tuple[int, list[Unreadable]]:
    """Restores the newest checkpoint in `folder` that reads back completely.

    Returns (its number, the newer checkpoints that could not be read). Nothing is deleted.

    Raises:
        CheckpointError: if the folder has checkpoints but none of them can be read.
    """
    import tensorflow as tf

    folder = Path(folder)
    unreadable: list[Unreadable] = []
    for number in reversed(checkpoint_numbers(folder)):
        try:
            status = checkpoint.restore(os.fspath(checkpoint_prefix(folder, number)))
            status.assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as error:
            # Read back, but other variables, shapes or dtypes than the model's: an older
            # checkpoint of the run would not fit either.
            raise CheckpointError(
                f"Checkpoint ckpt-{number} of run folder {folder.parent} does not fit the model "
                f"and optimizer being resumed ({_reason(error)}); resume with the recipe and "
                "the --mixed-precision setting the run was started with."
            ) from None
        except Exception as error:  # noqa: BLE001 (damage: OpError, DataLossError, IndexError)
            unreadable.append(Unreadable(number, _reason(error)))
            continue
        return number, unreadable
    listed = "; ".join(f"ckpt-{item.number}: {item.reason}" for item in unreadable)
    raise CheckpointError(
        f"Run folder {folder.parent} has no readable checkpoint ({listed or 'none found'}), so "
        "it cannot be resumed; nothing was deleted (start the run again with --overwrite)."
    )


def _write(checkpoint, prefix: Path) -> None:
    # `restore` creates the checkpoint's save counter and then expects it in the file.
    checkpoint.save_counter  # noqa: B018 (the property creates it)
    checkpoint.write(os.fspath(prefix))


def _reason(error: BaseException) -> str:
    """The first line of a TensorFlow error, without its `{{function_node ...}}` prefix."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    text = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", text)
    text = text.split(". ")[0].rstrip(".")  # the first sentence is the reason
    text = text if len(text) <= 160 else text[:157] + "..."
    return text or type(error).__name__


def _delete_checkpoint(folder: Path, number: int) -> None:
    # The index goes first, so that a checkpoint half deleted is no longer listed.
    for path in reversed(checkpoint_files(folder, number)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _write_state_file(folder: Path, numbers: list[int]) -> None:
    """TensorFlow's `checkpoint` state file (CheckpointState text format, relative paths)."""
    if not numbers:
        return
    lines = [f'model_checkpoint_path: "ckpt-{numbers[-1]}"']
    lines += [f'all_model_checkpoint_paths: "ckpt-{number}"' for number in numbers]
    atomic_write_text(folder / STATE_FILE, "\n".join(lines) + "\n")
