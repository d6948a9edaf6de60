"""Regenerates the held-out samples the `zoo` tier checks the presets on (run from the repo root
after building the corpora; the samples are committed, so the tests never need the corpora).

    python -m tests.zoo_presets.make_samples [PRESET ...]   # default: every sample

Each sample is drawn with a fixed seed from the corpus's *test* split, which no preset saw in
training or model selection: for each translator, 300 LibreOffice help paragraphs from the
software-localisation corpus it is trained on (`corpora/localisation-es`, `-de`, rows of origin
`help/libreoffice/`: the held-out LibreOffice help documents, as on the translator cards), 1000
CMUdict words with all their pronunciations, and 500 IMDB reviews of the reviews corpus
(`corpora/reviews`, rows of origin `imdb`, sentiment_en's headline domain).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from kerattn.data import read_rows, write_rows

CORPORA = Path("corpora")
DATA = Path(__file__).parent / "data"
SEED = 0


def translator_sample(language: str) -> list:
    rows = read_rows(CORPORA / f"localisation-{language}" / "test.tsv")
    rows = [r for r in rows if r[2].startswith("help/libreoffice/")]
    return random.Random(SEED).sample(rows, 300)


def g2p_sample() -> list:
    rows = read_rows(CORPORA / "cmudict" / "test.tsv")
    words = sorted({r[0] for r in rows})
    chosen = set(random.Random(SEED).sample(words, 1000))
    alternates = [r for r in read_rows(CORPORA / "cmudict" / "alternates.tsv") if r[0] in chosen]
    return [r for r in rows if r[0] in chosen] + alternates


def sentiment_sample() -> list:
    rows = [r for r in read_rows(CORPORA / "reviews" / "test.tsv") if r[2] == "imdb"]
    return random.Random(SEED).sample(rows, 500)


SAMPLES = {
    "translator_en_es": lambda: translator_sample("es"),
    "translator_en_de": lambda: translator_sample("de"),
    "g2p_en": g2p_sample,
    "sentiment_en": sentiment_sample,
}


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(SAMPLES))
    if unknown:
        raise SystemExit(f"no sample is made for {', '.join(unknown)}; known: {', '.join(SAMPLES)}")
    for name in names or SAMPLES:
        write_rows(DATA / f"{name}.tsv", SAMPLES[name]())


if __name__ == "__main__":
    main(sys.argv[1:])
