"""How well a translator's `low_confidence` flag separates its own kind of text from text it
cannot translate: the false-alarm rate on in-domain held-out text and the detection rate on
everyday English, other languages and random characters.

    python bench/confidence.py [--model translator_en_es] [--json results.json]

Sets (all fed as English sources, translated with the model's default decoding, flagged
with the threshold stored in the preset's metadata.json, or `--threshold`):

- in-domain: the sources of the model's test split (`--in-domain`, default
  corpora/localisation-es/test.tsv; `kerattn data localisation --lang es` builds it), a seeded
  sample of `--in-domain-limit` rows (default 3,000; 0 for all), all of them and per kind (the
  first component of the origin column: ui/, help/, narrative/): the false-alarm rate is the
  share flagged;
- everyday English: the Rotten Tomatoes sentences of the reviews corpus's test split, and the
  first sentence of each of its first `--limit` IMDB reviews (`--reviews`, default
  corpora/reviews/test.tsv; `kerattn data reviews`);
- other languages: the references of the in-domain test split (the model's own target
  language: Spanish for translator_en_es, German for translator_en_de), and the French,
  German and Italian messages of the e2fsprogs-l10n Debian package (`--debs`, default the
  download cache of `kerattn data localisation`; skipped with a note when it is missing);
- random characters: `--limit` strings of 1-8 "words" of 1-10 letters, digits and punctuation
  drawn with NumPy's generator seeded `--seed` (default 0).

Every other set is cut to its first `--limit` rows (default 300; the references and
foreign messages as a seeded sample). The detection rate is the share flagged. A text in
several sets is translated once. Deterministic: same model, data, threshold and seed, same
numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import string
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# `python bench/confidence.py` runs with bench/ on sys.path; the repository root holds kerattn.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

FOREIGN_PACKAGE = "e2fsprogs-l10n"
FOREIGN_LANGUAGES = ("fr", "de", "it")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def random_texts(count: int, seed: int) -> list[str]:
    """`count` strings of 1-8 random "words" of 1-10 printable ASCII characters."""
    rng = np.random.default_rng(seed)
    alphabet = np.array(list(string.ascii_letters + string.digits + string.punctuation))
    texts = []
    for _ in range(count):
        words = [
            "".join(rng.choice(alphabet, size=int(rng.integers(1, 11))))
            for _ in range(int(rng.integers(1, 9)))
        ]
        texts.append(" ".join(words))
    return texts


def _sample(texts: list[str], count: int, seed: int) -> list[str]:
    if len(texts) <= count:
        return texts
    rng = np.random.default_rng(seed)
    return [texts[i] for i in sorted(rng.choice(len(texts), size=count, replace=False))]


def foreign_messages(debs: Path, count: int, seed: int) -> dict[str, list[str]]:
    """{language: up to `count` translated messages} from the e2fsprogs-l10n .mo catalogues."""
    import polib

    from kerattn.data.debian_packages import find_deb
    from kerattn.data.localisation_deb import read_deb

    deb = find_deb(debs, FOREIGN_PACKAGE)
    wanted = {
        f"usr/share/locale/{lang}/LC_MESSAGES/e2fsprogs.mo": lang for lang in FOREIGN_LANGUAGES
    }
    contents = read_deb(deb, lambda path: path in wanted)
    found = {}
    for path, lang in wanted.items():
        with tempfile.NamedTemporaryFile(suffix=".mo") as file:
            file.write(contents.files[path])
            file.flush()
            entries = polib.mofile(file.name)
        messages = sorted(
            {
                " ".join(entry.msgstr.split())
                for entry in entries
                if entry.msgstr and entry.msgstr != entry.msgid and len(entry.msgstr.split()) >= 3
            }
        )
        found[lang] = _sample(messages, count, seed)
    return found


def build_sets(args) -> dict[str, list[str]]:
    from kerattn.data import read_rows
    from kerattn.zoo.evaluation import origin_prefix

    test = read_rows(args.in_domain)
    if args.in_domain_limit and len(test) > args.in_domain_limit:
        rng = np.random.default_rng(args.seed)
        keep = sorted(rng.choice(len(test), size=args.in_domain_limit, replace=False))
        test = [test[i] for i in keep]
    sets = {"in-domain: test split, all": [row[0] for row in test]}
    kinds = sorted({origin_prefix(row[2], 1) for row in test if len(row) > 2})
    for kind in kinds:
        sets[f"in-domain: test split, {kind}"] = [
            row[0] for row in test if len(row) > 2 and origin_prefix(row[2], 1) == kind
        ]
    reviews = read_rows(args.reviews)
    sets["everyday: Rotten Tomatoes sentences"] = [
        row[0] for row in reviews if row[2] == "rotten_tomatoes"
    ][: args.limit]
    imdb = [row[0] for row in reviews if row[2] == "imdb"][: args.limit]
    sets["everyday: IMDB first sentences"] = [
        _SENTENCE_END.split(text.replace("<br />", " ").strip())[0] for text in imdb
    ]
    sets["other language: the target language (test references)"] = _sample(
        [row[1] for row in test], args.limit, args.seed
    )
    try:
        for lang, messages in foreign_messages(Path(args.debs), args.limit, args.seed).items():
            sets[f"other language: {lang} (e2fsprogs messages)"] = messages
    except Exception as error:  # noqa: BLE001 (an optional set; say why it is missing)
        print(f"note: no French/German/Italian set ({error})", file=sys.stderr)
    sets["random characters"] = random_texts(args.limit, args.seed)
    return sets


def main(argv: list[str] | None = None) -> int:
    from kerattn.data.localisation_download import cache_folder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="translator_en_es")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--in-domain", default="corpora/localisation-es/test.tsv")
    parser.add_argument("--in-domain-limit", type=int, default=3000)
    parser.add_argument("--reviews", default="corpora/reviews/test.tsv")
    parser.add_argument("--debs", default=str(cache_folder()))
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument(
        "--only", default=None, metavar="TEXT", help="measure only the sets whose name has TEXT"
    )
    args = parser.parse_args(argv)

    from kerattn.zoo.model_loading import load_model

    model = load_model(args.model)
    if args.threshold is not None:
        model.confidence_threshold = args.threshold
    if model.confidence_threshold is None:
        parser.error(f"{args.model} has no confidence threshold; pass --threshold.")
    results = {}
    known: dict[str, float] = {}  # text -> confidence: a text in several sets is run once
    for name, texts in build_sets(args).items():
        if args.only is not None and args.only not in name:
            continue
        start = time.perf_counter()
        new = list(dict.fromkeys(text for text in texts if text not in known))
        for offset in range(0, len(new), args.batch_size):
            batch = new[offset : offset + args.batch_size]
            for text, result in zip(batch, model.translate(batch)):
                known[text] = result.confidence
        confidences = np.asarray([known[text] for text in texts])
        flagged = int(np.sum(confidences < model.confidence_threshold))
        results[name] = {
            "texts": len(texts),
            "flagged": flagged,
            "flagged_share": flagged / len(texts),
            "median_confidence": float(np.median(confidences)),
            "seconds": round(time.perf_counter() - start, 1),
        }
        print(
            f"{name:45s} {len(texts):5d} texts  flagged {100 * flagged / len(texts):5.1f} %  "
            f"median confidence {np.median(confidences):.3f}",
            flush=True,
        )
    report = {
        "model": args.model,
        "threshold": model.confidence_threshold,
        "decoding": dict(model.decoding),
        "seed": args.seed,
        "limit": args.limit,
        "in_domain": args.in_domain,
        "in_domain_limit": args.in_domain_limit,
        "sets": results,
    }
    print()
    print("| set | texts | flagged low_confidence | median confidence |")
    print("|---|---|---|---|")
    for name, values in results.items():
        print(
            f"| {name} | {values['texts']:,} | {100 * values['flagged_share']:.1f} % "
            f"| {values['median_confidence']:.3f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
