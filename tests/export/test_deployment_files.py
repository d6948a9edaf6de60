"""export/: the models.config generator and the compose file (Docker cannot run here: structure)."""

from __future__ import annotations

from pathlib import Path

import pytest

import kerattn_cli as cli
from kerattn.export.model_server_config import (
    model_server_config_text,
    read_model_server_config,
    write_model_server_config,
)

EXPORT_DIR = Path(__file__).resolve().parents[2] / "export"


def parse_compose_yaml(text: str):
    """Parses the YAML subset compose.yaml uses: nested mappings, lists of scalars, quoted or
    plain scalars, comments. Enough to check structure without adding PyYAML."""
    lines = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        lines.append((len(raw) - len(raw.lstrip(" ")), stripped))

    def scalar(value: str):
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            return value[1:-1]
        return value

    def block(index: int, indent: int):
        if lines[index][1].startswith("- "):
            items = []
            while (
                index < len(lines)
                and lines[index][0] == indent
                and lines[index][1].startswith("- ")
            ):
                items.append(scalar(lines[index][1][2:]))
                index += 1
            return items, index
        mapping = {}
        while index < len(lines) and lines[index][0] == indent:
            key, _, value = lines[index][1].partition(":")
            assert not lines[index][1].startswith("- "), lines[index]
            index += 1
            if value.strip():
                mapping[key] = scalar(value)
            else:
                mapping[key], index = block(index, lines[index][0])
        return mapping, index

    document, end = block(0, 0)
    assert end == len(lines), f"unparsed line: {lines[end]}"
    return document


def test_models_config_parses_as_model_server_config(tmp_path):
    models_dir = tmp_path / "export" / "models"
    config_path = write_model_server_config(
        tmp_path / "export" / "models.config",
        {"translator": models_dir / "translator", "classifier": models_dir / "sentiment" / "v"},
    )
    config = read_model_server_config(config_path)
    entries = [(c.name, c.base_path, c.model_platform) for c in config.model_config_list.config]
    assert entries == [
        ("translator", "/models/translator", "tensorflow"),
        ("classifier", "/models/sentiment/v", "tensorflow"),
    ]


def test_models_config_refuses_paths_outside_the_mount_and_bad_names(tmp_path):
    with pytest.raises(ValueError, match="outside"):
        model_server_config_text({"m": tmp_path / "elsewhere"}, tmp_path / "models")
    with pytest.raises(ValueError, match="model name"):
        model_server_config_text({"bad/name": tmp_path / "models" / "x"}, tmp_path / "models")
    with pytest.raises(ValueError, match="at least one"):
        model_server_config_text({}, tmp_path / "models")


def test_cli_writes_the_models_config(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = cli.main(
        ["export", "--models-config", "export/models.config",
         "translator=export/models/translator", "g2p=export/models/g2p"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    config = read_model_server_config(tmp_path / "export" / "models.config")
    assert [c.base_path for c in config.model_config_list.config] == [
        "/models/translator", "/models/g2p"
    ]  # fmt: skip
    assert cli.main(["export", "--models-config", "x.config", "no-equals-sign"]) == 2
    assert "NAME=BASE_PATH" in capsys.readouterr().err


def test_host_paths_are_the_hosts_absolute_base_paths(tmp_path):
    """`mount=None` (`kerattn export --models-config … --host-paths`): absolute host base paths,
    also outside models/, that `kerattn serve --model_config_file` can load."""
    (tmp_path / "export" / "models" / "translator" / "1").mkdir(parents=True)
    (tmp_path / "elsewhere" / "g2p").mkdir(parents=True)
    written = write_model_server_config(
        tmp_path / "export" / "host.config",
        {
            "translator": tmp_path / "export" / "models" / "translator",
            "g2p": tmp_path / "elsewhere" / ".." / "elsewhere" / "g2p",
        },
        mount=None,
    )
    assert "Base paths are this host's absolute paths (--host-paths)." in written.read_text()
    config = read_model_server_config(written)
    assert [c.base_path for c in config.model_config_list.config] == [
        str((tmp_path / "export" / "models" / "translator").resolve()),
        str((tmp_path / "elsewhere" / "g2p").resolve()),
    ]  # fmt: skip
    assert all(Path(c.base_path).is_dir() for c in config.model_config_list.config)


def test_checked_in_models_config_parses():
    config = read_model_server_config(EXPORT_DIR / "models.config")
    for model in config.model_config_list.config:
        assert model.base_path.startswith("/models/") and model.model_platform == "tensorflow"


def test_compose_file_runs_pinned_tf_serving_with_config_warmup_and_tensorboard():
    compose = parse_compose_yaml((EXPORT_DIR / "compose.yaml").read_text(encoding="utf-8"))
    serving = compose["services"]["serving"]
    image, _, tag = serving["image"].partition(":")
    assert image == "tensorflow/serving" and tag.startswith("2.") and tag != "latest"
    assert tag.count(".") == 2 and "gpu" not in tag  # pinned, CPU image
    assert set(serving["ports"]) == {"8500:8500", "8501:8501"}
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in serving["volumes"]}
    assert mounts["/models"] == "./models"
    assert mounts["/config/models.config"] == "./models.config"
    assert (EXPORT_DIR / mounts["/config/models.config"]).is_file()
    assert "--model_config_file=/config/models.config" in serving["command"]
    assert "--enable_model_warmup=true" in serving["command"]
    tensorboard = compose["services"]["tensorboard"]
    assert tensorboard["image"].split(":")[0] in {"tensorflow/tensorflow", "tensorflow/tensorboard"}
    assert "6006:6006" in tensorboard["ports"]
    assert any(volume.endswith(":/runs:ro") for volume in tensorboard["volumes"])
    assert "--logdir=/runs" in " ".join(tensorboard["command"])


def test_readme_documents_the_deployment():
    readme = (EXPORT_DIR / "README.md").read_text(encoding="utf-8")
    for needle in (
        "kerattn export",
        "saved_model_cli show",
        "signature_def['serving_default']",
        '{"instances": ["Turn off the lights"]}',
        "PredictionServiceStub",
        "make_tensor_proto",
        "kerattn_export.json",
        "tf_serving_warmup_requests",
    ):
        assert needle in readme, needle
