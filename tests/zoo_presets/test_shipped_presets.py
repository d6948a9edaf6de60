"""The `zoo` tier: the presets that ship with kerattn, loaded and checked against their cards.

- every expected preset is installed, small enough, and its card states its metrics and the
  command that measured them;
- quality on a committed held-out sample (tests/zoo_presets/data, drawn from the test splits by
  make_samples.py) agrees with the card: BLEU within 2 points, error rates and accuracy within
  three binomial standard errors of the card's figure;
- a few pinned outputs, so a change to tokenization, decoding or loading cannot pass unseen.

Run with `make test-zoo` (pytest -m zoo).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

import kerattn
from kerattn.zoo import command, evaluation
from kerattn.zoo.packaging import MAX_MODEL_BYTES

pytestmark = pytest.mark.zoo

DATA = Path(__file__).parent / "data"
EXPECTED = ["g2p_en", "sentiment_en", "translator_en_de", "translator_en_es"]


@pytest.fixture(scope="module")
def presets():
    return {preset.name: preset for preset in kerattn.zoo.list()}


def test_every_expected_preset_ships(presets):
    assert sorted(presets) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_card_states_the_metrics_and_their_command(presets, name):
    preset = presets[name]
    assert preset.size_bytes <= MAX_MODEL_BYTES
    card = (preset.path / "README.md").read_text(encoding="utf-8")
    assert preset.metadata["evaluation"]["command"] in card
    assert command.format_metrics(preset.metrics) in card
    for picture in ("attention.png",):
        assert (preset.path / picture).is_file() and f"({picture})" in card
    assert (preset.path / "recipe.toml").is_file()


def _binomial_margin(rate: float, count: int) -> float:
    return 3 * math.sqrt(max(rate * (1 - rate), 1e-4) / count)


@pytest.mark.parametrize("name", EXPECTED)
def test_quality_on_the_held_out_sample_matches_the_card(presets, name):
    preset = presets[name]
    report = evaluation.evaluate_file(
        name, DATA / f"{name}.tsv", beam_size=preset.decoding.get("beam_size", 1)
    )
    card, measured = preset.metrics, report["metrics"]
    if preset.task == "translation":
        assert measured["bleu"] == pytest.approx(card["bleu"], abs=2.0)
    elif preset.task == "g2p":
        words = report["counts"]["examples"]
        assert words == 1000
        assert measured["word_error_rate"] == pytest.approx(
            card["word_error_rate"], abs=_binomial_margin(card["word_error_rate"], words)
        )
        # Phoneme errors cluster within words, so their margin counts words, not phonemes.
        assert measured["phoneme_error_rate"] == pytest.approx(
            card["phoneme_error_rate"], abs=_binomial_margin(card["phoneme_error_rate"], words)
        )
    else:
        reviews = report["counts"]["examples"]
        assert measured["accuracy"] == pytest.approx(
            card["accuracy"], abs=_binomial_margin(card["accuracy"], reviews)
        )


def _card_n_best_accuracy(card: str) -> dict[int, float]:
    """k → accuracy@k (a fraction) from the g2p card's "n-best accuracy" table."""
    section = card.split("### n-best accuracy", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| (\d+) \| ([\d.]+) % \| ([\d,]+) \|$", section, flags=re.MULTILINE)
    return {int(k): float(percent) / 100 for k, percent, _ in rows}


def test_g2p_n_best_accuracy_on_the_held_out_sample_matches_the_card(presets):
    preset = presets["g2p_en"]
    card = (preset.path / "README.md").read_text(encoding="utf-8")
    card_accuracy = _card_n_best_accuracy(card)
    assert sorted(card_accuracy) == [1, 2, 3, 4]
    assert f"{preset.metadata['evaluation']['command']} --n-best 4" in card
    # The first hypothesis is the translation the error rates are measured on.
    assert card_accuracy[1] == pytest.approx(1 - preset.metrics["word_error_rate"], abs=5e-4)
    report = evaluation.evaluate_file(
        "g2p_en", DATA / "g2p_en.tsv", beam_size=preset.decoding["beam_size"], n_best=4
    )
    words, measured = report["counts"]["examples"], report["metrics"]["n_best"]
    assert words == 1000
    assert measured["accuracy_at_1"] == pytest.approx(1 - report["metrics"]["word_error_rate"])
    for k, accuracy in card_accuracy.items():
        assert measured[f"accuracy_at_{k}"] == pytest.approx(
            accuracy, abs=_binomial_margin(accuracy, words)
        )


PINNED_TRANSLATIONS = {
    "translator_en_es": {
        "Save the document as PDF.": "Guardar el documento como PDF.",
        "Click OK to close the dialog.": "Pulse Aceptar para cerrar el diálogo.",
        "Turn off the lights": "Desactivar las luces",
        "I love my family.": "Invice mi familia.",  # everyday English: see the model card
    },
    "translator_en_de": {
        "Save the document as PDF.": "Das Dokument als PDF speichern.",
        "Click OK to close the dialog.": "Klicken Sie auf OK, um den Dialog zu schließen.",
        # German quotes and whole placeholders (the tokenizer's language="de").
        'Click "%s" to delete the file %1$s.': "Klicken Sie auf »%s«, um die Datei %1$s zu löschen.",
        "I love my family.": "Ich habe meine Familie.",  # everyday English: see the model card
    },
    "g2p_en": {
        "phoneme": "F OW N IY M",
        "attention": "AH T EH N SH AH N",
        "knight": "N AY T",
        "psychology": "S AY K AA L AH JH IY",
    },
}
PINNED_LABELS = {
    "A wonderful film with superb acting.": "positive",
    "Dull, predictable and far too long.": "negative",
    "I expected much more from this director.": "negative",
    "The plot was thin, but the acting was excellent and I loved every minute.": "positive",
}


@pytest.mark.parametrize("name", sorted(PINNED_TRANSLATIONS))
def test_pinned_translations(presets, name):
    model = kerattn.zoo.load(name)
    pinned = PINNED_TRANSLATIONS[name]
    results = model.translate(list(pinned), **presets[name].decoding)
    assert {text: result.text for text, result in zip(pinned, results)} == pinned


# Each translator's confidence (issue 18 §3) on pinned inputs and an everyday sentence, with
# the flag its calibrated threshold (metadata.json) gives them.
PINNED_CONFIDENCE = {
    "translator_en_es": {
        "Save the document as PDF.": (0.8790, False),
        "Click OK to close the dialog.": (0.7124, False),
        "Turn off the lights": (0.5598, False),
        "I love my family.": (0.2850, False),  # "Invice mi familia.": wrong, and not flagged
        "My grandmother baked bread every Sunday.": (0.1644, True),  # invented, flagged
    },
    "translator_en_de": {
        "Save the document as PDF.": (0.7586, False),
        "Turn off the lights": (0.2437, False),  # "Lichter deaktivieren"
        "I love my family.": (0.3151, False),  # "Ich habe meine Familie.": wrong, not flagged
        "My grandmother baked bread every Sunday.": (0.1196, True),  # invented, flagged
    },
}
RUNS = {"translator_en_es": "runs/translator_en_es_v2", "translator_en_de": "runs/translator_en_de"}


@pytest.mark.parametrize("name", sorted(PINNED_CONFIDENCE))
def test_pinned_confidence_and_its_threshold(presets, name):
    preset = presets[name]
    threshold = preset.metadata["confidence_threshold"]
    card = (preset.path / "README.md").read_text(encoding="utf-8")
    assert f"{threshold:.3f}" in card
    # zoo/finish_translator.sh: 3,000 rows of the corpus's valid.tsv, seed 0.
    assert preset.metadata["confidence_calibration"]["data"] == f"{RUNS[name]}/valid_sample.tsv"
    model = kerattn.zoo.load(name)
    assert model.confidence_threshold == threshold
    pinned = PINNED_CONFIDENCE[name]
    results = model.translate(list(pinned))
    for (text, (confidence, flagged)), result in zip(pinned.items(), results):
        assert result.confidence == pytest.approx(confidence, abs=5e-4), text
        assert result.low_confidence is flagged, text


def test_pinned_labels():
    model = kerattn.Classifier.from_preset("sentiment_en")
    results = model.classify(list(PINNED_LABELS))
    assert {text: result.label for text, result in zip(PINNED_LABELS, results)} == PINNED_LABELS


def test_sentiment_probabilities_are_the_cards_calibrated_ones(presets):
    """The preset carries the temperature its card states (fitted by `kerattn calibrate`), and
    the card's example probability is what the preset says."""
    model = kerattn.Classifier.from_preset("sentiment_en")
    card = (presets["sentiment_en"].path / "README.md").read_text(encoding="utf-8")
    assert model.temperature == pytest.approx(1.0722, abs=5e-5)
    assert f"T = {model.temperature:.3f}" in card
    result = model.classify("A wonderful film with superb acting.")
    assert (result.label, round(result.probabilities["positive"], 4)) == ("positive", 0.9951)
    assert "positive\t0.9951" in card
