"""Quality of a model's outputs on a capped validation sample, for the TensorBoard scalars:
BLEU/chrF for translators, accuracy/macro F1 for classifiers, computed by
`kerattn.training.metrics` (the same functions `kerattn evaluate` reports)."""

from __future__ import annotations

from kerattn.training import metrics


def decode_sample(model, family: str, texts: list[str]) -> list[str]:
    """The model's outputs for `texts`: translations (translator) or label names (classifier)."""
    if not texts:
        return []
    if family == "translator":
        return [translation.text for translation in model.translate(texts)]
    return [result.label for result in model.classify(texts)]


def sample_quality(model, family: str, outputs: list[str], targets: list) -> dict[str, float]:
    """Scores `decode_sample` outputs against `targets`.

    Translator: {"bleu", "chrf"} (sacreBLEU, corpus level) against the reference strings.
    Classifier: {"accuracy", "macro_f1"} against label ids.
    """
    if not outputs:
        return {}
    if family == "translator":
        return {
            "bleu": metrics.corpus_bleu(outputs, list(targets))["score"],
            "chrf": metrics.corpus_chrf(outputs, list(targets))["score"],
        }
    expected = [model.labels[int(label)] for label in targets]
    scores = metrics.classification_scores(outputs, expected, model.labels)
    return {"accuracy": float(scores["accuracy"]), "macro_f1": float(scores["macro_f1"])}
