"""`kerattn translate`'s low-confidence warning and JSON fields, and `kerattn calibrate` for a
translator (issue 18 §3), run in process."""

from __future__ import annotations

import io
import json

import pytest

import kerattn_cli as cli
from kerattn.text import WordPieceTokenizer, train_wordpiece_vocabulary
from kerattn.zoo.translator import Translator
from tests.zoo.conftest import ENGLISH, SPANISH, tiny_translator

INPUTS = ENGLISH[:4]


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    """(folder without a threshold, folder whose threshold flags two of INPUTS, that model)."""
    english, spanish = (
        WordPieceTokenizer(train_wordpiece_vocabulary(texts, 300)) for texts in (ENGLISH, SPANISH)
    )
    model = tiny_translator(english, spanish)
    root = tmp_path_factory.mktemp("presets")
    model.save_to_preset(root / "plain", description="tiny")
    confidences = sorted(result.confidence for result in model.translate(INPUTS))
    assert len(set(confidences)) == len(confidences)
    model.confidence_threshold = (confidences[1] + confidences[2]) / 2
    model.save_to_preset(root / "calibrated", description="tiny")
    return (
        str(root / "plain"),
        str(root / "calibrated"),
        Translator.from_preset(root / "calibrated"),
    )


def test_only_low_confidence_outputs_get_the_warning_line(presets, capsys):
    _, folder, model = presets
    assert cli.main(["translate", "--model", folder, *INPUTS]) == 0  # a warning, not an error
    captured = capsys.readouterr()
    results = model.translate(INPUTS)
    assert captured.out.splitlines() == [result.text for result in results]
    expected = [
        f"kerattn translate: input {index} was translated with low confidence "
        f"{result.confidence:.3f} (below the model's threshold "
        f"{model.confidence_threshold:.3f}); its translation may be wrong."
        for index, result in enumerate(results, start=1)
        if result.confidence < model.confidence_threshold
    ]
    assert len(expected) == 2
    assert captured.err.splitlines() == expected


def test_json_carries_confidence_and_low_confidence(presets, capsys):
    plain, folder, model = presets
    assert cli.main(["translate", "--model", folder, "--json", "--n-best", "2", *INPUTS]) == 0
    captured = capsys.readouterr()
    documents = [json.loads(line) for line in captured.out.splitlines()]
    results = model.translate(INPUTS, num_hypotheses=2)
    for document, result in zip(documents, results, strict=True):
        assert document["confidence"] == round(result.confidence, 4)
        assert document["low_confidence"] is result.low_confidence
        assert [h["confidence"] for h in document["hypotheses"]] == [
            round(h.confidence, 4) for h in result.hypotheses
        ]
        assert [h["low_confidence"] for h in document["hypotheses"]] == [
            h.low_confidence for h in result.hypotheses
        ]
    flagged = sum(document["low_confidence"] for document in documents)
    assert len(captured.err.splitlines()) == flagged
    assert cli.main(["translate", "--model", plain, "--json", *INPUTS]) == 0
    captured = capsys.readouterr()
    documents = [json.loads(line) for line in captured.out.splitlines()]
    assert [document["low_confidence"] for document in documents] == [None] * len(INPUTS)
    assert all(0 <= document["confidence"] <= 1 for document in documents)
    assert captured.err == ""  # no threshold: nothing warns


def test_blank_lines_have_no_confidence_and_no_warning(presets, capsys, monkeypatch):
    _, folder, _ = presets
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\n   \n")))
    assert cli.main(["translate", "--model", folder, "--json"]) == 0
    captured = capsys.readouterr()
    documents = [json.loads(line) for line in captured.out.splitlines()]
    assert [(d["confidence"], d["low_confidence"]) for d in documents] == [(None, None)] * 2
    assert captured.err == ""


def test_calibrate_command_line_for_a_translator(presets, tmp_path, capsys):
    plain, _, _ = presets
    data = tmp_path / "valid.tsv"
    data.write_text("".join(f"{s}\t{t}\n" for s, t in zip(ENGLISH, SPANISH)), encoding="utf-8")
    out = tmp_path / "calibrated"
    argv = ["calibrate", plain, "--data", str(data)]
    assert cli.main([*argv, "--out", str(out), "--false-alarm-rate", "0.3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["flagged"] == 2 and report["examples"] == len(ENGLISH)
    assert Translator.from_preset(out).confidence_threshold == report["confidence_threshold"]
    assert cli.main([*argv[:1], str(out), *argv[2:], "--in-place"]) == 0
    text = capsys.readouterr().out
    assert "confidence threshold" in text and "false-alarm rate at most 5 %" in text
    assert cli.main([*argv, "--in-place", "--false-alarm-rate", "1.5"]) == 2
    assert capsys.readouterr().err == (
        "kerattn calibrate: --false-alarm-rate must be a number from 0 (inclusive) to 1 "
        "(exclusive), the share of validation outputs to flag; received 1.5.\n"
    )
    with pytest.raises(SystemExit) as raised:  # argparse: exactly one of the two
        cli.main([*argv, "--in-place", "--out", str(tmp_path / "x")])
    assert raised.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
