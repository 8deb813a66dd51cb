"""线索台账: the lead ledger as an Excel workbook, for any filter and date range.

Sheet 线索台账 has one row per lead; sheet 统计 counts leads per category and per bureau
by status. Crawled text is written as inert text: a value Excel would read as a formula
(starting with = + - @) gets a leading apostrophe.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from pymongo.collection import Collection

from tiequan.documents.common import (
    UNRESOLVED,
    credit_code_text,
    decision_text,
    followup_text,
    jurisdiction_name,
    local_time,
    party_name,
    source_name,
)
from tiequan.leads.format import category_label
from tiequan.leads.lifecycle import FINAL, STATUSES
from tiequan.leads.model import Case, filled
from tiequan.text import clean
from tiequan.timefmt import as_utc, local_naive

SHEET = "线索台账"
STATS_SHEET = "统计"
DATE_FORMAT = "yyyy-mm-dd"
TIME_FORMAT = "yyyy-mm-dd hh:mm"
MAX_CELL = 32000  # Excel holds at most 32,767 characters in a cell
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_HEADER_FILL = PatternFill("solid", fgColor="1F4E78")
_HEADER_FONT = Font(bold=True, color="FFFFFF")
# (header, width in characters, number format for dates and numbers)
COLUMNS: tuple[tuple[str, int, str | None], ...] = (
    ("线索编号", 15, None),
    ("来源", 10, None),
    ("发现日期", 12, DATE_FORMAT),
    ("类别", 24, None),
    ("当事人", 30, None),
    ("统一社会信用代码", 30, None),
    ("属地管辖", 24, None),
    ("牵头单位", 28, None),
    ("状态", 9, None),
    ("办理时限", 17, TIME_FORMAT),
    ("是否超期", 9, None),
    ("商品数", 7, "0"),
    ("证据数", 7, "0"),
    ("处置情况", 30, None),
    ("移送单位", 36, None),
    ("移送时间", 17, TIME_FORMAT),
    ("办结结果", 30, None),
    ("下架复查", 18, None),
    ("分值", 7, "0.00"),
    ("链接", 50, None),
)
HEADERS = tuple(c[0] for c in COLUMNS)


def safe_text(value: Any) -> str:
    """Crawled text as an inert single-line cell: never a formula, no control characters."""
    text = clean(value)[:MAX_CELL]
    return "'" + text if text.startswith(_FORMULA_START) else text


def first_seen(case: Case) -> datetime | None:
    value = case.first_seen_at or case.created_at
    return value if isinstance(value, datetime) else None


@dataclass(frozen=True)
class LedgerFilter:
    """Which leads a ledger holds; dates are calendar days in Asia/Shanghai, inclusive."""

    date_from: date | None = None
    date_to: date | None = None
    status: str | None = None
    category: str | None = None
    unit: str | None = None  # the lead unit's Chinese name
    bureau: str | None = None  # a bureau key, or "none" for leads without jurisdiction
    run_id: str | None = None

    def query(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if self.status:
            query["status"] = self.status
        if self.category:
            query["category"] = self.category
        if self.unit:
            query["lead_unit"] = self.unit
        if self.bureau:
            query["jurisdiction.bureau_key"] = None if self.bureau == "none" else self.bureau
        if self.run_id:
            query["run_ids"] = self.run_id
        return query

    def in_range(self, case: Case) -> bool:
        if self.date_from is None and self.date_to is None:
            return True
        seen = local_naive(first_seen(case))
        if seen is None:
            return False
        day = seen.date()
        return (self.date_from is None or day >= self.date_from) and (
            self.date_to is None or day <= self.date_to
        )

    def describe(self) -> str:
        parts = []
        if self.date_from or self.date_to:
            start = self.date_from.isoformat() if self.date_from else "不限"
            end = self.date_to.isoformat() if self.date_to else "不限"
            parts.append(f"发现日期 {start} 至 {end}")
        for label, value in (
            ("状态", self.status),
            ("类别", self.category),
            ("牵头单位", self.unit),
            ("属地", UNRESOLVED if self.bureau == "none" else self.bureau),
            ("巡查批次", self.run_id),
        ):
            if value:
                parts.append(f"{label} {value}")
        return "；".join(parts) or "全部线索"


def select_leads(coll: Collection[dict[str, Any]], ledger_filter: LedgerFilter) -> list[Case]:
    """The leads a ledger holds, oldest first."""
    cases = [Case.from_doc(d) for d in coll.find(ledger_filter.query())]
    cases = [c for c in cases if ledger_filter.in_range(c)]
    oldest = datetime.min.replace(tzinfo=UTC)
    cases.sort(key=lambda c: (as_utc(first_seen(c) or oldest), str(c.id)))
    return cases


def is_overdue(case: Case, now: datetime) -> bool:
    due = case.due_at
    return isinstance(due, datetime) and case.status not in FINAL and as_utc(due) < now


def _referral(case: Case) -> tuple[str, datetime | None]:
    referral = case.referral
    if not filled(referral):
        return "", None
    units = [clean(u) for u in referral.units or () if clean(u)]
    if referral.bureau:
        units.append(clean(referral.bureau))
    return "、".join(units), local_naive(referral.at)


def ledger_row(case: Case, now: datetime) -> list[Any]:
    """One ledger row: text already made safe, dates as naive Asia/Shanghai datetimes."""
    units, referred_at = _referral(case)
    seen = local_naive(first_seen(case))
    values: list[Any] = [
        clean(case.id),
        source_name(case),
        seen.date() if seen else None,
        category_label(case),
        party_name(case),
        credit_code_text(case),
        jurisdiction_name(case),
        clean(case.lead_unit),
        clean(case.status),
        local_naive(case.due_at),
        "是" if is_overdue(case, now) else "否",
        int(case.listing_count or len(case.listings or ()) or 1),
        int(case.evidence_count or 0),
        decision_text(case),
        units,
        referred_at,
        clean(case.outcome.text if case.outcome is not None else None),
        followup_text(case),
        round(float(case.score or 0.0), 4),
        clean(case.url),
    ]
    return [safe_text(v) if isinstance(v, str) else v for v in values]


def _style_header(sheet: Worksheet, row: int, count: int) -> None:
    for col in range(1, count + 1):
        cell = sheet.cell(row=row, column=col)
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _fill_ledger(sheet: Worksheet, leads: Sequence[Case], now: datetime) -> None:
    sheet.append(list(HEADERS))
    _style_header(sheet, 1, len(HEADERS))
    link_col = HEADERS.index("链接") + 1
    for lead in leads:
        sheet.append(ledger_row(lead, now))
        link = sheet.cell(row=sheet.max_row, column=link_col)
        # Only web addresses become clickable; anything else stays plain text.
        if isinstance(link.value, str) and link.value.startswith(("http://", "https://")):
            link.hyperlink = link.value
            link.style = "Hyperlink"
    for col, (_, width, number_format) in enumerate(COLUMNS, start=1):
        letter = get_column_letter(col)
        sheet.column_dimensions[letter].width = width
        if number_format:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=col, max_col=col):
                cell.number_format = number_format
    sheet.freeze_panes = "B2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(HEADERS))}{max(1, sheet.max_row)}"


def _crosstab(sheet: Worksheet, title: str, label: str, pairs: Iterable[tuple[str, str]]) -> None:
    counts = Counter(pairs)
    totals_by_row = Counter(r for r, _ in counts.elements())
    rows = sorted(totals_by_row, key=lambda r: (-totals_by_row[r], r))
    statuses = [s for s in STATUSES if any(s == c for _, c in counts)]
    statuses += sorted({c for _, c in counts} - set(statuses))
    sheet.append([])
    sheet.append([title])
    sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True, size=12)
    sheet.append([label, *statuses, "合计"])
    _style_header(sheet, sheet.max_row, len(statuses) + 2)
    for row in rows:
        cells = [counts[(row, s)] for s in statuses]
        sheet.append([safe_text(row), *cells, sum(cells)])
    totals = [sum(counts[(r, s)] for r in rows) for s in statuses]
    sheet.append(["合计", *totals, sum(totals)])
    sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True)


def _fill_stats(sheet: Worksheet, leads: Sequence[Case], now: datetime, description: str) -> None:
    sheet.append(["线索台账统计"])
    sheet.cell(row=1, column=1).font = Font(bold=True, size=14)
    sheet.append(["筛选条件", safe_text(description)])
    sheet.append(["导出时间", local_time(now, "%Y-%m-%d %H:%M:%S") + "（北京时间）"])
    sheet.append(["线索总数", len(leads)])
    sheet.append(["超期线索", sum(is_overdue(d, now) for d in leads)])
    statuses = [clean(d.status) for d in leads]
    _crosstab(
        sheet,
        "按类别和状态",
        "类别",
        ((category_label(d), s) for d, s in zip(leads, statuses, strict=True)),
    )
    _crosstab(
        sheet,
        "按属地和状态",
        "属地管辖",
        ((jurisdiction_name(d), s) for d, s in zip(leads, statuses, strict=True)),
    )
    sheet.column_dimensions["A"].width = 34
    for col in range(2, len(STATUSES) + 3):
        sheet.column_dimensions[get_column_letter(col)].width = 10


def build_ledger(
    leads: Sequence[Case], *, now: datetime, description: str = "全部线索"
) -> Workbook:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new workbook always has one sheet
    sheet.title = SHEET
    _fill_ledger(sheet, leads, now)
    _fill_stats(workbook.create_sheet(STATS_SHEET), leads, now, description)
    return workbook


def write_ledger(
    path: Path, leads: Sequence[Case], *, now: datetime, description: str = "全部线索"
) -> Path:
    build_ledger(leads, now=now, description=description).save(str(path))
    return path
