"""The evaluation a run makes every `[evaluation] every` steps on its validation split.

It measures the loss and accuracy over the whole split (the training loss, label smoothing
included), decodes a capped sample to score it (BLEU/chrF, and WER/PER for symbol targets, or
accuracy/macro F1: `sample_quality`), and writes the TensorBoard summaries: those values as
scalars, the probe sentences' attention heatmaps and diagnostics (`attention_summaries`) and a
table of sample outputs (`sample_summaries`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from kerattn.training import attention_summaries
from kerattn.training.sample_quality import decode_sample, sample_quality
from kerattn.training.sample_summaries import write_validation_samples

SAMPLE_ROWS = 5  # validation examples shown as text in TensorBoard


class Validation:
    """A run's validation split and how it is evaluated.

    Args:
        model: the model being trained.
        family: "translator" or "classifier".
        dataset: the distributed validation dataset.
        evaluate_batch: a distributed batch → its global (loss sum, correct, weight)
            (`ReplicaSteps.evaluate`).
        texts, targets: the validation rows (target strings or label ids).
        settings: the recipe's [evaluation] table (sample_size, probes).
        writer: the `valid` TensorBoard summary writer.
    """

    def __init__(
        self,
        model,
        family: str,
        dataset,
        evaluate_batch,
        texts: list[str],
        targets: list,
        settings: dict,
        writer,
    ):
        self.model = model
        self.family = family
        self.dataset = dataset
        self.evaluate_batch = evaluate_batch
        self.texts = texts
        self.targets = targets
        self.settings = settings
        self.writer = writer
        self.accuracy_name = "token_accuracy" if family == "translator" else "accuracy"

    def run(self, step: int) -> dict:
        """Evaluates the model at `step` and writes the summaries; returns the record:
        {"step", "loss", "token_accuracy" | "accuracy", "sample_<metric>"...,
        "attention_<diagnostic>"...}."""
        record = {"step": step, **self._loss_and_accuracy()}
        size = self.settings["sample_size"]
        # Decoded once: the quality scalars and the sample table share the outputs.
        sample_texts = self.texts[: max(size, SAMPLE_ROWS)]
        outputs = decode_sample(self.model, self.family, sample_texts)
        quality = sample_quality(
            self.model, self.family, sample_texts[:size], outputs[:size], self.targets[:size]
        )
        record.update({f"sample_{name}": value for name, value in quality.items()})
        with self.writer.as_default(step=step):
            for name, value in record.items():
                if name != "step":
                    tf.summary.scalar(name, value)
            diagnostics = attention_summaries.write_probe_summaries(
                self.model, self.family, self.settings["probes"], step
            )
            write_validation_samples(
                self.model,
                self.family,
                sample_texts,
                outputs,
                self.targets,
                step,
                count=SAMPLE_ROWS,
            )
        record.update({f"attention_{name}": value for name, value in diagnostics.items()})
        self.writer.flush()
        return record

    def _loss_and_accuracy(self) -> dict[str, float]:
        totals = np.zeros(3)  # loss sum, correct, weight
        for batch in self.dataset:
            totals += np.array([float(value) for value in self.evaluate_batch(batch)])
        return {
            "loss": totals[0] / max(totals[2], 1.0),
            self.accuracy_name: totals[1] / max(totals[2], 1.0),
        }
