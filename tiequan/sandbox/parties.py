"""Fictional sellers: shops, developers, their licences and registered addresses.

Most sellers sit in the made-up 乌兰塔拉盟 and its six counties/banners, so that leads
route by jurisdiction (属地); some are registered elsewhere in the country.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tiequan.sandbox.creditcode import make_uscc

LEAGUE = "内蒙古自治区乌兰塔拉盟"

# (division code, county/banner name, short name for company names).
# Codes are made up (no such 盟 exists).
COUNTIES: tuple[tuple[str, str, str], ...] = (
    ("159902", "塔拉浩特市", "塔拉浩特"),
    ("159921", "东乌兰旗", "东乌兰"),
    ("159922", "西乌兰旗", "西乌兰"),
    ("159923", "查干诺尔县", "查干诺尔"),
    ("159924", "巴彦锡勒旗", "巴彦锡勒"),
    ("159925", "额尔敦区", "额尔敦"),
)
# Sellers outside the 盟: real place names, fictional companies and streets.
ELSEWHERE: tuple[tuple[str, str, str], ...] = (
    ("440111", "广东省广州市白云区", "广州"),
    ("330782", "浙江省义乌市", "义乌"),
    ("350582", "福建省晋江市", "晋江"),
    ("150102", "内蒙古自治区呼和浩特市新城区", "呼和浩特"),
    ("320583", "江苏省昆山市", "昆山"),
)

_STREETS = ("团结", "新华", "建设", "草原", "胜利", "锡林", "民族", "振兴", "和平", "幸福")
_STREET_KINDS = ("大街", "路", "西街", "东路", "南巷")
_NAME_WORDS = (
    "恒源",
    "瑞丰",
    "金禾",
    "北疆",
    "青城",
    "鑫悦",
    "佳诚",
    "宏泰",
    "惠民",
    "源丰",
    "牧歌",
    "星河",
    "嘉和",
    "聚德",
    "安泰",
    "利达",
    "众鑫",
    "福康",
    "盛隆",
    "绿野",
    "乐享",
    "晟达",
)
_TRADES = ("商贸", "贸易", "电子商务", "食品", "服饰", "生物科技", "农资", "能源", "实业")
_SHOP_SUFFIX = ("旗舰店", "专营店", "官方店", "小铺", "优选", "严选店", "工厂店", "生活馆")
_SURNAMES = "王李张刘陈杨赵黄周吴孙马胡朱高林何郭罗乌巴"


@dataclass(frozen=True)
class Licence:
    """What a shop's 营业执照 page shows; ``credit_code`` is empty when not displayed."""

    credit_code: str
    company: str
    address: str
    county: str
    legal_rep: str
    founded: str
    scope: str


@dataclass(frozen=True)
class Shop:
    """A seller on one sandbox site (a property developer is a Shop too)."""

    shop_id: str
    name: str
    licence: Licence


def _street(rng: random.Random) -> str:
    street = rng.choice(_STREETS) + rng.choice(_STREET_KINDS)
    return f"{street}{rng.randint(1, 399)}号{rng.choice(('', '院内', '商铺', '2楼'))}"


def make_licence(rng: random.Random, trade: str | None = None, shown: bool = True) -> Licence:
    """A licence registered in one of the 盟's counties (80%) or elsewhere."""
    if rng.random() < 0.8:
        code, county, short_place = rng.choice(COUNTIES)
        full_place = f"{LEAGUE}{county}"
    else:
        code, county, short_place = rng.choice(ELSEWHERE)
        full_place = county
    individual = rng.random() < 0.25
    word = rng.choice(_NAME_WORDS)
    if individual:
        company = f"{short_place}{word}{rng.choice(('商行', '经销部', '副食店'))}"
    else:
        company = f"{short_place}{word}{trade or rng.choice(_TRADES)}有限公司"
    year = rng.randint(2008, 2021)
    return Licence(
        credit_code=make_uscc(rng, code, "2" if individual else "1") if shown else "",
        company=company,
        address=full_place + _street(rng),
        county=county,
        legal_rep=rng.choice(_SURNAMES) + rng.choice("建国丽华海军文斌敏娜春梅宝音其其格"),
        founded=f"{year}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日",
        scope="预包装食品销售；日用百货、服装鞋帽、五金交电零售；互联网销售（除销售需要许可的商品）",
    )


def make_shop(rng: random.Random, shop_id: str, shown: bool = True) -> Shop:
    licence = make_licence(rng, shown=shown)
    word = rng.choice(_NAME_WORDS)
    if rng.random() < 0.3:
        name = f"{rng.choice(_SURNAMES)}{rng.choice('姐哥记家')}{rng.choice(_SHOP_SUFFIX)}"
    else:
        name = f"{word}{rng.choice(_SHOP_SUFFIX)}"
    return Shop(shop_id=shop_id, name=name, licence=licence)


def make_developer(rng: random.Random, shop_id: str) -> Shop:
    licence = make_licence(rng, trade="房地产开发", shown=True)
    name = licence.company.removesuffix("有限公司")
    return Shop(shop_id=shop_id, name=name, licence=licence)
