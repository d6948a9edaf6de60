"""The optional translator signatures (nbest, score, sample, prefix) and export-time decoding
options: audited, reloaded in a fresh process without kerattn, equal to the Python methods
(issue 20). Slow: traces beam search several times."""

from __future__ import annotations

import numpy as np
import pytest

from kerattn.export import op_audit
from kerattn.export.exporter import export_model, read_export_metadata
from kerattn.export.warmup import WARMUP_FILE_NAME, read_warmup_requests
from tests.export.conftest import (
    TRANSLATOR_INPUTS,
    call_signatures_in_fresh_process,
    keras_outputs,
)

pytestmark = pytest.mark.slow

TARGETS = ["Apague las luces.", "", "¿verdad?", "El documento", "Abra el archivo " * 4]
PREFIXES = ["Apague", "", "El documento", "x", ""]
SEEDS = [3, 3, 4, 5, 2**40 + 7]


@pytest.fixture(scope="module")
def exported(translator, tmp_path_factory):
    base = tmp_path_factory.mktemp("export") / "models" / "translator"
    folder = export_model(
        translator, base, beam_size=3, signatures=("nbest", "score", "sample", "prefix")
    )
    return folder


def test_signatures_are_audited_and_described(exported):
    assert op_audit.disallowed_ops(exported) == []
    metadata = read_export_metadata(exported)["signatures"]
    assert sorted(metadata) == ["greedy", "nbest", "prefix", "sample", "score", "serving_default"]
    assert metadata["nbest"]["num_hypotheses"] == 3
    assert metadata["score"]["inputs"] == {"text": "string [B]", "target": "string [B]"}
    assert metadata["sample"]["inputs"]["seed"] == "int64 [B]"
    logs = read_warmup_requests(exported / "assets.extra" / WARMUP_FILE_NAME)
    warmed = {log.predict_log.request.model_spec.signature_name for log in logs}
    assert warmed == {"serving_default", "greedy", "nbest"}  # text-only signatures


def test_fresh_process_outputs_equal_the_python_methods(exported, translator, tmp_path):
    text = {"text": TRANSLATOR_INPUTS}
    calls = {
        "nbest": text,
        "score": {**text, "target": TARGETS},
        "sample": {**text, "seed": np.array(SEEDS, np.int64)},
        "prefix": {**text, "target_prefix": PREFIXES},
    }
    reloaded = call_signatures_in_fresh_process(exported, calls, tmp_path)

    def same(signature: str, expected: dict) -> None:
        for name, value in expected.items():
            got = reloaded[f"{signature}/{name}"]
            if value.dtype.kind == "f":
                np.testing.assert_allclose(got, value, atol=1e-5, err_msg=f"{signature}/{name}")
            else:
                np.testing.assert_array_equal(got, value, err_msg=f"{signature}/{name}")

    same(
        "nbest",
        keras_outputs(
            lambda t: translator.translate_batch(t, beam_size=3, num_hypotheses=3),
            TRANSLATOR_INPUTS,
        ),
    )
    scored = translator.score(TRANSLATOR_INPUTS, TARGETS)
    np.testing.assert_allclose(reloaded["score/score"], [s.score for s in scored], atol=1e-5)
    np.testing.assert_allclose(reloaded["score/log_prob"], [s.log_prob for s in scored], atol=1e-5)
    for row, scoring in enumerate(scored):
        count = len(scoring.tokens)
        np.testing.assert_allclose(
            reloaded["score/token_log_probs"][row, :count], scoring.token_log_probs, atol=1e-5
        )
    for row, (text, seed) in enumerate(zip(TRANSLATOR_INPUTS, SEEDS)):
        sampled = translator.translate(text, decoding="sample", seed=seed)
        assert reloaded["sample/translation"][row].decode() == sampled.text
        assert reloaded["sample/log_prob"][row] == pytest.approx(sampled.log_prob, abs=1e-5)
    continued = translator.translate(TRANSLATOR_INPUTS, beam_size=3, target_prefix=PREFIXES)
    assert [t.decode() for t in reloaded["prefix/translation"]] == [t.text for t in continued]
    assert reloaded["nbest/rank"].tolist() == [[1, 2, 3]] * len(TRANSLATOR_INPUTS)


def test_export_time_options_apply_to_every_translating_signature(translator, tmp_path):
    options = {"min_length": 4, "no_repeat_ngram_size": 2, "replace_unknown": True}
    folder = export_model(
        translator,
        tmp_path / "models" / "translator",
        beam_size=2,
        signatures=("sample",),
        decoding_options=options,
    )
    metadata = read_export_metadata(folder)["signatures"]
    assert metadata["serving_default"]["min_length"] == 4
    assert metadata["sample"]["no_repeat_ngram_size"] == 2
    import tensorflow as tf

    loaded = tf.saved_model.load(str(folder))
    texts = TRANSLATOR_INPUTS[:2]
    outputs = loaded.signatures["serving_default"](text=tf.constant(texts))
    expected = translator.translate(texts, beam_size=2, **options)
    assert [t.decode() for t in outputs["translation"].numpy()] == [t.text for t in expected]
    for result in expected:
        assert len(result.tokens) >= 4
    sampled = loaded.signatures["sample"](
        text=tf.constant(texts), seed=tf.constant([1, 2], tf.int64)
    )
    python = [
        translator.translate(text, decoding="sample", seed=seed, **options).text
        for text, seed in zip(texts, [1, 2])
    ]
    assert [t.decode() for t in sampled["translation"].numpy()] == python


def test_bad_export_options_fail_with_one_sentence(translator, tmp_path):
    from kerattn.errors import UsageError

    with pytest.raises(ValueError, match="unknown signature 'beam'"):
        export_model(translator, tmp_path / "a", signatures=("beam",))
    with pytest.raises(ValueError, match="unknown decoding option 'seed'"):
        export_model(translator, tmp_path / "b", decoding_options={"seed": 1})
    with pytest.raises(UsageError, match="at most the beam size"):
        export_model(
            translator, tmp_path / "c", beam_size=2, decoding_options={"num_hypotheses": 3}
        )
