"""Texts that use a category's words without breaking its rules must not be flagged.

Each kind of hard negative real pages contain (lawful products stating approved facts,
licensed clinics' notices, education, warnings and news that paraphrase, sellers'
disclaimers) next to the violations the same lexicon, cue or rule change must still catch.
The sentences are written for these tests and occur neither in the corpus nor in the
sandbox.
"""

from __future__ import annotations

import pytest

from detectors import Detector
from detectors.combine import ListingDetector

HARD_NEGATIVES: tuple[str, ...] = (
    # 保健食品 with its approved function, ordinary food sold on taste
    "蓝帽子保健食品，批准的保健功能为辅助降血糖，不适宜人群为孕妇，本品不能代替药物。",
    "保健功能：有助于维持血压健康水平（以批准证书为准），高血压患者请遵医嘱服药。",
    "麻辣鸭脖，甜辣和香辣两种口味，真空小包装，办公室解馋。",
    # licensed medical institutions, neutral notices
    "某口腔诊所持有医疗机构执业许可证，周末正常接诊，种植牙需提前预约面诊。",
    "医美项目存在一定风险，术前请与主诊医师充分沟通，恢复期因个人体质而异。",
    # cashmere blends stated honestly, compliant liquor and e-bikes
    "羊绒混纺披肩，羊绒含量30%，羊毛含量70%，吊牌与实物一致。",
    "浓香型白酒，执行标准印在背标，酒精度52%vol，生产日期见瓶身。",
    "新国标电动自行车，出厂限速25km/h，整车已取得3C认证，可正常上牌。",
    "本店不提供解除限速服务，请勿私自改装电动车。",
    # education and comparisons
    "健康科普：降血压药物需要长期服用，擅自停药可能导致血压反跳。",
    "壮阳药和保健品的区别：药品需要处方，保健品不能宣称治疗作用。",
    "减肥没有捷径，合理饮食加适量运动才是正道。",
    "五年窖藏的说法须有证据支持，本店白酒按标签如实介绍。",
    "这部纪录片太治愈了，看完心里暖暖的。",
    # warnings and news that paraphrase or quote
    "专家提醒：糖尿病需要规范治疗，不能指望靠某种食品降血糖。",
    "医美乱象调查：有机构宣称零风险、无恢复期，实为虚假宣传。",
    "家里长辈常被“名医推荐，能疏通血管”之类的宣传忽悠，做子女的要多提醒。",
    "法院审结一起网购纠纷，商家宣称“喝一个月瘦二十斤”被认定为欺诈，判决退一赔三。",
    "今年以来，某县共受理涉及包租返租的投诉举报十余件，均已办结。",
    "术前术后对比照片属于违规宣传，本院不发布此类内容。",
    # sellers' negations and disclaimers
    "本店茶饮不含任何违禁成分，也不做“七天瘦十斤，停了不反弹”这样的虚假承诺。",
    "我们是正规门店，不承诺包治百病，也不夸大疗效。",
    "温馨提示：本品是普通压片糖果，不具备减肥等功效，请按需购买。",
    "盲盒文具，适合八岁以上儿童，盒内款式可在详情页查看。",
)

# (text, category) pairs the same changes must keep catching.
VIOLATIONS: tuple[tuple[str, str], ...] = (
    ("苦荞茶每天三杯，血压平稳了，不用再吃降压药", "slimming_aphrodisiac"),
    ("比降糖药还管用，喝一周血糖就正常", "slimming_aphrodisiac"),
    ("拒绝虚假宣传，喝一周瘦八斤", "slimming_aphrodisiac"),
    ("不忽悠，一个月瘦二十斤", "slimming_aphrodisiac"),
    ("纯天然无非法添加，三天瘦十斤", "slimming_aphrodisiac"),
    ("之前买别家的都上当了，这款真的一个月瘦二十斤", "slimming_aphrodisiac"),
    ("不是噱头，喝一周瘦八斤", "slimming_aphrodisiac"),
    ("改装后无安全隐患，控制器刷完能跑六十码", "ebike_modification"),
    ("这部神药太治愈了，老胃病喝了彻底断根", "miracle_drug"),
    ("临街商铺，现在买入五年翻一番", "real_estate"),
    ("一次投资终身收益，租金由开发商兜底", "real_estate"),
    ("吊牌写着100%羊绒，其实是羊毛混纺，手感差不多", "counterfeit_apparel"),
    ("盲盒卡片小学生最爱，一盒抽三张", "minors_marketing"),
    ("纯粮酿造，其实用冰乙酸兑的，成本低", "vinegar"),
)


@pytest.fixture(scope="module")
def rules() -> Detector:
    return Detector.from_config()


@pytest.fixture(scope="module")
def combined() -> ListingDetector:
    return ListingDetector.from_config()


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_rule_engine_leaves_hard_negatives_alone(rules: Detector, text: str) -> None:
    assert [(f.category, f.matched) for f in rules.detect(text)] == []


def test_combined_detector_leaves_hard_negatives_alone(combined: ListingDetector) -> None:
    flagged = {t: [f.category for f in combined.detect(t)] for t in HARD_NEGATIVES}
    assert {t: c for t, c in flagged.items() if c} == {}


@pytest.mark.parametrize(("text", "category"), VIOLATIONS)
def test_violations_worded_near_the_exceptions_are_still_flagged(
    rules: Detector, text: str, category: str
) -> None:
    assert category in {f.category for f in rules.detect(text)}
