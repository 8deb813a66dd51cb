"""Sentence and clause scopes of the original text, for the light context rule.

A hit that shares its sentence with a warning or news cue (警惕, 查处, 谣言…) or
its clause with a negation cue (不含…) is down-weighted by the engine. Scopes are
computed on the original text because normalisation drops commas between CJK
characters.
"""

from __future__ import annotations

from bisect import bisect_left

SENTENCE_ENDS = frozenset("。！？!?；;\n")
CLAUSE_ENDS = SENTENCE_ENDS | frozenset("，,：:")  # 、 lists items of one clause


class Scopes:
    """Index of the sentence and the clause each original character belongs to."""

    def __init__(self, text: str) -> None:
        self._ends = {
            "sentence": [i for i, c in enumerate(text) if c in SENTENCE_ENDS],
            "clause": [i for i, c in enumerate(text) if c in CLAUSE_ENDS],
        }

    def scope_of(self, position: int, scope: str) -> int:
        """Number of the ``scope`` unit holding ``position``; an end mark joins its unit."""
        return bisect_left(self._ends[scope], position)
