"""`kerattn zoo list`, `translate`, `score`, `classify` and `calibrate` (the CLI only parses flags).

`translate` and `classify` take texts as arguments, or read one text per line from standard
input when none are given, and write one result per line in the same order (an empty line gives
an empty result, so outputs stay aligned with inputs). `--json` writes one JSON object per line
with scores, tokens and attention; `--show-attention` adds a terminal rendering of the attention
under each result; `--plot FILE.png` writes a labelled heatmap per input (FILE-1.png, FILE-2.png,
… when there are several).

Standard input is answered line by line as lines arrive (only lines already waiting are batched).
A line that cannot be processed (not UTF-8, ...) is reported on standard error as
`kerattn translate: line N ...` and gets an empty output line (or an `error` field with
`--json`); every other line is still answered, in order. Exit codes: 0 done, 1 some input could
not be processed, 2 bad arguments or a model that cannot be loaded.

A translation whose confidence is below the translator's calibrated threshold gets one line on
standard error, `kerattn translate: input N was translated with low confidence C (below the
model's threshold T); its translation may be wrong.`; its output line is printed as usual (a
warning, not an error: the exit code stays 0).
"""

from __future__ import annotations

import json
import math
import os
import queue
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

BATCH_SIZE = 32  # most texts per model call when lines wait on standard input


def _error(command: str, message: str) -> int:
    print(f"kerattn {command}: {message}", file=sys.stderr)
    return 2


def list_command(as_json: bool = False) -> int:
    """Prints the installed presets as a table (or a JSON list of their metadata)."""
    from kerattn.zoo import presets

    found = presets.list_presets()
    if as_json:
        print(json.dumps([preset.metadata for preset in found], indent=2, ensure_ascii=False))
        return 0
    if not found:
        print("No presets are installed.")
        return 0
    rows = [("name", "task", "size", "metrics", "description")]
    for preset in found:
        rows.append(
            (
                preset.name,
                preset.task,
                f"{preset.size_bytes / 1e6:.1f} MB",
                format_metrics(preset.metrics),
                preset.description,
            )
        )
    from kerattn.tables import text_table

    for line in text_table(rows):
        print(line)
    return 0


_METRIC_NAMES = {
    "bleu": ("BLEU", False),
    "chrf": ("chrF", False),
    "word_error_rate": ("WER", True),
    "phoneme_error_rate": ("PER", True),
    "accuracy": ("accuracy", True),
    "macro_f1": ("macro F1", True),
}


def format_metrics(metrics: dict) -> str:
    """ "BLEU 31.2, chrF 55.0" / "WER 27.1 %, PER 6.8 %" for a preset's headline metrics."""
    parts = []
    for key, value in metrics.items():
        label, percent = _METRIC_NAMES.get(key, (key, False))
        parts.append(f"{label} {value * 100:.1f} %" if percent else f"{label} {value:.1f}")
    return ", ".join(parts)


@dataclass(frozen=True)
class _Input:
    """One input: its 1-based number, its text, and why it cannot be processed (or None)."""

    index: int
    text: str
    error: str | None = None


def _argument_inputs(texts: Sequence[str]) -> list[_Input]:
    return [_Input(index, text) for index, text in enumerate(texts, start=1)]


def _line_input(index: int, line: bytes) -> _Input:
    line = line.rstrip(b"\r\n")
    try:
        return _Input(index, line.decode("utf-8"))
    except UnicodeDecodeError as error:
        text = line.decode("utf-8", errors="replace")
        return _Input(
            index,
            text,
            f"line {index} is not valid UTF-8 (byte "
            f"0x{line[error.start]:02x} at position {error.start}); pass UTF-8 text.",
        )


def _stdin_batches(stream, limit: int) -> Iterator[list[_Input]]:
    """Standard input's lines in batches of those already waiting (at most `limit`).

    A reader thread takes lines as they arrive; each batch is the first waiting line plus
    whatever else has arrived by then, so `tail -f log | kerattn translate` answers every line
    at once while a file or a fast pipe still runs in batches.
    """
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True, name="kerattn-stdin").start()
    index = 0
    finished = False
    while not finished:
        batch = []
        line = lines.get()
        while line is not None:
            index += 1
            batch.append(_line_input(index, line))
            if len(batch) == limit:
                break
            try:
                line = lines.get_nowait()
            except queue.Empty:
                break
        finished = line is None
        if batch:
            yield batch


def _predict_each(batch: list[_Input], predict) -> list[tuple[object, str | None]]:
    """(result, error) per input: blank or bad inputs get no result; if the batch fails as a
    whole, each text is tried alone so that one bad text cannot cost the others theirs."""
    from kerattn.errors import KerattnError

    answers: list[tuple[object, str | None]] = [(None, item.error) for item in batch]
    runnable = [i for i, item in enumerate(batch) if item.error is None and item.text.strip()]
    if not runnable:
        return answers
    try:
        results = predict([batch[i].text for i in runnable])
        for i, result in zip(runnable, results):
            answers[i] = (result, None)
    except (KerattnError, ValueError, TypeError):
        for i in runnable:
            try:
                answers[i] = (predict(batch[i].text), None)
            except (KerattnError, ValueError, TypeError) as error:
                answers[i] = (None, f"input {batch[i].index}: {error}")
    return answers


def _results(texts: Sequence[str], predict) -> Iterator[tuple[_Input, object, str | None]]:
    """(input, result, error) for every input, in order; blank or bad inputs have no result.

    Command-line texts run as one batch; standard input as its lines arrive (see
    `_stdin_batches`).
    """
    batches = [_argument_inputs(texts)] if texts else _stdin_batches(sys.stdin.buffer, BATCH_SIZE)
    for batch in batches:
        for item, (result, error) in zip(batch, _predict_each(batch, predict)):
            yield item, result, error
        sys.stdout.flush()


def _plot_path(plot: str, index: int, several: bool) -> Path:
    path = Path(plot)
    return path.with_name(f"{path.stem}-{index}{path.suffix}") if several else path


def _load(model_name: str, expected: str):
    """The model; raises ModelLoadError with the message for the user."""
    from kerattn.zoo.classifier import Classifier
    from kerattn.zoo.model_loading import ModelLoadError, WrongModelKindError, load_model
    from kerattn.zoo.translator import Translator

    kinds = {"Translator": Translator, "Classifier": Classifier}
    try:
        return load_model(model_name, expected_class=kinds[expected])
    except WrongModelKindError as error:
        other = "classify" if expected == "Translator" else "translate"
        raise ModelLoadError(f"{error} Use kerattn {other} for it.") from None


def _check_plot(plot: str | None) -> str | None:
    if plot is None:
        return None
    if Path(plot).suffix.lower() != ".png":
        return f"--plot must name a .png file; received {plot!r}."
    if not Path(plot).parent.is_dir():
        return f"--plot {plot!r}: the folder {str(Path(plot).parent)!r} does not exist."
    try:  # find out now, not after the first translations are printed
        tempfile.TemporaryFile(dir=Path(plot).parent).close()
    except OSError as error:
        return (
            f"--plot {plot!r}: cannot write into the folder {str(Path(plot).parent)!r} "
            f"({error.strerror or error}); pick a writable folder."
        )
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "--plot needs matplotlib; install it with pip install 'kerattn[plot]'."
    return None


def _rounded(values) -> list:
    import numpy as np

    return np.round(np.asarray(values, np.float64), 4).tolist()


def translate_command(
    texts: Sequence[str],
    model_name: str = "translator_en_es",
    beam_size: int | None = None,
    as_json: bool = False,
    show_attention: bool = False,
    plot: str | None = None,
    n_best: int | None = None,
    **options,
) -> int:
    """Translates `texts` (or standard input) and prints one result per line.

    `options` are `Translator.translate` keyword arguments (decoding, temperature, top_k,
    top_p, seed, min_length, ...). With `n_best` K, each input gets K lines
    "INPUT_NUMBER<TAB>SCORE<TAB>HYPOTHESIS", best first (fewer when fewer hypotheses exist),
    and `--json` adds a "hypotheses" list.

    A result the model flags `low_confidence` (its confidence is below the model's calibrated
    `confidence_threshold`) gets one warning line on standard error naming the input and the
    confidence; `--json` carries "confidence" and "low_confidence" (null without a threshold,
    and for blank or failed lines, which get no translation).
    """
    from kerattn.errors import KerattnError
    from kerattn.visualization import alignment_text, write_heatmap
    from kerattn.zoo.model_loading import ModelLoadError

    if beam_size is not None and beam_size < 1:
        return _error("translate", f"--beam-size must be >= 1; received {beam_size}.")
    if problem := _check_plot(plot):
        return _error("translate", problem)
    try:
        model = _load(model_name, "Translator")
    except ModelLoadError as error:
        return _error("translate", str(error))
    options = {name: value for name, value in options.items() if value is not None}
    if beam_size is not None:
        options["beam_size"] = beam_size
    if n_best is not None:
        options["num_hypotheses"] = n_best
    try:  # check the options once, before any input is read
        model.translate([], **options)
    except (KerattnError, ValueError, TypeError) as error:
        return _error("translate", str(error))
    several = len(texts) != 1
    failed = 0
    for item, result, error in _results(texts, lambda batch: model.translate(batch, **options)):
        if error is not None:
            failed += 1
            print(f"kerattn translate: {error}", file=sys.stderr)
        elif result is not None and result.truncated and result.segments > 1:
            print(
                f"kerattn translate: input {item.index} was translated in "
                f"{result.segments} sentences, and one of them is longer than the model's "
                f"{model.max_source_length} tokens; only its beginning was translated.",
                file=sys.stderr,
            )
        elif result is not None and result.truncated:
            print(
                f"kerattn translate: input {item.index} is longer than the model's "
                f"{model.max_source_length} tokens; only its beginning was translated.",
                file=sys.stderr,
            )
        if result is not None and result.low_confidence:
            print(low_confidence_warning(item.index, result, model), file=sys.stderr)
        if as_json:
            document = _translation_json(item.text, result, error)
            if n_best is not None:
                document["hypotheses"] = [
                    {
                        "translation": hypothesis.text,
                        "score": round(hypothesis.score, 4),
                        "log_prob": round(hypothesis.log_prob, 4),
                        "confidence": round(hypothesis.confidence, 4),
                        "low_confidence": hypothesis.low_confidence,
                        "tokens": hypothesis.tokens,
                        "attention": _rounded(hypothesis.attention),
                    }
                    for hypothesis in (result.hypotheses if result else ())
                ]
            print(json.dumps(document, ensure_ascii=False))
        elif n_best is not None:
            for hypothesis in result.hypotheses if result else ():
                print(f"{item.index}\t{hypothesis.score:.4f}\t{hypothesis.text}")
        else:
            print(result.text if result else "")
            if show_attention and result is not None and result.tokens:
                print(alignment_text(result.attention, result.source_tokens, result.tokens))
                print()
        if plot and result is not None and result.tokens:
            write_heatmap(
                _plot_path(plot, item.index, several),
                result.attention,
                result.source_tokens,
                result.tokens,
                title=item.text,
            )
    return 1 if failed else 0


def low_confidence_warning(index: int, result, model) -> str:
    """The standard-error line for a `low_confidence` result of input `index`."""
    return (
        f"kerattn translate: input {index} was translated with low confidence "
        f"{result.confidence:.3f} (below the model's threshold "
        f"{model.confidence_threshold:.3f}); its translation may be wrong."
    )


def _translation_json(text: str, result, error: str | None) -> dict:
    if result is None:
        return {
            "input": text,
            "translation": "",
            "score": None,
            "log_prob": None,
            "confidence": None,
            "low_confidence": None,
            "truncated": False,
            "segments": None,
            "source_tokens": [],
            "tokens": [],
            "attention": [],
            **({"error": error} if error else {}),
        }
    return {
        "input": text,
        "translation": result.text,
        "score": round(result.score, 4),
        "log_prob": round(result.log_prob, 4),
        "confidence": round(result.confidence, 4),
        "low_confidence": result.low_confidence,
        "truncated": result.truncated,
        "segments": result.segments,
        "source_tokens": result.source_tokens,
        "tokens": result.tokens,
        "attention": _rounded(result.attention),
    }


def score_command(
    path: str | None = None,
    model_name: str = "translator_en_es",
    length_penalty: float | None = None,
    coverage_penalty: float | None = None,
    as_json: bool = False,
) -> int:
    """Scores "SOURCE<TAB>TARGET" lines of `path` (standard input when None or "-"): one line
    per input with the score (`--json`: score, log_prob, tokens, token_log_probs, attention).

    A line without a tab, or not UTF-8, is reported on standard error and gets an empty line
    (an `error` field with `--json`); exit code 1 then.
    """
    from kerattn.errors import KerattnError
    from kerattn.zoo.model_loading import ModelLoadError

    try:
        stream = sys.stdin.buffer if path in (None, "-") else open(path, "rb")  # noqa: SIM115
    except OSError as error:
        return _error("score", f"cannot read {path!r} ({error.strerror or error}).")
    try:
        model = _load(model_name, "Translator")
    except ModelLoadError as error:
        return _error("score", str(error))
    penalties = {"length_penalty": length_penalty, "coverage_penalty": coverage_penalty}
    penalties = {name: value for name, value in penalties.items() if value is not None}
    try:
        model.score([], [], **penalties)
    except (KerattnError, ValueError, TypeError) as error:
        return _error("score", str(error))
    failed = 0
    with stream:
        for batch in _stdin_batches(stream, BATCH_SIZE):
            pairs: list[tuple[str, str] | None] = []
            errors: list[str | None] = []
            for item in batch:
                source, tab, target = item.text.partition("\t")
                error = item.error or (
                    None
                    if tab
                    else f"line {item.index} has no tab; write SOURCE<TAB>TARGET per line."
                )
                pairs.append(None if error else (source, target))
                errors.append(error)
            runnable = [i for i, pair in enumerate(pairs) if pair is not None]
            results: dict[int, object] = {}
            if runnable:
                scored = model.score(
                    [pairs[i][0] for i in runnable], [pairs[i][1] for i in runnable], **penalties
                )
                results = dict(zip(runnable, scored))
            for i, item in enumerate(batch):
                result, error = results.get(i), errors[i]
                if error is not None:
                    failed += 1
                    print(f"kerattn score: {error}", file=sys.stderr)
                if as_json:
                    print(json.dumps(_scoring_json(item.text, result, error), ensure_ascii=False))
                else:
                    print(f"{result.score:.4f}" if result is not None else "")
            sys.stdout.flush()
    return 1 if failed else 0


def _scoring_json(text: str, result, error: str | None) -> dict:
    if result is None:
        return {"input": text, "score": None, "log_prob": None, "error": error}
    return {
        "input": text,
        "score": round(result.score, 4),
        "log_prob": round(result.log_prob, 4),
        "truncated": result.truncated,
        "target_truncated": result.target_truncated,
        "source_tokens": result.source_tokens,
        "tokens": result.tokens,
        "token_log_probs": _rounded(result.token_log_probs),
        "attention": _rounded(result.attention),
    }


def classify_command(
    texts: Sequence[str],
    model_name: str = "sentiment_en",
    as_json: bool = False,
    show_attention: bool = False,
    plot: str | None = None,
) -> int:
    """Classifies `texts` (or standard input): "label<TAB>probability" per line."""
    from kerattn.visualization import token_weights_text, write_heatmap
    from kerattn.zoo.model_loading import ModelLoadError

    if problem := _check_plot(plot):
        return _error("classify", problem)
    try:
        model = _load(model_name, "Classifier")
    except ModelLoadError as error:
        return _error("classify", str(error))
    several = len(texts) != 1
    failed = 0
    for item, result, error in _results(texts, model.classify):
        if error is not None:
            failed += 1
            print(f"kerattn classify: {error}", file=sys.stderr)
        elif result is not None and result.truncated:
            print(
                f"kerattn classify: input {item.index} is longer than the model's "
                f"{model.max_length} tokens; only its beginning was read.",
                file=sys.stderr,
            )
        if as_json:
            print(json.dumps(_classification_json(item.text, result, error), ensure_ascii=False))
        elif result is None:
            print("")
        else:
            print(f"{result.label}\t{result.probabilities[result.label]:.4f}")
            if show_attention and result.tokens:
                print(token_weights_text(result.tokens, result.token_weights))
                print()
        if plot and result is not None and result.tokens:
            write_heatmap(
                _plot_path(plot, item.index, several),
                result.token_weights[None],
                result.tokens,
                [result.label],
                title=item.text,
            )
    return 1 if failed else 0


def _classification_json(text: str, result, error: str | None) -> dict:
    if result is None:
        return {
            "input": text,
            "label": None,
            "probabilities": {},
            "truncated": False,
            "tokens": [],
            "token_weights": [],
            **({"error": error} if error else {}),
        }
    return {
        "input": text,
        "label": result.label,
        "probabilities": {k: round(v, 4) for k, v in result.probabilities.items()},
        "truncated": result.truncated,
        "tokens": result.tokens,
        "token_weights": _rounded(result.token_weights),
    }


def calibrate_command(
    model: str | os.PathLike,
    data: str | os.PathLike,
    out: str | os.PathLike | None,
    *,
    origin: str | None = None,
    as_json: bool = False,
    in_place: bool = False,
    false_alarm_rate: float | None = None,
) -> int:
    """`kerattn calibrate`: `calibration.calibrate_file`, then its report printed (a table, or
    JSON)."""
    from kerattn.zoo import calibration

    if false_alarm_rate is not None and (
        not math.isfinite(false_alarm_rate) or not 0 <= false_alarm_rate < 1
    ):
        raise calibration.CalibrationError(
            "--false-alarm-rate must be a number from 0 (inclusive) to 1 (exclusive), the "
            f"share of validation outputs to flag; received {false_alarm_rate!r}."
        )
    report = calibration.calibrate_file(
        model, data, out, origin=origin, in_place=in_place, false_alarm_rate=false_alarm_rate
    )
    print(json.dumps(report, indent=2) if as_json else calibration.format_calibration(report))
    return 0
