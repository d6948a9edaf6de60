"""`kerattn train` and `kerattn evaluate`: the library calls behind them and what they print (the
CLI only parses flags). Errors are raised as kerattn exceptions; the command line reports them
in one sentence."""

from __future__ import annotations

import json
import os

from kerattn.training.trainer import train
from kerattn.zoo import evaluation


def train_command(recipe: str | os.PathLike, run_dir: str | os.PathLike | None = None,
                  **options) -> int:
    """Trains `recipe` (`kerattn.training.train`, which prints the progress); returns 0.

    `options` are `train`'s keyword arguments (resume, overwrite, logdir, mixed_precision, xla,
    max_steps, strategy).
    """
    train(recipe, run_dir, **options)
    return 0


def evaluate_command(model: str | os.PathLike, data: str | os.PathLike, *, as_json: bool = False,
                     **options) -> int:
    """Evaluates `model` on the TSV `data` (`kerattn.zoo.evaluation.evaluate_file`) and prints the
    report as a table, or as JSON; returns 0.

    `options` are `evaluate_file`'s keyword arguments (task, beam_size, batch_size, limit,
    alternates_path, origin).
    """
    report = evaluation.evaluate_file(model, data, **options)
    print(json.dumps(report, indent=2) if as_json else evaluation.format_report(report))
    return 0
