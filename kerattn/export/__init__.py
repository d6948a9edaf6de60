"""Exporting kerattn models for TensorFlow Serving.

`export_model(model, "export/models/NAME")` writes `export/models/NAME/<version>/`: a SavedModel
with only the inference variables and tokenizers, batch-major signatures over a `text` string
input (translator: `serving_default` with the export's beam size, and `greedy`; classifier:
`serving_default`), `assets.extra/kerattn_export.json` (decoding settings, lengths, versions,
model config) and `assets.extra/tf_serving_warmup_requests`. The folder is written under a
temporary non-numeric name, fsync'd and renamed when complete, after the op audit has passed;
temporaries of a killed export are removed by the next one (`version_folder`).

Modules:
    exporter: `export_model`, `read_export_metadata`, `describe_export`,
        `checkpoint_variable_names`.
    export_error: `ExportError` (exit 1) and `ExportPathError` (exit 2), `kerattn.errors` kinds.
    serving_module: the saved `tf.Module` and its signatures.
    version_folder: version numbering and atomic writes.
    warmup: TF Serving warm-up records.
    model_server_config: TF Serving's `--model_config_file` text.
    op_audit: which op types a SavedModel uses and which stock TF Serving cannot run.
    command: `kerattn export`'s modes.

See `export/README.md` for serving the exports with `tensorflow/serving`.
"""

from kerattn.export.export_error import ExportError, ExportPathError
from kerattn.export.exporter import describe_export, export_model, read_export_metadata
from kerattn.export.version_folder import VersionExistsError

__all__ = [
    "ExportError",
    "ExportPathError",
    "VersionExistsError",
    "describe_export",
    "export_model",
    "read_export_metadata",
]
