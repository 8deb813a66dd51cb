"""Writing the documents of stored leads: forms per lead, the ledger for a filter.

Used by `tiequan leads export` and at the end of `tiequan demo`. Every file is written
to a temporary name and renamed, so a reader never opens half a document.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pymongo.database import Database

from tiequan.documents import extraction, referral
from tiequan.documents.lead_listings import lead_listings, to_line
from tiequan.documents.ledger import LedgerFilter, select_leads, write_ledger
from tiequan.documents.referral import Letterhead
from tiequan.evidence.artefacts import EvidenceFiles
from tiequan.evidence.manifest import evidence_sets
from tiequan.leads.model import Case
from tiequan.leads.queue import LeadNotFound, normalise_lead_id
from tiequan.party import load_jurisdictions
from tiequan.referral import Categories, load_categories
from tiequan.storage.store import LEADS, utcnow

log = logging.getLogger(__name__)

SENDER_UNIT_KEY = "network_ad"  # the unit that runs the sweeps and refers what they find
FormWriter = Callable[..., Path]
FORMS: dict[str, tuple[str, FormWriter]] = {
    "referral": (referral.FILE_SUFFIX, referral.write_referral),
    "extraction": (extraction.FILE_SUFFIX, extraction.write_extraction),
}
_UNSAFE = re.compile(r"[^0-9A-Za-z_-]")


def default_letterhead(categories: Categories | None = None) -> Letterhead:
    """The league bureau (config/jurisdictions.yaml) and the network-supervision unit."""
    categories = categories or load_categories()
    unit = categories.unit_name(SENDER_UNIT_KEY) or "网络交易监督管理股"
    return Letterhead(issuer=load_jurisdictions().league.name, sender_unit=unit)


def parse_forms(text: str) -> list[str]:
    """ "referral,extraction" → ["referral", "extraction"]; unknown names raise ValueError."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in FORMS]
    if unknown or not names:
        raise ValueError(
            f"未知文书类型：{'、'.join(unknown) or '（空）'}（可选：{'、'.join(FORMS)}）"
        )
    return list(dict.fromkeys(names))


def form_path(out_dir: Path, lead_id: str, form: str) -> Path:
    return out_dir / f"{_UNSAFE.sub('_', lead_id)}-{FORMS[form][0]}"


def _atomic(path: Path, write: Callable[[Path], Any]) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@dataclass
class FormsResult:
    files: list[Path] = field(default_factory=list)
    lead_ids: list[str] = field(default_factory=list)


def export_forms(
    db: Database[dict[str, Any]],
    lead_ids: Sequence[str],
    out_dir: Path,
    *,
    store: EvidenceFiles,
    forms: Sequence[str] = tuple(FORMS),
    letterhead: Letterhead | None = None,
    now: datetime | None = None,
) -> FormsResult:
    """Write the chosen forms of each lead into ``out_dir``; unknown ids raise LeadNotFound
    before any file is written."""
    cases = []
    for raw_id in dict.fromkeys(normalise_lead_id(i) for i in lead_ids):
        doc = db[LEADS].find_one({"_id": raw_id})
        if doc is None:
            raise LeadNotFound(raw_id)
        cases.append(Case.from_doc(doc))
    letterhead = letterhead or default_letterhead()
    now = now or utcnow()
    out_dir.mkdir(parents=True, exist_ok=True)
    result = FormsResult()

    def write(form: str, case: Case, sets: list[dict[str, Any]]) -> Path:
        writer = FORMS[form][1]
        return _atomic(
            form_path(out_dir, case.id, form),
            lambda tmp: writer(tmp, case, sets, store, letterhead, now=now),
        )

    for case in cases:
        sets = evidence_sets(db, case)
        result.files.extend(write(form, case, sets) for form in forms)
        result.lead_ids.append(case.id)
    log.debug("wrote %d document(s) for %d lead(s) to %s", len(result.files), len(cases), out_dir)
    return result


def export_ledger(
    db: Database[dict[str, Any]],
    path: Path,
    ledger_filter: LedgerFilter,
    *,
    now: datetime | None = None,
) -> int:
    """Write the ledger of the leads ``ledger_filter`` selects; returns how many rows."""
    leads = select_leads(db[LEADS], ledger_filter)
    now = now or utcnow()
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic(
        path, lambda tmp: write_ledger(tmp, leads, now=now, description=ledger_filter.describe())
    )
    return len(leads)


def export_lead_listings(
    db: Database[dict[str, Any]], path: Path, ledger_filter: LedgerFilter
) -> tuple[int, int]:
    """Write one JSON line per listing of each lead the filter selects: (leads, lines)."""
    leads = select_leads(db[LEADS], ledger_filter)
    lines = [to_line(r) for case in leads for r in lead_listings(case)]
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{line}\n" for line in lines)
    _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return len(leads), len(lines)


def top_leads(db: Database[dict[str, Any]], run_id: str | None, limit: int | None) -> list[str]:
    """Ids of a run's leads (all runs' when None), highest score first; all when limit is None."""
    if limit == 0:
        return []
    query = {"run_ids": run_id} if run_id else {}
    cursor = db[LEADS].find(query, {"_id": 1}).sort([("score", -1), ("_id", 1)])
    if limit is not None:
        cursor = cursor.limit(max(1, limit))
    return [str(d["_id"]) for d in cursor]


@dataclass
class RunExport:
    out_dir: Path
    forms: FormsResult
    ledger: Path
    ledger_rows: int


def export_run(
    db: Database[dict[str, Any]],
    run_id: str,
    out_dir: Path,
    *,
    store: EvidenceFiles,
    top: int | None = 20,
    now: datetime | None = None,
) -> RunExport:
    """The forms of a run's ``top`` leads by score (all when None) and its full ledger."""
    now = now or utcnow()
    ids = top_leads(db, run_id, top)
    forms = export_forms(db, ids, out_dir, store=store, now=now)
    ledger = out_dir / f"{_UNSAFE.sub('_', run_id)}-线索台账.xlsx"
    rows = export_ledger(db, ledger, LedgerFilter(run_id=run_id), now=now)
    return RunExport(out_dir, forms, ledger, rows)
