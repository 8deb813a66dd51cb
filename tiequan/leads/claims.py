"""Claims that expire, and what a bulk action did: the lead queue's claim and bulk records.

A reviewer's claim holds for a lease (``TIEQUAN_CLAIM_LEASE_MINUTES``); once it runs out,
the lead is claimable again as if it were pending (``LeadQueue.claim_many``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tiequan.leads.lifecycle import STATUS_PENDING, STATUS_REVIEWING
from tiequan.timefmt import as_utc


def claimable(now: datetime) -> dict[str, Any]:
    """The MongoDB filter of claimable leads: pending and unclaimed, or on an expired lease."""
    return {
        "$or": [
            {"status": STATUS_PENDING, "claimed_by": None},
            {"status": STATUS_REVIEWING, "lease_until": {"$lt": now}},
        ]
    }


def lease_expired(doc: Mapping[str, Any], now: datetime) -> bool:
    """Whether ``doc`` is under review on a claim whose lease ran out before ``now``."""
    until = doc.get("lease_until")
    return (
        doc.get("status") == STATUS_REVIEWING
        and isinstance(until, datetime)
        and as_utc(until) < now
    )


@dataclass(frozen=True)
class Skipped:
    lead_id: str
    reason: str  # Chinese, without the lead id, so that equal reasons group


@dataclass
class BulkResult:
    """What ``apply_many`` did (or, on a dry run, would do) to the leads of a query."""

    applied: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.applied) + len(self.skipped)

    def reasons(self) -> list[tuple[str, int]]:
        """Each reason for skipping and how many leads it applies to, most common first."""
        return Counter(s.reason for s in self.skipped).most_common()
