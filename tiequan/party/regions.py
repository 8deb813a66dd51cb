"""Province-level regions (GB/T 2260) and reading the region at the head of an address.

Only the provincial level is tabulated: it is enough to say where a party registered
outside the league is, and which market-regulation bureau a letter (函告) goes to. The
prefecture and county are read from the address text by their suffixes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# First two digits of a division code -> (full name, short name).
PROVINCES: dict[str, tuple[str, str]] = {
    "11": ("北京市", "北京"),
    "12": ("天津市", "天津"),
    "13": ("河北省", "河北"),
    "14": ("山西省", "山西"),
    "15": ("内蒙古自治区", "内蒙古"),
    "21": ("辽宁省", "辽宁"),
    "22": ("吉林省", "吉林"),
    "23": ("黑龙江省", "黑龙江"),
    "31": ("上海市", "上海"),
    "32": ("江苏省", "江苏"),
    "33": ("浙江省", "浙江"),
    "34": ("安徽省", "安徽"),
    "35": ("福建省", "福建"),
    "36": ("江西省", "江西"),
    "37": ("山东省", "山东"),
    "41": ("河南省", "河南"),
    "42": ("湖北省", "湖北"),
    "43": ("湖南省", "湖南"),
    "44": ("广东省", "广东"),
    "45": ("广西壮族自治区", "广西"),
    "46": ("海南省", "海南"),
    "50": ("重庆市", "重庆"),
    "51": ("四川省", "四川"),
    "52": ("贵州省", "贵州"),
    "53": ("云南省", "云南"),
    "54": ("西藏自治区", "西藏"),
    "61": ("陕西省", "陕西"),
    "62": ("甘肃省", "甘肃"),
    "63": ("青海省", "青海"),
    "64": ("宁夏回族自治区", "宁夏"),
    "65": ("新疆维吾尔自治区", "新疆"),
    "71": ("台湾省", "台湾"),
    "81": ("香港特别行政区", "香港"),
    "82": ("澳门特别行政区", "澳门"),
}
MUNICIPALITIES = frozenset({"11", "12", "31", "50"})
# Characters that end a place name in a street address rather than an administrative one.
ROAD_CHARS = "路街道巷号弄村"


@dataclass(frozen=True)
class Region:
    """The administrative head of an address, as far as it can be read."""

    province_code: str  # two digits
    province: str  # full name, e.g. 广东省
    city: str = ""  # e.g. 广州市, 乌兰塔拉盟 (empty for municipalities or when absent)
    county: str = ""  # e.g. 白云区 (only 区/县/旗 suffixes: 市 is too often a shop name)
    city_start: int = -1  # offsets into the normalised address
    end: int = 0

    @property
    def name(self) -> str:
        return self.province + self.city + self.county


def province_of_code(division_code: str) -> tuple[str, str] | None:
    """(two-digit code, full province name) for a 6-digit division code, if known."""
    entry = PROVINCES.get(division_code[:2])
    return (division_code[:2], entry[0]) if entry else None


@lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    names: list[tuple[str, str]] = []
    for code, (full, short) in PROVINCES.items():
        names += [(full, code), (short, code)]
    alternatives = "|".join(re.escape(n) for n, _ in sorted(names, key=lambda p: -len(p[0])))
    province = re.compile(
        rf"(?:中华人民共和国|中国)?(?P<p>{alternatives})(?:省|市|自治区)?(?![{ROAD_CHARS}])"
    )
    stop = f"区县旗市盟省{ROAD_CHARS}"
    # 州 ends a prefecture (温州, 延边朝鲜族自治州) unless 市 follows (广州市).
    city = re.compile(rf"[^{stop}]{{1,10}}?(?:市|自治州|盟|地区|州(?!市))")
    county = re.compile(rf"[^{stop}]{{1,8}}?(?:区|县|旗)")
    return province, city, county


@lru_cache(maxsize=1)
def _code_by_name() -> dict[str, str]:
    table: dict[str, str] = {}
    for code, (full, short) in PROVINCES.items():
        table[full] = table[short] = code
    return table


def parse_region(text: str) -> Region | None:
    """The province (and city, county when readable) at the start of a normalised address."""
    province_re, city_re, county_re = _patterns()
    m = province_re.match(text)
    if m is None:
        return None
    code = _code_by_name()[m.group("p")]
    pos = m.end()
    city = ""
    city_start = -1
    if code not in MUNICIPALITIES:
        cm = city_re.match(text, pos)
        if cm:
            city, city_start, pos = cm.group(), pos, cm.end()
    county = ""
    km = county_re.match(text, pos)
    if km:
        county, pos = km.group(), km.end()
    return Region(code, PROVINCES[code][0], city, county, city_start, pos)
