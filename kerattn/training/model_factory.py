"""Builds a recipe's tokenizers (vocabulary learned from the training split) and model, or
loads the preset a fine-tuning recipe starts from (`init_from`)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import json
from collections.abc import Callable
from pathlib import Path

from kerattn import user_cache
from kerattn.text import (
    SymbolTokenizer,
    WordPieceTokenizer,
    read_vocabulary_file,
    train_symbol_vocabulary,
    train_wordpiece_vocabulary,
    write_vocabulary_file,
)
from kerattn.training.recipe import Recipe, RecipeError


def learn_vocabulary(settings: dict, texts: list[str]) -> list[str]:
    """Learns the vocabulary `settings` (a recipe tokenizer side) describes from `texts`."""
    if settings["kind"] == "wordpiece":
        return train_wordpiece_vocabulary(
            texts,
            settings["vocabulary_size"],
            lowercase=settings["lowercase"],
            max_distinct_words=settings["max_distinct_words"],
        )
    return train_symbol_vocabulary(
        texts,
        split=settings["split"],
        lowercase=settings["lowercase"],
        max_size=settings["vocabulary_size"],
    )


def cached_vocabulary(
    settings: dict, texts: list[str], say: Callable[[str], None] = lambda message: None
) -> list[str]:
    """`learn_vocabulary`, kept in the user cache (`vocabularies/`): a WordPiece vocabulary of a
    large corpus takes minutes to learn, and a run started again (a new run of the same recipe,
    or one killed before its first checkpoint) gets the same one at once. The file is named by
    a hash of everything the result depends on (the settings, the texts and the learners' code
    and versions), so a cached vocabulary is always the one learning would give. The cache is a
    convenience: a damaged file is learned again and an unwritable folder only costs time.
    Symbol vocabularies take seconds to learn and are not cached."""
    if settings["kind"] != "wordpiece":
        return learn_vocabulary(settings, texts)
    path = user_cache.cache_folder("vocabularies") / f"{_vocabulary_key(settings, texts)}.txt"
    if path.is_file():
        try:
            vocabulary = read_vocabulary_file(path)
        except (OSError, ValueError):
            pass  # damaged or unreadable: learn it again (and replace the file)
        else:
            say(f"{len(vocabulary)} tokens read from the vocabulary cache ({path})")
            return vocabulary
    say(
        f"learning a WordPiece vocabulary of at most {settings['vocabulary_size']} "
        f"tokens from {len(texts):,} texts (minutes for a large corpus; kept in {path.parent})"
    )
    vocabulary = learn_vocabulary(settings, texts)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_vocabulary_file(vocabulary, path)
    except OSError:
        pass  # the cache folder is not writable: the next run learns it again
    return vocabulary


def _vocabulary_key(settings: dict, texts: list[str]) -> str:
    """A SHA-256 of the settings, the texts and what the learners are: their source code (so
    that a change to them is never hidden by an old file) and tf-text's version."""
    from kerattn.text import normalization, vocabulary_learning

    digest = hashlib.sha256()
    identity = {
        "settings": settings,
        "tensorflow-text": importlib.metadata.version("tensorflow-text"),
        "code": [inspect.getsource(module) for module in (vocabulary_learning, normalization)],
    }
    digest.update(json.dumps(identity, sort_keys=True).encode("utf-8"))
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def make_tokenizer(settings: dict, vocabulary: list[str], name: str):
    """A `WordPieceTokenizer` or `SymbolTokenizer` with `vocabulary`."""
    if settings["kind"] == "wordpiece":
        return WordPieceTokenizer(
            vocabulary,
            lowercase=settings["lowercase"],
            language=settings["language"],
            name=name,
        )
    return SymbolTokenizer(
        vocabulary, split=settings["split"], lowercase=settings["lowercase"], name=name
    )


def vocabularies(
    recipe: Recipe,
    texts: list[str],
    targets: list,
    vocabulary_dir: Path,
    reuse: bool = False,
    say: Callable[[str], None] = lambda message: None,
) -> dict[str, list[str]]:
    """The run's vocabularies ("source", and "target" for translation): read from
    `vocabulary_dir` if `reuse` (a resumed run) and there, otherwise learned from the training
    split (or read from the user cache, `cached_vocabulary`). Nothing is written in the run
    folder (`write_vocabularies`); `say` receives a progress line per side."""
    sides = {"source": texts}
    if recipe.family == "translator":
        sides["target"] = targets
    result = {}
    for side, side_texts in sides.items():
        path = vocabulary_dir / f"{side}.txt"
        if reuse and path.is_file():
            result[side] = read_vocabulary_file(path)
        else:
            result[side] = cached_vocabulary(
                recipe.tokenizer_settings(side),
                side_texts,
                lambda message, side=side: say(f"{side} vocabulary: {message}"),
            )
    return result


def write_vocabularies(vocabulary: dict[str, list[str]], vocabulary_dir: Path) -> None:
    """Writes each side's vocabulary to `vocabulary_dir/<side>.txt`, atomically and durably."""
    vocabulary_dir.mkdir(parents=True, exist_ok=True)
    for side, tokens in vocabulary.items():
        write_vocabulary_file(tokens, vocabulary_dir / f"{side}.txt")


def build_model(recipe: Recipe, vocabulary: dict[str, list[str]], labels: list[str] | None):
    """The recipe's `Translator` or `Classifier`, built (call inside the strategy's scope)."""
    from kerattn.zoo.classifier import Classifier
    from kerattn.zoo.translator import Translator

    if recipe.family == "translator":
        return Translator(
            make_tokenizer(
                recipe.tokenizer_settings("source"), vocabulary["source"], "source_tokenizer"
            ),
            make_tokenizer(
                recipe.tokenizer_settings("target"), vocabulary["target"], "target_tokenizer"
            ),
            **recipe.model,
        )
    return Classifier(
        make_tokenizer(recipe.tokenizer_settings("source"), vocabulary["source"], "tokenizer"),
        labels,
        **{name: value for name, value in recipe.model.items() if name != "labels"},
    )


def load_initial_model(recipe: Recipe):
    """The model a fine-tuning recipe starts from (`init_from`: its weights, architecture and
    vocabularies), loaded for training (call inside the strategy's scope); None without."""
    if recipe.init_from is None:
        return None
    from kerattn.zoo.classifier import Classifier
    from kerattn.zoo.model_load_error import ModelLoadError
    from kerattn.zoo.model_loading import load_model
    from kerattn.zoo.translator import Translator

    try:
        model = load_model(recipe.init_from)
    except ModelLoadError as error:
        raise RecipeError(f"[model] init_from: {error}") from None
    expected = Translator if recipe.family == "translator" else Classifier
    if not isinstance(model, expected):
        raise RecipeError(
            f"[model] init_from {recipe.init_from!r} is a {type(model).__name__}, but the "
            f"recipe's family is {recipe.family!r}; start from a {expected.__name__}."
        )
    if expected is Translator and model.ensemble_size > 1:
        # The training loss projects one decoder's outputs; an ensemble has several.
        raise RecipeError(
            f"[model] init_from {recipe.init_from!r} is an ensemble of {model.ensemble_size} "
            "translators; fine-tuning starts from one: pass one of the models it was joined "
            "from (`kerattn ensemble` lists them in its metadata.json)."
        )
    return model


def vocabularies_of(model) -> dict[str, list[str]]:
    """The vocabularies of a loaded `Translator` ("source", "target") or `Classifier`
    ("source"), as `vocabularies` returns them."""
    preprocessor = model.preprocessor
    if hasattr(preprocessor, "target_tokenizer"):
        return {
            "source": preprocessor.source_tokenizer.get_vocabulary(),
            "target": preprocessor.target_tokenizer.get_vocabulary(),
        }
    return {"source": preprocessor.tokenizer.get_vocabulary()}
