"""Fine-tuning: a recipe with [model] init_from starts from a saved model's weights,
architecture and vocabularies; the recipe errors say what such a recipe may hold."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tomllib

import kerattn  # noqa: F401  (registers the kerattn classes for load_model)
from kerattn.training import RecipeError, load_recipe, train
from tests.training.conftest import FIXTURES, dump_toml, write_recipe


def _quiet(*args):
    pass


def _fine_tuning_recipe(directory, fixture, init_from, **sections):
    """The fixture recipe with [model] = family + init_from and no [tokenizer]."""
    content = tomllib.loads((FIXTURES / fixture).read_text())
    content["data"] = {key: str(FIXTURES / value) for key, value in content["data"].items()}
    content["model"] = {"family": content["model"]["family"], "init_from": str(init_from)}
    content.pop("tokenizer")
    for section, values in sections.items():
        content[section].update(values)
    path = directory / f"fine_tune_{fixture}"
    path.write_text(dump_toml(content))
    return path


@pytest.fixture(scope="module")
def trained_translator(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pretrained")
    recipe = write_recipe(directory, "reversal.toml", training={"steps": 20, "log_every": 10})
    result = train(recipe, directory / "run", strategy="default", print_function=_quiet)
    return result.run_dir / "final.keras"


def test_starts_from_the_saved_weights_and_vocabularies(trained_translator, tmp_path):
    # A learning rate of 1e-30 leaves float32 weights unchanged: the run's model is the start.
    recipe = _fine_tuning_recipe(
        tmp_path,
        "reversal.toml",
        trained_translator,
        optimizer={"learning_rate": 1e-30, "warmup_steps": 0},
        training={"steps": 2, "log_every": 1, "checkpoint_every": 2},
        evaluation={"every": 2},
    )
    result = train(recipe, tmp_path / "run", strategy="default", print_function=_quiet)
    start = keras.saving.load_model(trained_translator)
    tuned = keras.saving.load_model(result.run_dir / "final.keras")
    for side in ("source", "target"):
        saved = (trained_translator.parent / "vocabulary" / f"{side}.txt").read_text()
        assert (result.run_dir / "vocabulary" / f"{side}.txt").read_text() == saved
    assert len(start.weights) == len(tuned.weights)
    for before, after in zip(start.weights, tuned.weights):
        np.testing.assert_array_equal(np.asarray(after), np.asarray(before), err_msg=before.path)


def test_training_from_the_start_moves_the_weights(trained_translator, tmp_path):
    recipe = _fine_tuning_recipe(
        tmp_path,
        "reversal.toml",
        trained_translator,
        training={"steps": 3, "log_every": 1, "checkpoint_every": 3},
        evaluation={"every": 3},
    )
    result = train(recipe, tmp_path / "run", strategy="default", print_function=_quiet)
    start = keras.saving.load_model(trained_translator)
    tuned = keras.saving.load_model(result.run_dir / "final.keras")
    changed = [
        not np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(start.weights, tuned.weights)
    ]
    assert all(changed)


def test_a_classifier_recipe_cannot_start_from_a_translator(trained_translator, tmp_path):
    recipe = _fine_tuning_recipe(tmp_path, "reviews.toml", trained_translator)
    with pytest.raises(RecipeError, match="is a Translator, but the recipe's family is"):
        train(recipe, tmp_path / "run", strategy="default", print_function=_quiet)
    assert not (tmp_path / "run").exists()  # nothing written for a bad recipe


def test_an_ensemble_translator_is_refused_and_an_ensemble_classifier_fine_tunes(
    trained_translator, tmp_path
):
    from kerattn.zoo import ensembles
    from kerattn.zoo.model_loading import load_model

    joined = tmp_path / "joined.keras"
    translator = load_model(trained_translator)
    ensembles.join([translator, translator]).save(joined)
    recipe = _fine_tuning_recipe(tmp_path, "reversal.toml", joined)
    with pytest.raises(RecipeError, match="is an ensemble of 2 translators; fine-tuning starts"):
        train(recipe, tmp_path / "run", strategy="default", print_function=_quiet)
    assert not (tmp_path / "run").exists()
    # A classifier ensemble trains as one network (the loss on the members' mean).
    classifier_run = train(
        write_recipe(tmp_path, "reviews.toml", training={"epochs": 1}),
        tmp_path / "classifier",
        strategy="default",
        print_function=_quiet,
    )
    classifier = load_model(classifier_run.run_dir / "final.keras")
    ensembles.join([classifier, classifier]).save(tmp_path / "classifiers.keras")
    recipe = _fine_tuning_recipe(
        tmp_path,
        "reviews.toml",
        tmp_path / "classifiers.keras",
        training={"epochs": 1},
    )
    result = train(recipe, tmp_path / "tuned", strategy="default", print_function=_quiet)
    tuned = load_model(result.run_dir / "final.keras")
    assert tuned.ensemble_size == 2 and result.step == classifier_run.step > 0


def test_recipe_errors_name_what_an_init_from_recipe_may_hold(tmp_path):
    content = tomllib.loads((FIXTURES / "reversal.toml").read_text())
    content["data"] = {key: str(FIXTURES / value) for key, value in content["data"].items()}

    def load(model, tokenizer=False):
        written = {**content, "model": model}
        if not tokenizer:
            written.pop("tokenizer")
        path = tmp_path / "recipe.toml"
        path.write_text(dump_toml(written))
        return load_recipe(path)

    with pytest.raises(RecipeError, match=r"takes only family and init_from; remove units\."):
        load({"family": "translator", "init_from": "translator_en_es", "units": 8})
    with pytest.raises(RecipeError, match="keeps the preset's vocabularies; remove the"):
        load({"family": "translator", "init_from": "translator_en_es"}, tokenizer=True)
    with pytest.raises(RecipeError, match="'missing.keras' is neither a preset"):
        load({"family": "translator", "init_from": "missing.keras"})
    with pytest.raises(RecipeError, match="init_from must be a preset name"):
        load({"family": "translator", "init_from": 3})
    assert load({"family": "translator", "init_from": "translator_en_es"}).init_from == (
        "translator_en_es"
    )
    (tmp_path / "start.keras").write_bytes(b"")
    recipe = load({"family": "translator", "init_from": "start.keras"})
    assert recipe.init_from == str((tmp_path / "start.keras").resolve())


def test_the_readme_fine_tuning_recipe_is_valid(tmp_path):
    import re

    from tests.test_readme_example import README

    match = re.search(
        r"<!-- readme-example: fine-tuning -->\n```toml\n(.*?)```", README.read_text(), re.S
    )
    assert match, "README.md has no fine-tuning recipe"
    (tmp_path / "recipe.toml").write_text(match.group(1))
    for name in ("my_strings.tsv", "my_strings_valid.tsv"):
        (tmp_path / name).write_text("Open\tAbrir\n")
    recipe = load_recipe(tmp_path / "recipe.toml")
    assert recipe.init_from == "translator_en_es" and recipe.model == {}
