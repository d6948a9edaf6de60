"""Checkpoints: atomic writes and keep-N, listing by index files, restore falling back past
damaged checkpoints, and refusing one that does not fit."""

from __future__ import annotations

import os

import pytest
import tensorflow as tf

from kerattn import atomic_files
from kerattn.atomic_files import TEMPORARY_PREFIX
from kerattn.errors import KerattnError
from kerattn.training import checkpoints
from kerattn.training.checkpoints import CheckpointError


def _checkpoint(value: float = 0.0, size: int = 64):
    return tf.train.Checkpoint(
        weights=tf.Variable(tf.fill([size], value)), step=tf.Variable(0, dtype=tf.int64)
    )


def _write(folder, numbers, keep=10):
    checkpoint = _checkpoint()
    for number in numbers:
        checkpoint.weights.assign(tf.fill([64], float(number)))
        checkpoint.step.assign(number)
        checkpoints.write_checkpoint(checkpoint, folder, number, keep=keep)


def _damage(folder, number, how):
    index = folder / f"ckpt-{number}.index"
    data = folder / f"ckpt-{number}.data-00000-of-00001"
    if how == "truncated index":
        with open(index, "r+b") as file:
            file.truncate(10)
    elif how == "garbage index":
        index.write_bytes(b"x" * 200)
    elif how == "truncated data":
        with open(data, "r+b") as file:
            file.truncate(20)
    elif how == "flipped data":
        content = bytearray(data.read_bytes())
        content[len(content) // 2] ^= 0xFF
        data.write_bytes(bytes(content))
    elif how == "missing data":
        data.unlink()


def _snapshot(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_writes_rotate_and_leave_no_temporaries(tmp_path):
    folder = tmp_path / "checkpoints"
    _write(folder, [1, 2, 3, 4], keep=2)
    assert checkpoints.checkpoint_numbers(folder) == [3, 4]
    assert sorted(path.name for path in folder.iterdir()) == [
        "checkpoint",
        "ckpt-3.data-00000-of-00001",
        "ckpt-3.index",
        "ckpt-4.data-00000-of-00001",
        "ckpt-4.index",
    ]
    # TensorFlow's own tools still find the newest through the state file.
    assert tf.train.latest_checkpoint(str(folder)) == str(folder / "ckpt-4")
    assert tf.train.get_checkpoint_state(str(folder)).all_model_checkpoint_paths == [
        str(folder / "ckpt-3"),
        str(folder / "ckpt-4"),
    ]


def test_the_index_is_renamed_into_place_last(tmp_path, monkeypatch):
    moved = []
    real_replace = os.replace

    def recording_replace(source, destination):
        moved.append(os.path.basename(destination))
        real_replace(source, destination)

    monkeypatch.setattr(checkpoints.os, "replace", recording_replace)
    _write(tmp_path, [7])
    files = [name for name in moved if name.startswith("ckpt-7")]
    assert files == ["ckpt-7.data-00000-of-00001", "ckpt-7.index"]


def test_a_failed_write_leaves_the_earlier_checkpoints_and_no_temporary(tmp_path, monkeypatch):
    _write(tmp_path, [1])
    before = _snapshot(tmp_path)

    def failing_fsync(folder):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_files, "fsync_tree", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        _write(tmp_path, [2])
    assert _snapshot(tmp_path) == before
    assert not any(path.name.startswith(TEMPORARY_PREFIX) for path in tmp_path.iterdir())


def test_a_write_stopped_before_its_index_leaves_no_checkpoint(tmp_path, monkeypatch):
    # As a process killed between the renames: the data files are in place, the index is not.
    _write(tmp_path, [1])
    real_replace = os.replace

    def stop_at_the_index(source, destination):
        if os.path.basename(destination) == "ckpt-2.index":
            raise KeyboardInterrupt
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", stop_at_the_index)
    with pytest.raises(KeyboardInterrupt):
        _write(tmp_path, [2])
    monkeypatch.setattr(os, "replace", real_replace)
    assert (tmp_path / "ckpt-2.data-00000-of-00001").exists()
    assert checkpoints.checkpoint_numbers(tmp_path) == [1]
    assert checkpoints.restore_newest_readable(_checkpoint(), tmp_path) == (1, [])
    _write(tmp_path, [3])  # the next write removes the data files left without an index
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "checkpoint",
        "ckpt-1.data-00000-of-00001",
        "ckpt-1.index",
        "ckpt-3.data-00000-of-00001",
        "ckpt-3.index",
    ]


@pytest.mark.parametrize(
    "how", ["truncated index", "garbage index", "truncated data", "flipped data", "missing data"]
)
def test_restore_falls_back_to_the_newest_readable_checkpoint(tmp_path, how):
    _write(tmp_path, [2, 4, 6])
    _damage(tmp_path, 6, how)
    (tmp_path / "checkpoint").write_text("garbage that is no CheckpointState\x00")
    restored = _checkpoint(value=-1.0)
    number, unreadable = checkpoints.restore_newest_readable(restored, tmp_path)
    assert number == 4 and int(restored.step.numpy()) == 4
    assert float(restored.weights.numpy().max()) == float(restored.weights.numpy().min()) == 4.0
    assert [item.number for item in unreadable] == [6]
    assert unreadable[0].reason and "\n" not in unreadable[0].reason
    assert "function_node" not in unreadable[0].reason


def test_checkpoints_are_listed_without_the_state_file(tmp_path):
    _write(tmp_path, [3, 5])
    (tmp_path / "checkpoint").unlink()
    assert checkpoints.checkpoint_numbers(tmp_path) == [3, 5]
    (tmp_path / "checkpoint").write_bytes(b"\xff\xfe not a state file")
    number, unreadable = checkpoints.restore_newest_readable(_checkpoint(), tmp_path)
    assert (number, unreadable) == (5, [])


def test_no_readable_checkpoint_is_one_sentence_and_deletes_nothing(tmp_path):
    folder = tmp_path / "checkpoints"
    _write(folder, [1, 2])
    _damage(folder, 1, "garbage index")
    _damage(folder, 2, "truncated data")
    before = _snapshot(folder)
    with pytest.raises(CheckpointError) as caught:
        checkpoints.restore_newest_readable(_checkpoint(), folder)
    message = str(caught.value)
    assert isinstance(caught.value, KerattnError) and caught.value.exit_code == 1
    assert message.startswith(f"Run folder {tmp_path} has no readable checkpoint (ckpt-2: ")
    assert "ckpt-1: " in message and "nothing was deleted" in message
    assert "\n" not in message and message.endswith(".")
    assert _snapshot(folder) == before


def test_a_checkpoint_of_another_model_is_refused_without_falling_back(tmp_path):
    _write(tmp_path, [1, 2])
    with pytest.raises(
        CheckpointError,
        match=r"^Checkpoint ckpt-2 of run folder .* does not fit "
        r"the model and optimizer being resumed \(",
    ):
        checkpoints.restore_newest_readable(_checkpoint(size=65), tmp_path)


def test_an_unreadable_checkpoint_of_an_abandoned_attempt_is_replaced(tmp_path):
    # After a fallback to ckpt-4 the resumed run writes ckpt-5 over the damaged one, and the
    # later, abandoned ckpt-6 goes.
    _write(tmp_path, [4, 5, 6])
    _damage(tmp_path, 5, "flipped data")
    _damage(tmp_path, 6, "garbage index")
    checkpoint = _checkpoint(value=5.0)
    checkpoint.step.assign(5)
    checkpoints.write_checkpoint(checkpoint, tmp_path, 5, keep=3)
    assert checkpoints.checkpoint_numbers(tmp_path) == [4, 5]
    assert not (tmp_path / "ckpt-6.data-00000-of-00001").exists()
    assert checkpoints.restore_newest_readable(_checkpoint(), tmp_path) == (5, [])
