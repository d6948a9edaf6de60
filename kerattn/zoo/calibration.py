"""Calibration on validation data: a classifier's temperature, a translator's confidence
threshold (`kerattn calibrate`).

Temperature scaling for classifiers (Guo et al., 2017): one number T fitted on validation
data, the logits divided by T before the softmax, so that a model that says 0.9 is right about
90 % of the time. The label never changes (dividing by T > 0 keeps the arg max).

- `fit_temperature(logits, labels)`: the T that minimises the mean negative log-likelihood of
  the true labels, by golden-section search over log T (deterministic: same data, same T).
  The NLL is convex in 1/T, so it has one minimum over T > 0 and the search finds it; when
  the data would drive T to 0 or to infinity (every example right with a growing margin, or
  logits carrying no information), T stops at the edge of `TEMPERATURE_RANGE`.
- `calibrate_classifier(model, texts, labels)`: the logits of a `Classifier` on the texts, the
  fitted T and what it changes (NLL and expected calibration error before and after).
- `calibrate_file(model, data_path, out)`: the same on a corpus TSV, writing the calibrated
  model as a new preset folder (`kerattn calibrate MODEL --data valid.tsv --out FOLDER`);
  it never writes into a folder that is not empty.

The confidence threshold of a translator (`kerattn.zoo.confidence`): the translator
translates the validation sources with its default decoding, and the threshold is chosen so
that a fixed share `false_alarm_rate` (default 5 %) of those in-domain translations, at most,
falls below it (`fit_confidence_threshold`: the order statistic c_(k+1) of the n sorted
confidences, k = floor(rate × n), so exactly the k least confident are flagged when there are
no ties). The rule controls the one error rate validation data can measure, false alarms on
the model's own kind of text; how much out-of-domain text it catches is measured apart (the
model card). It is deterministic: same model, data and rate, same threshold.

- `calibrate_translator(model, texts)`: the confidences and the fitted threshold.
- `calibrate_file` with a translator writes the threshold into a new preset folder's
  metadata.json, or with `in_place=True` into the given preset folder's metadata.json alone
  (its model.keras is not touched): `kerattn calibrate PRESET --data valid.tsv --in-place`.

Fit on validation rows only: a temperature or threshold fitted on test rows makes the test's
calibration error or false-alarm rate meaningless.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence

import numpy as np

from kerattn.errors import UsageError
from kerattn.zoo import metrics

TEMPERATURE_RANGE = (0.05, 20.0)
FALSE_ALARM_RATE = 0.05  # the default share of in-domain validation outputs flagged
_GOLDEN = (math.sqrt(5) - 1) / 2  # 0.618...: the golden-section step


class CalibrationError(UsageError):
    """A model or data set that cannot be calibrated as asked; the message says what to change.

    A `UsageError` (the CLI exits with 2), and so also a ValueError.
    """


def _checked_logits(logits, labels) -> tuple[np.ndarray, np.ndarray]:
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels)
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise CalibrationError(
            "`logits` must be a (N, C) array with C >= 2 classes; received shape "
            f"{tuple(logits.shape)}."
        )
    if labels.shape != (logits.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise CalibrationError(
            f"`labels` must be {logits.shape[0]} integer class indices (one per row of logits); "
            f"received {labels.dtype} of shape {tuple(labels.shape)}."
        )
    if logits.shape[0] == 0:
        raise CalibrationError("Fitting a temperature needs at least one example; received none.")
    if labels.min() < 0 or labels.max() >= logits.shape[1]:
        raise CalibrationError(
            f"`labels` must be class indices in [0, {logits.shape[1]}); received values from "
            f"{labels.min()} to {labels.max()}."
        )
    if not np.all(np.isfinite(logits)):
        raise CalibrationError("`logits` must be finite; received NaN or infinite values.")
    return logits, labels.astype(np.int64)


def _log_probabilities(logits: np.ndarray, temperature: float) -> np.ndarray:
    scaled = logits / temperature  # (N, C)
    shifted = scaled - scaled.max(axis=1, keepdims=True)  # (N, C), the log-sum-exp made stable
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def negative_log_likelihood(logits, labels, temperature: float = 1.0) -> float:
    """Mean −log softmax(logits / temperature)[label] over the examples (natural log).

    Args:
        logits: (N, C) logits, before any temperature.
        labels: (N,) true class indices.
        temperature: a number > 0.
    """
    logits, labels = _checked_logits(logits, labels)
    if not temperature > 0:
        raise CalibrationError(f"`temperature` must be > 0; received {temperature!r}.")
    log_probabilities = _log_probabilities(logits, float(temperature))
    return float(-log_probabilities[np.arange(len(labels)), labels].mean())


def fit_temperature(
    logits,
    labels,
    temperature_range: tuple[float, float] = TEMPERATURE_RANGE,
    tolerance: float = 1e-5,
) -> float:
    """The temperature T in `temperature_range` that minimises the mean NLL of the true labels
    under softmax(logits / T), by golden-section search over log T to a relative `tolerance`.

    Args:
        logits: (N, C) logits of validation examples, before any temperature.
        labels: (N,) their true class indices.
        temperature_range: the lowest and highest T considered (0 < low < high).
        tolerance: the search stops when the bracket is narrower than this in log T (so T is
            found to a relative precision of about `tolerance`).

    Returns:
        T as a Python float; a range edge when the minimum lies beyond it.
    """
    logits, labels = _checked_logits(logits, labels)
    low, high = temperature_range
    if not 0 < low < high or not math.isfinite(high):
        raise CalibrationError(
            "`temperature_range` must be two finite numbers 0 < low < high; received "
            f"{temperature_range!r}."
        )

    def loss(log_temperature: float) -> float:
        log_probabilities = _log_probabilities(logits, math.exp(log_temperature))
        return float(-log_probabilities[np.arange(len(labels)), labels].mean())

    a, b = math.log(low), math.log(high)
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    loss_c, loss_d = loss(c), loss(d)
    while b - a > tolerance:
        if loss_c <= loss_d:  # the minimum is in [a, d]
            b, d, loss_d = d, c, loss_c
            c = b - _GOLDEN * (b - a)
            loss_c = loss(c)
        else:  # the minimum is in [c, b]
            a, c, loss_c = c, d, loss_d
            d = a + _GOLDEN * (b - a)
            loss_d = loss(d)
    best = (a + b) / 2
    # The bracket never includes its edges; a minimum beyond one is reported as that edge.
    candidates = [(loss(best), best), (loss(math.log(low)), math.log(low))]
    candidates.append((loss(math.log(high)), math.log(high)))
    return float(math.exp(min(candidates)[1]))


def _probabilities(logits: np.ndarray, temperature: float) -> np.ndarray:
    return np.exp(_log_probabilities(np.asarray(logits, np.float64), temperature))


def calibration_report(logits, labels, temperature: float, bins: int = metrics.CALIBRATION_BINS):
    """NLL, ECE (`metrics.calibration_scores`) and accuracy of softmax(logits / temperature)."""
    logits, labels = _checked_logits(logits, labels)
    scores = metrics.calibration_scores(
        _probabilities(logits, temperature).tolist(), labels.tolist(), bins
    )
    return {
        "temperature": float(temperature),
        "negative_log_likelihood": negative_log_likelihood(logits, labels, temperature),
        "expected_calibration_error": scores["expected_calibration_error"],
        "mean_confidence": scores["mean_confidence"],
        "accuracy": scores["accuracy"],
    }


def calibrate_classifier(
    model, texts: Sequence[str], labels: Sequence[str], bins: int = metrics.CALIBRATION_BINS
) -> dict:
    """Fits the temperature of the `Classifier` `model` on `texts` with true label names `labels`.

    The model is not changed: set `model.temperature = report["temperature"]` to use it.
    Empty and whitespace-only texts are left out (`classify` gives them no probabilities).

    Returns:
        `{"temperature", "examples", "skipped_empty", "before": {...}, "after": {...}}` where
        before (the model's current temperature) and after (the fitted one) each hold
        `{"temperature", "negative_log_likelihood", "expected_calibration_error",
        "mean_confidence", "accuracy"}`.
    """
    if len(texts) != len(labels):
        raise CalibrationError(
            f"`texts` and `labels` must have the same length; received {len(texts)} and "
            f"{len(labels)}."
        )
    index = {label: position for position, label in enumerate(model.labels)}
    unknown = list(dict.fromkeys(label for label in labels if label not in index))
    if unknown:
        raise CalibrationError(
            f"The data has label(s) {', '.join(repr(label) for label in unknown[:5])} that the "
            f"model does not know; its labels are {', '.join(map(repr, model.labels))}."
        )
    kept = [row for row, text in enumerate(texts) if text.strip()]
    if not kept:
        raise CalibrationError("Calibration needs at least one non-empty text; received none.")
    logits = model.logits([texts[row] for row in kept])
    label_ids = np.array([index[labels[row]] for row in kept], np.int64)
    temperature = fit_temperature(logits, label_ids)
    return {
        "temperature": temperature,
        "examples": len(kept),
        "skipped_empty": len(texts) - len(kept),
        "before": calibration_report(logits, label_ids, model.temperature, bins),
        "after": calibration_report(logits, label_ids, temperature, bins),
    }


def calibrate_file(
    model_or_path,
    data_path: str | os.PathLike,
    out: str | os.PathLike | None = None,
    origin: str | None = None,
    description: str | None = None,
    *,
    in_place: bool = False,
    false_alarm_rate: float | None = None,
) -> dict:
    """Fits a classifier's temperature, or a translator's confidence threshold, on a corpus
    TSV and writes the calibrated model as a new preset folder (`model.keras` and
    `metadata.json`; see `kerattn.zoo.presets.save_preset`), or, for a translator with
    `in_place=True`, writes the threshold into the preset folder's own metadata.json.

    Args:
        model_or_path: a `Classifier` or `Translator`, or a preset name, preset folder or
            `.keras` file.
        data_path: `text<TAB>label[<TAB>origin]` (classifier) or `source<TAB>target[<TAB>
            origin]` (translator) rows: validation data, never test data.
        out: the new preset folder; it must not exist or be empty (nothing is overwritten).
        origin: fit only on rows whose third column starts with this prefix.
        description: the preset's one-line description; default: the source preset's, else
            "calibrated classifier" / "calibrated translator".
        in_place: a translator preset only (instead of `out`): its metadata.json gets
            "confidence_threshold" and "confidence_calibration"; model.keras is not touched.
        false_alarm_rate: a translator's share of validation outputs flagged
            (`fit_confidence_threshold`; None: 5 %). A classifier refuses it.

    Returns:
        `calibrate_classifier`'s (`calibrate_translator`'s) report, plus "model", "data",
        "origin" and "preset" (the folder written). A new folder's metadata.json gets the
        source preset's metadata (license, data, metrics: the outputs never change, so the
        metrics stay valid) with "calibration" (classifier: the report without the fitted
        temperature, which the model's config holds) or "confidence_threshold" and
        "confidence_calibration" (translator).
    """
    from kerattn.zoo import evaluation, presets

    if in_place not in (True, False):
        raise CalibrationError(f"`in_place` must be True or False; received {in_place!r}.")
    if (out is None) != in_place:
        raise CalibrationError(
            "kerattn calibrate needs exactly one of --out (a new preset folder) and --in-place "
            "(a translator preset's own metadata.json)."
        )
    if out is not None:
        out = os.fspath(out)
        if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
            raise CalibrationError(
                f"The output {out!r} already exists and is not an empty folder; kerattn "
                "calibrate writes a new preset folder and never overwrites one: pass a new --out."
            )
    rate = _checked_rate(FALSE_ALARM_RATE if false_alarm_rate is None else false_alarm_rate)
    rows, _ = evaluation._read_rows(data_path, origin)
    if isinstance(model_or_path, (str, os.PathLike)):
        model = evaluation.load_model_for_evaluation(model_or_path)
        model_description = os.fspath(model_or_path)
    else:
        model, model_description = model_or_path, type(model_or_path).__name__
    if evaluation.detect_task(model) != "classification":
        report = {"model": model_description, "data": os.fspath(data_path), "origin": origin}
        return _calibrate_translator_file(
            model, model_or_path, model_description, rows, out, in_place, description, rate, report
        )
    if in_place:
        raise CalibrationError(
            "--in-place writes a translator's confidence threshold into its metadata.json; a "
            "classifier's temperature belongs to its model: pass --out for a new preset folder."
        )
    if false_alarm_rate is not None:
        raise CalibrationError(
            "--false-alarm-rate sets a translator's confidence threshold; a classifier is "
            "calibrated by its temperature alone: leave the option out."
        )
    texts = [text for text, _ in rows]
    labels = [label.strip() for _, label in rows]
    report = calibrate_classifier(model, texts, labels)
    source = _source_metadata(model_or_path)
    report = {
        "model": model_description,
        "data": os.fspath(data_path),
        "origin": origin,
        **report,
    }
    previous = model.temperature
    model.temperature = report["temperature"]
    try:
        calibration = {key: value for key, value in report.items() if key != "temperature"}
        preset = presets.save_preset(
            model,
            out,
            description or source.get("description") or "calibrated classifier",
            **{key: value for key, value in source.items() if key not in _WRITTEN_BY_SAVE},
            calibration=calibration,
        )
    finally:
        model.temperature = previous
    report["preset"] = os.fspath(preset.path)
    return report


# What `save_preset` writes itself, and what no longer describes the calibrated model.
_WRITTEN_BY_SAVE = (
    "name",
    "family",
    "task",
    "description",
    "parameters",
    "model_bytes",
    "decoding",
    "calibration",
)


def _source_metadata(model_or_path) -> dict:
    """The metadata.json of the preset `model_or_path` names, or {} (a .keras file, a model)."""
    from kerattn.zoo import presets

    if not isinstance(model_or_path, (str, os.PathLike)) or os.fspath(model_or_path).endswith(
        ".keras"
    ):
        return {}
    try:
        return dict(presets.get_preset(model_or_path).metadata)
    except presets.UnknownPresetError:
        return {}


def _checked_rate(false_alarm_rate) -> float:
    if (
        isinstance(false_alarm_rate, bool)
        or not isinstance(false_alarm_rate, (int, float))
        or not 0 <= false_alarm_rate < 1
    ):
        raise CalibrationError(
            "`false_alarm_rate` must be a number from 0 (inclusive) to 1 (exclusive), the share "
            f"of validation outputs to flag; received false_alarm_rate={false_alarm_rate!r}."
        )
    return float(false_alarm_rate)


def fit_confidence_threshold(confidences, false_alarm_rate: float = FALSE_ALARM_RATE) -> float:
    """The confidence threshold below which at most `false_alarm_rate` of `confidences` fall.

    With the n confidences sorted, c_(1) <= ... <= c_(n), and k = floor(rate × n), the
    threshold is c_(k+1): the k least confident outputs are below it (fewer when c_(k+1) ties
    with some of them), every other one is at or above it. Deterministic.

    Args:
        confidences: the confidences (in [0, 1]) of a translator's outputs on validation
            sources.
        false_alarm_rate: in [0, 1); 0 gives the lowest confidence (nothing is flagged).
    """
    rate = _checked_rate(false_alarm_rate)
    values = np.sort(np.asarray(confidences, np.float64).reshape(-1))
    if values.size == 0:
        raise CalibrationError(
            "Fitting a confidence threshold needs at least one validation output; received none."
        )
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
        raise CalibrationError(
            "`confidences` must be numbers from 0 to 1; received values from "
            f"{float(values.min())!r} to {float(values.max())!r}."
        )
    flagged = int(math.floor(rate * values.size + 1e-9))  # 1e-9: 0.05 × 20 is 1, not 0.999…
    return float(values[flagged])


def calibrate_translator(
    model,
    texts: Sequence[str],
    false_alarm_rate: float = FALSE_ALARM_RATE,
    batch_size: int = 64,
) -> dict:
    """Fits the confidence threshold of the `Translator` `model` on validation `texts`.

    The texts are translated with the model's default decoding (`model.decoding`: a preset's
    card settings, the ones `translate` and `kerattn translate` use), since confidence depends
    on the decoding. The model is not changed: set `model.confidence_threshold =
    report["confidence_threshold"]` to use it. Empty and whitespace-only texts are left out
    (their empty output has confidence 1 by rule).

    Returns:
        `{"confidence_threshold", "false_alarm_rate", "examples", "skipped_empty",
        "flagged" (validation outputs below the threshold), "decoding", "confidences":
        {"min", "median", "mean", "max"}}`.
    """
    rate = _checked_rate(false_alarm_rate)
    kept = [text for text in texts if text.strip()]
    if not kept:
        raise CalibrationError("Calibration needs at least one non-empty text; received none.")
    confidences = []
    for offset in range(0, len(kept), batch_size):
        results = model.translate(kept[offset : offset + batch_size])
        confidences.extend(result.confidence for result in results)
    confidences = np.asarray(confidences, np.float64)
    threshold = fit_confidence_threshold(confidences, rate)
    return {
        "confidence_threshold": threshold,
        "false_alarm_rate": rate,
        "examples": len(kept),
        "skipped_empty": len(texts) - len(kept),
        "flagged": int(np.sum(confidences < threshold)),
        "decoding": dict(model.decoding),
        "confidences": {
            "min": float(confidences.min()),
            "median": float(np.median(confidences)),
            "mean": float(confidences.mean()),
            "max": float(confidences.max()),
        },
    }


def _calibrate_translator_file(
    model, model_or_path, model_description, rows, out, in_place, description, rate, report
) -> dict:
    """`calibrate_file` for a translator: the threshold into metadata.json."""
    from kerattn.atomic_files import atomic_write_text
    from kerattn.zoo import presets
    from kerattn.zoo.confidence import METADATA_KEY

    preset = None
    if in_place:
        try:
            preset = presets.get_preset(model_or_path)
        except (presets.UnknownPresetError, TypeError):
            preset = None
        if preset is None or os.fspath(model_or_path).endswith(".keras"):
            raise CalibrationError(
                f"--in-place writes the threshold into a preset folder's metadata.json; "
                f"{model_description!r} is not a preset: pass a preset name or folder, or --out."
            )
    report = {
        **report,
        **calibrate_translator(model, [source for source, _ in rows], rate),
    }
    threshold = report["confidence_threshold"]
    calibration = {key: value for key, value in report.items() if key != "confidence_threshold"}
    if preset is not None:
        metadata = {
            **{key: value for key, value in preset.metadata.items() if key != METADATA_KEY},
            METADATA_KEY: threshold,
            "confidence_calibration": calibration,
        }
        path = preset.path / "metadata.json"
        atomic_write_text(path, json.dumps(metadata, indent=2, ensure_ascii=False) + "\n")
        report["preset"] = os.fspath(preset.path)
        return report
    source = _source_metadata(model_or_path)
    previous = model.confidence_threshold
    model.confidence_threshold = threshold
    try:
        written = presets.save_preset(
            model,
            out,
            description or source.get("description") or "calibrated translator",
            **{
                key: value
                for key, value in source.items()
                if key not in (*_WRITTEN_BY_SAVE, METADATA_KEY, "confidence_calibration")
            },
            confidence_calibration=calibration,
        )
    finally:
        model.confidence_threshold = previous
    report["preset"] = os.fspath(written.path)
    return report


def format_confidence_calibration(report: dict) -> str:
    """A translator's calibration report as lines for people."""
    values = report["confidences"]
    lines = [
        f"kerattn calibrate: model {report['model']}, data {report['data']}"
        + (f" (origin {report['origin']}*)" if report.get("origin") else ""),
        "",
        f"  confidence threshold {report['confidence_threshold']:.4f}: "
        f"{report['flagged']} of {report['examples']} validation outputs below it "
        f"(false-alarm rate at most {100 * report['false_alarm_rate']:g} %)",
        f"  validation confidence: min {values['min']:.4f}, median {values['median']:.4f}, "
        f"mean {values['mean']:.4f}, max {values['max']:.4f}",
        f"  decoding {json.dumps(report['decoding'])}",
    ]
    if report["skipped_empty"]:
        lines.append(f"  {report['skipped_empty']} empty texts left out")
    if "preset" in report:
        lines.append(
            f"  wrote the threshold into {os.path.join(report['preset'], 'metadata.json')}"
        )
    return "\n".join(lines)


def format_calibration(report: dict) -> str:
    """`calibrate_file`'s report as lines for people."""
    from kerattn.tables import text_table

    if "confidence_threshold" in report:
        return format_confidence_calibration(report)

    before, after = report["before"], report["after"]
    lines = [
        f"kerattn calibrate: model {report['model']}, data {report['data']}"
        + (f" (origin {report['origin']}*)" if report.get("origin") else ""),
        "",
    ]
    lines += text_table(
        [
            ["", "temperature", "NLL", "ECE (15 bins)", "mean confidence", "accuracy"],
            *(
                [
                    name,
                    f"{values['temperature']:.4f}",
                    f"{values['negative_log_likelihood']:.4f}",
                    f"{100 * values['expected_calibration_error']:.2f} %",
                    f"{100 * values['mean_confidence']:.2f} %",
                    f"{100 * values['accuracy']:.2f} %",
                ]
                for name, values in (("before", before), ("after", after))
            ),
        ],
        align="lrrrrr",
        indent="  ",
    )
    skipped = (
        f" ({report['skipped_empty']} empty texts left out)" if report["skipped_empty"] else ""
    )
    lines += ["", f"  {report['examples']} examples{skipped}"]
    if "preset" in report:
        lines.append(f"  wrote the calibrated preset {report['preset']}")
    return "\n".join(lines)
