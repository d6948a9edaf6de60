"""zoo/train_run.sh, the script every v2 preset trains with: a code snapshot, then resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.conftest import write_recipe

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "zoo" / "train_run.sh"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = dict(
        os.environ, KERATTN=str(Path(sys.executable).parent / "kerattn"), NICE="0", **env
    )
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=environment, timeout=600
    )


@pytest.mark.slow  # two kerattn train processes: ~1.5 minutes on 2 loaded cores
def test_a_run_trains_on_a_snapshot_and_resumes_where_it_stopped(tmp_path):
    recipe = write_recipe(tmp_path, "reversal.toml", evaluation={"probes": []})
    run = tmp_path / "run"
    first = _run(str(recipe), str(run), "--max-steps", "2")
    assert first.returncode == 0, first.stderr
    commit = (run / "source" / "COMMIT").read_text().strip()
    # HEAD at launch (compared by content: a commit made meanwhile would move HEAD).
    snapshot = subprocess.run(
        ["git", "show", f"{commit}:kerattn/__init__.py"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    assert (run / "source" / "kerattn" / "__init__.py").read_bytes() == snapshot
    log = (run / "train.log").read_text()
    assert f"code: kerattn of commit {commit}" in log
    assert "kerattn train exited with status 0" in log

    second = _run(str(recipe), str(run), "--max-steps", "4")
    assert second.returncode == 0, second.stderr
    log = (run / "train.log").read_text()
    assert f"--run-dir {run} --resume --max-steps 4" in log
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["checkpoint"]["step"] == 4


def test_missing_arguments_are_a_usage_error():
    result = _run("only-a-recipe.toml")
    assert result.returncode == 2
    assert result.stderr == ("usage: zoo/train_run.sh RECIPE RUN_DIR [kerattn train options...]\n")
