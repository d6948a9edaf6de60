"""`--model_config_file_poll_wait_seconds` (docs/serving.md §2): a re-read config adds and
removes models; an unreadable file keeps the running config."""

from __future__ import annotations

import pytest

from kerattn.serving.command import model_configs
from kerattn.serving.model_config_poller import ModelConfigPoller
from kerattn.serving.model_manager import ModelManager
from kerattn.serving.serving_error import ServingError
from tests.serving.test_model_manager import StubLoaded, make_versions


def write_config(path, *names, base) -> None:
    path.write_text(
        "model_config_list {\n"
        + "".join(
            f"  config {{ name: '{name}' base_path: '{base / name}' model_platform: 'tensorflow' }}\n"
            for name in names
        )
        + "}\n"
    )


def test_models_added_and_removed_by_a_changed_config_file(tmp_path):
    make_versions(tmp_path, "a/1", "b/3")
    config = tmp_path / "models.config"
    write_config(config, "a", base=tmp_path)
    configs = model_configs("default", None, str(config))
    manager = ModelManager(configs, poll_wait_seconds=-1, loader=StubLoaded)
    manager.poll_once()
    poller = ModelConfigPoller(manager, lambda: model_configs("default", None, str(config)), 60)
    poller.start(configs)
    try:
        assert poller.poll_once() is False  # unchanged
        write_config(config, "a", "b", base=tmp_path)
        assert poller.poll_once() is True
        assert manager.servable("b").version == 3
        write_config(config, "b", base=tmp_path)
        assert poller.poll_once() is True
        with pytest.raises(ServingError) as caught:
            manager.servable("a")
        assert caught.value.message == "Servable not found for request: Latest(a)"
        assert [s.state for s in manager.version_statuses("a")] == ["END"]
        config.write_text("model_config_list { config { name: ")
        assert poller.poll_once() is False  # a broken file keeps the running config
        assert manager.servable("b").version == 3
        write_config(config, "a", "b", base=tmp_path)
        assert poller.poll_once() is True
        assert manager.servable("a").version == 1
    finally:
        poller.stop()
