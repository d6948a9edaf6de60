"""Translator: text in and out, batch invariance, round trips and bad input (untrained models)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerattn.zoo.translator import Translator
from tests.zoo.conftest import ENGLISH, SPANISH

LONG = " ".join(ENGLISH * 3)


@pytest.fixture(
    scope="module",
    params=["bahdanau", "luong_general", "none", "bahdanau_monotonic", "luong_monotonic"],
)
def translator(request, english_tokenizer, spanish_tokenizer):
    keras.utils.set_random_seed(0)
    return Translator(
        english_tokenizer,
        spanish_tokenizer,
        embedding_dim=16,
        units=32,
        attention=request.param,
        max_source_length=40,
        max_target_length=30,
    )


def test_translate_returns_a_result_per_input(translator):
    results = translator.translate(ENGLISH[:3])
    assert len(results) == 3
    single = translator.translate(ENGLISH[0])
    assert single.text == results[0].text and single.tokens == results[0].tokens
    np.testing.assert_allclose(single.attention, results[0].attention, atol=1e-6)
    for result in results:
        assert isinstance(result.text, str)
        assert result.source_tokens[-1] == "[END]"
        assert result.attention.shape == (len(result.tokens), len(result.source_tokens))
        assert not result.truncated
        if translator.attention.endswith("monotonic") and result.tokens:
            # Raffel's expected alignment: mass that moves past the last position is lost
            assert (result.attention >= 0).all() and (result.attention.sum(-1) <= 1 + 1e-5).all()
        elif translator.attention != "none" and result.tokens:
            np.testing.assert_allclose(result.attention.sum(-1), 1.0, atol=1e-5)
        assert np.isfinite(result.score) and result.log_prob <= 0


@pytest.mark.parametrize("beam_size", [1, 3])
def test_batch_composition_never_changes_a_result(translator, beam_size):
    alone = translator.translate([ENGLISH[0]], beam_size=beam_size)[0]
    batched = translator.translate([LONG, ENGLISH[0], ENGLISH[3] * 2], beam_size=beam_size)[1]
    assert batched.text == alone.text and batched.tokens == alone.tokens
    np.testing.assert_allclose(batched.log_prob, alone.log_prob, atol=1e-4)
    np.testing.assert_allclose(batched.attention, alone.attention, atol=1e-5)


def test_beam_search_never_scores_below_greedy(translator):
    greedy = translator.translate(ENGLISH, beam_size=1, length_penalty=0.6)
    beam = translator.translate(ENGLISH, beam_size=4, length_penalty=0.6)
    for g, b in zip(greedy, beam):
        assert b.score >= g.score - 1e-5


def test_output_length_limits_are_respected(translator):
    # The limits are per translated piece: LONG is cut here, not split into its sentences.
    for result in translator.translate(ENGLISH + [LONG], split_sentences=False):
        source_length = len(result.source_tokens) - 1
        assert len(result.tokens) <= min(2 * source_length + 10, translator.max_target_length)


def test_empty_whitespace_long_and_non_latin_inputs(translator):
    empty, blank, long, foreign = translator.translate(["", "   \t ", LONG, "Привет 你好 😀 ¿qué?"])
    for result in (empty, blank):
        assert result.text == "" and result.tokens == [] and result.source_tokens == ["[END]"]
        assert not result.truncated
    assert long.segments > 1 and not long.truncated  # translated sentence by sentence
    long = translator.translate(LONG, split_sentences=False)
    assert long.truncated and len(long.source_tokens) == translator.max_source_length
    assert "[UNK]" in foreign.source_tokens and not foreign.truncated


def test_keras_file_round_trip_translates_identically(translator, tmp_path):
    expected = translator.translate(ENGLISH[:3], beam_size=2)
    translator.save(tmp_path / "translator.keras")
    restored = keras.saving.load_model(tmp_path / "translator.keras")
    assert isinstance(restored, Translator)
    assert (
        restored.target_tokenizer.get_vocabulary() == translator.target_tokenizer.get_vocabulary()
    )
    for a, b in zip(expected, restored.translate(ENGLISH[:3], beam_size=2)):
        assert a.text == b.text and a.tokens == b.tokens
        np.testing.assert_array_equal(a.attention, b.attention)


def test_prepare_batch_frames_and_pads_targets(translator):
    inputs, target_output = translator.prepare_batch(
        tf.constant(ENGLISH[:2]), tf.constant(SPANISH[:2])
    )
    target_input = inputs["target_input_ids"].numpy()
    target_output = target_output.numpy()
    start, end = translator.target_tokenizer.start_id, translator.target_tokenizer.end_id
    assert np.all(target_input[:, 0] == start)
    for row_in, row_out in zip(target_input, target_output):
        length = int((row_out > 0).sum())
        assert row_out[length - 1] == end and np.all(row_out[length:] == 0)
        np.testing.assert_array_equal(row_in[1:length], row_out[: length - 1])
    assert inputs["source_ids"].numpy()[0, (inputs["source_ids"].numpy()[0] > 0).sum() - 1] == end


def test_one_training_step_ignores_padding(translator):
    dataset = (
        tf.data.Dataset.from_tensor_slices((ENGLISH, SPANISH))
        .batch(4)
        .map(translator.prepare_batch)
    )
    # A config carries no vocabulary (it is an asset), so the clone shares the tokenizers.
    config = {
        **translator.get_config(),
        "source_tokenizer": translator.source_tokenizer,
        "target_tokenizer": translator.target_tokenizer,
    }
    clone = Translator(
        **{k: v for k, v in config.items() if k not in ("name", "trainable", "dtype")}
    )
    clone.set_weights(translator.get_weights())
    clone.compile(optimizer=keras.optimizers.SGD(0.0))
    loss = clone.evaluate(dataset, verbose=0)
    inputs, targets = next(iter(dataset))
    noisy_targets = tf.where(targets > 0, targets, 5)  # labels on padding must not count
    logits = clone(inputs)
    masked = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    assert np.isfinite(loss)
    np.testing.assert_allclose(
        clone.loss(targets, logits),
        masked(tf.where(targets > 0, noisy_targets, 0), logits),
        rtol=1e-6,
    )
    history = clone.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"attention": "transformer"},
            ValueError,
            r"`attention` must be one of 'bahdanau', .*received attention='transformer'",
        ),
        ({"units": 33}, ValueError, r"`units` must be an even int >= 2; received units=33"),
        (
            {"max_source_length": 1},
            ValueError,
            r"`max_source_length` must be an int >= 2; received 1",
        ),
    ],
)
def test_invalid_arguments_fail_clearly(
    english_tokenizer, spanish_tokenizer, kwargs, error, message
):
    with pytest.raises(error, match=message):
        Translator(english_tokenizer, spanish_tokenizer, **kwargs)


def test_bad_translate_arguments_fail_clearly(translator):
    with pytest.raises(ValueError, match=r"`beam_size` must be an int >= 1; received beam_size=0"):
        translator.translate("hello", beam_size=0)
    with pytest.raises(TypeError, match=r"`texts` must be a string or a list of strings"):
        translator.translate(["ok", 3])


def test_the_task_is_its_backbone_behind_its_preprocessor(translator):
    from kerattn.models import Seq2SeqBackbone

    assert isinstance(translator.backbone, Seq2SeqBackbone)
    assert translator.units == translator.backbone.units == 32
    assert translator.max_source_length == translator.preprocessor.max_source_length == 40
    inputs, _ = translator.prepare_batch(tf.constant(ENGLISH[:2]), tf.constant(SPANISH[:2]))
    np.testing.assert_array_equal(translator(inputs), translator.backbone(inputs))
    assert translator.count_params() == translator.backbone.count_params()
    with pytest.raises(
        AttributeError,
        match=r"`units` is fixed when the Translator is built "
        r"\(its backbone holds it\); build a new Translator with units=64",
    ):
        translator.units = 64
