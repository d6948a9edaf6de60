"""Model warm-up: a version's `assets.extra/tf_serving_warmup_requests` replayed before it becomes
AVAILABLE (TF Serving's `--enable_model_warmup`, default on; docs/serving.md §13).

The file is a TFRecord of `PredictionLog`s (`kerattn.export.warmup` writes one per signature).
Each `predict_log.request` is decoded and checked as a gRPC Predict would be (`tensor_protos`,
the request limits) and run once on its signature, so the first real request does not pay for the
first run of each signature (tf.function's graph optimisation, kernel set-up: seconds for a
translator). As in TF Serving, a record that fails fails the load (the version is not served),
other log types than `predict_log` are refused, and a file of more than 1000 records is refused.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from kerattn.export.warmup import MAX_WARMUP_RECORDS, WARMUP_FILE_NAME, read_warmup_requests
from kerattn.serving.model_manager import DEFAULT_SIGNATURE
from kerattn.serving.request_limits import RequestLimits
from kerattn.serving.serving_error import ServingError, invalid_argument

logger = logging.getLogger(__name__)


def warmup_file(version_dir: Path) -> Path:
    """Where TF Serving looks for a version's warm-up records."""
    return Path(version_dir) / "assets.extra" / WARMUP_FILE_NAME


def warm_up(loaded, limits: RequestLimits | None = None) -> int:
    """Replays the warm-up records of a loaded version (none: nothing to do); returns how many
    ran.

    Raises:
        ServingError: a record is not a predict log, names an unknown signature, does not fit
            the signature or the limits, or its run fails; more than 1000 records.
    """
    from kerattn.serving.servable_requests import find_signature, run_signature
    from kerattn.serving.tensor_protos import input_arrays, output_aliases

    path = warmup_file(getattr(loaded, "path", None) or ".")
    if getattr(loaded, "path", None) is None or not path.is_file():
        return 0
    started = time.monotonic()
    try:
        logs = read_warmup_requests(path)
    except Exception as error:  # noqa: BLE001 - a damaged TFRecord file
        raise ServingError("DATA_LOSS", f"Cannot read the warm-up records: {error}") from None
    if len(logs) > MAX_WARMUP_RECORDS:
        raise invalid_argument(
            f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}): {len(logs)}"
        )
    for index, log in enumerate(logs):
        kind = log.WhichOneof("log_type")
        if kind != "predict_log":
            raise ServingError(
                "UNIMPLEMENTED",
                f"Unsupported log_type for warmup: {kind} (record {index}); "
                "kerattn serve replays predict_log records only.",
            )
        request = log.predict_log.request
        key = request.model_spec.signature_name or DEFAULT_SIGNATURE
        signature = find_signature(loaded, key)
        if signature is None:
            raise ServingError(
                "FAILED_PRECONDITION",
                f'Warm-up record {index}: serving signature key "{key}" not found.',
            )
        signature_def, function = signature
        inputs = input_arrays(request.inputs, signature_def, limits or RequestLimits())
        run_signature(
            function, signature_def, inputs, output_aliases(request.output_filter, signature_def)
        )
    logger.info(
        "Finished warming up servable version %s %d with %d record(s) in %.2f s",
        loaded.model_name,
        loaded.version,
        len(logs),
        time.monotonic() - started,
    )
    return len(logs)
