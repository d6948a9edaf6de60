"""TF Serving warm-up records: `assets.extra/tf_serving_warmup_requests`.

A TFRecord file of `tensorflow_serving.apis.prediction_log_pb2.PredictionLog` messages whose
`predict_log.request` is a `PredictRequest`; TF Serving replays them when it loads a version
(`--enable_model_warmup`, default on), so the first real request does not pay for graph
initialisation. At most 1000 records are read (docs/serving.md §1).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

WARMUP_FILE_NAME = "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000
DEFAULT_WARMUP_TEXTS = ("Turn off the lights.", "Where is the menu?", "Open the file and save it.")


def write_warmup_requests(
    path: str | os.PathLike,
    model_name: str,
    requests: Sequence[tuple[str, Sequence[str]]],
) -> Path:
    """Writes one `PredictionLog` per (signature name, texts) pair to the TFRecord `path`.

    Each request feeds the texts as the `text` input (a string TensorProto of shape [len(texts)]).
    """
    import tensorflow as tf

    try:
        from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
    except ImportError as error:
        raise ImportError(
            "writing TF Serving warm-up requests needs tensorflow-serving-api: "
            "pip install 'kerattn[serving]'."
        ) from error

    if not requests or len(requests) > MAX_WARMUP_RECORDS:
        raise ValueError(
            f"warm-up needs 1 to {MAX_WARMUP_RECORDS} requests; received {len(requests)}."
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature_name, texts in requests:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model_name
            request.model_spec.signature_name = signature_name
            request.inputs["text"].CopyFrom(tf.make_tensor_proto(list(texts), dtype=tf.string))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(path: str | os.PathLike) -> list:
    """Parses a warm-up file back into `PredictionLog` messages."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    logs = []
    for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record)
        logs.append(log)
    return logs
