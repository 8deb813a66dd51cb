"""What an import did: counts, the Chinese summary, and the rejected rows file."""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tiequan.leads.format import SOURCE_NAMES
from tiequan.leads.importer_rows import text_of

REASON_COLUMN = "原因"
ROW_COLUMN = "原行号"


@dataclass
class Rejected:
    number: int
    reason: str  # Chinese, names the column and value when one is at fault
    values: dict[str, Any]


@dataclass
class CutCell:
    """A cell cut to the import's limit; its full text is the artefact ``sha256``."""

    number: int
    column: str
    chars: int
    sha256: str | None  # None: the original could not be written


@dataclass
class CategoryCount:
    name: str
    lead_unit: str
    new: int = 0  # cases this import created
    added: int = 0  # rows added to cases that already existed


@dataclass
class ImportReport:
    file: str
    sha256: str
    run_id: str
    source: str
    unit: str  # "行" or "条"
    headers: list[str]
    rows_read: int = 0
    imported_rows: int = 0
    flagged_rows: int = 0  # rows the detector flagged
    category_only_rows: int = 0  # rows registered only by the category they name
    already_imported: list[int] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    new_ids: list[str] = field(default_factory=list)
    existing_ids: list[str] = field(default_factory=list)  # cases that existed before
    per_category: dict[str, CategoryCount] = field(default_factory=dict)
    cut_cells: list[CutCell] = field(default_factory=list)
    rejected_path: Path | None = None

    @property
    def added(self) -> int:
        return sum(c.added for c in self.per_category.values())

    def where(self, number: int) -> str:
        return f"第 {number} {self.unit}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sha256": self.sha256,
            "run_id": self.run_id,
            "source": self.source,
            "rows_read": self.rows_read,
            "imported_rows": self.imported_rows,
            "flagged_rows": self.flagged_rows,
            "category_only_rows": self.category_only_rows,
            "already_imported": self.already_imported,
            "new_leads": self.new_ids,
            "existing_leads": self.existing_ids,
            "added_to_existing": self.added,
            "per_category": {
                k: {"name": c.name, "lead_unit": c.lead_unit, "new": c.new, "added": c.added}
                for k, c in self.per_category.items()
            },
            "rejected": [{"row": r.number, "reason": r.reason} for r in self.rejected],
            "cut_cells": [
                {"row": c.number, "column": c.column, "chars": c.chars, "sha256": c.sha256}
                for c in self.cut_cells
            ],
            "rejected_file": str(self.rejected_path) if self.rejected_path else None,
        }


def render_summary(report: ImportReport) -> str:
    """The officer's summary of one import, in Chinese."""
    source = SOURCE_NAMES.get(report.source, report.source)
    lines = [
        f"导入文件：{report.file}（来源：{source}，批次 {report.run_id}）",
        f"读取 {report.rows_read} {report.unit}：登记 {report.imported_rows} {report.unit}"
        f"（检测命中 {report.flagged_rows}，按所列类别登记 {report.category_only_rows}），"
        f"此前已导入 {len(report.already_imported)} {report.unit}，"
        f"未导入 {len(report.rejected)} {report.unit}。",
        f"新建线索 {len(report.new_ids)} 条；并入已有线索 {report.added} 次"
        f"（涉及已有线索 {len(report.existing_ids)} 条）。",
    ]
    if report.per_category:
        lines.append("按类别和牵头单位：")
        for cid, c in report.per_category.items():
            lines.append(f"  {c.name}（{cid}）→ {c.lead_unit}：新建 {c.new}，并入 {c.added}")
    if report.new_ids:
        shown = "、".join(report.new_ids[:20])
        more = f" 等 {len(report.new_ids)} 条" if len(report.new_ids) > 20 else ""
        lines.append(f"新建线索编号：{shown}{more}")
    if report.cut_cells:
        lines.append(f"以下 {len(report.cut_cells)} 个单元格超长，已截断登记：")
        for cell in report.cut_cells:
            kept = f"原文已另存为证据附件 sha256:{cell.sha256}" if cell.sha256 else "原文未能保存"
            lines.append(
                f"  {report.where(cell.number)}“{cell.column}”：原文 {cell.chars} 字，{kept}"
            )
    if report.rejected:
        lines.append(f"以下 {len(report.rejected)} {report.unit}未导入：")
        lines.extend(f"  {report.where(r.number)}：{r.reason}" for r in report.rejected)
        if report.rejected_path is not None:
            lines.append(f"未导入的行已另存为 {report.rejected_path}（补正后可重新导入）")
    return "\n".join(lines)


def rejected_path_for(path: Path) -> Path:
    return path.with_name(f"{path.stem}.rejected.csv")


def write_rejected(report: ImportReport, path: Path) -> Path | None:
    """Write the rejected rows next to the input with a 原因 column; None when none."""
    if not report.rejected:
        return None
    out = rejected_path_for(path)
    headers = [h for h in report.headers if h not in (ROW_COLUMN, REASON_COLUMN)]
    for r in report.rejected:
        headers.extend(k for k in r.values if k not in headers)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        # UTF-8 with BOM, so Excel on Chinese Windows opens it without garbling.
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([*headers, ROW_COLUMN, REASON_COLUMN])
            for r in report.rejected:
                cells = [text_of(r.values.get(h)) for h in headers]
                writer.writerow([*cells, r.number, r.reason])
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    report.rejected_path = out
    return out
