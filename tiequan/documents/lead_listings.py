"""One JSON line per listing per lead, for a bureau's other systems.

``tiequan leads export --jsonl FILE`` writes them; ``read_lead_listings`` reads such a
file back. The shape is versioned by ``SCHEMA``: fields are only ever added under it.
Times are ISO 8601 in UTC; absent values are null, never left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tiequan.leads.model import Case, JurisdictionDoc, PartyDoc

SCHEMA = "tiequan.lead-listing/1"


@dataclass(frozen=True)
class LeadListing:
    schema: str
    lead_id: str
    category: str
    category_name: str | None
    status: str | None
    lead_score: float | None  # the case's score
    score: float | None  # this listing's finding
    severity: str | None
    article: str | None
    platform: str | None
    platform_name: str | None
    item_id: str | None
    url: str | None
    title: str | None
    state: str | None  # online / removed (the takedown revisits)
    first_seen_at: str | None
    last_seen_at: str | None
    evidence_id: str | None
    party_key: str | None
    party_name: str | None
    credit_code: str | None
    credit_code_valid: bool | None
    bureau_key: str | None
    bureau_name: str | None
    jurisdiction: str | None  # the Chinese label officers see
    lead_unit: str | None
    run_ids: list[str]


def _time(value: Any) -> str | None:
    if not isinstance(value, datetime):
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def lead_listings(case: Case) -> Iterator[LeadListing]:
    """The lines of one lead: one per listing of its case."""
    party = case.party or PartyDoc()
    check = party.credit_code_check or {}
    jurisdiction = case.jurisdiction or JurisdictionDoc()
    for entry in case.listings or ():
        yield LeadListing(
            schema=SCHEMA,
            lead_id=str(case.id),
            category=str(case.category),
            category_name=_str(case.category_name),
            status=_str(case.status),
            lead_score=_float(case.score),
            score=_float(entry.score),
            severity=_str(entry.severity),
            article=_str(entry.article),
            platform=_str(entry.platform),
            platform_name=_str(entry.platform_name),
            item_id=_str(entry.item_id),
            url=_str(entry.url),
            title=_str(entry.title),
            state=_str(entry.state),
            first_seen_at=_time(entry.first_seen_at),
            last_seen_at=_time(entry.last_seen_at),
            evidence_id=_str(entry.evidence_id),
            party_key=_str(case.party_key),
            party_name=_str(party.name or party.label),
            credit_code=_str(party.credit_code),
            credit_code_valid=check.get("valid") if check else None,
            bureau_key=_str(jurisdiction.bureau_key),
            bureau_name=_str(jurisdiction.bureau_name),
            jurisdiction=_str(jurisdiction.label),
            lead_unit=_str(case.lead_unit),
            run_ids=[str(r) for r in entry.run_ids or ()],
        )


def to_line(record: LeadListing) -> str:
    return json.dumps(asdict(record), ensure_ascii=False, sort_keys=False)


_NAMES = [f.name for f in fields(LeadListing)]


def read_lead_listings(path: Path) -> list[LeadListing]:
    """Read a file written by the export; ValueError names the line of a bad one."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
            raise ValueError(f"{path}:{number}: not a {SCHEMA} line")
        missing = [n for n in _NAMES if n not in raw]
        if missing:
            raise ValueError(f"{path}:{number}: missing field {missing[0]}")
        out.append(LeadListing(**{n: raw[n] for n in _NAMES}))
    return out
