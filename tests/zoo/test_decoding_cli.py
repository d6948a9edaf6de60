"""`kerattn translate` decoding flags and `kerattn score` (issue 20), run in process."""

from __future__ import annotations

import json

import pytest

import kerattn_cli as cli
from kerattn.text import WordPieceTokenizer, train_wordpiece_vocabulary
from kerattn.zoo.translator import Translator
from tests.zoo.conftest import ENGLISH, SPANISH, tiny_translator


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("presets") / "tiny_translator"
    english, spanish = (
        WordPieceTokenizer(train_wordpiece_vocabulary(texts, 300)) for texts in (ENGLISH, SPANISH)
    )
    tiny_translator(english, spanish).save_to_preset(folder, description="tiny")
    return str(folder), Translator.from_preset(folder)


def test_n_best_plain_text_and_json(preset, capsys):
    folder, model = preset
    expected = model.translate(ENGLISH[:2], beam_size=3, num_hypotheses=3)
    assert (
        cli.main(
            ["translate", "--model", folder, "--beam-size", "3", "--n-best", "3", *ENGLISH[:2]]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    wanted = [
        f"{index}\t{h.score:.4f}\t{h.text}"
        for index, result in enumerate(expected, start=1)
        for h in result.hypotheses
    ]
    assert lines == wanted
    assert cli.main(["translate", "--model", folder, "--n-best", "2", "--json", ENGLISH[0]]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [h["translation"] for h in document["hypotheses"]] == [
        h.text for h in model.translate(ENGLISH[0], num_hypotheses=2).hypotheses
    ]
    assert document["translation"] == document["hypotheses"][0]["translation"]


def test_sampling_and_constraint_flags_match_python(preset, capsys):
    folder, model = preset
    argv = ["translate", "--model", folder, "--sample", "--seed", "7", "--top-k", "20"]
    assert cli.main([*argv, "--min-length", "3", *ENGLISH[:2]]) == 0
    first = capsys.readouterr().out.splitlines()
    expected = model.translate(ENGLISH[:2], decoding="sample", seed=7, top_k=20, min_length=3)
    assert first == [t.text for t in expected]
    assert cli.main(
        ["translate", "--model", folder, "--target-prefix", "Apague", "--no-repeat-ngram-size",
         "2", "--avoid", "luces", "--replace-unknown", "--max-length-ratio", "3", ENGLISH[0]]
    ) == 0  # fmt: skip
    output = capsys.readouterr().out.strip()
    assert (
        output
        == model.translate(
            ENGLISH[0],
            target_prefix="Apague",
            no_repeat_ngram_size=2,
            avoid=["luces"],
            replace_unknown=True,
            max_length_ratio=3.0,
        ).text
    )
    assert output.startswith("Apague")


def test_bad_decoding_flags_are_one_sentence(preset, capsys):
    folder, _ = preset
    assert cli.main(["translate", "--model", folder, "--sample", "--top-p", "2", "hi"]) == 2
    assert capsys.readouterr().err == (
        "kerattn translate: `top_p` must be a number > 0 and <= 1; received top_p=2.0.\n"
    )
    assert (
        cli.main(["translate", "--model", folder, "--beam-size", "2", "--n-best", "3", "hi"]) == 2
    )
    assert "at most the beam size" in capsys.readouterr().err


def test_score_reads_a_tsv_and_reports_bad_lines(preset, capsys, tmp_path):
    folder, model = preset
    pairs = [(ENGLISH[0], SPANISH[0]), (ENGLISH[1], SPANISH[1])]
    path = tmp_path / "pairs.tsv"
    path.write_text(
        "\n".join(f"{s}\t{t}" for s, t in pairs[:1])
        + "\nno tab here\n"
        + "\t".join(pairs[1])
        + "\n",
        encoding="utf-8",
    )
    assert cli.main(["score", "--model", folder, str(path)]) == 1
    captured = capsys.readouterr()
    scorings = model.score([s for s, _ in pairs], [t for _, t in pairs])
    assert captured.out.splitlines() == [f"{scorings[0].score:.4f}", "", f"{scorings[1].score:.4f}"]
    assert captured.err == ("kerattn score: line 2 has no tab; write SOURCE<TAB>TARGET per line.\n")
    assert cli.main(["score", "--model", folder, "--json", "--length-penalty", "0", str(path)]) == 1
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    scored = model.score(ENGLISH[0], SPANISH[0], length_penalty=0.0)
    assert documents[0]["log_prob"] == round(scored.log_prob, 4)
    assert documents[0]["tokens"] == scored.tokens
    assert len(documents[0]["token_log_probs"]) == len(scored.tokens)
    assert documents[1]["error"].startswith("line 2 has no tab")
