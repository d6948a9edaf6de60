"""Checkpoint averaging on a toy run: the mean of the checkpoints' weights, anchored to the
run's own final.keras; the written model reloads and translates; the errors are one sentence."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from kerattn.training import train
from kerattn.training.checkpoint_averaging import (
    AveragedModel,
    CheckpointAveragingError,
    average_checkpoints,
)
from kerattn.zoo.model_loading import load_model
from tests.training.conftest import write_recipe

PROBES = ["a b c d e", "j i h g f e d c b a"]


def _quiet(*args):
    pass


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A toy run of 30 steps that kept its checkpoints of steps 10, 20 and 30."""
    directory = tmp_path_factory.mktemp("averaging")
    recipe = write_recipe(
        directory,
        "reversal.toml",
        model={"dropout": 0.1},
        training={"steps": 30, "log_every": 10, "checkpoint_every": 10, "keep_checkpoints": 3},
        evaluation={"every": 30, "probes": ["a b"]},
    )
    result = train(recipe, directory / "run", strategy="default", print_function=_quiet)
    return result.run_dir


def _weights(path):
    return [np.asarray(weight) for weight in load_model(path).trainable_weights]


def test_the_newest_checkpoint_alone_gives_the_final_model(run_dir, tmp_path):
    averaged = average_checkpoints(run_dir, tmp_path / "last.keras", last=1)
    assert averaged == AveragedModel(tmp_path / "last.keras", (30,), run_dir / "final.keras")
    for mine, final in zip(_weights(averaged.path), _weights(run_dir / "final.keras")):
        np.testing.assert_array_equal(mine, final)
    model, final = load_model(averaged.path), load_model(run_dir / "final.keras")
    assert [t.text for t in model.translate(PROBES)] == [t.text for t in final.translate(PROBES)]


def test_the_average_is_the_mean_of_each_checkpoint(run_dir, tmp_path):
    singles = [
        _weights(average_checkpoints(run_dir, tmp_path / f"{step}.keras", steps=[step]).path)
        for step in (10, 20, 30)
    ]
    # The checkpoints differ, so the mean is not any one of them.
    assert not np.allclose(singles[0][0], singles[2][0])
    averaged = average_checkpoints(run_dir, tmp_path / "mean.keras")
    assert averaged.steps == (10, 20, 30)
    for index, weight in enumerate(_weights(averaged.path)):
        expected = np.mean([np.float64(single[index]) for single in singles], axis=0)
        np.testing.assert_allclose(weight, expected, rtol=1e-6, atol=1e-7)
    newest_two = _weights(average_checkpoints(run_dir, tmp_path / "two.keras", last=2).path)
    expected = [(np.float64(a) + b) / 2 for a, b in zip(singles[1], singles[2])]
    for weight, mean in zip(newest_two, expected):
        np.testing.assert_allclose(weight, mean, rtol=1e-6, atol=1e-7)


def test_the_averaged_model_keeps_the_template_and_translates(run_dir):
    averaged = average_checkpoints(run_dir, steps=[20, 30])
    assert averaged.path == run_dir / "averaged.keras" and averaged.steps == (20, 30)
    model, final = load_model(averaged.path), load_model(run_dir / "final.keras")
    assert model.get_config() == final.get_config()
    translations = model.translate(PROBES)
    assert all(t.attention.shape == (len(t.tokens), len(t.source_tokens)) for t in translations)


def test_best_keras_is_the_template_when_there_is_no_final_model(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "final.keras").unlink()
    (copy / "averaged.keras").unlink(missing_ok=True)
    averaged = average_checkpoints(copy, last=1)
    assert averaged.template == copy / "best.keras"
    for mine, final in zip(_weights(averaged.path), _weights(run_dir / "final.keras")):
        np.testing.assert_array_equal(mine, final)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"last": 4}, r"last=4 asks for more checkpoints than run folder .* kept \(3: steps "),
        ({"last": 0}, "last must be a positive number of checkpoints; received 0."),
        ({"steps": [15, 20]}, r"has no checkpoint of step\(s\) 15; it has steps 10, 20, 30\."),
        ({"steps": []}, r"has no checkpoint of step\(s\) none given"),
        ({"last": 1, "steps": [10]}, "Pass either last .* or steps .*, not both."),
        ({"output": "averaged.h5"}, "must be written to a .keras file; received averaged.h5."),
        ({"template": "missing.keras"}, "Template model missing.keras does not exist"),
    ],
)
def test_bad_requests_are_one_sentence(run_dir, options, message):
    output = options.pop("output", None)
    with pytest.raises(CheckpointAveragingError, match=message):
        average_checkpoints(run_dir, output, **options)


def test_a_folder_without_checkpoints_is_refused(tmp_path):
    with pytest.raises(CheckpointAveragingError, match="has no checkpoints to average"):
        average_checkpoints(tmp_path)


def test_a_template_of_another_model_is_refused(run_dir, tmp_path):
    other_recipe = write_recipe(
        tmp_path,
        "reversal.toml",
        model={"units": 16},
        training={"steps": 2, "log_every": 1, "checkpoint_every": 2},
        evaluation={"every": 2, "probes": ["a b"]},
    )
    other = train(other_recipe, tmp_path / "other", strategy="default", print_function=_quiet)
    with pytest.raises(CheckpointAveragingError, match="does not fit the template model"):
        average_checkpoints(run_dir, tmp_path / "x.keras", template=other.run_dir / "final.keras")


def test_a_mixed_precision_run_averages_too(tmp_path):
    recipe = write_recipe(
        tmp_path,
        "reversal.toml",
        training={"steps": 4, "log_every": 2, "checkpoint_every": 2, "keep_checkpoints": 2},
        evaluation={"every": 4, "probes": ["a b"]},
    )
    run = train(
        recipe, tmp_path / "run", mixed_precision=True, strategy="default", print_function=_quiet
    ).run_dir
    newest = average_checkpoints(run, tmp_path / "newest.keras", last=1)
    for mine, final in zip(_weights(newest.path), _weights(run / "final.keras")):
        np.testing.assert_array_equal(mine, final)
    both = average_checkpoints(run, tmp_path / "both.keras")
    assert both.steps == (2, 4)
    assert not np.array_equal(_weights(both.path)[0], _weights(run / "final.keras")[0])
