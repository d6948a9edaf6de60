"""The zoo's recipes: every one is valid, and translator_en_de is translator_en_es's recipe."""

from pathlib import Path

import pytest
import tomllib

from kerattn.training.recipe import recipe_from_dict
from tests.training.conftest import FIXTURES

ZOO = Path(__file__).resolve().parents[2] / "zoo"
RECIPES = sorted(ZOO.glob("*/recipe*.toml"))


def test_the_zoo_has_its_recipes():
    names = {f"{path.parent.name}/{path.name}" for path in RECIPES}
    assert {"translator_en_es/recipe.toml", "translator_en_de/recipe.toml"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_zoo_recipe_is_valid_and_reads_a_built_corpus(path):
    content = tomllib.loads(path.read_text(encoding="utf-8"))
    assert content["data"]["corpus"].startswith("../../corpora/")  # what `kerattn data` builds
    # The corpora are not built here: a fixture corpus of the family stands in for it, so that
    # every other setting is validated as `kerattn train` would.
    family = content["model"]["family"]
    content["data"] = (
        {"corpus": "reversal"}
        if family == "translator"
        else {"train": "reviews_train.tsv", "valid": "reviews_valid.tsv"}
    )
    assert recipe_from_dict(content, base_dir=FIXTURES).family == family


def test_translator_en_de_differs_from_translator_en_es_in_its_corpus_and_quotes_only():
    spanish = tomllib.loads((ZOO / "translator_en_es" / "recipe.toml").read_text("utf-8"))
    german = tomllib.loads((ZOO / "translator_en_de" / "recipe.toml").read_text("utf-8"))
    assert spanish.pop("data") == {"corpus": "../../corpora/localisation-es"}
    assert german.pop("data") == {"corpus": "../../corpora/localisation-de"}
    assert german["tokenizer"].pop("target") == {"language": "de"}
    assert german == spanish
