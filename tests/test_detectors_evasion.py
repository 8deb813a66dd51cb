"""Evasions sellers use: pinyin, initials, homophones, look-alikes, split characters, symbols."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from detectors import Detector, normalize
from detectors.normalize import CJK
from detectors.pinyin import pinyin_forms
from detectors.variants import HOMOPHONE, INITIALS, VariantConfig, term_variants

NEUTRAL = "今天气很好我们去公园散步吃饭看书写字听歌"
EVASIVE = "减肥瘦身壮阳三天十斤一二百分之九 *·❤😀\u200b\nabcJF1:%，。、"


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.from_config().compile()


def _cjk_terms(detector: Detector, min_len: int = 2) -> list[tuple[str, str]]:
    numerals = set("零〇一二两三四五六七八九十百千万")
    pure = re.compile(f"^[{CJK}]{{{min_len},}}$")
    return [
        (lex.category, t.term)
        for lex in detector.lexicons
        for t in lex.terms
        if pure.match(t.term) and not numerals & set(t.term) and t.weight >= 0.3
    ]


def _excepted(detector: Detector, category: str, text: str) -> bool:
    lexicon = next(lex for lex in detector.lexicons if lex.category == category)
    normalised = normalize(text).text
    return any(normalize(e).text in normalised for e in lexicon.exceptions)


def _covering(detector: Detector, category: str, text: str, start: int, end: int) -> bool:
    for finding in detector.detect(text, min_score=0.0):
        if finding.category == category:
            return any(s <= start and end <= e for s, e in finding.spans)
    return False


@settings(max_examples=80, deadline=None, database=None)
@given(data=st.data())
def test_full_pinyin_is_found_at_original_offsets(detector: Detector, data: st.DataObject) -> None:
    category, term = data.draw(st.sampled_from(_cjk_terms(detector)))
    forms = pinyin_forms(term)
    assume(forms is not None)
    assert forms is not None
    spelling = data.draw(st.sampled_from([forms.joined[0], forms.spaced]))
    # Stop-listed spellings (e.g. yuandan, also 元旦) are deliberately not terms.
    assume(spelling.replace(" ", "") not in (detector.variants or VariantConfig()).stop)
    if data.draw(st.booleans()):
        spelling = spelling.upper()
    prefix = data.draw(st.text(alphabet=NEUTRAL, min_size=1, max_size=10))
    text = prefix + spelling + "，" + data.draw(st.text(alphabet=NEUTRAL, max_size=10))
    assume(not _excepted(detector, category, text))
    start = len(prefix)
    assert _covering(detector, category, text, start, start + len(spelling)), text


@settings(max_examples=60, deadline=None, database=None)
@given(data=st.data())
def test_initials_of_long_terms_count_as_evidence(detector: Detector, data: st.DataObject) -> None:
    category, term = data.draw(st.sampled_from(_cjk_terms(detector, min_len=3)))
    variants = [v for v in term_variants(term, detector.variants or VariantConfig())]
    initials = [v.form for v in variants if v.kind == INITIALS]
    assume(initials)
    text = "好物推荐 " + initials[0] + " 私聊"
    assume(not _excepted(detector, category, text))
    assert detector.evidence(text).get(category, 0.0) > 0.0, text
    # ...but never inside a longer latin word
    assert category not in detector.evidence("abc" + initials[0] + "xyz 私聊")


@settings(max_examples=60, deadline=None, database=None)
@given(data=st.data())
def test_homophone_variants_are_found(detector: Detector, data: st.DataObject) -> None:
    pairs = [
        (category, term, v.form)
        for category, term in _cjk_terms(detector)
        for v in term_variants(term, detector.variants or VariantConfig())
        if v.kind == HOMOPHONE
    ]
    category, _term, form = data.draw(st.sampled_from(pairs))
    prefix = data.draw(st.text(alphabet=NEUTRAL, max_size=10))
    text = prefix + form + "。"
    assume(not _excepted(detector, category, text))
    assert _covering(detector, category, text, len(prefix), len(prefix) + len(form)), text


@pytest.mark.parametrize(
    ("text", "category", "disguised"),
    [
        ("酵素果冻减月巴神器", "slimming_aphrodisiac", "减月巴"),  # split character 肥 = 月巴
        ("草本压片糖果，补肾壮羊", "slimming_aphrodisiac", "补肾壮羊"),
        ("祖传秘方，跟治风湿", "miracle_drug", "跟治"),
        ("祖传秘方，根冶风湿", "miracle_drug", "根冶"),  # look-alike 冶 for 治
        ("青钱柳茶将血糖，一喝就稳", "slimming_aphrodisiac", "将血糖"),
        ("男士糖果zhuangyang效果好", "slimming_aphrodisiac", "zhuangyang"),
        ("男士糖果 zhuang yang 效果好", "slimming_aphrodisiac", "zhuang yang"),
        ("酵素减fei茶", "slimming_aphrodisiac", "减fei"),
        ("传承zcmf，专治老寒腿", "miracle_drug", "zcmf"),
        ("減 * 肥 茶", "slimming_aphrodisiac", "減 * 肥"),
        ("ＪＩＡＮＦＥＩ茶", "slimming_aphrodisiac", "ＪＩＡＮＦＥＩ"),
        ("針織衫羊絨含量1❤0❤0%，清倉價89元", "counterfeit_apparel", "1❤0❤0%"),
        ("三天瘦十斤", "slimming_aphrodisiac", "三天瘦十斤"),
    ],
)
def test_each_evasion(detector: Detector, text: str, category: str, disguised: str) -> None:
    start = text.index(disguised)
    assert _covering(detector, category, text, start, start + len(disguised)), detector.detect(
        text, min_score=0.0
    )


@pytest.mark.parametrize(
    "text",
    [
        "身体强壮，阳光开朗的小伙子",  # a clause mark is not a filler: no 壮阳
        "下载pdf文件，jfk机场接送",  # initials inside latin words
        "将糖放入锅中小火熬化",  # a recipe, not 降糖
        "保租房配租公告",  # 保 is not a variant of 包 here
        "元旦快乐 yuandan sale",  # a stop-listed pinyin spelling
    ],
)
def test_lookalike_ordinary_text_stays_silent(detector: Detector, text: str) -> None:
    assert detector.detect(text) == []


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.text(alphabet="减肥瘦身壮阳三天十斤一二百分之九 *·❤😀\u200b\nabcJF1:%，。、", max_size=50)
)
def test_findings_always_point_at_original_characters(detector: Detector, raw: str) -> None:
    norm = normalize(raw)
    assert len(norm.offsets) == len(norm.text)
    assert norm.offsets == sorted(norm.offsets)
    for i in range(len(norm.text)):
        assert norm.original_span(i, i + 1) == (norm.offsets[i], norm.offsets[i] + 1)
    for finding in detector.detect(raw, min_score=0.0):
        for (s, e), matched in zip(finding.spans, finding.matched, strict=True):
            assert 0 <= s < e <= len(raw) and raw[s:e] == matched
            assert not raw[s].isspace() and not raw[e - 1].isspace()


def test_variant_generation_respects_settings() -> None:
    config = VariantConfig(
        initials_min_chars=3, stop=frozenset({"jianfei"}), chars={"肥": ("月巴",)}
    )
    forms = {v.form: v for v in term_variants("减肥", config)}
    assert "jianfei" not in forms and "jian fei" not in forms  # stop list, spaces ignored
    assert "jf" not in forms  # two characters: initials would collide with latin text
    assert forms["减月巴"].kind == HOMOPHONE
    assert [v.form for v in term_variants("祖传秘方", config) if v.kind == INITIALS] == ["zcmf"]
    assert term_variants("100%羊绒", VariantConfig()) == []
