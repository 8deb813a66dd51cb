"""Unified social credit codes (统一社会信用代码, GB 32100-2015): validation and decoding.

Layout of the 18 characters: 1 registration department (登记管理部门), 2 entity type
(机构类别), 3–8 the registering authority's division code (行政区划码, GB/T 2260),
9–17 the subject identifier, which is the GB 11714 organisation code (8 body
characters and its own check character), 18 the GB 32100 check character.

Validity is decided by length, alphabet and the GB 32100 check character only: that is
what the standard and the national registry define. The embedded organisation-code
check is reported as a second opinion in ``notes`` (a mismatch makes the code
suspicious, not invalid): codes issued to some individual businesses and bodies without
a prior organisation code do not always carry a GB 11714-conforming identifier.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

# Digits and capitals without I, O, Z, S, V (too easily confused with 1, 0, 2, 5, U).
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# Weight of position i is 3**i mod 31: all distinct and non-zero modulo the prime 31,
# so every single substitution and every adjacent transposition changes the sum.
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CONFUSED = {"I": "1", "O": "0", "Z": "2", "S": "5", "V": "U"}

# 登记管理部门代码 -> (department, {机构类别代码: entity type}), GB 32100-2015 and the
# codes the national credit-code office added since.
DEPARTMENTS: dict[str, tuple[str, dict[str, str]]] = {
    "1": (
        "机构编制",
        {"1": "机关", "2": "事业单位", "3": "中央编办直接管理的群众团体", "9": "其他"},
    ),
    "2": ("外交", {"1": "外国常驻新闻机构", "9": "其他"}),
    "3": (
        "司法行政",
        {
            "1": "律师执业机构",
            "2": "公证处",
            "3": "基层法律服务所",
            "4": "司法鉴定机构",
            "5": "仲裁委员会",
            "9": "其他",
        },
    ),
    "4": ("文化", {"1": "外国在华文化中心", "9": "其他"}),
    "5": ("民政", {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"}),
    "6": (
        "旅游",
        {"1": "外国旅游部门常驻代表机构", "2": "港澳台地区旅游部门常驻代表机构", "9": "其他"},
    ),
    "7": ("宗教", {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"}),
    "8": ("工会", {"1": "基层工会", "9": "其他"}),
    "9": ("工商（市场监管）", {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"}),
    "A": ("中央军委改革和编制办公室", {"1": "军队事业单位", "9": "其他"}),
    "N": (
        "农业",
        {"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"},
    ),
    "Y": ("其他", {"1": "其他"}),
}


@dataclass(frozen=True)
class CreditCodeCheck:
    """The outcome of ``validate``; ``problem`` is a Chinese reason, empty when valid.

    The decoded parts are filled whenever the code has 18 legal characters, even if the
    check character is wrong; only ``valid`` codes should be relied on.
    """

    code: str
    valid: bool
    problem: str = ""
    department: str | None = None  # 登记管理部门, e.g. 工商（市场监管）
    entity_type: str | None = None  # 机构类别, e.g. 企业, 个体工商户
    division_code: str | None = None  # 登记管理机关行政区划码 (characters 3–8)
    org_code: str | None = None  # 组织机构代码 as printed, "XXXXXXXX-X"
    org_code_valid: bool | None = None
    notes: tuple[str, ...] = ()  # second opinions in Chinese (org-code check, unknown codes)

    @property
    def suspicious(self) -> bool:
        """Valid by its check character, but something else about it looks wrong."""
        return self.valid and bool(self.notes)

    def describe(self) -> str:
        """One Chinese sentence for officers."""
        if not self.code:
            return "未公示统一社会信用代码"
        if not self.valid:
            return f"统一社会信用代码“{self.code}”无效：{self.problem}"
        parts = [f"统一社会信用代码“{self.code}”校验通过"]
        if self.department and self.entity_type:
            parts.append(f"{self.department}登记的{self.entity_type}")
        if self.division_code:
            parts.append(f"登记机关区划码{self.division_code}")
        text = "，".join(parts)
        return text + ("；" + "；".join(self.notes) if self.notes else "")

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["notes"] = list(self.notes)
        doc["suspicious"] = self.suspicious
        return doc


def normalize_code(raw: str | None) -> str:
    """Full-width to half-width, whitespace removed, upper case."""
    if not raw:
        return ""
    text = unicodedata.normalize("NFKC", raw)
    return "".join(text.split()).upper()


def is_placeholder(raw: str | None) -> bool:
    """True for empty values and stand-ins like "未公示", "暂无", "-": no code was shown."""
    return not any(c.isascii() and c.isalnum() for c in normalize_code(raw))


def check_digit(first17: str) -> str:
    """The GB 32100 check character of the first 17 characters (upper case, no spaces).

    Raises ``ValueError`` on a wrong length or a character outside the alphabet: this
    is for building codes; use ``validate`` on data.
    """
    if len(first17) != 17:
        raise ValueError(f"need 17 characters, got {len(first17)}: {first17!r}")
    total = 0
    for char, weight in zip(first17, WEIGHTS, strict=True):
        value = ALPHABET.find(char)
        if value < 0:
            raise ValueError(f"{char!r} is not a GB 32100 character in {first17!r}")
        total += value * weight
    return ALPHABET[-total % 31]


def org_check_digit(body: str) -> str:
    """The GB 11714 check character of an 8-character organisation-code body."""
    if len(body) != 8:
        raise ValueError(f"need 8 characters, got {len(body)}: {body!r}")
    total = 0
    for char, weight in zip(body, ORG_WEIGHTS, strict=True):
        value = _ORG_ALPHABET.find(char)
        if value < 0:
            raise ValueError(f"{char!r} is not a GB 11714 character in {body!r}")
        total += value * weight
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def _illegal_char_problem(code: str) -> str | None:
    for char in code:
        if char not in ALPHABET:
            hint = f"（可能应为“{_CONFUSED[char]}”）" if char in _CONFUSED else ""
            return f"含非法字符“{char}”{hint}"
    return None


def _decode(code: str) -> dict[str, Any]:
    """The meaningful parts of an 18-character code in the alphabet, with notes."""
    notes: list[str] = []
    dept = DEPARTMENTS.get(code[0])
    entity = dept[1].get(code[1]) if dept else None
    if dept is None:
        notes.append(f"登记管理部门代码“{code[0]}”不在GB 32100所列范围")
    elif entity is None:
        notes.append(f"机构类别代码“{code[1]}”不属于{dept[0]}登记的机构类别")
    division = code[2:8]
    if not division.isdigit():
        notes.append(f"登记管理机关行政区划码“{division}”应为6位数字")
    body, org_check = code[8:16], code[16]
    expected = org_check_digit(body)
    if expected != org_check:
        notes.append(f"组织机构代码校验位应为{expected}（实际为{org_check}）")
    return {
        "department": dept[0] if dept else None,
        "entity_type": entity,
        "division_code": division if division.isdigit() else None,
        "org_code": f"{body}-{org_check}",
        "org_code_valid": expected == org_check,
        "notes": tuple(notes),
    }


def validate(raw: str | None) -> CreditCodeCheck:
    """Normalise and check a credit code; never raises on bad data."""
    code = normalize_code(raw)
    if not code:
        return CreditCodeCheck(code="", valid=False, problem="统一社会信用代码为空")
    if len(code) != 18:
        return CreditCodeCheck(code, False, f"长度应为18位（实际{len(code)}位）")
    illegal = _illegal_char_problem(code)
    if illegal:
        return CreditCodeCheck(code, False, illegal)
    parts = _decode(code)
    expected = check_digit(code[:17])
    if expected != code[17]:
        return CreditCodeCheck(code, False, f"校验码应为{expected}（实际为{code[17]}）", **parts)
    return CreditCodeCheck(code, True, "", **parts)


def is_valid(raw: str | None) -> bool:
    return validate(raw).valid
