"""What the referral form, the extraction record and the ledger share: the Chinese wording
of a lead's fields, dates in Asia/Shanghai, and the Word helpers (fonts, tables, signatures).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt
from docx.table import Table

from tiequan.evidence.capture import parse_utc
from tiequan.evidence.manifest import KIND_LABELS
from tiequan.leads.format import FOLLOWUP_STATES, SOURCE_NAMES, category_label
from tiequan.leads.lifecycle import STATUS_POLICE
from tiequan.leads.model import Case, CaseListing, Followup, JurisdictionDoc, PartyDoc, filled
from tiequan.text import NONE_MARK, clean
from tiequan.timefmt import as_utc, local_naive, local_time, shanghai

BODY_FONT = "仿宋"  # official documents are set in FangSong; Latin falls back to Times
TITLE_FONT = "宋体"
HASH_FONT = "Consolas"
UNRESOLVED = "未能确定管辖"
POLICE = "移送公安机关"


# -- the wording of a lead's fields ------------------------------------------------------


def capture_time(evidence: dict[str, Any]) -> datetime:
    """An evidence set's capture time for sorting (sets without one sort first)."""
    return parse_utc(evidence.get("captured_at")) or datetime.min.replace(tzinfo=UTC)


def doc_number(lead_id: str, now: datetime) -> str:
    """The form's number in the style of an official 文号."""
    return f"铁拳线索〔{as_utc(now).astimezone(shanghai()).year}〕{lead_id}号"


def source_name(case: Case) -> str:
    source = case.source or "crawler"
    name = SOURCE_NAMES.get(source, clean(source))
    ref = clean(case.source_ref)
    return f"{name}（{ref}）" if ref else name


def party_name(case: Case) -> str:
    party = case.party or PartyDoc()
    return clean(party.name) or clean(party.label) or "未识别主体"


def credit_code_valid(party: PartyDoc) -> bool | None:
    """Whether the shown credit code passed its check digit; None when none was shown."""
    if not party.credit_code:
        return None
    if "credit_code_valid" in party.extra:
        return bool(party.extra["credit_code_valid"])
    check = party.credit_code_check or {}
    return bool(check.get("valid", party.identified))


def credit_code_text(case: Case) -> str:
    party = case.party or PartyDoc()
    valid = credit_code_valid(party)
    if valid is None:
        return "未公示"
    return f"{clean(party.credit_code)}（{'校验通过' if valid else '校验未通过'}）"


def jurisdiction_name(case: Case) -> str:
    jurisdiction = case.jurisdiction or JurisdictionDoc()
    return clean(jurisdiction.label or jurisdiction.bureau_name) or UNRESOLVED


def jurisdiction_text(case: Case) -> str:
    basis = clean((case.jurisdiction or JurisdictionDoc()).basis)
    name = jurisdiction_name(case)
    return f"{name}（依据：{basis}）" if basis and basis != name else name


def receivers(case: Case) -> str:
    """接收单位: the police for 移送公安 leads, else the lead unit and the county bureau."""
    if case.status == STATUS_POLICE:
        return POLICE
    jurisdiction = case.jurisdiction or JurisdictionDoc()
    bureau = clean(jurisdiction.bureau_name) or f"属地待定（{UNRESOLVED}）"
    unit = clean(case.lead_unit)
    return f"{unit}；{bureau}" if unit else bureau


def characterisation(case: Case) -> str:
    explanation = clean(case.explanation)
    name = category_label(case)
    return f"{name}：{explanation}" if explanation else name


def quoted(matched: Iterable[Any] | None) -> str:
    return "、".join(f"“{clean(m)}”" for m in matched or [] if clean(m)) or NONE_MARK


def decision_text(case: Case) -> str:
    decision = case.decision
    if not filled(decision):
        return ""
    text = clean(decision.action)
    reason = clean(decision.reason)
    return f"{text}（理由：{reason}）" if reason else text


def latest_followup(case: Case) -> Followup | None:
    followups = case.followups or ()
    if not followups:
        return None
    return max(followups, key=lambda f: local_naive(f.at) or datetime.min)


def followup_text(case: Case) -> str:
    """下架复查: the latest follow-up's state and date, e.g. "已下架（2026-03-02）"."""
    followup = latest_followup(case)
    if followup is None:
        return ""
    state = FOLLOWUP_STATES.get(followup.state or "", clean(followup.state))
    return f"{state}（{local_time(followup.at, '%Y-%m-%d')}）"


def kind_label(kind: Any) -> str:
    return KIND_LABELS.get(str(kind), clean(kind))


def human_size(size: Any) -> str:
    try:
        n = int(size)
    except (TypeError, ValueError):
        return NONE_MARK
    if n < 1024:
        return f"{n} 字节"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB（{n} 字节）"
    return f"{n / 1024 / 1024:.1f} MB（{n} 字节）"


def sorted_listings(case: Case) -> list[CaseListing]:
    """The case's listings, strongest finding first."""
    entries = case.listings or ()
    return sorted(entries, key=lambda e: (-float(e.score or 0), str(e.item_id)))


# -- Word helpers --------------------------------------------------------------------------


def set_fonts(document: DocxDocument) -> None:
    """Chinese fonts for the body (Word needs the east-Asian font set separately)."""
    style: Any = document.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(12)
    style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), BODY_FONT)


def _east_asian(run: Any, font: str) -> None:
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), font)


def add_title(document: DocxDocument, issuer: str, title: str, number: str | None) -> None:
    for text, size, bold in ((issuer, 16, False), (title, 22, True)):
        p = document.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = p.add_run(text)
        run.bold = bold
        run.font.size = Pt(size)
        _east_asian(run, TITLE_FONT)
    if number:
        p = document.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        p.add_run(number)


def add_heading(document: DocxDocument, text: str) -> None:
    p = document.add_paragraph()
    run = p.add_run(text)
    run.bold = True
    run.font.size = Pt(14)
    _east_asian(run, "黑体")


def add_field_table(document: DocxDocument, rows: Sequence[tuple[str, str]]) -> Table:
    """A two-column table of label and value."""
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for label, value in rows:
        cells = table.add_row().cells
        cells[0].text = label
        cells[0].paragraphs[0].runs[0].bold = True
        cells[1].text = value or NONE_MARK
    return table


def add_grid(
    document: DocxDocument,
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    hash_columns: Sequence[int] = (),
) -> Table:
    """A table with a bold header row; hash columns set small and monospaced."""
    table = document.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    for cell, header in zip(table.rows[0].cells, headers, strict=True):
        cell.text = header
        cell.paragraphs[0].runs[0].bold = True
    for row in rows:
        cells = table.add_row().cells
        for i, (cell, value) in enumerate(zip(cells, row, strict=True)):
            cell.text = value or NONE_MARK
            if i in hash_columns:
                for run in cell.paragraphs[0].runs:
                    run.font.name = HASH_FONT
                    run.font.size = Pt(7)
    return table


def add_signatures(document: DocxDocument, roles: Sequence[str]) -> None:
    document.add_paragraph()
    for role in roles:
        document.add_paragraph(f"{role}（签名）：＿＿＿＿＿＿＿＿　　日期：＿＿＿＿年＿＿月＿＿日")
