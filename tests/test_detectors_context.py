"""Context, severity, rule evidence, price signals and the Chinese explanation format."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors import Detector, Finding
from detectors.config import ConfigError, default_config_dir
from detectors.explain import format_record, mark_spans
from detectors.price import (
    PriceFraudRule,
    below_floor_finding,
    load_price_floors,
    load_price_fraud_rule,
    price_fraud_finding,
)


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.from_config().compile()


def categories(findings: list[Finding]) -> list[str]:
    return [f.category for f in findings]


@pytest.mark.parametrize(
    "text",
    [
        # enforcement news over two sentences: the second has no cue of its own
        "近日，某市市场监管局查处一起虚假广告案。当事人在网店宣称其压片糖果“三天瘦十斤、根治糖尿病”。",
        "经查，当事人销售的男士咖啡添加西地那非，执法人员已没收涉案产品。",
        # a regulation's own text
        "根据《广告法》第十七条规定，除医疗、药品、医疗器械广告外，任何广告不得宣传根治糖尿病。",
        # consumer warnings
        "消费警示：警惕“三天瘦十斤”的减肥骗局，此类产品多含西布曲明。",
        "辟谣：所谓“年收益8%、稳赚不赔”的返租商铺不可信",
        # negation
        "本品不含西布曲明",
        "本店不提供解码、提速等改装服务，电动车控制器原厂参数",
    ],
)
def test_warnings_news_regulations_and_negations_are_silent(detector: Detector, text: str) -> None:
    assert detector.detect(text) == []


def test_cued_hits_still_count_as_weak_evidence(detector: Detector) -> None:
    text = "警惕“三天瘦十斤”的减肥骗局"
    evidence = detector.evidence(text)
    assert 0.0 < evidence["slimming_aphrodisiac"] < 0.5
    assert categories(detector.detect(text, min_score=0.0)) == ["slimming_aphrodisiac"]
    assert (
        evidence["slimming_aphrodisiac"]
        < detector.evidence("三天瘦十斤的减肥茶")["slimming_aphrodisiac"]
    )


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("正品保证，谨防假冒。本店高仿LV包包1:1原单", "counterfeit_apparel"),
        ("谨防假冒，三天瘦十斤的酵素果冻", "slimming_aphrodisiac"),
        # one document cue alone does not turn a listing into a news report
        ("市场监管局抽检合格。本品三天瘦十斤，躺着也能瘦", "slimming_aphrodisiac"),
        ("不含激素，快速减肥", "slimming_aphrodisiac"),
    ],
)
def test_seller_tricks_do_not_hide_claims(detector: Detector, text: str, category: str) -> None:
    assert category in categories(detector.detect(text))


def test_title_and_description_combine(detector: Detector) -> None:
    text = "酵素果冻 纯\n植物减\n肥，三天瘦十斤"
    finding = detector.detect(text)[0]
    assert finding.category == "slimming_aphrodisiac"
    assert any(text[s:e] == "减\n肥" for s, e in finding.spans)


@pytest.mark.parametrize(
    "text",
    [
        "减肥胶囊，含西布曲明",
        "减肥茶，喝了立竿见影",
        "草本压片糖果，壮阳效果比药还管用",
        "男士糖果，添加西药成分，金枪不倒",
    ],
)
def test_drug_suspicion_is_referred_to_police(detector: Detector, text: str) -> None:
    finding = next(f for f in detector.detect(text) if f.category == "slimming_aphrodisiac")
    assert finding.severity == "移送公安"
    assert "公安" in finding.explanation and "违反《" in finding.explanation
    assert "《食品安全法》第三十八条" in finding.article


def test_plain_claims_are_cases_and_weak_ones_admonitions(detector: Detector) -> None:
    assert detector.detect("减肥茶")[0].severity == "立案"
    # a drug-effect hint alone is not a finding
    assert detector.detect("立竿见影") == []
    assert detector.detect("警惕减肥产品非法添加西布曲明") == []


def test_every_finding_explains_itself(detector: Detector) -> None:
    text = "高仿羊绒大衣1:1原单；减肥茶三天瘦十斤；祖传秘方根治糖尿病；距地铁5分钟年收益8%"
    findings = detector.detect(text)
    assert len(findings) >= 4
    for finding in findings:
        assert finding.spans and finding.article.startswith("《")
        assert finding.explanation.count("。") <= 1 and "违反" in finding.explanation
        assert finding.severity in ("提醒告诫", "立案", "移送公安")


def test_evidence_is_cheap_and_thresholdless(detector: Detector) -> None:
    assert detector.evidence("今天天气很好") == {}
    weak = detector.evidence("排毒")
    assert 0 < weak["slimming_aphrodisiac"] < detector.min_score_
    assert detector.detect("排毒") == []


# --- price signals --------------------------------------------------------------------


def test_price_floors_load_and_fire(detector: Detector) -> None:
    floors = load_price_floors(default_config_dir())
    assert {f.kind for f in floors} >= {"cashmere_knitwear", "luxury_bag"}
    finding = below_floor_finding("100%山羊绒毛衣 秋冬新款", 89.0, floors)
    assert finding is not None and finding.category == "counterfeit_apparel"
    assert finding.spans == [(0, 7)] and "89元" in finding.explanation
    assert below_floor_finding("100%山羊绒毛衣", 1899.0, floors) is None
    assert below_floor_finding("100%山羊绒毛衣", None, floors) is None
    assert below_floor_finding("LV老花包 新款", 399.0, floors) is not None
    assert below_floor_finding("silver包 新款", 399.0, floors) is None  # lv inside a word
    assert below_floor_finding("LV同色系围巾", 399.0, floors) is None  # no bag context


def test_floor_merges_into_the_text_finding(detector: Detector) -> None:
    text = "高仿纯羊绒大衣，原单品质"
    cheap = {f.category: f for f in detector.detect(text, price=99.0)}["counterfeit_apparel"]
    dear = {f.category: f for f in detector.detect(text, price=2999.0)}["counterfeit_apparel"]
    assert cheap.score > dear.score
    assert "《产品质量法》第三十九条" in cheap.article


@pytest.fixture(scope="module")
def fraud_rule() -> PriceFraudRule:
    return load_price_fraud_rule(default_config_dir(), category="illegal_fees")


def test_price_fraud_needs_a_never_charged_original_price(fraud_rule: PriceFraudRule) -> None:
    rule = fraud_rule
    finding = price_fraud_finding(
        99.0, 599.0, [99.0, 109.0], rule=rule, category="counterfeit_apparel"
    )
    assert finding is not None and finding.kind == "price_fraud"
    assert finding.to_json()["type"] == "price_fraud"
    assert finding.article == rule.article and finding.score > 0.7
    assert finding.severity == rule.severity == "立案"
    assert "599" in finding.explanation and "价格欺诈" in finding.explanation
    assert finding.explanation.endswith(f"违反{rule.article}")
    # the original price was really charged once
    assert price_fraud_finding(99.0, 599.0, [599.0, 99.0], rule=rule) is None
    # not far above the price
    assert price_fraud_finding(99.0, 129.0, [], rule=rule) is None
    assert price_fraud_finding(None, 599.0, None, rule=rule) is None
    # no history: flagged, weakly, in the category the rule carries
    weak = price_fraud_finding(99.0, 599.0, None, rule=rule)
    assert weak is not None and weak.score == 0.5
    assert weak.category == rule.category == "illegal_fees"


def test_price_fraud_category_follows_evidence(fraud_rule: PriceFraudRule) -> None:
    evidence = {"medical_beauty": 0.4, "slimming_aphrodisiac": 0.7}
    finding = price_fraud_finding(50.0, 300.0, [50.0], rule=fraud_rule, evidence=evidence)
    assert finding is not None and finding.category == "slimming_aphrodisiac"
    known = price_fraud_finding(
        50.0, 300.0, [50.0], rule=fraud_rule, category="real_estate", evidence=evidence
    )
    assert known is not None and known.category == "real_estate"


def test_price_fraud_article_and_severity_are_rule_data(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    path = rules / "_price_fraud.yaml"
    path.write_text("article: 《测试条例》第一条\nseverity: 提醒告诫\n", encoding="utf-8")
    rule = load_price_fraud_rule(tmp_path, category="real_estate")
    assert rule == PriceFraudRule("《测试条例》第一条", "提醒告诫", "real_estate")
    finding = price_fraud_finding(10.0, 100.0, [10.0], rule=rule)
    assert finding is not None and finding.category == "real_estate"
    assert finding.severity == "提醒告诫" and finding.explanation.endswith("违反《测试条例》第一条")


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("article: 《价格法》\nseverity: 罚款\n", "severity", "'罚款'"),
        ("article: ''\nseverity: 立案\n", "article", "''"),
        ("severity: 立案\n", "article", "None"),
        ("article: 《价格法》\nseverity: 立案\nartcle: x\n", "artcle", "'x'"),
        ("- article\n", "(top level)", "['article']"),
        ("article: [\n", "(yaml)", "None"),
    ],
)
def test_bad_price_fraud_rule_names_file_field_value(
    tmp_path: Path, text: str, field: str, value: str
) -> None:
    (tmp_path / "rules").mkdir()
    path = tmp_path / "rules" / "_price_fraud.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_price_fraud_rule(tmp_path, category="illegal_fees")
    assert str(err.value).startswith(f"{path}: {field}: ")
    assert f"(value: {value})" in str(err.value)
    assert "\n" not in str(err.value).strip() or field == "(yaml)"


def test_missing_price_fraud_rule_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"_price_fraud\.yaml: \(file\): cannot read it"):
        load_price_fraud_rule(tmp_path, category="illegal_fees")


# --- explanations ---------------------------------------------------------------------


def test_mark_spans() -> None:
    assert (
        mark_spans("三天瘦十斤的减肥茶", [(0, 5), (6, 8), (7, 8)]) == "【三天瘦十斤】的【减肥】茶"
    )


def test_format_record_is_chinese_and_complete(detector: Detector) -> None:
    text = "减肥胶囊，含西布曲明，三天瘦十斤"
    out = format_record("x1", text, detector.detect(text), {"slimming_aphrodisiac": "减肥壮阳"})
    assert out.splitlines()[0] == "【x1】发现 1 项违法线索"
    for part in ("减肥壮阳", "移送公安", "违反条款：", "说明：", "【西布曲明】", "【三天瘦十斤】"):
        assert part in out
    assert format_record(7, "你好", []) == "【7】未发现违法线索"
