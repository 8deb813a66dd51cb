"""Chinese numerals -> Arabic digits in numeric claims (三天瘦十斤 -> 3天瘦10斤).

Only numerals followed by a counter or unit (天, 斤, 个月, %, …) and the form
百分之N are converted, so words such as 十全大补 or 万一 stay as they are.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_DIGITS.update({"六": 6, "七": 7, "八": 8, "九": 9})
_MULTIPLIERS = {"十": 10, "百": 100, "千": 1000}
_NUMERAL_CHARS = "".join(_DIGITS) + "十百千万"
_AFTER_NUMBER = frozenset("0123456789.")
_MAX_NUMERAL = 24  # a longer run of numeral characters is no number anybody claims
_UNITS = (
    "天|日|周|星期|个|月|年|岁|斤|公斤|克|次|倍|成|折|分钟|秒|小时|元|块|平|米|层|站|期|"
    "疗程|盒|粒|瓶|袋|箱|件|位|名|度|号线|公里|千米|码|升|吨|亩|cm|kg|%"
)


@lru_cache(maxsize=1)
def _numeral_re() -> re.Pattern[str]:
    run = f"[{_NUMERAL_CHARS}]+"
    return re.compile(f"百分之(?P<pct>[0-9{_NUMERAL_CHARS}]+)|(?P<num>{run})(?=(?:{_UNITS}))")


def chinese_to_int(numeral: str) -> int | None:
    """Value of a Chinese numeral such as 十五, 一百零五, 两千, 二〇二三; None if not a number."""
    if len(numeral) > _MAX_NUMERAL:
        return None
    if numeral.isdigit() and numeral.isascii():
        return int(numeral)
    if not any(c in _DIGITS or c == "十" for c in numeral):
        return None  # a bare 百/千/万 is a word, not a number
    if len(numeral) > 1 and all(c in _DIGITS for c in numeral):
        return int("".join(str(_DIGITS[c]) for c in numeral))  # digit by digit: 二〇二三
    total = section = digit = 0
    previous = ""
    for char in numeral:
        if char in _DIGITS:
            if previous in _DIGITS and previous not in "零〇":
                return None  # 十八一 (十八 + 一斤): two numbers, not one
            digit = _DIGITS[char]
        elif char in _MULTIPLIERS:
            section += (digit or 1) * _MULTIPLIERS[char]
            digit = 0
        elif char == "万":
            total += (section + digit) * 10000
            section = digit = 0
        else:
            return None
        previous = char
    return total + section + digit


def _spread(start: int, length: int, count: int) -> list[int]:
    """Offsets for ``count`` output chars replacing ``length`` input chars at ``start``.

    The first output char maps to the first input char and the last to the last,
    so a span over the replacement covers the whole original numeral.
    """
    if count == 1:
        return [start]
    return [start + round(j * (length - 1) / (count - 1)) for j in range(count)]


@lru_cache(maxsize=1)
def _candidate_re() -> re.Pattern[str]:
    # A numeral run followed by the first character of a unit (or 百分之): cheap to search.
    # Only at the start of a run, and taken whole: otherwise a long run of numerals with
    # no unit after it is rescanned from each of its characters (quadratic time). The
    # pattern opens with the numeral class (the look-behind follows the first character),
    # so the engine skips to candidates in C.
    firsts = "".join(sorted({u[0] for u in _UNITS.split("|")} | {"分"}))
    run = f"[{_NUMERAL_CHARS}]"
    return re.compile(f"{run}(?<!{run}.){run}*+[{re.escape(firsts)}]")


def has_numeral(text: str) -> bool:
    """Cheap pre-check: could ``text`` hold a Chinese numeral that ``convert_numerals`` converts?"""
    return _candidate_re().search(text) is not None


Replacement = tuple[int, int, int, int]  # input start, input length, output start, output length


@lru_cache(maxsize=1)
def _single_units() -> frozenset[str]:
    return frozenset(u for u in _UNITS.split("|") if len(u) == 1)


@lru_cache(maxsize=4096)
def _converted(numeral: str, percent: bool) -> str | None:
    value = chinese_to_int(numeral)
    if value is None:
        return None
    return f"{value}%" if percent else str(value)


def numeral_replacements(text: str) -> tuple[str, list[Replacement]]:
    """The converted text and the replacements made, in order (empty: unchanged)."""
    pieces: list[str] = []
    replacements: list[Replacement] = []
    pos = out = 0
    precise = _numeral_re()
    single = _single_units()
    for candidate in _candidate_re().finditer(text):
        start, end = candidate.span()
        if start < pos:
            continue
        before = text[start - 1] if start else ""
        if before and (before in _AFTER_NUMBER or before in "几数"):
            continue  # 18一斤 (18 yuan a jin), 几十块 (tens of yuan): not one number
        if text[end - 1] in single:
            # The common case (七天, 三次): the run itself is the numeral, no second match.
            numeral, percent, stop = text[start : end - 1], False, end - 1
        else:
            m = precise.match(text, start)
            if m is None:
                continue
            percent = m.group("pct") is not None
            numeral, stop = m.group("pct" if percent else "num"), m.end()
        replacement = _converted(numeral, percent)
        if replacement is None:
            continue
        pieces.append(text[pos:start])
        out += start - pos
        replacements.append((start, stop - start, out, len(replacement)))
        pieces.append(replacement)
        out += len(replacement)
        pos = stop
    if not replacements:
        return text, replacements
    pieces.append(text[pos:])
    return "".join(pieces), replacements


def replacement_source(index: int, replacements: list[Replacement], starts: list[int]) -> int:
    """Input index of output char ``index``; ``starts`` are the replacements' output starts."""
    k = bisect_right(starts, index) - 1
    if k < 0:
        return index
    in_start, in_len, out_start, out_len = replacements[k]
    if index < out_start + out_len:
        return _spread(in_start, in_len, out_len)[index - out_start]
    return index - (out_start + out_len) + in_start + in_len


def convert_numerals(text: str) -> tuple[str, list[int] | None]:
    """Return the converted text and, per output char, its index in ``text``.

    The index list is None when nothing changed (the identity map).
    """
    converted, replacements = numeral_replacements(text)
    if not replacements:
        return text, None
    starts = [r[2] for r in replacements]
    return converted, [replacement_source(i, replacements, starts) for i in range(len(converted))]
