"""The lead queue: every finding on a listing becomes one lead that officers review."""

from __future__ import annotations

from tiequan.leads.model import Case, CaseListing
from tiequan.leads.queue import (
    STATUS_PENDING,
    STATUS_REVIEWING,
    LeadNotFound,
    LeadQueue,
    RecordResult,
    make_lead_id,
)

__all__ = [
    "STATUS_PENDING",
    "STATUS_REVIEWING",
    "Case",
    "CaseListing",
    "LeadNotFound",
    "LeadQueue",
    "RecordResult",
    "make_lead_id",
]
