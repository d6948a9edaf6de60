"""The ensemble backbones: the log of the members' mean probabilities, against numpy, step by
step and teacher-forced, padding-invariant, saved and loaded without custom objects."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerattn.models import ClassifierEnsemble, Seq2SeqBackbone, Seq2SeqEnsemble
from kerattn.models.ensembles import build_backbone

SOURCE = np.array([[5, 6, 7, 2], [8, 2, 0, 0]], "int32")
TARGET = np.array([[1, 9, 10], [1, 11, 0]], "int32")
INPUTS = {"source_ids": SOURCE, "target_input_ids": TARGET}


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def tiny_ensemble(size: int = 3, **kwargs) -> Seq2SeqEnsemble:
    keras.utils.set_random_seed(0)
    return Seq2SeqEnsemble(size, 20, 30, embedding_dim=8, units=16, **kwargs)


@pytest.mark.parametrize("attention", ["bahdanau", "luong_general", "bahdanau_monotonic"])
def test_seq2seq_ensemble_is_the_log_of_its_members_mean_probabilities(attention):
    ensemble = tiny_ensemble(attention=attention)
    members = [np.asarray(member(INPUTS)) for member in ensemble.members]
    assert not np.allclose(members[0], members[1])  # members start from different weights
    expected = np.log(np.mean([softmax(z) for z in members], axis=0))
    np.testing.assert_allclose(np.asarray(ensemble(INPUTS)), expected, atol=1e-5)


def test_seq2seq_ensemble_steps_give_the_teacher_forced_output_and_mean_attention():
    ensemble = tiny_ensemble()
    logits = np.asarray(ensemble({"source_ids": SOURCE[:1], "target_input_ids": TARGET[:1]}))
    state = ensemble.initial_decoder_state(ensemble.encode(SOURCE[:1]))
    member_states = [
        member.initial_decoder_state(member.encode(SOURCE[:1])) for member in ensemble.members
    ]
    for step in range(TARGET.shape[1]):
        step_logits, state, weights = ensemble.decoder_step(TARGET[:1, step], state)
        np.testing.assert_allclose(np.asarray(step_logits), logits[:, step], atol=1e-5)
        member_weights = []
        for index, member in enumerate(ensemble.members):
            _, member_states[index], w = member.decoder_step(TARGET[:1, step], member_states[index])
            member_weights.append(np.asarray(w))
        np.testing.assert_allclose(np.asarray(weights), np.mean(member_weights, 0), atol=1e-6)
        np.testing.assert_allclose(np.asarray(weights).sum(-1), 1.0, atol=1e-5)


def test_seq2seq_ensemble_ignores_padding():
    ensemble = tiny_ensemble(2)
    logits = np.asarray(ensemble(INPUTS))
    padded = np.asarray(
        ensemble(
            {
                "source_ids": np.pad(SOURCE, [(0, 0), (0, 3)]),
                "target_input_ids": np.pad(TARGET, [(0, 0), (0, 2)]),
            }
        )
    )
    real = TARGET > 0
    np.testing.assert_allclose(padded[:, :3][real], logits[real], atol=1e-6)


def test_an_ensemble_of_copies_gives_the_member_distribution():
    keras.utils.set_random_seed(0)
    single = Seq2SeqBackbone(20, 30, embedding_dim=8, units=16)
    ensemble = tiny_ensemble(2)
    for member in ensemble.members:
        member.set_weights(single.get_weights())
    expected = np.asarray(keras.ops.log_softmax(single(INPUTS)))
    np.testing.assert_allclose(np.asarray(ensemble(INPUTS)), expected, atol=1e-5)


def test_classifier_ensemble_probabilities_and_pooling_weights_are_the_members_means():
    keras.utils.set_random_seed(0)
    ensemble = ClassifierEnsemble(3, 20, 3, embedding_dim=8, units=8)
    logits, weights = ensemble.logits_and_pooling_weights(SOURCE)
    outputs = [member.logits_and_pooling_weights(SOURCE) for member in ensemble.members]
    expected = np.mean([softmax(np.asarray(z)) for z, _ in outputs], axis=0)
    np.testing.assert_allclose(np.exp(np.asarray(logits)), expected, atol=1e-6)
    np.testing.assert_allclose(np.asarray(ensemble(SOURCE)), np.asarray(logits), atol=0)
    np.testing.assert_allclose(
        np.asarray(weights), np.mean([np.asarray(w) for _, w in outputs], 0), atol=1e-7
    )
    assert np.all(np.asarray(weights)[SOURCE == 0] == 0)
    np.testing.assert_allclose(
        np.asarray(ensemble(np.pad(SOURCE, [(0, 0), (0, 4)]))), np.asarray(logits), atol=1e-6
    )


@pytest.mark.parametrize(
    "make, inputs",
    [
        (lambda: tiny_ensemble(2, attention="luong_dot"), INPUTS),
        (lambda: ClassifierEnsemble(2, 20, 2, embedding_dim=8, units=8), SOURCE),
    ],
)
def test_ensemble_keras_file_round_trip_without_custom_objects(make, inputs, tmp_path):
    ensemble = make()
    ensemble.save(tmp_path / "ensemble.keras")
    restored = keras.saving.load_model(tmp_path / "ensemble.keras")
    assert type(restored) is type(ensemble)
    assert restored.get_config() == ensemble.get_config()
    assert restored.ensemble_size == 2 and len(restored.members) == 2
    np.testing.assert_array_equal(np.asarray(restored(inputs)), np.asarray(ensemble(inputs)))


def test_build_backbone_gives_one_network_or_an_ensemble():
    single = build_backbone(Seq2SeqEnsemble, 1, 20, 30, embedding_dim=8, units=16)
    assert type(single) is Seq2SeqBackbone and single.ensemble_size == 1
    ensemble = build_backbone(Seq2SeqEnsemble, 2, 20, 30, embedding_dim=8, units=16, name="b")
    assert type(ensemble) is Seq2SeqEnsemble and ensemble.name == "b"
    assert (ensemble.units, ensemble.embedding_dim, ensemble.target_vocabulary_size) == (16, 8, 30)
    paths = [weight.path for weight in ensemble.weights]
    assert len(set(paths)) == len(paths) == 2 * len(single.weights)
    assert {path.split("/")[0] for path in paths} == {"member_0", "member_1"}


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: build_backbone(Seq2SeqEnsemble, 0, 20, 30),
            r"^`ensemble_size` must be an int >= 1 \(1: one network\); received ensemble_size=0\.",
        ),
        (
            lambda: build_backbone(Seq2SeqEnsemble, 2.0, 20, 30),
            r"^`ensemble_size` must be an int >= 1 .*; received ensemble_size=2\.0\.",
        ),
        (
            lambda: Seq2SeqEnsemble(1, 20, 30),
            r"^`ensemble_size` must be an int >= 2 \(one network is the backbone itself\)",
        ),
        (
            lambda: Seq2SeqEnsemble(2, 20, 30, units=7),
            r"^`units` must be an even int >= 2; received units=7\.",
        ),
    ],
)
def test_bad_ensemble_arguments_fail_in_one_sentence(make, message):
    with pytest.raises(ValueError, match=message):
        make()
