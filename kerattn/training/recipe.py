"""`Recipe`: a training run described as a plain TOML file, validated when it is loaded.

A recipe names the model family and its constructor arguments, the data, the tokenizer, the
optimizer and the training/evaluation cadence. Every error is one sentence naming the bad value
and what would be accepted. Relative data paths resolve relative to the recipe file.

Example (`tests/training/fixtures/reversal.toml`)::

    [model]
    family = "translator"          # "translator" or "classifier"
    embedding_dim = 16             # any other key is a constructor argument of the family
    units = 32
    # init_from = "translator_en_es"  # fine-tuning: start from a preset (name, preset folder
    #                                 # or .keras file) with its architecture and vocabularies;
    #                                 # then [model] holds only family and init_from, and
    #                                 # the recipe has no [tokenizer]

    [data]
    corpus = "reversal"            # a folder with train.tsv and valid.tsv (`kerattn data ...`)
    # train = "train.tsv"          # ... or a user TSV pair instead of `corpus`
    # valid = "valid.tsv"

    [tokenizer]
    kind = "symbol"                # "wordpiece" or "symbol"
    split = "whitespace"           # symbol only: "characters" or "whitespace"
    lowercase = false
    vocabulary_size = 64
    # max_distinct_words = 50000   # wordpiece only: learn from the most frequent words (faster)
    # language = "en"              # wordpiece only: the spacing of detokenized text, "en",
    #                                # "es" or "de" (German quotes „…“ and »…«)

    [tokenizer.target]             # translator only: overrides for the target side
    split = "whitespace"

    [optimizer]
    name = "adam"
    learning_rate = 0.01
    schedule = "constant"          # "constant", "inverse_sqrt" or "cosine"
    warmup_steps = 0
    clip_norm = 1.0                # 0 = no clipping
    label_smoothing = 0.0

    [training]
    batch_size = 32                # examples per batch, or batch_tokens = N
    steps = 200                    # or epochs = N
    seed = 0
    log_every = 20
    checkpoint_every = 50
    keep_checkpoints = 3

    [evaluation]
    every = 50                     # steps between evaluations
    patience = 0                   # evaluations without improvement before stopping; 0 = never
    sample_size = 64               # validation examples decoded for BLEU/chrF or F1
    probes = ["1 2 3"]             # texts whose attention is drawn in TensorBoard
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from kerattn.errors import UsageError
from kerattn.text.normalization import JOIN_LANGUAGES, SYMBOL_SPLITS

FAMILIES = ("translator", "classifier")
TOKENIZER_KINDS = ("wordpiece", "symbol")
SCHEDULES = ("constant", "inverse_sqrt", "cosine")
OPTIMIZERS = ("adam",)


class RecipeError(UsageError):
    """A recipe file that cannot be used; the message is one sentence for the user.

    A `UsageError` (`kerattn train` exits with 2), and so also a ValueError.
    """


# Section → key → (accepted Python types, default). `None` default with `required` below.
_NUMBER = (int, float)
_SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], Any]]] = {
    "data": {
        "corpus": ((str,), None),
        "train": ((str,), None),
        "valid": ((str,), None),
    },
    "tokenizer": {
        "kind": ((str,), "wordpiece"),
        "vocabulary_size": ((int,), 8000),
        "lowercase": ((bool,), False),
        "split": ((str,), "characters"),
        "max_distinct_words": ((int,), None),
        "language": ((str,), "en"),
    },
    "optimizer": {
        "name": ((str,), "adam"),
        "learning_rate": (_NUMBER, 1e-3),
        "schedule": ((str,), "constant"),
        "warmup_steps": ((int,), 0),
        "clip_norm": (_NUMBER, 1.0),
        "label_smoothing": (_NUMBER, 0.0),
    },
    "training": {
        "batch_size": ((int,), None),
        "batch_tokens": ((int,), None),
        "steps": ((int,), None),
        "epochs": ((int,), None),
        "seed": ((int,), 0),
        "log_every": ((int,), 50),
        "checkpoint_every": ((int,), 500),
        "keep_checkpoints": ((int,), 3),
    },
    "evaluation": {
        "every": ((int,), 500),
        "patience": ((int,), 0),
        "sample_size": ((int,), 200),
        "probes": ((list,), []),
    },
}
_TOKENIZER_SIDE_KEYS = ("source", "target")


@dataclass(frozen=True)
class Recipe:
    """A validated recipe. Sections are plain dicts with every default filled in.

    path: the recipe file (None for a recipe built from a dict).
    family: "translator" or "classifier".
    model: constructor arguments for the family (tokenizers and labels excluded); empty with
        `init_from`.
    data: {"train": Path, "valid": Path} resolved to absolute paths.
    tokenizer: settings for both sides; `source_tokenizer`/`target_tokenizer` give each side's.
    optimizer, training, evaluation: as in the module docstring.
    text: the TOML text, copied into the run folder.
    init_from: the preset name, or the absolute path of the preset folder or `.keras` file,
        whose weights, architecture and vocabularies the run starts from (None: from scratch).
    """

    path: Path | None
    family: str
    model: dict
    data: dict
    tokenizer: dict
    optimizer: dict
    training: dict
    evaluation: dict
    text: str = field(default="", repr=False)
    init_from: str | None = None

    def tokenizer_settings(self, side: str = "source") -> dict:
        """Tokenizer settings for "source" or "target" (the side's overrides applied)."""
        settings = {k: v for k, v in self.tokenizer.items() if k not in _TOKENIZER_SIDE_KEYS}
        settings.update(self.tokenizer.get(side, {}))
        return settings


def load_recipe(path: str | os.PathLike) -> Recipe:
    """Reads and validates a TOML recipe; raises `RecipeError` with one clear sentence."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(
            f"Recipe file {os.fspath(path)} does not exist; pass a TOML file."
        ) from None
    try:
        content = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RecipeError(f"Recipe {os.fspath(path)} is not valid TOML: {error}.") from None
    return recipe_from_dict(content, base_dir=path.resolve().parent, path=path, text=text)


def with_seed(recipe: Recipe, seed: int) -> Recipe:
    """`recipe` with `[training] seed = seed`: the same recipe trained from another random start
    (weights, dropout and batch order), e.g. a member of an ensemble.

    The text is rewritten too (the `seed` line of `[training]`, added if missing), so the run
    folder's copy of the recipe reproduces the run by itself and a resume with the same seed
    matches it.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise RecipeError(f"The seed must be an int >= 0; received seed={seed!r}.")
    training = {**recipe.training, "seed": seed}
    if not recipe.text:  # a recipe built from a dict
        return dataclasses.replace(recipe, training=training)
    line = f"seed = {seed}  # kerattn train --seed {seed}"
    lines = recipe.text.splitlines()
    header = next(
        (i for i, text in enumerate(lines) if re.fullmatch(r"\s*\[training\]\s*(#.*)?", text)),
        None,
    )
    if header is None:
        lines += ["", "[training]", line]
    else:
        end = next(
            (i for i in range(header + 1, len(lines)) if re.match(r"\s*\[", lines[i])),
            len(lines),
        )
        key = next((i for i in range(header + 1, end) if re.match(r"\s*seed\s*=", lines[i])), None)
        if key is None:
            lines.insert(header + 1, line)
        else:
            lines[key] = line
    text = "\n".join(lines) + "\n"
    if tomllib.loads(text).get("training", {}).get("seed") != seed:
        raise RecipeError(
            f"Could not set the seed in the recipe's text (a multi-line [training] value?); "
            f"write seed = {seed} into its [training] table instead."
        )
    return dataclasses.replace(recipe, training=training, text=text)


def recipe_from_dict(
    content: dict, base_dir: str | os.PathLike = ".", path: Path | None = None, text: str = ""
) -> Recipe:
    """Validates a recipe given as a dict (the parsed TOML); paths resolve against `base_dir`."""
    _check_section_names(content)
    model = dict(content.get("model", {}))
    family = model.pop("family", None)
    if family is None:
        raise RecipeError(
            'The recipe has no model family; add family = "translator" or "classifier" to [model].'
        )
    _check_choice("model", "family", family, FAMILIES)
    init_from = _init_from(model.pop("init_from", None), model, content, Path(base_dir))
    _check_model_arguments(family, model)
    _check_model_values(family, model)
    sections = _read_sections(content)
    _check_tokenizer(sections["tokenizer"])
    _check_optimizer(sections["optimizer"])
    _check_training(sections["training"])
    _check_evaluation(sections["evaluation"])
    return Recipe(
        path=path,
        family=family,
        model=model,
        data=_resolve_data(sections["data"], Path(base_dir), family),
        tokenizer=sections["tokenizer"],
        optimizer=sections["optimizer"],
        training=sections["training"],
        evaluation=sections["evaluation"],
        text=text,
        init_from=init_from,
    )


def _init_from(value, model: dict, content: dict, base_dir: Path) -> str | None:
    """[model] init_from as a preset name or an absolute path; a fine-tuning recipe keeps the
    preset's architecture and tokenizers, so it may not set them."""
    if value is None:
        return None
    from kerattn.zoo import presets

    if not isinstance(value, str) or not value:
        raise RecipeError(
            f"[model] init_from must be a preset name or the path of a preset folder or "
            f".keras file; received {value!r}."
        )
    if model:
        raise RecipeError(
            f"[model] init_from starts from the preset's architecture, so [model] takes only "
            f"family and init_from; remove {', '.join(sorted(model))}."
        )
    if "tokenizer" in content:
        raise RecipeError(
            "[model] init_from keeps the preset's vocabularies; remove the [tokenizer] section."
        )
    shipped = [preset.name for preset in presets.list_presets()]
    if value in shipped:
        return value
    path = base_dir / value
    if not (path.is_dir() or (path.suffix == ".keras" and path.is_file())):
        raise RecipeError(
            f"[model] init_from {value!r} is neither a preset ({', '.join(shipped)}) "
            f"nor an existing preset folder or .keras file (relative paths start at the "
            f"recipe's folder)."
        )
    return os.fspath(path.resolve())


def _check_section_names(content: dict) -> None:
    known = {"model", *_SCHEMA}
    for section in content:
        if section not in known:
            raise RecipeError(
                f"Unknown recipe section [{section}]; accepted sections are "
                f"{', '.join('[' + s + ']' for s in sorted(known))}."
            )
        if not isinstance(content[section], dict):
            raise RecipeError(f"Recipe entry {section!r} must be a [{section}] table.")


def _read_sections(content: dict) -> dict[str, dict]:
    """Every section but [model], its keys checked against `_SCHEMA` and defaults filled in
    (the tokenizer's per-side tables without defaults: they override the shared one)."""
    sections = {}
    for name, schema in _SCHEMA.items():
        raw = dict(content.get(name, {}))
        sides = {}
        if name == "tokenizer":
            for side in _TOKENIZER_SIDE_KEYS:
                if side in raw:
                    sides[side] = _check_section(
                        f"tokenizer.{side}", raw.pop(side), schema, fill_defaults=False
                    )
        sections[name] = {**_check_section(name, raw, schema), **sides}
    return sections


def _check_tokenizer(tokenizer: dict) -> None:
    for side in ("",) + _TOKENIZER_SIDE_KEYS:
        settings = tokenizer.get(side, {}) if side else tokenizer
        where = f"tokenizer.{side}" if side else "tokenizer"
        if "kind" in settings:
            _check_choice(where, "kind", settings["kind"], TOKENIZER_KINDS)
        if "split" in settings:
            _check_choice(where, "split", settings["split"], SYMBOL_SPLITS)
        if "language" in settings:
            _check_choice(where, "language", settings["language"], JOIN_LANGUAGES)
        if settings.get("max_distinct_words") is not None:
            _check_range(where, "max_distinct_words", settings["max_distinct_words"], low=1)
        if "vocabulary_size" in settings and settings["vocabulary_size"] < 5:
            raise RecipeError(
                f"[{where}] vocabulary_size must be at least 5 (4 reserved tokens + 1); "
                f"received {settings['vocabulary_size']}."
            )


def _check_optimizer(optimizer: dict) -> None:
    _check_choice("optimizer", "name", optimizer["name"], OPTIMIZERS)
    _check_choice("optimizer", "schedule", optimizer["schedule"], SCHEDULES)
    _check_range("optimizer", "learning_rate", optimizer["learning_rate"], low=0, strict=True)
    _check_range("optimizer", "warmup_steps", optimizer["warmup_steps"], low=0)
    _check_range("optimizer", "clip_norm", optimizer["clip_norm"], low=0)
    if not 0 <= optimizer["label_smoothing"] < 1:
        raise RecipeError(
            f"[optimizer] label_smoothing must be in [0, 1); received "
            f"{optimizer['label_smoothing']!r}."
        )


def _check_training(training: dict) -> None:
    _exactly_one(training, "training", "batch_size", "batch_tokens")
    _exactly_one(training, "training", "steps", "epochs")
    for key in (
        "batch_size",
        "batch_tokens",
        "steps",
        "epochs",
        "log_every",
        "checkpoint_every",
        "keep_checkpoints",
    ):
        if training[key] is not None:
            _check_range("training", key, training[key], low=1)


def _check_evaluation(evaluation: dict) -> None:
    for key in ("every", "sample_size"):
        _check_range("evaluation", key, evaluation[key], low=1)
    _check_range("evaluation", "patience", evaluation["patience"], low=0)
    if not all(isinstance(probe, str) and probe for probe in evaluation["probes"]):
        raise RecipeError(
            "[evaluation] probes must be a list of non-empty strings; received "
            f"{evaluation['probes']!r}."
        )


def _check_section(name: str, raw: dict, schema: dict, fill_defaults: bool = True) -> dict:
    checked = {}
    for key, value in raw.items():
        if key not in schema:
            raise RecipeError(
                f"Unknown key {key!r} in [{name}]; accepted keys are {', '.join(sorted(schema))}."
            )
        types = schema[key][0]
        # TOML booleans are ints to Python: accept bool only where bool is meant.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            expected = " or ".join(t.__name__ for t in types)
            raise RecipeError(
                f"[{name}] {key} must be of type {expected}; received {value!r} "
                f"({type(value).__name__})."
            )
        checked[key] = value
    if fill_defaults:
        for key, (_, default) in schema.items():
            checked.setdefault(key, list(default) if isinstance(default, list) else default)
    return checked


def _check_choice(section: str, key: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise RecipeError(
            f"[{section}] {key} must be one of {', '.join(repr(c) for c in choices)}; "
            f"received {value!r}."
        )


def _check_range(section: str, key: str, value, low: float, strict: bool = False) -> None:
    if value < low or (strict and value == low):
        relation = ">" if strict else ">="
        raise RecipeError(f"[{section}] {key} must be {relation} {low}; received {value!r}.")


def _exactly_one(values: dict, section: str, first: str, second: str) -> None:
    given = [key for key in (first, second) if values[key] is not None]
    if len(given) != 1:
        raise RecipeError(
            f"[{section}] must set exactly one of {first} and {second}; "
            f"received {'both' if given else 'neither'}."
        )


def _check_model_arguments(family: str, arguments: dict) -> None:
    """Rejects keys that are not constructor arguments of the family (tokenizers excluded)."""
    from kerattn.zoo.classifier import Classifier
    from kerattn.zoo.translator import Translator

    model_class = Translator if family == "translator" else Classifier
    parameters = inspect.signature(model_class.__init__).parameters
    reserved = {
        "self",
        "kwargs",
        "source_tokenizer",
        "target_tokenizer",
        "tokenizer",
        "source_vocabulary_size",
        "target_vocabulary_size",
        "vocabulary_size",
        "temperature",
    }
    accepted = sorted(name for name in parameters if name not in reserved)
    for key, value in arguments.items():
        if key == "temperature" and family == "classifier":
            raise RecipeError(
                "[model] temperature is fitted on validation data after training "
                "(`kerattn calibrate`), not trained; remove it from the recipe."
            )
        if key not in accepted:
            raise RecipeError(
                f"Unknown key {key!r} in [model] for family {family!r}; accepted keys are "
                f"family, {', '.join(accepted)}."
            )
        default = parameters[key].default
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise RecipeError(
                    f"[model] {key} must be true or false; received {value!r} "
                    f"({type(value).__name__})."
                )
        elif isinstance(default, (int, float, str)):
            expected = (int, float) if isinstance(default, float) else (type(default),)
            if not isinstance(value, expected) or isinstance(value, bool):
                raise RecipeError(
                    f"[model] {key} must be of type {type(default).__name__}; received "
                    f"{value!r} ({type(value).__name__})."
                )


def _check_model_values(family: str, arguments: dict) -> None:
    """The [model] values the model would refuse, refused here in the recipe's terms (so that a
    run fails before anything is written)."""
    from kerattn.layers.attention_decoder import ATTENTIONS
    from kerattn.layers.attention_pooling import POOLING_SCORES

    lowest = {
        "embedding_dim": 1,
        "units": 1,
        "encoder_layers": 1,
        "max_length": 1,
        "max_source_length": 2,
        "max_target_length": 2,
    }
    for key, low in lowest.items():
        if key in arguments:
            _check_range("model", key, arguments[key], low=low)
    if "dropout" in arguments and not 0 <= arguments["dropout"] < 1:
        raise RecipeError(f"[model] dropout must be in [0, 1); received {arguments['dropout']!r}.")
    if family == "translator":
        if "attention" in arguments:
            _check_choice("model", "attention", arguments["attention"], ATTENTIONS)
        if arguments.get("units", 2) % 2:
            raise RecipeError(
                "[model] units must be even for a translator (its bidirectional encoder gives "
                f"each direction half); received {arguments['units']!r}."
            )
    else:
        if "pooling" in arguments:
            _check_choice("model", "pooling", arguments["pooling"], POOLING_SCORES)
        labels = arguments.get("labels")
        if labels is not None and not (
            isinstance(labels, list)
            and len(labels) >= 2
            and len(set(labels)) == len(labels)
            and all(isinstance(label, str) and label for label in labels)
        ):
            raise RecipeError(
                f"[model] labels must be a list of at least two distinct, non-empty "
                f"strings; received {labels!r}."
            )


_CORPUS_KINDS = {"translator": "translation", "classifier": "classification"}


def _resolve_data(data: dict, base_dir: Path, family: str) -> dict:
    """{"train": Path, "valid": Path}: a corpus folder's splits or the user's TSV pair; a
    corpus folder's manifest must describe the kind of data the family trains on."""
    if data["corpus"] is not None:
        if data["train"] is not None or data["valid"] is not None:
            raise RecipeError("[data] must set either corpus or train and valid, not both.")
        folder = (base_dir / data["corpus"]).resolve()
        if not folder.is_dir():
            raise RecipeError(
                f"[data] corpus folder {os.fspath(folder)} does not exist; build it with "
                "`kerattn data ...` or give train and valid TSV files."
            )
        paths = {"train": folder / "train.tsv", "valid": folder / "valid.tsv"}
        manifest = folder / "manifest.json"
        if manifest.is_file():
            import json

            kind = json.loads(manifest.read_text(encoding="utf-8")).get("kind")
            if kind is not None and kind != _CORPUS_KINDS[family]:
                raise RecipeError(
                    f"[data] corpus {os.fspath(folder)} holds {kind} data but [model] family "
                    f"{family!r} trains on {_CORPUS_KINDS[family]} data."
                )
    else:
        if data["train"] is None or data["valid"] is None:
            raise RecipeError(
                "[data] needs a corpus folder (corpus = ...) or both train and valid TSV files."
            )
        paths = {split: (base_dir / data[split]).resolve() for split in ("train", "valid")}
    for split, path in paths.items():
        if not path.is_file():
            raise RecipeError(f"[data] {split} file {os.fspath(path)} does not exist.")
    return paths
