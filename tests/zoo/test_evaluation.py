"""Evaluation end to end: tiny untrained models saved as .keras, `evaluate_file` and the CLI."""

from __future__ import annotations

import json
import re
import zipfile

import keras
import pytest
import sacrebleu  # noqa: F401  (the reports' metrics: a missing extra fails here)

import kerattn_cli as cli
from kerattn.data import CorpusError, read_rows, write_rows
from kerattn.errors import UsageError
from kerattn.text import WordPieceTokenizer, train_wordpiece_vocabulary
from kerattn.zoo import evaluation, metrics
from kerattn.zoo.classifier import Classifier
from kerattn.zoo.evaluation import EvaluationError
from kerattn.zoo.translator import Translator
from tests.zoo.conftest import ENGLISH, SPANISH, record_translate_calls, symbol_tokenizer

REVIEWS = [
    ("A great film.", "positive"),
    ("A terrible, boring film!", "negative"),
    ("great acting and a fine story", "positive"),
    ("Boring.", "negative"),
    ("a fine film", "positive"),
]
PRONUNCIATIONS = [
    ("tomato", "T AH M EY T OW"),
    ("cat", "K AE T"),
    ("tomato", "T AH M AA T OW"),
    ("dog", "D AO G"),
    ("cat", "K AE T"),  # a repeated row is one reference, not two
]
REPORT_KEYS = {
    "task",
    "metrics",
    "counts",
    "settings",
    "timing",
    "model",
    "data",
    "origin",
    "limit",
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Paths of a translator, a G2P translator and a classifier saved as .keras, and data files."""
    folder = tmp_path_factory.mktemp("evaluation")
    english_tokenizer = WordPieceTokenizer(train_wordpiece_vocabulary(ENGLISH, 300))
    spanish_tokenizer = WordPieceTokenizer(train_wordpiece_vocabulary(SPANISH, 300))
    review_tokenizer = WordPieceTokenizer(
        train_wordpiece_vocabulary([text for text, _ in REVIEWS], 200, lowercase=True),
        lowercase=True,
    )
    keras.utils.set_random_seed(0)
    paths = {}
    models = {
        "translation": Translator(
            english_tokenizer,
            spanish_tokenizer,
            embedding_dim=8,
            units=8,
            max_source_length=24,
            max_target_length=12,
        ),
        "g2p": Translator(
            symbol_tokenizer("abcdefghijklmnopqrstuvwxyz"),
            symbol_tokenizer(["T", "AH", "M", "EY", "AA", "OW", "K", "AE", "D", "AO", "G"]),
            embedding_dim=8,
            units=8,
            max_source_length=12,
            max_target_length=8,
        ),
        "classification": Classifier(
            review_tokenizer, ["negative", "positive"], embedding_dim=8, units=4, max_length=12
        ),
    }
    for task, model in models.items():
        paths[task] = folder / f"{task}.keras"
        model.save(paths[task])
    paths["translation_data"] = folder / "translation.tsv"
    write_rows(paths["translation_data"], zip(ENGLISH, SPANISH, ["test"] * len(ENGLISH)))
    paths["g2p_data"] = folder / "g2p.tsv"
    write_rows(paths["g2p_data"], PRONUNCIATIONS)
    paths["classification_data"] = folder / "reviews.tsv"
    write_rows(paths["classification_data"], REVIEWS)
    return paths


@pytest.fixture(scope="module")
def loaded(saved):
    return {
        task: evaluation.load_model_for_evaluation(saved[task])
        for task in ("translation", "g2p", "classification")
    }


def test_task_is_detected_from_the_model(loaded):
    for task, model in loaded.items():
        assert evaluation.detect_task(model) == task


def test_translation_report_equals_metrics_on_the_models_own_output(saved, loaded):
    report = evaluation.evaluate_file(loaded["translation"], saved["translation_data"], limit=5)
    assert set(report) == REPORT_KEYS
    assert report["task"] == "translation" and report["limit"] == 5
    assert report["model"] == "Translator" and report["data"] == str(saved["translation_data"])
    assert set(report["metrics"]) == {
        "bleu",
        "chrf",
        "bleu_signature",
        "chrf_signature",
        "bleu_details",
        "bleu_by_source_length",
        "placeholders",
    }
    assert set(report["counts"]) == {"examples", "truncated", "empty_translations"}
    assert report["settings"] == {
        "beam_size": 1,
        "batch_size": 64,
        "length_penalty": 0.6,
        "tokenize": "13a",
        "bucket_edges": [0, 10, 20, 30, 50],
    }
    assert set(report["timing"]) == {"seconds", "examples_per_second", "warmup_seconds"}
    assert report["counts"]["examples"] == 5

    hypotheses = [t.text for t in loaded["translation"].translate(ENGLISH[:5])]
    bleu = metrics.corpus_bleu(hypotheses, SPANISH[:5])
    assert report["metrics"]["bleu"] == bleu["score"]
    assert report["metrics"]["bleu_signature"] == bleu["signature"]
    assert report["metrics"]["chrf"] == metrics.corpus_chrf(hypotheses, SPANISH[:5])["score"]
    assert report["metrics"]["bleu_by_source_length"] == metrics.bleu_by_source_length(
        ENGLISH[:5], hypotheses, SPANISH[:5]
    )
    assert report["metrics"]["placeholders"] == metrics.placeholder_agreement(
        ENGLISH[:5], hypotheses
    )
    json.dumps(report, allow_nan=False)


def test_batching_and_beam_size_reach_the_model(loaded, monkeypatch):
    model = loaded["translation"]
    one_batch = evaluation.evaluate_translator(model, ENGLISH, SPANISH)
    calls = []
    translate = model.translate

    def spy(texts, **kwargs):
        calls.append((len(texts), kwargs))
        return translate(texts, length_penalty=kwargs["length_penalty"])  # greedy: already traced

    monkeypatch.setattr(model, "translate", spy)
    small_batches = evaluation.evaluate_translator(
        model, ENGLISH, SPANISH, batch_size=3, beam_size=4, length_penalty=1.0
    )
    # One untimed warm-up example, then batches of 3.
    assert [size for size, _ in calls] == [1, 3, 3, 1]
    assert all(
        kwargs == {"beam_size": 4, "length_penalty": 1.0, "batch_size": 3} for _, kwargs in calls
    )
    assert small_batches["settings"]["beam_size"] == 4
    for key in ("bleu", "chrf", "bleu_by_source_length"):
        assert small_batches["metrics"][key] == one_batch["metrics"][key]


def test_g2p_groups_alternate_pronunciations(saved, loaded, tmp_path):
    report = evaluation.evaluate_file(loaded["g2p"], saved["g2p_data"])
    assert report["task"] == "g2p"
    assert set(report["metrics"]) == {"word_error_rate", "phoneme_error_rate", "by_word_length"}
    references = {
        "tomato": ["T AH M EY T OW", "T AH M AA T OW"],
        "cat": ["K AE T"],
        "dog": ["D AO G"],
    }
    predictions = {word: loaded["g2p"].translate(word).text for word in references}
    scores = metrics.g2p_scores(predictions, references)
    assert report["metrics"]["word_error_rate"] == scores["word_error_rate"]
    assert report["metrics"]["phoneme_error_rate"] == scores["phoneme_error_rate"]
    assert report["counts"]["examples"] == 3 and report["counts"]["words_with_alternates"] == 1
    assert report["counts"]["reference_phonemes"] == scores["reference_phonemes"]
    assert report["metrics"]["by_word_length"] == metrics.g2p_scores_by_word_length(
        predictions, references
    )

    limited = evaluation.evaluate_file(loaded["g2p"], saved["g2p_data"], limit=1)
    assert limited["counts"]["examples"] == 1 and limited["counts"]["words_with_alternates"] == 1

    alternates = tmp_path / "alternates.tsv"
    write_rows(
        alternates,
        [("dog", "D AO G", "test"), ("dog", "D AA G", "test"), ("zebra", "Z IY B R AH", "train")],
    )
    extended = evaluation.evaluate_file(
        loaded["g2p"], saved["g2p_data"], alternates_path=alternates
    )
    assert extended["counts"]["examples"] == 3 and extended["counts"]["words_with_alternates"] == 2
    assert extended["settings"]["alternates"] == str(alternates)
    # The G2P model is a Translator, so it can also be scored as translation (BLEU on phonemes).
    as_translation = evaluation.evaluate_file(loaded["g2p"], saved["g2p_data"], task="translation")
    assert as_translation["task"] == "translation" and as_translation["counts"]["examples"] == 5


def test_classification_report_equals_metrics_on_the_models_own_output(saved, loaded):
    report = evaluation.evaluate_file(saved["classification"], saved["classification_data"])
    assert set(report) == REPORT_KEYS and report["task"] == "classification"
    assert set(report["metrics"]) == {
        "accuracy",
        "macro_f1",
        "per_class",
        "confusion_matrix",
        "expected_calibration_error",
        "reliability",
        "accuracy_by_length",
    }
    texts, labels = zip(*REVIEWS)
    predicted = [r.label for r in loaded["classification"].classify(list(texts))]
    expected = metrics.classification_scores(predicted, labels, ["negative", "positive"])
    for key in ("accuracy", "macro_f1", "per_class", "confusion_matrix"):
        assert report["metrics"][key] == expected[key]
    assert report["counts"] == {"examples": 5, "truncated": 0}
    json.dumps(report, allow_nan=False)

    in_memory = evaluation.evaluate_file(loaded["classification"], saved["classification_data"])
    assert in_memory["model"] == "Classifier" and in_memory["metrics"] == report["metrics"]


def test_format_report_is_an_aligned_table(saved, loaded):
    text = evaluation.format_report(
        evaluation.evaluate_file(loaded["classification"], saved["classification_data"])
    )
    assert "accuracy" in text and "confusion matrix" in text and "negative" in text
    translation = evaluation.format_report(
        evaluation.evaluate_file(loaded["translation"], saved["translation_data"])
    )
    assert "BLEU by source length" in translation and "30-50" in translation
    bucket_lines = [
        line for line in translation.splitlines() if line.strip().startswith(("0-10", "50+"))
    ]
    assert len(bucket_lines) == 2 and len({len(line) for line in bucket_lines}) == 1
    assert "placeholders kept" not in translation  # the fixture's sentences have none
    report = evaluation.evaluate_translator(loaded["translation"], ["Delete %s?"] * 2, ["x"] * 2)
    kept = report["metrics"]["placeholders"]
    assert kept["sources"] == 2 and kept["kept"] in (0, 2)  # the same output twice
    assert (
        f"placeholders kept: {kept['kept']} of 2 sources that have them ({kept['rate']:.2f} %)"
        in evaluation.format_report(report)
    )
    g2p = evaluation.format_report(evaluation.evaluate_file(loaded["g2p"], saved["g2p_data"]))
    assert "word error rate" in g2p and "phoneme error rate" in g2p
    assert "by word length (letters):" in g2p and "11+" in g2p


def test_cli_prints_a_table_or_json(saved, capsys):
    code = cli.main(
        ["evaluate", str(saved["classification"]), "--data", str(saved["classification_data"])]
    )
    assert code == 0
    assert "accuracy" in capsys.readouterr().out
    code = cli.main(
        ["evaluate", str(saved["g2p"]), "--data", str(saved["g2p_data"]), "--limit", "2", "--json"]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == REPORT_KEYS and report["task"] == "g2p"
    assert report["counts"]["examples"] == 2 and report["limit"] == 2
    assert report["model"] == str(saved["g2p"])


def test_cli_passes_every_flag_to_evaluate_file(monkeypatch, capsys):
    received = {}

    def fake_evaluate_file(model, data, **kwargs):
        received.update(model=model, data=data, **kwargs)
        return {"task": "fake"}

    monkeypatch.setattr(evaluation, "evaluate_file", fake_evaluate_file)
    argv = [
        "evaluate",
        "m.keras",
        "--data",
        "d.tsv",
        "--task",
        "g2p",
        "--beam-size",
        "4",
        "--batch-size",
        "8",
        "--limit",
        "10",
        "--alternates",
        "a.tsv",
        "--origin",
        "help/",
        "--n-best",
        "4",
        "--predictions",
        "p.tsv",
        "--by-origin",
        "2",
        "--json",
    ]
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out) == {"task": "fake"}
    assert received == {
        "model": "m.keras",
        "data": "d.tsv",
        "task": "g2p",
        "beam_size": 4,
        "batch_size": 8,
        "limit": 10,
        "alternates_path": "a.tsv",
        "origin": "help/",
        "n_best": 4,
        "predictions_path": "p.tsv",
        "by_origin": 2,
    }


def test_origin_keeps_the_rows_of_that_origin(loaded, tmp_path):
    data = tmp_path / "origins.tsv"
    data.write_text("one\tuno\thelp/a.html\ntwo\tdos\tui/b.po\nthree\ttres\thelp/c.html\n")
    report = evaluation.evaluate_file(loaded["translation"], data, origin="help/")
    assert report["origin"] == "help/" and report["counts"]["examples"] == 2
    assert "(origin help/*)" in evaluation.format_report(report).splitlines()[0]
    with pytest.raises(EvaluationError, match=r"has no rows whose origin starts with 'web/'; "):
        evaluation.evaluate_file(loaded["translation"], data, origin="web/")


def test_origin_prefix_keeps_the_first_components_with_their_slash():
    assert evaluation.origin_prefix("help/libreoffice/text/a.html", 1) == "help/"
    assert evaluation.origin_prefix("help/libreoffice/text/a.html", 2) == "help/libreoffice/"
    assert evaluation.origin_prefix("ui/gimp", 2) == "ui/gimp"
    assert evaluation.origin_prefix("ui/gimp", 3) == "ui/gimp"


def test_by_origin_scores_each_prefix_as_evaluating_it_alone(loaded, tmp_path):
    data = tmp_path / "origins.tsv"
    origins = ["help/a/x.html", "ui/b", "help/c/y.html", "ui/b", "help/a/z.html", "narrative/d"]
    write_rows(data, [(s, t, o) for s, t, o in zip(ENGLISH, SPANISH, origins)])
    report = evaluation.evaluate_file(loaded["translation"], data, by_origin=2)
    assert "predictions" not in report and "predictions_file" not in report
    scores = report["metrics"]["by_origin"]
    assert [(s["origin"], s["depth"], s["count"]) for s in scores] == [
        ("help/", 1, 3),
        ("narrative/", 1, 1),
        ("ui/", 1, 2),
        ("help/a/", 2, 2),
        ("help/c/", 2, 1),
        ("narrative/d", 2, 1),
        ("ui/b", 2, 2),
    ]
    for score in scores:
        alone = evaluation.evaluate_file(loaded["translation"], data, origin=score["origin"])
        assert alone["counts"]["examples"] == score["count"]
        assert score["bleu"] == pytest.approx(alone["metrics"]["bleu"])
        assert score["chrf"] == pytest.approx(alone["metrics"]["chrf"])
    lines = evaluation.format_report(report).splitlines()
    assert "  by origin:" in lines
    assert any(line.split()[:2] == ["help/a/", "2"] for line in lines)


def test_by_origin_needs_the_origin_column_and_a_translator(saved, loaded, tmp_path):
    data = tmp_path / "mixed.tsv"
    data.write_text("one\tuno\thelp/a.html\ntwo\tdos\n")
    with pytest.raises(EvaluationError) as caught:
        evaluation.evaluate_file(loaded["translation"], data, by_origin=1)
    assert str(caught.value) == (
        f"`by_origin` needs an origin (third) column on every row, and the data file "
        f"{str(data)!r} has a row without one; pass a corpus TSV that has it (the corpus "
        "builders write it)."
    )
    reviews = tmp_path / "reviews.tsv"
    reviews.write_text("A great film.\tpositive\timdb/1\n")
    with pytest.raises(EvaluationError, match=r"applies to task 'translation' only; the task "):
        evaluation.evaluate_file(saved["classification"], reviews, by_origin=1)
    with pytest.raises(EvaluationError, match=r"by_origin"):
        evaluation.evaluate_file(loaded["translation"], data, by_origin=0)


def test_a_damaged_keras_file_is_reported_as_unreadable_not_as_missing(saved, tmp_path):
    # Keras itself answers "File not found" for any file it cannot open as a .keras archive.
    whole = saved["classification"].read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(whole[: len(whole) // 2])
    foreign = tmp_path / "foreign.keras"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("notes.txt", "not a model")
    folder = tmp_path / "folder.keras"
    folder.mkdir()
    for path, reason in [
        (truncated, r"not a zip archive"),
        (foreign, r"[^)]+"),
        (folder, r"it is a folder"),
    ]:
        with pytest.raises(EvaluationError) as caught:
            evaluation.load_model_for_evaluation(path)
        message = str(caught.value)
        assert re.fullmatch(
            rf"'{re.escape(str(path))}' is not a readable \.keras file "
            rf"\({reason}\); pass a \.keras file saved from a kerattn "
            r"Translator or Classifier\.",
            message,
        ), message
        assert "not found" not in message.lower()


def test_errors_are_one_clear_sentence(saved, loaded, tmp_path, capsys):
    with pytest.raises(
        EvaluationError,
        match=r"MODEL must be a preset name(, a preset folder)? or a path to a \.keras file; "
        r"received 'model\.h5'\.",
    ):
        evaluation.load_model_for_evaluation("model.h5")
    assert issubclass(EvaluationError, UsageError) and issubclass(EvaluationError, ValueError)
    with pytest.raises(
        EvaluationError,
        match=r"^MODEL '.*missing\.keras' not found; pass an "
        r"existing \.keras file\.$",
    ):
        evaluation.load_model_for_evaluation(tmp_path / "missing.keras")
    damaged = tmp_path / "damaged.keras"
    damaged.write_text("not a zip file")
    with pytest.raises(
        EvaluationError,
        match=r"^'.*damaged\.keras' is not a readable \.keras "
        r"file \(not a zip archive\); pass a \.keras file",
    ):
        evaluation.load_model_for_evaluation(damaged)
    with pytest.raises(CorpusError, match="does not exist"):
        evaluation.evaluate_file(saved["classification"], tmp_path / "missing.tsv")
    unknown = tmp_path / "unknown.tsv"
    write_rows(unknown, [("fine", "positive"), ("meh", "neutral"), ("hmm", "mixed")])
    with pytest.raises(
        EvaluationError,
        match=r"has label\(s\) 'neutral', 'mixed' that the model does not know; "
        r"its labels are 'negative', 'positive'\.",
    ):
        evaluation.evaluate_file(saved["classification"], unknown)
    with pytest.raises(
        EvaluationError,
        match=r"Task 'classification' needs a Classifier; the model is a Translator\.",
    ):
        evaluation.evaluate_file(
            loaded["translation"], saved["translation_data"], task="classification"
        )
    with pytest.raises(
        EvaluationError, match=r"Task 'g2p' needs a Translator; the model is a Classifier\."
    ):
        evaluation.evaluate_file(loaded["classification"], saved["classification_data"], task="g2p")
    with pytest.raises(EvaluationError, match=r"`limit` must be an int >= 1; received limit=0\."):
        evaluation.evaluate_file(loaded["translation"], saved["translation_data"], limit=0)
    empty = tmp_path / "empty.tsv"
    empty.write_text("\n")
    with pytest.raises(EvaluationError, match=r"has no rows; pass a non-empty TSV\."):
        evaluation.evaluate_file(loaded["translation"], empty)

    for argv, message in [
        (["evaluate", "model.h5", "--data", str(unknown)], "kerattn evaluate: MODEL must be a "),
        (
            ["evaluate", str(damaged), "--data", str(unknown)],
            f"kerattn evaluate: '{damaged}' is not a readable .keras file (not a zip archive); ",
        ),
        (
            ["evaluate", str(tmp_path / "missing.keras"), "--data", str(unknown)],
            f"kerattn evaluate: MODEL '{tmp_path / 'missing.keras'}' not found; ",
        ),
        (
            ["evaluate", str(saved["classification"]), "--data", str(tmp_path / "missing.tsv")],
            f"kerattn evaluate: TSV file {tmp_path / 'missing.tsv'} does not exist; "
            "pass an existing file.\n",
        ),
        (
            ["evaluate", str(saved["classification"]), "--data", str(unknown)],
            "kerattn evaluate: The data file",
        ),
    ]:
        assert cli.main(argv) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.startswith(message)
        assert captured.err.count("\n") == 1


def test_evaluation_defaults_to_the_models_own_decoding(loaded, monkeypatch):
    model = loaded["translation"]
    monkeypatch.setattr(model, "decoding", {"beam_size": 2, "length_penalty": 1.0})
    calls = record_translate_calls(model, monkeypatch)
    report = evaluation.evaluate_translator(model, ENGLISH[:2], SPANISH[:2])
    assert report["settings"]["beam_size"] == 2 and report["settings"]["length_penalty"] == 1.0
    assert calls and all(
        kwargs == {"beam_size": 2, "length_penalty": 1.0, "batch_size": 64} for kwargs in calls
    )
    explicit = evaluation.evaluate_translator(model, ENGLISH[:2], SPANISH[:2], beam_size=1)
    assert explicit["settings"]["beam_size"] == 1


def test_predictions_file_holds_each_input_output_and_reference(saved, loaded, tmp_path):
    out = tmp_path / "translation.tsv"
    report = evaluation.evaluate_file(
        loaded["translation"], saved["translation_data"], limit=4, predictions_path=out
    )
    assert report["predictions_file"] == str(out) and "predictions" not in report
    expected = [
        (source, loaded["translation"].translate(source).text, reference)
        for source, reference in list(zip(ENGLISH, SPANISH))[:4]
    ]
    assert read_rows(out, min_fields=3) == expected

    g2p_out = tmp_path / "g2p.tsv"
    evaluation.evaluate_file(loaded["g2p"], saved["g2p_data"], predictions_path=g2p_out)
    rows = read_rows(g2p_out, min_fields=3)
    assert [row[0] for row in rows] == ["tomato", "cat", "dog"]
    assert rows[0][1] == loaded["g2p"].translate("tomato").text
    assert rows[0][2:] == ("T AH M EY T OW", "T AH M AA T OW") and rows[1][2:] == ("K AE T",)

    labels_out = tmp_path / "labels.tsv"
    evaluation.evaluate_file(
        loaded["classification"], saved["classification_data"], predictions_path=labels_out
    )
    predicted = [r.label for r in loaded["classification"].classify([t for t, _ in REVIEWS])]
    assert read_rows(labels_out, min_fields=3) == [
        (text, label, truth) for (text, truth), label in zip(REVIEWS, predicted)
    ]


def test_predictions_file_never_replaces_a_file_and_needs_its_folder(saved, loaded, tmp_path):
    existing = tmp_path / "mine.tsv"
    existing.write_text("my notes\n")
    with pytest.raises(
        EvaluationError,
        match=r"^The predictions file '.*mine\.tsv' already exists; pass a new file name "
        r"\(an existing file is never replaced\)\.$",
    ):
        evaluation.evaluate_file(loaded["g2p"], saved["g2p_data"], predictions_path=existing)
    assert existing.read_text() == "my notes\n"
    with pytest.raises(
        EvaluationError,
        match=r"^The folder of the predictions file '.*nowhere.*' does not exist; create it",
    ):
        evaluation.evaluate_file(
            loaded["g2p"], saved["g2p_data"], predictions_path=tmp_path / "nowhere" / "p.tsv"
        )
    argv = ["evaluate", str(saved["g2p"]), "--data", str(saved["g2p_data"])]
    assert cli.main([*argv, "--predictions", str(existing)]) == 2
    assert existing.read_text() == "my notes\n"
