"""Chinese terminal rendering of leads: the `leads list` table and the `leads show` view."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from tiequan.referral.categories import PRICE_FRAUD, default_path, load_categories, price_fraud_rule
from tiequan.text import NONE_MARK, clean, display_width, pad, truncate
from tiequan.timefmt import as_utc, local_time

SOURCE_NAMES = {"crawler": "网络监测", "tip": "投诉举报", "higher-bureau": "上级交办"}
LISTING_STATES = {"online": "在售", "changed": "已修改", "removed": "已下架"}
MAX_LISTINGS_SHOWN = 20
NO_PARTY = "未识别主体"
TABLE_COLUMNS = (  # (header, max display width)
    ("编号", 14),
    ("类别", 22),
    ("分值", 5),
    ("状态", 6),
    ("牵头单位", 22),
    ("属地", 16),
    ("平台", 12),
    ("标题", 30),
    ("商品数", 6),
    ("发现时间", 16),
)


def to_jsonable(value: Any) -> Any:
    """A lead (or anything inside one) with datetimes as ISO 8601 strings."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, dict):
        return {("id" if k == "_id" else k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


@lru_cache(maxsize=4)
def _price_fraud_terms(config_dir: Path) -> tuple[str, str]:
    route = load_categories(config_dir / "categories.yaml").finding_route(PRICE_FRAUD)
    return route.name, price_fraud_rule(config_dir).article


def price_fraud_name() -> str:
    """What officers call a price-fraud lead (its routing entry in categories.yaml)."""
    return _price_fraud_terms(default_path().parent)[0]


def is_price_fraud(lead: dict[str, Any]) -> bool:
    """A 价格欺诈 lead: it carries the price unit's category, so tell it by its finding.

    Leads written before the finding type was kept are told by the price-fraud article.
    """
    kind = lead.get("finding_type")
    if kind is not None:
        return bool(kind == PRICE_FRAUD)
    return lead.get("article") == _price_fraud_terms(default_path().parent)[1]


def category_label(lead: dict[str, Any]) -> str:
    if is_price_fraud(lead):
        return price_fraud_name()
    return clean(lead.get("category_name") or lead.get("category"))


def _row(lead: dict[str, Any]) -> list[str]:
    return [
        clean(lead.get("_id")),
        category_label(lead),
        f"{float(lead.get('score') or 0):.2f}",
        clean(lead.get("status")),
        clean(lead.get("lead_unit")),
        jurisdiction_label(lead),
        clean(lead.get("platform_name") or lead.get("platform")),
        clean(lead.get("title")),
        str(lead.get("listing_count") or 1),
        local_time(lead.get("created_at")),
    ]


def jurisdiction_label(lead: dict[str, Any]) -> str:
    jurisdiction = lead.get("jurisdiction") or {}
    return clean(jurisdiction.get("label") or jurisdiction.get("bureau_name")) or "未能确定管辖"


def render_table(leads: list[dict[str, Any]], empty: str = "没有符合条件的线索。") -> str:
    """The `leads list` table; columns padded by terminal display width."""
    if not leads:
        return empty
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
    if not party.get("identified") or not party.get("credit_code"):
        label = clean(party.get("label")) or NO_PARTY
        return [label if label.startswith(NO_PARTY) else f"{NO_PARTY}：{label}"]
    lines = [f"统一社会信用代码 {clean(party['credit_code'])}"]
    if party.get("name"):
        lines.append(f"名称 {clean(party['name'])}")
    if party.get("address"):
        lines.append(f"住所 {clean(party['address'])}")
    return lines


def _jurisdiction_lines(lead: dict[str, Any]) -> list[str]:
    jurisdiction = lead.get("jurisdiction") or {}
    lines = [jurisdiction_label(lead)]
    if jurisdiction.get("basis"):
        lines.append(f"依据：{clean(jurisdiction['basis'])}")
    return lines


def _listing_lines(lead: dict[str, Any]) -> list[str]:
    """One line per listing in the case, strongest first."""
    entries = sorted(lead.get("listings") or [], key=lambda e: -float(e.get("score") or 0))
    lines = []
    for entry in entries[:MAX_LISTINGS_SHOWN]:
        state = LISTING_STATES.get(entry.get("state") or "", clean(entry.get("state")))
        lines.append(
            f"{clean(entry.get('platform_name') or entry.get('platform'))} "
            f"{clean(entry.get('item_id'))}  {clean(entry.get('title'))}  "
            f"（{state}，{entry.get('seen_count') or 1} 次采集，最近 "
            f"{local_time(entry.get('last_seen_at'))}）"
        )
        lines.append(f"  {clean(entry.get('url'))}")
    if len(entries) > MAX_LISTINGS_SHOWN:
        lines.append(f"……另有 {len(entries) - MAX_LISTINGS_SHOWN} 件，见 --json")
    return lines or [NONE_MARK]


def _handling_lines(lead: dict[str, Any]) -> list[str]:
    """Decision, referral and outcome, as recorded on the lead."""
    lines = []
    decision = lead.get("decision") or {}
    if decision:
        reason = f"，理由：{clean(decision.get('reason'))}" if decision.get("reason") else ""
        lines.append(
            f"{clean(decision.get('action'))}（{clean(decision.get('by'))}，"
            f"{local_time(decision.get('at'))}）{reason}"
        )
    referral = lead.get("referral") or {}
    if referral:
        units = "、".join(clean(u) for u in referral.get("units") or [] if u)
        bureau = clean(referral.get("bureau")) or "未能确定管辖"
        lines.append(f"移送：{units}；属地 {bureau}（{local_time(referral.get('at'))}）")
    outcome = lead.get("outcome") or {}
    if outcome:
        lines.append(f"办结反馈：{clean(outcome.get('text'))}（{clean(outcome.get('by'))}）")
    for followup in lead.get("followups") or []:
        state = LISTING_STATES.get(followup.get("state") or "", clean(followup.get("state")))
        lines.append(
            f"复查 {local_time(followup.get('at'))}：{clean(followup.get('item_id'))} {state}"
        )
    return lines or [NONE_MARK]


def _source_text(lead: dict[str, Any]) -> str:
    """Where the lead came from; an imported one names its file and row (举报人 masked)."""
    source = lead.get("source") or ""
    text = SOURCE_NAMES.get(source, clean(source))
    if lead.get("source_ref"):
        text += f"（{clean(lead['source_ref'])}）"
    imports = lead.get("imports") or []
    if len(imports) > 1:
        text += f"，共 {len(imports)} 次导入"
    return text


def _due(lead: dict[str, Any]) -> str:
    due = lead.get("due_at")
    if not isinstance(due, datetime):
        return NONE_MARK
    overdue = as_utc(due) < datetime.now(UTC)
    return local_time(due) + ("（已超期）" if overdue else "")


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
    if is_price_fraud(lead):
        unit_category = clean(lead.get("category"))
        category = f"{price_fraud_name()}（{PRICE_FRAUD}，按价格监管职责归口 {unit_category}）"
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
        ("属地管辖", _jurisdiction_lines(lead)),
        ("牵头单位", clean(lead.get("lead_unit"))),
        ("协办单位", "、".join(clean(u) for u in lead.get("co_units") or []) or "无"),
        ("线索来源", _source_text(lead)),
        ("认领人", claimed),
        ("办理时限", _due(lead)),
        ("处置情况", _handling_lines(lead)),
        ("首次发现", local_time(lead.get("created_at"))),
        ("最近发现", local_time(lead.get("last_seen_at"))),
        (
            "采集情况",
            f"{lead.get('listing_count') or 1} 件商品，{lead.get('night_count') or 1} 个夜间批次，"
            f"{lead.get('evidence_count') or 0} 份证据",
        ),
        ("涉案商品", _listing_lines(lead)),
        ("链接", clean(lead.get("url")) or NONE_MARK),
    ]
    width = max(display_width(label) for label, _ in fields) + 2
    lines = []
    for label, value in fields:
        values = value if isinstance(value, list) else [value]
        lines.append(pad(label, width) + values[0])
        lines.extend(" " * width + v for v in values[1:])
    return "\n".join(lines)


def render_history(lead_id: str, records: list[dict[str, Any]]) -> str:
    """The `leads history` view: one line per audit record, oldest first."""
    if not records:
        return f"线索 {clean(lead_id)} 尚无流转记录。"
    lines = [f"线索 {clean(lead_id)} 流转记录："]
    for r in records:
        note = r.get("reason") or r.get("outcome")
        lines.append(
            f"{local_time(r.get('at'))}  {clean(r.get('from_status'))} → "
            f"{clean(r.get('to_status'))}  {clean(r.get('action_label'))}  "
            f"{clean(r.get('actor'))}" + (f"  （{clean(note)}）" if note else "")
        )
    return "\n".join(lines)
