"""Tiny untrained models, their exports, the Keras models' outputs for the same inputs, and
read-only folders and full disks simulated for any user (root too)."""

from __future__ import annotations

import builtins
import errno
import io
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from kerattn.export.exporter import export_model
from tests.conftest import run_fresh_python
from tests.zoo.conftest import (  # noqa: F401  (tokenizer fixtures below)  # noqa: F401
    ENGLISH,
    SPANISH,
    english_tokenizer,
    review_tokenizer,
    spanish_tokenizer,
    tiny_classifier,
    tiny_translator,
)

TRANSLATOR_INPUTS = [ENGLISH[0], ENGLISH[2], "", "Привет 😀 ¿qué?", " ".join(ENGLISH * 3)]
CLASSIFIER_INPUTS = ["a great film", "boring", "", "Жук acting 😀", "a fine story " * 20]
BEAM_SIZE = 3


def keras_outputs(function, texts) -> dict:
    """Outputs of a model's batch method traced as TF Serving would run it (tf.function)."""
    traced = tf.function(function, input_signature=[tf.TensorSpec([None], tf.string)])
    return {name: value.numpy() for name, value in traced(tf.constant(texts)).items()}


SIGNATURE_CALLS = """
import sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # registers the tf-text ops, as TF Serving links them in
inputs = np.load({inputs!r})
loaded = tf.saved_model.load({directory!r})
arrays = {{}}
for signature in {signatures!r}:
    prefix = signature + "/"
    feed = {{k[len(prefix) :]: tf.constant(v) for k, v in inputs.items() if k.startswith(prefix)}}
    outputs = loaded.signatures[signature](**feed)
    arrays.update({{prefix + k: v.numpy() for k, v in outputs.items()}})
np.savez({result!r}, **arrays)
print("kerattn imported:", any(name.startswith("kerattn") for name in sys.modules))
"""


def call_signatures_in_fresh_process(directory, calls: dict[str, dict], tmp_path):
    """Calls signatures of the SavedModel in `directory` in a new interpreter that does not
    import kerattn. `calls` is {signature: {input name: values}}; the values keep their NumPy
    dtype (text gives tf.string, np.int64 gives int64). Returns {"signature/output": array}."""
    inputs = {
        f"{signature}/{name}": np.asarray(values)
        for signature, named in calls.items()
        for name, values in named.items()
    }
    np.savez(tmp_path / "inputs.npz", **inputs)
    output = run_fresh_python(
        SIGNATURE_CALLS.format(
            inputs=str(tmp_path / "inputs.npz"),
            directory=str(directory),
            signatures=list(calls),
            result=str(tmp_path / "outputs.npz"),
        )
    )
    assert "kerattn imported: False" in output
    return np.load(tmp_path / "outputs.npz", allow_pickle=True)


@pytest.fixture(scope="session")
def translator(english_tokenizer, spanish_tokenizer):  # noqa: F811
    return tiny_translator(english_tokenizer, spanish_tokenizer)


@pytest.fixture(scope="session")
def classifier(review_tokenizer):  # noqa: F811
    return tiny_classifier(review_tokenizer)


@pytest.fixture(scope="session")
def exported_translator(translator, tmp_path_factory):
    """(version folder, {signature: expected outputs}) of the tiny translator, beam 3 + greedy."""
    base = tmp_path_factory.mktemp("export") / "models" / "translator"
    folder = export_model(translator, base, beam_size=BEAM_SIZE, length_penalty=0.6)
    expected = {
        "serving_default": keras_outputs(
            lambda t: translator.translate_batch(t, beam_size=BEAM_SIZE, length_penalty=0.6),
            TRANSLATOR_INPUTS,
        ),
        "greedy": keras_outputs(
            lambda t: translator.translate_batch(t, beam_size=1, length_penalty=0.6),
            TRANSLATOR_INPUTS,
        ),
    }
    return folder, expected


@pytest.fixture(scope="session")
def exported_classifier(classifier, tmp_path_factory):
    base = tmp_path_factory.mktemp("export") / "models" / "classifier"
    folder = export_model(classifier, base)
    expected = {"serving_default": keras_outputs(classifier.classify_batch, CLASSIFIER_INPUTS)}
    return folder, expected


def _inside(path, folders) -> bool:
    if isinstance(path, int):  # a file descriptor
        return False
    absolute = os.path.abspath(os.fspath(path))
    return any(absolute == folder or absolute.startswith(folder + os.sep) for folder in folders)


@pytest.fixture
def read_only(monkeypatch):
    """`read_only(folder)` makes `folder` behave like a read-only mount, also for root (whom
    chmod does not stop): creating, writing or renaming anything in it raises EROFS, as the
    kernel would. Reading, and fsync of what is read, still work."""
    folders: list[str] = []
    real_mkdir, real_os_open, real_open = os.mkdir, os.open, io.open
    real_rename, real_replace = os.rename, os.replace
    writing_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def refuse_in(path):
        if _inside(os.path.dirname(os.path.abspath(os.fspath(path))), folders):
            raise OSError(errno.EROFS, "Read-only file system", os.fspath(path))

    def mkdir(path, *args, **kwargs):
        refuse_in(path)
        return real_mkdir(path, *args, **kwargs)

    def os_open(path, flags, *args, **kwargs):
        if flags & writing_flags:
            refuse_in(path)
        return real_os_open(path, flags, *args, **kwargs)

    def open_(file, mode="r", *args, **kwargs):
        if not isinstance(file, int) and any(letter in mode for letter in "wax+"):
            refuse_in(file)
        return real_open(file, mode, *args, **kwargs)

    def rename(source, destination, *args, **kwargs):
        refuse_in(source)
        refuse_in(destination)
        return real_rename(source, destination, *args, **kwargs)

    def replace(source, destination, *args, **kwargs):
        refuse_in(source)
        refuse_in(destination)
        return real_replace(source, destination, *args, **kwargs)

    for module, name, function in [
        (os, "mkdir", mkdir),
        (os, "open", os_open),
        (io, "open", open_),
        (builtins, "open", open_),
        (os, "rename", rename),
        (os, "replace", replace),
    ]:
        monkeypatch.setattr(module, name, function)
    return lambda folder: folders.append(os.path.abspath(os.fspath(folder)))


class _FileOnAFullDisk:
    """A file whose writes fail as on a full disk: OSError ENOSPC, which names no file."""

    def __init__(self, file):
        self._file = file

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self._file.close()

    def __getattr__(self, name):
        return getattr(self._file, name)


@pytest.fixture
def full_disk(monkeypatch):
    """`full_disk(predicate)`: files whose path `predicate` accepts open for writing (so an
    existing one is truncated, as on a real disk) but every write raises ENOSPC."""
    predicates = []
    real_open = io.open

    def open_(file, mode="r", *args, **kwargs):
        opened = real_open(file, mode, *args, **kwargs)
        writing = any(letter in mode for letter in "wax+")
        if writing and not isinstance(file, int) and any(test(Path(file)) for test in predicates):
            return _FileOnAFullDisk(opened)
        return opened

    monkeypatch.setattr(io, "open", open_)
    monkeypatch.setattr(builtins, "open", open_)
    return predicates.append
