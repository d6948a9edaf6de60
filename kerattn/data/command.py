"""`kerattn data <corpus>`: builds one corpus and prints one line per split (the CLI only parses
flags).

`BUILDERS` maps each corpus name to the function that builds it; it receives the corpus's own
flags as keywords (their argparse `dest` names) besides the options every corpus shares. A new
corpus is one entry here and one `add_corpus` call in the command line's parser.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from kerattn import data


def _build_localisation(*, extra_packages: str | None, **settings) -> dict:
    """`--extra-packages` is a comma-separated list of Debian packages."""
    from kerattn.data.localisation import build_localisation

    names = [name.strip() for name in (extra_packages or "").split(",") if name.strip()]
    return build_localisation(extra_packages=names, **settings)


def _build_imdb(*, source: str, **settings) -> dict:
    """`--source all` keeps both review sets."""
    sources = ["imdb", "rotten_tomatoes"] if source == "all" else [source]
    return data.build_imdb(sources=sources, **settings)


def _build_reviews(*, domains: str, **settings) -> dict:
    """`--domains` is a comma-separated list."""
    from kerattn.data.reviews import build_reviews

    return build_reviews(
        domains=[name.strip() for name in domains.split(",") if name.strip()], **settings
    )


def _build_cmudict(*, split_convention: str, test_fraction: float, **settings) -> dict:
    """With `--split-convention latest-cmudict`, the CLI's default --test-fraction (0.05) means
    the convention's own (0.095)."""
    if split_convention != "kerattn" and test_fraction == 0.05:
        test_fraction = None
    return data.build_cmudict(
        split_convention=split_convention, test_fraction=test_fraction, **settings
    )


def _build_debian_docs(*, test_fraction: float, valid_fraction: float, **settings) -> dict:
    """An evaluation set: the shared split fractions do not apply (it has no splits)."""
    from kerattn.data.debian_docs import build_debian_docs

    return build_debian_docs(**settings)


BUILDERS: dict[str, Callable[..., dict]] = {
    "libreoffice": data.build_libreoffice,  # lang, from_dir
    "localisation": _build_localisation,  # lang, from_dir, packages, budget_mb, extra_packages
    "imdb": _build_imdb,  # source
    "reviews": _build_reviews,  # domains, from_dir, near_duplicate_threshold
    "cmudict": _build_cmudict,  # keep_stress, split_convention
    "tsv": data.build_tsv,  # path, kind
    "debian-docs": _build_debian_docs,  # lang, from_dir, sample (evaluation files only)
}


def run(
    corpus: str,
    *,
    out_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    test_fraction: float = 0.05,
    valid_fraction: float = 0.05,
    **corpus_options,
) -> int:
    """Builds `corpus` (a key of `BUILDERS`) into `out_dir` (default `corpora/<its name>`) and
    prints each split's row count and file; returns the exit code.

    Raises:
        kerattn.data.CorpusError: what the corpus's builder refuses (a UsageError or not).
    """
    manifest = BUILDERS[corpus](
        out_dir=out_dir,
        overwrite=overwrite,
        test_fraction=test_fraction,
        valid_fraction=valid_fraction,
        **corpus_options,
    )
    out = Path(out_dir) if out_dir else Path("corpora") / manifest["corpus"]
    for split, rows in manifest["counts"].items():
        print(f"{manifest['corpus']} {split:<5} {rows:>8,} rows  {out / (split + '.tsv')}")
    return 0
