"""Leads beside the crawler: complaints and tips (投诉举报), leads sent down (上级交办).

Each row of a CSV, XLSX or JSON file becomes a listing with its party, goes through the
crawl's detector and into the same cases (``LeadQueue.record``) with its source and
"<file>#<row>" as source reference. A row whose text the detector does not flag but that
names a category is registered in that category for review. Rows that cannot be read are
reported by row number and returned for the ``.rejected.csv``; all others are imported.

A cell longer than ``max_cell_chars`` (default 32,767, the most an Excel cell holds) is
cut with a visible marker before anything reads it by ``keep_original``, which the caller
hands in (the CLI keeps the full text in the evidence artefact store: the queue fixes no
evidence itself); the row's ``imports`` entry records where (``originals``). Without one
such a row is rejected. Either way no case document outgrows MongoDB's 16 MB.

The run id comes from the file's SHA-256, and every case a row reached keeps an
``imports`` entry (the whole original row, the reporter only masked), so importing the
same file again adds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo import UpdateOne

from tiequan.leads.importer_parse import (
    CATEGORY_ONLY_TEXT,
    IMPORT_SOURCES,
    NOT_A_LEAD,
    ParsedRow,
    RowParser,
    TextDetector,
)
from tiequan.leads.importer_read import ImportTable, RawRow
from tiequan.leads.importer_report import CategoryCount, CutCell, ImportReport, Rejected
from tiequan.leads.importer_rows import RowError, text_of
from tiequan.leads.queue import LeadQueue
from tiequan.storage.store import utcnow

__all__ = ["CATEGORY_ONLY_TEXT", "IMPORT_SOURCES", "NOT_A_LEAD", "Importer", "run_id_for"]

log = logging.getLogger(__name__)

CHUNK_ROWS = 200  # rows per queue.record call
# Excel's own cell limit: whatever an officer's spreadsheet holds is imported untouched.
IMPORT_CELL_CHARS = 32_767


def run_id_for(sha256: str) -> str:
    return f"IMP-{sha256[:12].upper()}"


# (text, limit, field, source) -> (the cut text with its marker, where the original is kept:
# {"field", "sha256", "chars", "bytes"}); see tiequan.evidence.originals.cut_text.
KeepOriginal = Callable[[str, int, str, str], tuple[str, dict[str, Any]]]


class Importer:
    """Imports one table into the queue; ``detector`` is loaded once by the caller."""

    def __init__(
        self,
        queue: LeadQueue,
        detector: TextDetector,
        *,
        source: str,
        by: str | None = None,
        min_score: float = 0.5,
        keep_original: KeepOriginal | None = None,
        max_cell_chars: int = IMPORT_CELL_CHARS,
    ) -> None:
        if source not in IMPORT_SOURCES:
            raise ValueError(f"unknown import source {source!r}; expected one of {IMPORT_SOURCES}")
        self.queue = queue
        self.detector = detector
        self.source = source
        self.by = by
        self.min_score = min_score
        self.keep_original = keep_original
        self.max_cell_chars = max_cell_chars

    def run(
        self,
        table: ImportTable,
        *,
        now: datetime | None = None,
        on_row: Callable[[], None] | None = None,
    ) -> ImportReport:
        """Import ``table``; ``on_row`` is called after each row is read and checked."""
        now = now or utcnow()
        parser = RowParser(table, self.queue.categories, self.detector, source=self.source,
                           by=self.by, min_score=self.min_score, now=now)  # fmt: skip
        report = ImportReport(
            table.name, table.sha256, run_id_for(table.sha256), self.source, table.unit,
            list(table.headers), rows_read=len(table.rows),
        )  # fmt: skip
        self.queue.ensure_indexes()
        done = self._already_imported(table.sha256)
        parsed: list[ParsedRow] = []
        for raw in table.rows:
            if on_row is not None:
                on_row()
            if raw.number in done:
                report.already_imported.append(raw.number)
                continue
            values = dict(raw.values)  # the rejected-rows file keeps the full cells
            try:
                cut = self._cut_cells(raw, table, report)
                row = parser.parse(raw)
            except RowError as exc:
                report.rejected.append(Rejected(raw.number, str(exc), values))
                continue
            if cut:
                row.entry["originals"] = cut
            if not row.findings:
                report.rejected.append(Rejected(raw.number, NOT_A_LEAD, raw.values))
                continue
            parsed.append(row)
        touched: list[tuple[str, bool]] = []
        for at in range(0, len(parsed), CHUNK_ROWS):
            touched.extend(self._record(parsed[at : at + CHUNK_ROWS], report))
        self._count(report, touched)
        log.info("imported %s: %d row(s), %d new lead(s)", table.name, report.imported_rows,
                 len(report.new_ids))  # fmt: skip
        return report

    # -- reading rows ----------------------------------------------------------------

    def _cut_cells(
        self, raw: RawRow, table: ImportTable, report: ImportReport
    ) -> list[dict[str, Any]]:
        """Cut the row's oversized cells in place; where their originals are kept."""
        if raw.error is not None:
            return []
        long = {h: text_of(v) for h, v in raw.values.items()}
        long = {h: t for h, t in long.items() if len(t) > self.max_cell_chars}
        if long and self.keep_original is None:
            raise RowError("；".join(
                f"“{h}”列的内容超长（{len(t)} 字，上限 {self.max_cell_chars} 字）"
                for h, t in long.items()
            ))  # fmt: skip
        kept: list[dict[str, Any]] = []
        for header, text in long.items():
            assert self.keep_original is not None
            source = f"{table.name}#{raw.number}"
            raw.values[header], original = self.keep_original(
                text, self.max_cell_chars, header, source
            )
            kept.append(original)
            report.cut_cells.append(CutCell(raw.number, header, int(original["chars"]),
                                            original.get("sha256")))  # fmt: skip
        return kept

    def _already_imported(self, sha256: str) -> set[int]:
        rows: set[int] = set()
        query = {"imports.file_sha256": sha256}
        for doc in self.queue.coll.find(query, {"imports": 1}):
            rows.update(
                int(e["row"]) for e in doc.get("imports") or [] if e.get("file_sha256") == sha256
            )
        return rows

    # -- recording -------------------------------------------------------------------

    def _record(self, rows: list[ParsedRow], report: ImportReport) -> list[tuple[str, bool]]:
        """Record a chunk of rows with one ``record`` call; (case id, created) per row and case.

        One call per chunk rather than per row: each write costs a commit on the embedded
        server. The case a row reached is found by its party key and category, as the queue
        groups them; a new case gets the first of its rows as its ``source_ref``.
        """
        pairs = [(row.listing, f) for row in rows for f in row.findings]
        result = self.queue.record(pairs, report.run_id, source=self.source)
        keys = {(row.party_key, f["category"]) for row in rows for f in row.findings}
        query = {"party_key": {"$in": sorted({k[0] for k in keys})}}
        cases = {
            (d["party_key"], d["category"]): d["_id"]
            for d in self.queue.coll.find(query, {"party_key": 1, "category": 1})
        }
        new = set(result.new_ids)
        touched: list[tuple[str, bool]] = []
        entries: dict[str, list[dict[str, Any]]] = {}
        first_row: dict[str, str] = {}
        for row in rows:
            for case_id in dict.fromkeys(
                cases[(row.party_key, f["category"])] for f in row.findings
            ):
                is_new = case_id in new and case_id not in first_row
                if is_new:
                    first_row[case_id] = row.entry["source_ref"]
                touched.append((case_id, is_new))
                entries.setdefault(case_id, []).append(row.entry)
            report.imported_rows += 1
            if row.flagged:
                report.flagged_rows += 1
            else:
                report.category_only_rows += 1
        # The imports entries mark the rows as imported (the re-import check).
        ops = []
        for case_id, mine in entries.items():
            update: dict[str, Any] = {"$push": {"imports": {"$each": mine}}}
            if case_id in first_row:
                update["$set"] = {"source_ref": first_row[case_id]}
            keys_in = [e["key"] for e in mine]
            ops.append(UpdateOne({"_id": case_id, "imports.key": {"$nin": keys_in}}, update))
        if ops:
            self.queue.coll.bulk_write(ops, ordered=False)
        return touched

    def _count(self, report: ImportReport, touched: list[tuple[str, bool]]) -> None:
        ids = sorted({case_id for case_id, _new in touched})
        docs = {
            d["_id"]: d
            for d in self.queue.coll.find(
                {"_id": {"$in": ids}}, {"category": 1, "category_name": 1, "lead_unit": 1}
            )
        }
        created: set[str] = set()
        for case_id, is_new in touched:
            doc = docs.get(case_id, {})
            category = str(doc.get("category"))
            count = report.per_category.setdefault(
                category,
                CategoryCount(str(doc.get("category_name")), str(doc.get("lead_unit"))),
            )
            if is_new:
                count.new += 1
                report.new_ids.append(case_id)
                created.add(case_id)
            else:
                count.added += 1
        report.existing_ids = sorted({c for c, _n in touched} - created)
