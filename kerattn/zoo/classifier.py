"""`Classifier`: text classification with an attention-pooled BiLSTM encoder."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kerattn.models.ensembles import ClassifierEnsemble, build_backbone
from kerattn.text import Tokenizer
from kerattn.zoo.backend import require_tensorflow_backend
from kerattn.zoo.classifier_preprocessor import ClassifierPreprocessor
from kerattn.zoo.results import Classification
from kerattn.zoo.task import HeldBy, Task

_EMPTY = Classification(
    label=None, probabilities={}, tokens=[], token_weights=np.zeros(0, np.float32), truncated=False
)


def _checked_temperature(value) -> float:
    """`value` as a float if it is a finite number > 0; a one-sentence ValueError if not."""
    if (
        not isinstance(value, (int, float, np.floating, np.integer))
        or isinstance(value, bool)
        or not np.isfinite(value)
        or value <= 0
    ):
        raise ValueError(
            f"`temperature` must be a finite number > 0 (1 leaves the logits as trained); "
            f"received temperature={value!r}."
        )
    return float(value)


@keras.saving.register_keras_serializable(package="kerattn")
class Classifier(Task):
    """Text in, label out: a `ClassifierBackbone` (embedding → `AttentionBiLSTMEncoder(pooling=...)`
    → dense head) behind a `ClassifierPreprocessor`.

    The encoder's attention pooling (Yang et al., 2016) weights every token; those weights are
    returned with each prediction, so users see which words decided it. Binary tasks are two
    classes with a softmax, like every other task, so there is one code path. The network itself
    is `classifier.backbone`, which runs on every Keras backend.

    Args:
        tokenizer: a `kerattn.text` tokenizer with its vocabulary.
        labels: the class names, in class-id order (at least two, unique, non-empty).
        embedding_dim: width of the token embeddings.
        units: LSTM units per direction; the pooled vector has width 2 · units.
        encoder_layers: stacked bidirectional layers.
        dropout: dropout on the LSTM inputs and on the pooled vector.
        pooling: "bahdanau" (additive, default) or "luong" (dot product with a learned query).
        max_length: tokens read per text; longer texts are cut and their result says
            `truncated`.
        vocabulary_size: defaults to the tokenizer's; stored in the config because a `.keras`
            file restores vocabularies after the layers exist.
        temperature: the logits are divided by it before the softmax (temperature scaling,
            Guo et al., 2017): 1 leaves them as trained; a temperature fitted on validation
            data (`kerattn.zoo.calibration`, `kerattn calibrate`) makes the probabilities
            calibrated. It never changes the label, only how sure the model says it is.
        ensemble_size: 1 (one network), or the number of networks of these settings whose
            mean class probabilities it predicts (`kerattn.models.ClassifierEnsemble`; built
            from trained classifiers by `kerattn.zoo.ensembles.join`).

    Call arguments:
        token_ids: int32 (B, T), right-padded with 0 (see `prepare_batch`).

    Returns:
        logits (B, number of labels), before the temperature (training uses them as they are).
    """

    tokenizer = HeldBy("preprocessor")
    max_length = HeldBy("preprocessor")
    embedding_dim = HeldBy("backbone")
    units = HeldBy("backbone")
    encoder_layers = HeldBy("backbone")
    dropout = HeldBy("backbone")
    pooling = HeldBy("backbone")
    vocabulary_size = HeldBy("backbone")
    ensemble_size = HeldBy("backbone")

    def __init__(
        self,
        tokenizer: Tokenizer,
        labels: list[str],
        embedding_dim: int = 128,
        units: int = 128,
        encoder_layers: int = 1,
        dropout: float = 0.2,
        pooling: str = "bahdanau",
        max_length: int = 256,
        vocabulary_size: int | None = None,
        temperature: float = 1.0,
        ensemble_size: int = 1,
        **kwargs,
    ):
        require_tensorflow_backend(f"kerattn.{type(self).__name__}")
        temperature = _checked_temperature(temperature)
        labels = list(labels)
        if (
            len(labels) < 2
            or len(set(labels)) != len(labels)
            or not all(isinstance(label, str) and label for label in labels)
        ):
            raise ValueError(
                "`labels` must be at least two unique, non-empty strings; "
                f"received labels={labels!r}."
            )
        preprocessor = ClassifierPreprocessor(tokenizer, max_length=max_length, name="preprocessor")
        backbone = build_backbone(
            ClassifierEnsemble,
            ensemble_size,
            vocabulary_size or tokenizer.vocabulary_size(),
            len(labels),
            embedding_dim=embedding_dim,
            units=units,
            encoder_layers=encoder_layers,
            dropout=dropout,
            pooling=pooling,
            name="backbone",
        )
        super().__init__(backbone, preprocessor, **kwargs)
        self.labels = labels
        self._label_table = tf.constant(labels)
        self._temperature = temperature

    @property
    def temperature(self) -> float:
        """What the logits are divided by before the softmax (1: as trained). Setting it
        (a finite number > 0) applies to every later `classify`, export and save."""
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        self._temperature = _checked_temperature(value)
        self._batch_functions.clear()  # traced with the old temperature as a constant

    @property
    def head(self) -> keras.layers.Dense:
        """The backbone's output layer (`classifier.backbone.head`)."""
        return self.backbone.head

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """`keras.Model.compile` with default loss (cross-entropy on logits) and accuracy."""
        if loss is None:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if metrics is None:
            metrics = ["accuracy"]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def prepare_batch(self, texts, labels):
        """Texts and integer labels → (token ids (B, T), labels), in graph (tf.data-ready)."""
        return self.preprocessor.prepare_batch(texts, labels)

    def classify_batch(self, texts) -> dict:
        """Classifies tf.string [B] in graph; the function kerattn exports for serving.

        Returns batch-major tensors: "label" string [B], "label_id" int32 [B],
        "probabilities" float32 [B, C], "tokens" string [B, T] ("" on padding),
        "token_weights" float32 [B, T] (zero on padding), "truncated" bool [B].
        """
        texts = tf.convert_to_tensor(texts, tf.string)
        batch = self.preprocessor.tokenize(texts)
        logits, weights = self.backbone.logits_and_pooling_weights(batch.ids, training=False)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32) / self.temperature)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            "label": tf.gather(self._label_table, label_id),
            "label_id": label_id,
            "probabilities": probabilities,
            "tokens": self.preprocessor.tokens(batch.ids, batch.lengths),
            "token_weights": tf.cast(weights, tf.float32),
            "truncated": batch.truncated,
        }

    def logits_batch(self, texts) -> dict:
        """The logits of tf.string [B] in graph, before the temperature: {"logits": float32
        [B, C]} (what `kerattn.zoo.calibration` fits the temperature on)."""
        ids = self.preprocessor.tokenize(tf.convert_to_tensor(texts, tf.string)).ids
        return {"logits": tf.cast(self.backbone(ids, training=False), tf.float32)}

    def logits(self, texts: str | list[str], batch_size: int | None = None) -> np.ndarray:
        """The logits of a string (C,) or a list of strings (N, C), before the temperature;
        an empty text is run through the model too (its result depends on the model alone).
        `batch_size`: texts per model call (default 64, `kerattn.zoo.task.PREDICT_BATCH_SIZE`)."""
        rows = self._predict_texts(
            texts,
            "logits",
            self.logits_batch,
            lambda outputs, row: outputs["logits"][row],
            batch_size=batch_size,
        )
        if isinstance(texts, str):
            return np.asarray(rows, np.float32)
        return np.asarray(rows, np.float32).reshape(len(rows), len(self.labels))

    def classify(
        self, texts: str | list[str], batch_size: int | None = None
    ) -> Classification | list[Classification]:
        """Classifies a string or a list of strings; see `Classification` for the fields.

        An empty or whitespace-only text has nothing to classify: its result has label None,
        no probabilities and no tokens (the model is not run on it). `batch_size`: texts per
        model call (default 64, `kerattn.zoo.task.PREDICT_BATCH_SIZE`); a longer list runs in
        several calls, with the same results.
        """
        return self._predict_texts(
            texts,
            "classify",
            self.classify_batch,
            self._classification,
            empty_result=_EMPTY,
            batch_size=batch_size,
        )

    def _classification(self, outputs: dict, row: int) -> Classification:
        tokens = [token.decode() for token in outputs["tokens"][row] if token]
        return Classification(
            label=outputs["label"][row].decode(),
            probabilities={
                label: float(p) for label, p in zip(self.labels, outputs["probabilities"][row])
            },
            tokens=tokens,
            token_weights=np.asarray(outputs["token_weights"][row, : len(tokens)]),
            truncated=bool(outputs["truncated"][row]),
        )
