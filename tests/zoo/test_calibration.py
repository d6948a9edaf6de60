"""Calibration: ECE against numpy references, the temperature fit against a brute-force grid,
the temperature through classify, save/load, an old config without it, the export, and
`kerattn calibrate`."""

from __future__ import annotations

import json
import math
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerattn_cli as cli
from kerattn.data import write_rows
from kerattn.export.exporter import export_model
from kerattn.zoo import calibration, evaluation, metrics
from kerattn.zoo.calibration import CalibrationError
from kerattn.zoo.classifier import Classifier
from tests.zoo.conftest import tiny_classifier

REVIEWS = ["a great film", "a terrible film", "great acting and a fine story", "boring", ""]
ROWS = [
    ("a great film", "positive", "imdb"),
    ("a terrible film", "negative", "imdb"),
    ("great acting and a fine story", "positive", "rotten_tomatoes"),
    ("boring", "negative", "rotten_tomatoes"),
    ("a fine film", "positive", "imdb"),
    ("terrible acting", "negative", "imdb"),
]


def numpy_ece(probabilities: np.ndarray, expected: np.ndarray, bins: int = 15) -> float:
    """The textbook definition, written independently: masks per bin (lo, hi]."""
    confidences = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == expected
    total = 0.0
    for m in range(bins):
        low, high = m / bins, (m + 1) / bins
        in_bin = (confidences > low) & (confidences <= high)
        if m == 0:
            in_bin |= confidences == 0
        if in_bin.any():
            gap = abs(correct[in_bin].mean() - confidences[in_bin].mean())
            total += in_bin.mean() * gap
    return float(total)


def numpy_nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    scaled = logits / temperature
    log_norm = np.log(np.exp(scaled - scaled.max(1, keepdims=True)).sum(1)) + scaled.max(1)
    return float(np.mean(log_norm - scaled[np.arange(len(labels)), labels]))


# -- the expected calibration error -----------------------------------------------------------


def test_ece_of_a_hand_computed_case():
    probabilities = [[0.1, 0.9], [0.9, 0.1], [0.62, 0.38], [0.45, 0.55]]
    expected = [1, 1, 0, 1]
    # 0.9, 0.9 in (13/15, 14/15]: accuracy 1/2, confidence 0.9 -> 2/4 · 0.4 = 0.2;
    # 0.62 in (9/15, 10/15]: 1/4 · 0.38 = 0.095; 0.55 in (8/15, 9/15]: 1/4 · 0.45 = 0.1125.
    scores = metrics.calibration_scores(probabilities, expected)
    assert scores["expected_calibration_error"] == pytest.approx(0.4075, abs=1e-12)
    assert scores["accuracy"] == 0.75 and scores["examples"] == 4
    assert scores["mean_confidence"] == pytest.approx((0.9 + 0.9 + 0.62 + 0.55) / 4)
    counts = [b["count"] for b in scores["bins"]]
    assert len(counts) == 15 and counts[13] == 2 and counts[9] == 1 and counts[8] == 1
    assert sum(counts) == 4
    assert scores["bins"][13]["accuracy"] == 0.5 and scores["bins"][0]["confidence"] is None
    assert scores["bins"][0]["lower"] == 0 and scores["bins"][14]["upper"] == 1


@pytest.mark.parametrize("classes", [2, 3, 10])
def test_ece_equals_a_numpy_reference(classes):
    generator = np.random.default_rng(classes)
    logits = generator.normal(size=(500, classes)) * 3
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = generator.integers(0, classes, size=500)
    expected[:250] = probabilities[:250].argmax(1)  # half right at least
    ece = metrics.expected_calibration_error(probabilities.tolist(), expected.tolist())
    assert ece == pytest.approx(numpy_ece(probabilities, expected), abs=1e-12)
    for bins in (1, 10):
        assert metrics.expected_calibration_error(
            probabilities.tolist(), expected.tolist(), bins
        ) == pytest.approx(numpy_ece(probabilities, expected, bins), abs=1e-12)


def test_ece_edges_ties_and_extremes():
    # Confidence exactly 1 is in the last bin; a tie goes to the first class (as argmax).
    scores = metrics.calibration_scores([[1.0, 0.0], [0.5, 0.5]], [0, 1])
    assert scores["bins"][14]["count"] == 1 and scores["bins"][7]["count"] == 1
    assert scores["bins"][7]["accuracy"] == 0.0  # predicted class 0, truth 1
    assert scores["expected_calibration_error"] == pytest.approx(0.5 * 0 + 0.5 * 0.5)
    # Perfectly calibrated: 70 % confidence, 70 % right.
    probabilities = [[0.7, 0.3]] * 10
    assert metrics.expected_calibration_error(probabilities, [0] * 7 + [1] * 3) == pytest.approx(
        0.0, abs=1e-12
    )
    empty = metrics.calibration_scores([], [])
    assert empty["expected_calibration_error"] is None and empty["examples"] == 0


def test_ece_errors_are_one_clear_sentence():
    with pytest.raises(ValueError, match=r"`bins` must be an int >= 1; received bins=0\."):
        metrics.calibration_scores([[0.5, 0.5]], [0], bins=0)
    with pytest.raises(ValueError, match=r"received 1 rows and 2 classes\."):
        metrics.calibration_scores([[0.5, 0.5]], [0, 1])
    with pytest.raises(ValueError, match=r"true class 2 is not an index into its row of 2"):
        metrics.calibration_scores([[0.5, 0.5]], [2])


# -- fitting the temperature ------------------------------------------------------------------


def overconfident_logits(seed: int, examples: int = 400, classes: int = 3, scale: float = 4.0):
    """Labels drawn from softmax(z); the model reports scale · z (overconfident for scale > 1)."""
    generator = np.random.default_rng(seed)
    true_logits = generator.normal(size=(examples, classes))
    probabilities = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    labels = np.array([generator.choice(classes, p=row) for row in probabilities])
    return true_logits * scale, labels


@pytest.mark.parametrize("seed, scale", [(0, 4.0), (1, 0.5), (2, 1.0)])
def test_fitted_temperature_equals_a_brute_force_grid(seed, scale):
    logits, labels = overconfident_logits(seed, scale=scale)
    grid = np.exp(np.linspace(math.log(0.05), math.log(20.0), 40001))
    losses = [numpy_nll(logits, labels, t) for t in grid]
    best = grid[int(np.argmin(losses))]
    fitted = calibration.fit_temperature(logits, labels)
    spacing = math.log(20.0 / 0.05) / 40000
    assert abs(math.log(fitted) - math.log(best)) <= 2 * spacing
    assert numpy_nll(logits, labels, fitted) <= min(losses) + 1e-9
    # The data were made with T = scale: the fit recovers it roughly (400 examples).
    assert fitted == pytest.approx(scale, rel=0.35)
    assert calibration.fit_temperature(logits, labels) == fitted  # deterministic


def test_fit_stops_at_the_range_edges():
    separable = np.array([[2.0, -2.0], [-1.0, 1.0], [3.0, 0.0]])
    assert calibration.fit_temperature(separable, np.array([0, 1, 0])) == pytest.approx(0.05)
    always_wrong = np.array([[2.0, -2.0], [-1.0, 1.0]])
    assert calibration.fit_temperature(always_wrong, np.array([1, 0])) == pytest.approx(20.0)
    assert calibration.fit_temperature(
        separable, np.array([0, 1, 0]), temperature_range=(0.5, 2.0)
    ) == pytest.approx(0.5)


def test_negative_log_likelihood_equals_numpy():
    logits, labels = overconfident_logits(3)
    for temperature in (0.3, 1.0, 2.5):
        assert calibration.negative_log_likelihood(logits, labels, temperature) == pytest.approx(
            numpy_nll(logits, labels, temperature), rel=1e-12
        )


def test_fit_errors_are_one_clear_sentence():
    with pytest.raises(CalibrationError, match=r"\(N, C\) array with C >= 2 classes"):
        calibration.fit_temperature(np.zeros((3,)), np.zeros(3, int))
    with pytest.raises(CalibrationError, match=r"3 integer class indices"):
        calibration.fit_temperature(np.zeros((3, 2)), np.zeros(2, int))
    with pytest.raises(CalibrationError, match=r"class indices in \[0, 2\); received values"):
        calibration.fit_temperature(np.zeros((2, 2)), np.array([0, 2]))
    with pytest.raises(CalibrationError, match=r"at least one example"):
        calibration.fit_temperature(np.zeros((0, 2)), np.zeros(0, int))
    with pytest.raises(CalibrationError, match=r"finite"):
        calibration.fit_temperature(np.array([[np.nan, 0.0]]), np.array([0]))
    with pytest.raises(CalibrationError, match=r"0 < low < high"):
        calibration.fit_temperature(np.zeros((1, 2)), np.array([0]), temperature_range=(2, 1))


# -- the temperature in the Classifier --------------------------------------------------------


@pytest.fixture(scope="module")
def classifier(review_tokenizer):
    model = tiny_classifier(review_tokenizer)
    # An untrained head gives logits near 0; larger weights make the temperature visible.
    model.head.kernel.assign(model.head.kernel * 40)
    return model


def softmax(logits: np.ndarray) -> np.ndarray:
    exponentials = np.exp(logits - logits.max(-1, keepdims=True))
    return exponentials / exponentials.sum(-1, keepdims=True)


def test_temperature_divides_the_logits_and_never_changes_the_label(review_tokenizer):
    model = tiny_classifier(review_tokenizer)
    model.head.kernel.assign(model.head.kernel * 40)
    texts = REVIEWS[:4]
    logits = model.logits(texts)
    assert logits.shape == (4, 2) and model.logits(texts[0]).shape == (2,)
    as_trained = model.classify(texts)
    assert model.temperature == 1.0
    for result, row in zip(as_trained, logits):
        probabilities = np.array([result.probabilities[label] for label in model.labels])
        np.testing.assert_allclose(probabilities, softmax(row), rtol=1e-5, atol=1e-7)
    model.temperature = 2.5  # also drops the traced functions
    scaled = model.classify(texts)
    for before, after, row in zip(as_trained, scaled, logits):
        assert after.label == before.label
        probabilities = np.array([after.probabilities[label] for label in model.labels])
        np.testing.assert_allclose(probabilities, softmax(row / 2.5), rtol=1e-5, atol=1e-7)
        assert max(probabilities) < max(before.probabilities.values()) or max(probabilities) == 0.5
        np.testing.assert_array_equal(after.token_weights, before.token_weights)
    np.testing.assert_array_equal(model.logits(texts), logits)  # logits ignore the temperature


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "2"])
def test_a_bad_temperature_fails_clearly(review_tokenizer, classifier, bad):
    message = r"`temperature` must be a finite number > 0 \(1 leaves the logits as trained\)"
    with pytest.raises(ValueError, match=message):
        Classifier(review_tokenizer, ["negative", "positive"], temperature=bad)
    with pytest.raises(ValueError, match=message):
        classifier.temperature = bad
    assert classifier.temperature == 1.0


def test_keras_file_round_trip_keeps_the_temperature(review_tokenizer, tmp_path):
    model = tiny_classifier(review_tokenizer)
    model.head.kernel.assign(model.head.kernel * 40)
    model.temperature = 1.7
    assert model.get_config()["temperature"] == 1.7
    model.save(tmp_path / "calibrated.keras")
    restored = keras.saving.load_model(tmp_path / "calibrated.keras")
    assert restored.temperature == 1.7
    for a, b in zip(model.classify(REVIEWS), restored.classify(REVIEWS)):
        assert a.label == b.label and a.probabilities == b.probabilities


def without_temperature(path, out):
    """A copy of the .keras file at `path` whose config has no temperature, as every preset
    saved before temperature scaling."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                assert config["config"].pop("temperature") == 1.0
                data = json.dumps(config).encode()
            target.writestr(item, data)


def test_a_model_saved_without_a_temperature_loads_with_identical_outputs(
    review_tokenizer, tmp_path
):
    model = tiny_classifier(review_tokenizer)
    model.head.kernel.assign(model.head.kernel * 40)
    model.save(tmp_path / "new.keras")
    without_temperature(tmp_path / "new.keras", tmp_path / "old.keras")
    old = keras.saving.load_model(tmp_path / "old.keras")
    assert old.temperature == 1.0
    expected = tf.function(model.classify_batch)(tf.constant(REVIEWS[:4]))
    received = tf.function(old.classify_batch)(tf.constant(REVIEWS[:4]))
    for name in ("probabilities", "label_id", "token_weights"):
        np.testing.assert_array_equal(received[name].numpy(), expected[name].numpy())


def test_the_export_applies_the_temperature(review_tokenizer, tmp_path):
    model = tiny_classifier(review_tokenizer)
    model.head.kernel.assign(model.head.kernel * 40)
    model.temperature = 3.0
    folder = export_model(model, tmp_path / "models" / "classifier")
    serving = tf.saved_model.load(str(folder)).signatures["serving_default"]
    outputs = serving(text=tf.constant(REVIEWS[:4]))
    expected = softmax(model.logits(REVIEWS[:4]) / 3.0)
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-7)
    assert [label.decode() for label in outputs["label"].numpy()] == [
        result.label for result in model.classify(REVIEWS[:4])
    ]


# -- calibrating a model on a file ------------------------------------------------------------


@pytest.fixture
def valid_file(tmp_path):
    path = tmp_path / "valid.tsv"
    write_rows(path, ROWS)
    return path


def test_calibrate_classifier_fits_on_the_models_logits(classifier):
    texts, labels, _ = zip(*ROWS)
    report = calibration.calibrate_classifier(
        classifier, list(texts) + ["  "], list(labels) + ["positive"]
    )
    ids = np.array([classifier.labels.index(label) for label in labels])
    logits = classifier.logits(list(texts))
    assert report["temperature"] == calibration.fit_temperature(logits, ids)
    assert report["examples"] == 6 and report["skipped_empty"] == 1
    assert report["before"]["temperature"] == 1.0
    assert report["after"]["negative_log_likelihood"] <= report["before"]["negative_log_likelihood"]
    probabilities = softmax(logits.astype(np.float64) / report["temperature"])
    assert report["after"]["expected_calibration_error"] == pytest.approx(
        numpy_ece(probabilities, ids), abs=1e-9
    )
    assert report["after"]["accuracy"] == report["before"]["accuracy"]


def test_calibrate_file_writes_a_new_preset_and_never_overwrites(classifier, valid_file, tmp_path):
    classifier.save(tmp_path / "model.keras")
    out = tmp_path / "calibrated"
    report = calibration.calibrate_file(tmp_path / "model.keras", valid_file, out)
    loaded = Classifier.from_preset(out)
    assert loaded.temperature == report["temperature"] != 1.0
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["task"] == "classification" and metadata["name"] == "calibrated"
    assert metadata["calibration"]["examples"] == 6 and "temperature" not in metadata["calibration"]
    assert metadata["calibration"]["data"] == str(valid_file)
    assert classifier.temperature == 1.0  # the model given is left as it was
    files = sorted(path.name for path in out.iterdir())
    with pytest.raises(CalibrationError, match=r"already exists and is not an empty folder"):
        calibration.calibrate_file(tmp_path / "model.keras", valid_file, out)
    assert sorted(path.name for path in out.iterdir()) == files
    with pytest.raises(CalibrationError, match=r"already exists and is not an empty folder"):
        calibration.calibrate_file(classifier, valid_file, valid_file)
    only_imdb = calibration.calibrate_file(classifier, valid_file, tmp_path / "imdb", origin="imdb")
    assert only_imdb["examples"] == 4 and only_imdb["origin"] == "imdb"


def test_calibrate_command_line(classifier, valid_file, tmp_path, capsys):
    classifier.save(tmp_path / "model.keras")
    out = tmp_path / "preset"
    assert (
        cli.main(
            [
                "calibrate",
                str(tmp_path / "model.keras"),
                "--data",
                str(valid_file),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "before" in text and "after" in text and "ECE (15 bins)" in text and str(out) in text
    assert cli.main(["calibrate", str(out), "--data", str(valid_file), "--out", str(out)]) == 2
    assert "never overwrites" in capsys.readouterr().err
    assert (
        cli.main(
            [
                "calibrate",
                str(out),
                "--data",
                str(valid_file),
                "--out",
                str(tmp_path / "again"),
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["before"]["temperature"] == Classifier.from_preset(out).temperature


def test_a_classifier_refuses_a_false_alarm_rate(classifier, valid_file, tmp_path, capsys):
    # The rate sets a translator's confidence threshold; a classifier would silently ignore it.
    with pytest.raises(CalibrationError, match=r"--false-alarm-rate sets a translator's"):
        calibration.calibrate_file(classifier, valid_file, tmp_path / "a", false_alarm_rate=0.1)
    classifier.save(tmp_path / "model.keras")
    arguments = ["calibrate", str(tmp_path / "model.keras"), "--data", str(valid_file)]
    assert cli.main([*arguments, "--out", str(tmp_path / "b"), "--false-alarm-rate", "0.1"]) == 2
    assert "leave the option out" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_calibrate_refuses_labels_the_model_does_not_know(classifier, tmp_path):
    data = tmp_path / "bad.tsv"
    write_rows(data, [("a great film", "great")])
    with pytest.raises(CalibrationError, match=r"label\(s\) 'great' that the model does not know"):
        calibration.calibrate_file(classifier, data, tmp_path / "out")


def test_evaluate_reports_the_calibration_error(classifier, valid_file):
    report = evaluation.evaluate_file(classifier, valid_file)
    texts, labels, _ = zip(*ROWS)
    results = classifier.classify(list(texts))
    probabilities = np.array(
        [[r.probabilities[label] for label in classifier.labels] for r in results]
    )
    ids = np.array([classifier.labels.index(label) for label in labels])
    assert report["metrics"]["expected_calibration_error"] == pytest.approx(
        numpy_ece(probabilities, ids), abs=1e-12
    )
    assert len(report["metrics"]["reliability"]) == 15
    assert report["settings"]["temperature"] == 1.0
    text = evaluation.format_report(report)
    assert "ECE (15 bins)" in text and "reliability" in text
    json.dumps(report, allow_nan=False)
