"""`kerattn serve`: TF Serving's model-server flags → a `ModelManager` and the REST server.

Flags keep TF Serving's names (`--model_name`, `--model_base_path`, `--model_config_file`,
`--rest_api_port`, `--file_system_poll_wait_seconds`, `--rest_api_num_threads`,
`--rest_api_enable_cors_support`), also accepted with hyphens, so a deployment's command line
carries over. Differences: the server listens on 127.0.0.1 unless `--host` says otherwise (TF
Serving listens on all interfaces), REST is on by default on port 8501, and gRPC (`--port`) is
not served yet.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from kerattn.serving.model_manager import ModelConfig, ModelManager, model_configs_from_proto


def _error(message: str, code: int) -> int:
    print(f"kerattn serve: {message}", file=sys.stderr)
    return code


def model_configs(model_name: str, model_base_path: str | None,
                  model_config_file: str | None) -> list[ModelConfig]:
    """The served models from a config file (which wins, as in TF Serving) or name + base path.

    Raises:
        ValueError: neither given, or the config file does not parse.
    """
    if model_config_file:
        from google.protobuf import text_format
        from tensorflow_serving.config import model_server_config_pb2

        try:
            message = text_format.Parse(Path(model_config_file).read_text(encoding="utf-8"),
                                        model_server_config_pb2.ModelServerConfig())
        except (OSError, text_format.ParseError) as error:
            raise ValueError(
                f"Error parsing text-format tensorflow.serving.ModelServerConfig: {error}"
            ) from error
        return model_configs_from_proto(message)
    if not model_base_path:
        raise ValueError("give --model_base_path (with --model_name) or --model_config_file.")
    return [ModelConfig(model_name, str(model_base_path))]


def run(model_name: str = "default", model_base_path: str | None = None,
        model_config_file: str | None = None, rest_api_port: int = 8501,
        host: str = "127.0.0.1", poll_wait_seconds: float = 1.0, num_threads: int | None = None,
        enable_cors: bool = False, max_body_bytes: int | None = None) -> int:
    """Serves until SIGTERM/SIGINT; returns the exit code (0 after a clean shutdown)."""
    from kerattn.serving.rest_server import DEFAULT_MAX_BODY_BYTES, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if rest_api_port <= 0:
        return _error(f"--rest_api_port must be a positive port; received {rest_api_port} "
                      "(gRPC-only serving is not implemented yet).", 2)
    try:
        configs = model_configs(model_name, model_base_path, model_config_file)
    except ValueError as error:
        return _error(str(error), 2 if not model_config_file else 1)
    manager = ModelManager(configs, poll_wait_seconds=poll_wait_seconds)
    try:
        serve(manager, host=host, port=rest_api_port, num_threads=num_threads,
              max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY_BYTES, enable_cors=enable_cors)
    except RuntimeError as error:
        return _error(str(error), 1)
    except OSError as error:  # e.g. the port is taken
        return _error(f"cannot listen on {host}:{rest_api_port}: {error}", 1)
    return 0
