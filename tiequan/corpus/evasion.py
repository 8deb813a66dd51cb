"""Evasion variants of a claim, as sellers write them (see DOMAIN.md, "How sellers evade").

Each function takes the claim and a seeded ``random.Random`` and returns the disguised
claim, or None when the trick does not apply to that claim.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from functools import lru_cache

_CJK = re.compile(r"[\u4e00-\u9fff]")
_SYMBOLS = ("*", "·", "~", " ", "/", "★", "_", "♥", "-")
# Look-alike or same-sound characters sellers put in place of flagged ones.
_HOMOPHONES = {
    "减": "剪",
    "肥": "淝",
    "瘦": "廋",
    "脂": "旨",
    "阳": "羊",
    "壮": "状",
    "糖": "唐",
    "压": "鸭",
    "治": "冶",
    "癌": "岩",
    "病": "柄",
    "药": "要",
    "仿": "纺",
    "绒": "茸",
    "牌": "排",
    "值": "直",
    "租": "祖",
    "投": "头",
    "针": "真",
    "斑": "班",
    "痛": "通",
    "烟": "菸",
    "速": "束",
    "酒": "久",
    "醋": "促",
}
_DIGITS = "零一二三四五六七八九"
_CN_NUM = re.compile(r"[一二三四五六七八九十两]+(?=[天斤个年次倍分周针瓶盒粒袋杯码圈成])")
_AR_NUM = re.compile(r"\d+(?![\d.%])")


@lru_cache(maxsize=1)
def _s2t() -> Callable[[str], str]:
    from opencc import OpenCC  # the generator only; detectors use their own table

    return OpenCC("s2t").convert  # type: ignore[no-any-return]


def traditional(claim: str, rng: random.Random) -> str | None:
    out = _s2t()(claim)
    return out if out != claim else None


def symbols(claim: str, rng: random.Random) -> str | None:
    chars = list(claim)
    cjk = [i for i in range(len(chars) - 1) if _CJK.match(chars[i]) and _CJK.match(chars[i + 1])]
    if len(cjk) < 2:
        return None
    chosen = rng.sample(cjk, k=max(1, len(cjk) // 3))
    mark = rng.choice(_SYMBOLS)
    for i in sorted(chosen, reverse=True):
        chars.insert(i + 1, mark)
    return "".join(chars)


def pinyin(claim: str, rng: random.Random) -> str | None:
    from pypinyin import lazy_pinyin  # the generator only

    runs = [m for m in re.finditer(r"[\u4e00-\u9fff]{2,4}", claim)]
    if not runs:
        return None
    run = rng.choice(runs)
    start = rng.randrange(run.start(), run.end() - 1)
    word = claim[start : start + 2]
    syllables = lazy_pinyin(word)
    spelled = "".join(syllables) if rng.random() < 0.6 else "".join(s[0] for s in syllables)
    return claim[:start] + spelled + claim[start + 2 :]


def homophone(claim: str, rng: random.Random) -> str | None:
    spots = [i for i, ch in enumerate(claim) if ch in _HOMOPHONES]
    if not spots:
        return None
    chars = list(claim)
    for i in rng.sample(spots, k=min(len(spots), 2)):
        chars[i] = _HOMOPHONES[chars[i]]
    return "".join(chars)


def _to_chinese(number: int) -> str:
    if number < 10:
        return _DIGITS[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        head = "" if tens == 1 else _DIGITS[tens]
        return head + "十" + (_DIGITS[ones] if ones else "")
    return "".join(_DIGITS[int(d)] for d in str(number))


def _to_arabic(word: str) -> str:
    values = {c: i for i, c in enumerate(_DIGITS)} | {"两": 2}
    if "十" in word:
        head, _, tail = word.partition("十")
        tens = values.get(head, 1) if head else 1
        return str(tens * 10 + (values.get(tail, 0) if tail else 0))
    return "".join(str(values[c]) for c in word if c in values)


def numeric(claim: str, rng: random.Random) -> str | None:
    if _AR_NUM.search(claim):
        return _AR_NUM.sub(lambda m: _to_chinese(int(m.group())), claim)
    if _CN_NUM.search(claim):
        return _CN_NUM.sub(lambda m: _to_arabic(m.group()), claim)
    return None


EVASIONS: dict[str, Callable[[str, random.Random], str | None]] = {
    "traditional": traditional,
    "symbols": symbols,
    "pinyin": pinyin,
    "homophone": homophone,
    "numeric": numeric,
}


def split_claim(product: str, claim: str) -> str:
    """A claim split between the title and the description of one listing."""
    head, sep, tail = claim.partition("，")
    if not sep:
        middle = len(claim) // 2
        head, tail = claim[:middle], claim[middle:]
    return f"标题：{product} {head}\n描述：{tail}，欢迎下单。"
