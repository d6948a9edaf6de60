"""A run's checkpointed state: the model, the optimizer, the dropout seed states, the position
in the data and the early-stopping record, in one `tf.train.Checkpoint`.

The position is the step, the epoch and the number of batches already taken from that epoch:
each epoch's batch order is a pure function of the seed and the epoch
(`kerattn.data.input_pipeline`), so a resumed run skips exactly the batches it trained on. The
early-stopping record is the best validation loss, its step and the evaluations since it
improved. The files themselves are written and read by `checkpoints` (atomic, durable, the
newest readable one restored).
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from kerattn.training import checkpoints, random_states

_COUNTERS = (
    ("step", 0, tf.int64),
    ("epoch", 0, tf.int64),
    ("batch_in_epoch", 0, tf.int64),
    ("best_valid_loss", np.inf, tf.float32),
    ("best_step", -1, tf.int64),  # -1: no evaluation yet
    ("evaluations_without_improvement", 0, tf.int64),
)


class TrainingState:
    """The checkpoint of a run in training.

    Args:
        strategy: the run's strategy; the counters are created in its scope, as the model's
            variables are.
        model: the model being trained (built).
        optimizer: its optimizer (built).
    """

    def __init__(self, strategy, model, optimizer):
        with strategy.scope():
            self.counters = {
                name: tf.Variable(value, trainable=False, name=name, dtype=dtype)
                for name, value, dtype in _COUNTERS
            }
        self.random_states = random_states.seed_states(model)
        self.checkpoint = tf.train.Checkpoint(
            model=model, optimizer=optimizer, random_states=self.random_states, **self.counters
        )

    # -- position ---------------------------------------------------------------------------

    def position(self) -> tuple[int, int, int]:
        """(step, epoch, batches already taken from the epoch) of the last save or restore."""
        return tuple(
            int(self.counters[name].numpy()) for name in ("step", "epoch", "batch_in_epoch")
        )

    # -- early stopping ---------------------------------------------------------------------

    @property
    def best_step(self) -> int | None:
        """The step of the lowest validation loss; None before the first evaluation."""
        step = int(self.counters["best_step"].numpy())
        return step if step >= 0 else None

    @property
    def best_valid_loss(self) -> float | None:
        """The lowest validation loss; None before the first evaluation."""
        if self.best_step is None:
            return None
        return float(self.counters["best_valid_loss"].numpy())

    def record_evaluation(self, loss: float, step: int) -> bool:
        """Counts an evaluation; returns whether its loss is the lowest so far."""
        improved = loss < float(self.counters["best_valid_loss"].numpy())
        if improved:
            self.counters["best_valid_loss"].assign(loss)
            self.counters["best_step"].assign(step)
            self.counters["evaluations_without_improvement"].assign(0)
        else:
            self.counters["evaluations_without_improvement"].assign_add(1)
        return improved

    def patience_exhausted(self, patience: int) -> bool:
        """Whether `patience` evaluations in a row did not improve (never if `patience` is 0)."""
        waited = int(self.counters["evaluations_without_improvement"].numpy())
        return bool(patience) and waited >= patience

    # -- files ------------------------------------------------------------------------------

    def save(
        self,
        folder: str | os.PathLike,
        step: int,
        epoch: int,
        batch_in_epoch: int,
        *,
        keep: int,
        chief: bool,
    ) -> None:
        """Records the position and writes checkpoint `ckpt-<step>` into `folder`, keeping the
        newest `keep`. Every worker takes part in a save; only the chief's copy is kept."""
        self.counters["step"].assign(step)
        self.counters["epoch"].assign(epoch)
        self.counters["batch_in_epoch"].assign(batch_in_epoch)
        if chief:
            checkpoints.write_checkpoint(self.checkpoint, folder, step, keep=keep)
        else:
            checkpoints.write_checkpoint_elsewhere(self.checkpoint)

    def restore(self, folder: str | os.PathLike) -> tuple[int, list[checkpoints.Unreadable]]:
        """Restores the newest readable checkpoint in `folder`; returns its number and the newer
        ones that could not be read (`checkpoints.restore_newest_readable`)."""
        return checkpoints.restore_newest_readable(self.checkpoint, folder)
