"""Text normalisation that keeps a map back to the original characters.

Sellers dodge keyword filters with full-width letters, traditional characters,
symbols, spaces or emoji between characters and Chinese numerals. ``normalize``
undoes those tricks and can say, for every normalised character, which original
character it came from, so a span found in the normalised text can be reported
in the original text.

It runs on every crawled text, so the common path is cheap: ``str.lower`` plus a
set test decide whether the (slow, per-character) translate table is needed at
all, the fillers to drop are found and dropped by one regex, and the offset map is
built only when somebody asks for it (texts with hits).
"""

from __future__ import annotations

import importlib.util
import logging
import re
from bisect import bisect_right
from functools import lru_cache
from pathlib import Path

from detectors.clean import REPLACEMENT, SURROGATES
from detectors.numerals import Replacement, numeral_replacements, replacement_source

log = logging.getLogger(__name__)

# CJK ideographs (basic, extension A, compatibility, extensions B+).
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
# Zero-width characters, variation selectors, emoji: never meaningful.
_INVISIBLE = (
    "\u200b-\u200f\u2060-\u2064\ufe00-\ufe0f\ufeff\U0001f000-\U0001faff\U000e0000-\U000e007f"
)
# Decorative separators that no ordinary text puts between two letters or digits
# (1❤0❤0%, 7·2·v, jian*fei): dropped between any two word characters.
_EXOTIC = "*_\u00b7\u2022\u2190-\u2bff\u30fb" + _INVISIBLE
# Whitespace (newlines too: claims get split across title and description) and
# symbols, dropped when they touch a CJK character on one side and a word
# character on the other. Clause and sentence marks (，、：；。！？ and ASCII
# ,:;.!?) are not fillers: they keep clauses apart (强壮，阳光 is not 壮阳) and
# the context pass needs them; '.' and ':' also keep 1.5 and 1:1 intact.
_FILLER = (
    " \t\r\n\u00a0\u3000"
    "\"#$&'()*+\\-./<=>@\\[\\\\\\]^_`{|}~"
    "\u00a1-\u00a4\u00a6-\u00bf\u00d7\u00f7"
    "\u2000-\u206f\u2190-\u2bff"
    "\u3003-\u3011\u3014-\u303f\u30fb"
    "\ufe10-\ufe1f\ufe30-\ufe4f\uff02-\uff04\uff06-\uff0b\uff0d\uff0f\uff1c-\uff1e"
    "\uff20\uff3b-\uff40\uff5b-\uff65\uffe0-\uffe4\uffe6-\uffee" + _INVISIBLE
)

# Hand-written traditional -> simplified pairs for the characters our lexicons use;
# only used when opencc-python-reimplemented is not installed.
_T2S_FALLBACK_TRAD = (
    "減壯陽腎藥醫療癒體髮發態術顏臉膚劑針絲線紋絨貨單專櫃價錢購買賣樓區學輕鬆門診遺傳"
    "祕絕對級國標準廣壓濕癢風經雙險證書號營銷兒煙電車碼氣釀農費殯鐵塊萬億圓與後裡這為"
    "實無滿"
)
_T2S_FALLBACK_SIMP = (
    "减壮阳肾药医疗愈体发发态术颜脸肤剂针丝线纹绒货单专柜价钱购买卖楼区学轻松门诊遗传"
    "秘绝对级国标准广压湿痒风经双险证书号营销儿烟电车码气酿农费殡铁块万亿圆与后里这为"
    "实无满"
)


class Normalized:
    """Normalised text; ``offsets[i]`` is the original index of ``text[i]``.

    The map is kept piecewise (kept segments of the original, numeral replacements)
    and expanded only on request, so texts without hits never pay for it. The segments
    themselves are found only then, from the folded text (``dropped_from``).
    """

    __slots__ = (
        "_cum",
        "_folded",
        "_offsets",
        "_replacements",
        "_rstarts",
        "_segments",
        "text",
    )

    def __init__(
        self,
        text: str,
        offsets: list[int] | None = None,
        *,
        segments: list[tuple[int, int]] | None = None,
        replacements: list[Replacement] | None = None,
        dropped_from: str | None = None,
    ) -> None:
        self.text = text
        self._offsets = offsets
        self._segments = segments  # kept [start, end) ranges of the original, in order
        self._folded = dropped_from  # the folded text fillers were dropped from
        self._replacements = replacements or []  # numeral pass, in segment-joined coordinates
        self._cum: list[int] | None = None
        self._rstarts: list[int] | None = None

    def source(self, index: int) -> int:
        """The original index of ``text[index]`` (no full map is built)."""
        if self._offsets is not None:
            return self._offsets[index]
        if self._replacements:
            if self._rstarts is None:
                self._rstarts = [r[2] for r in self._replacements]
            index = replacement_source(index, self._replacements, self._rstarts)
        if self._folded is not None:
            folded, self._folded = self._folded, None
            runs = [m.span() for m in _drop_re().finditer(folded)]
            self._segments = _kept(len(folded), runs)
        if self._segments is None:
            return index
        if self._cum is None:
            cum, total = [], 0
            for start, end in self._segments:
                cum.append(total)
                total += end - start
            self._cum = cum
        k = bisect_right(self._cum, index) - 1
        return self._segments[k][0] + index - self._cum[k]

    @property
    def offsets(self) -> list[int]:
        if self._offsets is None:
            self._offsets = [self.source(i) for i in range(len(self.text))]
        return self._offsets

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a non-empty span [start, end) of the normalised text to the original."""
        return self.source(start), self.source(end - 1) + 1

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Normalized):
            return NotImplemented
        return self.text == other.text and self.offsets == other.offsets

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Normalized({self.text!r})"


def _opencc_t2s_file() -> Path | None:
    spec = importlib.util.find_spec("opencc")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "dictionary" / "TSCharacters.txt"
        if candidate.is_file():
            return candidate
    return None


def _t2s_pairs() -> dict[str, str]:
    path = _opencc_t2s_file()
    if path is None:
        log.info("opencc dictionary not found; using the built-in traditional table")
        return dict(zip(_T2S_FALLBACK_TRAD, _T2S_FALLBACK_SIMP, strict=True))
    table: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        source, _, targets = line.partition("\t")
        target = targets.split(" ")[0] if targets else ""
        if len(source) == 1 and len(target) == 1 and source != target:
            table[source] = target
    return table


# A lone surrogate (JSON "\ud800") cannot be encoded for the automaton: fold makes it U+FFFD.
@lru_cache(maxsize=1)
def _surrogate_re() -> re.Pattern[str]:
    return re.compile(f"[{SURROGATES}]")


@lru_cache(maxsize=1)
def char_table() -> dict[int, int]:
    """One translation table: full-width -> half-width, A-Z -> a-z, traditional -> simplified.

    Every mapping is one character to one character, so ``str.translate`` keeps
    positions and the offset map of this pass is the identity. Full-width clause
    and sentence marks (，：！？；) are left alone: they are not fillers either way.
    """
    table: dict[int, int] = {ord(k): ord(v) for k, v in _t2s_pairs().items()}
    # Digits and letters only: full-width ：，！？； are common in plain Chinese text and
    # folding them would send most texts through the slow translate path.
    for code in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B)):
        table[code] = code - 0xFEE0
    # Circled single digits (③⓪分钟): sellers use them to slip numbers past filters.
    for first in (0x2460, 0x2776, 0x2780, 0x24F5):
        for i in range(9):
            table[first + i] = ord("1") + i
    table[0x24EA] = table[0x24FF] = ord("0")
    table[0xFF05] = ord("%")
    table[0xFFE5] = 0xA5  # one yuan sign for price rules
    for code in list(table):
        target = table[code]
        if ord("A") <= target <= ord("Z"):
            table[code] = target + 32
    for code in range(ord("A"), ord("Z") + 1):
        table[code] = code + 32
    return table


@lru_cache(maxsize=1)
def _fold_re() -> re.Pattern[str]:
    # A regex character class is a bitmap scan in C: far cheaper than a set test per char.
    keys = [chr(code) for code in char_table() if code < 0x10000]
    ranges = f"{SURROGATES}\U00010000-\U0010ffff"
    return re.compile("[" + "".join(re.escape(k) for k in keys) + ranges + "]")


def fold(text: str) -> str:
    """The per-character pass alone: case, width, traditional -> simplified."""
    low = text.lower()
    if len(low) != len(text):  # a few letters lower-case to two characters
        return _surrogate_re().sub(REPLACEMENT, text.translate(char_table()))
    # Characters to fold are rare in real text: a C regex scan plus one call per hit
    # beats str.translate, which looks every character up in a dict.
    return _fold_re().sub(_fold_char, low)


@lru_cache(maxsize=1)
def _fold_map() -> dict[str, str]:
    return {chr(k): chr(v) for k, v in char_table().items()}


def _fold_char(match: re.Match[str]) -> str:
    char = match.group()
    folded = _fold_map().get(char)
    if folded is not None:
        return folded
    return REPLACEMENT if _surrogate_re().match(char) else char


def _drop_pattern() -> str:
    """One regex for the filler runs to drop (see ``_FILLER`` and ``_EXOTIC``).

    A run of fillers goes when it touches a CJK ideograph on one side and a word
    character (CJK, a-z, 0-9, %, ¥) on the other, when it is all exotic separators
    between two word characters, or when it is all invisible. Fillers, word characters
    and the marks around them are disjoint classes, so each alternative matches whole
    runs only. The pattern opens with the filler class and looks back from the run's
    first character, so that the engine skips to candidate runs in C.
    """
    fill, word = f"[{_FILLER}]", f"[{CJK}0-9a-z%\u00a5]"
    cjk, exotic, invisible = f"[{CJK}]", f"[{_EXOTIC}]", f"[{_INVISIBLE}]"
    return (
        f"{fill}(?:"
        f"(?<={cjk}.){fill}*(?={word})"
        f"|(?<={word}.){fill}*(?={cjk})"
        f"|(?<={word}{exotic}){exotic}*(?={word})"
        f"|(?<!{fill}.)(?<={invisible}){invisible}*(?!{fill})"
        ")"
    )


@lru_cache(maxsize=1)
def _drop_re() -> re.Pattern[str]:
    return re.compile(_drop_pattern(), re.DOTALL)  # '.' in a look-behind is the run's first char


def normalize_text(text: str) -> str:
    """``normalize(text).text`` without the offset map: for screening and models."""
    return numeral_replacements(_drop_re().sub("", fold(text)))[0]


def _kept(length: int, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The [start, end) segments left between the dropped ``runs``."""
    segments = []
    pos = 0
    for start, end in runs:
        if start > pos:
            segments.append((pos, start))
        pos = end
    if pos < length:
        segments.append((pos, length))
    return segments


def normalize(text: str) -> Normalized:
    """Normalise ``text`` for matching; see the module docstring."""
    folded = fold(text)
    stage = _drop_re().sub("", folded)
    converted, replacements = numeral_replacements(stage)
    return Normalized(
        converted,
        replacements=replacements,
        dropped_from=folded if len(stage) != len(folded) else None,
    )
