"""Evaluation metrics for the zoo's three tasks: translation, grapheme → phoneme, classification.

- Translation: corpus BLEU and chrF computed by sacrebleu on detokenized text (the scores papers
  report, with sacrebleu's signature so they can be compared), and BLEU by source length, the
  analysis of Bahdanau et al. (2015, Fig. 2) that shows attention holding up on long sentences;
  and how often the placeholders of software strings (`%s`, `%1$s`, `{0}`, `$1`, ...) survive
  translation, which BLEU barely sees and a program that formats the string depends on.
- G2P: word error rate and phoneme error rate as in the CMUdict benchmark of Bisani & Ney (2008):
  a word is right if it matches any of its acceptable pronunciations; phoneme errors are the edit
  distance to the closest one.
- Classification: accuracy, per-class precision/recall/F1, macro F1 and the confusion matrix,
  accuracy by text length;
  the expected calibration error of the predicted probabilities (Naeini et al., 2015; Guo et
  al., 2017): how far the model's confidence is from its accuracy, in equal-width bins.

Every function takes plain Python sequences and returns plain Python numbers, lists and dicts,
ready for `json.dumps`. sacrebleu is an optional extra (`pip install "kerattn[eval]"`), imported
only by the functions that need it.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence

from kerattn.data.localisation_cleaning import placeholders

DEFAULT_BUCKET_EDGES = (0, 10, 20, 30, 50)
# Words per text: snippets (Rotten Tomatoes: median 20), reviews (IMDB: median 170), and those
# beyond 512 pieces (about 415 words).
CLASSIFICATION_LENGTH_EDGES = (0, 25, 100, 250, 500, 800)
# Letters per word: short words, the middle of CMUdict (median 7 letters), long compounds.
G2P_LENGTH_EDGES = (0, 5, 7, 9, 11)
CALIBRATION_BINS = 15  # Guo et al. (2017), and most papers since

Pronunciation = str | Sequence[str]


# -- translation ------------------------------------------------------------------------------


def _sacrebleu_metrics():
    try:
        from sacrebleu.metrics import BLEU, CHRF
    except ImportError:
        raise ImportError(
            "BLEU and chrF need sacrebleu, which is not installed; "
            'install it with `pip install "kerattn[eval]"`.'
        ) from None
    return BLEU, CHRF


def _check_parallel(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(
            f"Expected one reference per hypothesis; received {len(hypotheses)} hypotheses "
            f"and {len(references)} references."
        )


def corpus_bleu(
    hypotheses: Sequence[str], references: Sequence[str], tokenize: str = "13a"
) -> dict:
    """Corpus BLEU of detokenized hypotheses against one reference each, via sacrebleu.

    Args:
        hypotheses: the system outputs, detokenized (as `Translation.text`).
        references: one reference translation per hypothesis, raw text.
        tokenize: sacrebleu's tokenizer ("13a" is the WMT standard; "intl", "char", "none", ...).

    Returns:
        `{"score", "precisions" (1- to 4-gram, %), "brevity_penalty", "hypothesis_length",
        "reference_length", "signature"}` where the signature is sacrebleu's
        (`nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0`); with no sentences the
        score, precisions, brevity penalty and signature are None.
    """
    _check_parallel(hypotheses, references)
    bleu_metric, _ = _sacrebleu_metrics()
    metric = bleu_metric(tokenize=tokenize)
    if not hypotheses:
        return {
            "score": None,
            "precisions": None,
            "brevity_penalty": None,
            "hypothesis_length": 0,
            "reference_length": 0,
            "signature": None,
        }
    result = metric.corpus_score(list(hypotheses), [list(references)])
    return {
        "score": float(result.score),
        "precisions": [float(p) for p in result.precisions],
        "brevity_penalty": float(result.bp),
        "hypothesis_length": int(result.sys_len),
        "reference_length": int(result.ref_len),
        "signature": str(metric.get_signature()),
    }


def corpus_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> dict:
    """Corpus chrF (character 6-grams, β = 2; Popović, 2015) via sacrebleu's defaults.

    Returns:
        `{"score", "signature"}` (sacrebleu's); both are None with no sentences.
    """
    _check_parallel(hypotheses, references)
    _, chrf_metric = _sacrebleu_metrics()
    metric = chrf_metric()
    if not hypotheses:
        return {"score": None, "signature": None}
    result = metric.corpus_score(list(hypotheses), [list(references)])
    return {"score": float(result.score), "signature": str(metric.get_signature())}


def placeholder_agreement(sources: Sequence[str], hypotheses: Sequence[str]) -> dict:
    """How many translations keep their source's placeholders.

    A translation keeps them when its multiset of placeholders equals the source's, with
    positions ignored (`%2$s` counts as `%s`, so reordering is allowed): the rule the
    localisation corpus applies to its human translations (`localisation_cleaning.placeholders`).

    Returns:
        `{"sources": sources with at least one placeholder, "kept": translations of them that
        keep them, "rate": kept / sources in percent (None without such sources)}`.
    """
    _check_parallel(hypotheses, sources)
    pairs = [(placeholders(s), h) for s, h in zip(sources, hypotheses)]
    pairs = [(found, hypothesis) for found, hypothesis in pairs if found]
    kept = sum(found == placeholders(hypothesis) for found, hypothesis in pairs)
    return {
        "sources": len(pairs),
        "kept": kept,
        "rate": 100.0 * kept / len(pairs) if pairs else None,
    }


def bucket_label(lower: int, upper: int | None) -> str:
    """The name of the length bucket [lower, upper): "10-20", or "50+" when upper is None."""
    return f"{lower}+" if upper is None else f"{lower}-{upper}"


def _checked_edges(edges: Sequence[int], example: str) -> list[int]:
    edges = list(edges)
    if (
        not edges
        or edges[0] != 0
        or not all(isinstance(edge, int) for edge in edges)
        or any(b <= a for a, b in zip(edges, edges[1:]))
    ):
        raise ValueError(
            f"`edges` must be strictly increasing ints starting at 0, such as {example}; "
            f"received edges={edges!r}."
        )
    return edges


def bleu_by_source_length(
    sources: Sequence[str],
    hypotheses: Sequence[str],
    references: Sequence[str],
    edges: Sequence[int] = DEFAULT_BUCKET_EDGES,
    tokenize: str = "13a",
) -> list[dict]:
    """Corpus BLEU of each source-length bucket (Bahdanau et al., 2015, Fig. 2).

    The source length is its number of whitespace-separated words. Buckets are half-open:
    edges (0, 10, 20, 30, 50) give [0, 10), [10, 20), [20, 30), [30, 50) and [50, ∞), named
    "0-10", "10-20", "20-30", "30-50" and "50+"; a 10-word sentence is in "10-20".

    Args:
        sources: the source sentences (only their lengths are used).
        hypotheses, references: as for `corpus_bleu`, parallel to `sources`.
        edges: strictly increasing lower bounds of the buckets, starting at 0.
        tokenize: sacrebleu's tokenizer.

    Returns:
        One dict per bucket, in order: `{"bucket", "lower", "upper" (None for the last),
        "count", "bleu"}`; an empty bucket has count 0 and bleu None.
    """
    _check_parallel(hypotheses, references)
    _check_parallel(hypotheses, sources)
    edges = _checked_edges(edges, "(0, 10, 20, 30, 50)")
    uppers = edges[1:] + [None]
    members: list[list[int]] = [[] for _ in edges]
    for index, source in enumerate(sources):
        length = len(source.split())
        bucket = max(i for i, lower in enumerate(edges) if lower <= length)
        members[bucket].append(index)
    buckets = []
    for lower, upper, indices in zip(edges, uppers, members):
        bleu = None
        if indices:
            bleu = corpus_bleu(
                [hypotheses[i] for i in indices], [references[i] for i in indices], tokenize
            )["score"]
        buckets.append(
            {
                "bucket": bucket_label(lower, upper),
                "lower": lower,
                "upper": upper,
                "count": len(indices),
                "bleu": bleu,
            }
        )
    return buckets


# -- grapheme → phoneme -----------------------------------------------------------------------


def edit_distance(hypothesis: Sequence, reference: Sequence) -> int:
    """Levenshtein distance: fewest substitutions, insertions and deletions from one to the other.

    Works on any sequences of comparable items (phoneme symbols, characters, words); a string
    is a sequence of characters. Time O(len(hypothesis) · len(reference)), memory
    O(len(reference)).
    """
    previous = list(range(len(reference) + 1))  # distances from the empty hypothesis prefix
    for i, hypothesis_item in enumerate(hypothesis, start=1):
        current = [i]
        for j, reference_item in enumerate(reference, start=1):
            current.append(
                min(
                    previous[j] + 1,  # delete hypothesis_item
                    current[j - 1] + 1,  # insert reference_item
                    previous[j - 1] + (hypothesis_item != reference_item),  # substitute or match
                )
            )
        previous = current
    return previous[-1]


def _symbols(pronunciation: Pronunciation) -> list[str]:
    # "HH AH L OW" and ["HH", "AH", "L", "OW"] are the same pronunciation.
    return pronunciation.split() if isinstance(pronunciation, str) else list(pronunciation)


def _reference_lists(references: Sequence[Pronunciation] | Pronunciation) -> list[list[str]]:
    # One pronunciation given alone (a string) is a list of one acceptable reference.
    if isinstance(references, str):
        return [_symbols(references)]
    return [_symbols(reference) for reference in references]


def g2p_scores(
    predictions: Mapping[str, Pronunciation],
    references: Mapping[str, Sequence[Pronunciation]],
) -> dict:
    """Word and phoneme error rates of predicted pronunciations (Bisani & Ney, 2008).

    A pronunciation is a string of whitespace-separated symbols ("HH AH L OW") or a list of
    symbols. Word error rate: the fraction of words whose predicted symbols equal none of the
    word's acceptable pronunciations. Phoneme error rate: the edit distance to the closest
    acceptable pronunciation, summed over words, divided by the summed lengths of those closest
    pronunciations (ties go to the one listed first).

    Args:
        predictions: word → predicted pronunciation.
        references: word → acceptable pronunciations (at least one); the same words as
            `predictions`.

    Returns:
        `{"word_error_rate", "phoneme_error_rate", "words", "word_errors",
        "reference_phonemes", "phoneme_errors"}`; rates are None when there is nothing to divide by.
    """
    missing = [word for word in references if word not in predictions]
    extra = [word for word in predictions if word not in references]
    if missing or extra:
        raise ValueError(
            "`predictions` and `references` must have the same words; "
            f"received {len(missing)} word(s) without a prediction (e.g. {missing[:3]!r}) and "
            f"{len(extra)} without references (e.g. {extra[:3]!r})."
        )
    word_errors = phoneme_errors = reference_phonemes = 0
    for word, acceptable in references.items():
        acceptable = _reference_lists(acceptable)
        if not acceptable:
            raise ValueError(f"Word {word!r} has no reference pronunciation; give at least one.")
        predicted = _symbols(predictions[word])
        distance, closest = min(
            (edit_distance(predicted, reference), index)
            for index, reference in enumerate(acceptable)
        )
        word_errors += distance > 0
        phoneme_errors += distance
        reference_phonemes += len(acceptable[closest])
    words = len(references)
    return {
        "word_error_rate": word_errors / words if words else None,
        "phoneme_error_rate": phoneme_errors / reference_phonemes if reference_phonemes else None,
        "words": words,
        "word_errors": word_errors,
        "reference_phonemes": reference_phonemes,
        "phoneme_errors": phoneme_errors,
    }


def word_error_rate(
    predictions: Mapping[str, Pronunciation], references: Mapping[str, Sequence[Pronunciation]]
) -> float | None:
    """Fraction of words predicted wrong (matching none of their references); see `g2p_scores`."""
    return g2p_scores(predictions, references)["word_error_rate"]


def phoneme_error_rate(
    predictions: Mapping[str, Pronunciation], references: Mapping[str, Sequence[Pronunciation]]
) -> float | None:
    """Phoneme edit distance to the closest reference over reference phonemes; see `g2p_scores`."""
    return g2p_scores(predictions, references)["phoneme_error_rate"]


def g2p_scores_by_word_length(
    predictions: Mapping[str, Pronunciation],
    references: Mapping[str, Sequence[Pronunciation]],
    edges: Sequence[int] = G2P_LENGTH_EDGES,
) -> list[dict]:
    """Word and phoneme error rates of each word-length bucket (letters: `len(word)`), for how
    a G2P model holds up on long words.

    Buckets are half-open as in `bleu_by_source_length`: edges (0, 5, 7, 9, 11) give "0-5"
    (words of 1 to 4 letters), "5-7", "7-9", "9-11" and "11+".

    Returns:
        One dict per bucket, in order: `{"bucket", "lower", "upper" (None for the last),
        "count", "word_error_rate", "phoneme_error_rate"}` (`g2p_scores` of its words; an
        empty bucket has count 0 and rates None).
    """
    edges = _checked_edges(edges, "(0, 5, 7, 9, 11)")
    uppers = edges[1:] + [None]
    members: list[list[str]] = [[] for _ in edges]
    for word in references:
        members[max(i for i, lower in enumerate(edges) if lower <= len(word))].append(word)
    buckets = []
    for lower, upper, words in zip(edges, uppers, members):
        scores = g2p_scores(
            {word: predictions[word] for word in words if word in predictions},
            {word: references[word] for word in words},
        )
        buckets.append(
            {
                "bucket": bucket_label(lower, upper),
                "lower": lower,
                "upper": upper,
                "count": len(words),
                "word_error_rate": scores["word_error_rate"],
                "phoneme_error_rate": scores["phoneme_error_rate"],
            }
        )
    return buckets


# -- classification ---------------------------------------------------------------------------


def _check_labels(predicted: Sequence[str], expected: Sequence[str], labels: Sequence[str]) -> None:
    if len(predicted) != len(expected):
        raise ValueError(
            f"Expected one prediction per example; received {len(predicted)} predictions and "
            f"{len(expected)} expected labels."
        )
    unknown = sorted(set(predicted).union(expected).difference(labels))
    if unknown:
        raise ValueError(f"Labels {unknown!r} are not among the known labels {list(labels)!r}.")


def confusion_matrix(
    predicted: Sequence[str], expected: Sequence[str], labels: Sequence[str]
) -> list[list[int]]:
    """Counts as a list of rows: `matrix[i][j]` = examples of `labels[i]` predicted `labels[j]`."""
    _check_labels(predicted, expected, labels)
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for guess, truth in zip(predicted, expected):
        matrix[index[truth]][index[guess]] += 1
    return matrix


def accuracy(predicted: Sequence[str], expected: Sequence[str]) -> float | None:
    """Fraction of predictions equal to the expected label; None with no examples."""
    if len(predicted) != len(expected):
        raise ValueError(
            f"Expected one prediction per example; received {len(predicted)} predictions and "
            f"{len(expected)} expected labels."
        )
    if not expected:
        return None
    return sum(guess == truth for guess, truth in zip(predicted, expected)) / len(expected)


def _ratio(numerator: int, denominator: int) -> float:
    # A class never predicted (or never present) scores 0, without a division warning.
    return numerator / denominator if denominator else 0.0


def classification_scores(
    predicted: Sequence[str], expected: Sequence[str], labels: Sequence[str]
) -> dict:
    """Accuracy, per-class precision/recall/F1, macro F1 and the confusion matrix.

    Precision, recall or F1 whose denominator is zero (a class never predicted, never present)
    is 0. Macro F1 is the mean F1 of the labels that occur in `expected` or `predicted`, as
    scikit-learn's `f1_score(average="macro")` does without its `labels` argument, so a label
    the test set never mentions does not count as a failure.

    Args:
        predicted: the predicted label of each example.
        expected: the true label of each example.
        labels: every label name, in the order of the confusion matrix's rows and columns.

    Returns:
        `{"accuracy", "macro_f1", "examples", "per_class": {label: {"precision", "recall",
        "f1", "support", "predicted"}}, "confusion_matrix": {"labels", "matrix"}}` where
        `matrix[i][j]` counts examples of `labels[i]` predicted as `labels[j]`.
    """
    labels = list(labels)
    matrix = confusion_matrix(predicted, expected, labels)
    per_class = {}
    for i, label in enumerate(labels):
        true_positives = matrix[i][i]
        support = sum(matrix[i])
        predicted_count = sum(row[i] for row in matrix)
        precision = _ratio(true_positives, predicted_count)
        recall = _ratio(true_positives, support)
        per_class[label] = {
            "precision": precision,
            "recall": recall,
            "f1": _ratio(2 * true_positives, support + predicted_count),
            "support": support,
            "predicted": predicted_count,
        }
    occurring = [s for s in per_class.values() if s["support"] or s["predicted"]]
    return {
        "accuracy": accuracy(predicted, expected),
        "macro_f1": sum(s["f1"] for s in occurring) / len(occurring) if occurring else None,
        "examples": len(expected),
        "per_class": per_class,
        "confusion_matrix": {"labels": labels, "matrix": matrix},
    }


def macro_f1(
    predicted: Sequence[str], expected: Sequence[str], labels: Sequence[str]
) -> float | None:
    """Mean per-class F1 over the labels that occur; see `classification_scores`."""
    return classification_scores(predicted, expected, labels)["macro_f1"]


def accuracy_by_length(
    texts: Sequence[str],
    predicted: Sequence[str],
    expected: Sequence[str],
    edges: Sequence[int] = CLASSIFICATION_LENGTH_EDGES,
) -> list[dict]:
    """Accuracy of each text-length bucket (words: whitespace-separated), for how a classifier
    holds up on short snippets and on texts longer than it reads.

    Buckets are half-open as in `bleu_by_source_length`: edges (0, 25, 100) give "0-25",
    "25-100" and "100+".

    Returns:
        One dict per bucket, in order: `{"bucket", "lower", "upper" (None for the last),
        "count", "accuracy"}`; an empty bucket has count 0 and accuracy None.
    """
    if not len(texts) == len(predicted) == len(expected):
        raise ValueError(
            "Expected one prediction and one label per text; received "
            f"{len(texts)} texts, {len(predicted)} predictions and {len(expected)} labels."
        )
    edges = _checked_edges(edges, "(0, 25, 100, 250, 500, 800)")
    uppers = edges[1:] + [None]
    members: list[list[int]] = [[] for _ in edges]
    for index, text in enumerate(texts):
        length = len(text.split())
        members[max(i for i, lower in enumerate(edges) if lower <= length)].append(index)
    return [
        {
            "bucket": bucket_label(lower, upper),
            "lower": lower,
            "upper": upper,
            "count": len(indices),
            "accuracy": accuracy([predicted[i] for i in indices], [expected[i] for i in indices]),
        }
        for lower, upper, indices in zip(edges, uppers, members)
    ]


# -- calibration ------------------------------------------------------------------------------


def _top_label(row: Sequence[float]) -> tuple[int, float]:
    """The predicted class (the first of equal maxima, as argmax) and its probability."""
    best = max(range(len(row)), key=lambda index: (row[index], -index))
    return best, float(row[best])


def calibration_scores(
    probabilities: Sequence[Sequence[float]],
    expected: Sequence[int],
    bins: int = CALIBRATION_BINS,
) -> dict:
    """Expected calibration error and the reliability table behind it (Guo et al., 2017, §2).

    Each example's confidence is its highest class probability and it is right when that class
    is the expected one. The confidences fall into `bins` equal-width bins
    ((m − 1)/M, m/M], m = 1 … M (a confidence of 0 goes into the first); then

        ECE = Σ_m |B_m| / n · |accuracy(B_m) − confidence(B_m)|

    with the mean accuracy and mean confidence of each bin B_m. 0 is perfectly calibrated.

    Args:
        probabilities: one row of class probabilities per example (each row sums to 1).
        expected: the true class index of each example.
        bins: the number of bins M (at least 1).

    Returns:
        `{"expected_calibration_error", "mean_confidence", "accuracy", "examples", "bins":
        [{"lower", "upper", "count", "confidence", "accuracy"}]}`, one entry per bin in order
        (an empty bin has count 0 and confidence and accuracy None); the three rates are None
        with no examples.
    """
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
        raise ValueError(f"`bins` must be an int >= 1; received bins={bins!r}.")
    if len(probabilities) != len(expected):
        raise ValueError(
            f"Expected one true class per row of probabilities; received {len(probabilities)} "
            f"rows and {len(expected)} classes."
        )
    upper_edges = [(m + 1) / bins for m in range(bins)]
    counts = [0] * bins
    confidence_sums = [0.0] * bins
    correct_counts = [0] * bins
    for row, truth in zip(probabilities, expected):
        if not 0 <= truth < len(row):
            raise ValueError(
                f"A true class {truth!r} is not an index into its row of {len(row)} "
                "probabilities; pass class indices from 0."
            )
        predicted, confidence = _top_label(row)
        # bisect_left: the first bin whose upper edge is >= the confidence, so (lower, upper].
        index = min(bisect.bisect_left(upper_edges, confidence), bins - 1)
        counts[index] += 1
        confidence_sums[index] += confidence
        correct_counts[index] += predicted == truth
    examples = len(expected)
    table = []
    error = 0.0
    for m in range(bins):
        count = counts[m]
        bin_confidence = confidence_sums[m] / count if count else None
        bin_accuracy = correct_counts[m] / count if count else None
        if count:
            error += count / examples * abs(bin_accuracy - bin_confidence)
        table.append(
            {
                "lower": m / bins,
                "upper": upper_edges[m],
                "count": count,
                "confidence": bin_confidence,
                "accuracy": bin_accuracy,
            }
        )
    return {
        "expected_calibration_error": error if examples else None,
        "mean_confidence": sum(confidence_sums) / examples if examples else None,
        "accuracy": sum(correct_counts) / examples if examples else None,
        "examples": examples,
        "bins": table,
    }


def expected_calibration_error(
    probabilities: Sequence[Sequence[float]],
    expected: Sequence[int],
    bins: int = CALIBRATION_BINS,
) -> float | None:
    """ECE in `bins` equal-width confidence bins; see `calibration_scores`."""
    return calibration_scores(probabilities, expected, bins)["expected_calibration_error"]
