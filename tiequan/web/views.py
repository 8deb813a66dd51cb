"""What the pages show: queue filters, sorting and paging, who may see a lead, highlighting.

Leads are read through LeadQueue's public methods only. The queue's filters become one
MongoDB query (``QueueFilter.query``), so filtering, sorting and paging run in the
database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tiequan.leads.lifecycle import ACTIONS, HANDED_OVER, STATUS_CLOSED, STATUSES
from tiequan.leads.queue import LeadQueue
from tiequan.storage.window import Cursor
from tiequan.web.accounts import ROLE_UNIT, User
from tiequan.web.cache import Refreshing

SHANGHAI = ZoneInfo("Asia/Shanghai")
PAGE_SIZE = 50
SORTS = {
    "created": ("created_at", True, "最新发现"),
    "score": ("score", True, "分值最高"),
    "due": ("due_at", False, "最先到期"),
    "status": ("status_at", True, "最近变更"),
    # Active learning (tiequan.leads.learning): offered to analysts (tiequan.web.queueorder).
    "learn": ("informativeness", True, "最有助于模型学习"),
}
CONTEXT_CHARS = 40  # characters of context shown on each side of a matched term
UNIT_VISIBLE = (*HANDED_OVER, STATUS_CLOSED)
RETURNED = ACTIONS["return"].label
# The lead fields a row of templates/_rows.html shows (long lists read only these).
ROW_FIELDS = (
    "category", "category_name", "score", "status", "lead_unit", "jurisdiction.bureau_name",
    "platform", "platform_name", "shop_name", "title", "claimed_by", "created_at", "due_at",
)  # fmt: skip
TODO_SHOWN = 100  # rows of the landing page's 我认领的线索 and 已超期 lists (the rest: elsewhere)
FACET_MAX_AGE = 60.0  # seconds a read of the drop-downs' values is served before another


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
    def from_params(cls, params: Mapping[str, str], default_sort: str = "created") -> QueueFilter:
        """The filter of query parameters; ``default_sort`` when they name no sort."""
        f = cls()
        for name in ("category", "unit", "bureau", "platform", "source", "severity", "claimed_by"):
            setattr(f, name, (params.get(name) or "").strip()[:100])
        status = (params.get("status") or "").strip()
        if status and status not in STATUSES:
            f.errors.append(f"未知状态：{status}")
        else:
            f.status = status
        sort = params.get("sort") or default_sort
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

    def query(self) -> dict[str, Any]:
        """The filter as a MongoDB query on the leads collection (the same as ``matches``)."""
        q: dict[str, Any] = {}
        for name, field_name in (
            ("status", "status"), ("category", "category"), ("source", "source"),
            ("severity", "severity"), ("claimed_by", "claimed_by"),
        ):  # fmt: skip
            if getattr(self, name):
                q[field_name] = getattr(self, name)
        ors = []
        if self.unit:
            ors.append([{"lead_unit_key": self.unit}, {"lead_unit": self.unit}])
        if self.platform:
            ors.append([{"platform": self.platform}, {"platform_name": self.platform}])
        if ors:
            q["$and"] = [{"$or": pair} for pair in ors]
        if self.bureau:
            q["jurisdiction.bureau_key"] = self.bureau
        if self.min_score is not None:
            q["score"] = {"$gte": self.min_score}
        created: dict[str, Any] = {}
        if self.date_from:
            created["$gte"] = _day_start(self.date_from)
        if self.date_to:
            created["$lt"] = _day_start(self.date_to + timedelta(days=1))
        if created:
            q["created_at"] = created
        return q


@dataclass
class Page:
    leads: Sequence[Mapping[str, Any]]
    total: int
    page: int
    pages: int
    sort_field: str = "created_at"

    def cursor(self, lead: Mapping[str, Any]) -> str:
        """``lead``'s place in the sort, for the pager's links (``after``/``before``)."""
        return encode_cursor(lead, self.sort_field)

    @property
    def first_cursor(self) -> str:
        return self.cursor(self.leads[0]) if self.leads else ""

    @property
    def last_cursor(self) -> str:
        return self.cursor(self.leads[-1]) if self.leads else ""


TIME_SORT_FIELDS = frozenset({"created_at", "status_at", "due_at"})


def encode_cursor(lead: Mapping[str, Any], sort_field: str) -> str:
    """ "value|id" of ``lead`` under ``sort_field``; "" when it has no value there."""
    value = lead.get(sort_field)
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC).isoformat()}|{lead['_id']}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{float(value)!r}|{lead['_id']}"
    return ""


def decode_cursor(raw: str, sort_field: str) -> Cursor | None:
    """The row an ``after``/``before`` parameter names, or None when it is not one (a
    hand-edited link pages by number instead)."""
    value, sep, lead_id = raw.rpartition("|")
    if not sep or not value or not lead_id or len(raw) > 200:
        return None
    try:
        if sort_field in TIME_SORT_FIELDS:
            when = datetime.fromisoformat(value)
            return Cursor(when if when.tzinfo else when.replace(tzinfo=UTC), lead_id)
        return Cursor(float(value), lead_id)
    except ValueError:
        return None


def search_page(
    queue: LeadQueue,
    f: QueueFilter,
    page_size: int = PAGE_SIZE,
    *,
    after: str = "",
    before: str = "",
) -> Page:
    """One page of the filtered queue, filtered, sorted and paged by the database: from
    the row a pager link names (``after``/``before``) when it names one, else by number."""
    key, descending, _ = SORTS[f.sort]
    sort = [(key, -1 if descending else 1)]
    cursors = {"after": decode_cursor(after, key), "before": decode_cursor(before, key)}
    leads, total = queue.search(
        f.query(), sort, skip=(f.page - 1) * page_size, limit=page_size, **cursors
    )
    pages = max(1, -(-total // page_size))
    number = min(f.page, pages)
    if f.page > pages or (total and not leads):  # past the end (a stale link): the last page
        leads, total = queue.search(f.query(), sort, skip=(pages - 1) * page_size, limit=page_size)
        number = pages
    return Page(leads, total, number, pages, key)


FACET_FIELDS = {
    "category": ("category", "category_name"),
    "unit": ("lead_unit_key", "lead_unit"),
    "bureau": ("jurisdiction.bureau_key", "jurisdiction.bureau_name"),
    "platform": ("platform", "platform_name"),
    "source": ("source", "source"),
    "severity": ("severity", "severity"),
}


def queue_facets(
    queue: LeadQueue, cache: FacetCache | None = None
) -> dict[str, list[tuple[str, str]]]:
    """The values the filter drop-downs offer, from the leads there are (one read, or
    ``cache``'s copy of it)."""
    if cache is not None:
        return cache.get(queue)
    return queue.facets(FACET_FIELDS)


class FacetCache:
    """The drop-downs' values, read at most every ``max_age`` seconds (tiequan.web.cache).

    The read visits every lead; the drop-downs change only when a new category, unit,
    bureau, platform, source or severity first appears.
    """

    def __init__(self, max_age: float = FACET_MAX_AGE) -> None:
        self.cache: Refreshing[dict[str, list[tuple[str, str]]]] = Refreshing(max_age, size=1)

    def get(self, queue: LeadQueue) -> dict[str, list[tuple[str, str]]]:
        return self.cache.get("facets", lambda: queue.facets(FACET_FIELDS))

    def refresh(self, queue: LeadQueue) -> dict[str, list[tuple[str, str]]]:
        return self.cache.refresh("facets", lambda: queue.facets(FACET_FIELDS))


def todo(queue: LeadQueue, user: User, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """The landing page's lists: my claimed leads, due today, overdue, sent back by a unit."""
    end_of_day = _day_start(now.astimezone(SHANGHAI).date() + timedelta(days=1))
    return {
        # One more than is shown: the page says when there are more (they are in the queue).
        "mine": queue.open_claimed(user.username, ROW_FIELDS, limit=TODO_SHOWN + 1),
        "due_today": queue.due_between(now, end_of_day, ROW_FIELDS),
        "overdue": queue.overdue(now=now, limit=TODO_SHOWN + 1, fields=ROW_FIELDS),
        # Sent back by the receiving unit (退回移送) and not yet referred again or dismissed.
        "returned": queue.with_decision(RETURNED, (*ROW_FIELDS, "decision")),
    }


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
