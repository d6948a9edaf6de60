"""Quality of a model's outputs on a capped validation sample, for the TensorBoard scalars:
BLEU/chrF for translators, accuracy/macro F1 for classifiers, computed by
`kerattn.training.metrics` (the same functions `kerattn evaluate` reports)."""

from __future__ import annotations

from kerattn.training import metrics


def sample_quality(model, family: str, texts: list[str], targets: list) -> dict[str, float]:
    """Decodes `texts` with `model` and scores the outputs against `targets`.

    Translator: {"bleu", "chrf"} (sacreBLEU, corpus level) against the reference strings.
    Classifier: {"accuracy", "macro_f1"} against label ids.
    """
    if not texts:
        return {}
    if family == "translator":
        hypotheses = [translation.text for translation in model.translate(texts)]
        return {
            "bleu": metrics.corpus_bleu(hypotheses, list(targets))["score"],
            "chrf": metrics.corpus_chrf(hypotheses, list(targets))["score"],
        }
    predicted = [result.label for result in model.classify(texts)]
    expected = [model.labels[int(label)] for label in targets]
    scores = metrics.classification_scores(predicted, expected, model.labels)
    return {"accuracy": float(scores["accuracy"]), "macro_f1": float(scores["macro_f1"])}
