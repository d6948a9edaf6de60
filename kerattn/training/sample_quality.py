"""Quality of a model's outputs on a capped validation sample, for the TensorBoard scalars:
BLEU/chrF for translators (and word/phoneme error rates when the targets are symbol sequences,
as in grapheme→phoneme), accuracy/macro F1 for classifiers, computed by
`kerattn.zoo.metrics` (the same functions `kerattn evaluate` reports)."""

from __future__ import annotations

from kerattn.zoo import metrics


def decode_sample(model, family: str, texts: list[str]) -> list[str]:
    """The model's outputs for `texts`: translations (translator) or label names (classifier);
    `translate` and `classify` run a long list in bounded batches (`PREDICT_BATCH_SIZE`)."""
    if family == "translator":
        return [translation.text for translation in model.translate(texts)]
    return [result.label for result in model.classify(texts)]


def sample_quality(
    model, family: str, texts: list[str], outputs: list[str], targets: list
) -> dict[str, float]:
    """Scores the `decode_sample` outputs of `texts` against `targets`.

    Translator: {"bleu", "chrf"} (sacreBLEU, corpus level) against the reference strings, plus
    {"word_error_rate", "phoneme_error_rate"} when `kerattn evaluate` would treat the model as
    grapheme→phoneme (whitespace-separated symbol targets; a word listed on several rows has
    several acceptable pronunciations). Classifier: {"accuracy", "macro_f1"} against label ids.
    """
    from kerattn.zoo.evaluation import detect_task, grouped_pronunciations

    if not outputs:
        return {}
    if family == "translator":
        scores = {
            "bleu": metrics.corpus_bleu(outputs, list(targets))["score"],
            "chrf": metrics.corpus_chrf(outputs, list(targets))["score"],
        }
        if detect_task(model) == "g2p":
            references = grouped_pronunciations(list(zip(texts, targets)))
            rates = metrics.g2p_scores(dict(zip(texts, outputs)), references)
            scores.update(
                {
                    name: rates[name]
                    for name in ("word_error_rate", "phoneme_error_rate")
                    if rates[name] is not None
                }
            )
        return scores
    expected = [model.labels[int(label)] for label in targets]
    scores = metrics.classification_scores(outputs, expected, model.labels)
    return {"accuracy": float(scores["accuracy"]), "macro_f1": float(scores["macro_f1"])}
