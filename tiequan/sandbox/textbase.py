"""The building blocks of sandbox text: topics, claims and shared filler.

A ``Topic`` is one product family as seen through one detector category: neutral
product nouns (shared by honest and violating items), violating claims, honest selling
points, compliant statements and warnings/news that mention the same words without
violating anything (hard negatives). Claims mark their sensitive terms with braces,
``{减肥}``, so evasion variants know which characters to disguise.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# Mall search keyword (ASCII, stable in URLs) -> Chinese label shown on pages.
FAMILIES: dict[str, str] = {
    "health": "保健食品",
    "tonic": "滋补理疗",
    "beauty": "美容护肤",
    "cashmere": "羊绒制品",
    "fashion": "服装鞋包",
    "liquor": "白酒",
    "grain_oil": "粮油调味",
    "ebike": "电动车",
    "gas": "燃气器具",
    "fuel": "加油设备",
    "agri": "农资",
    "coal": "民用燃煤",
    "chem": "五金化工",
    "kids": "儿童用品",
    "service": "生活服务",
    "property": "房产",
}


@dataclass(frozen=True)
class Claim:
    """A violating statement.

    ``extra`` lists further categories it also violates; ``products`` restricts the
    product nouns it is paired with (empty: any of the topic's products).
    """

    text: str
    extra: tuple[str, ...] = ()
    products: tuple[str, ...] = ()


def c(text: str, *extra: str, p: str = "") -> Claim:
    """A claim; ``p`` is a space-separated list of the products it fits."""
    return Claim(text, tuple(extra), tuple(p.split()))


def fits(fragment: str, product: str) -> bool:
    """Whether a point or spec suits ``product``.

    Fragments may be scoped with a prefix of product nouns: "运动鞋 老爹鞋::鞋面头层牛皮".
    """
    scope, sep, _text = fragment.partition("::")
    return not sep or product in scope.split()


def fragment_text(fragment: str) -> str:
    return fragment.partition("::")[2] if "::" in fragment else fragment


def pick_fragments(
    rng: random.Random, fragments: tuple[str, ...], product: str, k: int
) -> list[str]:
    """Up to ``k`` distinct fragments that suit ``product``, scope prefixes removed."""
    fitting = [f for f in fragments if fits(f, product)] or list(fragments)
    return [fragment_text(f) for f in rng.sample(fitting, min(k, len(fitting)))]


@dataclass(frozen=True)
class Topic:
    category: str
    family: str
    weight: float
    products: tuple[str, ...]
    specs: tuple[str, ...]
    claims: tuple[Claim, ...]
    points: tuple[str, ...]
    compliant: tuple[str, ...]
    warnings: tuple[str, ...]
    price: tuple[float, float]
    bad_price: tuple[float, float] | None = None
    sites: tuple[str, ...] = ("mall", "jsmall", "social")


BRANDS = (
    "草原印象",
    "北疆良品",
    "塔拉源",
    "牧野",
    "禾美",
    "青山记",
    "悦享",
    "初心",
    "蒙乡",
    "云朵工坊",
    "小满",
    "一禾",
    "金穗",
    "暖阳",
    "驼铃",
    "白云湾",
)

FILLER = (
    "全国包邮（新疆、西藏除外）",
    "下单后48小时内发货",
    "支持七天无理由退换货",
    "有任何问题请联系在线客服",
    "收到货请先检查外包装再签收",
    "图片为实物拍摄，颜色以实物为准",
    "老客户回购可找客服领取优惠券",
    "节假日正常发货",
    "店铺开通运费险，退换无忧",
    "量大可联系客服议价",
)

SOCIAL_OPENERS = (
    "姐妹们看过来！",
    "亲测分享：",
    "家人们，",
    "好物推荐｜",
    "说点实在的，",
    "今天必须安利一下，",
    "回购第三次了，",
    "",
)
SOCIAL_CTAS = (
    "私信我下单",
    "评论区扣1发链接",
    "链接在主页",
    "感兴趣的加V详聊",
    "名额有限，先到先得",
    "想要的抓紧",
)
SOCIAL_CHATTER = (
    "周末天气不错，出门逛了逛",
    "家里人都说不错",
    "价格不算便宜，但质量对得起",
    "记录一下最近的生活",
    "有同款的朋友可以交流一下",
    "不是广告，纯分享",
)
OFFICIAL_AUTHORS = ("乌兰塔拉盟市场监管", "东乌兰旗市场监管局", "消费维权小助手", "塔拉浩特融媒")


def all_topics() -> tuple[Topic, ...]:
    """Every topic, core categories first."""
    from tiequan.sandbox.topics_core import CORE_TOPICS
    from tiequan.sandbox.topics_more import MORE_TOPICS

    return CORE_TOPICS + MORE_TOPICS
