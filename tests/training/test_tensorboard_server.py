"""A real `tensorboard` process serves a finished run's scalars, heatmaps and text."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kerattn.training import train
from tests.conftest import free_port
from tests.training.conftest import write_recipe

pytestmark = pytest.mark.slow


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _poll(url: str, ready, timeout: float = 180.0):
    """GETs `url` until `ready(json)` holds; returns that json."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            last = _get_json(url)
            if ready(last):
                return last
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} not ready after {timeout} s; last answer {last!r}")


def test_tensorboard_serves_the_run(tmp_path):
    recipe = write_recipe(
        tmp_path,
        "reversal.toml",
        training={"steps": 40, "log_every": 10, "checkpoint_every": 100},
        evaluation={"every": 20, "probes": ["a b c d e"]},
    )
    # 40 steps: enough for the probe to get a non-empty output, hence a heatmap.
    train(recipe, tmp_path / "run", strategy="default", print_function=lambda *a: None)
    logdir = tmp_path / "run" / "logs"
    port = free_port()
    tensorboard = Path(sys.executable).with_name("tensorboard")
    process = subprocess.Popen(
        [str(tensorboard), "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}/data/plugin"
        scalars = _poll(f"{base}/scalars/tags", lambda tags: {"train", "valid"} <= set(tags))
        assert {"loss", "learning_rate", "gradient_norm", "tokens_per_second"} <= set(
            scalars["train"]
        )
        assert {"loss", "token_accuracy", "sample_bleu", "sample_chrf"} <= set(scalars["valid"])
        text = _poll(f"{base}/text/tags", lambda tags: "valid" in tags)
        assert "samples" in text["valid"]
        images = _get_json(f"{base}/images/tags")
        assert "attention/probe_0" in images["valid"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
