"""`(did you mean X?)` hints, as BuildKit's util/suggest gives them: the closest
candidate by edit distance, if it is close enough to be a likely typo."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["did_you_mean"]


def did_you_mean(word: str, candidates: Iterable[str], *, case_sensitive: bool = False) -> str:
    """" (did you mean X?)" or "" when nothing is close (at most 2 edits, fewer than the
    word's length)."""
    if not word:
        return ""
    key = word if case_sensitive else word.lower()
    best, best_distance = "", 3
    for candidate in candidates:
        distance = levenshtein(key, candidate if case_sensitive else candidate.lower())
        if distance < best_distance:
            best, best_distance = candidate, distance
    if best and best_distance < len(word):
        return f" (did you mean {best}?)"
    return ""


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
