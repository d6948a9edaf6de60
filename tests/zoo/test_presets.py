"""Presets: writing, listing and loading them, and the `zoo`/`translate`/`classify` commands.

Runs on tiny untrained presets written into a temporary zoo, so it needs no trained weights;
the shipped presets are checked by the `zoo` tier (tests/zoo_presets).
"""

from __future__ import annotations

import io
import json
import sys
import zipfile

import keras
import numpy as np
import pytest

import kerattn
import kerattn_cli as cli
from kerattn.zoo import packaging, presets
from kerattn.zoo.model_loading import ModelLoadError, load_model
from tests.zoo.conftest import ENGLISH, tiny_classifier, tiny_translator

REVIEWS = ["a great film", "boring", "great acting and a fine story"]


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory, english_tokenizer, spanish_tokenizer, review_tokenizer):
    """A zoo with a tiny translator, a tiny classifier and a folder still in training."""
    root = tmp_path_factory.mktemp("zoo")
    runs = tmp_path_factory.mktemp("runs")
    for name, model in (
        ("translator", tiny_translator(english_tokenizer, spanish_tokenizer)),
        ("classifier", tiny_classifier(review_tokenizer)),
    ):
        (runs / name).mkdir()
        model.save(runs / name / "best.keras")
        summary = {"step": 10, "best_step": 8, "seconds": 1.5, "replicas": 1, "xla": False}
        (runs / name / "metrics.json").write_text(json.dumps({"summary": summary}))
    packaging.write_preset(
        runs / "translator",
        root / "tiny_translator",
        task="translation",
        description="a tiny English to Spanish translator",
        license="test",
        data="fixture",
        evaluation={"metrics": {"bleu": 1.5, "chrf": 12.25}},
        evaluation_command="kerattn ...",
        probe=ENGLISH[0],
        decoding={"beam_size": 2},
        headline_metrics=("bleu", "chrf"),
    )
    calibrated = keras.saving.load_model(runs / "classifier" / "best.keras")
    calibrated.temperature = 1.75  # what `kerattn calibrate` writes, packaged instead of best
    calibrated.save(runs / "classifier" / "calibrated.keras")
    packaging.write_preset(
        runs / "classifier",
        root / "tiny_classifier",
        model=runs / "classifier" / "calibrated.keras",
        task="classification",
        description="a tiny sentiment classifier",
        license="test",
        data="fixture",
        evaluation={"metrics": {"accuracy": 0.5, "macro_f1": 0.25}},
        evaluation_command="kerattn ...",
        probe=REVIEWS[0],
        headline_metrics=("accuracy",),
    )
    (root / "training_still").mkdir()
    (root / "training_still" / "recipe.toml").write_text("[model]\n")
    return root


@pytest.fixture(autouse=True)
def _use_zoo(zoo_dir, monkeypatch):
    monkeypatch.setattr(presets, "PRESETS_DIR", zoo_dir)


def test_list_shows_complete_presets_only():
    found = kerattn.zoo.list()
    assert [p.name for p in found] == ["tiny_classifier", "tiny_translator"]
    translator = found[1]
    assert translator.task == "translation"
    assert translator.metrics == {"bleu": 1.5, "chrf": 12.25}
    assert translator.decoding == {"beam_size": 2}
    assert translator.metadata["family"] == "Translator"


def test_written_preset_has_no_optimizer_state_and_counts_parameters(zoo_dir):
    folder = zoo_dir / "tiny_translator"
    metadata = json.loads((folder / "metadata.json").read_text())
    model = kerattn.zoo.load("tiny_translator")
    assert metadata["parameters"] == model.count_params()
    assert metadata["training"] == {"step": 10, "best_step": 8, "seconds": 1.5, "replicas": 1}
    assert metadata["cpu_latency"]["batch_1_ms"] > 0
    assert metadata["cpu_latency"]["batch_32_ms_per_text"] > 0
    assert metadata["model_bytes"] == (folder / "model.keras").stat().st_size
    with zipfile.ZipFile(folder / "model.keras") as archive:
        import h5py

        with archive.open("model.weights.h5") as weights, h5py.File(weights) as h5:
            assert "optimizer" not in h5
    assert (folder / "attention.png").read_bytes().startswith(b"\x89PNG")


def test_loaded_preset_translates_like_the_original(english_tokenizer, spanish_tokenizer):
    original = tiny_translator(english_tokenizer, spanish_tokenizer)
    loaded = kerattn.zoo.load("tiny_translator")
    assert isinstance(loaded, kerattn.Translator)
    assert [r.text for r in loaded.translate(ENGLISH[:3], beam_size=1)] == [
        r.text for r in original.translate(ENGLISH[:3])
    ]
    assert kerattn.Translator.from_preset("tiny_translator").translate(ENGLISH[0]).text == (
        original.translate(ENGLISH[0], beam_size=2).text  # the preset's decoding
    )


def test_unknown_preset_lists_the_available_ones():
    message = (
        "Unknown preset 'translator_xx'; available presets: tiny_classifier, "
        "tiny_translator, or the path of a preset folder."
    )
    with pytest.raises(presets.UnknownPresetError) as caught:
        kerattn.zoo.load("translator_xx")
    assert str(caught.value) == message
    with pytest.raises(ModelLoadError, match="available presets: tiny_classifier"):
        load_model("translator_xx")


def test_from_preset_refuses_the_other_family():
    with pytest.raises(
        ModelLoadError, match=r"'tiny_classifier' is a Classifier, not a Translator\."
    ):
        kerattn.Translator.from_preset("tiny_classifier")
    assert isinstance(kerattn.Classifier.from_preset("tiny_classifier"), kerattn.Classifier)


def test_model_argument_with_another_suffix_is_refused():
    with pytest.raises(
        ModelLoadError,
        match=r"MODEL must be a preset name, a preset folder or a "
        r"path to a \.keras file; received 'model\.h5'\.",
    ):
        load_model("model.h5")


def test_oversized_model_is_refused_and_not_left_behind(tmp_path, monkeypatch, zoo_dir):
    monkeypatch.setattr(packaging, "MAX_MODEL_BYTES", 1000)
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.keras").write_bytes((zoo_dir / "tiny_translator" / "model.keras").read_bytes())
    summary = {"step": 1, "best_step": 1, "seconds": 1.0, "replicas": 1}
    (run / "metrics.json").write_text(json.dumps({"summary": summary}))
    with pytest.raises(ValueError, match=r"presets must stay under 1,000 bytes \(0.001 MB\)"):
        packaging.write_preset(
            run,
            tmp_path / "big",
            task="translation",
            description="d",
            license="l",
            data="d",
            evaluation={"metrics": {}},
            evaluation_command="c",
            probe="hello",
        )
    assert not (tmp_path / "big" / "model.keras").exists()
    assert not (tmp_path / "big" / "metadata.json").exists()


def test_unknown_task_is_refused(tmp_path):
    with pytest.raises(
        ValueError,
        match=r"`task` must be one of translation, g2p, "
        r"classification; received 'summarization'\.",
    ):
        packaging.write_preset(
            tmp_path / "run",
            tmp_path / "p",
            task="summarization",
            description="d",
            license="l",
            data="d",
            evaluation={"metrics": {}},
            evaluation_command="c",
            probe="hello",
        )


# -- the command line ---------------------------------------------------------------------------


def run_cli(capsys, *argv, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        raw = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"))
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_zoo_list_prints_a_table_and_json(capsys):
    code, out, _ = run_cli(capsys, "zoo", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "task", "size", "metrics", "description"]
    assert lines[2].startswith("tiny_translator  translation")
    assert "BLEU 1.5, chrF 12.2" in lines[2] and lines[2].endswith(
        "a tiny English to Spanish translator"
    )
    assert "accuracy 50.0 %" in lines[1]
    code, out, _ = run_cli(capsys, "zoo", "list", "--json")
    assert [entry["name"] for entry in json.loads(out)] == ["tiny_classifier", "tiny_translator"]


def test_translate_arguments_use_the_preset_beam(capsys):
    expected = kerattn.zoo.load("tiny_translator").translate(ENGLISH[:2], beam_size=2)
    code, out, err = run_cli(capsys, "translate", "--model", "tiny_translator", *ENGLISH[:2])
    assert (code, err) == (0, "")
    assert out.splitlines() == [r.text for r in expected]


def test_translate_reads_stdin_and_keeps_empty_lines_aligned(capsys, monkeypatch):
    texts = [ENGLISH[0], "", ENGLISH[1], "   "]
    code, out, _ = run_cli(
        capsys,
        "translate",
        "--model",
        "tiny_translator",
        "--json",
        stdin="\n".join(texts) + "\n",
        monkeypatch=monkeypatch,
    )
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["input"] for row in rows] == texts
    assert rows[1]["translation"] == "" and rows[1]["attention"] == []
    expected = kerattn.zoo.load("tiny_translator").translate(ENGLISH[0], beam_size=2)
    assert rows[0]["translation"] == expected.text
    assert rows[0]["tokens"] == expected.tokens
    assert rows[0]["source_tokens"] == expected.source_tokens
    np.testing.assert_allclose(rows[0]["attention"], expected.attention, atol=1e-4)


def test_translate_show_attention_and_plot(capsys, tmp_path):
    plot = tmp_path / "heat.png"
    code, out, _ = run_cli(
        capsys,
        "translate",
        "--model",
        "tiny_translator",
        "--show-attention",
        "--plot",
        str(plot),
        ENGLISH[0],
        ENGLISH[1],
    )
    assert code == 0
    expected = kerattn.zoo.load("tiny_translator").translate(ENGLISH[0], beam_size=2)
    lines = out.splitlines()
    assert lines[0] == expected.text
    assert lines[1].startswith("source: a=" + expected.source_tokens[0])
    assert sum("<- " in line for line in lines) == len(expected.tokens) + len(
        kerattn.zoo.load("tiny_translator").translate(ENGLISH[1], beam_size=2).tokens
    )
    for name in ("heat-1.png", "heat-2.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")


def test_classify_prints_label_and_probability(capsys, monkeypatch):
    expected = kerattn.zoo.load("tiny_classifier").classify(REVIEWS)
    code, out, _ = run_cli(
        capsys,
        "classify",
        "--model",
        "tiny_classifier",
        stdin="\n".join(REVIEWS) + "\n",
        monkeypatch=monkeypatch,
    )
    assert code == 0
    assert out.splitlines() == [f"{r.label}\t{r.probabilities[r.label]:.4f}" for r in expected]
    code, out, _ = run_cli(capsys, "classify", "--model", "tiny_classifier", "--json", REVIEWS[2])
    row = json.loads(out)
    assert row["tokens"] == expected[2].tokens
    assert sum(row["token_weights"]) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["classify", "--model", "tiny_translator", "hi"],
            "kerattn classify: 'tiny_translator' is a Translator, not a Classifier. "
            "Use kerattn translate for it.\n",
        ),
        (
            ["translate", "--model", "nope", "hi"],
            "kerattn translate: Unknown preset 'nope'; available presets: tiny_classifier, "
            "tiny_translator, or the path of a preset folder.\n",
        ),
        (
            ["translate", "--model", "tiny_translator", "--plot", "out.jpg", "hi"],
            "kerattn translate: --plot must name a .png file; received 'out.jpg'.\n",
        ),
        (
            ["translate", "--model", "tiny_translator", "--beam-size", "0", "hi"],
            "kerattn translate: --beam-size must be >= 1; received 0.\n",
        ),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert (code, out, err) == (2, "", message)


# -- defaults, preset folders, bad input (what a user touches) ------------------------------------


def test_python_translate_defaults_to_the_preset_decoding_like_the_cli(capsys):
    translator = kerattn.zoo.load("tiny_translator")
    assert translator.decoding == {"beam_size": 2}
    default = translator.translate(ENGLISH[:3])
    assert [r.text for r in default] == [
        r.text for r in translator.translate(ENGLISH[:3], beam_size=2)
    ]
    assert [r.score for r in default] != [
        r.score for r in translator.translate(ENGLISH[:3], beam_size=1)
    ]
    code, out, _ = run_cli(capsys, "translate", "--model", "tiny_translator", *ENGLISH[:3])
    assert code == 0 and out.splitlines() == [r.text for r in default]


def test_save_to_preset_writes_a_folder_that_loads_back_everywhere(tmp_path, capsys):
    translator = kerattn.zoo.load("tiny_translator")
    folder = tmp_path / "my_translator"
    preset = translator.save_to_preset(folder, description="mine", license="test")
    assert (preset.name, preset.task, preset.description) == (
        "my_translator",
        "translation",
        "mine",
    )
    assert preset.metadata["license"] == "test" and preset.decoding == {"beam_size": 2}
    expected = [r.text for r in translator.translate(ENGLISH)]
    for loaded in (
        kerattn.Translator.from_preset(folder),
        kerattn.zoo.load(str(folder)),
        load_model(folder),
    ):
        assert loaded.decoding == {"beam_size": 2}
        assert [r.text for r in loaded.translate(ENGLISH)] == expected
    code, out, _ = run_cli(capsys, "translate", "--model", str(folder), *ENGLISH)
    assert code == 0 and out.splitlines() == expected
    classifier = kerattn.Classifier.from_preset("tiny_classifier")
    classifier.save_to_preset(tmp_path / "my_classifier")
    reloaded = kerattn.Classifier.from_preset(tmp_path / "my_classifier")
    assert reloaded.classify(REVIEWS[0]).probabilities == pytest.approx(
        classifier.classify(REVIEWS[0]).probabilities, abs=1e-6
    )


def test_a_float16_preset_is_half_the_size_and_translates_like_the_original(tmp_path):
    translator = kerattn.zoo.load("tiny_translator")
    full = translator.save_to_preset(tmp_path / "full")
    half = translator.save_to_preset(tmp_path / "half", weights_dtype="float16")
    assert half.metadata["weights_dtype"] == "float16"
    assert full.metadata["weights_dtype"] == "float32"
    assert half.size_bytes < 0.75 * full.size_bytes  # vocabularies and config stay as they are
    loaded = kerattn.Translator.from_preset(tmp_path / "half")
    assert {weight.dtype for weight in loaded.weights} == {"float32"}
    expected = translator.translate(ENGLISH)
    for result, reference in zip(loaded.translate(ENGLISH), expected, strict=True):
        assert result.text == reference.text
        assert result.confidence == pytest.approx(reference.confidence, abs=1e-3)
    with pytest.raises(ValueError, match="weights_dtype must be 'float32' or 'float16'"):
        translator.save_to_preset(tmp_path / "other", weights_dtype="bfloat16")
    assert not (tmp_path / "other").exists()


def test_save_to_preset_never_touches_what_it_did_not_write(tmp_path):
    translator = kerattn.zoo.load("tiny_translator")
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "thesis.txt").write_text("three years of work")
    with pytest.raises(
        kerattn.errors.UsageError,
        match=r"'.*thesis' is not empty; pass "
        r"overwrite=True to write its model.keras and metadata.json",
    ):
        translator.save_to_preset(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.txt"]
    translator.save_to_preset(folder, overwrite=True)
    translator.save_to_preset(folder, overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == [
        "metadata.json",
        "model.keras",
        "thesis.txt",
    ]
    assert (folder / "thesis.txt").read_text() == "three years of work"
    with pytest.raises(kerattn.errors.UsageError, match=r"already holds a preset"):
        translator.save_to_preset(folder)


def test_a_folder_that_is_no_preset_is_one_sentence(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(
        presets.UnknownPresetError,
        match=r"is not a preset: a preset folder "
        r"holds model.keras and metadata.json",
    ):
        kerattn.Translator.from_preset(tmp_path)
    code, out, err = run_cli(capsys, "translate", "--model", str(tmp_path), "hi")
    assert (code, out) == (2, "") and err.count("\n") == 1 and "is not a preset" in err


def test_classify_answers_empty_text_with_no_label():
    classifier = kerattn.zoo.load("tiny_classifier")
    empty = classifier.classify("")
    assert (empty.label, empty.probabilities, empty.tokens) == (None, {}, [])
    results = classifier.classify(["  \t", REVIEWS[0], ""])
    assert [r.label is None for r in results] == [True, False, True]
    assert results[1].probabilities == pytest.approx(
        classifier.classify(REVIEWS[0]).probabilities, abs=1e-6
    )


def test_bad_stdin_line_is_reported_and_every_other_line_answered(capsys, monkeypatch):
    stdin = (REVIEWS[0] + "\n").encode() + b"caf\xe9 \xff\n" + (REVIEWS[1] + "\n").encode()
    expected = kerattn.zoo.load("tiny_classifier").classify([REVIEWS[0], REVIEWS[1]])
    code, out, err = run_cli(
        capsys, "classify", "--model", "tiny_classifier", stdin=stdin, monkeypatch=monkeypatch
    )
    assert code == 1
    assert err == (
        "kerattn classify: line 2 is not valid UTF-8 (byte 0xe9 at position 3); pass UTF-8 text.\n"
    )
    assert out.splitlines() == [
        f"{expected[0].label}\t{expected[0].probabilities[expected[0].label]:.4f}",
        "",
        f"{expected[1].label}\t{expected[1].probabilities[expected[1].label]:.4f}",
    ]
    code, out, _ = run_cli(
        capsys,
        "translate",
        "--model",
        "tiny_translator",
        "--json",
        stdin=b"\xff\n" + ENGLISH[0].encode() + b"\n",
        monkeypatch=monkeypatch,
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and "not valid UTF-8" in rows[0]["error"] and rows[0]["translation"] == ""
    assert "error" not in rows[1]
    assert rows[1]["translation"] == kerattn.zoo.load("tiny_translator").translate(ENGLISH[0]).text


def test_undecodable_argument_is_reported_and_the_others_answered(capsys):
    # Python decodes an argument's invalid bytes as lone surrogates ("\udcff").
    code, out, err = run_cli(
        capsys, "translate", "--model", "tiny_translator", ENGLISH[0], "bad \udcff byte", ENGLISH[1]
    )
    expected = kerattn.zoo.load("tiny_translator").translate([ENGLISH[0], ENGLISH[1]])
    assert code == 1
    assert out.splitlines() == [expected[0].text, "", expected[1].text]
    assert err == (
        "kerattn translate: input 2: The text is not valid Unicode (character 4 is an "
        "undecodable byte or a lone surrogate, '\\udcff'); pass UTF-8 text.\n"
    )


def test_plot_into_a_folder_that_cannot_be_written_is_refused_before_any_work(
    capsys, tmp_path, monkeypatch
):
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)  # root ignores chmod
    code, out, err = run_cli(
        capsys,
        "translate",
        "--model",
        "tiny_translator",
        "--plot",
        str(tmp_path / "heat.png"),
        ENGLISH[0],
    )
    assert (code, out) == (2, "")
    assert err == (
        f"kerattn translate: --plot {str(tmp_path / 'heat.png')!r}: cannot write into "
        f"the folder {str(tmp_path)!r} (Read-only file system); pick a writable "
        "folder.\n"
    )


def test_a_preset_can_package_another_model_than_the_runs_best():
    assert kerattn.zoo.load("tiny_classifier").temperature == 1.75
