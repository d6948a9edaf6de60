"""`kerattn export`'s three modes, with their messages and exit codes (the CLI only parses flags).

- export: `MODEL --base-path DIR [--version N] [--beam-size K] ...` → exit 0, 1 if the export
  fails its op audit or cannot be written (full disk, read-only folder), 2 for bad arguments, a
  base path that is a file or a taken version (checked before the model is loaded);
- `--check DIR`: lists the SavedModel's op types and the refused ones → exit 0 or 1;
- `--models-config FILE NAME=BASE_PATH ...`: writes TF Serving's model config → exit 0 or 2.

Errors are one sentence on standard error; an OSError the library does not turn into one reaches
the `kerattn` command's own handler, which prints one naming the path.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence


def _error(message: str, code: int) -> int:
    print(f"kerattn export: {message}", file=sys.stderr)
    return code


def run(
    targets: Sequence[str],
    base_path: str | None = None,
    version: int | None = None,
    beam_size: int = 4,
    length_penalty: float = 0.6,
    coverage_penalty: float = 0.0,
    check: str | None = None,
    models_config: str | None = None,
    models_dir: str | None = None,
    mount: str = "/models",
    signatures: Sequence[str] = (),
    decoding_options: dict | None = None,
) -> int:
    """Runs one `kerattn export` invocation; returns the process exit code."""
    if check is not None:
        if targets or models_config or base_path:
            return _error("--check DIR takes no MODEL, --base-path or --models-config.", 2)
        return check_saved_model(check)
    if models_config is not None:
        if base_path:
            return _error("--models-config takes NAME=BASE_PATH pairs, not --base-path.", 2)
        return write_models_config(models_config, targets, models_dir, mount)
    if len(targets) != 1 or base_path is None:
        return _error(
            "give one MODEL (a preset name or .keras file) and --base-path export/models/NAME; received "
            f"{len(targets)} MODEL argument(s) and --base-path={base_path!r}.",
            2,
        )
    return export(
        targets[0],
        base_path,
        version,
        beam_size,
        length_penalty,
        coverage_penalty,
        signatures,
        decoding_options,
    )


def export(
    model_name_or_path: str,
    base_path: str,
    version: int | None,
    beam_size: int,
    length_penalty: float,
    coverage_penalty: float,
    signatures: Sequence[str] = (),
    decoding_options: dict | None = None,
) -> int:
    from kerattn.errors import KerattnError
    from kerattn.export import exporter, version_folder
    from kerattn.zoo.model_loading import load_model

    start = time.perf_counter()
    try:
        version_folder.check_base_path(base_path, version)
        model = load_model(model_name_or_path)
        folder = exporter.export_model(
            model,
            base_path,
            version=version,
            beam_size=beam_size,
            length_penalty=length_penalty,
            coverage_penalty=coverage_penalty,
            signatures=signatures,
            decoding_options=decoding_options,
        )
    except KerattnError as error:
        return _error(str(error), error.exit_code)
    except (ValueError, TypeError) as error:
        return _error(str(error), 2)
    seconds = time.perf_counter() - start
    summary = exporter.describe_export(folder)
    print(f"exported {folder} in {seconds:.1f} s")
    print(f"  signatures: {', '.join(summary['signatures'])}")
    print(
        f"  {summary['parameters']:,} parameters = {summary['parameter_bytes_float32']:,} bytes "
        f"as float32; variables/ {summary['variables_bytes']:,} bytes; saved_model.pb "
        f"{summary['saved_model_pb_bytes']:,} bytes; folder {summary['bytes_on_disk']:,} bytes"
    )
    print(
        f"  checkpoint variables: {summary['checkpoint_variables']} "
        f"(model weights: {summary['model_weights']}); op audit: passed"
    )
    return 0


def check_saved_model(directory: str) -> int:
    """`--check DIR`: prints every op type (refused ones marked) and a verdict."""
    from kerattn.export import op_audit

    try:
        op_types = op_audit.saved_model_op_types(directory)
    except FileNotFoundError as error:
        return _error(str(error), 1)
    refused = op_audit.disallowed_ops(directory)
    for op_type in sorted(op_types):
        print(f"{op_type}  REFUSED" if op_type in refused else op_type)
    if refused:
        print(
            f"{directory}: {len(refused)} op type(s) stock CPU TF Serving cannot run: "
            + ", ".join(refused),
            file=sys.stderr,
        )
        return 1
    print(f"{directory}: {len(op_types)} op types, all servable by stock TF Serving")
    return 0


def write_models_config(path: str, pairs: Sequence[str], models_dir: str | None, mount: str) -> int:
    """`--models-config FILE NAME=BASE_PATH ...`."""
    from kerattn.errors import KerattnError
    from kerattn.export.model_server_config import write_model_server_config

    models = {}
    for pair in pairs:
        name, separator, base = pair.partition("=")
        if not separator or not name or not base:
            return _error(f"expected NAME=BASE_PATH, received {pair!r}.", 2)
        if name in models:
            return _error(f"model name {name!r} is given twice.", 2)
        models[name] = base
    try:
        written = write_model_server_config(path, models, models_dir=models_dir, mount=mount)
    except KerattnError as error:
        return _error(str(error), error.exit_code)
    except ValueError as error:
        return _error(str(error), 2)
    print(f"wrote {written} ({len(models)} model(s))")
    return 0
