"""The user cache folder: what kerattn can rebuild but would rather not (downloads, learned
vocabularies). `$KERATTN_CACHE/<kind>` if set, else `kerattn/<kind>` under `$XDG_CACHE_HOME` or
`~/.cache`. Everything in it can be deleted at any time."""

from __future__ import annotations

import os
from pathlib import Path


def cache_folder(kind: str) -> Path:
    """The cache folder for `kind` (e.g. "debs", "vocabularies"); not created here."""
    if os.environ.get("KERATTN_CACHE"):
        return Path(os.environ["KERATTN_CACHE"]) / kind
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kerattn" / kind
