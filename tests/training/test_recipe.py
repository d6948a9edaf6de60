"""Recipe loading: the fixtures load, paths resolve, every error is one clear sentence."""

import dataclasses

import pytest
import tomllib

from kerattn.errors import UsageError
from kerattn.training.recipe import RecipeError, load_recipe, recipe_from_dict, with_seed
from tests.training.conftest import FIXTURES


def test_fixture_recipes_load_with_paths_relative_to_the_recipe():
    translator = load_recipe(FIXTURES / "reversal.toml")
    assert translator.family == "translator"
    assert translator.data["train"] == (FIXTURES / "reversal" / "train.tsv").resolve()
    assert translator.model["units"] == 32
    assert translator.training["batch_size"] == 32 and translator.training["batch_tokens"] is None
    classifier = load_recipe(FIXTURES / "reviews.toml")
    assert classifier.data["valid"] == (FIXTURES / "reviews_valid.tsv").resolve()
    assert classifier.tokenizer_settings("source")["kind"] == "wordpiece"
    assert classifier.optimizer["name"] == "adam"  # default filled in


def _content(**sections):
    content = {
        "model": {"family": "classifier"},
        "data": {"train": "reviews_train.tsv", "valid": "reviews_valid.tsv"},
        "training": {"batch_size": 8, "steps": 10},
    }
    for name, values in sections.items():
        if values is None:
            content.pop(name)
        else:
            content[name] = {**content.get(name, {}), **values}
    return content


def _error(content) -> str:
    with pytest.raises(RecipeError) as error:
        recipe_from_dict(content, base_dir=FIXTURES)
    return str(error.value)


def test_minimal_recipe_is_valid():
    recipe = recipe_from_dict(_content(), base_dir=FIXTURES)
    assert recipe.evaluation["probes"] == []


@pytest.mark.parametrize(
    "sections, message",
    [
        ({"optimiser": {"name": "adam"}}, "Unknown recipe section [optimiser]; accepted sections"),
        (
            {"training": {"batch_size": 8, "steps": 10, "step": 3}},
            "Unknown key 'step' in [training]; accepted keys are batch_size, batch_tokens,",
        ),
        (
            {"model": {"family": "classifier", "unit": 3}},
            "Unknown key 'unit' in [model] for family 'classifier'; accepted keys are family,",
        ),
        (
            {"model": {"family": "classifier", "temperature": 2.0}},
            "[model] temperature is fitted on validation data after training",
        ),
        (
            {"model": {"family": "parser"}},
            "[model] family must be one of 'translator', 'classifier'; received 'parser'.",
        ),
        (
            {"training": {"batch_size": "32"}},
            "[training] batch_size must be of type int; received '32' (str).",
        ),
        (
            {"tokenizer": {"lowercase": 1}},
            "[tokenizer] lowercase must be of type bool; received 1 (int).",
        ),
        (
            {"training": {"steps": True}},
            "[training] steps must be of type int; received True (bool).",
        ),
        (
            {"model": {"family": "classifier", "units": 1.5}},
            "[model] units must be of type int; received 1.5 (float).",
        ),
        (
            {"optimizer": {"learning_rate": "fast"}},
            "[optimizer] learning_rate must be of type int or float; received 'fast' (str).",
        ),
        (
            {"optimizer": {"schedule": "linear"}},
            "[optimizer] schedule must be one of 'constant', 'inverse_sqrt', 'cosine'; "
            "received 'linear'.",
        ),
        (
            {"optimizer": {"label_smoothing": 1.0}},
            "[optimizer] label_smoothing must be in [0, 1); received 1.0.",
        ),
        ({"optimizer": {"learning_rate": 0}}, "[optimizer] learning_rate must be > 0; received 0."),
        (
            {"tokenizer": {"kind": "bpe"}},
            "[tokenizer] kind must be one of 'wordpiece', 'symbol'; received 'bpe'.",
        ),
        (
            {"tokenizer": {"target": {"language": "fr"}}},
            "[tokenizer.target] language must be one of 'en', 'es', 'de'; received 'fr'.",
        ),
        (
            {"training": {"batch_tokens": 100}},
            "[training] must set exactly one of batch_size and batch_tokens; received both.",
        ),
        ({"training": {"steps": None}}, None),
        ({"evaluation": {"probes": ["ok", ""]}}, "[evaluation] probes must be a list of non-empty"),
        ({"data": {"train": "missing.tsv"}}, "[data] train file "),
        ({"model": None}, "The recipe has no model family; add family ="),
        (
            {"model": {"family": "translator", "attention": "bahdanu"}},
            "[model] attention must be one of 'bahdanau', 'luong_dot', 'luong_general', "
            "'luong_concat', 'bahdanau_monotonic', 'luong_monotonic', 'none'; received "
            "'bahdanu'.",
        ),
        (
            {"model": {"family": "classifier", "dropout": 1.5}},
            "[model] dropout must be in [0, 1); received 1.5.",
        ),
        (
            {"model": {"family": "classifier", "dropout": -0.1}},
            "[model] dropout must be in [0, 1); received -0.1.",
        ),
        (
            {"model": {"family": "classifier", "pooling": "max"}},
            "[model] pooling must be one of 'bahdanau', 'luong'; received 'max'.",
        ),
        (
            {"model": {"family": "classifier", "labels": ["pos"]}},
            "[model] labels must be a list of at least two distinct, non-empty strings; "
            "received ['pos'].",
        ),
        (
            {"model": {"family": "classifier", "units": 0}},
            "[model] units must be >= 1; received 0.",
        ),
        (
            {"model": {"family": "translator", "max_target_length": 1}},
            "[model] max_target_length must be >= 2; received 1.",
        ),
        (
            {"model": {"family": "translator", "input_feeding": 1}},
            "[model] input_feeding must be true or false; received 1 (int).",
        ),
        ({"training": {"steps": -5}}, "[training] steps must be >= 1; received -5."),
        (
            {"training": {"keep_checkpoints": 0}},
            "[training] keep_checkpoints must be >= 1; received 0.",
        ),
    ],
)
def test_errors_are_one_clear_sentence(sections, message):
    content = _content(**sections)
    if sections.get("training", {}).get("steps", 0) is None:
        del content["training"]["steps"]
        message = "[training] must set exactly one of steps and epochs; received neither."
    text = _error(content)
    assert text.startswith(message), text
    assert text.count(". ") == 0 or text.endswith("."), text
    if message.startswith("[data] train file "):
        assert text.endswith("missing.tsv does not exist.")


def test_recipe_errors_are_usage_errors():
    assert issubclass(RecipeError, UsageError) and issubclass(RecipeError, ValueError)
    assert RecipeError.exit_code == 2


def test_corpus_folder_and_pair_errors():
    content = _content(data={"corpus": "nowhere"})
    assert "[data] must set either corpus or train and valid, not both." == _error(content)
    content["data"] = {"corpus": "nowhere"}
    assert _error(content).startswith("[data] corpus folder ")
    content["data"] = {"train": "reviews_train.tsv"}
    assert _error(content) == (
        "[data] needs a corpus folder (corpus = ...) or both train and valid TSV files."
    )


def test_file_level_errors(tmp_path):
    with pytest.raises(RecipeError, match="does not exist; pass a TOML file"):
        load_recipe(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[model\nfamily = 1")
    with pytest.raises(RecipeError, match="is not valid TOML"):
        load_recipe(broken)


def test_tokenizer_side_overrides():
    content = _content(
        model={"family": "translator"},
        tokenizer={"kind": "symbol", "target": {"split": "whitespace"}},
    )
    recipe = recipe_from_dict(content, base_dir=FIXTURES)
    assert recipe.tokenizer_settings("source")["split"] == "characters"
    assert recipe.tokenizer_settings("target")["split"] == "whitespace"
    assert recipe.tokenizer_settings("target")["kind"] == "symbol"
    content["tokenizer"]["target"] = {"colour": "red"}
    assert _error(content).startswith("Unknown key 'colour' in [tokenizer.target]")


def test_corpus_manifest_kind_must_fit_the_family(tmp_path):
    import json

    corpus = tmp_path / "reviews"
    corpus.mkdir()
    for split in ("train", "valid"):
        (corpus / f"{split}.tsv").write_text("good film\tpos\n")
    (corpus / "manifest.json").write_text(json.dumps({"kind": "classification"}))
    content = {
        "model": {"family": "translator"},
        "data": {"corpus": "reviews"},
        "training": {"batch_size": 8, "steps": 10},
    }
    with pytest.raises(RecipeError) as error:
        recipe_from_dict(content, base_dir=tmp_path)
    assert str(error.value) == (
        f"[data] corpus {corpus} holds classification data but [model] family 'translator' "
        "trains on translation data."
    )
    content["model"]["family"] = "classifier"
    assert recipe_from_dict(content, base_dir=tmp_path).data["valid"] == corpus / "valid.tsv"


def test_with_seed_rewrites_the_training_seed_in_values_and_text():
    recipe = load_recipe(FIXTURES / "reversal.toml")
    seeded = with_seed(recipe, 7)
    assert seeded.training == {**recipe.training, "seed": 7}
    assert seeded.data == recipe.data and seeded.model == recipe.model
    # The text is the recipe's with one line changed, and loads back to the same values.
    changed = [
        (a, b)
        for a, b in zip(recipe.text.splitlines(), seeded.text.splitlines(), strict=True)
        if a != b
    ]
    assert changed == [("seed = 0", "seed = 7  # kerattn train --seed 7")]
    assert tomllib.loads(seeded.text)["training"]["seed"] == 7
    assert with_seed(seeded, 7).text == seeded.text


@pytest.mark.parametrize(
    "text, expected",
    [
        ('[model]\nfamily = "x"\n', '[model]\nfamily = "x"\n\n[training]\nseed = 3'),
        ("[training]\nsteps = 5\n[evaluation]\nseed = 1\n", "[training]\nseed = 3"),
        ("[training] # comment\n  seed=9 # old\n", "[training] # comment\nseed = 3"),
    ],
)
def test_with_seed_adds_or_replaces_only_the_training_seed(text, expected):
    recipe = dataclasses.replace(recipe_from_dict(_content(), base_dir=FIXTURES), text=text)
    seeded = with_seed(recipe, 3)
    assert seeded.text.startswith(expected)
    parsed = tomllib.loads(seeded.text)
    assert parsed["training"]["seed"] == 3
    assert parsed.get("evaluation", {}).get("seed") == tomllib.loads(text).get(
        "evaluation", {}
    ).get("seed")


@pytest.mark.parametrize("seed", [-1, 1.5, True, "2"])
def test_with_seed_rejects_what_is_not_a_seed(seed):
    recipe = recipe_from_dict(_content(), base_dir=FIXTURES)
    with pytest.raises(RecipeError, match=r"^The seed must be an int >= 0; received seed="):
        with_seed(recipe, seed)
