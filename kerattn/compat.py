"""Every private or unstable API that kerattn relies on, in one place.

Each function here wraps one thing that TensorFlow, Keras or TensorFlow Text does not promise to
keep: a private attribute, an internal module, the wording of an error. Nothing else in kerattn
touches those; code that needs one calls the function here.

| function                           | wraps                                                  |
| ---------------------------------- | ------------------------------------------------------ |
| `nested_layers`                    | Keras `Layer._flatten_layers`                          |
| `allow_non_tensor_positional_args` | Keras `Layer._allow_non_tensor_positional_args`        |
| `is_xla_compilation_error`         | the wording of TensorFlow's XLA compilation errors     |
| `registered_op_names`,             | `tensorflow.python.client.pywrap_tf_session`           |
| `library_op_names`                 |                                                        |
| `wordpiece_learner_words`,         | tf-text's `wordpiece_tokenizer_learner_lib` internals  |
| `wordpiece_learner_vocabulary`     |                                                        |
| `store_float16_weights`            | the layout of a Keras `.keras` file (`model.weights.h5`) |

`CHECKED_AGAINST` records the release series (major.minor) of each distribution the functions
were checked on (keras 3.15.1, tensorflow 2.21.0, tensorflow-text 2.21.1); pyproject.toml pins
the same series, so a fresh install gets them and only a deliberate upgrade moves them.
`tests/test_compat.py` exercises every function for real and fails, naming the functions to
re-check, when an installed version differs; after re-checking, update the version here.

This module imports nothing from kerattn (and TensorFlow only inside functions), so a fresh
interpreter can load it as a lone file: `export/op_audit.py` does, to list TensorFlow's core ops
without the tf-text ops that `import kerattn` registers.
"""

from __future__ import annotations

from typing import Any

# distribution -> (version checked, the functions above that depend on it).
CHECKED_AGAINST: dict[str, tuple[str, tuple[str, ...]]] = {
    "keras": (
        "3.15",
        ("nested_layers", "allow_non_tensor_positional_args", "store_float16_weights"),
    ),
    "tensorflow": (
        "2.21",
        ("is_xla_compilation_error", "registered_op_names", "library_op_names"),
    ),
    "tensorflow-text": ("2.21", ("wordpiece_learner_words", "wordpiece_learner_vocabulary")),
}


def is_xla_compilation_error(error: BaseException) -> bool:
    """Whether `error` (raised by a `jit_compile=True` function) is XLA refusing to compile.

    TensorFlow raises a plain `InvalidArgumentError` for it; only the message says XLA (checked
    on TensorFlow 2.21.0: "... XLA compilation requires a fixed tensor list size ...").
    """
    import tensorflow as tf

    return isinstance(error, tf.errors.InvalidArgumentError) and "XLA" in str(error)


def nested_layers(model: Any) -> list[Any]:
    """Every layer inside `model`, at any depth, `model` itself excluded.

    Keras's public `model.layers` lists only the direct children; the recursive walk is the private
    `Layer._flatten_layers(include_self=False, recursive=True)` (checked on Keras 3.15.1, the version
    `tests/test_compat.py` pins).
    """
    return list(model._flatten_layers(include_self=False, recursive=True))


def allow_non_tensor_positional_args(layer: Any) -> None:
    """Lets `layer("text")` and `layer(["a", "b"])` through Keras's call-argument check.

    Keras 3 refuses a positional call argument that is not a tensor unless the layer sets the
    private flag `_allow_non_tensor_positional_args`, as Keras's own `StringLookup` and
    `TextVectorization` do (checked on Keras 3.15.1).
    """
    layer._allow_non_tensor_positional_args = True


def registered_op_names() -> list[str]:
    """The names of every op registered in this process, sorted.

    TensorFlow has no public listing of its op registry; this reads it through the internal
    `tensorflow.python.client.pywrap_tf_session.TF_GetAllOpList` (checked on TensorFlow 2.21.0).
    Which ops appear depends on what the process has imported (tf-text registers its own).
    """
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session

    op_list = op_def_pb2.OpList()
    op_list.ParseFromString(pywrap_tf_session.TF_GetBuffer(pywrap_tf_session.TF_GetAllOpList()))
    return sorted(op.name for op in op_list.op)


def library_op_names(library_path: str) -> list[str]:
    """The names of the ops a custom-op library (`.so`) registers, sorted; loads it if needed.

    Through the internal `pywrap_tf_session.TF_LoadLibrary` and `TF_GetOpList` (checked on
    TensorFlow 2.21.0); `tf.load_op_library` returns a module of op wrappers, not the op names.
    """
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session

    op_list = op_def_pb2.OpList()
    op_list.ParseFromString(
        pywrap_tf_session.TF_GetOpList(pywrap_tf_session.TF_LoadLibrary(library_path))
    )
    return sorted(op.name for op in op_list.op)


def wordpiece_learner_words(
    word_counts: list[tuple[str, int]],
    *,
    reserved_tokens: list[str],
    max_token_length: int,
    max_unique_characters: int,
    max_distinct_words: int | None,
) -> tuple[list[tuple[str, int]], set[str]]:
    """tf-text's WordPiece-learner input filtering: the words it learns from, and the alphabet.

    The learner behind tf-text's `bert_vocab_from_dataset`,
    `tensorflow_text.tools.wordpiece_vocab.wordpiece_tokenizer_learner_lib`, is undocumented
    (checked on tensorflow-text 2.21.1). This runs its `get_input_words`, `get_allowed_chars`
    and `filter_input_words` (the steps its own `learn` runs before the threshold search) on
    `word_counts`, (word, count) pairs.

    Returns:
        (words, allowed_characters): the (word, count) pairs kept, at most `max_distinct_words`
        of them (None: all), and the `max_unique_characters` most frequent characters.
    """
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

    counts = learner.get_input_words(word_counts, reserved_tokens, max_token_length)
    allowed_characters = learner.get_allowed_chars(counts, max_unique_characters)
    max_input_tokens = -1 if max_distinct_words is None else max_distinct_words
    return learner.filter_input_words(counts, allowed_characters, max_input_tokens), set(
        allowed_characters
    )


def wordpiece_learner_vocabulary(
    words: list[tuple[str, int]],
    threshold: int,
    *,
    reserved_tokens: list[str],
    max_token_length: int,
    num_iterations: int,
    joiner: str = "##",
) -> list[str]:
    """The vocabulary tf-text's WordPiece learner makes of `words` at one frequency threshold.

    Its `learn_with_thresh` with a `Params` record of these settings (the other `Params`
    fields only steer tf-text's own threshold search, which kerattn does not use).
    """
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

    params = learner.Params(
        upper_thresh=None,
        lower_thresh=1,
        num_iterations=num_iterations,
        max_input_tokens=-1,
        max_token_length=max_token_length,
        max_unique_chars=0,
        vocab_size=0,
        slack_ratio=0.0,
        include_joiner_token=True,
        joiner=joiner,
        reserved_tokens=list(reserved_tokens),
    )
    return list(learner.learn_with_thresh(words, threshold, params))


def store_float16_weights(path) -> None:
    """Rewrites the `.keras` file at `path` with its float32 weights stored as float16.

    A `.keras` file is a zip archive whose weights are the datasets of `model.weights.h5`; Keras
    loads each dataset with `variable.assign`, which casts, so the loaded model's variables stay
    float32 and hold the float16-rounded values (relative error at most 2^-11). The file's other
    members are copied unchanged. Raises ValueError, leaving the file as it was, if a weight does
    not fit float16 (|w| > 65504).
    """
    import io
    import zipfile

    import h5py
    import numpy as np

    limit = float(np.finfo(np.float16).max)
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info.filename)) for info in archive.infolist()]
    rewritten = io.BytesIO()
    with zipfile.ZipFile(rewritten, "w") as archive:
        for info, data in members:
            if info.filename == "model.weights.h5":
                data = _float16_h5(data, limit, h5py, np)
            archive.writestr(info, data)
    with open(path, "wb") as file:
        file.write(rewritten.getvalue())


def _float16_h5(data: bytes, limit: float, h5py, np) -> bytes:
    import io

    output = io.BytesIO()
    with h5py.File(io.BytesIO(data), "r") as source, h5py.File(output, "w") as target:

        def copy(name, item):
            if isinstance(item, h5py.Dataset):
                value = item[()]
                if value.dtype == np.float32:
                    if value.size and float(np.max(np.abs(value))) > limit:
                        raise ValueError(
                            f"Weight {name} has values beyond float16's range (+-{limit:g}); "
                            "store this model's weights as float32."
                        )
                    value = value.astype(np.float16)
                target.create_dataset(name, data=value)
            else:
                target.require_group(name)
            target[name].attrs.update(dict(item.attrs))

        source.visititems(copy)
        target.attrs.update(dict(source.attrs))
    return output.getvalue()
