"""Exporting kerattn models for TensorFlow Serving.

`export_model(model, "export/models/NAME")` writes `export/models/NAME/<version>/`: a SavedModel
with only the inference variables and tokenizers, batch-major signatures over a `text` string
input (translator: `serving_default` with the export's beam size, and `greedy`; classifier:
`serving_default`), `assets.extra/kerattn_export.json` (decoding settings, lengths, versions,
model config) and `assets.extra/tf_serving_warmup_requests`. The folder is written under a
temporary non-numeric name and renamed when complete, after the op audit has passed.

Modules:
    exporter: `export_model`, `ExportError`, `read_export_metadata`,
        `describe_export`, `checkpoint_variable_names`.
    serving_module: the saved `tf.Module` and its signatures.
    version_folder: version numbering and atomic writes.
    warmup: TF Serving warm-up records.
    model_server_config: TF Serving's `--model_config_file` text.
    op_audit: which op types a SavedModel uses and which stock TF Serving cannot run.
    command: `kerattn export`'s modes.

See `export/README.md` for serving the exports with `tensorflow/serving`.
"""

from kerattn.export.exporter import (
    ExportError,
    describe_export,
    export_model,
    read_export_metadata,
)
from kerattn.export.version_folder import VersionExistsError

__all__ = [
    "ExportError",
    "VersionExistsError",
    "describe_export",
    "export_model",
    "read_export_metadata",
]
