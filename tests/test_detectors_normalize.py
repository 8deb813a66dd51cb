"""Normalisation: evasion tricks undone, offsets always point at original characters."""

from __future__ import annotations

import importlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.normalize import char_table, normalize, normalize_text
from detectors.numerals import chinese_to_int


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("三天瘦十斤", "3天瘦10斤"),
        ("两周瘦二十斤", "2周瘦20斤"),
        ("十五天见效", "15天见效"),
        ("一百零五元", "105元"),
        ("有效率百分之九十九", "有效率99%"),
        ("十全大补", "十全大补"),  # no unit after the numeral: a word, not a number
        ("万一", "万一"),
        ("减*肥", "减肥"),
        ("壮 阳", "壮阳"),
        ("瘦😀身", "瘦身"),
        ("减\u200b肥", "减肥"),
        ("补肾壮\n阳", "补肾壮阳"),  # a claim split across title and description
        ("ＪＩＡＮＦＥＩ", "jianfei"),
        ("減肥壯陽", "减肥壮阳"),
        ("100% 羊绒 1:1", "100%羊绒1:1"),
        ("距地铁 5 分钟", "距地铁5分钟"),
        ("减肥。壮阳", "减肥。壮阳"),  # sentence ends are kept for the context rule
        ("hello world", "hello world"),  # spaces between latin words stay
        ("强壮，阳光", "强壮，阳光"),  # clause marks are not fillers
        ("成分：羊绒", "成分：羊绒"),
        ("1❤0❤0%羊绒", "100%羊绒"),  # decorative separators between digits go
        ("7·2·V电池", "72v电池"),
        ("jian*fei", "jianfei"),
        ("1.5kg 3~5天 1:1", "1.5kg 3~5天1:1"),  # ordinary punctuation between digits stays
        ("减.肥", "减肥"),
        ("Ａ货１：１", "a货1：1"),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize(raw).text == expected


def test_chinese_and_arabic_numerals_normalise_alike() -> None:
    assert normalize("三天瘦十斤").text == normalize("3天瘦10斤").text


@pytest.mark.parametrize(
    ("numeral", "value"),
    [
        ("十", 10),
        ("十五", 15),
        ("三十五", 35),
        ("两千", 2000),
        ("二〇二三", 2023),
        ("三万五千", 35000),
    ],
)
def test_chinese_to_int(numeral: str, value: int) -> None:
    assert chinese_to_int(numeral) == value


def test_bare_multiplier_is_not_a_number() -> None:
    assert chinese_to_int("万") is None
    assert normalize("3万元").text == "3万元"


def test_offsets_map_spans_back_to_original() -> None:
    raw = "快速減 *肥😀茶，三天瘦十斤"
    norm = normalize(raw)
    start = norm.text.index("减肥")
    s, e = norm.original_span(start, start + 2)
    assert raw[s:e] == "減 *肥"
    start = norm.text.index("3天瘦10斤")
    s, e = norm.original_span(start, start + len("3天瘦10斤"))
    assert raw[s:e] == "三天瘦十斤"


def test_percent_numeral_span_covers_whole_original() -> None:
    raw = "有效率百分之九十九"
    norm = normalize(raw)
    s, e = norm.original_span(3, len(norm.text))
    assert raw[s:e] == "百分之九十九"


@settings(max_examples=150, deadline=None, database=None)
@given(st.text(max_size=60))
def test_offsets_are_monotonic_and_in_range(raw: str) -> None:
    norm = normalize(raw)
    assert len(norm.offsets) == len(norm.text)
    assert all(0 <= o < len(raw) for o in norm.offsets)
    assert norm.offsets == sorted(norm.offsets)


@settings(max_examples=150, deadline=None, database=None)
@given(st.text(alphabet="abcXYZ减肥瘦身 *·-", max_size=40))
def test_unchanged_chars_keep_their_source(raw: str) -> None:
    # Characters that normalisation does not rewrite must map to themselves.
    norm = normalize(raw)
    for char, origin in zip(norm.text, norm.offsets, strict=True):
        assert raw[origin].lower() == char


@settings(max_examples=150, deadline=None, database=None)
@given(st.text(alphabet="减肥三天瘦十斤一二百分之九五 *·❤\n\u200bAbc1:%，。", max_size=50))
def test_lazy_offsets_match_a_step_by_step_map(raw: str) -> None:
    # original_span on the piecewise map equals the fully expanded offset list
    norm = normalize(raw)
    expanded = list(norm.offsets)
    fresh = normalize(raw)
    for i in range(len(fresh.text)):
        for j in range(i + 1, min(len(fresh.text), i + 4) + 1):
            assert fresh.original_span(i, j) == (expanded[i], expanded[j - 1] + 1)


def test_builtin_table_used_without_opencc(monkeypatch: pytest.MonkeyPatch) -> None:
    # detectors/__init__ re-exports the function under the module's name.
    normalize_module = importlib.import_module("detectors.normalize")
    monkeypatch.setattr(normalize_module, "_opencc_t2s_file", lambda: None)
    derived = (char_table, normalize_module._fold_re, normalize_module._fold_map)
    for cached in derived:
        cached.cache_clear()
    try:
        assert normalize("減肥壯陽藥").text == "减肥壮阳药"
        assert len(char_table()) < 1000  # the small hand-written table, not opencc's
    finally:
        for cached in derived:
            cached.cache_clear()


_EVASIVE = "减肥三天瘦十斤一二百分之九五 *·❤\n\u200bAbcＡ減1:%，。①"


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(alphabet=_EVASIVE, max_size=40))
def test_text_only_normalisation_agrees_with_normalize(raw: str) -> None:
    assert normalize_text(raw) == normalize(raw).text


def _dropped_by_rule(folded: str) -> str:
    """The filler rule spelt out run by run (what ``_drop_re`` does in one regex pass)."""
    module = importlib.import_module("detectors.normalize")
    fill = re.compile(f"[{module._FILLER}]+")
    exotic = re.compile(f"[{module._EXOTIC}]+")
    invisible = re.compile(f"[{module._INVISIBLE}]+")
    cjk = re.compile(f"[{module.CJK}]")
    word = re.compile(f"[{module.CJK}0-9a-z%\u00a5]")
    out, pos = [], 0
    for m in fill.finditer(folded):
        start, end = m.span()
        before = folded[start - 1] if start else ""
        after = folded[end] if end < len(folded) else ""
        touching = bool(before and after and word.match(before) and word.match(after))
        drop = (
            touching
            and (cjk.match(before) or cjk.match(after) or exotic.fullmatch(folded, start, end))
        ) or invisible.fullmatch(folded, start, end)
        if drop:
            out.append(folded[pos:start])
            pos = end
    out.append(folded[pos:])
    return "".join(out)


_FILLERISH = "减肥瘦a9%¥ *·•→_-./\n\t\u3000\u200b\ufe0f😀，。()【】\u2060\U00020001\uf901é"


@settings(max_examples=400, deadline=None, database=None)
@given(st.text(alphabet=_FILLERISH, max_size=30))
def test_one_regex_drops_the_fillers_the_rule_names(raw: str) -> None:
    module = importlib.import_module("detectors.normalize")
    folded = module.fold(raw)
    assert module._drop_re().sub("", folded) == _dropped_by_rule(folded)
    # and the lazily found segments map every kept character back to itself
    norm = normalize(raw)
    if norm.text == module._drop_re().sub("", folded):  # no numeral rewrote it
        assert [folded[o] for o in norm.offsets] == list(norm.text)
