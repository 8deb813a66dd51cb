"""Chinese terminal rendering of leads: the `leads list` table and the `leads show` view."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from detectors.price import PRICE_FRAUD_ARTICLE

PRICE_FRAUD = "price_fraud"
PRICE_FRAUD_NAME = "价格欺诈"
SOURCE_NAMES = {"crawler": "网络监测", "tip": "投诉举报", "higher_bureau": "上级交办"}
NO_PARTY = "未识别主体"
NONE_MARK = "—"
TABLE_COLUMNS = (  # (header, max display width)
    ("编号", 14),
    ("类别", 22),
    ("分值", 5),
    ("状态", 6),
    ("牵头单位", 22),
    ("平台", 12),
    ("标题", 36),
    ("发现时间", 16),
)


def shanghai() -> tzinfo:
    try:
        return ZoneInfo("Asia/Shanghai")
    except ZoneInfoNotFoundError:
        return timezone(timedelta(hours=8), "CST")  # China has no DST


def char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    return sum(char_width(ch) for ch in text)


def clean(value: Any) -> str:
    """Crawled text made inert for a terminal: no control or bidi characters, one line."""
    text = "" if value is None else str(value)
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cc" or ch in "\u2028\u2029":
            out.append(" ")
        elif cat != "Cf":
            out.append(ch)
    return " ".join("".join(out).split())


def truncate(text: str, width: int) -> str:
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = char_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def as_utc(value: datetime) -> datetime:
    # Clients without tz_aware=True hand back naive datetimes that are UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def local_time(value: Any) -> str:
    if not isinstance(value, datetime):
        return clean(value) if value else NONE_MARK
    return as_utc(value).astimezone(shanghai()).strftime("%Y-%m-%d %H:%M")


def to_jsonable(value: Any) -> Any:
    """A lead (or anything inside one) with datetimes as ISO 8601 strings."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, dict):
        return {("id" if k == "_id" else k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def is_price_fraud(lead: dict[str, Any]) -> bool:
    """A 价格欺诈 lead: it carries the price unit's category, so tell it by its finding.

    Leads keep no finding type yet; the price-fraud article identifies them.
    """
    kind = lead.get("kind") or lead.get("type")
    return kind == PRICE_FRAUD or (kind is None and lead.get("article") == PRICE_FRAUD_ARTICLE)


def category_label(lead: dict[str, Any]) -> str:
    if is_price_fraud(lead):
        return PRICE_FRAUD_NAME
    return clean(lead.get("category_name") or lead.get("category"))


def _row(lead: dict[str, Any]) -> list[str]:
    return [
        clean(lead.get("_id")),
        category_label(lead),
        f"{float(lead.get('score') or 0):.2f}",
        clean(lead.get("status")),
        clean(lead.get("lead_unit")),
        clean(lead.get("platform_name") or lead.get("platform")),
        clean(lead.get("title")),
        local_time(lead.get("created_at")),
    ]


def render_table(leads: list[dict[str, Any]]) -> str:
    """The `leads list` table; columns padded by terminal display width."""
    if not leads:
        return "没有符合条件的线索。"
    limits = [limit for _, limit in TABLE_COLUMNS]
    rows = [[truncate(c, w) for c, w in zip(_row(lead), limits, strict=True)] for lead in leads]
    headers = [h for h, _ in TABLE_COLUMNS]
    widths = [max(display_width(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(pad(c, w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"共 {len(leads)} 条")
    return "\n".join(lines)


def _party_lines(lead: dict[str, Any]) -> list[str]:
    party = lead.get("party") or {}
    if not party.get("credit_code"):
        known = [clean(party.get(k)) for k in ("name", "address") if party.get(k)]
        return [NO_PARTY + (f"（页面信息：{'；'.join(known)}）" if known else "")]
    lines = [f"统一社会信用代码 {clean(party['credit_code'])}"]
    if party.get("name"):
        lines.append(f"名称 {clean(party['name'])}")
    if party.get("address"):
        lines.append(f"地址 {clean(party['address'])}")
    return lines


def _image_lines(lead: dict[str, Any]) -> str | list[str]:
    """Which product image carried the claim, and what OCR read in it."""
    image = lead.get("image")
    if not image:
        return "无（宣称见于文字）"
    return [f"图片 {clean(image.get('url'))}", f"图中文字 “{clean(image.get('text'))}”"]


def render_detail(lead: dict[str, Any]) -> str:
    """The `leads show` view: every field under a Chinese label."""
    matched = "、".join(f"“{clean(m)}”" for m in lead.get("matched") or []) or NONE_MARK
    claimed = clean(lead.get("claimed_by")) or NONE_MARK
    if lead.get("claimed_at"):
        claimed += f"（{local_time(lead['claimed_at'])} 认领）"
    source = lead.get("source") or ""
    if is_price_fraud(lead):
        category = (
            f"{PRICE_FRAUD_NAME}（{PRICE_FRAUD}，按价格监管职责归口 {clean(lead.get('category'))}）"
        )
    else:
        category = f"{clean(lead.get('category_name'))}（{clean(lead.get('category'))}）"
    fields: list[tuple[str, str | list[str]]] = [
        ("编号", clean(lead.get("_id"))),
        ("状态", clean(lead.get("status"))),
        ("类别", category),
        ("分值", f"{float(lead.get('score') or 0):.2f}"),
        ("建议处置", clean(lead.get("severity")) or NONE_MARK),
        ("违反条款", clean(lead.get("article")) or NONE_MARK),
        ("认定理由", clean(lead.get("explanation")) or NONE_MARK),
        ("命中内容", matched),
        ("图片取证", _image_lines(lead)),
        ("标题", clean(lead.get("title")) or NONE_MARK),
        ("平台", clean(lead.get("platform_name") or lead.get("platform"))),
        ("店铺", clean(lead.get("shop_name")) or NONE_MARK),
        ("主体信息", _party_lines(lead)),
        ("牵头单位", clean(lead.get("lead_unit"))),
        ("协办单位", "、".join(clean(u) for u in lead.get("co_units") or []) or "无"),
        ("线索来源", SOURCE_NAMES.get(source, clean(source))),
        ("认领人", claimed),
        ("首次发现", local_time(lead.get("created_at"))),
        ("最近发现", local_time(lead.get("last_seen_at"))),
        ("发现次数", str(lead.get("seen_count") or 0)),
        ("链接", clean(lead.get("url")) or NONE_MARK),
    ]
    width = max(display_width(label) for label, _ in fields) + 2
    lines = []
    for label, value in fields:
        values = value if isinstance(value, list) else [value]
        lines.append(pad(label, width) + values[0])
        lines.extend(" " * width + v for v in values[1:])
    return "\n".join(lines)
