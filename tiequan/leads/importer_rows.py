"""Columns of an import file and the values in them: headers, prices, dates, categories.

Headers are matched in Chinese or English, ignoring case, spaces, a required-field "*"
and a trailing unit in brackets ("价格（元）"). Columns about the person who complained
(举报人保护) are never copied: only a masked form is kept.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

from tiequan.referral import Categories
from tiequan.timefmt import shanghai

FIELDS: dict[str, tuple[str, ...]] = {
    "ref": ("编号", "投诉编号", "举报编号", "线索编号", "工单编号", "工单号", "交办文号", "文号",
            "ref", "id", "no", "number"),
    "title": ("标题", "商品名称", "商品标题", "广告标题", "title"),
    "text": ("内容", "举报内容", "投诉内容", "交办内容", "线索内容", "广告内容", "描述",
             "问题描述", "text", "content", "description"),
    "url": ("链接", "网址", "商品链接", "广告链接", "url", "link"),
    "platform": ("平台", "平台名称", "网站", "platform"),
    "shop_name": ("店铺", "店铺名称", "网店名称", "shop", "shop_name", "shopname"),
    "shop_url": ("店铺链接", "店铺网址", "shop_url", "shopurl"),
    "credit_code": ("统一社会信用代码", "信用代码", "社会信用代码", "credit_code", "creditcode",
                    "uscc"),
    "party_name": ("主体名称", "经营者", "经营者名称", "企业名称", "被举报人", "被投诉人",
                   "被举报单位", "party_name", "partyname", "party"),
    "address": ("住所", "地址", "经营地址", "注册地址", "address"),
    "price": ("价格", "现价", "售价", "price"),
    "original_price": ("原价", "划线价", "划线原价", "original_price", "originalprice"),
    "category": ("类别", "线索类别", "问题类别", "category"),
    "received_at": ("举报时间", "投诉时间", "交办时间", "受理时间", "received_at", "receivedat",
                    "date"),
}  # fmt: skip
# The complainant's identity (举报人保护): kept only masked, never in the lead.
REPORTER_NAME = ("举报人", "投诉人", "举报人姓名", "投诉人姓名", "联系人", "姓名", "reporter",
                 "reporter_name", "complainant", "name")  # fmt: skip
REPORTER_PHONE = ("举报人电话", "投诉人电话", "联系电话", "联系方式", "电话", "手机", "手机号",
                  "手机号码", "phone", "mobile", "tel", "reporter_phone")  # fmt: skip
REPORTER_OTHER = ("身份证", "身份证号", "身份证号码", "证件号码", "举报人地址", "联系地址",
                  "邮箱", "电子邮箱", "email", "id_card")  # fmt: skip
_REPORTER_HINTS = ("举报人", "投诉人", "reporter", "complainant")

_UNIT_SUFFIX = re.compile(r"[（(][^（）()]*[）)]$")
_DATE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]*(\d{1,2})\s*[:：时]\s*(\d{1,2})\s*分?(?:\s*[:：]?\s*(\d{1,2})\s*秒?)?)?$"
)
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_PRICE_NOISE = re.compile(r"[\s,，¥￥元]|^rmb|^cny", re.IGNORECASE)
_NAME_PUNCT = re.compile(r"[\s“”\"'‘’「」《》、，,。.·]")
CATEGORY_SEPARATORS = re.compile(r"[、,，;；/|]")
_SHOWN_CHARS = 80


class RowError(ValueError):
    """A row that cannot be imported; the message (Chinese) says why."""


class RowValueError(RowError):
    """A cell that cannot be read; carries the column and value for the officer."""

    def __init__(self, column: str, value: Any, why: str) -> None:
        shown = str(value)
        if len(shown) > _SHOWN_CHARS:  # the reason goes on one line and into the CSV
            shown = f"{shown[: _SHOWN_CHARS - 20]}…（共 {len(shown)} 字）"
        super().__init__(f"“{column}”列的值“{shown}”{why}")
        self.column = column
        self.value = value
        self.why = why


def header_key(name: str) -> str:
    key = unicodedata.normalize("NFKC", name).casefold()
    key = "".join(key.split()).strip("*")
    return _UNIT_SUFFIX.sub("", key).replace("-", "_")


_LOOKUP: dict[str, str] = {header_key(a): f for f, aliases in FIELDS.items() for a in aliases}
_REPORTER: dict[str, str] = {
    **{header_key(a): "name" for a in REPORTER_NAME},
    **{header_key(a): "phone" for a in REPORTER_PHONE},
    **{header_key(a): "other" for a in REPORTER_OTHER},
}


def field_of(header: str) -> str | None:
    """The canonical field a header stands for, or None for an unknown column."""
    return _LOOKUP.get(header_key(header))


def reporter_kind(header: str) -> str | None:
    """ "name" | "phone" | "other" for a column about the complainant, else None."""
    key = header_key(header)
    if key in _REPORTER:
        return _REPORTER[key]
    if key.startswith("被") or key in _LOOKUP:
        return None
    return "other" if any(h in key for h in _REPORTER_HINTS) else None


def looks_like_header(cells: list[str]) -> bool:
    """A header row names at least two known columns (one when it has a single cell)."""
    known = sum(1 for c in cells if c and field_of(c) is not None)
    filled = sum(1 for c in cells if c)
    return known >= 2 or (known == 1 and filled == 1)


def mask_name(value: str) -> str:
    value = value.strip()
    return f"{value[0]}**" if value else ""


def mask_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 11:
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) >= 7:
        return f"****{digits[-4:]}"
    return "****" if value.strip() else ""


def mask_reporter(cells: Iterable[tuple[str, str]]) -> str | None:
    """One masked line (e.g. "张** 138****5678") from (kind, value) pairs; None if empty."""
    parts: list[str] = []
    for kind, value in cells:
        if not value.strip():
            continue
        if kind == "name":
            parts.append(mask_name(value))
        elif kind == "phone":
            parts.append(mask_phone(value))
        else:
            parts.append("（其他身份信息已隐去）")
    return " ".join(dict.fromkeys(parts)) or None


def text_of(value: Any) -> str:
    """A cell as text: integers stored as floats by spreadsheets lose their ".0"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value).strip()


def parse_price(column: str, value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RowValueError(column, value, "不是有效的价格")
    if isinstance(value, int | float):
        number = float(value)
    else:
        cleaned = _PRICE_NOISE.sub("", unicodedata.normalize("NFKC", str(value)))
        if not cleaned:
            return None
        try:
            number = float(cleaned)
        except ValueError:
            raise RowValueError(column, value, "不是有效的价格（应为数字，如 39.9）") from None
    if not number >= 0 or number == float("inf"):
        raise RowValueError(column, value, "不是有效的价格（应为非负数）")
    return number


def parse_time(column: str, value: Any) -> datetime | None:
    """A received time as an aware datetime; times without a zone are Beijing time."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        found = value
    elif isinstance(value, date):
        found = datetime.combine(value, time())
    else:
        text = unicodedata.normalize("NFKC", str(value)).strip()
        try:
            found = datetime.fromisoformat(text)
        except ValueError:
            found = _parse_loose(column, value, text)
    return found if found.tzinfo else found.replace(tzinfo=shanghai())


def _parse_loose(column: str, value: Any, text: str) -> datetime:
    m = _DATE.match(text) or _COMPACT_DATE.match(text)
    if m is None:
        raise RowValueError(column, value, "不是有效的日期（如 2024-06-01 或 2024年6月1日 10:30）")
    y, mo, d, h, mi, sec = ([int(p) if p else 0 for p in m.groups()] + [0, 0, 0])[:6]
    try:
        return datetime(y, mo, d, h, mi, sec)
    except ValueError:
        raise RowValueError(column, value, "不是有效的日期") from None


def _fold_name(text: str) -> str:
    return _NAME_PUNCT.sub("", unicodedata.normalize("NFKC", text)).replace("等", "")


def parse_categories(column: str, value: Any, categories: Categories) -> list[str]:
    """Category ids from a cell: ids or Chinese names (whole or an unambiguous part)."""
    text = text_of(value)
    if not text:
        return []
    whole = _one_category(text, categories)
    if whole is not None:
        return [whole]
    found: list[str] = []
    for part in (p.strip() for p in CATEGORY_SEPARATORS.split(text)):
        if not part:
            continue
        category = _one_category(part, categories)
        if category is None:
            raise RowValueError(column, part, "不是已知的类别（填写类别编号或 18 项重点的名称）")
        if category not in found:
            found.append(category)
    return found


def _one_category(part: str, categories: Categories) -> str | None:
    key = part.strip().lower()
    if key in categories:
        return key
    folded = _fold_name(part)
    if not folded:
        return None
    names = {c.id: _fold_name(c.name) for c in categories}
    exact = [cid for cid, name in names.items() if name == folded]
    if exact:
        return exact[0]
    partial = [cid for cid, name in names.items() if len(folded) >= 2 and folded in name]
    return partial[0] if len(partial) == 1 else None
