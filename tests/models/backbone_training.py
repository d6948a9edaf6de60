"""Trains a small `Seq2SeqBackbone` and `ClassifierBackbone` on numpy token ids with whatever
Keras backend is set, and prints one JSON line of what `test_backbones` checks.

Run as `KERAS_BACKEND=jax python -m tests.models.backbone_training` (the test does).
"""

from __future__ import annotations

import json

import keras
import numpy as np

from kerattn.models import ClassifierBackbone, ClassifierEnsemble, Seq2SeqBackbone, Seq2SeqEnsemble

VOCABULARY = 12  # ids 1 … 11 real, 0 padding


def right_padded(rng, count: int, shortest: int, longest: int) -> np.ndarray:
    """int32 (count, longest) of ids in 2 … VOCABULARY-1, each row `shortest`-`longest` long."""
    ids = np.zeros((count, longest), "int32")
    for row, length in enumerate(rng.integers(shortest, longest + 1, size=count)):
        ids[row, :length] = rng.integers(2, VOCABULARY, size=length)
    return ids


def copy_task(rng, count: int):
    """Sources, and targets equal to them: inputs [START=1] + y, outputs y (padding 0)."""
    source = right_padded(rng, count, 2, 6)
    target_input = np.concatenate([np.ones((count, 1), "int32"), source[:, :-1]], axis=1)
    return {"source_ids": source, "target_input_ids": target_input}, source


def keyword_task(rng, count: int):
    """Texts labelled 1 when they contain id 2, else 0."""
    ids = right_padded(rng, count, 3, 8)
    return ids, (ids == 2).any(axis=1).astype("int32")


def padded(ids: np.ndarray, extra: int) -> np.ndarray:
    return np.pad(ids, [(0, 0), (0, extra)])


def loss_before_and_after(model, inputs, targets, loss) -> tuple[float, float]:
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss)
    before = float(model.evaluate(inputs, targets, batch_size=32, verbose=0))
    model.fit(inputs, targets, batch_size=32, epochs=5, verbose=0)
    after = float(model.evaluate(inputs, targets, batch_size=32, verbose=0))
    return before, after


def main() -> None:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    report = {"backend": keras.backend.backend()}

    seq2seq = Seq2SeqBackbone(VOCABULARY, VOCABULARY, embedding_dim=8, units=16, dropout=0.0)
    inputs, targets = copy_task(rng, 128)
    report["seq2seq_loss"] = loss_before_and_after(
        seq2seq,
        inputs,
        targets,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
    )
    sample = {name: ids[:8] for name, ids in inputs.items()}
    logits = keras.ops.convert_to_numpy(seq2seq(sample))  # (8, 6, V)
    more_padding = keras.ops.convert_to_numpy(
        seq2seq(
            {
                "source_ids": padded(sample["source_ids"], 5),
                "target_input_ids": padded(sample["target_input_ids"], 3),
            }
        )
    )  # (8, 9, V)
    real = sample["target_input_ids"] > 0
    report["seq2seq_padding_difference"] = float(
        np.abs(more_padding[:, :6][real] - logits[real]).max()
    )

    classifier = ClassifierBackbone(VOCABULARY, 2, embedding_dim=8, units=8, dropout=0.0)
    ids, labels = keyword_task(rng, 128)
    report["classifier_loss"] = loss_before_and_after(
        classifier, ids, labels, keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    logits = keras.ops.convert_to_numpy(classifier(ids[:8]))
    more_padding = keras.ops.convert_to_numpy(classifier(padded(ids[:8], 4)))
    report["classifier_padding_difference"] = float(np.abs(more_padding - logits).max())

    # Ensembles: the log of the members' mean probabilities, against numpy.
    ensembles = (
        ("seq2seq", Seq2SeqEnsemble(2, VOCABULARY, VOCABULARY, embedding_dim=8, units=16), sample),
        ("classifier", ClassifierEnsemble(2, VOCABULARY, 2, embedding_dim=8, units=8), ids[:8]),
    )
    for name, ensemble, batch in ensembles:
        members = [keras.ops.convert_to_numpy(member(batch)) for member in ensemble.members]
        probabilities = [np.exp(z - z.max(-1, keepdims=True)) for z in members]
        expected = np.log(np.mean([p / p.sum(-1, keepdims=True) for p in probabilities], 0))
        got = keras.ops.convert_to_numpy(ensemble(batch))
        report[f"{name}_ensemble_difference"] = float(np.abs(got - expected).max())
    print(json.dumps(report))


if __name__ == "__main__":
    main()
