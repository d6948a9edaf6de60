"""op_audit: op types of a SavedModel, the allow-list, and the ops that are always refused."""

from __future__ import annotations

import glob
import os

import pytest
import tensorflow as tf

from kerattn import compat
from kerattn.export import op_audit


def save_module(directory, function) -> str:
    module = tf.Module()
    module.serve = function
    tf.saved_model.save(module, str(directory), signatures={"serving_default": function})
    return str(directory)


def test_py_function_is_reported(tmp_path):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def serve(values):
        return tf.py_function(lambda x: x * 2.0, [values], tf.float32)

    directory = save_module(tmp_path / "py_function", serve)
    assert "EagerPyFunc" in op_audit.saved_model_op_types(directory)
    assert op_audit.disallowed_ops(directory) == ["EagerPyFunc"]


def test_numpy_function_is_reported_as_pyfunc(tmp_path):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def serve(values):
        return tf.numpy_function(lambda x: x * 2.0, [values], tf.float32, stateful=True)

    directory = save_module(tmp_path / "numpy_function", serve)
    assert op_audit.disallowed_ops(directory) == ["PyFunc"]


def test_core_only_model_is_clean_and_ops_of_nested_functions_are_listed(tmp_path):
    @tf.function
    def inner(values):
        return tf.strings.regex_replace(values, "a", "b")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(values):
        return inner(values)

    directory = save_module(tmp_path / "core", serve)
    op_types = op_audit.saved_model_op_types(directory)
    assert "StaticRegexReplace" in op_types
    # Function names are not op types.
    assert not any(op_type.startswith("__inference") for op_type in op_types)
    assert op_audit.disallowed_ops(directory) == []


def test_explicit_allow_list_and_always_disallowed_ops(tmp_path):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def serve(values):
        return tf.py_function(lambda x: x, [values], tf.float32)

    directory = save_module(tmp_path / "allow_list", serve)
    op_types = op_audit.saved_model_op_types(directory)
    assert op_audit.disallowed_ops(directory, allowed_ops=op_types) == ["EagerPyFunc"]
    assert "Const" in op_audit.disallowed_ops(directory, allowed_ops=[])
    for op_type in ("CudnnRNN", "CudnnRNNV3", "CudnnRNNBackpropV3", "PyFunc", "PyFuncStateless"):
        assert op_audit.is_always_disallowed(op_type)
    assert not op_audit.is_always_disallowed("LSTMBlockCell")


def test_core_ops_exclude_tf_text_ops_even_after_importing_tensorflow_text():
    import tensorflow_text  # noqa: F401  (registers its ops in this process)

    core = op_audit.core_tensorflow_op_types()
    assert {"Const", "StaticRegexReplace", "HashTableV2", "PyFunc", "CudnnRNNV3"} <= core
    assert not core & op_audit.TF_TEXT_2_20_OPS


def test_tf_text_op_list_matches_the_installed_libraries():
    """Every op the installed tf-text libraries register is in the 2.20 list (none is newer)."""
    import tensorflow_text

    library_dir = os.path.join(os.path.dirname(tensorflow_text.__file__), "python", "ops")
    installed = {}
    for path in glob.glob(os.path.join(library_dir, "_*.so")):
        name = os.path.basename(path)[1:-3].removesuffix("_op").removesuffix("_ops")
        installed[name] = tuple(compat.library_op_names(path))
    for name, ops in installed.items():
        assert ops == op_audit.TF_TEXT_2_20_OPS_BY_LIBRARY[name], name


def test_missing_saved_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a SavedModel directory"):
        op_audit.saved_model_op_types(tmp_path)
