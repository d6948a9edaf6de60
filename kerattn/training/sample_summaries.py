"""A TensorBoard text summary of the model's outputs on the first validation examples."""

from __future__ import annotations

import tensorflow as tf

from kerattn.tables import markdown_table


def write_validation_samples(
    model,
    family: str,
    texts: list[str],
    outputs: list[str],
    targets: list,
    step: int,
    count: int = 5,
) -> None:
    """Writes text `valid_samples` at `step` under the default summary writer: a Markdown table
    (input | output | reference) of the first `count` validation texts and their outputs.

    Args:
        outputs: the model's outputs for `texts` (`sample_quality.decode_sample`).
        targets: reference strings (translator) or label ids (classifier).
    """
    texts, outputs, targets = texts[:count], outputs[:count], targets[:count]
    if not texts:
        return
    references = list(targets) if family == "translator" else [model.labels[t] for t in targets]
    rows = list(zip(texts, outputs, references))
    tf.summary.text(
        "valid_samples", markdown_table(["input", "output", "reference"], rows), step=step
    )
