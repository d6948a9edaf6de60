"""G2P n-best accuracy: how often one of a translator's K best pronunciations is acceptable.

A word's acceptable pronunciations are its dictionary rows and their alternates (CMUdict lists
"read" as both R IY D and R EH D), as `kerattn.zoo.evaluation.grouped_pronunciations` groups
them. Beam search lists the K best pronunciations of each word (`num_hypotheses=K`); accuracy
at k is the share of words with an acceptable one among the first k, and the mean reciprocal
rank averages 1 / (rank of the first acceptable one), 0 when none is.

`kerattn evaluate --n-best K` (`kerattn.zoo.evaluation.evaluate_g2p(..., n_best=K)`) reports
these next to the word and phoneme error rates of the best hypothesis.
"""

from __future__ import annotations

from collections.abc import Sequence

from kerattn.errors import UsageError


def _symbols(pronunciation: str | Sequence[str]) -> tuple[str, ...]:
    # "R IY D", "R  IY D" and ["R", "IY", "D"] are the same pronunciation.
    if isinstance(pronunciation, str):
        return tuple(pronunciation.split())
    return tuple(pronunciation)


def first_acceptable_ranks(
    hypotheses: Sequence[Sequence[str]], acceptable: Sequence[Sequence[str] | str]
) -> list[int | None]:
    """The 1-based rank of each word's first acceptable hypothesis, None when none is.

    Args:
        hypotheses: per word, its hypotheses best first (whitespace-separated symbols).
        acceptable: per word, its acceptable pronunciations (strings or symbol lists; one
            string alone is one pronunciation); compared symbol by symbol.
    """
    ranks: list[int | None] = []
    for listed, accepted in zip(hypotheses, acceptable, strict=True):
        if isinstance(accepted, str):
            accepted = [accepted]
        wanted = {_symbols(pronunciation) for pronunciation in accepted}
        ranks.append(
            next((rank for rank, text in enumerate(listed, 1) if _symbols(text) in wanted), None)
        )
    return ranks


def n_best_report(ranks: Sequence[int | None], num_hypotheses: int) -> dict:
    """{"accuracy_at_<k>" for k = 1 … K, "mean_reciprocal_rank"} of `ranks`."""
    count = len(ranks)
    if count == 0:
        raise UsageError("n-best accuracy needs at least one word; received none.")
    metrics = {
        f"accuracy_at_{k}": sum(1 for rank in ranks if rank is not None and rank <= k) / count
        for k in range(1, num_hypotheses + 1)
    }
    metrics["mean_reciprocal_rank"] = sum(1 / rank for rank in ranks if rank) / count
    return metrics
