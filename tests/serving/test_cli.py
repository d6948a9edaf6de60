"""`kerattn serve` flag handling and startup failures (the running server is tested elsewhere)."""

from __future__ import annotations

import shutil
import socket

from kerattn import cli


def test_serve_needs_a_base_path_or_config(capsys):
    assert cli.main(["serve"]) == 2
    assert "--model_base_path" in capsys.readouterr().err


def test_unparseable_config_file(tmp_path, capsys):
    config = tmp_path / "models.config"
    config.write_text("model_config_list { config { name: 'a' ")
    assert cli.main(["serve", "--model_config_file", str(config)]) == 1
    assert "Error parsing text-format tensorflow.serving.ModelServerConfig" in capsys.readouterr().err


def test_model_without_versions_stops_startup(tmp_path, capsys):
    assert cli.main(["serve", "--model-name", "m", "--model-base-path", str(tmp_path),
                     "--file_system_poll_wait_seconds", "0"]) == 1
    assert "1 model(s) did not become available" in capsys.readouterr().err


def test_port_in_use(toy_model_dir, tmp_path, capsys):
    shutil.copytree(toy_model_dir, tmp_path / "1")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", "--model_base_path", str(tmp_path), "--rest_api_port",
                         str(port), "--file_system_poll_wait_seconds", "0"]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
