"""Regenerates the held-out samples the `zoo` tier checks the presets on (run from the repo root
after building the corpora; the samples are committed, so the tests never need the corpora).

    python -m tests.zoo_presets.make_samples

Each sample is drawn with a fixed seed from the corpus's *test* split, which no preset saw in
training or model selection: 300 LibreOffice help paragraphs from the software-localisation
corpus that translator_en_es v2 is trained on (`corpora/localisation-es`, rows of origin
`help/libreoffice/`: the held-out LibreOffice help documents, as on the translator card), 1000
CMUdict words with all their pronunciations, and 500 IMDB reviews.
"""

from __future__ import annotations

import random
from pathlib import Path

from kerattn.data import read_rows, write_rows

CORPORA = Path("corpora")
DATA = Path(__file__).parent / "data"
SEED = 0


def main() -> None:
    rows = read_rows(CORPORA / "localisation-es" / "test.tsv")
    rows = [r for r in rows if r[2].startswith("help/libreoffice/")]
    write_rows(DATA / "translator_en_es.tsv", random.Random(SEED).sample(rows, 300))

    rows = read_rows(CORPORA / "cmudict" / "test.tsv")
    words = sorted({r[0] for r in rows})
    chosen = set(random.Random(SEED).sample(words, 1000))
    alternates = [r for r in read_rows(CORPORA / "cmudict" / "alternates.tsv") if r[0] in chosen]
    write_rows(DATA / "g2p_en.tsv", [r for r in rows if r[0] in chosen] + alternates)

    rows = read_rows(CORPORA / "imdb" / "test.tsv")
    write_rows(DATA / "sentiment_en.tsv", random.Random(SEED).sample(rows, 500))


if __name__ == "__main__":
    main()
