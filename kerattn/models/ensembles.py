"""Ensembles of backbones: several networks of one architecture, trained apart (other seeds),
run as one network whose output distribution is the mean of theirs.

`Seq2SeqEnsemble` and `ClassifierEnsemble` take the constructor arguments of the backbone they
hold, plus `ensemble_size`, and offer the same methods as that backbone, so a task runs either
one unchanged (search, scoring, export). What they return as logits are the log of the members'
mean probabilities, log((1/M) Σ_m softmax(z_m)): a softmax of them gives the mean distribution
back exactly, so greedy and beam search, sampling and scoring all see the averaged model. The
attention (or pooling) weights are the members' mean, which is again a distribution over the
real positions (zero on padding).

Members are named `member_0`, `member_1`, …; `kerattn.zoo.ensembles.join` fills them with the
weights of trained models. An ensemble is for inference: a recipe trains its members one by one
(`kerattn train --seed N`).
"""

from __future__ import annotations

import inspect
import math

import keras
from keras import ops

from kerattn.models.classifier_backbone import ClassifierBackbone
from kerattn.models.seq2seq_backbone import Seq2SeqBackbone


def log_mean_exp(log_probs: list):
    """log of the mean of the probabilities exp(p) over a list of log-probabilities of one
    shape: the members' mean, in log space."""
    stacked = ops.stack([ops.cast(p, "float32") for p in log_probs])
    return ops.logsumexp(stacked, axis=0) - math.log(len(log_probs))


def mean_log_probabilities(logits: list):
    """log of the mean of softmax(z) over a list of logits of one shape (..., V)."""
    return log_mean_exp([ops.log_softmax(ops.cast(z, "float32"), axis=-1) for z in logits])


def mean_weights(weights: list):
    """The members' attention or pooling weights averaged (a distribution again)."""
    return ops.mean(ops.stack([ops.cast(w, "float32") for w in weights]), axis=0)


def build_backbone(ensemble_class: type, ensemble_size: int, *args, **kwargs) -> keras.Model:
    """The backbone a task holds: `ensemble_class.member_class(*args, **kwargs)` for
    `ensemble_size` 1, else `ensemble_class(ensemble_size, *args, **kwargs)`."""
    if isinstance(ensemble_size, bool) or not isinstance(ensemble_size, int) or ensemble_size < 1:
        raise ValueError(
            f"`ensemble_size` must be an int >= 1 (1: one network); received "
            f"ensemble_size={ensemble_size!r}."
        )
    if ensemble_size == 1:
        return ensemble_class.member_class(*args, **kwargs)
    return ensemble_class(ensemble_size, *args, **kwargs)


class _Ensemble(keras.Model):
    """`ensemble_size` members of `member_class`, all built from the same arguments."""

    member_class: type

    def __init__(self, ensemble_size: int, *args, **kwargs):
        if (
            isinstance(ensemble_size, bool)
            or not isinstance(ensemble_size, int)
            or ensemble_size < 2
        ):
            raise ValueError(
                f"`ensemble_size` must be an int >= 2 (one network is the backbone itself); "
                f"received ensemble_size={ensemble_size!r}."
            )
        parameters = list(inspect.signature(self.member_class.__init__).parameters)[1:]
        names = [p for p in parameters if p != "kwargs"]
        arguments = dict(zip(names, args))
        arguments.update({key: value for key, value in kwargs.items() if key in names})
        model_kwargs = {key: value for key, value in kwargs.items() if key not in names}
        members = []
        for index in range(ensemble_size):
            # The scope makes each member's weight paths its own ("member_1/head/kernel"):
            # exports and checkpoints key the weights by path.
            with keras.name_scope(f"member_{index}"):
                members.append(self.member_class(**arguments, name=f"member_{index}"))
        super().__init__(**model_kwargs)
        self.members = members
        self.ensemble_size = ensemble_size
        self._member_argument_names = names
        for name in names:  # the settings a task reads from its backbone (`HeldBy`)
            setattr(self, name, getattr(members[0], name))
        self.built = True

    def get_config(self):
        config = super().get_config()
        config["ensemble_size"] = self.ensemble_size
        config.update({name: getattr(self, name) for name in self._member_argument_names})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="kerattn")
class Seq2SeqEnsemble(_Ensemble):
    """`ensemble_size` `Seq2SeqBackbone`s of the same settings, decoded as one network.

    Args:
        ensemble_size: the number of members (≥ 2).
        *args, **kwargs: `Seq2SeqBackbone`'s arguments (every member gets them) and
            `keras.Model`'s (`name`, ...).

    Call arguments and returns: as `Seq2SeqBackbone`; the logits are the log of the members'
    mean next-token probabilities.

    Example:

    >>> import numpy as np
    >>> ensemble = Seq2SeqEnsemble(2, 100, 120, embedding_dim=8, units=16)
    >>> ids = np.array([[5, 6, 2, 0]], "int32")
    >>> out = ensemble({"source_ids": ids, "target_input_ids": ids[:, :3]})
    >>> np.allclose(np.exp(np.asarray(out)).sum(-1), 1.0, atol=1e-5)
    True
    """

    member_class = Seq2SeqBackbone

    def call(self, inputs, training=None):
        return mean_log_probabilities(
            [member(inputs, training=training) for member in self.members]
        )

    def encode(self, source_ids, training=None) -> dict:
        """Every member's encoder outputs, {"members": [...], "mask": (B, S)}."""
        encoded = [member.encode(source_ids, training=training) for member in self.members]
        return {"members": encoded, "mask": encoded[0]["mask"]}

    def decode(self, encoded: dict, target_input_ids, training=None, return_attention_scores=False):
        """Not defined for an ensemble: its members' decoder outputs do not combine (the
        teacher-forced distribution is `call`'s, `Translator.score` combines per token)."""
        raise NotImplementedError(
            "An ensemble has no single decoder output; use each member's decode "
            "(ensemble.members[i]) or the task's scoring."
        )

    def initial_decoder_state(self, encoded: dict) -> dict:
        return {
            "members": [
                member.initial_decoder_state(member_encoded)
                for member, member_encoded in zip(self.members, encoded["members"])
            ]
        }

    def decoder_step(self, tokens, state: dict) -> tuple:
        """One target step of every member: (the log of the mean next-token probabilities
        (N, V), the next state, the mean attention weights (N, S))."""
        steps = [
            member.decoder_step(tokens, member_state)
            for member, member_state in zip(self.members, state["members"])
        ]
        logits = mean_log_probabilities([step[0] for step in steps])
        weights = mean_weights([step[2] for step in steps])
        return logits, {"members": [step[1] for step in steps]}, weights


@keras.saving.register_keras_serializable(package="kerattn")
class ClassifierEnsemble(_Ensemble):
    """`ensemble_size` `ClassifierBackbone`s of the same settings, run as one network.

    Args:
        ensemble_size: the number of members (≥ 2).
        *args, **kwargs: `ClassifierBackbone`'s arguments (every member gets them) and
            `keras.Model`'s (`name`, ...).

    Call arguments and returns: as `ClassifierBackbone`; the logits are the log of the members'
    mean class probabilities.

    Example:

    >>> import numpy as np
    >>> ensemble = ClassifierEnsemble(3, 100, num_classes=2, embedding_dim=8, units=8)
    >>> logits = np.asarray(ensemble(np.array([[5, 6, 7, 0]], "int32")))
    >>> logits.shape, np.allclose(np.exp(logits).sum(-1), 1.0, atol=1e-5)
    ((1, 2), True)
    """

    member_class = ClassifierBackbone

    def call(self, token_ids, training=None):
        return self.logits_and_pooling_weights(token_ids, training=training)[0]

    def logits_and_pooling_weights(self, token_ids, training=None) -> tuple:
        """The log of the members' mean class probabilities (B, C) and their mean pooling
        weights (B, T), zero on padding."""
        outputs = [
            member.logits_and_pooling_weights(token_ids, training=training)
            for member in self.members
        ]
        return (
            mean_log_probabilities([logits for logits, _ in outputs]),
            mean_weights([weights for _, weights in outputs]),
        )
