"""The `kerattn` command as a user meets it: start-up time and noise, errors, backends, pipes.

Most cases run the real console entry point in a fresh process (`python -m kerattn`), since
what is checked (imported modules, file descriptor 2, environment variables, a live pipe) is
per process.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys

import pytest

import kerattn_cli as cli
from kerattn.text import WordPieceTokenizer, train_wordpiece_vocabulary
from tests.zoo.conftest import ENGLISH, SPANISH, tiny_translator


def run_kerattn(*argv: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", "kerattn_cli", *argv],
        capture_output=True,
        text=True,
        env={**environment, **(env or {})},
        timeout=300,
        **kwargs,
    )


@pytest.fixture(scope="module")
def translator_preset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("presets") / "tiny_translator"
    english, spanish = (
        WordPieceTokenizer(train_wordpiece_vocabulary(texts, 300)) for texts in (ENGLISH, SPANISH)
    )
    translator = tiny_translator(english, spanish)
    translator.save_to_preset(folder, description="tiny")
    return folder, [r.text for r in translator.translate(ENGLISH)]


def test_help_and_version_do_not_import_tensorflow_or_keras():
    code = (
        "import sys, contextlib, io\n"
        "import kerattn_cli\n"
        "for argv in (['--help'], ['translate', '--help'], ['data', 'tsv', '--help'], "
        "['--version']):\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "        kerattn_cli.main(argv)\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'kerattn') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_version_names_the_installed_distribution(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"kerattn {version('kerattn')}\n"


def test_start_up_noise_is_hidden_unless_verbose(tmp_path):
    missing = str(tmp_path / "missing.keras")
    quiet = run_kerattn("translate", "--model", missing, "hello")
    assert quiet.returncode == 2 and quiet.stdout == ""
    assert quiet.stderr == (
        f"kerattn translate: MODEL {missing!r} not found; pass an existing .keras file.\n"
    )
    verbose = run_kerattn("translate", "--verbose", "--model", missing, "hello")
    assert verbose.returncode == 2
    assert len(verbose.stderr.splitlines()) > 1  # TensorFlow's start-up lines, then ours
    assert verbose.stderr.endswith(quiet.stderr)


def test_a_jax_keras_backend_still_runs_the_command_line(translator_preset):
    folder, expected = translator_preset
    result = run_kerattn(
        "translate", "--model", str(folder), *ENGLISH[:2], env={"KERAS_BACKEND": "jax"}
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == expected[:2]


def test_zoo_models_on_another_backend_say_so_in_one_sentence(translator_preset):
    folder, _ = translator_preset
    code = (
        "import kerattn\n"
        "try:\n"
        f"    kerattn.Translator.from_preset({str(folder)!r})\n"
        "except kerattn.errors.UsageError as error:\n"
        "    print(error)\n"
        "try:\n"
        "    kerattn.Translator(None, None)\n"
        "except kerattn.errors.UsageError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "jax"},
        timeout=300,
    )
    assert result.stdout == (
        f"Loading {str(folder / 'model.keras')!r} needs the TensorFlow backend, but Keras is "
        "running on 'jax'; set KERAS_BACKEND=tensorflow for the zoo's models (the layers in "
        "kerattn.layers work on every backend).\n"
        "kerattn.Translator needs the TensorFlow backend, but Keras is running on 'jax'; set "
        "KERAS_BACKEND=tensorflow for the zoo's models (the layers in kerattn.layers work on "
        "every backend).\n"
    ), result.stderr


def _read_line(stream, timeout: float) -> str | None:
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else None


def test_piped_lines_are_answered_as_they_arrive(translator_preset):
    folder, expected = translator_preset
    process = subprocess.Popen(
        [sys.executable, "-m", "kerattn_cli", "translate", "--model", str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    try:
        answers = []
        for text in ENGLISH[:3]:  # the next line is written only once the last one is answered
            process.stdin.write(text + "\n")
            process.stdin.flush()
            answers.append(_read_line(process.stdout, timeout=120))
            assert answers[-1] is not None, "no answer while standard input stays open"
        process.stdin.close()
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
    assert [answer.rstrip("\n") for answer in answers] == expected[:3]


def test_unexpected_errors_are_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    from kerattn.zoo import command

    def broken(*args, **kwargs):
        raise RuntimeError("the model exploded")

    monkeypatch.setattr(command, "translate_command", broken)
    assert cli.main(["translate", "hello"]) == 1
    assert capsys.readouterr().err == (
        "kerattn translate: unexpected error: RuntimeError: the model exploded (run again with "
        "--debug for the traceback, and please report it).\n"
    )
    with pytest.raises(RuntimeError, match="the model exploded"):
        cli.main(["translate", "--debug", "hello"])
    with pytest.raises(RuntimeError, match="the model exploded"):
        cli.main(["--debug", "translate", "hello"])


@pytest.mark.parametrize(
    "error, message, code",
    [
        (
            PermissionError(13, "Permission denied", "export/models/x"),
            "kerattn translate: cannot write or read 'export/models/x': Permission denied.\n",
            1,
        ),
        (
            OSError(28, "No space left on device"),
            "kerattn translate: No space left on device.\n",
            1,
        ),
        (KeyboardInterrupt(), "kerattn translate: interrupted.\n", 130),
    ],
)
def test_os_errors_and_interrupts_are_one_sentence(monkeypatch, capsys, error, message, code):
    from kerattn.zoo import command

    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr(command, "translate_command", failing)
    assert cli.main(["translate", "hello"]) == code
    assert capsys.readouterr().err == message


def test_the_readme_describes_the_demo_it_runs():
    from pathlib import Path

    from kerattn import demo

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "reverse digit sequences" in readme and "reverse letter" not in readme
    assert demo.__doc__.startswith(
        "`kerattn demo`: trains a tiny attention model to reverse digit sequences"
    )


def test_the_task_choices_are_the_zoos_tasks():
    import kerattn_cli
    from kerattn.zoo.tasks import TASKS

    assert kerattn_cli.TASKS == TASKS
