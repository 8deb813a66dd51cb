"""Figures for the dashboard and the monitoring report, over a period of Asia/Shanghai days.

The counting is done by the database (tiequan.leads.stats_queries); this module fills the
days without leads and puts the rows into typed results.

A *decision* is a lead audit record of an action that settles a lead: one leading to a
confirmed-like status (``CONFIRMED_STATUSES``: 已确认、已移送、提醒告诫、移送公安、已办结)
or to 已排除. The precision of a category is the share of its leads decided in the period
whose latest decision there is confirmed-like; each lead counts once, so confirming and
then referring a lead is not two confirmations. Reviewers' throughput counts every
decision record but 办结 (the unit's report), per reviewer and day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pymongo.database import Database

from tiequan.leads.lifecycle import ACTIONS
from tiequan.leads.stats_queries import (
    CONFIRMED_STATUSES,
    CONFIRMING_ACTIONS,
    DECISION_ACTIONS,
    DISMISSED_STATUSES,
    NO_SEVERITY,
    REVIEW_ACTIONS,
    UNKNOWN_PARTY,
    UNRESOLVED,
    Rows,
    decision_rows,
    lead_rows,
    overdue_rows,
    run_rows,
)
from tiequan.timefmt import as_utc, shanghai

__all__ = [
    "CONFIRMED_STATUSES",
    "CONFIRMING_ACTIONS",
    "DECISION_ACTIONS",
    "DISMISSED_STATUSES",
    "REVIEW_ACTIONS",
    "CategoryDecisions",
    "Count",
    "Dashboard",
    "OverdueLead",
    "Period",
    "PeriodError",
    "RunHealth",
    "Series",
    "SweepTotals",
    "dashboard",
]

DEFAULT_DAYS = 30
MAX_DAYS = 3660
TOP = 10


class PeriodError(ValueError):
    """A period that cannot be counted; the message (Chinese) names the bad value."""


@dataclass(frozen=True)
class Period:
    """From ``start`` to ``end``, both included, in Asia/Shanghai days."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise PeriodError(f"起始日期 {self.start} 晚于截止日期 {self.end}")
        if (self.end - self.start).days >= MAX_DAYS:
            raise PeriodError(f"统计期间最长 {MAX_DAYS} 天：{self.start} 至 {self.end}")

    @classmethod
    def last_days(cls, today: date, days: int = DEFAULT_DAYS) -> Period:
        return cls(today - timedelta(days=days - 1), today)

    @classmethod
    def parse(
        cls,
        start: str | None,
        end: str | None,
        today: date,
        names: tuple[str, str] = ("--from", "--to"),
    ) -> Period:
        """From YYYY-MM-DD strings, either may be empty: the end defaults to ``today``, the
        start to ``DEFAULT_DAYS`` days before the end. Errors name the option and value."""
        days = [parse_day(value, name) for value, name in zip((start, end), names, strict=True)]
        last = days[1] or today
        return cls(days[0] or last - timedelta(days=DEFAULT_DAYS - 1), last)

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=shanghai())

    @property
    def until(self) -> datetime:
        """The first moment after the period."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=shanghai())

    def days(self) -> list[str]:
        count = (self.end - self.start).days + 1
        return [(self.start + timedelta(days=i)).isoformat() for i in range(count)]

    def label(self) -> str:
        return f"{self.start.isoformat()} 至 {self.end.isoformat()}"


def parse_day(value: str | None, name: str) -> date | None:
    """A YYYY-MM-DD day, None for an empty value; PeriodError names ``name`` and the value."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise PeriodError(f"日期格式有误：{name} {shown}（应为 YYYY-MM-DD）") from None


def today_in_shanghai(now: datetime) -> date:
    return as_utc(now).astimezone(shanghai()).date()


@dataclass(frozen=True)
class Count:
    key: str
    label: str
    count: int


@dataclass(frozen=True)
class Series:
    """Counts per day of the period (aligned with ``Period.days()``)."""

    key: str
    label: str
    total: int
    per_day: tuple[int, ...]


@dataclass(frozen=True)
class CategoryDecisions:
    category: str
    label: str
    decided: int  # leads with a decision in the period
    confirmed: int  # of which the latest decision is confirmed-like
    dismissed: int

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.decided if self.decided else None


@dataclass(frozen=True)
class OverdueLead:
    lead_id: str
    category: str
    party: str
    status: str
    due_at: datetime | None


@dataclass(frozen=True)
class RunHealth:
    run_id: str
    started_at: datetime | None
    pages: int
    items: int
    findings: int
    leads_new: int
    errors: int
    duration_s: float


@dataclass(frozen=True)
class SweepTotals:
    runs: int = 0
    pages: int = 0
    items: int = 0
    findings: int = 0
    leads_new: int = 0
    errors: int = 0


@dataclass(frozen=True)
class Dashboard:
    period: Period
    generated_at: datetime
    days: tuple[str, ...]
    leads: int
    by_day: tuple[int, ...]
    by_category: tuple[Count, ...]
    category_days: tuple[Series, ...]
    by_unit: tuple[Count, ...]
    by_bureau: tuple[Count, ...]
    by_severity: tuple[Count, ...]
    top_parties: tuple[Count, ...]
    decisions: tuple[CategoryDecisions, ...]
    actions: tuple[Count, ...]  # decision records per action, every action listed
    overdue: int
    overdue_leads: tuple[OverdueLead, ...]
    reviewers: tuple[Series, ...]
    sweeps: SweepTotals
    runs: tuple[RunHealth, ...]  # newest first

    @property
    def decided(self) -> int:
        return sum(d.decided for d in self.decisions)

    @property
    def confirmed(self) -> int:
        return sum(d.confirmed for d in self.decisions)

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.decided if self.decided else None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values: dates and times as ISO strings, precisions included."""
        doc = _jsonable(asdict(self))
        doc["precision"] = self.precision
        for row, decision in zip(doc["decisions"], self.decisions, strict=True):
            row["precision"] = decision.precision
        return dict(doc)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return as_utc(value).astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _counts(rows: Rows, fallback: str = "", limit: int | None = None) -> tuple[Count, ...]:
    found = [
        Count(
            "" if r["_id"] is None else str(r["_id"]),
            str(r.get("label") or r["_id"] or fallback),
            int(r["n"]),
        )
        for r in rows
    ]
    found.sort(key=lambda c: (-c.count, c.key))
    return tuple(found[:limit] if limit else found)


def _series(rows: Rows, days: list[str], labels: dict[str, str]) -> tuple[Series, ...]:
    index = {d: i for i, d in enumerate(days)}
    per: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    for row in rows:
        key, day = str(row["_id"]["key"]), row["_id"]["day"]
        if day in index:
            per[key][index[day]] += int(row["n"])
    found = [Series(k, labels.get(k, k), sum(v), tuple(v)) for k, v in per.items()]
    found.sort(key=lambda s: (-s.total, s.key))
    return tuple(found)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _started(run: dict[str, Any]) -> datetime | None:
    """When a run started: its ISO ``started_at`` as the sweep writes it, else ``created_at``."""
    raw = run.get("started_at")
    if isinstance(raw, str):
        try:
            return as_utc(datetime.fromisoformat(raw))
        except ValueError:
            pass
    for value in (raw, run.get("created_at")):
        if isinstance(value, datetime):
            return as_utc(value)
    return None


def run_health(run: dict[str, Any]) -> RunHealth:
    """One run record's figures; missing or malformed ones count as 0."""
    totals = run.get("totals")
    totals = totals if isinstance(totals, dict) else {}
    elapsed = run.get("elapsed_s")
    return RunHealth(
        run_id=str(run.get("run_id") or run.get("_id")),
        started_at=_started(run),
        pages=_int(totals.get("pages")),
        items=_int(totals.get("items")),
        findings=_int(totals.get("findings")),
        leads_new=_int(totals.get("leads_new")),
        errors=_int(totals.get("errors")),
        duration_s=float(elapsed) if isinstance(elapsed, int | float) else 0.0,
    )


def _overdue(doc: dict[str, Any]) -> OverdueLead:
    stored = doc.get("party")
    party: dict[str, Any] = stored if isinstance(stored, dict) else {}
    name = party.get("name") or party.get("label") or doc.get("shop_name") or UNKNOWN_PARTY
    due = doc.get("due_at")
    return OverdueLead(
        lead_id=str(doc["_id"]),
        category=str(doc.get("category_name") or doc.get("category") or ""),
        party=str(name),
        status=str(doc.get("status") or ""),
        due_at=as_utc(due) if isinstance(due, datetime) else None,
    )


def _decisions(rows: Rows) -> tuple[CategoryDecisions, ...]:
    found = [
        CategoryDecisions(
            category=str(r["_id"]),
            label=str(r.get("label") or r["_id"]),
            decided=int(r["decided"]),
            confirmed=int(r["confirmed"]),
            dismissed=int(r["decided"]) - int(r["confirmed"]),
        )
        for r in rows
    ]
    found.sort(key=lambda d: (-d.decided, d.category))
    return tuple(found)


def dashboard(db: Database[dict[str, Any]], period: Period, now: datetime) -> Dashboard:
    """Every figure of the dashboard for ``period``; the overdue leads as of ``now``."""
    days = period.days()
    leads = lead_rows(db, period.since, period.until)
    decisions = decision_rows(db, period.since, period.until)
    runs = run_rows(db, period.since, period.until)
    by_category = _counts(leads.get("category", []))
    category_days = _series(leads.get("days", []), days, {c.key: c.label for c in by_category})
    done = {str(r["_id"]): int(r["n"]) for r in decisions.get("actions", [])}
    overdue, late = overdue_rows(db, now)
    totals: dict[str, Any] = (runs.get("totals") or [{}])[0]
    return Dashboard(
        period=period,
        generated_at=now,
        days=tuple(days),
        leads=sum(c.count for c in by_category),
        by_day=tuple(sum(s.per_day[i] for s in category_days) for i in range(len(days))),
        by_category=by_category,
        category_days=category_days,
        by_unit=_counts(leads.get("unit", [])),
        by_bureau=_counts(leads.get("bureau", []), UNRESOLVED),
        by_severity=_counts(leads.get("severity", []), NO_SEVERITY),
        top_parties=_counts(leads.get("party", []), UNKNOWN_PARTY, TOP),
        decisions=_decisions(decisions.get("precision", [])),
        actions=tuple(Count(a, ACTIONS[a].label, done.get(a, 0)) for a in DECISION_ACTIONS),
        overdue=overdue,
        overdue_leads=tuple(_overdue(d) for d in late),
        reviewers=_series(decisions.get("reviewers", []), days, {}),
        sweeps=SweepTotals(**{f.name: _int(totals.get(f.name)) for f in fields(SweepTotals)}),
        runs=tuple(run_health(r) for r in runs.get("latest", [])),
    )
