"""G2P n-best accuracy: how often one of a translator's K best pronunciations is acceptable.

A word's acceptable pronunciations are its dictionary rows and their alternates (CMUdict lists
"read" as both R IY D and R EH D), as `kerattn.zoo.evaluation.grouped_pronunciations` groups
them. Beam search lists the K best pronunciations of each word (`num_hypotheses=K`); accuracy
at k is the share of words with an acceptable one among the first k, and the mean reciprocal
rank averages 1 / (rank of the first acceptable one), 0 when none is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from kerattn.errors import UsageError


def first_acceptable_ranks(
    hypotheses: Sequence[Sequence[str]], acceptable: Sequence[Sequence[str]]
) -> list[int | None]:
    """The 1-based rank of each word's first acceptable hypothesis, None when none is;
    pronunciations are compared with their whitespace normalised."""
    ranks: list[int | None] = []
    for listed, accepted in zip(hypotheses, acceptable, strict=True):
        wanted = {" ".join(pronunciation.split()) for pronunciation in accepted}
        ranks.append(
            next(
                (rank for rank, text in enumerate(listed, 1) if " ".join(text.split()) in wanted),
                None,
            )
        )
    return ranks


def n_best_report(ranks: Sequence[int | None], num_hypotheses: int) -> dict:
    """{"accuracy_at_1", "accuracy_at_<k>" for k = 1 … K, "mean_reciprocal_rank"} of `ranks`."""
    count = len(ranks)
    if count == 0:
        raise UsageError("n-best accuracy needs at least one word; received none.")
    metrics = {
        f"accuracy_at_{k}": sum(1 for rank in ranks if rank is not None and rank <= k) / count
        for k in range(1, num_hypotheses + 1)
    }
    metrics["mean_reciprocal_rank"] = sum(1 / rank for rank in ranks if rank) / count
    return metrics


def evaluate_g2p_n_best(
    model,
    references: Mapping[str, Sequence[str]],
    num_hypotheses: int = 4,
    beam_size: int | None = None,
    batch_size: int = 64,
) -> dict:
    """n-best accuracy of a G2P translator on `references` (word → acceptable pronunciations).

    Args:
        model: a `Translator`.
        references: e.g. `_g2p_references` of `kerattn.zoo.evaluation`, or
            `grouped_pronunciations` of the test rows plus the alternates.
        num_hypotheses: K, hypotheses listed per word.
        beam_size: default: the model's, widened to K.
        batch_size: words per `translate` call.

    Returns:
        {"task": "g2p", "settings": {...}, "metrics": {...}, "counts": {"examples": n}}.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"`batch_size` must be an int >= 1; received batch_size={batch_size!r}.")
    words = list(references)
    hypotheses: list[list[str]] = []
    for start in range(0, len(words), batch_size):
        results = model.translate(
            words[start : start + batch_size], beam_size=beam_size, num_hypotheses=num_hypotheses
        )
        hypotheses += [[h.text for h in result.hypotheses] for result in results]
    ranks = first_acceptable_ranks(hypotheses, [references[word] for word in words])
    return {
        "task": "g2p",
        "settings": {"num_hypotheses": num_hypotheses, "beam_size": beam_size},
        "metrics": n_best_report(ranks, num_hypotheses),
        "counts": {"examples": len(words)},
    }


def evaluate_g2p_n_best_file(
    model,
    data_path: str | os.PathLike,
    alternates_path: str | os.PathLike | None = None,
    num_hypotheses: int = 4,
    beam_size: int | None = None,
    limit: int | None = None,
) -> dict:
    """`evaluate_g2p_n_best` on a `word<TAB>phonemes` file and its alternates file (the cmudict
    corpus's test.tsv and alternates.tsv); the first `limit` words when given."""
    from kerattn.data import read_pairs
    from kerattn.zoo.evaluation import grouped_pronunciations

    references = grouped_pronunciations(read_pairs(data_path))
    if limit is not None:
        references = dict(list(references.items())[:limit])
    if alternates_path is not None:
        for word, pronunciations in grouped_pronunciations(read_pairs(alternates_path)).items():
            if word in references:
                references[word] = list(dict.fromkeys(references[word] + pronunciations))
    return evaluate_g2p_n_best(model, references, num_hypotheses, beam_size)
