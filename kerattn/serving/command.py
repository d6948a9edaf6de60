"""`kerattn serve`: TF Serving's model-server flags → a `ModelManager`, the gRPC and REST servers.

Flags keep TF Serving's names (`--model_name`, `--model_base_path`, `--model_config_file`,
`--port`, `--rest_api_port`, `--file_system_poll_wait_seconds`, `--grpc_max_threads`,
`--rest_api_num_threads`, `--rest_api_timeout_in_ms`, `--rest_api_enable_cors_support`), also
accepted with hyphens, so a deployment's command line carries over. gRPC is served on `--port`
(default 8500, as in TF Serving). Differences from TF Serving:

* both endpoints listen on 127.0.0.1 unless `--host` says otherwise (TF Serving listens on all
  interfaces);
* REST is on by default on port 8501 (TF Serving: off unless `--rest_api_port` is given);
* `--port 0` turns gRPC off and serves REST only (TF Serving refuses to start without a gRPC
  port or a `--grpc_socket_path`, which kerattn does not offer); both ports 0 is an error;
* kerattn's own limits on one request (docs/serving.md §7; TF Serving has none but memory):
  `--max_body_bytes` (default 4 MiB) caps REST bodies, counted after gzip inflation (413), and
  gRPC messages (RESOURCE_EXHAUSTED; TF Serving accepts up to 2 GiB);
  `--max_request_elements` (default 4 Mi) caps the tensor elements of a request's inputs and
  `--max_batch_size_per_request` (default 1000) their dimension 0 (INVALID_ARGUMENT / 400);
* a REST predict that passes `--rest_api_timeout_in_ms` gets TF Serving's 504; a run still
  queued is dropped, one already running finishes in its run thread (docs/serving.md §12);
* model runs are queued, not refused: `--model_run_threads`, `--max_queued_requests`; REST
  connections are bounded: `--rest_api_header_timeout_seconds`, `--rest_api_body_timeout_seconds`,
  `--rest_api_idle_timeout_seconds`, `--rest_api_max_connections` (docs/serving.md §12);
* `--enable_batching` merges concurrent requests to one signature into one model call, with
  TF Serving's `--batching_parameters_file`; each answer equals the unbatched one, cut back to
  the request's own lengths (docs/serving.md §15).

TF Serving's `--tensorflow_intra_op_parallelism`, `--tensorflow_inter_op_parallelism` and
`--tensorflow_session_parallelism` (default 0 = TensorFlow chooses) set the process's TensorFlow
thread pools with TF Serving's rules (`tensorflow_threads`); negative values are refused.

TF Serving's `--enable_model_warmup` (default true; docs/serving.md §13) and
`--model_config_file_poll_wait_seconds` (default 0 = read once; re-reading adds and removes
models) keep their meaning; boolean flags accept TF Serving's `--flag=true|false` syntax.
"""

from __future__ import annotations

import logging
import sys

from kerattn.serving.model_manager import ModelConfig, ModelManager, model_configs_from_proto

BATCHING_FILE_WITHOUT_BATCHING = (
    "--batching_parameters_file {path} was given without --enable_batching; give both (TF "
    "Serving refuses a parameters file without batching too)."
)


SESSION_AND_OP_PARALLELISM = (
    "Either configure server_options.tensorflow_session_parallelism or "
    "(server_options.tensorflow_intra_op_parallelism, "
    "server_options.tensorflow_inter_op_parallelism) separately. You cannot configure all."
)


def tensorflow_threads(session: int, intra_op: int, inter_op: int) -> tuple[int, int]:
    """(intra-op, inter-op) threads from TF Serving's three parallelism flags, by its rules
    (`server.cc`): all three set is an error (its text); either op flag set wins (the other
    left at 0 = TensorFlow's choice); otherwise the session value sets both. 0 = automatic.

    Raises:
        ValueError: all three set, or a negative value.
    """
    flags = {
        "--tensorflow_session_parallelism": session,
        "--tensorflow_intra_op_parallelism": intra_op,
        "--tensorflow_inter_op_parallelism": inter_op,
    }
    for flag, value in flags.items():
        if value < 0:
            raise ValueError(f"{flag} must be 0 (automatic) or more threads; received {value}.")
    if session > 0 and intra_op > 0 and inter_op > 0:
        raise ValueError(SESSION_AND_OP_PARALLELISM)
    if intra_op > 0 or inter_op > 0:
        return intra_op, inter_op
    return session, session


def apply_tensorflow_threads(intra_op: int, inter_op: int) -> None:
    """Sets this process's TensorFlow thread pools (0: left as TensorFlow chooses). Must run
    before TensorFlow executes anything: its runtime fixes the pools at its first use."""
    if intra_op == inter_op == 0:
        return
    import tensorflow as tf

    if intra_op:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
    if inter_op:
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)


def _error(message: str, code: int) -> int:
    print(f"kerattn serve: {message}", file=sys.stderr)
    return code


def model_configs(
    model_name: str, model_base_path: str | None, model_config_file: str | None
) -> list[ModelConfig]:
    """The served models from a config file (which wins, as in TF Serving) or name + base path.

    Raises:
        ValueError: neither given, or the config file does not parse.
    """
    if model_config_file:
        from tensorflow_serving.config import model_server_config_pb2

        from kerattn.serving.text_format_config import parse_text_proto

        message = parse_text_proto(
            model_config_file,
            model_server_config_pb2.ModelServerConfig(),
            "tensorflow.serving.ModelServerConfig",
            error_type=ValueError,
            name_path=False,
        )
        return model_configs_from_proto(message)
    if not model_base_path:
        raise ValueError("give --model_base_path (with --model_name) or --model_config_file.")
    return [ModelConfig(model_name, str(model_base_path))]


def run(
    model_name: str = "default",
    model_base_path: str | None = None,
    model_config_file: str | None = None,
    port: int = 8500,
    rest_api_port: int = 8501,
    host: str = "127.0.0.1",
    poll_wait_seconds: float = 1.0,
    grpc_max_threads: int | None = None,
    rest_api_num_threads: int | None = None,
    enable_cors: bool = False,
    max_body_bytes: int | None = None,
    rest_api_timeout_in_ms: int = 30000,
    max_request_elements: int | None = None,
    max_batch_size_per_request: int | None = None,
    enable_model_warmup: bool = True,
    model_config_file_poll_wait_seconds: float = 0.0,
    enable_batching: bool = False,
    batching_parameters_file: str | None = None,
    model_run_threads: int | None = None,
    max_queued_requests: int | None = None,
    header_timeout_seconds: float | None = None,
    body_timeout_seconds: float | None = None,
    idle_timeout_seconds: float | None = None,
    max_connections: int | None = None,
    monitoring_config_file: str | None = None,
    tensorflow_session_parallelism: int = 0,
    tensorflow_intra_op_parallelism: int = 0,
    tensorflow_inter_op_parallelism: int = 0,
) -> int:
    """Serves until SIGTERM/SIGINT; returns the exit code (0 after a clean shutdown).

    The three limits default to `RequestLimits`'s defaults when None, the queue and connection
    settings to `model_server.serve`'s. `monitoring_config_file` (TF Serving's text-format
    MonitoringConfig) is applied first; one that does not parse is a UsageError (exit 2).
    """
    try:
        threads = tensorflow_threads(
            tensorflow_session_parallelism,
            tensorflow_intra_op_parallelism,
            tensorflow_inter_op_parallelism,
        )
    except ValueError as error:
        return _error(str(error), 2)
    try:
        apply_tensorflow_threads(*threads)
    except RuntimeError:  # TensorFlow already ran in this process (kerattn serve called twice)
        return _error(
            "the TensorFlow thread flags must be given before TensorFlow runs in the process; "
            "start kerattn serve in a fresh process to set them.",
            2,
        )
    if monitoring_config_file:
        from kerattn.serving import monitoring

        monitoring.enable_prometheus(monitoring.read_monitoring_config(monitoring_config_file))
    from kerattn.serving.model_config_poller import ModelConfigPoller
    from kerattn.serving.model_server import serve
    from kerattn.serving.request_limits import RequestLimits

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for flag, value in (("--port", port), ("--rest_api_port", rest_api_port)):
        if not 0 <= value <= 65535:
            return _error(f"{flag} must be a TCP port from 0 (off) to 65535; received {value}.", 2)
    for flag, value in (
        ("--grpc_max_threads", grpc_max_threads),
        ("--rest_api_num_threads", rest_api_num_threads),
    ):
        if value is not None and value < 1:
            return _error(f"{flag} must be at least 1; received {value}.", 2)
    if batching_parameters_file and not enable_batching:
        return _error(BATCHING_FILE_WITHOUT_BATCHING.format(path=batching_parameters_file), 2)
    batching = None
    if enable_batching:
        from kerattn.errors import UsageError
        from kerattn.serving.request_batching import BatchingParameters, read_batching_parameters

        try:
            batching = (
                read_batching_parameters(batching_parameters_file)
                if batching_parameters_file
                else BatchingParameters()
            )
        except UsageError as error:
            return _error(str(error), 2)
    if model_run_threads is not None and model_run_threads < 1:
        return _error(f"--model_run_threads must be at least 1; received {model_run_threads}.", 2)
    if max_queued_requests is not None and max_queued_requests < 1:
        return _error(
            f"--max_queued_requests must be at least 1; received {max_queued_requests}.", 2
        )
    connection_settings = {
        "header_timeout_seconds": ("--rest_api_header_timeout_seconds", header_timeout_seconds),
        "body_timeout_seconds": ("--rest_api_body_timeout_seconds", body_timeout_seconds),
        "idle_timeout_seconds": ("--rest_api_idle_timeout_seconds", idle_timeout_seconds),
        "max_connections": ("--rest_api_max_connections", max_connections),
        "max_queued_requests": ("--max_queued_requests", max_queued_requests),
    }
    serve_settings = {}
    for name, (flag, value) in connection_settings.items():
        if value is None:
            continue
        if value < 0:
            return _error(f"{flag} must be 0 (no limit) or more; received {value:g}.", 2)
        serve_settings[name] = value
    given = {
        "max_request_bytes": max_body_bytes,
        "max_request_elements": max_request_elements,
        "max_batch_size_per_request": max_batch_size_per_request,
    }
    try:
        limits = RequestLimits(
            **{name: value for name, value in given.items() if value is not None}
        )
    except ValueError as error:
        return _error(str(error), 2)
    try:
        configs = model_configs(model_name, model_base_path, model_config_file)
    except ValueError as error:
        return _error(str(error), 2 if not model_config_file else 1)
    manager = ModelManager(
        configs, poll_wait_seconds=poll_wait_seconds, enable_model_warmup=enable_model_warmup
    )
    poller = None
    if model_config_file and model_config_file_poll_wait_seconds > 0:
        poller = ModelConfigPoller(
            manager,
            lambda: model_configs(model_name, model_base_path, model_config_file),
            model_config_file_poll_wait_seconds,
        )
        poller.start(configs)
    try:
        serve(
            manager,
            host=host,
            grpc_port=port,
            rest_api_port=rest_api_port,
            grpc_max_threads=grpc_max_threads,
            rest_api_num_threads=rest_api_num_threads,
            limits=limits,
            enable_cors=enable_cors,
            rest_api_timeout_in_ms=rest_api_timeout_in_ms,
            model_run_threads=model_run_threads,
            batching=batching,
            **serve_settings,
        )
    except ValueError as error:  # both ports 0: nothing to serve
        return _error(str(error), 2)
    except (RuntimeError, OSError) as error:  # a model did not load; a port is taken
        return _error(str(error), 1)
    finally:
        if poller is not None:
            poller.stop()
    return 0
