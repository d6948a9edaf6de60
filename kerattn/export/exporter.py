"""`export_model`: a kerattn model → `<base_path>/<version>/`, a SavedModel TF Serving loads.

Steps: build the serving module (inference variables + tokenizers + signatures, traced with
`use_cudnn=False`), `tf.saved_model.save` it into a temporary folder, add
`assets.extra/kerattn_export.json` and the warm-up requests, audit the op types, and only then
rename the folder to its version number (`version_folder.write_version`: fsync'd, atomic). Any
failure - the audit, a full disk, a read-only folder - removes the temporary folder and raises one
`ExportError` sentence, so no numeric folder is ever left half written.

`assets.extra/` is ignored by TF Serving except for `tf_serving_warmup_requests`.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from kerattn.export import op_audit, version_folder, warmup
from kerattn.export.export_error import ExportError
from kerattn.export.serving_module import build_serving_module, inference_tracing, model_kind

METADATA_FILE_NAME = "kerattn_export.json"
METADATA_FORMAT = 1


def export_model(
    model: Any,
    base_path: str | os.PathLike,
    version: int | None = None,
    beam_size: int = 4,
    length_penalty: float = 0.6,
    coverage_penalty: float = 0.0,
    warmup_texts: Sequence[str] = warmup.DEFAULT_WARMUP_TEXTS,
    allowed_ops: Sequence[str] | None = None,
    signatures: Sequence[str] = (),
    decoding_options: dict | None = None,
) -> Path:
    """Exports a `Translator` or `Classifier` as version `version` of `base_path` for TF Serving.

    Args:
        model: the model (`kerattn.zoo.model_loading.load_model` turns a `.keras` path into one).
        base_path: the model's TF Serving base path, e.g. "export/models/translator".
        version: positive int; default: one more than the highest existing version. An
            existing version is an error, never overwritten.
        beam_size, length_penalty, coverage_penalty: translator decoding for `serving_default`
            (fixed at export; the `greedy` signature uses beam size 1). Ignored for classifiers.
        warmup_texts: example inputs written as warm-up requests (one batch per signature and
            one single-text request).
        allowed_ops: op allow-list for the audit; default core TensorFlow + tf-text 2.20 ops.
        signatures: optional translator signatures besides `serving_default` and `greedy`:
            any of "nbest", "score", "sample", "prefix" (`serving_module.build_serving_module`).
        decoding_options: translator options fixed at export (min_length, max_length_ratio,
            no_repeat_ngram_size, avoid, replace_unknown, temperature, top_k, top_p,
            num_hypotheses, split_sentences), applied to every translating signature;
            split_sentences (default True) translates an over-long input sentence by
            sentence, False cuts it.

    Returns:
        Path of the new version folder.

    Raises:
        ExportError: the SavedModel would use ops TF Serving cannot run (each op is named), or
            could not be written (full disk, no permission: the sentence says which and where).
        ExportPathError: `base_path` or a parent of it is a file.
        version_folder.VersionExistsError: `version` is taken.
    """
    import tensorflow as tf

    kind = model_kind(model)
    warmup_texts = list(warmup_texts)
    if not warmup_texts or not all(isinstance(text, str) for text in warmup_texts):
        raise ValueError(
            f"`warmup_texts` must be a non-empty list of strings; received {warmup_texts!r}."
        )
    model_name = Path(base_path).resolve().name

    def write(folder: Path) -> None:
        with inference_tracing(model):
            module, functions, descriptions = build_serving_module(
                model,
                beam_size,
                length_penalty,
                coverage_penalty,
                signatures=signatures,
                decoding_options=decoding_options,
            )
            # Its "Assets written to <temporary folder>" INFO line would only confuse.
            logger, level = tf.get_logger(), tf.get_logger().level
            logger.setLevel("WARNING")
            try:
                with _file_errors_as_os_errors():
                    # Serving needs no gradients; the custom gradient of the teacher-forced
                    # decoder pass ("score") captures loop tensors SavedModel cannot store.
                    tf.saved_model.save(
                        module,
                        str(folder),
                        signatures=functions,
                        options=tf.saved_model.SaveOptions(experimental_custom_gradients=False),
                    )
            finally:
                logger.setLevel(level)
        extra = folder / "assets.extra"
        # Warm-up requests feed `text` only: signatures with more inputs are not warmed up.
        requests = [
            (name, warmup_texts)
            for name in functions
            if list(descriptions[name]["inputs"]) == ["text"]
        ]
        requests.append(("serving_default", warmup_texts[:1]))
        with _file_errors_as_os_errors():
            warmup.write_warmup_requests(extra / warmup.WARMUP_FILE_NAME, model_name, requests)
        metadata = _metadata(model, kind, descriptions, len(module.model_variables))
        (extra / METADATA_FILE_NAME).write_text(
            json.dumps(metadata, indent=2, ensure_ascii=False, default=str) + "\n",
            encoding="utf-8",
        )
        refused = op_audit.disallowed_ops(folder, allowed_ops=allowed_ops)
        if refused:
            raise ExportError(
                "the exported graph uses op(s) stock CPU TF Serving cannot run: "
                + ", ".join(refused)
                + " (py_function/numpy_function callbacks, CudnnRNN* or ops outside TensorFlow "
                "core and tf-text 2.20); nothing was exported."
            )

    return version_folder.write_version(base_path, write, version=version)


@contextlib.contextmanager
def _file_errors_as_os_errors() -> Iterator[None]:
    """TensorFlow's file-system errors as the OSError Python would raise, for one clear sentence.

    TensorFlow reports ENOSPC as ResourceExhaustedError and EACCES/EROFS as
    PermissionDeniedError, with messages like "{{function_node ...}} <path>; No space left on
    device [Op:SaveV2]".
    """
    import tensorflow as tf

    try:
        yield
    except (tf.errors.ResourceExhaustedError, tf.errors.PermissionDeniedError) as error:
        text = re.sub(r"\s*\[Op:\w+\]\s*$", "", re.sub(r"^\{\{[^}]*\}\}\s*", "", error.message))
        path, separator, reason = text.rpartition("; ")
        code = next((code for code, name in _ERRNO_REASONS.items() if name in reason), None)
        raise OSError(code, reason if separator else text, path or None) from error


_ERRNO_REASONS = {
    errno.ENOSPC: "No space left on device",
    errno.EACCES: "Permission denied",
    errno.EROFS: "Read-only file system",
    errno.EDQUOT: "Disk quota exceeded",
}


def _metadata(model, kind: str, signatures: dict, variable_count: int) -> dict:
    import keras
    import tensorflow as tf
    import tensorflow_text

    from kerattn.version import __version__

    parameters = int(sum(int(tf.size(weight)) for weight in model.weights))
    metadata = {
        "format": METADATA_FORMAT,
        "model_kind": kind,
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "kerattn": __version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "tensorflow_text": tensorflow_text.__version__,
        },
        "signatures": signatures,
        "parameters": parameters,
        "variables": variable_count,
        "model_config": model.get_config(),
    }
    if kind == "translator":
        metadata["max_source_length"] = model.max_source_length
        metadata["max_target_length"] = model.max_target_length
        # Translating signatures output "confidence", and "low_confidence" below this.
        metadata["confidence_threshold"] = model.confidence_threshold
    else:
        metadata["max_length"] = model.max_length
        metadata["labels"] = list(model.labels)
    return metadata


def read_export_metadata(version_dir: str | os.PathLike) -> dict:
    """The `assets.extra/kerattn_export.json` of an exported version."""
    path = Path(version_dir) / "assets.extra" / METADATA_FILE_NAME
    return json.loads(path.read_text(encoding="utf-8"))


def checkpoint_variable_names(version_dir: str | os.PathLike) -> list[str]:
    """Names of the variables stored in a SavedModel's checkpoint (object graph excluded)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(Path(version_dir) / "variables" / "variables"))
    return sorted(
        name
        for name in reader.get_variable_to_shape_map()
        if name != "_CHECKPOINTABLE_OBJECT_GRAPH"
    )


def describe_export(version_dir: str | os.PathLike) -> dict:
    """Size on disk (bytes, whole folder), parameter count and bytes, checkpoint variables."""
    folder = Path(version_dir)
    metadata = read_export_metadata(folder)
    files = [path for path in folder.rglob("*") if path.is_file()]
    return {
        "path": str(folder),
        "bytes_on_disk": sum(path.stat().st_size for path in files),
        "variables_bytes": sum(
            path.stat().st_size for path in (folder / "variables").glob("*") if path.is_file()
        ),
        "saved_model_pb_bytes": (folder / "saved_model.pb").stat().st_size,
        "parameters": metadata["parameters"],
        "parameter_bytes_float32": 4 * metadata["parameters"],
        "checkpoint_variables": len(checkpoint_variable_names(folder)),
        "model_weights": metadata["variables"],
        "signatures": sorted(metadata["signatures"]),
    }
