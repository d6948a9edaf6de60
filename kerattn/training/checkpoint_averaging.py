"""Checkpoint averaging: one model whose weights are the mean of several training checkpoints of
a run (Junczys-Dowmunt et al., 2016; Vaswani et al., 2017), often a little better than any one
of them when the learning rate is still large at the end of training.

The checkpoints are the run's own (`checkpoints/ckpt-N`, `kerattn.training.checkpoints`): a
run keeps its newest `[training] keep_checkpoints`, `checkpoint_every` steps apart, so a recipe
that means to average sets those two to cover the end of training. A checkpoint holds the
model's weights through the optimizer that trains them (the trainer's `TrainingState`), so they
are read back through an optimizer built over a model of the run: the template, one of the
run's `.keras` files (`final.keras`, else `best.keras`). Its weights are replaced by the mean
(accumulated in float64) of the chosen checkpoints' weights, every trainable weight alike; its
configuration, tokenizers and decoding settings are kept. The result is written atomically as
a `.keras` file, which `kerattn evaluate`, `kerattn export` and `Translator.from_preset` read
as any other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerattn.atomic_files import atomic_write_with
from kerattn.errors import UsageError
from kerattn.training import checkpoints
from kerattn.training.learning_rate_schedule import WarmupSchedule
from kerattn.training.loss_scaling import wrap_optimizer
from kerattn.zoo.model_loading import ModelLoadError, load_model

TEMPLATES = ("final.keras", "best.keras")
AVERAGED_FILE = "averaged.keras"


class CheckpointAveragingError(UsageError):
    """Checkpoints that cannot be averaged as asked; the message is one sentence for the user."""


@dataclass(frozen=True)
class AveragedModel:
    """What `average_checkpoints` wrote.

    path: the `.keras` file written.
    steps: the steps of the checkpoints averaged, ascending.
    template: the run's `.keras` file whose configuration and tokenizers the result keeps.
    """

    path: Path
    steps: tuple[int, ...]
    template: Path


def average_checkpoints(
    run_dir: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    last: int | None = None,
    steps: list[int] | tuple[int, ...] | None = None,
    template: str | os.PathLike | None = None,
) -> AveragedModel:
    """Averages the weights of a run's checkpoints into one model, written to `output`.

    Args:
        run_dir: the run folder (`kerattn train --run-dir`).
        output: the `.keras` file to write (default `<run_dir>/averaged.keras`).
        last: average the newest `last` checkpoints of the run.
        steps: ... or the checkpoints of these steps. Neither: every checkpoint the run kept.
        template: a `.keras` file of the same run (default its `final.keras`, else
            `best.keras`).

    Returns:
        An `AveragedModel`.

    Raises:
        CheckpointAveragingError: no checkpoints, a `last` or `steps` the run does not have, no
            template, an output that is not a `.keras` file, or checkpoints that do not fit the
            template.
    """
    run_dir = Path(run_dir)
    folder = run_dir / "checkpoints"
    chosen = _choose(checkpoints.checkpoint_numbers(folder), last, steps, run_dir)
    output = Path(output) if output is not None else run_dir / AVERAGED_FILE
    if output.suffix != ".keras":
        raise CheckpointAveragingError(
            f"The averaged model must be written to a .keras file; received {os.fspath(output)}."
        )
    template_path = _template(run_dir, template)
    try:
        model = load_model(template_path)
    except ModelLoadError as error:
        raise CheckpointAveragingError(str(error)) from None
    variables = model.trainable_variables
    read_weights = _weight_reader(model, folder, chosen[-1])
    sums = [np.zeros(tuple(variable.shape), np.float64) for variable in variables]
    for number in chosen:
        for total, weight in zip(sums, read_weights(number)):
            total += weight
    for total, variable in zip(sums, variables):
        variable.assign((total / len(chosen)).astype(variable.dtype))
    atomic_write_with(output, lambda temporary: model.save(temporary))
    return AveragedModel(path=output, steps=tuple(chosen), template=template_path)


def _choose(available: list[int], last, steps, run_dir: Path) -> list[int]:
    """The checkpoint numbers to average, ascending, from the run's `available` ones."""
    if not available:
        raise CheckpointAveragingError(
            f"Run folder {os.fspath(run_dir)} has no checkpoints to average (none in "
            f"{os.fspath(run_dir / 'checkpoints')}); pass the folder of a run that kerattn train "
            "wrote."
        )
    listed = ", ".join(str(number) for number in available)
    if last is not None and steps is not None:
        raise CheckpointAveragingError(
            "Pass either last (the newest N checkpoints) or steps (the checkpoints of these "
            "steps), not both."
        )
    if last is not None:
        if isinstance(last, bool) or not isinstance(last, int) or last < 1:
            raise CheckpointAveragingError(
                f"last must be a positive number of checkpoints; received {last!r}."
            )
        if last > len(available):
            raise CheckpointAveragingError(
                f"last={last} asks for more checkpoints than run folder {os.fspath(run_dir)} "
                f"kept ({len(available)}: steps {listed}); pass at most {len(available)}, or "
                "keep more with [training] keep_checkpoints."
            )
        return available[-last:]
    if steps is not None:
        chosen = sorted(set(steps))
        missing = [step for step in chosen if step not in available]
        if not chosen or missing:
            raise CheckpointAveragingError(
                f"Run folder {os.fspath(run_dir)} has no checkpoint of step(s) "
                f"{', '.join(map(str, missing)) or 'none given'}; it has steps {listed}."
            )
        return chosen
    return available


def _template(run_dir: Path, template) -> Path:
    if template is not None:
        path = Path(template)
        if not path.is_file():
            raise CheckpointAveragingError(
                f"Template model {os.fspath(path)} does not exist; pass a .keras file of the run."
            )
        return path
    for name in TEMPLATES:
        if (run_dir / name).is_file():
            return run_dir / name
    raise CheckpointAveragingError(
        f"Run folder {os.fspath(run_dir)} has neither final.keras nor best.keras to take the "
        "model's configuration from; pass a .keras file of the run as the template."
    )


def _weight_reader(model, folder: Path, probe: int):
    """A function: checkpoint number → the model's trainable weights stored in it (NumPy).

    The weights are read through an optimizer built over the model's trainable variables as
    the trainer built its own (Adam on a schedule, so that its own variables line up with the
    checkpoint's: a constant learning rate would be one variable more). A run trained with
    mixed precision saved a loss-scaled optimizer, so that form is tried when the plain one
    does not fit the checkpoint `probe`.
    """
    variables = model.trainable_variables
    for mixed_precision in (False, True):
        schedule = WarmupSchedule(1e-3, "constant", 0, 1)  # never used: nothing is trained
        optimizer = wrap_optimizer(keras.optimizers.Adam(schedule), mixed_precision)
        optimizer.build(variables)
        checkpoint = tf.train.Checkpoint(optimizer=optimizer)

        def read(number: int, checkpoint=checkpoint) -> list[np.ndarray]:
            prefix = os.fspath(checkpoints.checkpoint_prefix(folder, number))
            checkpoint.read(prefix).expect_partial().assert_existing_objects_matched()
            return [variable.numpy() for variable in variables]

        try:
            read(probe)
        except (AssertionError, ValueError, tf.errors.InvalidArgumentError):
            continue
        return read
    raise CheckpointAveragingError(
        f"Checkpoint ckpt-{probe} in {os.fspath(folder)} does not fit the template model (its "
        "weights have other shapes, dtypes or number); pass a .keras file of the same run as "
        "the template."
    )
