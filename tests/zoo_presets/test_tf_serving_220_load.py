"""Stock TF Serving 2.20 can load every preset's export: the exports are loaded in a separate
virtual environment with `tensorflow==2.20.*` and `tensorflow-text==2.20.*` (the versions the
current `tensorflow/serving` image links), through the TF1 `loader.load` path its model server
uses (a session, the MetaGraph tagged "serve", each SignatureDef run by its tensor names, the
tf-text ops registered by `import tensorflow_text`), and give kerattn's in-process outputs.

The environment is built once (pip from PyPI, ~80 s) into `$KERATTN_TF220_VENV` or
`~/.cache/kerattn-tf220`, outside git, and reused while its marker file names the same pins.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import kerattn
from kerattn.export.exporter import export_model
from tests.export.conftest import keras_outputs
from tests.export.test_fresh_process_serving import TF1_SESSION_RUN, assert_same_outputs
from tests.zoo_presets.test_preset_exports import INPUTS

pytestmark = [pytest.mark.slow, pytest.mark.zoo]

PINS = ["tensorflow==2.20.*", "tensorflow-text==2.20.*"]
MARKER = "kerattn-pins.json"

# TF Serving's path (docs/serving.md §11): TF1 session, tag "serve", the SignatureDef's tensor
# names.
TF220_LOADER = (
    TF1_SESSION_RUN
    + """\
print(json.dumps({{"tensorflow": tf.__version__, "tensorflow_text": tensorflow_text.__version__,
                  "kerattn_imported": any(m.startswith("kerattn") for m in sys.modules)}}))
"""
)


def _environment_folder() -> Path:
    default = Path.home() / ".cache" / "kerattn-tf220"
    return Path(os.environ.get("KERATTN_TF220_VENV", default))


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


@pytest.fixture(scope="session")
def tf220_python() -> Path:
    """The TF 2.20 environment's python, built on first use; a lock keeps xdist workers from
    building it twice."""
    folder = _environment_folder()
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        python = folder / "bin" / "python"
        marker = folder / MARKER
        if marker.exists() and json.loads(marker.read_text()) == PINS and python.exists():
            return python
        shutil.rmtree(folder, ignore_errors=True)
        started = time.monotonic()
        for argv in (
            [sys.executable, "-m", "venv", str(folder)],
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PINS],
        ):
            result = subprocess.run(
                argv, check=False, capture_output=True, text=True, timeout=1800, env=_clean_env()
            )
            assert result.returncode == 0, result.stderr[-3000:]
        marker.write_text(json.dumps(PINS))
        print(f"built {folder} in {time.monotonic() - started:.0f} s")
        return python


def _export_with_expected(name: str, base: Path) -> tuple[Path, dict]:
    """A preset's export and kerattn's in-process outputs for every signature it has."""
    preset = kerattn.zoo.get_preset(name)
    model = kerattn.zoo.load(name)
    texts = INPUTS[name]
    if isinstance(model, kerattn.Translator):
        decoding = {"beam_size": 1, "length_penalty": 0.6, **preset.decoding}
        folder = export_model(model, base / name, **decoding)
        greedy = {**decoding, "beam_size": 1}
        expected = {
            "serving_default": keras_outputs(lambda t: model.translate_batch(t, **decoding), texts),
            "greedy": keras_outputs(lambda t: model.translate_batch(t, **greedy), texts),
        }
    else:
        folder = export_model(model, base / name)
        expected = {"serving_default": keras_outputs(model.classify_batch, texts)}
    return folder, expected


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_tf_serving_220_loads_the_preset_export_and_gives_kerattns_outputs(
    name, tf220_python, tmp_path
):
    folder, expected = _export_with_expected(name, tmp_path / "models")
    (tmp_path / "inputs.json").write_text(json.dumps(INPUTS[name]), encoding="utf-8")
    code = TF220_LOADER.format(
        inputs=str(tmp_path / "inputs.json"),
        directory=str(folder),
        signatures=sorted(expected),
        result=str(tmp_path / "loaded.npz"),
    )
    result = subprocess.run(
        [str(tf220_python), "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=_clean_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["tensorflow"].startswith("2.20."), report
    assert report["tensorflow_text"].startswith("2.20."), report
    assert report["kerattn_imported"] is False
    loaded = np.load(tmp_path / "loaded.npz", allow_pickle=True)
    assert_same_outputs(loaded, expected)
    differences = {
        key: float(np.max(np.abs(loaded[f"{signature}/{key}"] - value), initial=0))
        for signature, outputs in expected.items()
        for key, value in outputs.items()
        if value.dtype.kind == "f"
    }
    print(f"{name}: TF {report['tensorflow']}, largest float difference {differences}")
