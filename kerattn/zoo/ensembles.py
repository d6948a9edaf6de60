"""Joining trained models into one ensemble (`kerattn ensemble`).

Models of one recipe trained from different seeds (`kerattn train --seed N`) make different
mistakes; decoding the mean of their distributions (`kerattn.models.ensembles`) is the classic
way to get a better model from them (Hansen & Salamon, 1990; in sequence-to-sequence models,
Sutskever et al., 2014). `join` builds a task of `ensemble_size` M whose members hold the
models' weights: it translates, scores, classifies, exports and saves like any other.

The ensemble's distribution is none of its members', so what was calibrated on a member does
not carry over: the joined model starts uncalibrated (temperature 1, no confidence threshold)
and is calibrated on validation data afterwards (`kerattn calibrate`).
"""

from __future__ import annotations

import os

from kerattn.errors import UsageError
from kerattn.text import Tokenizer

# Settings of a member that the ensemble does not take over: fitted again on the ensemble.
UNCALIBRATED = {"Classifier": {"temperature": 1.0}, "Translator": {"confidence_threshold": None}}
# Settings members may differ in (the first model's are kept).
FREE = ("name", "decoding", "temperature", "confidence_threshold")


class EnsembleError(UsageError):
    """Models that cannot be joined, with one sentence saying why."""


def join(models: list, name: str = "ensemble"):
    """One `Translator` or `Classifier` whose `ensemble_size` members are `models`.

    Args:
        models: two or more trained tasks of one class, each a single network (ensemble_size
            1), with the same architecture, vocabularies and labels (one recipe, other seeds).
        name: the Keras name of the joined model.

    Returns:
        a task of `type(models[0])` with the first model's settings (e.g. its decoding
        defaults), uncalibrated (`UNCALIBRATED`), whose member i holds models[i]'s weights.

    Raises:
        EnsembleError: fewer than two models, another class, an ensemble among them, or
            settings or vocabularies that differ (the message names the first difference).
    """
    models = list(models)
    if len(models) < 2:
        raise EnsembleError(
            f"An ensemble needs at least two models; received {len(models)}: pass the models "
            "of one recipe trained with different seeds."
        )
    first = models[0]
    cls = type(first)
    if cls.__name__ not in UNCALIBRATED:
        raise EnsembleError(
            f"Only Translators and Classifiers can be joined; model 1 is a {cls.__name__}."
        )
    for index, model in enumerate(models, 1):
        if type(model) is not cls:
            raise EnsembleError(
                f"Model {index} is a {type(model).__name__} and model 1 a {cls.__name__}; "
                "an ensemble joins models of one kind."
            )
        if model.ensemble_size != 1:
            raise EnsembleError(
                f"Model {index} is already an ensemble of {model.ensemble_size}; join the "
                "single models it was made of instead."
            )
        if index > 1:
            difference = _first_difference(first, model)
            if difference:
                raise EnsembleError(
                    f"Model {index} differs from model 1 in {difference}; an ensemble joins "
                    "models of one architecture and one vocabulary (one recipe, other seeds)."
                )
    arguments = {argument: getattr(first, argument) for argument in cls._argument_names()}
    arguments.update(UNCALIBRATED[cls.__name__], ensemble_size=len(models))
    ensemble = cls(**arguments, name=name)
    for member, model in zip(ensemble.backbone.members, models):
        member.set_weights(model.backbone.get_weights())
    return ensemble


def _first_difference(first, other) -> str | None:
    """The first constructor argument (or vocabulary) in which two tasks differ, or None."""
    for argument in type(first)._argument_names():
        if argument in FREE:
            continue
        a, b = getattr(first, argument), getattr(other, argument)
        if isinstance(a, Tokenizer):
            settings = [{k: v for k, v in t.get_config().items() if k != "name"} for t in (a, b)]
            if settings[0] != settings[1]:
                return f"the settings of `{argument}`"
            if a.get_vocabulary() != b.get_vocabulary():
                return f"the vocabulary of `{argument}`"
        elif a != b:
            return f"`{argument}` ({b!r} instead of {a!r})"
    return None


def join_files(
    paths: list[str | os.PathLike],
    out: str | os.PathLike,
    description: str = "",
    weights_dtype: str = "float32",
) -> dict:
    """`kerattn ensemble`: loads the models (preset names, preset folders or `.keras` files),
    joins them and writes the ensemble as a new preset folder (`save_preset`; it refuses a
    folder that is not empty). Returns {"preset", "members", "parameters", "model_bytes"}."""
    from kerattn.zoo import presets
    from kerattn.zoo.model_loading import load_model

    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise EnsembleError(
            f"The output {os.fspath(out)!r} already exists and is not an empty folder; kerattn "
            "ensemble writes a new preset folder and never overwrites one: pass a new --out."
        )
    if len(paths) < 2:
        join(paths)  # the one-sentence error
    models = [load_model(path) for path in paths]
    members = [os.fspath(path) for path in paths]
    ensemble = join(models)
    preset = presets.save_preset(
        ensemble,
        out,
        description or f"ensemble of {len(models)} {type(ensemble).__name__.lower()}s",
        weights_dtype=weights_dtype,
        ensemble={"members": members},
    )
    return {
        "preset": os.fspath(preset.path),
        "members": members,
        "parameters": preset.metadata["parameters"],
        "model_bytes": preset.metadata["model_bytes"],
    }
