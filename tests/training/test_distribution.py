"""MirroredStrategy over two logical CPU devices trains like one device on the same data.

Logical devices must be configured before TensorFlow initialises its devices, so the runs
happen in a fresh interpreter."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import free_port, run_fresh_python

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
        single["evaluations"][-1]["loss"], rel=1e-5
    )
    assert report["max_weight_difference"] < 1e-5


_WORKER_CODE = textwrap.dedent(
    """
    import json, os, sys
    sys.path.insert(0, {root!r})
    if {workers!r}:
        os.environ["TF_CONFIG"] = json.dumps({{"cluster": {{"worker": {workers!r}}},
                                              "task": {{"type": "worker", "index": {index}}}}})
    from pathlib import Path
    import keras, numpy as np
    from kerattn.training import train
    from tests.training.conftest import write_recipe

    directory = Path({directory!r})
    (directory / "recipe-{index}").mkdir()
    recipe = write_recipe(directory / "recipe-{index}", "reversal.toml",
                          training={{"steps": 8, "log_every": 2, "checkpoint_every": 4}},
                          evaluation={{"every": 4, "probes": ["a b c"]}})
    lines = []
    train(recipe, directory / "worker-{index}", strategy="{strategy}", print_function=lines.append)
    run = directory / "worker-{index}"
    report = {{"start": next(line for line in lines if line.startswith("training ")),
              "end": lines[-1],
              "files": sorted(p.name for p in run.iterdir()) if run.exists() else []}}
    if (run / "metrics.json").exists():
        metrics = json.loads((run / "metrics.json").read_text())
        report.update(training=metrics["training"], evaluations=metrics["evaluations"],
                      replicas=metrics["summary"]["replicas"])
        report["weights"] = [w.tolist() for w in
                             keras.saving.load_model(run / "final.keras").get_weights()]
    print("REPORT " + json.dumps(report))
    """
)


def test_two_worker_cluster_on_loopback_matches_one_device(tmp_path):
    # Two processes form a MultiWorkerMirroredStrategy cluster over gRPC on 127.0.0.1 (what
    # TF_CONFIG on two machines does); a third trains the same recipe on one device.
    root = str(Path(__file__).parents[2])
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")

    def start(index, strategy):
        code = _WORKER_CODE.format(
            root=root, workers=workers, index=index, directory=str(tmp_path), strategy=strategy
        )
        return subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    processes = [start(0, "auto"), start(1, "auto")]
    try:
        # A hang guard, not a speed check: 2 minutes alone, past 10 when the slow tier's other
        # worker trains a preset on the same 2 cores.
        outputs = [process.communicate(timeout=1800) for process in processes]
    finally:
        for process in processes:
            process.kill()  # a worker whose peer died waits forever; no-op once finished
    for process, (_, err) in zip(processes, outputs):
        assert process.returncode == 0, err[-3000:]
    reports = [json.loads(out.split("REPORT ", 1)[1]) for out, _ in outputs]
    chief, other = reports
    single = json.loads(
        run_fresh_python(
            _WORKER_CODE.format(
                root=root, workers=None, index=2, directory=str(tmp_path), strategy="default"
            ),
            timeout=600,
        ).split("REPORT ", 1)[1]
    )

    assert "on 2 replica(s) [CollectiveAllReduceStrategy]" in chief["start"]
    assert chief["replicas"] == 2 and single["replicas"] == 1
    # Only the chief (worker 0) writes: checkpoints, logs, models, metrics.
    assert {"best.keras", "final.keras", "checkpoints", "logs", "metrics.json"} <= set(
        chief["files"]
    )
    assert other["files"] == []
    assert other["end"].endswith("the chief wrote the run folder")
    assert [r["step"] for r in chief["training"]] == [2, 4, 6, 8]
    for a, b in zip(chief["training"], single["training"], strict=True):
        for key in ("loss", "token_accuracy", "gradient_norm", "learning_rate"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
    for a, b in zip(chief["evaluations"], single["evaluations"], strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    for a, b in zip(chief["weights"], single["weights"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
