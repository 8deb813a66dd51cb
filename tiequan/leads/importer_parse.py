"""One row of an import file → a listing, its findings and its ``imports`` entry.

A row goes through the crawl's detector (title and text joined, as the detect stage
does); a category the row names but the detector did not flag still gets a finding that
says so, with a low score, for an officer to review.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from detectors import CATEGORY_IDS, Finding
from detectors.base import ListingContext
from tiequan.leads.importer_read import ImportFileError, ImportTable, RawRow
from tiequan.leads.importer_rows import (
    RowError,
    RowValueError,
    field_of,
    mask_reporter,
    parse_categories,
    parse_price,
    parse_time,
    reporter_kind,
    text_of,
)
from tiequan.party import party_from_listing
from tiequan.referral import Categories

T = TypeVar("T")

IMPORT_SOURCES = ("tip", "higher-bureau")
CATEGORY_ONLY_SCORE = 0.2
CATEGORY_ONLY_SEVERITY = "提醒告诫"
CATEGORY_ONLY_ARTICLE = "待人工研判确定"
CATEGORY_ONLY_TEXT = {
    "tip": "举报内容未命中检测规则，按举报所列类别登记，待人工研判",
    "higher-bureau": "交办内容未命中检测规则，按交办所列类别登记，待人工研判",
}
PLATFORM_NAMES = {"tip": "投诉举报", "higher-bureau": "上级交办"}
NOT_A_LEAD = "未命中检测规则，也未注明类别，未登记为线索（补填“类别”后可重新导入）"
EMPTY_ROW = "缺少内容：标题、内容和链接均为空"


class TextDetector(Protocol):
    def detect(
        self, text: str, *, price: float | None = None, context: ListingContext = ...
    ) -> list[Finding]: ...


@dataclass
class ParsedRow:
    number: int
    listing: dict[str, Any]
    findings: list[dict[str, Any]]
    flagged: bool  # the detector flagged it (else registered by its named category)
    party_key: str  # the case's party, as the queue groups it
    entry: dict[str, Any]  # the ``imports`` entry kept on every case the row reaches


def finding_record(finding: Finding, text: str) -> dict[str, Any]:
    """As the crawl's detect stage stores a finding (pipelines.detect.finding_record)."""
    record = finding.to_json()
    record["matched"] = list(finding.matched) or [text[s:e] for s, e in finding.spans]
    record["severity"] = finding.severity
    if finding.signals is not None:  # for active learning (tiequan.leads.learning)
        record["signals"] = finding.signals.to_json()
    return record


def _checked(problems: list[str], parse: Callable[..., T], *args: Any) -> T | None:
    """``parse(*args)``, or note its RowValueError in ``problems`` and return None."""
    try:
        return parse(*args)
    except RowValueError as exc:
        problems.append(str(exc))
        return None


class RowParser:
    """Parses the rows of one table; raises RowError (Chinese) for a row it cannot use."""

    def __init__(
        self,
        table: ImportTable,
        categories: Categories,
        detector: TextDetector,
        *,
        source: str,
        by: str | None,
        min_score: float,
        now: datetime,
    ) -> None:
        self.table = table
        self.categories = categories
        self.detector = detector
        self.source = source
        self.by = by
        self.min_score = min_score
        self.now = now
        self.columns = self._columns(table)

    def _columns(self, table: ImportTable) -> dict[str, tuple[str, str | None]]:
        """header -> ("field", name) | ("reporter", kind) | ("other", None)."""
        columns: dict[str, tuple[str, str | None]] = {}
        for header in table.headers:
            name = field_of(header)
            kind = reporter_kind(header) if name is None else None
            if name is not None:
                columns[header] = ("field", name)
            elif kind is not None:
                columns[header] = ("reporter", kind)
            else:
                columns[header] = ("other", None)
        if table.headers and not any(c[0] == "field" for c in columns.values()):
            raise ImportFileError(
                f"无法读取文件 {table.path}：没有可识别的列名（如“标题”“内容”“链接”“类别”），"
                f"现有列：{'、'.join(table.headers)}"
            )
        return columns

    def parse(self, raw: RawRow) -> ParsedRow:
        table, columns, now = self.table, self.columns, self.now
        if raw.error is not None:
            raise RowError(f"无法读取：{raw.error}")
        fields: dict[str, list[tuple[str, Any]]] = {}
        reporter: list[tuple[str, str]] = []
        kept: list[list[str]] = []  # the original row without the reporter, in column order
        for header, value in raw.values.items():
            role, name = columns.get(header, ("other", None))
            if role == "reporter":
                reporter.append((str(name), text_of(value)))
                continue
            kept.append([header, text_of(value)])
            if role == "field" and text_of(value):
                fields.setdefault(str(name), []).append((header, value))

        def first(name: str) -> str:
            return text_of(fields[name][0][1]) if name in fields else ""

        def cell(name: str) -> tuple[str, Any]:
            return fields[name][0] if name in fields else (name, None)

        title = first("title")
        text = "\n".join(text_of(v) for _h, v in fields.get("text", []))
        url = first("url")
        problems = [] if (title or text or url) else [EMPTY_ROW]
        # Every problem of the row at once, so one correction fixes it.
        price = _checked(problems, parse_price, *cell("price"))
        original_price = _checked(problems, parse_price, *cell("original_price"))
        categories = _checked(problems, parse_categories, *cell("category"), self.categories)
        received = _checked(problems, parse_time, *cell("received_at"))
        if problems:
            raise RowError("；".join(problems))
        ref = first("ref")
        platform = first("platform") or self.source
        item_id = ref or "H" + hashlib.sha256(f"{url}|{title}|{text}".encode()).hexdigest()[:16]
        masked = mask_reporter(reporter)
        source_ref = f"{table.name}#{raw.number}"
        entry = {
            "key": f"{table.sha256}:{raw.number}",
            "file": table.name,
            "file_sha256": table.sha256,
            "sheet": table.sheet,
            "row": raw.number,
            "source": self.source,
            "source_ref": source_ref,
            "ref": ref or None,
            "platform": platform,
            "item_id": item_id,
            "received_at": received,
            "reporter": masked,
            "row_data": kept,  # [header, value] pairs: headers may hold "." or "$"
            "by": self.by,
            "imported_at": now,
        }
        licence = {
            "credit_code": first("credit_code") or None,
            "name": first("party_name") or None,
            "address": first("address") or None,
            "url": None,
        }
        listing: dict[str, Any] = {
            "platform": platform,
            "platform_name": first("platform") or PLATFORM_NAMES[self.source],
            "kind": "product" if (price is not None or first("shop_name")) else "post",
            "url": url,
            "item_id": item_id,
            "title": title or text[:40],
            "text": text,
            "price": price,
            "original_price": original_price,
            "shop_name": first("shop_name") or None,
            "shop_url": first("shop_url") or None,
            "licence": licence if any(licence.values()) else None,
            "captured_at": (received or now).isoformat(),
            "evidence_id": None,
            "extra": {"import_row": kept, "source_ref": source_ref, "reporter": masked},
        }
        findings, flagged = self._findings("\n".join(p for p in (title, text) if p), price,
                                           categories or [])  # fmt: skip
        party_key = party_from_listing(listing).key
        return ParsedRow(raw.number, listing, findings, flagged, party_key, entry)

    def _findings(
        self, text: str, price: float | None, named: Sequence[str]
    ) -> tuple[list[dict[str, Any]], bool]:
        # A category the tip names is the tip's context: claims that need their domain count.
        context = ListingContext(hints=tuple(c for c in named if c in CATEGORY_IDS))
        found_all = self.detector.detect(text, price=price, context=context)
        hits = [f for f in found_all if f.score >= self.min_score]
        records = [finding_record(f, text) for f in hits]
        flagged = bool(records)
        found = {r["category"] for r in records}
        for category in named:
            if category not in found:
                records.append(self._category_only(category))
        return records, flagged

    def _category_only(self, category: str) -> dict[str, Any]:
        return {
            "category": category,
            "score": CATEGORY_ONLY_SCORE,
            "article": CATEGORY_ONLY_ARTICLE,
            "spans": [],
            "explanation": CATEGORY_ONLY_TEXT[self.source],
            "matched": [],
            "severity": CATEGORY_ONLY_SEVERITY,
        }
