"""Chinese terminal rendering of cases: the `leads list` table and the `leads show` view."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from tiequan.leads.model import Case, JurisdictionDoc, PartyDoc, filled
from tiequan.referral.categories import PRICE_FRAUD, default_path, load_categories, price_fraud_rule
from tiequan.text import NONE_MARK, clean, display_width, pad, truncate
from tiequan.timefmt import as_utc, local_time

SOURCE_NAMES = {"crawler": "网络监测", "tip": "投诉举报", "higher-bureau": "上级交办"}
LISTING_STATES = {"online": "在售", "changed": "已修改", "removed": "已下架"}
# A takedown follow-up's result (tiequan.leads.followup.STATES), as officers read it.
FOLLOWUP_STATES = {
    "unchanged": "仍在售", "changed": "已修改", "removed": "已下架", "not_seen": "未能复查",
}  # fmt: skip
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


def is_price_fraud(case: Case) -> bool:
    """A 价格欺诈 lead: it carries the price unit's category, so tell it by its finding.

    Leads written before the finding type was kept are told by the price-fraud article.
    """
    if case.finding_type is not None:
        return bool(case.finding_type == PRICE_FRAUD)
    return case.article == _price_fraud_terms(default_path().parent)[1]


def category_label(case: Case) -> str:
    if is_price_fraud(case):
        return price_fraud_name()
    return clean(case.category_name or case.category)


def _row(case: Case) -> list[str]:
    return [
        clean(case.id),
        category_label(case),
        f"{float(case.score or 0):.2f}",
        clean(case.status),
        clean(case.lead_unit),
        jurisdiction_label(case),
        clean(case.platform_name or case.platform),
        clean(case.title),
        str(case.listing_count or 1),
        local_time(case.created_at),
    ]


def jurisdiction_label(case: Case) -> str:
    jurisdiction = case.jurisdiction or JurisdictionDoc()
    return clean(jurisdiction.label or jurisdiction.bureau_name) or "未能确定管辖"


def render_table(cases: Sequence[Case], empty: str = "没有符合条件的线索。") -> str:
    """The `leads list` table; columns padded by terminal display width."""
    if not cases:
        return empty
    limits = [limit for _, limit in TABLE_COLUMNS]
    rows = [[truncate(c, w) for c, w in zip(_row(case), limits, strict=True)] for case in cases]
    headers = [h for h, _ in TABLE_COLUMNS]
    widths = [max(display_width(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(pad(c, w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"共 {len(cases)} 条")
    return "\n".join(lines)


def _party_lines(case: Case) -> list[str]:
    party = case.party or PartyDoc()
    if not party.identified or not party.credit_code:
        label = clean(party.label) or NO_PARTY
        return [label if label.startswith(NO_PARTY) else f"{NO_PARTY}：{label}"]
    lines = [f"统一社会信用代码 {clean(party.credit_code)}"]
    if party.name:
        lines.append(f"名称 {clean(party.name)}")
    if party.address:
        lines.append(f"住所 {clean(party.address)}")
    return lines


def _jurisdiction_lines(case: Case) -> list[str]:
    jurisdiction = case.jurisdiction or JurisdictionDoc()
    lines = [jurisdiction_label(case)]
    if jurisdiction.basis:
        lines.append(f"依据：{clean(jurisdiction.basis)}")
    return lines


def _listing_lines(case: Case) -> list[str]:
    """One line per listing in the case, strongest first."""
    entries = sorted(case.listings or (), key=lambda e: -float(e.score or 0))
    lines = []
    for entry in entries[:MAX_LISTINGS_SHOWN]:
        state = LISTING_STATES.get(entry.state or "", clean(entry.state))
        lines.append(
            f"{clean(entry.platform_name or entry.platform)} "
            f"{clean(entry.item_id)}  {clean(entry.title)}  "
            f"（{state}，{entry.seen_count or 1} 次采集，最近 "
            f"{local_time(entry.last_seen_at)}）"
        )
        lines.append(f"  {clean(entry.url)}")
    if len(entries) > MAX_LISTINGS_SHOWN:
        lines.append(f"……另有 {len(entries) - MAX_LISTINGS_SHOWN} 件，见 --json")
    return lines or [NONE_MARK]


def _handling_lines(case: Case) -> list[str]:
    """Decision, referral and outcome, as recorded on the lead."""
    lines = []
    decision = case.decision
    if filled(decision):
        reason = f"，理由：{clean(decision.reason)}" if decision.reason else ""
        lines.append(
            f"{clean(decision.action)}（{clean(decision.by)}，{local_time(decision.at)}）{reason}"
        )
    referral = case.referral
    if filled(referral):
        units = "、".join(clean(u) for u in referral.units or () if u)
        bureau = clean(referral.bureau) or "未能确定管辖"
        lines.append(f"移送：{units}；属地 {bureau}（{local_time(referral.at)}）")
    outcome = case.outcome
    if filled(outcome):
        lines.append(f"办结反馈：{clean(outcome.text)}（{clean(outcome.by)}）")
    for followup in case.followups or ():
        state = FOLLOWUP_STATES.get(followup.state or "", clean(followup.state))
        since = _missing_since(followup.extra.get("missing_since"))
        gone = f"（自 {since} 起站内列表不再出现）" if since else ""
        lines.append(f"复查 {local_time(followup.at)}：{clean(followup.item_id)} {state}{gone}")
    return lines or [NONE_MARK]


def _missing_since(value: Any) -> str:
    """The recrawl's mark (ISO 8601, tiequan.leads.followup) as a Beijing date, or ""."""
    try:
        return local_time(datetime.fromisoformat(str(value)), "%Y-%m-%d") if value else ""
    except ValueError:
        return clean(value)


def _source_text(case: Case) -> str:
    """Where the lead came from; an imported one names its file and row (举报人 masked)."""
    source = case.source or ""
    text = SOURCE_NAMES.get(source, clean(source))
    if case.source_ref:
        text += f"（{clean(case.source_ref)}）"
    imports = case.imports or ()
    if len(imports) > 1:
        text += f"，共 {len(imports)} 次导入"
    return text


def _due(case: Case) -> str:
    due = case.due_at
    if not isinstance(due, datetime):
        return NONE_MARK
    overdue = as_utc(due) < datetime.now(UTC)
    return local_time(due) + ("（已超期）" if overdue else "")


def _image_lines(case: Case) -> str | list[str]:
    """Which product image carried the claim, and what OCR read in it."""
    image = case.image
    if not filled(image):
        return "无（宣称见于文字）"
    return [f"图片 {clean(image.url)}", f"图中文字 “{clean(image.text)}”"]


def render_detail(case: Case) -> str:
    """The `leads show` view: every field under a Chinese label."""
    matched = "、".join(f"“{clean(m)}”" for m in case.matched or ()) or NONE_MARK
    claimed = clean(case.claimed_by) or NONE_MARK
    if case.claimed_at:
        claimed += f"（{local_time(case.claimed_at)} 认领）"
    if is_price_fraud(case):
        unit_category = clean(case.category)
        category = f"{price_fraud_name()}（{PRICE_FRAUD}，按价格监管职责归口 {unit_category}）"
    else:
        category = f"{clean(case.category_name)}（{clean(case.category)}）"
    fields: list[tuple[str, str | list[str]]] = [
        ("编号", clean(case.id)),
        ("状态", clean(case.status)),
        ("类别", category),
        ("分值", f"{float(case.score or 0):.2f}"),
        ("建议处置", clean(case.severity) or NONE_MARK),
        ("违反条款", clean(case.article) or NONE_MARK),
        ("认定理由", clean(case.explanation) or NONE_MARK),
        ("命中内容", matched),
        ("图片取证", _image_lines(case)),
        ("标题", clean(case.title) or NONE_MARK),
        ("平台", clean(case.platform_name or case.platform)),
        ("店铺", clean(case.shop_name) or NONE_MARK),
        ("主体信息", _party_lines(case)),
        ("属地管辖", _jurisdiction_lines(case)),
        ("牵头单位", clean(case.lead_unit)),
        ("协办单位", "、".join(clean(u) for u in case.co_units or ()) or "无"),
        ("线索来源", _source_text(case)),
        ("认领人", claimed),
        ("办理时限", _due(case)),
        ("处置情况", _handling_lines(case)),
        ("首次发现", local_time(case.created_at)),
        ("最近发现", local_time(case.last_seen_at)),
        (
            "采集情况",
            f"{case.listing_count or 1} 件商品，{case.night_count or 1} 个夜间批次，"
            f"{case.evidence_count or 0} 份证据",
        ),
        ("涉案商品", _listing_lines(case)),
        ("链接", clean(case.url) or NONE_MARK),
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
