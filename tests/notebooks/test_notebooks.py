"""The notebooks: committed without outputs, and each one runs top to bottom without an error.

Executing them is the `notebooks` tier (`make test-notebooks`, run by CI): each needs the
shipped presets and takes up to a few minutes on CPU."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_there_are_six_notebooks_listed_in_their_readme():
    readme = (NOTEBOOKS / "README.md").read_text()
    assert len(PATHS) == 6
    for path in PATHS:
        assert f"({path.name})" in readme, path.name


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.stem)
def test_committed_without_outputs(path):
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, path.name


@pytest.mark.notebooks
@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.stem)
def test_runs_top_to_bottom(path, tmp_path, monkeypatch):
    import nbclient  # the dev extra; a missing one fails the tier instead of skipping it
    import nbformat
    notebook = nbformat.read(path, as_version=4)
    # Run where Jupyter would (the notebooks folder); what they write goes to a private TMPDIR.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    client = nbclient.NotebookClient(notebook, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError with the failing cell and its traceback
