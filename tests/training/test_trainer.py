"""End-to-end training on the toy recipes: run folder, loss, reload, TensorBoard event files,
resume, CLI."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

import kerattn  # noqa: F401  (registers the kerattn classes for load_model)
import kerattn_cli as cli
from kerattn import visualization
from kerattn.data import read_pairs
from kerattn.training import RecipeError, train
from kerattn.training.run_folder import RunFolderConflict
from kerattn.zoo import metrics
from tests.training.conftest import FIXTURES, write_recipe

PROBES = ["a b c d e", "j i h g f e d c b a"]


def _quiet(*args):
    pass


@pytest.fixture(scope="module")
def translator_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("translator")
    recipe = write_recipe(
        directory,
        "reversal.toml",
        training={"steps": 40, "log_every": 5, "checkpoint_every": 20},
        evaluation={"every": 20, "probes": PROBES},
    )
    lines = []
    result = train(recipe, directory / "run", strategy="default", print_function=lines.append)
    return result, lines


def _events(folder):
    accumulator = event_accumulator.EventAccumulator(
        str(folder), size_guidance={event_accumulator.TENSORS: 0}
    )
    accumulator.Reload()
    return accumulator


def test_translator_trains_and_best_model_reloads(translator_run):
    result, lines = translator_run
    run = result.run_dir
    for name in (
        "recipe.toml",
        "best.keras",
        "final.keras",
        "metrics.json",
        "vocabulary/source.txt",
        "vocabulary/target.txt",
        "checkpoints/checkpoint",
    ):
        assert (run / name).exists(), name
    assert result.step == 40 and result.stop_reason == "steps"
    metrics = json.loads((run / "metrics.json").read_text())
    losses = [record["loss"] for record in metrics["training"]]
    assert len(losses) == 8 and losses[-1] < losses[0] - 0.3
    assert [record["step"] for record in metrics["evaluations"]] == [20, 40]
    assert metrics["summary"]["step"] == 40
    assert lines[-1].startswith("done: step 40 (steps)")
    assert any(line.startswith("step 5/40") and "tok/s" in line and "ETA" in line for line in lines)

    model = keras.saving.load_model(run / "best.keras")
    translations = model.translate(PROBES)
    assert all(t.attention.shape == (len(t.tokens), len(t.source_tokens)) for t in translations)
    assert translations[0].source_tokens[:2] == ["a", "b"]


def test_event_files_hold_scalars_heatmaps_and_text(translator_run):
    result, _ = translator_run
    train_events = _events(result.run_dir / "logs" / "train")
    valid_events = _events(result.run_dir / "logs" / "valid")
    train_tags = set(train_events.Tags()["tensors"])
    assert {
        "loss",
        "token_accuracy",
        "learning_rate",
        "gradient_norm",
        "tokens_per_second",
    } <= train_tags
    assert [event.step for event in train_events.Tensors("loss")] == list(range(5, 41, 5))

    valid_tags = set(valid_events.Tags()["tensors"])
    scalars = {
        "loss",
        "token_accuracy",
        "sample_bleu",
        "sample_chrf",
        "attention/entropy",
        "attention/late_source_share",
        "attention/monotonicity",
        "attention/diagonal_deviation",
    }
    assert scalars <= valid_tags, valid_tags
    for tag in scalars:
        events = valid_events.Tensors(tag)
        assert [event.step for event in events] == [20, 40], tag
        assert np.isfinite(tf.make_ndarray(events[0].tensor_proto))

    final = keras.saving.load_model(result.run_dir / "final.keras")
    # Symbol targets: the G2P error rates too, as `kerattn evaluate` computes them on the sample.
    sample = read_pairs(FIXTURES / "reversal" / "valid.tsv")[:32]
    texts = [source for source, _ in sample]
    expected = metrics.g2p_scores(
        {text: t.text for text, t in zip(texts, final.translate(texts))},
        {source: [target] for source, target in sample},
    )
    for name in ("word_error_rate", "phoneme_error_rate"):
        events = valid_events.Tensors(f"sample_{name}")
        assert [event.step for event in events] == [20, 40]
        assert float(tf.make_ndarray(events[-1].tensor_proto)) == pytest.approx(expected[name])
    for index, probe in enumerate(PROBES):
        translation = final.translate(probe)
        events = valid_events.Tensors(f"attention/probe_{index}")
        if not translation.tokens:  # an empty output has no heatmap
            continue
        assert events[-1].step == 40
        width, height, png = tf.make_ndarray(events[-1].tensor_proto)
        assert png.startswith(b"\x89PNG")
        image = tf.io.decode_png(png)
        expected = visualization.heatmap_pixel_size(
            len(translation.source_tokens), len(translation.tokens)
        )
        assert tuple(image.shape[:2]) == expected == (int(height), int(width))

    samples = valid_events.Tensors("samples")
    assert [event.step for event in samples] == [20, 40]
    text = tf.make_ndarray(samples[-1].tensor_proto).item().decode()
    assert "| input | output |" in text and PROBES[0] in text
    valid_samples = tf.make_ndarray(valid_events.Tensors("valid_samples")[-1].tensor_proto)
    assert valid_samples.item().decode().startswith("| input | output | reference |")
    assert "attention/entropy" in valid_events.Tags()["tensors"]  # histograms are tensors too


def test_classifier_run_with_token_batches_and_early_stopping(tmp_path):
    # A learning rate of 1e-30 leaves float32 weights (and so the validation loss) unchanged:
    # the first evaluation is the best, the next `patience` ones do not improve on it.
    recipe = write_recipe(
        tmp_path,
        "reviews.toml",
        optimizer={"learning_rate": 1e-30, "warmup_steps": 0},
        training={"epochs": 5, "log_every": 2, "checkpoint_every": 100},
        evaluation={"every": 2, "patience": 2},
    )
    result = train(recipe, tmp_path / "run", strategy="default", print_function=_quiet)
    assert result.stop_reason == "early_stopping"
    assert result.step == 6 and result.best_step == 2
    assert [record["step"] for record in result.history] == [2, 4, 6]
    events = _events(tmp_path / "run" / "logs" / "valid")
    tags = set(events.Tags()["tensors"])
    assert {
        "loss",
        "accuracy",
        "sample_accuracy",
        "sample_macro_f1",
        "samples",
        "top_tokens",
        "valid_samples",
        "attention/probe_0",
        "attention/entropy",
        "attention/late_source_share",
    } <= tags
    assert "attention/monotonicity" not in tags
    model = keras.saving.load_model(tmp_path / "run" / "best.keras")
    assert model.classify("the acting was great").label in ("pos", "neg")
    assert 0 <= result.history[-1]["accuracy"] <= 1


@pytest.mark.slow
def test_resume_continues_exactly_where_it_stopped(tmp_path):
    # Dropout on: the dropout seed state is part of the checkpoint too.
    recipe = write_recipe(
        tmp_path,
        "reversal.toml",
        model={"dropout": 0.2},
        training={"steps": 12, "log_every": 3, "checkpoint_every": 100},
        evaluation={"every": 100, "probes": ["a b"]},
    )
    first = train(
        recipe, tmp_path / "resumed", max_steps=6, strategy="default", print_function=_quiet
    )
    assert first.step == 6 and first.stop_reason == "max_steps"
    with pytest.raises(RunFolderConflict, match="already has a run's progress .*; pass --resume"):
        train(recipe, tmp_path / "resumed", strategy="default", print_function=_quiet)
    lines = []
    resumed = train(
        recipe, tmp_path / "resumed", resume=True, strategy="default", print_function=lines.append
    )
    assert lines[0].startswith("resumed from step 6")
    straight = train(recipe, tmp_path / "straight", strategy="default", print_function=_quiet)
    assert resumed.step == straight.step == 12

    def log(name):
        return json.loads((tmp_path / name / "metrics.json").read_text())["training"]

    resumed_log, straight_log = log("resumed"), log("straight")
    assert [r["step"] for r in resumed_log] == [r["step"] for r in straight_log] == [3, 6, 9, 12]
    for a, b in zip(resumed_log, straight_log):
        for key in ("loss", "token_accuracy", "learning_rate", "gradient_norm"):
            assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-7), key
    # The whole run's time adds the segments: the first up to its checkpoint (at step 6, when
    # it stopped), then the resumed one.
    assert first.run_seconds >= first.seconds > 0
    assert resumed.run_seconds == pytest.approx(first.run_seconds + resumed.seconds, abs=0.5)
    assert resumed.run_seconds > resumed.seconds
    assert f"whole run {resumed.run_seconds:.1f} s" in lines[-1]
    summary = json.loads((tmp_path / "resumed" / "metrics.json").read_text())["summary"]
    assert summary["run_seconds"] == resumed.run_seconds
    resumed_weights = keras.saving.load_model(tmp_path / "resumed" / "final.keras").get_weights()
    straight_weights = keras.saving.load_model(tmp_path / "straight" / "final.keras").get_weights()
    for a, b in zip(resumed_weights, straight_weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_seed_option_trains_another_start_and_its_run_folder_says_so(tmp_path):
    recipe = write_recipe(
        tmp_path,
        "reversal.toml",
        training={"steps": 4, "log_every": 2, "checkpoint_every": 2},
        evaluation={"every": 100, "probes": ["a b"]},
    )
    train(recipe, tmp_path / "seed0", strategy="default", print_function=_quiet)
    assert (
        cli.main(
            [
                "train",
                str(recipe),
                "--run-dir",
                str(tmp_path / "seed5"),
                "--seed",
                "5",
                "--max-steps",
                "2",
                "--strategy",
                "default",
            ]
        )
        == 0
    )
    copy = (tmp_path / "seed5" / "recipe.toml").read_text()
    assert "seed = 5  # kerattn train --seed 5" in copy
    # Resuming with the same seed matches the copy (no warning) and continues the seed-5 run.
    lines = []
    train(
        recipe,
        tmp_path / "seed5",
        resume=True,
        seed=5,
        strategy="default",
        print_function=lines.append,
    )
    assert not [line for line in lines if "differs" in line]
    straight = train(
        recipe, tmp_path / "straight5", seed=5, strategy="default", print_function=_quiet
    )
    assert straight.step == 4

    def weights(name):
        return keras.saving.load_model(tmp_path / name / "final.keras").get_weights()

    for a, b in zip(weights("seed5"), weights("straight5")):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert any(not np.allclose(a, b) for a, b in zip(weights("seed0"), weights("seed5")))


def test_cli_reports_recipe_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nfamily = "translator"\ncolour = "red"\n')
    assert cli.main(["train", str(bad)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("kerattn train: Unknown key 'colour' in [model]")
    recipe = write_recipe(tmp_path, "reviews.toml")
    assert cli.main(["train", str(recipe), "--run-dir", str(tmp_path / "x"), "--resume"]) == 2
    assert capsys.readouterr().err == (
        f"kerattn train: Run folder {tmp_path / 'x'} has no checkpoint to resume from; train "
        "without --resume to start it.\n"
    )
    assert not (tmp_path / "x").exists()


def test_cli_trains_a_recipe(tmp_path, capsys):
    recipe = write_recipe(
        tmp_path,
        "reviews.toml",
        training={"epochs": 1, "log_every": 50, "checkpoint_every": 100},
        evaluation={"every": 100, "probes": []},
    )
    run = tmp_path / "run"
    assert (
        cli.main(
            [
                "train",
                str(recipe),
                "--run-dir",
                str(run),
                "--max-steps",
                "3",
                "--strategy",
                "default",
                "--logdir",
                str(tmp_path / "tb"),
            ]
        )
        == 0
    )
    output = capsys.readouterr().out
    assert "done: step 3 (max_steps)" in output
    assert (run / "final.keras").is_file() and (tmp_path / "tb" / "valid").is_dir()
    assert not (run / "logs").exists()


def test_translator_without_attention_trains(tmp_path):
    # attention="none" leaves the encoder's annotation projection out of the loss: its
    # gradient is None, and the step must still run (the kernel stays as initialised).
    recipe = write_recipe(
        tmp_path,
        "reversal.toml",
        model={"attention": "none"},
        training={"steps": 3, "log_every": 1, "checkpoint_every": 100},
        evaluation={"every": 3, "probes": ["a b c"]},
    )
    result = train(recipe, tmp_path / "run", strategy="default", print_function=_quiet)
    assert result.step == 3
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    losses = [r["loss"] for r in metrics["training"]]
    assert len(losses) == 3 and all(np.isfinite(losses))
    # No attention, so no heatmaps or attention diagnostics (they would be meaningless zeros);
    # the probe translations are still logged.
    assert not any(name.startswith("attention") for name in metrics["evaluations"][-1])
    tags = _events(tmp_path / "run" / "logs" / "valid").Tags()
    assert tags["images"] == []
    assert "samples" in {tag.split("/")[0] for tag in tags["tensors"]}
    assert not any(tag.startswith("attention") for tag in tags["tensors"])


@pytest.mark.slow
def test_mixed_precision_trains_and_resumes_on_cpu(tmp_path):
    recipe = write_recipe(
        tmp_path,
        "reversal.toml",
        training={"steps": 8, "log_every": 2, "checkpoint_every": 4},
        evaluation={"every": 100, "probes": ["a b c"]},
    )
    first = train(
        recipe,
        tmp_path / "run",
        mixed_precision=True,
        max_steps=4,
        strategy="default",
        print_function=_quiet,
    )
    assert keras.config.dtype_policy().name == "float32"  # the global policy is put back
    resumed = train(
        recipe,
        tmp_path / "run",
        mixed_precision=True,
        resume=True,
        strategy="default",
        print_function=_quiet,
    )
    assert (first.step, resumed.step) == (4, 8)
    log = json.loads((tmp_path / "run" / "metrics.json").read_text())["training"]
    assert [r["step"] for r in log] == [2, 4, 6, 8]
    assert all(np.isfinite(r["loss"]) and np.isfinite(r["gradient_norm"]) for r in log)
    model = keras.saving.load_model(tmp_path / "run" / "final.keras")
    assert model.dtype_policy.name == "mixed_float16"
    assert np.isfinite(model.translate("a b c").attention).all()


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["reviews.toml", "reversal.toml"])
def test_xla_flag_compiles_the_step_or_explains_why_not(tmp_path, fixture):
    # On TF 2.21 the classifier compiles; the translator's decoder scan does not (see trainer).
    recipe = write_recipe(
        tmp_path,
        fixture,
        training={"log_every": 50, "checkpoint_every": 100},
        evaluation={"every": 100, "probes": []},
    )
    try:
        result = train(
            recipe,
            tmp_path / "run",
            xla=True,
            max_steps=2,
            strategy="default",
            print_function=_quiet,
        )
    except RuntimeError as error:
        assert str(error).startswith("--xla: XLA could not compile this model's train step")
    else:
        assert result.step == 2


def test_empty_training_split_is_a_recipe_error(tmp_path):
    (tmp_path / "empty.tsv").write_text("")
    (tmp_path / "valid.tsv").write_text("good film\tpos\nbad film\tneg\n")
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(
        '[model]\nfamily = "classifier"\n[data]\ntrain = "empty.tsv"\n'
        'valid = "valid.tsv"\n[training]\nbatch_size = 4\nsteps = 2\n'
    )
    with pytest.raises(RecipeError, match=r"^\[data\] train file .*empty.tsv has no rows.$"):
        train(recipe, tmp_path / "run", strategy="default", print_function=_quiet)
    assert not (tmp_path / "run").exists()  # checked before anything is written
