"""Pinyin spellings of lexicon terms, generated with pypinyin when the matcher compiles.

Sellers write 减肥 as ``jianfei``, ``jian fei``, ``jf`` or ``减fei``. For each term of
two or more CJK characters this module gives those spellings; which of them count
and how much is decided by the variant settings (``detectors.variants``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_READINGS = 2  # readings per character
_SPELLINGS = 4  # spellings per term
_PURE_CJK = re.compile("^[\u3400-\u4dbf\u4e00-\u9fff]{2,}$")


@dataclass(frozen=True)
class PinyinForms:
    joined: tuple[str, ...]  # jianfei; more than one when a character has several readings
    spaced: str  # jian fei
    initials: str  # jf
    mixed: tuple[str, ...]  # 减fei, jian肥 (first or last syllable romanised)


@lru_cache(maxsize=8192)
def pinyin_forms(term: str) -> PinyinForms | None:
    """The pinyin spellings of ``term``; None unless it is 2+ CJK characters."""
    if not _PURE_CJK.match(term):
        return None
    from pypinyin import Style, lazy_pinyin, pinyin  # heavy import: only when compiling

    syllables = lazy_pinyin(term, style=Style.NORMAL, errors="ignore", v_to_u=False)
    if len(syllables) != len(term) or not all(s.isascii() and s.isalpha() for s in syllables):
        return None
    # Other readings of each character (长: chang/zhang), phrase reading first.
    readings = [
        [first, *(r for r in alts if r != first and r.isascii() and r.isalpha())][:_READINGS]
        for first, alts in zip(
            syllables, pinyin(term, style=Style.NORMAL, heteronym=True), strict=True
        )
    ]
    spellings = [""]
    for options in readings:
        spellings = [s + o for s in spellings for o in options][:_SPELLINGS]
    return PinyinForms(
        joined=tuple(dict.fromkeys(spellings)),
        spaced=" ".join(syllables),
        initials="".join(s[0] for s in syllables),  # primary reading only: short, collides
        mixed=(term[:-1] + syllables[-1], syllables[0] + term[1:]),
    )
