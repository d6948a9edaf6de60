"""Version discovery, policies, labels, hot reload and load failures (docs/serving.md §2)."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from kerattn.serving.model_manager import (
    ModelConfig,
    ModelManager,
    discover_versions,
    model_configs_from_proto,
)
from kerattn.serving.serving_error import ServingError
from tests.serving.conftest import rest_client


class StubLoaded:
    def __init__(self, name, version, path):
        if (path / "broken").exists():
            raise ValueError("cannot load this one")
        self.model_name, self.version, self.path = name, version, path


def make_versions(base, *names):
    for name in names:
        (base / name).mkdir(parents=True)


def test_discovery_parses_like_simple_atoi(tmp_path):
    make_versions(tmp_path, "00000123", "7", "tmp", "1.partial", "-3", ".kerattn-export-x")
    (tmp_path / "9").write_text("a file still counts")
    assert sorted(discover_versions(tmp_path)) == [-3, 7, 9, 123]


def test_duplicate_numbers_one_wins(tmp_path):
    make_versions(tmp_path, "1", "001")
    assert list(discover_versions(tmp_path)) == [1]


@pytest.mark.parametrize(
    "config, expected",
    [
        (ModelConfig("m", "."), [5]),
        (ModelConfig("m", ".", num_versions=2), [5, 3]),
        (ModelConfig("m", ".", policy="all"), [5, 3, 1]),
        (ModelConfig("m", ".", policy="specific", versions=(1, 4)), [1]),
    ],
)
def test_policies(tmp_path, config, expected):
    make_versions(tmp_path, "1", "3", "5")
    manager = ModelManager(
        [ModelConfig(**{**config.__dict__, "base_path": str(tmp_path)})], loader=StubLoaded
    )
    manager.poll_once()
    statuses = manager.version_statuses("m")
    assert [s.version for s in statuses if s.state == "AVAILABLE"] == expected
    assert manager.servable("m").version == max(expected)


def test_new_version_loaded_then_old_unloaded_and_rollback(tmp_path):
    make_versions(tmp_path, "1")
    manager = ModelManager([ModelConfig("m", str(tmp_path))], loader=StubLoaded)
    manager.poll_once()
    make_versions(tmp_path, "2")
    manager.poll_once()
    assert manager.servable("m").version == 2
    assert [(s.version, s.state) for s in manager.version_statuses("m")] == [
        (2, "AVAILABLE"),
        (1, "END"),
    ]
    with pytest.raises(ServingError, match=r"Specific\(m, 1\)"):
        manager.servable("m", version=1)
    # Removing the newest folder makes the previous one aspired again.
    shutil.rmtree(tmp_path / "2")
    manager.poll_once()
    assert manager.servable("m").version == 1


def test_broken_version_keeps_previous_serving(tmp_path):
    make_versions(tmp_path, "1", "2")
    (tmp_path / "2" / "broken").mkdir()
    manager = ModelManager([ModelConfig("m", str(tmp_path))], loader=StubLoaded)
    manager.poll_once()
    # Version 2 was aspired and failed; 1 is not aspired, so nothing serves (as TF Serving).
    assert manager.unavailable_models() == {"m": "ValueError: cannot load this one"}
    shutil.rmtree(tmp_path / "2")
    manager.poll_once()
    assert manager.servable("m").version == 1
    make_versions(tmp_path, "3")
    (tmp_path / "3" / "broken").mkdir()
    manager.poll_once()
    assert manager.servable("m").version == 1
    failed = manager.version_statuses("m", 3)[0]
    assert (failed.state, failed.error_code, failed.error_message) == (
        "END",
        "UNKNOWN",
        "ValueError: cannot load this one",
    )


def test_failed_load_is_retried_a_limited_number_of_times(tmp_path):
    make_versions(tmp_path, "1", "2")
    (tmp_path / "2" / "broken").mkdir()
    attempts = []

    def loader(name, version, path):
        attempts.append(version)
        return StubLoaded(name, version, path)

    manager = ModelManager(
        [ModelConfig("m", str(tmp_path))],
        loader=loader,
        max_load_retries=2,
        load_retry_interval_seconds=0,
    )
    for _ in range(5):
        manager.poll_once()
    assert attempts == [2, 2, 2]  # the first attempt and two retries
    # A partially written version that becomes loadable is picked up by a retry.
    attempts.clear()
    manager = ModelManager(
        [ModelConfig("m", str(tmp_path))], loader=loader, load_retry_interval_seconds=3600
    )
    manager.poll_once()
    manager.poll_once()
    assert attempts == [2]  # the retry interval has not passed
    manager.load_retry_interval_seconds = 0
    (tmp_path / "2" / "broken").rmdir()
    manager.poll_once()
    assert manager.servable("m").version == 2
    assert manager.version_statuses("m", 2)[0].error_code == "OK"


def test_labels_and_lookup_errors(tmp_path):
    make_versions(tmp_path, "1", "2")
    manager = ModelManager(
        [ModelConfig("m", str(tmp_path), policy="all", labels={"stable": 1, "canary": 2})],
        loader=StubLoaded,
    )
    manager.poll_once()
    assert manager.servable("m", label="stable").version == 1
    assert manager.servable("m", label="canary").version == 2
    with pytest.raises(ServingError, match="Unrecognized servable version label: beta") as error:
        manager.servable("m", label="beta")
    assert error.value.http_status == 400
    with pytest.raises(ServingError, match=r"Latest\(x\)") as error:
        manager.servable("x")
    assert error.value.http_status == 404


def test_missing_base_path_and_empty_base_path(tmp_path):
    manager = ModelManager(
        [ModelConfig("m", str(tmp_path / "missing")), ModelConfig("n", str(tmp_path))],
        loader=StubLoaded,
    )
    manager.poll_once()
    assert set(manager.unavailable_models()) == {"m", "n"}
    with pytest.raises(ServingError, match="Could not find any versions of model m"):
        manager.version_statuses("m")


def test_polling_thread_picks_up_new_versions(tmp_path):
    make_versions(tmp_path, "1")
    manager = ModelManager(
        [ModelConfig("m", str(tmp_path))], poll_wait_seconds=0.05, loader=StubLoaded
    )
    manager.start()
    try:
        make_versions(tmp_path, "2")
        deadline = time.monotonic() + 10
        while manager.servable("m").version != 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert manager.servable("m").version == 2
    finally:
        manager.stop()


def test_concurrent_polls_and_lookups_are_safe(tmp_path):
    make_versions(tmp_path, *[str(v) for v in range(1, 6)])
    manager = ModelManager([ModelConfig("m", str(tmp_path), num_versions=2)], loader=StubLoaded)
    errors = []

    def work():
        try:
            for _ in range(20):
                manager.poll_once()
                manager.version_statuses("m")
                manager.servable("m")
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    manager.poll_once()
    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert [s.version for s in manager.version_statuses("m") if s.state == "AVAILABLE"] == [5, 4]


def test_configs_from_model_server_config_text():
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    text = """model_config_list { config { name: 'a' base_path: '/m/a'
      model_version_policy { specific { versions: 42 versions: 43 } }
      version_labels { key: 'stable' value: 42 } }
      config { name: 'b' base_path: '/m/b' } }"""
    message = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    a, b = model_configs_from_proto(message)
    assert (a.policy, a.versions, a.labels) == ("specific", (42, 43), {"stable": 42})
    assert (b.policy, b.num_versions) == ("latest", 1)


def test_server_hot_reload_with_real_saved_models(toy_model_dir, tmp_path):
    """Version 2 added while serving is served after a poll and version 1 unloaded; a broken
    version 3 is reported in status while 2 keeps serving."""
    shutil.copytree(toy_model_dir, tmp_path / "1")
    manager = ModelManager([ModelConfig("toy", str(tmp_path))], poll_wait_seconds=-1)
    manager.poll_once()
    with rest_client(manager, num_threads=2) as client:
        assert client.get("/v1/models/toy/metadata").json()["model_spec"]["version"] == "1"
        shutil.copytree(toy_model_dir, tmp_path / "2")
        manager.poll_once()
        assert client.post("/v1/models/toy:predict", {"instances": [1.0]}).json() == {
            "predictions": [3.0]
        }
        assert client.get("/v1/models/toy/metadata").json()["model_spec"]["version"] == "2"
        assert client.post("/v1/models/toy/versions/1:predict", {"instances": [1.0]}).status == 404
        (tmp_path / "3").mkdir()
        (tmp_path / "3" / "saved_model.pb").write_bytes(b"not a protobuf")
        manager.poll_once()
        statuses = client.get("/v1/models/toy").json()["model_version_status"]
        assert [(s["version"], s["state"]) for s in statuses] == [
            ("3", "END"),
            ("2", "AVAILABLE"),
            ("1", "END"),
        ]
        assert statuses[0]["status"]["error_code"] != "OK"
        assert statuses[0]["status"]["error_message"]
        assert statuses[1]["status"] == {"error_code": "OK", "error_message": ""}
        assert client.post("/v1/models/toy:predict", {"instances": [2.0]}).json() == {
            "predictions": [5.0]
        }
