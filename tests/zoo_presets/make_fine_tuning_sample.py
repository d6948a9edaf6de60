"""Regenerates the domain sample that the fine-tuning test and notebook 6 adapt translator_en_es
to (run from the repo root after `kerattn data localisation --lang es`; the sample is
committed, so the tests never need the corpus).

    python -m tests.zoo_presets.make_fine_tuning_sample

The domain is one package of the localisation corpus's *train* split, far from LibreOffice:
Minetest's UI strings (the `minetest-data` package; a voxel game). The corpus splits by package,
so all of its rows are in train.tsv; its own test and test-ood splits are kept for evaluating the
v2 model and are not read. The package's rows are split here by a stable hash of the English
text (rows that share one go to the same part): 15 % held-out test, 10 % valid, 75 % train.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from kerattn.data import read_rows, write_rows

CORPUS = Path("corpora") / "localisation-es"
OUT = Path(__file__).parent / "data" / "fine_tuning_minetest"
PACKAGE = "minetest-data"
TEST_PERCENT = 15
VALID_PERCENT = 10


def part(source: str) -> str:
    """ "test", "valid" or "train": sha1 of the UTF-8 English text, first 8 bytes, mod 100."""
    bucket = int.from_bytes(hashlib.sha1(source.encode("utf-8")).digest()[:8], "big") % 100
    if bucket < TEST_PERCENT:
        return "test"
    return "valid" if bucket < TEST_PERCENT + VALID_PERCENT else "train"


def main() -> None:
    rows = [row for row in read_rows(CORPUS / "train.tsv") if row[2].split("/")[1] == PACKAGE]
    (source,) = [
        s
        for s in json.loads((CORPUS / "manifest.json").read_text())["sources"]
        if s["package"] == PACKAGE
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    for name in ("train", "valid", "test"):
        chosen = [row[:2] for row in rows if part(row[0]) == name]
        print(f"{name}: {write_rows(OUT / f'{name}.tsv', chosen)} rows")
    print(f"{PACKAGE} {source['version']}: {', '.join(source['license'])}")


if __name__ == "__main__":
    main()
