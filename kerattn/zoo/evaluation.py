"""Evaluating zoo models on a test set: run the model in batches, score it, time it, report it.

`evaluate_translator`, `evaluate_g2p` and `evaluate_classifier` take a model and in-memory
examples; `evaluate_file` takes a model (or a `.keras` path) and a corpus TSV, picks the task
from the model, and calls one of them. Each returns a plain JSON-able dict:

    {
      "task": "translation" | "g2p" | "classification",
      "model": ..., "data": ..., "origin": ..., "limit": ...,  # evaluate_file only
      "metrics": {...},      # see each function
      "counts": {...},       # examples, truncated inputs, ...
      "settings": {...},     # beam size, batch size, ...
      "timing": {"seconds", "examples_per_second", "warmup_seconds"},
    }

Timing covers the batched model calls only: one example is run first, untimed, so that tracing
the model's `tf.function` (seconds on CPU) is reported as "warmup_seconds", not as throughput.

With `keep_predictions=True` (`evaluate_file`: `predictions_path`, `kerattn evaluate
--predictions FILE`) the report also has "predictions": one row per example, the input, the
model's output and the reference (a G2P word: every acceptable pronunciation), for reading the
errors themselves.

With `by_origin=N` (`kerattn evaluate --by-origin N`) a translation report's metrics also have
"by_origin": BLEU and chrF of the rows of each origin prefix of 1 to N path components (the
corpus builders' third column: "help/", then "help/libreoffice/", ...), all from one decoding
pass over the file.

`format_report` renders such a dict as an aligned plain-text table; `kerattn evaluate` prints
it, or the JSON with `--json`. The metrics themselves live in `kerattn.zoo.metrics`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from kerattn.errors import UsageError
from kerattn.tables import text_table
from kerattn.zoo import metrics, n_best_accuracy, tasks
from kerattn.zoo.tasks import TASKS


class EvaluationError(UsageError):
    """A model or data set cannot be evaluated as asked; the message says what to change.

    The message is one sentence naming the bad value and what would be accepted, so the CLI
    prints it as is. A `UsageError` (exit code 2), and so also a ValueError.
    """


# -- models -----------------------------------------------------------------------------------


def load_model_for_evaluation(name_or_path: str | os.PathLike):
    """Loads the `Translator` or `Classifier` to evaluate (see `kerattn.zoo.model_loading`).

    Raises:
        EvaluationError: if the path is not an existing `.keras` file, cannot be loaded, or holds
            another kind of model.
    """
    from kerattn.zoo.model_loading import ModelLoadError, load_model

    try:
        return load_model(name_or_path)
    except ModelLoadError as error:
        raise EvaluationError(str(error)) from None


def detect_task(model) -> str:
    """The task of `model` (see `kerattn.zoo.tasks.detect_task`); EvaluationError if it has none."""
    try:
        return tasks.detect_task(model)
    except TypeError as error:
        raise EvaluationError(str(error)) from None


# -- running ----------------------------------------------------------------------------------


def _check_positive(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise EvaluationError(f"`{name}` must be an int >= 1; received {name}={value!r}.")


def _check_same_length(name: str, values: Sequence, other_name: str, others: Sequence) -> None:
    if len(values) != len(others):
        raise EvaluationError(
            f"`{name}` and `{other_name}` must have the same length; received {len(values)} "
            f"and {len(others)}."
        )


def _run_batched(run: Callable[[list[str]], list], inputs: Sequence[str], batch_size: int):
    """Results of `run` over `inputs` in batches, and the timing dict.

    One example is run first, untimed, so the `tf.function` trace is not counted as throughput.
    """
    inputs = list(inputs)
    warmup_seconds = 0.0
    if inputs:
        start = time.perf_counter()
        run(inputs[:1])
        warmup_seconds = time.perf_counter() - start
    results = []
    start = time.perf_counter()
    for offset in range(0, len(inputs), batch_size):
        results.extend(run(inputs[offset : offset + batch_size]))
    seconds = time.perf_counter() - start
    timing = {
        "seconds": seconds,
        "examples_per_second": len(inputs) / seconds if inputs and seconds > 0 else None,
        "warmup_seconds": warmup_seconds,
    }
    return results, timing


def _decoding(model, beam_size: int | None, length_penalty: float | None) -> tuple:
    """The beam size and length penalty `translate` will use: given, else the model's own."""
    from kerattn.zoo.translator import DEFAULT_DECODING

    settings = {**DEFAULT_DECODING, **getattr(model, "decoding", {})}
    return (
        settings["beam_size"] if beam_size is None else beam_size,
        settings["length_penalty"] if length_penalty is None else length_penalty,
    )


def _require_sacrebleu() -> None:
    try:
        import sacrebleu  # noqa: F401
    except ImportError:
        raise EvaluationError(
            "Translation metrics need sacrebleu, which is not installed; "
            'run `pip install "kerattn[eval]"`.'
        ) from None


def evaluate_translator(
    model,
    sources: Sequence[str],
    references: Sequence[str],
    beam_size: int | None = None,
    batch_size: int = 64,
    length_penalty: float | None = None,
    bucket_edges: Sequence[int] = metrics.DEFAULT_BUCKET_EDGES,
    tokenize: str = "13a",
    keep_predictions: bool = False,
) -> dict:
    """Translate `sources` and score the output against `references` with BLEU and chrF.

    Args:
        model: a `Translator`.
        sources: source sentences.
        references: one reference translation per source.
        beam_size: 1 is greedy search; None: the model's own decoding (a preset's: the one its
            card reports), else 1.
        batch_size: sentences per `translate` call.
        length_penalty: passed to `translate` (matters for beam search); None as beam_size.
        bucket_edges: source-length buckets in words, see `metrics.bleu_by_source_length`.
        tokenize: sacrebleu's tokenizer for BLEU.
        keep_predictions: also return "predictions": `[source, translation, reference]` rows.

    Returns:
        The report (see the module docstring) with metrics `{"bleu", "chrf", "bleu_signature",
        "chrf_signature", "bleu_details": {"precisions", "brevity_penalty", "hypothesis_length",
        "reference_length"}, "bleu_by_source_length": [{"bucket", "lower", "upper", "count",
        "bleu"}, ...], "placeholders": {"sources", "kept", "rate"}}` (see
        `metrics.placeholder_agreement`) and counts `{"examples", "truncated", "empty_translations"}`.
    """
    beam_size, length_penalty = _decoding(model, beam_size, length_penalty)
    _check_positive("beam_size", beam_size)
    _check_positive("batch_size", batch_size)
    _check_same_length("sources", sources, "references", references)
    _require_sacrebleu()
    translations, timing = _run_batched(
        lambda batch: model.translate(
            batch, beam_size=beam_size, length_penalty=length_penalty, batch_size=batch_size
        ),
        sources,
        batch_size,
    )
    hypotheses = [translation.text for translation in translations]
    bleu = metrics.corpus_bleu(hypotheses, references, tokenize=tokenize)
    chrf = metrics.corpus_chrf(hypotheses, references)
    report = {
        "task": "translation",
        "metrics": {
            "bleu": bleu["score"],
            "chrf": chrf["score"],
            "bleu_signature": bleu["signature"],
            "chrf_signature": chrf["signature"],
            "bleu_details": {
                key: bleu[key]
                for key in (
                    "precisions",
                    "brevity_penalty",
                    "hypothesis_length",
                    "reference_length",
                )
            },
            "bleu_by_source_length": metrics.bleu_by_source_length(
                sources, hypotheses, references, edges=bucket_edges, tokenize=tokenize
            ),
            "placeholders": metrics.placeholder_agreement(sources, hypotheses),
        },
        "counts": {
            "examples": len(hypotheses),
            "truncated": sum(translation.truncated for translation in translations),
            "empty_translations": sum(not text.strip() for text in hypotheses),
        },
        "settings": {
            "beam_size": beam_size,
            "batch_size": batch_size,
            "length_penalty": length_penalty,
            "tokenize": tokenize,
            "bucket_edges": list(bucket_edges),
        },
        "timing": timing,
    }
    if keep_predictions:
        report["predictions"] = [list(row) for row in zip(sources, hypotheses, references)]
    return report


def evaluate_g2p(
    model,
    references: Mapping[str, Sequence[str]],
    beam_size: int | None = None,
    batch_size: int = 64,
    length_penalty: float | None = None,
    n_best: int | None = None,
    keep_predictions: bool = False,
) -> dict:
    """Pronounce every word of `references` and score word and phoneme error rates, and with
    `n_best` also the n-best accuracy.

    Args:
        model: a `Translator` from spelling to whitespace-separated phoneme symbols.
        references: word → acceptable pronunciations ("HH AH L OW" strings or symbol lists);
            a prediction matching any of them is right (see `metrics.g2p_scores`).
        beam_size, batch_size, length_penalty: as for `evaluate_translator`; with `n_best`
            the beam is widened to K when `beam_size` is not given (and must be at least K
            when it is).
        n_best: K ≥ 1 lists the K best pronunciations of beam search for each word
            (`translate(..., num_hypotheses=K)`) and reports how often an acceptable one is
            among the first k (`kerattn.zoo.n_best_accuracy`); the error rates are those of
            the first, which is beam search's own output.
        keep_predictions: also return "predictions": `[word, pronunciation, acceptable
            pronunciation, ...]` rows.

    Returns:
        The report with metrics `{"word_error_rate", "phoneme_error_rate",
        "by_word_length"}` (fractions; `metrics.g2p_scores_by_word_length`), with
        `n_best` also `"n_best": {"accuracy_at_1", …, "accuracy_at_<K>",
        "mean_reciprocal_rank"}`, counts `{"examples" (words), "word_errors",
        "reference_phonemes", "phoneme_errors", "words_with_alternates", "truncated"}` and
        settings `{"beam_size", "batch_size", "length_penalty"}` (and "n_best").
    """
    beam_size_given = beam_size is not None
    beam_size, length_penalty = _decoding(model, beam_size, length_penalty)
    _check_positive("beam_size", beam_size)
    _check_positive("batch_size", batch_size)
    options = {"beam_size": beam_size, "length_penalty": length_penalty}
    if n_best is not None:
        beam_size = _n_best_beam_size(n_best, beam_size, beam_size_given)
        options = {**options, "beam_size": beam_size, "num_hypotheses": n_best}
    words = list(references)
    translations, timing = _run_batched(
        lambda batch: model.translate(batch, **options, batch_size=batch_size), words, batch_size
    )
    predictions = {word: translation.text.split() for word, translation in zip(words, translations)}
    scores = metrics.g2p_scores(predictions, references)
    values = {
        "word_error_rate": scores["word_error_rate"],
        "phoneme_error_rate": scores["phoneme_error_rate"],
        "by_word_length": metrics.g2p_scores_by_word_length(predictions, references),
    }
    settings = {"beam_size": beam_size, "batch_size": batch_size, "length_penalty": length_penalty}
    if n_best is not None:
        ranks = n_best_accuracy.first_acceptable_ranks(
            [[hypothesis.text for hypothesis in t.hypotheses] for t in translations],
            [references[word] for word in words],
        )
        values["n_best"] = n_best_accuracy.n_best_report(ranks, n_best)
        settings["n_best"] = n_best
    report = {
        "task": "g2p",
        "metrics": values,
        "counts": {
            "examples": scores["words"],
            "word_errors": scores["word_errors"],
            "reference_phonemes": scores["reference_phonemes"],
            "phoneme_errors": scores["phoneme_errors"],
            "words_with_alternates": sum(
                not isinstance(acceptable, str) and len(acceptable) > 1
                for acceptable in references.values()
            ),
            "truncated": sum(translation.truncated for translation in translations),
        },
        "settings": settings,
        "timing": timing,
    }
    if keep_predictions:
        report["predictions"] = [
            [word, " ".join(predictions[word]), *_pronunciation_texts(references[word])]
            for word in words
        ]
    return report


def _pronunciation_texts(acceptable) -> list[str]:
    # As `metrics.g2p_scores` reads them: one string alone, or pronunciations (strings or lists).
    if isinstance(acceptable, str):
        return [" ".join(acceptable.split())]
    return [" ".join(item.split() if isinstance(item, str) else item) for item in acceptable]


def _n_best_beam_size(n_best, beam_size: int, beam_size_given: bool) -> int:
    """The beam size that lists `n_best` hypotheses: `beam_size`, widened to `n_best` unless
    it was given; EvaluationError for a bad `n_best` or a given beam narrower than it."""
    _check_positive("n_best", n_best)
    if n_best > beam_size:
        if beam_size_given:
            raise EvaluationError(
                f"`n_best` must be at most the beam size; received n_best={n_best} with "
                f"beam_size={beam_size}."
            )
        return n_best
    return beam_size


def evaluate_classifier(
    model,
    texts: Sequence[str],
    labels: Sequence[str],
    batch_size: int = 64,
    keep_predictions: bool = False,
) -> dict:
    """Classify `texts` and score the predictions against the true `labels`.

    Args:
        model: a `Classifier`.
        texts: the texts.
        labels: the true label name of each text, one of `model.labels`.
        batch_size: texts per `classify` call.
        keep_predictions: also return "predictions": `[text, predicted label, true label]`
            rows.

    Returns:
        The report with metrics `{"accuracy", "macro_f1", "per_class": {label: {"precision",
        "recall", "f1", "support", "predicted"}}, "confusion_matrix": {"labels", "matrix"}}`
        (rows: true label, columns: predicted; see `metrics.classification_scores`),
        "expected_calibration_error" and "reliability" (the 15 equal-width confidence bins
        behind it, `metrics.calibration_scores`: each {"lower", "upper", "count",
        "confidence", "accuracy"}), "accuracy_by_length" (words per text,
        `metrics.accuracy_by_length`), counts `{"examples", "truncated"}` and settings
        `{"batch_size", "temperature"}` (the model's, see `Classifier.temperature`).

    Raises:
        EvaluationError: if a label is not one of the model's.
    """
    _check_positive("batch_size", batch_size)
    _check_same_length("texts", texts, "labels", labels)
    _check_known_labels(labels, model.labels, "`labels`")
    results, timing = _run_batched(
        lambda batch: model.classify(batch, batch_size=batch_size), texts, batch_size
    )
    scores = metrics.classification_scores(
        [result.label for result in results], list(labels), model.labels
    )
    scored = [(result, label) for result, label in zip(results, labels) if result.probabilities]
    calibration = metrics.calibration_scores(
        [[result.probabilities[name] for name in model.labels] for result, _ in scored],
        [model.labels.index(label) for _, label in scored],
    )
    report = {
        "task": "classification",
        "metrics": {
            **{
                key: scores[key]
                for key in ("accuracy", "macro_f1", "per_class", "confusion_matrix")
            },
            "expected_calibration_error": calibration["expected_calibration_error"],
            "reliability": calibration["bins"],
            "accuracy_by_length": metrics.accuracy_by_length(
                list(texts), [result.label for result in results], list(labels)
            ),
        },
        "counts": {
            "examples": scores["examples"],
            "truncated": sum(result.truncated for result in results),
        },
        "settings": {"batch_size": batch_size, "temperature": model.temperature},
        "timing": timing,
    }
    if keep_predictions:
        report["predictions"] = [
            [text, result.label, label] for text, result, label in zip(texts, results, labels)
        ]
    return report


def _check_known_labels(labels: Sequence[str], known: Sequence[str], where: str) -> None:
    unknown = list(dict.fromkeys(label for label in labels if label not in known))
    if unknown:
        raise EvaluationError(
            f"{where} has label(s) {', '.join(repr(label) for label in unknown[:5])} that the "
            f"model does not know; its labels are {', '.join(repr(label) for label in known)}."
        )


# -- files ------------------------------------------------------------------------------------


def grouped_pronunciations(rows: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """word → its distinct pronunciations in file order (a word may have several rows)."""
    grouped: dict[str, list[str]] = {}
    for word, phonemes in rows:
        pronunciation = " ".join(phonemes.split())
        acceptable = grouped.setdefault(word, [])
        if pronunciation not in acceptable:
            acceptable.append(pronunciation)
    return grouped


def evaluate_file(
    model_or_path,
    data_path: str | os.PathLike,
    task: str | None = None,
    beam_size: int | None = None,
    batch_size: int = 64,
    limit: int | None = None,
    alternates_path: str | os.PathLike | None = None,
    origin: str | None = None,
    n_best: int | None = None,
    predictions_path: str | os.PathLike | None = None,
    by_origin: int | None = None,
) -> dict:
    """Evaluate a model on a corpus TSV (`kerattn.data.read_pairs` format).

    Args:
        model_or_path: a `Translator`/`Classifier`, or what `load_model_for_evaluation` accepts.
        data_path: `source<TAB>target` rows (translation), `word<TAB>phonemes` rows (G2P; a
            word on several rows has several acceptable pronunciations) or `text<TAB>label`
            rows (classification; labels are the model's label names).
        task: "translation", "g2p" or "classification"; None picks it with `detect_task`.
        beam_size: beam size for translation and G2P (1 = greedy); None: the model's own
            (a preset's card setting), else 1.
        batch_size: examples per model call.
        limit: evaluate only the first `limit` examples (rows; words for G2P).
        alternates_path: G2P only: a TSV of further acceptable pronunciations
            (`word<TAB>phonemes[<TAB>split]`, such as the cmudict corpus's `alternates.tsv`);
            those of words in `data_path` are added to their references.
        origin: evaluate only the rows whose third column (the corpus builders' origin, such
            as "help/text/..." or "ui/...") starts with this prefix.
        n_best: G2P only: also the n-best accuracy of the K best pronunciations against each
            word's acceptable ones (the data file's and the alternates'); see `evaluate_g2p`.
        predictions_path: a new file to write the examples to, as a TSV of the
            "predictions" rows (see the module docstring); an existing file is never replaced.

    Returns:
        The report of `evaluate_translator`, `evaluate_g2p` or `evaluate_classifier`, plus
        "model", "data", "origin" and "limit" (and "predictions_file").

    Raises:
        EvaluationError: bad model, task, label or setting, or a `predictions_path` that
            exists or whose folder does not.
        kerattn.data.CorpusError: the data file is missing, not UTF-8 or not tab-separated.
    """
    from kerattn.data import read_pairs

    _check_file_options(task, limit, n_best)
    if by_origin is not None:
        _check_positive("by_origin", by_origin)
    if predictions_path is not None:
        _check_new_file(predictions_path)
    # The data is read first: a wrong path fails at once, not after loading the model.
    rows, origins = _read_rows(data_path, origin)
    if by_origin is not None and None in origins:
        raise EvaluationError(
            f"`by_origin` needs an origin (third) column on every row, and the data file "
            f"{os.fspath(data_path)!r} has a row without one; pass a corpus TSV that has it "
            "(the corpus builders write it)."
        )
    alternate_rows = read_pairs(alternates_path) if alternates_path is not None else []
    model, model_description = _model_and_description(model_or_path)
    task = _task_for(model, task, alternates=alternates_path is not None, n_best=n_best)
    if by_origin is not None and task != "translation":
        raise EvaluationError(
            f"`by_origin` (BLEU per origin) applies to task 'translation' only; the task is "
            f"{task!r}."
        )
    keep = predictions_path is not None or by_origin is not None
    if task == "g2p":
        references = _g2p_references(rows, limit, alternate_rows)
        report = evaluate_g2p(
            model,
            references,
            beam_size=beam_size,
            batch_size=batch_size,
            n_best=n_best,
            keep_predictions=keep,
        )
    else:
        rows = rows[:limit] if limit is not None else rows
        sources = [source for source, _ in rows]
        if task == "translation":
            report = evaluate_translator(
                model,
                sources,
                [target for _, target in rows],
                beam_size=beam_size,
                batch_size=batch_size,
                keep_predictions=keep,
            )
            if by_origin is not None:
                report["metrics"]["by_origin"] = _scores_by_origin(
                    origins[: len(rows)],
                    report["predictions"],
                    by_origin,
                    report["settings"]["tokenize"],
                )
        else:
            labels = [label.strip() for _, label in rows]
            _check_known_labels(labels, model.labels, f"The data file {os.fspath(data_path)!r}")
            report = evaluate_classifier(
                model, sources, labels, batch_size=batch_size, keep_predictions=keep
            )
    if alternates_path is not None:
        report["settings"]["alternates"] = os.fspath(alternates_path)
    predictions = report.pop("predictions", None)
    if predictions_path is not None:
        _write_predictions(predictions_path, predictions)
        report["predictions_file"] = os.fspath(predictions_path)
    return {
        "task": report.pop("task"),
        "model": model_description,
        "data": os.fspath(data_path),
        "origin": origin,
        "limit": limit,
        **report,
    }


def _check_file_options(task: str | None, limit: int | None, n_best: int | None) -> None:
    if task is not None and task not in TASKS:
        raise EvaluationError(
            f"`task` must be one of {', '.join(repr(t) for t in TASKS)} or None; "
            f"received task={task!r}."
        )
    if limit is not None:
        _check_positive("limit", limit)
    if n_best is not None:
        _check_positive("n_best", n_best)
        if task not in (None, "g2p"):
            raise EvaluationError(
                f"`n_best` (n-best accuracy against acceptable pronunciations) applies to task "
                f"'g2p' only; received n_best={n_best} with task={task!r}."
            )


def _check_new_file(path: str | os.PathLike) -> None:
    """EvaluationError unless `path` can be created: it must not exist, its folder must."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise EvaluationError(
            f"The predictions file {os.fspath(path)!r} already exists; pass a new file name "
            "(an existing file is never replaced)."
        )
    if not path.parent.is_dir():
        raise EvaluationError(
            f"The folder of the predictions file {os.fspath(path)!r} does not exist; create it "
            "or pass a file in an existing folder."
        )


def _write_predictions(path: str | os.PathLike, rows: list[list[str]]) -> None:
    """The rows as a UTF-8 TSV at the new file `path`, written whole or not at all."""
    from kerattn.atomic_files import atomic_write_text
    from kerattn.data.tsv import sanitize_field

    _check_new_file(path)  # it may have appeared while the model ran
    atomic_write_text(
        path, "".join("\t".join(sanitize_field(field) for field in row) + "\n" for row in rows)
    )


def _read_rows(
    data_path: str | os.PathLike, origin: str | None
) -> tuple[list[tuple[str, str]], list[str | None]]:
    """The (input, target) rows of the data file, only those of `origin` if given (never none),
    and each row's origin (None where a row has no third column)."""
    from kerattn.data import read_rows

    kept = [
        row
        for row in read_rows(data_path)
        if origin is None or (len(row) > 2 and row[2].startswith(origin))
    ]
    rows = [(row[0], row[1]) for row in kept]
    origins = [row[2] if len(row) > 2 else None for row in kept]
    if not rows:
        where = "" if origin is None else f" whose origin starts with {origin!r}"
        raise EvaluationError(
            f"The data file {os.fspath(data_path)!r} has no rows{where}; pass a non-empty TSV."
        )
    return rows, origins


def origin_prefix(origin: str, depth: int) -> str:
    """The first `depth` path components of an origin, with their slash: ("help/a/b.html", 1)
    is "help/"; an origin of `depth` components or fewer is itself ("ui/gimp", 2)."""
    parts = origin.split("/")
    if len(parts) <= depth:
        return origin
    return "/".join(parts[:depth]) + "/"


def _scores_by_origin(
    origins: Sequence[str], predictions: Sequence[Sequence[str]], depth: int, tokenize: str
) -> list[dict]:
    """BLEU and chrF of the `[source, translation, reference]` rows of each origin prefix of 1
    to `depth` components, as `evaluate_translator` scores the whole set."""
    scores = []
    for level in range(1, depth + 1):
        groups: dict[str, list[Sequence[str]]] = {}
        for origin, row in zip(origins, predictions):
            groups.setdefault(origin_prefix(origin, level), []).append(row)
        for prefix in sorted(groups):
            hypotheses = [row[1] for row in groups[prefix]]
            references = [row[2] for row in groups[prefix]]
            scores.append(
                {
                    "origin": prefix,
                    "depth": level,
                    "count": len(hypotheses),
                    "bleu": metrics.corpus_bleu(hypotheses, references, tokenize)["score"],
                    "chrf": metrics.corpus_chrf(hypotheses, references)["score"],
                }
            )
    return scores


def _model_and_description(model_or_path) -> tuple[object, str]:
    """The model to evaluate and how the report names it: its path, or its class."""
    if isinstance(model_or_path, (str, os.PathLike)):
        return load_model_for_evaluation(model_or_path), os.fspath(model_or_path)
    return model_or_path, type(model_or_path).__name__


def _task_for(model, task: str | None, alternates: bool, n_best: int | None = None) -> str:
    """The task asked for (it must suit the model), or the model's own."""
    model_task = detect_task(model)
    if task is None:
        task = model_task
    elif (task == "classification") != (model_task == "classification"):
        needed = "a Classifier" if task == "classification" else "a Translator"
        raise EvaluationError(
            f"Task {task!r} needs {needed}; the model is a {type(model).__name__}."
        )
    if alternates and task != "g2p":
        raise EvaluationError(
            f"Alternate pronunciations apply to task 'g2p' only; received them for task {task!r}."
        )
    if n_best is not None and task != "g2p":
        raise EvaluationError(
            f"`n_best` (n-best accuracy against acceptable pronunciations) needs a G2P "
            f"translator (task 'g2p'); the model is a {type(model).__name__} of task "
            f"{model_task!r}."
        )
    return task


def _g2p_references(
    rows: Sequence[tuple[str, str]], limit: int | None, alternate_rows: Sequence[tuple[str, str]]
) -> dict[str, list[str]]:
    """word → acceptable pronunciations: the first `limit` words of `rows`, each with the
    further pronunciations `alternate_rows` give it."""
    references = grouped_pronunciations(rows)
    if limit is not None:
        references = dict(list(references.items())[:limit])
    for word, pronunciations in grouped_pronunciations(alternate_rows).items():
        if word in references:
            references[word] = list(dict.fromkeys(references[word] + pronunciations))
    return references


# -- formatting -------------------------------------------------------------------------------


def _number(value, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.2f} %" if percent else f"{value:.2f}"


def format_report(report: dict) -> str:
    """The report of an `evaluate_*` function as a plain-text table for people."""
    task = report["task"]
    header = f"kerattn evaluate: {task}"
    if "model" in report:
        header += f", model {report['model']}, data {report['data']}"
        if report.get("origin"):
            header += f" (origin {report['origin']}*)"
    metric_lines = {"translation": _translation_lines, "g2p": _g2p_lines}.get(
        task, _classification_lines
    )
    return "\n".join(
        [header, "", *metric_lines(report["metrics"], report["counts"]), *_run_lines(report)]
    )


def _translation_lines(values: dict, counts: dict) -> list[str]:
    lines = text_table(
        [
            ["metric", "value", "signature"],
            ["BLEU", _number(values["bleu"]), values["bleu_signature"] or "-"],
            ["chrF", _number(values["chrf"]), values["chrf_signature"] or "-"],
        ],
        align="lrl",
        indent="  ",
    )
    if "by_origin" in values:
        lines += ["", "  by origin:"]
        lines += text_table(
            [["origin", "sentences", "BLEU", "chrF"]]
            + [
                [o["origin"], str(o["count"]), _number(o["bleu"]), _number(o["chrf"])]
                for o in values["by_origin"]
            ],
            align="lrrr",
            indent="    ",
        )
    if values.get("placeholders", {}).get("sources"):
        kept = values["placeholders"]
        lines += [
            "",
            f"  placeholders kept: {kept['kept']:,} of {kept['sources']:,} sources that have "
            f"them ({_number(kept['rate'])} %)",
        ]
    lines += ["", "  BLEU by source length (words):"]
    lines += text_table(
        [["bucket", "sentences", "BLEU"]]
        + [
            [b["bucket"], str(b["count"]), _number(b["bleu"])]
            for b in values["bleu_by_source_length"]
        ],
        align="lrr",
        indent="    ",
    )
    return lines


def _g2p_lines(values: dict, counts: dict) -> list[str]:
    lines = text_table(
        [
            ["metric", "value", "errors"],
            [
                "word error rate",
                _number(values["word_error_rate"], percent=True),
                f"{counts['word_errors']} / {counts['examples']} words",
            ],
            [
                "phoneme error rate",
                _number(values["phoneme_error_rate"], percent=True),
                f"{counts['phoneme_errors']} / {counts['reference_phonemes']} phonemes",
            ],
        ],
        align="lrr",
        indent="  ",
    )
    if "by_word_length" in values:
        lines += ["", "  by word length (letters):"]
        lines += text_table(
            [["bucket", "words", "WER", "PER"]]
            + [
                [
                    b["bucket"],
                    str(b["count"]),
                    _number(b["word_error_rate"], percent=True),
                    _number(b["phoneme_error_rate"], percent=True),
                ]
                for b in values["by_word_length"]
            ],
            align="lrrr",
            indent="    ",
        )
    if "n_best" not in values:
        return lines
    n_best = values["n_best"]
    ranks = sorted(int(key.rsplit("_", 1)[1]) for key in n_best if key.startswith("accuracy_at_"))
    lines += [
        "",
        f"  n-best accuracy ({ranks[-1]} best pronunciations per word; right: any acceptable "
        "one among the first k):",
    ]
    lines += text_table(
        [["k", "accuracy@k", "words"]]
        + [
            [
                str(k),
                _number(n_best[f"accuracy_at_{k}"], percent=True),
                f"{round(n_best[f'accuracy_at_{k}'] * counts['examples'])} / {counts['examples']}",
            ]
            for k in ranks
        ]
        + [["mean reciprocal rank", f"{n_best['mean_reciprocal_rank']:.4f}", ""]],
        align="lrr",
        indent="    ",
    )
    return lines


def _classification_lines(values: dict, counts: dict) -> list[str]:
    lines = text_table(
        [
            ["metric", "value"],
            ["accuracy", _number(values["accuracy"], percent=True)],
            ["macro F1", _number(values["macro_f1"], percent=True)],
            [
                f"ECE ({len(values['reliability'])} bins)",
                _number(values["expected_calibration_error"], percent=True),
            ],
        ],
        align="lr",
        indent="  ",
    )
    lines += [""]
    lines += text_table(
        [["label", "precision", "recall", "F1", "support", "predicted"]]
        + [
            [
                label,
                _number(s["precision"], True),
                _number(s["recall"], True),
                _number(s["f1"], True),
                str(s["support"]),
                str(s["predicted"]),
            ]
            for label, s in values["per_class"].items()
        ],
        align="lrrrrr",
        indent="  ",
    )
    matrix = values["confusion_matrix"]
    lines += ["", "  confusion matrix (rows: true label, columns: predicted):"]
    lines += text_table(
        [["", *matrix["labels"]]]
        + [
            [label, *(str(count) for count in row)]
            for label, row in zip(matrix["labels"], matrix["matrix"])
        ],
        align="l" + "r" * len(matrix["labels"]),
        indent="    ",
    )
    lines += ["", "  accuracy by length (words):"]
    lines += text_table(
        [["bucket", "texts", "accuracy"]]
        + [
            [b["bucket"], str(b["count"]), _number(b["accuracy"], True)]
            for b in values["accuracy_by_length"]
        ],
        align="lrr",
        indent="    ",
    )
    lines += ["", "  reliability (bins of top-label confidence that hold examples):"]
    lines += text_table(
        [["confidence bin", "examples", "mean confidence", "accuracy"]]
        + [
            [
                f"({b['lower']:.3f}, {b['upper']:.3f}]",
                str(b["count"]),
                _number(b["confidence"], True),
                _number(b["accuracy"], True),
            ]
            for b in values["reliability"]
            if b["count"]
        ],
        align="lrrr",
        indent="    ",
    )
    return lines


def _run_lines(report: dict) -> list[str]:
    """The counts, the settings and the timing, one line each."""
    settings = ", ".join(
        f"{key.replace('_', ' ')} {value}"
        for key, value in report["settings"].items()
        if key not in ("bucket_edges", "alternates")
    )
    count_text = ", ".join(
        f"{key.replace('_', ' ')} {value}"
        for key, value in report["counts"].items()
        if key in ("examples", "truncated", "empty_translations", "words_with_alternates")
    )
    timing = report["timing"]
    speed = timing["examples_per_second"]
    lines = [
        "",
        f"  {count_text}",
        f"  {settings}",
        f"  {timing['seconds']:.2f} s"
        + (f", {speed:.1f} examples/s" if speed is not None else "")
        + f" (+ {timing['warmup_seconds']:.2f} s warm-up)",
    ]
    if report.get("predictions_file"):
        lines.append(f"  predictions written to {report['predictions_file']}")
    return lines
