"""Confidence and low_confidence of translations, the threshold's storage, and its calibration
(issue 18 §3): against NumPy computations from `Translator.score` and hand-made fixtures."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import kerattn
from kerattn.errors import UsageError
from kerattn.zoo import calibration
from kerattn.zoo.calibration import CalibrationError, fit_confidence_threshold
from kerattn.zoo.classifier import Classifier
from kerattn.zoo.model_loading import ModelLoadError, load_model
from kerattn.zoo.translator import Translator
from tests.zoo.conftest import ENGLISH, SPANISH, ended, tiny_classifier


def expected_confidence(scoring) -> float:
    """exp(log P / n) over the scored tokens, [END] included, computed in NumPy."""
    return float(np.exp(np.float64(scoring.log_prob) / len(scoring.tokens)))


def outputs_of_every_decoding(model) -> list[tuple[str, object]]:
    """(source, hypothesis) of greedy, beam, every n-best hypothesis and sampling."""
    pairs = []
    for result in model.translate(ENGLISH, beam_size=1, min_length=3):
        pairs.append(result)
    for result in model.translate(ENGLISH, beam_size=3, min_length=3):
        pairs.append(result)
    nbest = model.translate(ENGLISH, beam_size=3, num_hypotheses=3, min_length=3)
    sampled = model.translate(ENGLISH, decoding="sample", seed=5, min_length=3)
    sources = ENGLISH * 2
    hypotheses = [h for result in nbest for h in result.hypotheses]
    sources += [ENGLISH[i] for i, result in enumerate(nbest) for _ in result.hypotheses]
    return list(zip(sources + ENGLISH, pairs + hypotheses + list(sampled)))


def test_confidence_is_exp_of_the_mean_token_log_prob_that_score_reports(translator):
    pairs = outputs_of_every_decoding(translator)
    scorings = translator.score([source for source, _ in pairs], [h.text for _, h in pairs])
    compared = 0
    for scoring, (_, hypothesis) in zip(scorings, pairs):
        assert 0.0 <= hypothesis.confidence <= 1.0
        if scoring.tokens[:-1] != hypothesis.tokens or not ended(hypothesis):
            continue  # the text does not tokenize back to the same tokens
        compared += 1
        assert scoring.tokens[-1] == "[END]"  # n counts [END]
        assert hypothesis.confidence == pytest.approx(expected_confidence(scoring), rel=1e-5)
    assert compared >= 20


def test_confidence_of_a_cut_output_counts_its_tokens_without_end(translator):
    # min_length bans [END] before the cap, so the search stops at the cap without one.
    (result,) = translator.translate([ENGLISH[2]], beam_size=1, max_length_ratio=0.3, min_length=20)
    assert len(result.tokens) == math.ceil(0.3 * (len(result.source_tokens) - 1))
    expected = np.exp(np.float32(result.log_prob) / np.float32(len(result.tokens)))
    assert result.confidence == pytest.approx(float(expected), rel=1e-6)


def test_the_translation_and_its_first_hypothesis_agree(translator):
    for result in translator.translate(ENGLISH, beam_size=3, num_hypotheses=3):
        assert result.confidence == result.hypotheses[0].confidence
        assert result.low_confidence is None and result.hypotheses[0].low_confidence is None


def test_an_empty_input_has_confidence_one_and_is_never_flagged(translator):
    empty, blank = translator.translate(["", "   "], beam_size=3)
    assert (empty.text, empty.confidence, empty.low_confidence) == ("", 1.0, None)
    assert blank.confidence == 1.0
    translator.confidence_threshold = 1.0  # the strictest threshold flags everything else
    try:
        empty, text = translator.translate(["", ENGLISH[0]], beam_size=3)
        assert (empty.confidence, empty.low_confidence) == (1.0, False)
        assert text.low_confidence is True
    finally:
        translator.confidence_threshold = None


def test_low_confidence_is_confidence_below_the_threshold(translator):
    plain = translator.translate(ENGLISH, beam_size=3, num_hypotheses=2)
    confidences = sorted(result.confidence for result in plain)
    assert len(set(confidences)) == len(confidences)
    threshold = (confidences[2] + confidences[3]) / 2  # three results below it
    translator.confidence_threshold = threshold
    try:
        flagged = translator.translate(ENGLISH, beam_size=3, num_hypotheses=2)
    finally:
        translator.confidence_threshold = None
    assert sum(result.low_confidence for result in flagged) == 3
    for before, after in zip(plain, flagged):
        assert after.confidence == before.confidence
        assert after.low_confidence is (after.confidence < threshold)
        for hypothesis in after.hypotheses:
            assert hypothesis.low_confidence is (hypothesis.confidence < threshold)


def test_the_threshold_round_trips_through_keras_files_and_presets(translator, tmp_path):
    translator.confidence_threshold = 0.25
    try:
        translator.save(tmp_path / "model.keras")
        translator.save_to_preset(tmp_path / "preset")
    finally:
        translator.confidence_threshold = None
    assert load_model(tmp_path / "model.keras").confidence_threshold == 0.25
    metadata = json.loads((tmp_path / "preset" / "metadata.json").read_text(encoding="utf-8"))
    assert metadata["confidence_threshold"] == 0.25
    assert Translator.from_preset(tmp_path / "preset").confidence_threshold == 0.25
    # The preset's metadata.json decides (kerattn calibrate --in-place edits only that file).
    metadata["confidence_threshold"] = 0.5
    (tmp_path / "preset" / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    assert kerattn.zoo.load(tmp_path / "preset").confidence_threshold == 0.5
    del metadata["confidence_threshold"]
    (tmp_path / "preset" / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    assert kerattn.zoo.load(tmp_path / "preset").confidence_threshold == 0.25  # the config's


def test_without_a_threshold_nothing_is_flagged_or_stored(translator, tmp_path):
    translator.save_to_preset(tmp_path / "preset")
    metadata = json.loads((tmp_path / "preset" / "metadata.json").read_text(encoding="utf-8"))
    assert "confidence_threshold" not in metadata
    model = Translator.from_preset(tmp_path / "preset")
    assert model.confidence_threshold is None
    assert model.translate(ENGLISH[0]).low_confidence is None


@pytest.mark.parametrize("value", [1.5, -0.1, float("nan"), True, "0.3"])
def test_a_bad_threshold_is_refused_in_one_sentence(translator, english_tokenizer, value):
    message = (
        "`confidence_threshold` must be a number from 0 to 1 (a confidence), or None for no "
        f"low-confidence flag; received confidence_threshold={value!r}."
    )
    with pytest.raises(UsageError) as raised:
        translator.confidence_threshold = value
    assert str(raised.value) == message
    assert translator.confidence_threshold is None
    with pytest.raises(UsageError, match="must be a number from 0 to 1"):
        Translator(english_tokenizer, english_tokenizer, units=8, confidence_threshold=value)


def test_a_bad_threshold_in_a_presets_metadata_is_one_sentence(translator, tmp_path):
    translator.save_to_preset(tmp_path / "preset")
    path = tmp_path / "preset" / "metadata.json"
    metadata = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**metadata, "confidence_threshold": 2}), encoding="utf-8")
    with pytest.raises(ModelLoadError) as raised:
        Translator.from_preset(tmp_path / "preset")
    assert str(raised.value) == (
        f"The preset {str(tmp_path / 'preset')!r} has confidence_threshold=2 in its "
        "metadata.json; it must be a number from 0 to 1, or null for no low-confidence flag "
        "(kerattn calibrate writes it)."
    )


# ---------------------------------------------------------------- calibration


FIXTURE = [0.91, 0.12, 0.55, 0.73, 0.08, 0.64, 0.99, 0.47, 0.30, 0.81]  # 10 confidences
FIXTURE = FIXTURE + [value - 0.005 for value in FIXTURE]  # 20, all distinct
# sorted: 0.075 0.08 0.115 0.12 0.295 0.30 ...


@pytest.mark.parametrize(
    "rate, expected, flagged",
    [(0.05, 0.08, 1), (0.1, 0.115, 2), (0.2, 0.295, 4), (0.0, 0.075, 0), (0.049, 0.075, 0)],
)
def test_the_threshold_is_the_order_statistic_above_the_flagged_share(rate, expected, flagged):
    threshold = fit_confidence_threshold(FIXTURE, rate)
    assert threshold == pytest.approx(expected)
    assert sum(value < threshold for value in FIXTURE) == flagged
    assert flagged <= rate * len(FIXTURE)
    assert fit_confidence_threshold(list(reversed(FIXTURE)), rate) == threshold


def test_ties_at_the_threshold_are_not_flagged():
    values = [0.2, 0.2, 0.2, 0.2, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    threshold = fit_confidence_threshold(values, 0.2)  # k = 2: c_(3) = 0.2
    assert threshold == 0.2 and sum(value < threshold for value in values) == 0


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            ([0.5], 1.0),
            "`false_alarm_rate` must be a number from 0 (inclusive) to 1 (exclusive), the share "
            "of validation outputs to flag; received false_alarm_rate=1.0.",
        ),
        (
            ([0.5], -0.01),
            "`false_alarm_rate` must be a number from 0 (inclusive) to 1 (exclusive), the share "
            "of validation outputs to flag; received false_alarm_rate=-0.01.",
        ),
        (
            ([], 0.05),
            "Fitting a confidence threshold needs at least one validation output; received none.",
        ),
        (
            ([0.5, 1.2], 0.05),
            "`confidences` must be numbers from 0 to 1; received values from 0.5 to 1.2.",
        ),
    ],
)
def test_calibration_errors_are_one_sentence(arguments, message):
    with pytest.raises(CalibrationError) as raised:
        fit_confidence_threshold(*arguments)
    assert str(raised.value) == message


@pytest.fixture
def preset(translator, tmp_path):
    folder = tmp_path / "tiny_translator"
    translator.save_to_preset(folder, description="tiny", license="test")
    data = tmp_path / "valid.tsv"
    data.write_text(
        "".join(f"{source}\t{target}\n" for source, target in zip(ENGLISH, SPANISH)) + "\tx\n",
        encoding="utf-8",
    )
    return folder, data


def test_calibrating_in_place_writes_only_the_metadata(translator, preset):
    folder, data = preset
    model_bytes = (folder / "model.keras").read_bytes()
    report = calibration.calibrate_file(folder, data, in_place=True, false_alarm_rate=0.3)
    confidences = [result.confidence for result in translator.translate(ENGLISH)]
    expected = sorted(confidences)[math.floor(0.3 * len(ENGLISH))]  # k = 2: c_(3)
    assert report["confidence_threshold"] == pytest.approx(expected)
    assert (report["examples"], report["skipped_empty"], report["flagged"]) == (7, 1, 2)
    assert (folder / "model.keras").read_bytes() == model_bytes
    metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    assert metadata["confidence_threshold"] == report["confidence_threshold"]
    assert metadata["confidence_calibration"]["false_alarm_rate"] == 0.3
    assert (metadata["description"], metadata["license"]) == ("tiny", "test")
    loaded = Translator.from_preset(folder)
    assert loaded.confidence_threshold == report["confidence_threshold"]
    assert sum(result.low_confidence for result in loaded.translate(ENGLISH)) == 2
    again = calibration.calibrate_file(folder, data, in_place=True, false_alarm_rate=0.3)
    assert again["confidence_threshold"] == report["confidence_threshold"]  # deterministic


def test_calibrating_into_a_new_folder_keeps_the_source_metadata(preset, tmp_path):
    folder, data = preset
    report = calibration.calibrate_file(folder, data, tmp_path / "calibrated")
    metadata = json.loads((tmp_path / "calibrated" / "metadata.json").read_text("utf-8"))
    assert metadata["confidence_threshold"] == report["confidence_threshold"]
    assert metadata["license"] == "test" and metadata["name"] == "calibrated"
    assert report["false_alarm_rate"] == calibration.FALSE_ALARM_RATE
    assert "confidence_threshold" not in json.loads((folder / "metadata.json").read_text("utf-8"))


def test_calibration_usage_errors(preset, tmp_path, review_tokenizer):
    folder, data = preset
    with pytest.raises(CalibrationError, match="exactly one of --out"):
        calibration.calibrate_file(folder, data)
    with pytest.raises(CalibrationError, match="exactly one of --out"):
        calibration.calibrate_file(folder, data, tmp_path / "x", in_place=True)
    Translator.from_preset(folder).save(tmp_path / "model.keras")
    with pytest.raises(CalibrationError) as raised:
        calibration.calibrate_file(tmp_path / "model.keras", data, in_place=True)
    assert str(raised.value) == (
        f"--in-place writes the threshold into a preset folder's metadata.json; "
        f"{str(tmp_path / 'model.keras')!r} is not a preset: pass a preset name or folder, "
        "or --out."
    )
    classifier = tiny_classifier(review_tokenizer)
    assert isinstance(classifier, Classifier)
    with pytest.raises(CalibrationError, match="a classifier's temperature belongs to its model"):
        calibration.calibrate_file(classifier, data, in_place=True)
