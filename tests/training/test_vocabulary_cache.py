"""Learned vocabularies are kept in the user cache: a second run gets the same one at once, any
change of settings or texts learns again, and a damaged or unwritable cache only costs time."""

from __future__ import annotations

import pytest

from kerattn import compat
from kerattn.training import model_factory, trainer
from kerattn.training.recipe import load_recipe
from tests.training.conftest import write_recipe

SETTINGS = {
    "kind": "wordpiece",
    "vocabulary_size": 120,
    "lowercase": True,
    "max_distinct_words": None,
}
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Open the file, then save it again.",
    "Don't close the window before saving.",
] * 20


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("KERATTN_CACHE", str(folder))
    return folder / "vocabularies"


@pytest.fixture
def learner_calls(monkeypatch):
    calls = []
    learn = compat.wordpiece_learner_vocabulary

    def counted(*args, **kwargs):
        calls.append(args[1])
        return learn(*args, **kwargs)

    monkeypatch.setattr(compat, "wordpiece_learner_vocabulary", counted)
    return calls


def test_second_learning_reads_the_cache_and_equals_learning(cache, learner_calls):
    messages = []
    first = model_factory.cached_vocabulary(SETTINGS, TEXTS, messages.append)
    assert first == model_factory.learn_vocabulary(SETTINGS, TEXTS)
    assert learner_calls and len(list(cache.glob("*.txt"))) == 1
    assert messages[0].startswith("learning a WordPiece vocabulary of at most 120 tokens from 60")
    learner_calls.clear()
    assert model_factory.cached_vocabulary(SETTINGS, TEXTS, messages.append) == first
    assert learner_calls == []
    assert messages[1].startswith(f"{len(first)} tokens read from the vocabulary cache")


@pytest.mark.parametrize(
    "settings, texts",
    [
        ({**SETTINGS, "vocabulary_size": 130}, TEXTS),
        ({**SETTINGS, "lowercase": False}, TEXTS),
        (SETTINGS, TEXTS + ["One more line."]),
        (SETTINGS, TEXTS[:-1] + [TEXTS[-1] + " "]),
    ],
)
def test_any_change_of_settings_or_texts_learns_again(cache, learner_calls, settings, texts):
    model_factory.cached_vocabulary(SETTINGS, TEXTS)
    learner_calls.clear()
    assert model_factory.cached_vocabulary(settings, texts) == model_factory.learn_vocabulary(
        settings, texts
    )
    assert learner_calls
    assert len(list(cache.glob("*.txt"))) == 2


def test_a_damaged_cache_file_is_learned_again_and_replaced(cache, learner_calls):
    first = model_factory.cached_vocabulary(SETTINGS, TEXTS)
    (path,) = cache.glob("*.txt")
    path.write_bytes(b"[PAD]\n[PAD]\n\xff\n")
    learner_calls.clear()
    assert model_factory.cached_vocabulary(SETTINGS, TEXTS) == first
    assert learner_calls
    assert path.read_text(encoding="utf-8").split("\n")[:-1] == first


def test_symbol_vocabularies_are_learned_not_cached(cache):
    settings = {
        "kind": "symbol",
        "split": "characters",
        "lowercase": False,
        "vocabulary_size": None,
    }
    assert model_factory.cached_vocabulary(settings, TEXTS) == model_factory.learn_vocabulary(
        settings, TEXTS
    )
    assert not cache.exists()


def test_an_unwritable_cache_only_costs_time(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be\n")
    monkeypatch.setenv("KERATTN_CACHE", str(blocker))
    assert model_factory.cached_vocabulary(SETTINGS, TEXTS) == model_factory.learn_vocabulary(
        SETTINGS, TEXTS
    )
    assert blocker.read_text() == "a file where the cache folder would be\n"


def test_a_new_run_of_the_same_recipe_reuses_the_first_runs_vocabulary(
    tmp_path, cache, learner_calls
):
    recipe = load_recipe(
        write_recipe(tmp_path, "reviews.toml", training={"epochs": 1}, evaluation={"probes": []})
    )
    lines = []
    trainer.train(recipe, run_dir=tmp_path / "one", max_steps=1, print_function=lines.append)
    assert any(line.startswith("source vocabulary: learning a WordPiece") for line in lines)
    learner_calls.clear()
    lines.clear()
    trainer.train(recipe, run_dir=tmp_path / "two", max_steps=1, print_function=lines.append)
    assert learner_calls == []
    assert any(
        line.startswith("source vocabulary: ") and "from the vocabulary cache" in line
        for line in lines
    )
    assert (tmp_path / "two" / "vocabulary" / "source.txt").read_text() == (
        tmp_path / "one" / "vocabulary" / "source.txt"
    ).read_text()
