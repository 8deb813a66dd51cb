"""Text normalisation that keeps a map back to the original characters.

Sellers dodge keyword filters with full-width letters, traditional characters,
symbols or emoji between characters and Chinese numerals. ``normalize`` undoes
those tricks and records, for every normalised character, the index of the
original character it came from, so a span found in the normalised text can be
reported in the original text.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from detectors.numerals import convert_numerals

log = logging.getLogger(__name__)

# CJK ideographs (basic, extension A, compatibility, extensions B+).
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
# Characters that join a run of CJK text: a filler run is dropped only when it
# sits between two of these and at least one neighbour is CJK.
_WORD = CJK + "0-9a-z%\u00a5\uffe5"
# Zero-width characters, variation selectors, emoji: never meaningful.
_INVISIBLE = (
    "\u200b-\u200f\u2060-\u2064\ufe00-\ufe0f\ufeff\U0001f000-\U0001faff\U000e0000-\U000e007f"
)
# Whitespace (newlines too: claims get split across title and description),
# punctuation and symbols, except 。!?; (kept so regex rules stay in one sentence),
# % and the yuan signs (percentages and prices).
_FILLER = (
    " \t\r\n\u00a0\u3000"
    "\"#$&'()*+,\\-./:<=>@\\[\\\\\\]^_`{|}~"
    "\u00a1-\u00a4\u00a6-\u00bf\u00d7\u00f7"
    "\u2000-\u206f\u2190-\u2bff"
    "\u3001\u3003-\u3011\u3014-\u303f\u30fb"
    "\ufe10-\ufe1f\ufe30-\ufe4f\uff5f-\uff65\uffe0-\uffe4\uffe6-\uffee" + _INVISIBLE
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


@dataclass(frozen=True)
class Normalized:
    """Normalised text; ``offsets[i]`` is the original index of ``text[i]``."""

    text: str
    offsets: list[int]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a non-empty span [start, end) of the normalised text to the original."""
        return self.offsets[start], self.offsets[end - 1] + 1


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


@lru_cache(maxsize=1)
def char_table() -> dict[int, int]:
    """One translation table: full-width -> half-width, A-Z -> a-z, traditional -> simplified.

    Every mapping is one character to one character, so ``str.translate`` keeps
    positions and the offset map of this pass is the identity.
    """
    table: dict[int, int] = {ord(k): ord(v) for k, v in _t2s_pairs().items()}
    for code in range(0xFF01, 0xFF5F):
        table[code] = code - 0xFEE0
    table[0x3000] = ord(" ")
    table[0xFFE5] = 0xA5  # one yuan sign for price rules
    for code in list(table):
        target = table[code]
        if ord("A") <= target <= ord("Z"):
            table[code] = target + 32
    for code in range(ord("A"), ord("Z") + 1):
        table[code] = code + 32
    return table


@lru_cache(maxsize=1)
def _drop_re() -> re.Pattern[str]:
    filler = f"[{_FILLER}]+"
    return re.compile(
        f"(?<=[{CJK}]){filler}(?=[{_WORD}])|(?<=[{_WORD}]){filler}(?=[{CJK}])|[{_INVISIBLE}]+"
    )


def _drop_fillers(text: str) -> Normalized:
    pieces: list[str] = []
    offsets: list[int] = []
    pos = 0
    for m in _drop_re().finditer(text):
        if m.start() > pos:
            pieces.append(text[pos : m.start()])
            offsets.extend(range(pos, m.start()))
        pos = m.end()
    if pos == 0:
        return Normalized(text, list(range(len(text))))
    pieces.append(text[pos:])
    offsets.extend(range(pos, len(text)))
    return Normalized("".join(pieces), offsets)


def normalize(text: str) -> Normalized:
    """Normalise ``text`` for matching; see the module docstring."""
    folded = text.translate(char_table())
    stage = _drop_fillers(folded)
    converted, local = convert_numerals(stage.text)
    if local is None:
        return stage
    return Normalized(converted, [stage.offsets[i] for i in local])
