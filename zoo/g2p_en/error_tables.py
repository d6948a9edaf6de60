"""The error tables of g2p_en's model card, from the predictions file of `kerattn evaluate`:

    kerattn evaluate g2p_en --data corpora/cmudict/test.tsv \\
        --alternates corpora/cmudict/alternates.tsv --beam-size 4 --predictions runs/g2p_test.tsv
    python zoo/g2p_en/error_tables.py runs/g2p_test.tsv

Prints three Markdown tables:

- errors by word frequency: wordfreq's Zipf frequency of the word in English (log10 of its
  occurrences per billion words: 4 is ten per million) in bands ≥ 4, 3–4, 2–3, below 2, and
  absent from wordfreq's list (names, rare and invented words); each with its words, WER and
  PER. Needs `pip install wordfreq` (its word lists are CC BY-SA 4.0); without it the table
  is left out.
- kinds of errors: what the edits from the closest acceptable pronunciation to the output
  touch (one vowel or one consonant substituted, one phoneme added or dropped, several edits
  on vowels only, several with consonants), with the share of wrong words and examples;
- the most frequent phoneme substitutions (reference → output).

The closest acceptable pronunciation and the PER follow `kerattn.zoo.metrics.g2p_scores`
(edit distance, ties to the first listed), so the totals equal `kerattn evaluate`'s.
"""

from __future__ import annotations

import argparse
import collections
import sys
from collections.abc import Callable, Sequence

from kerattn.data import CorpusError, read_rows

# The 15 vowels of CMUdict's 39 phonemes (stress removed); the other 24 are consonants.
VOWELS = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())
FREQUENCY_BANDS = ((4.0, "≥ 4"), (3.0, "3–4"), (2.0, "2–3"), (1e-9, "below 2"), (0.0, "absent"))
KINDS = (
    "one vowel substituted",
    "one consonant substituted",
    "one phoneme added or dropped",
    "several edits, vowels only",
    "several edits, with consonants",
)


def edits(output: Sequence[str], reference: Sequence[str]) -> list[tuple[str | None, str | None]]:
    """A shortest edit script from `reference` to `output`: (reference phoneme or None,
    output phoneme or None) for each substitution, deletion and insertion (matches left out)."""
    rows, columns = len(reference) + 1, len(output) + 1
    cost = [[0] * columns for _ in range(rows)]
    for i in range(rows):
        cost[i][0] = i
    for j in range(columns):
        cost[0][j] = j
    for i in range(1, rows):
        for j in range(1, columns):
            cost[i][j] = min(
                cost[i - 1][j] + 1,
                cost[i][j - 1] + 1,
                cost[i - 1][j - 1] + (reference[i - 1] != output[j - 1]),
            )
    script = []
    i, j = rows - 1, columns - 1
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (reference[i - 1] != output[j - 1]):
            if reference[i - 1] != output[j - 1]:
                script.append((reference[i - 1], output[j - 1]))
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            script.append((reference[i - 1], None))
            i -= 1
        else:
            script.append((None, output[j - 1]))
            j -= 1
    return script[::-1]


def closest(output: list[str], acceptable: Sequence[list[str]]) -> tuple[list, list[str]]:
    """The edit script to the closest acceptable pronunciation (ties: the first listed)."""
    scripts = [
        (len(script), index, script)
        for index, script in (
            (index, edits(output, reference)) for index, reference in enumerate(acceptable)
        )
    ]
    _, index, script = min(scripts, key=lambda item: (item[0], item[1]))
    return script, acceptable[index]


def kind_of(script: list[tuple[str | None, str | None]]) -> str:
    """One of `KINDS` for a non-empty edit script."""
    if len(script) == 1:
        before, after = script[0]
        if before is None or after is None:
            return KINDS[2]
        return KINDS[0] if before in VOWELS and after in VOWELS else KINDS[1]
    phonemes = {p for pair in script for p in pair if p is not None}
    return KINDS[3] if phonemes <= VOWELS else KINDS[4]


def analyse(rows: Sequence[Sequence[str]], frequency: Callable[[str], float] | None = None):
    """Per-word results of predictions rows (word, output, acceptable...): a dict with
    "words", "word_errors", "phoneme_errors", "reference_phonemes", "by_frequency" (None
    without `frequency`), "kinds" and "substitutions"."""
    totals = collections.Counter()
    bands = {label: collections.Counter() for _, label in FREQUENCY_BANDS}
    kinds: dict[str, list[str]] = {kind: [] for kind in KINDS}
    substitutions = collections.Counter()
    for word, output, *acceptable in rows:
        script, reference = closest(output.split(), [a.split() for a in acceptable])
        counts = collections.Counter(
            words=1,
            word_errors=bool(script),
            phoneme_errors=len(script),
            reference_phonemes=len(reference),
        )
        totals.update(counts)
        if frequency is not None:
            zipf = frequency(word)
            label = next(label for lower, label in FREQUENCY_BANDS if zipf >= lower)
            bands[label].update(counts)
        if script:
            kinds[kind_of(script)].append(f"{word}: {' '.join(reference)} → {output}")
            substitutions.update((before, after) for before, after in script if before and after)
    return {
        **totals,
        "by_frequency": bands if frequency is not None else None,
        "kinds": kinds,
        "substitutions": substitutions,
    }


def _rate(errors: int, total: int) -> str:
    return f"{100 * errors / total:.1f} %" if total else "–"


def markdown(result: dict, examples: int = 2, top: int = 10) -> str:
    """The three tables (the first only with frequencies) as Markdown."""
    lines = []
    if result["by_frequency"] is not None:
        lines += ["| Zipf frequency | words | WER | PER |", "|---|---|---|---|"]
        for _, label in FREQUENCY_BANDS:
            band = result["by_frequency"][label]
            lines.append(
                f"| {label} | {band['words']:,} | {_rate(band['word_errors'], band['words'])} "
                f"| {_rate(band['phoneme_errors'], band['reference_phonemes'])} |"
            )
        lines.append("")
    wrong = result["word_errors"]
    lines += ["| kind | words | share of wrong words | examples |", "|---|---|---|---|"]
    for kind, cases in result["kinds"].items():
        shown = "; ".join(cases[:examples])
        lines.append(f"| {kind} | {len(cases):,} | {_rate(len(cases), wrong)} | {shown} |")
    lines += ["", "| reference → output | times |", "|---|---|"]
    for (before, after), count in result["substitutions"].most_common(top):
        lines.append(f"| {before} → {after} | {count:,} |")
    lines += [
        "",
        f"{result['words']:,} words, {wrong:,} wrong (WER {_rate(wrong, result['words'])}), "
        f"{result['phoneme_errors']:,} phoneme edits / {result['reference_phonemes']:,} "
        f"(PER {_rate(result['phoneme_errors'], result['reference_phonemes'])}).",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictions", help="the TSV of `kerattn evaluate --predictions`")
    parser.add_argument("--examples", type=int, default=2, help="examples per kind (default 2)")
    args = parser.parse_args(argv)
    try:
        rows = read_rows(args.predictions, min_fields=3)
    except CorpusError as error:
        print(f"error_tables.py: {error}", file=sys.stderr)
        return 2
    try:
        from wordfreq import zipf_frequency
    except ImportError:
        print(
            "wordfreq is not installed (pip install wordfreq): no frequency table.", file=sys.stderr
        )
        frequency = None
    else:

        def frequency(word: str) -> float:
            return zipf_frequency(word, "en")

    print(markdown(analyse(rows, frequency), examples=args.examples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
