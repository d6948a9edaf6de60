"""`kerattn serve` flag handling and startup failures (the running server is tested elsewhere)."""

from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path

import pytest

import kerattn_cli as cli
from kerattn.serving import command, model_server
from kerattn.serving.request_limits import RequestLimits


def test_serve_needs_a_base_path_or_config(capsys):
    assert cli.main(["serve"]) == 2
    assert "--model_base_path" in capsys.readouterr().err


def test_unparseable_config_file(tmp_path, capsys):
    config = tmp_path / "models.config"
    config.write_text("model_config_list { config { name: 'a' ")
    assert cli.main(["serve", "--model_config_file", str(config)]) == 1
    assert (
        "Error parsing text-format tensorflow.serving.ModelServerConfig" in capsys.readouterr().err
    )


def test_model_without_versions_stops_startup(tmp_path, capsys):
    assert (
        cli.main(
            [
                "serve",
                "--model-name",
                "m",
                "--model-base-path",
                str(tmp_path),
                "--file_system_poll_wait_seconds",
                "0",
            ]
        )
        == 1
    )
    assert "1 model(s) did not become available" in capsys.readouterr().err


@pytest.mark.parametrize(
    "api, flag, other_flag",
    [("REST", "--rest_api_port", "--port"), ("gRPC", "--port", "--rest-api-port")],
)
def test_port_in_use(toy_model_dir, tmp_path, capsys, api, flag, other_flag):
    shutil.copytree(toy_model_dir, tmp_path / "1")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert (
            cli.main(
                [
                    "serve",
                    "--model_base_path",
                    str(tmp_path),
                    flag,
                    str(port),
                    other_flag,
                    "0",
                    "--file_system_poll_wait_seconds",
                    "0",
                ]
            )
            == 1
        )
    assert f"kerattn serve: cannot listen on 127.0.0.1:{port} ({api}): " in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--port", "0", "--rest_api_port", "0"],
            "--port and --rest_api_port are both 0, so there is nothing to serve; give at least one of "
            "them a port.",
        ),
        (["--port", "-1"], "--port must be a TCP port from 0 (off) to 65535; received -1."),
        (
            ["--rest_api_port", "70000"],
            "--rest_api_port must be a TCP port from 0 (off) to 65535; received 70000.",
        ),
        (["--grpc_max_threads", "0"], "--grpc_max_threads must be at least 1; received 0."),
    ],
)
def test_bad_port_and_thread_flags(tmp_path, capsys, flags, message):
    assert cli.main(["serve", "--model_base_path", str(tmp_path), *flags]) == 2
    assert capsys.readouterr().err == f"kerattn serve: {message}\n"


@pytest.mark.parametrize(
    "flags, timeout_in_ms",
    [
        ([], 30000),
        (["--rest_api_timeout_in_ms", "250"], 250),
        (["--rest-api-timeout-in-ms", "0"], 0),
    ],
)
def test_rest_api_timeout_flag_reaches_serve(tmp_path, monkeypatch, flags, timeout_in_ms):
    options = {}
    monkeypatch.setattr(model_server, "serve", lambda manager, **given: options.update(given))
    assert cli.main(["serve", "--model_base_path", str(tmp_path), *flags]) == 0
    assert options["rest_api_timeout_in_ms"] == timeout_in_ms


@pytest.mark.parametrize(
    "flags, limits",
    [
        ([], RequestLimits()),
        (
            [
                "--max_body_bytes",
                "1000",
                "--max_request_elements",
                "50",
                "--max_batch_size_per_request",
                "8",
            ],
            RequestLimits(1000, 50, 8),
        ),
        (
            [
                "--max-body-bytes",
                "1000",
                "--max-request-elements",
                "50",
                "--max-batch-size-per-request",
                "8",
            ],
            RequestLimits(1000, 50, 8),
        ),
    ],
)
def test_request_limit_flags_reach_serve(tmp_path, monkeypatch, flags, limits):
    options = {}
    monkeypatch.setattr(model_server, "serve", lambda manager, **given: options.update(given))
    assert cli.main(["serve", "--model_base_path", str(tmp_path), *flags]) == 0
    assert options["limits"] == limits


@pytest.mark.parametrize(
    "flag", ["--max_body_bytes", "--max_request_elements", "--max_batch_size_per_request"]
)
def test_request_limits_below_one_are_refused(tmp_path, capsys, flag):
    assert cli.main(["serve", "--model_base_path", str(tmp_path), flag, "0"]) == 2
    assert capsys.readouterr().err == (
        f"kerattn serve: {flag} must be a whole number of at least 1; received 0.\n"
    )


def test_defaults_of_the_request_limits():
    assert RequestLimits() == RequestLimits(4 * 1024 * 1024, 4 * 1024 * 1024, 1000)


# ---- TF Serving's flags of export/compose.yaml, booleans, batching -------------------------------


def _compose_flags() -> list[str]:
    """The serving service's command: the compose file's only list items starting with `--`."""
    compose = Path(__file__).resolve().parents[2] / "export" / "compose.yaml"
    return re.findall(r'^\s+- "(--[^"]+)"$', compose.read_text(), flags=re.MULTILINE)


def test_every_flag_of_the_compose_file_is_accepted_with_tf_servings_meaning(
    toy_model_dir, tmp_path, monkeypatch
):
    shutil.copytree(toy_model_dir, tmp_path / "toy" / "1")
    config = tmp_path / "models.config"
    config.write_text(
        f"model_config_list {{ config {{ name: 'toy' base_path: "
        f"'{tmp_path / 'toy'}' model_platform: 'tensorflow' }} }}\n"
    )
    flags = [flag.replace("/config/models.config", str(config)) for flag in _compose_flags()]
    assert "--enable_model_warmup=true" in flags
    seen = {}

    def fake_serve(manager, **given):
        seen.update(given, manager=manager)

    monkeypatch.setattr(model_server, "serve", fake_serve)
    assert cli.main(["serve", *flags]) == 0
    manager = seen["manager"]
    assert manager.enable_model_warmup is True
    assert manager.poll_wait_seconds == 1.0
    assert manager.model_names == ["toy"]


@pytest.mark.parametrize(
    "flags, warmup",
    [
        ([], True),
        (["--enable_model_warmup"], True),
        (["--enable_model_warmup=false"], False),
        (["--enable-model-warmup=FALSE"], False),
        (["--enable_model_warmup=1"], True),
    ],
)
def test_boolean_flags_take_tf_servings_syntax(tmp_path, monkeypatch, flags, warmup):
    seen = {}
    monkeypatch.setattr(model_server, "serve", lambda manager, **given: seen.update(m=manager))
    assert (
        cli.main(
            [
                "serve",
                "--model_base_path",
                str(tmp_path),
                *flags,
                "--rest_api_enable_cors_support=false",
            ]
        )
        == 0
    )
    assert seen["m"].enable_model_warmup is warmup


def test_a_boolean_flag_with_another_value_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["serve", "--model_base_path", str(tmp_path), "--enable_model_warmup=maybe"])
    assert caught.value.code == 2
    assert "expected true or false; received 'maybe'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--enable_batching=true", "--batching_parameters_file", "b.txt"],
            "Error parsing text-format tensorflow.serving.BatchingParameters b.txt: [Errno 2] No such "
            "file or directory: 'b.txt'",
        ),
        (
            ["--batching_parameters_file", "b.txt"],
            command.BATCHING_FILE_WITHOUT_BATCHING.format(path="b.txt"),
        ),
        (
            ["--rest_api_max_connections", "-1"],
            "--rest_api_max_connections must be 0 (no limit) or more; received -1.",
        ),
        (["--max_queued_requests", "0"], "--max_queued_requests must be at least 1; received 0."),
    ],
)
def test_batching_and_bad_queue_flags_exit_2_in_one_sentence(tmp_path, capsys, flags, message):
    assert cli.main(["serve", "--model_base_path", str(tmp_path), *flags]) == 2
    assert capsys.readouterr().err == f"kerattn serve: {message}\n"


def test_batching_off_is_accepted(tmp_path, monkeypatch):
    monkeypatch.setattr(model_server, "serve", lambda manager, **given: None)
    assert cli.main(["serve", "--model_base_path", str(tmp_path), "--enable_batching=false"]) == 0


def test_queue_and_connection_flags_reach_serve(tmp_path, monkeypatch):
    options = {}
    monkeypatch.setattr(model_server, "serve", lambda manager, **given: options.update(given))
    assert (
        cli.main(
            [
                "serve",
                "--model_base_path",
                str(tmp_path),
                "--model_run_threads",
                "3",
                "--max_queued_requests",
                "9",
                "--rest_api_header_timeout_seconds",
                "2",
                "--rest-api-body-timeout-seconds",
                "4",
                "--rest_api_idle_timeout_seconds",
                "0",
                "--rest_api_max_connections",
                "7",
            ]
        )
        == 0
    )
    assert {
        name: options[name]
        for name in (
            "model_run_threads",
            "max_queued_requests",
            "header_timeout_seconds",
            "body_timeout_seconds",
            "idle_timeout_seconds",
            "max_connections",
        )
    } == {
        "model_run_threads": 3,
        "max_queued_requests": 9,
        "header_timeout_seconds": 2.0,
        "body_timeout_seconds": 4.0,
        "idle_timeout_seconds": 0.0,
        "max_connections": 7,
    }


@pytest.mark.parametrize(
    "session, intra_op, inter_op, threads",
    [
        (0, 0, 0, (0, 0)),  # TensorFlow chooses both
        (3, 0, 0, (3, 3)),  # the session value sets both
        (3, 2, 0, (2, 0)),  # an op flag wins over the session value; the other stays automatic
        (0, 0, 4, (0, 4)),
        (0, 1, 2, (1, 2)),
    ],
)
def test_tensorflow_threads_follow_tf_serving(session, intra_op, inter_op, threads):
    assert command.tensorflow_threads(session, intra_op, inter_op) == threads


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            [
                "--tensorflow_session_parallelism",
                "2",
                "--tensorflow_intra_op_parallelism",
                "1",
                "--tensorflow_inter_op_parallelism",
                "1",
            ],
            command.SESSION_AND_OP_PARALLELISM,
        ),
        (
            ["--tensorflow-intra-op-parallelism", "-1"],
            "--tensorflow_intra_op_parallelism must be 0 (automatic) or more threads; received -1.",
        ),
    ],
)
def test_bad_tensorflow_thread_flags(tmp_path, capsys, flags, message):
    assert cli.main(["serve", "--model_base_path", str(tmp_path), *flags]) == 2
    assert capsys.readouterr().err == f"kerattn serve: {message}\n"


def test_tensorflow_thread_flags_set_the_process_pools(tmp_path):
    """In a fresh process (TensorFlow fixes its pools at first use): the flags reach
    tf.config.threading before the server starts."""
    import subprocess
    import sys

    script = (
        "import sys, tensorflow as tf, kerattn_cli as cli\n"
        "from kerattn.serving import model_server\n"
        "model_server.serve = lambda manager, **settings: print(\n"
        "    tf.config.threading.get_intra_op_parallelism_threads(),\n"
        "    tf.config.threading.get_inter_op_parallelism_threads())\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    flags = ["--tensorflow_intra_op_parallelism", "1", "--tensorflow_inter_op_parallelism", "3"]
    completed = subprocess.run(
        [sys.executable, "-c", script, "serve", "--model_base_path", str(tmp_path), *flags],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.split() == ["1", "3"]
