"""What the code and docs cite lives in the repository: no reference to documents outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE_DOCUMENTS = re.compile(r"SERVING-SPEC\.md|STACK\.md|STYLE\.md|DATA\.md|\.\./shared/")
CITED_DOC = re.compile(r"\bdocs/([\w.-]+\.md)")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    suffixes = {".py", ".md", ".toml", ".yaml", ".ipynb", ".cfg", ".txt"}
    return [
        ROOT / name
        for name in names
        if Path(name).suffix in suffixes and "fixtures" not in Path(name).parts
    ]


def test_no_file_cites_a_document_outside_the_repository():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in tracked_text_files()
        if path.name != Path(__file__).name
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if OUTSIDE_DOCUMENTS.search(line)
    ]
    assert offenders == []


def test_every_cited_doc_exists():
    cited = {
        name
        for path in tracked_text_files()
        for name in CITED_DOC.findall(path.read_text(encoding="utf-8"))
    }
    assert cited, "nothing cites docs/: the pattern is wrong"
    assert sorted(name for name in cited if not (ROOT / "docs" / name).is_file()) == []
