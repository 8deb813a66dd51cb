"""Detection over the shipped lexicons and rules: positives, negatives, spans, context."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from detectors import CATEGORY_IDS, CORE_CATEGORIES, Detector, Finding, normalize
from detectors.normalize import CJK, char_table

NEUTRAL = "今天气很好我们去公园散步吃饭看书写字听歌"
FILLERS = [" ", "*", "😀", "·", "-", "/", "\u3000", "★", "\u200b", "."]


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.from_config()


@pytest.fixture(scope="module")
def loose(detector: Detector) -> Detector:
    """Same data, threshold near zero: every counted hit shows up."""
    return Detector(detector.lexicons, detector.rules, context=detector.context, min_score=0.01)


def categories(findings: list[Finding]) -> list[str]:
    return [f.category for f in findings]


POSITIVES = {
    "slimming_aphrodisiac": [
        "纯植物酵素果冻，三天瘦十斤，躺着也能掉秤，不节食不运动",
        "男士草本压片糖果，补肾壮阳，延时30分钟，重振雄风",
    ],
    "miracle_drug": [
        "祖传秘方药酒，专治风湿关节炎，三个疗程断根，无效退款",
        "老中医推荐，总有效率98.6%，永不复发，患者见证",
    ],
    "medical_beauty": [
        "进口溶脂针一针见效，零风险零痛感，术前术后对比图私聊",
        "招募体验官！玻尿酸隆鼻成功率100%，终身保持",
    ],
    "counterfeit_apparel": [
        "高仿LV老花包 1:1 原单品质，专柜同款",
        "莆田纯原AJ1，公司级做工，可过验",
    ],
    "real_estate": [
        "地铁口精装公寓，距地铁5分钟，年收益8%，包租10年",
        "名校旁学区房，保证入学，三年必升值，稳赚不赔",
    ],
}

BENIGN = [
    "今天天气很好，我们去公园散步，晚上吃了一碗面条",
    "纯棉短袖T恤，透气舒适，多色可选，支持七天无理由退换",
    "新鲜草莓礼盒，产地直发，坏果包赔，冷链配送",
    "两室一厅精装修出租，家电齐全，拎包入住，押一付三",
    "延时摄影教程：手机也能拍出大片",
    "这部治愈系电影讲述了一只猫和老人的故事",
    "仿羊绒围巾，手感柔软，不起球",
    "海边民宿，步行5分钟即可到达沙滩",  # travel time outside a property ad
    "山地自行车 27速变速 下坡时速30公里轻松骑",  # speed outside an e-bike listing
    "手机续航持久30小时，支持快充",
]

WARNINGS = [
    "警惕“三天瘦十斤”的减肥骗局，此类产品多含西布曲明",
    "市场监管局查处一起“神医神药”虚假广告，当事人宣称根治糖尿病",
    "消费提示：谨防高仿名牌和原单货，认准正规渠道",
    "辟谣：所谓“年收益8%、稳赚不赔”的返租商铺不可信",
]


@pytest.mark.parametrize(
    ("category", "text"), [(c, t) for c, texts in POSITIVES.items() for t in texts]
)
def test_core_category_fires(detector: Detector, category: str, text: str) -> None:
    findings = {f.category: f for f in detector.detect(text)}
    assert category in findings, detector.detect(text)
    finding = findings[category]
    assert 0.5 <= finding.score <= 1.0
    assert finding.article.startswith("《")
    assert "违反" in finding.explanation and finding.article.split("；")[0] in finding.explanation
    for (s, e), matched in zip(finding.spans, finding.matched, strict=True):
        assert text[s:e] == matched


def test_every_core_category_has_positive_examples() -> None:
    assert set(POSITIVES) == set(CORE_CATEGORIES)


@pytest.mark.parametrize("text", BENIGN + WARNINGS)
def test_benign_and_warning_texts_stay_silent(detector: Detector, text: str) -> None:
    assert detector.detect(text) == []


def test_warning_cue_is_what_silences(detector: Detector) -> None:
    assert "slimming_aphrodisiac" in categories(detector.detect("三天瘦十斤的减肥神器"))
    assert detector.detect("警惕三天瘦十斤的减肥神器") == []


def test_rule_context_any(detector: Detector) -> None:
    assert detector.detect("步行5分钟到地铁站") == []
    assert categories(detector.detect("新盘开售，步行5分钟到地铁站")) == ["real_estate"]


def test_seller_boilerplate_warning_does_not_hide_claims(detector: Detector) -> None:
    found = categories(detector.detect("本店高仿包包1:1原单，谨防假冒"))
    assert "counterfeit_apparel" in found


def test_claim_split_across_lines(detector: Detector) -> None:
    text = "草本压片糖果 补肾壮\n阳，男人加油站"
    finding = detector.detect(text)[0]
    assert finding.category == "slimming_aphrodisiac"
    assert any(text[s:e] == "补肾壮\n阳" for s, e in finding.spans)


def test_negation_covers_an_enumeration(detector: Detector) -> None:
    assert detector.detect("电动车控制器，本店不提供解码、提速等改装服务") == []
    assert categories(detector.detect("电动车控制器，提供解码提速服务")) == ["ebike_modification"]


def test_negation_is_clause_scoped(detector: Detector) -> None:
    # 不含 negates 激素 in its own clause, not the slimming claim after the comma.
    assert "slimming_aphrodisiac" in categories(detector.detect("不含激素，快速减肥"))
    assert detector.detect("不含西布曲明") == []


def test_chinese_and_arabic_numerals_detect_alike(detector: Detector) -> None:
    chinese = detector.detect("三天瘦十斤")
    arabic = detector.detect("3天瘦10斤")
    assert categories(chinese) == categories(arabic) == ["slimming_aphrodisiac"]
    assert chinese[0].score == arabic[0].score
    assert chinese[0].spans == [(0, 5)] and arabic[0].spans == [(0, 6)]


@pytest.mark.parametrize(
    ("allowed", "flagged", "category"),
    [
        ("本品为保健食品，辅助降血糖，本品不能代替药物", "本品降血糖", "slimming_aphrodisiac"),
        ("退休后当个包租婆", "商铺包租", "real_estate"),
        ("降压模块", "降压降脂", "slimming_aphrodisiac"),
        ("音频解码器", "解限速", "ebike_modification"),
        ("烟酒糖茶批发", "香烟糖", "minors_marketing"),
    ],
)
def test_allow_list_exceptions(loose: Detector, allowed: str, flagged: str, category: str) -> None:
    assert category not in categories(loose.detect(allowed))
    assert category in categories(loose.detect(flagged))


def test_diabetes_cure_is_both_categories(detector: Detector) -> None:
    found = categories(detector.detect("苦瓜肽片，根治糖尿病，从此告别胰岛素"))
    assert "slimming_aphrodisiac" in found and "miracle_drug" in found


def test_findings_follow_category_order(detector: Detector) -> None:
    text = "高仿羊绒大衣1:1原单；减肥茶三天瘦十斤；祖传秘方根治糖尿病；距地铁5分钟年收益8%"
    found = categories(detector.detect(text))
    assert len(found) >= 4
    assert found == sorted(found, key=CATEGORY_IDS.index)


def test_cashmere_needs_a_low_price(detector: Detector) -> None:
    text = "100%山羊绒毛衣 秋冬新款"
    assert "counterfeit_apparel" in categories(detector.detect(text, price=89.0))
    assert "counterfeit_apparel" not in categories(detector.detect(text, price=1899.0))
    assert "counterfeit_apparel" not in categories(detector.detect(text))
    in_text = "纯羊绒大衣 清仓价99元"
    assert "counterfeit_apparel" in categories(detector.detect(in_text))


def test_severity_is_the_highest_hit(detector: Detector) -> None:
    finding = detector.detect("减肥胶囊，含西布曲明，效果猛")[0]
    assert finding.category == "slimming_aphrodisiac"
    assert finding.severity == "移送公安"
    assert "《食品安全法》第三十八条" in finding.article


def test_repeated_term_counts_once(detector: Detector) -> None:
    once = detector.detect("瘦身")
    many = detector.detect("瘦身瘦身瘦身瘦身")
    assert once[0].score == many[0].score


def test_min_score_threshold(detector: Detector) -> None:
    text = "减肥茶"
    assert categories(detector.detect(text)) == ["slimming_aphrodisiac"]
    strict = Detector(detector.lexicons, detector.rules, context=detector.context, min_score=0.95)
    assert strict.detect(text) == []
    assert detector.min_score_ == detector.context_.min_score == 0.5
    assert Detector([], []).min_score_ == 0.5


def test_pinyin_terms_respect_word_boundaries(loose: Detector) -> None:
    assert "slimming_aphrodisiac" in categories(loose.detect("jianfei茶"))
    assert "slimming_aphrodisiac" not in categories(loose.detect("pdfjfk"))


def test_empty_inputs(detector: Detector) -> None:
    assert detector.detect("") == []
    assert detector.detect("  ** 😀 ") == []
    assert Detector([], []).detect("减肥") == []


def test_config_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "lexicons").mkdir()
    (tmp_path / "rules").mkdir()
    (tmp_path / "lexicons" / "vinegar.yaml").write_text(
        "category: vinegar\nexplanation: 含{claims}，违反{article}\n"
        "defaults: {article: 《食品安全法》第三十四条, severity: 立案}\n"
        "terms:\n  - {term: 测试专用醋词, weight: 0.9}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("TIEQUAN_CONFIG_DIR", str(tmp_path))
    found = Detector.from_config().detect("这是测试专用醋词")
    assert categories(found) == ["vinegar"]
    assert found[0].explanation == "含“测试专用醋词”，违反《食品安全法》第三十四条"


def _reverse_table() -> dict[str, str]:
    reverse: dict[str, str] = {}
    for trad, simp in char_table().items():
        if chr(simp) != chr(trad) and "\u4e00" <= chr(trad) <= "\u9fff":
            reverse.setdefault(chr(simp), chr(trad))
    return reverse


def _cjk_terms(detector: Detector) -> list[tuple[str, str]]:
    numeral_chars = set("零〇一二两三四五六七八九十百千万")
    cjk = re.compile(f"^[{CJK}]{{2,}}$")
    return [
        (lex.category, term.term)
        for lex in detector.lexicons
        for term in lex.terms
        if cjk.match(term.term) and not numeral_chars & set(term.term)
    ]


@settings(max_examples=120, deadline=None, database=None)
@given(data=st.data())
def test_obfuscated_terms_are_found_at_original_offsets(
    loose: Detector, data: st.DataObject
) -> None:
    category, term = data.draw(st.sampled_from(_cjk_terms(loose)))
    reverse = _reverse_table()
    pieces = []
    for i, char in enumerate(term):
        if data.draw(st.booleans()) and char in reverse:
            char = reverse[char]  # traditional variant
        pieces.append(char)
        if i < len(term) - 1:
            pieces.append("".join(data.draw(st.lists(st.sampled_from(FILLERS), max_size=3))))
    disguised = "".join(pieces)
    prefix = data.draw(st.text(alphabet=NEUTRAL + " ，", max_size=15))
    suffix = data.draw(st.text(alphabet=NEUTRAL + " 。", max_size=15))
    text = prefix + disguised + suffix
    lexicon = next(lex for lex in loose.lexicons if lex.category == category)
    normalised = normalize(text).text
    assume(not any(normalize(e).text in normalised for e in lexicon.exceptions))
    findings = {f.category: f for f in loose.detect(text)}
    assert category in findings
    first, last = len(prefix), len(prefix) + len(disguised)
    covering = [(s, e) for s, e in findings[category].spans if s <= first and last <= e]
    assert covering, (text, findings[category].spans)
    s, e = covering[0]
    assert disguised in text[s:e]


@settings(max_examples=60, deadline=None, database=None)
@given(data=st.data())
def test_latin_terms_found_in_any_width_and_case(loose: Detector, data: st.DataObject) -> None:
    term = data.draw(st.sampled_from(["jianfei", "shoushen", "zhuangyang", "shenyao"]))
    chars = []
    for char in term:
        if data.draw(st.booleans()):
            char = char.upper()
        if data.draw(st.booleans()):
            char = chr(ord(char) + 0xFEE0)  # full-width form
        chars.append(char)
    disguised = "".join(chars)
    text = data.draw(st.text(alphabet=NEUTRAL, max_size=8)) + disguised + "茶"
    findings = loose.detect(text)
    start = text.index(disguised)
    assert any(s <= start and start + len(disguised) <= e for f in findings for s, e in f.spans), (
        text,
        findings,
    )
