"""A TensorBoard text summary of the model's outputs on the first validation examples."""

from __future__ import annotations

import tensorflow as tf


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or " "


def write_validation_samples(model, family: str, texts: list[str], targets: list, step: int,
                             count: int = 5) -> list[str]:
    """Decodes the first `count` validation texts and writes text `valid_samples` at `step`
    (a Markdown table: input | output | reference) under the default summary writer.

    Args:
        targets: reference strings (translator) or label ids (classifier).

    Returns:
        The outputs written.
    """
    texts, targets = texts[:count], targets[:count]
    if not texts:
        return []
    if family == "translator":
        outputs = [translation.text for translation in model.translate(texts)]
        references = list(targets)
    else:
        outputs = [result.label for result in model.classify(texts)]
        references = [model.labels[label] for label in targets]
    rows = [f"| {_cell(text)} | {_cell(output)} | {_cell(reference)} |"
            for text, output, reference in zip(texts, outputs, references)]
    tf.summary.text("valid_samples", "| input | output | reference |\n|---|---|---|\n"
                    + "\n".join(rows), step=step)
    return outputs
