"""The documents officers use: referral form and extraction record (DOCX), lead ledger (XLSX)."""

from __future__ import annotations

from tiequan.documents.export import (
    FORMS,
    FormsResult,
    default_letterhead,
    export_forms,
    export_ledger,
    parse_forms,
    top_leads,
)
from tiequan.documents.extraction import build_extraction, write_extraction
from tiequan.documents.ledger import LedgerFilter, build_ledger, safe_text, write_ledger
from tiequan.documents.referral import Letterhead, build_referral, write_referral

__all__ = [
    "FORMS",
    "FormsResult",
    "LedgerFilter",
    "Letterhead",
    "build_extraction",
    "build_ledger",
    "build_referral",
    "default_letterhead",
    "export_forms",
    "export_ledger",
    "parse_forms",
    "safe_text",
    "top_leads",
    "write_extraction",
    "write_ledger",
    "write_referral",
]
