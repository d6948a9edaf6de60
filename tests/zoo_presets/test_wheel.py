"""The presets ship inside the wheel: build it, install it into a fresh virtual environment
outside the repository, and run `kerattn translate` and `kerattn classify` from there.

No network: the fresh environment installs only the wheel (`--no-deps --no-index`) and sees
the test environment's dependencies through a path file, which does not activate that
environment's editable install of kerattn, so the installed wheel is what runs.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

import kerattn

pytestmark = pytest.mark.zoo

REPO = Path(__file__).resolve().parents[2]


def _run(argv, cwd, **kwargs) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, **kwargs
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


# What a build never needs; everything else is copied, so the copy builds what the checkout would.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "runs",
    "corpora",
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The fresh environment's bin folder, with the wheel installed.

    The wheel is built from a copy of the checkout: setuptools writes a `build/` folder into the
    source tree, and pytest-xdist runs this module-scoped fixture once per worker, so two builds
    in the checkout itself would race on that folder (and the checkout should not gain files).
    """
    source = tmp_path_factory.mktemp("source") / "kerattn"
    shutil.copytree(REPO, source, symlinks=True, ignore=_NOT_SOURCE)
    wheels = tmp_path_factory.mktemp("wheels")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
        ],
        cwd=wheels,
    )
    (wheel,) = wheels.glob("kerattn-*.whl")
    root = tmp_path_factory.mktemp("fresh")
    venv.create(root / "env", with_pip=False)
    bin_dir = root / "env" / "bin"
    fresh_site = Path(
        _run(
            [
                str(bin_dir / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ],
            cwd=root,
        ).strip()
    )
    dependencies = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    (fresh_site / "test_dependencies.pth").write_text("\n".join(sorted(dependencies)) + "\n")
    _run(
        [
            str(bin_dir / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        cwd=root,
    )
    return bin_dir


def test_installed_kerattn_is_the_wheel(installed):
    location = _run(
        [str(installed / "python"), "-c", "import kerattn; print(kerattn.__file__)"],
        cwd=installed.parent,
    ).strip()
    assert Path(location).is_relative_to(installed.parent)


def test_translate_and_classify_from_the_installed_wheel(installed):
    text = "Turn off the lights"
    out = _run([str(installed / "kerattn"), "translate", text], cwd=installed.parent)
    expected = kerattn.zoo.load("translator_en_es").translate(
        text, **kerattn.zoo.get_preset("translator_en_es").decoding
    )
    assert out == expected.text + "\n"

    review = "A wonderful film with superb acting."
    out = _run([str(installed / "kerattn"), "classify"], cwd=installed.parent, input=review)
    result = kerattn.zoo.load("sentiment_en").classify(review)
    assert out == f"{result.label}\t{result.probabilities[result.label]:.4f}\n"
