"""Context: is a hit the seller's own claim, or quoted by a warning, a report or a rule?

Consumer warnings, enforcement news and regulations use the same words as the
ads they are about. A hit counts less (the engine scales it by the context
factor) when

* its clause holds a negation or a narrow warning cue (不含…, 谨防…): clause scope,
  so a seller's "谨防假冒" does not hide the claim in the next clause;
* its sentence holds a warning or news cue (骗局, 查处…): sentence scope;
* the whole text reads as a report or a regulation: at least ``document_cues``
  distinct document cues (查处, 当事人, 行政处罚, 条规定…). A document cue also
  works as a sentence cue on its own.

Scopes are computed on the original text because normalisation drops some marks.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence

from detectors.config import Context, Cue

SENTENCE_ENDS = frozenset("。！？!?；;\n")
CLAUSE_ENDS = SENTENCE_ENDS | frozenset("，,：:")  # 、 lists items of one clause


# The marks as regexes, so that a 2 KB listing is scanned in C. A colon or comma between
# digits (1:1, 1,299) joins a number, not two clauses.
_SENTENCE_RE = re.compile("[" + re.escape("".join(sorted(SENTENCE_ENDS))) + "]")
_CLAUSE_RE = re.compile(
    "[" + re.escape("".join(sorted(CLAUSE_ENDS - set(":：,")))) + "]"
    r"|(?<!\d)[:：,]|[:：,](?!\d)"
)


class Scopes:
    """Index of the sentence and the clause each original character belongs to."""

    def __init__(self, text: str) -> None:
        self._ends = {
            "sentence": [m.start() for m in _SENTENCE_RE.finditer(text)],
            "clause": [m.start() for m in _CLAUSE_RE.finditer(text)],
        }

    def scope_of(self, position: int, scope: str) -> int:
        """Number of the ``scope`` unit holding ``position``; an end mark joins its unit."""
        return bisect_left(self._ends[scope], position)


def is_report(cues: Sequence[tuple[Cue, int]], context: Context) -> bool:
    """True when the text carries enough distinct document cues to be a report or rule."""
    distinct = {cue.cue for cue, _pos in cues if cue.scope == "document"}
    return len(distinct) >= context.document_cues


def cued_positions(
    cues: Sequence[tuple[Cue, int]], origins: Sequence[int], text: str
) -> list[bool]:
    """For each original position in ``origins``: does it share a scope with a cue?

    ``cues`` carry original positions here (the caller maps them back).
    """
    scopes = Scopes(text)
    marked: set[tuple[str, int]] = set()
    for cue, position in cues:
        kind = "sentence" if cue.scope == "document" else cue.scope
        marked.add((kind, scopes.scope_of(position, kind)))
    return [
        ("sentence", scopes.scope_of(o, "sentence")) in marked
        or ("clause", scopes.scope_of(o, "clause")) in marked
        for o in origins
    ]
