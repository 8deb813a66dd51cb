"""Chinese numerals -> Arabic digits in numeric claims (三天瘦十斤 -> 3天瘦10斤).

Only numerals followed by a counter or unit (天, 斤, 个月, %, …) and the form
百分之N are converted, so words such as 十全大补 or 万一 stay as they are.
"""

from __future__ import annotations

import re
from functools import lru_cache

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_DIGITS.update({"六": 6, "七": 7, "八": 8, "九": 9})
_MULTIPLIERS = {"十": 10, "百": 100, "千": 1000}
_NUMERAL_CHARS = "".join(_DIGITS) + "十百千万"
_UNITS = (
    "天|日|周|星期|个|月|年|岁|斤|公斤|克|次|倍|成|折|分钟|秒|小时|元|块|平|米|层|站|期|"
    "疗程|盒|粒|瓶|袋|箱|件|位|名|度|号线|公里|千米|码|cm|kg|%"
)


@lru_cache(maxsize=1)
def _numeral_re() -> re.Pattern[str]:
    run = f"[{_NUMERAL_CHARS}]+"
    return re.compile(f"百分之(?P<pct>[0-9{_NUMERAL_CHARS}]+)|(?P<num>{run})(?=(?:{_UNITS}))")


def chinese_to_int(numeral: str) -> int | None:
    """Value of a Chinese numeral such as 十五, 一百零五, 两千, 二〇二三; None if not a number."""
    if numeral.isdigit() and numeral.isascii():
        return int(numeral)
    if not any(c in _DIGITS or c == "十" for c in numeral):
        return None  # a bare 百/千/万 is a word, not a number
    if len(numeral) > 1 and all(c in _DIGITS for c in numeral):
        return int("".join(str(_DIGITS[c]) for c in numeral))  # digit by digit: 二〇二三
    total = section = digit = 0
    for char in numeral:
        if char in _DIGITS:
            digit = _DIGITS[char]
        elif char in _MULTIPLIERS:
            section += (digit or 1) * _MULTIPLIERS[char]
            digit = 0
        elif char == "万":
            total += (section + digit) * 10000
            section = digit = 0
        else:
            return None
    return total + section + digit


def _spread(start: int, length: int, count: int) -> list[int]:
    """Offsets for ``count`` output chars replacing ``length`` input chars at ``start``.

    The first output char maps to the first input char and the last to the last,
    so a span over the replacement covers the whole original numeral.
    """
    if count == 1:
        return [start]
    return [start + round(j * (length - 1) / (count - 1)) for j in range(count)]


def convert_numerals(text: str) -> tuple[str, list[int] | None]:
    """Return the converted text and, per output char, its index in ``text``.

    The index list is None when nothing changed (the identity map).
    """
    if not any(c in _NUMERAL_CHARS for c in text):
        return text, None
    pieces: list[str] = []
    offsets: list[int] = []
    pos = 0
    for m in _numeral_re().finditer(text):
        group = "pct" if m.group("pct") is not None else "num"
        value = chinese_to_int(m.group(group))
        if value is None:
            continue
        replacement = f"{value}%" if group == "pct" else str(value)
        pieces.append(text[pos : m.start()])
        offsets.extend(range(pos, m.start()))
        pieces.append(replacement)
        offsets.extend(_spread(m.start(), m.end() - m.start(), len(replacement)))
        pos = m.end()
    if pos == 0:
        return text, None
    pieces.append(text[pos:])
    offsets.extend(range(pos, len(text)))
    return "".join(pieces), offsets
