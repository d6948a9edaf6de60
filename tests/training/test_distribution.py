"""MirroredStrategy over two logical CPU devices trains like one device on the same data.

Logical devices must be configured before TensorFlow initialises its devices, so the runs
happen in a fresh interpreter."""

import json
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_fresh_python

pytestmark = pytest.mark.slow

_CODE = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {root!r})
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from pathlib import Path
    import numpy as np, keras
    import kerattn
    from kerattn.training import train
    from kerattn.training.distribution import choose_strategy
    from tests.training.conftest import write_recipe

    directory = Path({directory!r})
    recipe = write_recipe(directory, "reversal.toml",
                          training={{"steps": 8, "log_every": 2, "checkpoint_every": 100}},
                          evaluation={{"every": 100, "probes": ["a b c"]}})
    report = {{"auto": type(choose_strategy("auto")).__name__}}
    weights = {{}}
    for name in ("mirrored", "default"):
        train(recipe, directory / name, strategy=name, print_function=lambda *a: None)
        metrics = json.loads((directory / name / "metrics.json").read_text())
        report[name] = {{key: metrics[key] for key in ("training", "evaluations")}}
        report[name]["replicas"] = metrics["summary"]["replicas"]
        weights[name] = keras.saving.load_model(directory / name / "final.keras").get_weights()
    report["max_weight_difference"] = max(
        float(np.abs(a - b).max()) for a, b in zip(weights["mirrored"], weights["default"]))
    print("REPORT " + json.dumps(report))
    """
)


def test_mirrored_strategy_matches_one_device(tmp_path):
    code = _CODE.format(directory=str(tmp_path), root=str(Path(__file__).parents[2]))
    output = run_fresh_python(code, timeout=600)
    report = json.loads(output.split("REPORT ", 1)[1])
    assert report["auto"] == "MirroredStrategy"  # two visible CPUs: mirrored by default
    mirrored, single = report["mirrored"], report["default"]
    assert (mirrored["replicas"], single["replicas"]) == (2, 1)
    assert [r["step"] for r in mirrored["training"]] == [2, 4, 6, 8]
    for a, b in zip(mirrored["training"], single["training"]):
        for key in ("loss", "token_accuracy", "gradient_norm", "learning_rate"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), key
    assert mirrored["evaluations"][-1]["loss"] == pytest.approx(
        single["evaluations"][-1]["loss"], rel=1e-5)
    assert report["max_weight_difference"] < 1e-5


_MULTI_WORKER_CODE = textwrap.dedent(
    """
    import json, os, sys
    sys.path.insert(0, {root!r})
    from tests.conftest import free_port
    port = free_port()
    os.environ["TF_CONFIG"] = json.dumps({{"cluster": {{"worker": [f"127.0.0.1:{{port}}"]}},
                                          "task": {{"type": "worker", "index": 0}}}})
    from pathlib import Path
    from kerattn.training import train
    from tests.training.conftest import write_recipe

    directory = Path({directory!r})
    recipe = write_recipe(directory, "reviews.toml",
                          training={{"epochs": 1, "log_every": 2, "checkpoint_every": 100}},
                          evaluation={{"every": 100, "probes": ["a great film"]}})
    lines = []
    result = train(recipe, directory / "run", max_steps=4, print_function=lines.append)
    print("REPORT " + json.dumps({{"step": result.step, "first_line": lines[0],
                                  "files": sorted(p.name for p in (directory / "run").iterdir())}}))
    """
)


def test_tf_config_selects_multi_worker_strategy(tmp_path):
    # A one-worker cluster on localhost: the multi-worker code path (collective all-reduce,
    # chief-only files) without a second machine.
    output = run_fresh_python(
        _MULTI_WORKER_CODE.format(directory=str(tmp_path), root=str(Path(__file__).parents[2])),
        timeout=600,
    )
    report = json.loads(output.split("REPORT ", 1)[1])
    assert report["step"] == 4
    assert "[CollectiveAllReduceStrategy]" in report["first_line"]  # MultiWorkerMirroredStrategy
    assert {"best.keras", "final.keras", "checkpoints", "logs", "metrics.json"} <= set(
        report["files"])
