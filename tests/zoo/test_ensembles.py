"""Ensembles of trained tasks (`kerattn.zoo.ensembles`): decoding, scoring and classifying the
members' mean distribution, against numpy references and invariances; saving, presets, the
CLI, and the errors."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import kerattn_cli as cli
from kerattn.zoo import ensembles
from kerattn.zoo.calibration import calibrate_classifier
from kerattn.zoo.classifier import Classifier
from kerattn.zoo.model_loading import load_model
from kerattn.zoo.translator import Translator
from tests.zoo.conftest import ENGLISH, SPANISH, other_seed, tiny_classifier, tiny_translator

SOURCES = ENGLISH[:4]


@pytest.fixture(scope="module")
def translators(english_tokenizer, spanish_tokenizer):
    """Two tiny translators of other seeds, with more weight on [END] so outputs end."""
    first = tiny_translator(english_tokenizer, spanish_tokenizer, max_target_length=12)
    models = first, other_seed(first, 1)
    for model in models:
        bias = model.backbone.projection.bias
        values = bias.numpy()
        values[spanish_tokenizer.end_id] += 1.0
        bias.assign(values)
    return models


@pytest.fixture(scope="module")
def ensemble(translators):
    return ensembles.join(translators)


def test_joined_translator_holds_the_members_weights_and_first_settings(translators, ensemble):
    assert type(ensemble) is Translator and ensemble.ensemble_size == 2
    assert ensemble.units == translators[0].units and ensemble.confidence_threshold is None
    for member, model in zip(ensemble.backbone.members, translators):
        for a, b in zip(member.get_weights(), model.backbone.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_ensemble_score_is_the_log_of_the_members_mean_token_probabilities(translators, ensemble):
    targets = SPANISH[:4]
    scorings = ensemble.score(SOURCES, targets, length_penalty=0.0)
    members = [model.score(SOURCES, targets, length_penalty=0.0) for model in translators]
    for row, scoring in enumerate(scorings):
        per_member = np.array([m[row].token_log_probs for m in members])  # (M, T)
        expected = np.log(np.exp(per_member).mean(axis=0))
        np.testing.assert_allclose(scoring.token_log_probs, expected, atol=1e-5)
        attention = np.mean([m[row].attention for m in members], axis=0)
        np.testing.assert_allclose(scoring.attention, attention, atol=1e-6)
        assert scoring.log_prob == pytest.approx(expected.sum(), abs=1e-4)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_ensemble_search_reports_the_score_that_scoring_gives(ensemble, beam_size):
    translations = ensemble.translate(SOURCES, beam_size=beam_size, min_length=2)
    scorings = ensemble.score(SOURCES, [t.text for t in translations])
    compared = 0
    for translation, scoring in zip(translations, scorings):
        if scoring.tokens[:-1] != translation.tokens or len(translation.tokens) >= 11:
            continue  # does not tokenize back the same, or did not end by itself
        compared += 1
        assert abs(scoring.log_prob - translation.log_prob) <= 1e-5
        assert abs(scoring.score - translation.score) <= 1e-5
        np.testing.assert_allclose(scoring.attention[:-1], translation.attention, atol=1e-6)
    assert compared >= 1


def test_an_ensemble_of_copies_decodes_as_the_model_itself(translators):
    model = translators[0]
    copies = ensembles.join([model, model])
    for kwargs in ({"beam_size": 1}, {"beam_size": 3, "num_hypotheses": 2}):
        for a, b in zip(model.translate(SOURCES, **kwargs), copies.translate(SOURCES, **kwargs)):
            assert a.text == b.text and a.tokens == b.tokens
            assert a.score == pytest.approx(b.score, abs=1e-5)
            np.testing.assert_allclose(a.attention, b.attention, atol=1e-6)
            assert [h.text for h in a.hypotheses] == [h.text for h in b.hypotheses]
    sampled = dict(decoding="sample", seed=3, temperature=1.5)
    assert [t.text for t in model.translate(SOURCES, **sampled)] == [
        t.text for t in copies.translate(SOURCES, **sampled)
    ]


def test_ensemble_saves_as_a_keras_file_and_a_preset(translators, ensemble, tmp_path):
    ensemble.save(tmp_path / "ensemble.keras")
    restored = keras.saving.load_model(tmp_path / "ensemble.keras")
    assert type(restored) is Translator and restored.ensemble_size == 2
    for a, b in zip(
        restored.translate(SOURCES, beam_size=3), ensemble.translate(SOURCES, beam_size=3)
    ):
        assert a.text == b.text and a.score == pytest.approx(b.score, abs=1e-6)
    for index, model in enumerate(translators):
        model.save(tmp_path / f"member{index}.keras")
    paths = [str(tmp_path / f"member{index}.keras") for index in range(2)]
    report = ensembles.join_files(paths, tmp_path / "preset", weights_dtype="float16")
    metadata = json.loads((tmp_path / "preset" / "metadata.json").read_text())
    assert metadata["ensemble"] == {"members": paths}
    assert metadata["weights_dtype"] == "float16" and report["members"] == paths
    loaded = load_model(tmp_path / "preset")
    assert loaded.ensemble_size == 2
    assert (
        loaded.translate(SOURCES[0], beam_size=3).text
        == ensemble.translate(SOURCES[0], beam_size=3).text
    )  # float16 rounding moves the scores a little, not this output


def test_ensemble_cli_writes_a_preset_and_refuses_to_overwrite(translators, tmp_path, capsys):
    for index, model in enumerate(translators):
        model.save(tmp_path / f"member{index}.keras")
    members = [str(tmp_path / "member0.keras"), str(tmp_path / "member1.keras")]
    out = tmp_path / "joined"
    assert cli.main(["ensemble", *members, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"wrote {out}: an ensemble of 2 (") and "kerattn calibrate" in printed
    before = (out / "model.keras").read_bytes()
    assert cli.main(["ensemble", *members, "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "already exists and is not an empty folder" in error and "Traceback" not in error
    assert (out / "model.keras").read_bytes() == before
    assert cli.main(["ensemble", members[0], "--out", str(tmp_path / "one")]) == 2
    assert "An ensemble needs at least two models; received 1" in capsys.readouterr().err
    assert not (tmp_path / "one").exists()


def test_joined_classifier_predicts_the_members_mean_and_is_calibrated_afresh(review_tokenizer):
    first = tiny_classifier(review_tokenizer)
    second = other_seed(first, 1)
    first.temperature = 2.5
    ensemble = ensembles.join([first, second])
    assert type(ensemble) is Classifier and ensemble.temperature == 1.0
    first.temperature = 1.0
    texts = ["a great film", "boring", "great acting and a fine story", "a terrible film"]
    expected = np.mean(
        [[list(c.probabilities.values()) for c in m.classify(texts)] for m in (first, second)], 0
    )
    got = np.array([list(c.probabilities.values()) for c in ensemble.classify(texts)])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    weights = [np.mean([m.classify(t).token_weights for m in (first, second)], 0) for t in texts]
    for result, mean in zip(ensemble.classify(texts), weights):
        np.testing.assert_allclose(result.token_weights, mean, atol=1e-6)
    report = calibrate_classifier(ensemble, texts * 4, ["positive", "negative"] * 8)
    assert report["temperature"] > 0


def test_joining_refuses_models_that_do_not_fit(translators, review_tokenizer, english_tokenizer):
    first = translators[0]
    cases = [
        ([first], "An ensemble needs at least two models; received 1"),
        ([first, tiny_classifier(review_tokenizer)], "Model 2 is a Classifier and model 1 a "),
        ([first, ensembles.join(translators)], "Model 2 is already an ensemble of 2"),
        (
            [first, tiny_translator(english_tokenizer, english_tokenizer, max_target_length=12)],
            "Model 2 differs from model 1 in the vocabulary of `target_tokenizer`",
        ),
        (
            [first, tiny_translator(first.source_tokenizer, first.target_tokenizer)],
            "Model 2 differs from model 1 in `max_target_length` (20 instead of 12)",
        ),
    ]
    for models, message in cases:
        with pytest.raises(ensembles.EnsembleError) as error:
            ensembles.join(models)
        assert str(error.value).startswith(message), str(error.value)


def test_bad_ensemble_size_fails_in_one_sentence(english_tokenizer, spanish_tokenizer):
    with pytest.raises(
        ValueError, match=r"^`ensemble_size` must be an int >= 1 \(1: one network\)"
    ):
        Translator(english_tokenizer, spanish_tokenizer, units=16, ensemble_size=0)


def test_a_packaged_ensemble_preset_names_its_members(translators, tmp_path):
    from kerattn.zoo import packaging

    for index, model in enumerate(translators):
        model.save(tmp_path / f"member{index}.keras")
    members = [str(tmp_path / f"member{index}.keras") for index in range(2)]
    ensembles.join_files(members, tmp_path / "joined")
    (tmp_path / "run").mkdir()
    summary = {"step": 10, "best_step": 8, "seconds": 1.5, "replicas": 1}
    (tmp_path / "run" / "metrics.json").write_text(json.dumps({"summary": summary}))
    metadata = packaging.write_preset(
        tmp_path / "run",
        tmp_path / "preset",
        model=tmp_path / "joined",
        task="translation",
        description="an ensemble",
        license="test",
        data="fixture",
        evaluation={"metrics": {"bleu": 1.0}},
        evaluation_command="kerattn ...",
        probe=SOURCES[0],
        headline_metrics=("bleu",),
    )
    assert metadata["ensemble"] == {"members": members}
    assert load_model(tmp_path / "preset").ensemble_size == 2
