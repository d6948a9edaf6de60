"""`kerattn train` and `kerattn evaluate`: the library calls behind them and what they print (the
CLI only parses flags). Errors are raised as kerattn exceptions; the command line reports them
in one sentence."""

from __future__ import annotations

import json
import os

from kerattn.training.trainer import train
from kerattn.zoo import evaluation


def train_command(
    recipe: str | os.PathLike, run_dir: str | os.PathLike | None = None, **options
) -> int:
    """Trains `recipe` (`kerattn.training.train`, which prints the progress); returns 0.

    `options` are `train`'s keyword arguments (resume, overwrite, logdir, mixed_precision, xla,
    max_steps, strategy).
    """
    train(recipe, run_dir, **options)
    return 0


def evaluate_command(
    model: str | os.PathLike,
    data: str | os.PathLike,
    *,
    as_json: bool = False,
    log_dir: str | os.PathLike | None = None,
    probes: int = 5,
    **options,
) -> int:
    """Evaluates `model` on the TSV `data` (`kerattn.zoo.evaluation.evaluate_file`) and prints the
    report as a table, or as JSON; returns 0. With `log_dir`, the attention of the first `probes`
    inputs goes to a TensorBoard log there too (`log_probes`).

    `options` are `evaluate_file`'s keyword arguments (task, beam_size, batch_size, limit,
    alternates_path, origin, n_best, predictions_path, by_origin).
    """
    report = evaluation.evaluate_file(model, data, **options)
    print(json.dumps(report, indent=2) if as_json else evaluation.format_report(report))
    if log_dir is not None:
        log_probes(model, data, log_dir, count=probes)
    return 0


def log_probes(
    model: str | os.PathLike, data: str | os.PathLike, log_dir: str | os.PathLike, count: int = 5
) -> None:
    """Writes the attention of the first `count` inputs of the TSV `data` to a TensorBoard log in
    `log_dir` at step 0, as the trainer writes its probes (`attention_summaries`): heatmap images,
    the attention as data for the Attention tab, diagnostics and the outputs."""
    import tensorflow as tf

    from kerattn.data.tsv import read_pairs
    from kerattn.training import attention_summaries

    loaded = evaluation.load_model_for_evaluation(model)
    family = "classifier" if evaluation.detect_task(loaded) == "classification" else "translator"
    texts = [source for source, _ in read_pairs(data)[:count]]
    with tf.summary.create_file_writer(os.fspath(log_dir)).as_default():
        attention_summaries.write_probe_summaries(loaded, family, texts, step=0)
