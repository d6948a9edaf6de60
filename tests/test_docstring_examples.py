"""The `>>>` examples in kerattn's docstrings run and print what they show.

One test per module that has an example (found by reading the source, so a new example is picked
up without a list to update), named by the module, so a failure says where to look. Each module's
examples run with the standard `doctest` machinery, with ELLIPSIS and NORMALIZE_WHITESPACE, in a
namespace holding the module's globals (as `python -m doctest` gives them) and the names Keras's
own examples take for granted: `np`, `keras`, `tf`. Anything else an example uses it imports.
"""

from __future__ import annotations

import doctest
import importlib
import io
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

REPOSITORY = Path(__file__).resolve().parents[1]
PACKAGES = ("kerattn", "kerattn_cli")


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPOSITORY).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules_with_examples() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((REPOSITORY / package).rglob("*.py")):
            if ">>>" in path.read_text(encoding="utf-8"):
                names.append(_module_name(path))
    return names


def test_examples_are_found():
    # kerattn's layers and tokenizers carry examples; an empty list means the finder broke.
    assert "kerattn.text.word_piece_tokenizer" in modules_with_examples()


@pytest.mark.parametrize("module_name", modules_with_examples())
def test_docstring_examples_run(module_name):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    report = io.StringIO()
    namespace = {**vars(module), "np": np, "keras": keras, "tf": tf}
    tests = finder.find(module, module_name, globs=namespace)
    assert tests, f"{module_name} mentions '>>>' but doctest finds no example in its docstrings."
    for test in tests:
        runner.run(test, out=report.write)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, (
        f"{result.failed} of {result.attempted} docstring examples of {module_name} failed:\n"
        + report.getvalue()
    )
