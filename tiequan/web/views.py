"""What the pages show: queue filters, sorting and paging, who may see a lead, highlighting.

Leads are read through LeadQueue's public methods only; the filters LeadQueue has no
parameter for (bureau, score, platform, ...) are applied here to what it returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tiequan.leads.lifecycle import FINAL, HANDED_OVER, STATUS_CLOSED, STATUSES
from tiequan.leads.queue import LeadQueue
from tiequan.web.accounts import ROLE_UNIT, User

SHANGHAI = ZoneInfo("Asia/Shanghai")
PAGE_SIZE = 50
SORTS = {
    "created": ("created_at", True, "最新发现"),
    "score": ("score", True, "分值最高"),
    "due": ("due_at", False, "最先到期"),
    "status": ("status_at", True, "最近变更"),
}
CONTEXT_CHARS = 40  # characters of context shown on each side of a matched term
UNIT_VISIBLE = (*HANDED_OVER, STATUS_CLOSED)


@dataclass
class QueueFilter:
    category: str = ""
    unit: str = ""  # lead unit key
    bureau: str = ""  # county bureau key
    status: str = ""
    min_score: float | None = None
    platform: str = ""
    source: str = ""
    date_from: date | None = None
    date_to: date | None = None
    severity: str = ""
    claimed_by: str = ""
    sort: str = "created"
    page: int = 1
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> QueueFilter:
        f = cls()
        for name in ("category", "unit", "bureau", "platform", "source", "severity", "claimed_by"):
            setattr(f, name, (params.get(name) or "").strip()[:100])
        status = (params.get("status") or "").strip()
        if status and status not in STATUSES:
            f.errors.append(f"未知状态：{status}")
        else:
            f.status = status
        sort = params.get("sort") or "created"
        f.sort = sort if sort in SORTS else "created"
        raw_score = (params.get("min_score") or "").strip()
        if raw_score:
            try:
                f.min_score = float(raw_score)
            except ValueError:
                f.errors.append(f"分值须为数字：{raw_score}")
        for name, label in (("date_from", "起始日期"), ("date_to", "截止日期")):
            raw = (params.get(name) or "").strip()
            if raw:
                try:
                    setattr(f, name, date.fromisoformat(raw))
                except ValueError:
                    f.errors.append(f"{label}格式应为 YYYY-MM-DD：{raw}")
        try:
            f.page = max(1, int(params.get("page") or 1))
        except ValueError:
            f.page = 1
        return f

    def params(self, **override: Any) -> dict[str, str]:
        """The filter as query parameters (for links to other pages and sorts)."""
        values: dict[str, Any] = {
            "category": self.category,
            "unit": self.unit,
            "bureau": self.bureau,
            "status": self.status,
            "min_score": "" if self.min_score is None else self.min_score,
            "platform": self.platform,
            "source": self.source,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "severity": self.severity,
            "claimed_by": self.claimed_by,
            "sort": self.sort,
            "page": self.page,
        }
        values.update(override)
        return {k: str(v) for k, v in values.items() if v not in ("", None)}

    def matches(self, lead: Mapping[str, Any]) -> bool:
        jurisdiction = lead.get("jurisdiction") or {}
        if self.status and lead.get("status") != self.status:
            return False
        if self.category and lead.get("category") != self.category:
            return False
        if self.unit and self.unit not in (lead.get("lead_unit_key"), lead.get("lead_unit")):
            return False
        if self.bureau and jurisdiction.get("bureau_key") != self.bureau:
            return False
        if self.min_score is not None and float(lead.get("score") or 0) < self.min_score:
            return False
        if self.platform and self.platform not in (lead.get("platform"), lead.get("platform_name")):
            return False
        if self.source and lead.get("source") != self.source:
            return False
        if self.severity and lead.get("severity") != self.severity:
            return False
        if self.claimed_by and lead.get("claimed_by") != self.claimed_by:
            return False
        created = _aware(lead.get("created_at"))
        if self.date_from and (created is None or created < _day_start(self.date_from)):
            return False
        return not (
            self.date_to
            and (created is None or created >= _day_start(self.date_to + timedelta(days=1)))
        )


@dataclass
class Page:
    leads: list[Mapping[str, Any]]
    total: int
    page: int
    pages: int


def queue_page(
    leads: Iterable[Mapping[str, Any]], f: QueueFilter, page_size: int = PAGE_SIZE
) -> Page:
    """One page of the leads the filter keeps (``leads``: all of them, as LeadQueue.list gives)."""
    chosen = [lead for lead in leads if f.matches(lead)]
    key, descending, _ = SORTS[f.sort]
    floor = datetime.min.replace(tzinfo=UTC)

    def sort_key(lead: Mapping[str, Any]) -> Any:
        value = lead.get(key)
        if isinstance(value, datetime):
            return _aware(value) or floor
        return value if value is not None else (floor if key.endswith("_at") else 0)

    present = [lead for lead in chosen if lead.get(key) is not None]
    absent = [lead for lead in chosen if lead.get(key) is None]
    present.sort(key=sort_key, reverse=descending)
    ordered = present + absent  # leads without the sort field last, either way
    pages = max(1, -(-len(ordered) // page_size))
    page = min(f.page, pages)
    start = (page - 1) * page_size
    return Page(ordered[start : start + page_size], len(ordered), page, pages)


def facets(leads: Iterable[Mapping[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    """The values the filter drop-downs offer, from the leads there are."""
    seen: dict[str, dict[str, str]] = {
        k: {} for k in ("category", "unit", "bureau", "platform", "source", "severity")
    }
    for lead in leads:
        jurisdiction = lead.get("jurisdiction") or {}
        pairs = {
            "category": (lead.get("category"), lead.get("category_name")),
            "unit": (lead.get("lead_unit_key"), lead.get("lead_unit")),
            "bureau": (jurisdiction.get("bureau_key"), jurisdiction.get("bureau_name")),
            "platform": (lead.get("platform"), lead.get("platform_name")),
            "source": (lead.get("source"), lead.get("source")),
            "severity": (lead.get("severity"), lead.get("severity")),
        }
        for name, (value, label) in pairs.items():
            if value:
                seen[name].setdefault(str(value), str(label or value))
    return {k: sorted(v.items(), key=lambda kv: kv[1]) for k, v in seen.items()}


def todo(queue: LeadQueue, user: User, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """The landing page's three lists: my claimed leads, due today, overdue."""
    leads = queue.list(limit=None)
    end_of_day = _day_start(now.astimezone(SHANGHAI).date() + timedelta(days=1))
    mine = [d for d in leads if d.get("claimed_by") == user.username and d["status"] not in FINAL]
    due_today = [
        d
        for d in leads
        if d.get("status") not in FINAL
        and (due := _aware(d.get("due_at"))) is not None
        and now <= due < end_of_day
    ]
    due_today.sort(key=lambda d: _aware(d.get("due_at")) or now)
    return {"mine": mine, "due_today": due_today, "overdue": queue.overdue(now=now)}


def unit_may_see(queue: LeadQueue, user: User, lead: Mapping[str, Any]) -> bool:
    """A unit officer sees a lead only once it was referred to their unit or county bureau."""
    if user.role != ROLE_UNIT or lead.get("status") not in UNIT_VISIBLE:
        return False
    referral = lead.get("referral") or {}
    if user.bureau_key and referral.get("bureau_key") == user.bureau_key:
        return True
    if user.unit_key:
        name = queue.categories.unit_name(user.unit_key)
        return name is not None and name in (referral.get("units") or [])
    return False


def unit_leads(queue: LeadQueue, user: User) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for status in UNIT_VISIBLE:
        found.extend(
            d for d in queue.list(status=status, limit=None) if unit_may_see(queue, user, d)
        )
    return found


def highlight(
    text: str, terms: Iterable[str], context: int = CONTEXT_CHARS
) -> list[list[tuple[str, bool]]]:
    """Snippets of ``text`` around each matched term, as (segment, is_match) pairs.

    The template escapes every segment and wraps matches in <mark>; nothing here is HTML.
    """
    hits: list[tuple[int, int]] = []
    for term in {t for t in terms if t}:
        start = text.find(term)
        while start != -1:
            hits.append((start, start + len(term)))
            start = text.find(term, start + len(term))
    if not hits:
        return []
    hits.sort()
    merged: list[tuple[int, int]] = []
    for start, end in hits:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    snippets: list[list[tuple[str, bool]]] = []
    window: list[tuple[int, int]] = []
    for hit in merged:
        if window and hit[0] - window[-1][1] > 2 * context:
            snippets.append(_snippet(text, window, context))
            window = []
        window.append(hit)
    snippets.append(_snippet(text, window, context))
    return snippets


def _snippet(text: str, hits: list[tuple[int, int]], context: int) -> list[tuple[str, bool]]:
    lo, hi = max(0, hits[0][0] - context), min(len(text), hits[-1][1] + context)
    parts: list[tuple[str, bool]] = [("…", False)] if lo > 0 else []
    pos = lo
    for start, end in hits:
        if start > pos:
            parts.append((text[pos:start], False))
        parts.append((text[start:end], True))
        pos = end
    if hi > pos:
        parts.append((text[pos:hi], False))
    if hi < len(text):
        parts.append(("…", False))
    return parts


def local_time(value: Any) -> str:
    when = _aware(value)
    return when.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if when else ""


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=SHANGHAI)


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
