"""The attention plugin's backend routes on real event files: `log_attention` in a real
tf.summary writer, read back through TensorBoard's own data provider and WSGI routes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_provider as event_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from werkzeug.test import Client

from kerattn.tensorboard_plugin import metadata
from kerattn.tensorboard_plugin.plugin import AttentionPlugin
from kerattn.visualization import log_attention

SOURCE = ["Save", "the", "document", "as", "PDF", ".", "[END]"]
TARGETS = {10: ["Guarde", "el", "el", "."], 20: ["Guarde", "el", "documento", "como", "PDF", "."]}


def _alignment(rows: int, columns: int, seed: int) -> np.ndarray:
    weights = np.random.default_rng(seed).random((rows, columns)).astype(np.float32)
    return weights / weights.sum(axis=1, keepdims=True)  # (T, S), rows sum to 1


def _write_logs(logdir):
    """valid: a translator probe at two steps (its output changes) and a classifier probe;
    old: only a PNG-style image under the old tag; returns what was logged."""
    logged = {}
    with tf.summary.create_file_writer(str(logdir / "valid")).as_default():
        for step, target in TARGETS.items():
            weights = _alignment(len(target), len(SOURCE), step)
            log_attention(
                "attention/probe_0",
                SOURCE,
                weights,
                target,
                step=step,
                text="Save the document as PDF.",
            )
            logged[step] = weights
            log_attention(
                "attention/probe_1",
                ["a", "great", "film"],
                [0.1, 0.7, 0.2],
                ["positive"],
                step=step,
                text="a great film",
            )
    with tf.summary.create_file_writer(str(logdir / "old")).as_default():
        tf.summary.image("attention/probe_0", tf.zeros([1, 4, 4, 3]), step=1)
    return logged


def _client(logdir) -> Client:
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        tensor_size_guidance={metadata.PLUGIN_NAME: 0}
    )
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    context = base_plugin.TBContext(
        logdir=str(logdir),
        multiplexer=multiplexer,
        data_provider=event_data_provider.MultiplexerDataProvider(multiplexer, str(logdir)),
    )
    # TensorBoard's own WSGI application: its routing, error handling and experiment ids.
    return Client(
        application.TensorBoardWSGI([AttentionPlugin(context)], data_provider=context.data_provider)
    )


ROUTES = "/data/plugin/attention"


def _get_json(client: Client, path: str, **query):
    response = client.get(ROUTES + path, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.get_data(as_text=True))


def test_runs_lists_probes_and_old_image_only_runs(tmp_path):
    _write_logs(tmp_path)
    listing = _get_json(_client(tmp_path), "/runs")
    assert [run["run"] for run in listing["runs"]] == ["valid"]
    probes = {probe["name"]: probe for probe in listing["runs"][0]["probes"]}
    assert probes["attention/probe_0"]["kind"] == "alignment"
    assert probes["attention/probe_0"]["text"] == "Save the document as PDF."
    assert probes["attention/probe_0"]["max_step"] == 20
    assert probes["attention/probe_1"]["kind"] == "token_weights"
    assert "Save the document as PDF." in probes["attention/probe_0"]["description"]
    assert listing["image_only_runs"] == ["old"]
    assert listing["unreadable"] == []


def test_probe_returns_what_was_logged_at_every_step(tmp_path):
    logged = _write_logs(tmp_path)
    answer = _get_json(_client(tmp_path), "/probe", run="valid", name="attention/probe_0")
    assert answer["kind"] == "alignment"
    assert [step["step"] for step in answer["steps"]] == [10, 20]
    for step in answer["steps"]:
        assert step["source_tokens"] == SOURCE
        assert step["target_tokens"] == TARGETS[step["step"]]
        np.testing.assert_array_equal(np.array(step["weights"], np.float32), logged[step["step"]])
        assert set(step["diagnostics"]) == {
            "entropy",
            "late_source_share",
            "monotonicity",
            "diagonal_deviation",
        }


def test_classifier_probe_has_token_weights(tmp_path):
    _write_logs(tmp_path)
    answer = _get_json(_client(tmp_path), "/probe", run="valid", name="attention/probe_1")
    step = answer["steps"][-1]
    assert answer["kind"] == "token_weights"
    assert step["source_tokens"] == ["a", "great", "film"]
    assert step["target_tokens"] == ["positive"]
    np.testing.assert_allclose(step["weights"], [0.1, 0.7, 0.2], rtol=1e-6)
    assert set(step["diagnostics"]) == {"entropy", "late_source_share"}


def test_empty_logdir_and_unknown_probe(tmp_path):
    client = _client(tmp_path)
    assert _get_json(client, "/runs") == {"runs": [], "image_only_runs": [], "unreadable": []}
    assert (
        client.get(ROUTES + "/probe", query_string={"run": "valid", "name": "nope"}).status_code
        == 404
    )


def test_frontend_files_are_served_as_modules(tmp_path):
    client = _client(tmp_path)
    for path in ("/index.js", "/static/heatmap.js", "/static/charts.js"):
        response = client.get(ROUTES + path)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/javascript")
    assert b"export async function render" in client.get(ROUTES + "/index.js").get_data()
    assert client.get(ROUTES + "/static/style.css").headers["Content-Type"].startswith("text/css")
    assert client.get(ROUTES + "/static/plugin.py").status_code == 404


def test_log_attention_rejects_a_matrix_of_the_wrong_shape(tmp_path):
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        with pytest.raises(ValueError, match=r"shape \(2, 3\).*received \(3, 2\)"):
            log_attention("probe", ["a", "b", "c"], np.ones((3, 2)), ["x", "y"], step=0)


def test_log_attention_without_a_writer_writes_nothing():
    assert log_attention("probe", ["a"], [1.0], step=0) is False


def test_the_entry_point_names_the_loader():
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group="tensorboard_plugins") if e.name == "attention"]
    assert issubclass(entry.load(), base_plugin.TBLoader)


def test_a_toy_training_run_and_evaluate_log_probes_for_the_dashboard(tmp_path, capsys):
    """A real `train` run: every evaluation's probe comes back through the plugin, tokens on
    both axes and one weight per (output, source) pair, rows summing to 1."""
    from kerattn.training import train
    from tests.training.conftest import write_recipe

    probe = "a b c d e"
    recipe = write_recipe(
        tmp_path,
        "reversal.toml",
        training={"steps": 40, "log_every": 10, "checkpoint_every": 100},
        evaluation={"every": 20, "probes": [probe]},
    )
    train(recipe, tmp_path / "run", strategy="default", print_function=lambda *a: None)
    client = _client(tmp_path / "run" / "logs")
    listing = _get_json(client, "/runs")
    assert [(run["run"], [p["name"] for p in run["probes"]]) for run in listing["runs"]] == [
        ("valid", ["attention/probe_0"])
    ]
    answer = _get_json(client, "/probe", run="valid", name="attention/probe_0")
    assert answer["text"] == probe and answer["kind"] == "alignment"
    steps = [step["step"] for step in answer["steps"]]
    assert steps and steps[-1] == 40 and steps == sorted(steps)
    last = answer["steps"][-1]
    weights = np.array(last["weights"], np.float32)  # (T, S)
    assert weights.shape == (len(last["target_tokens"]), len(last["source_tokens"]))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)
    assert last["source_tokens"][:5] == probe.split()

    # `kerattn evaluate --log-dir`: the first test inputs' attention at step 0.
    from kerattn.data.tsv import read_pairs
    from kerattn.training import command
    from tests.training.conftest import FIXTURES

    test_file = FIXTURES / "reversal" / "test.tsv"
    assert (
        command.evaluate_command(
            tmp_path / "run" / "best.keras",
            test_file,
            task="translation",
            log_dir=tmp_path / "evaluation",
            probes=2,
        )
        == 0
    )
    client = _client(tmp_path)
    probes = {
        p["name"]: p
        for run in _get_json(client, "/runs")["runs"]
        if run["run"] == "evaluation"
        for p in run["probes"]
    }
    texts = [source for source, _ in read_pairs(test_file)[:2]]
    logged = [name for name in ("attention/probe_0", "attention/probe_1") if name in probes]
    assert logged, probes  # an empty output has no attention to log
    for name in logged:
        index = int(name.rsplit("_", 1)[1])
        assert probes[name]["text"] == texts[index] and probes[name]["max_step"] == 0
