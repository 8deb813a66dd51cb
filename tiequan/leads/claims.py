"""Claims that expire, who may act on a lead, and what a bulk action did.

A reviewer's claim holds for a lease (``TIEQUAN_CLAIM_LEASE_MINUTES``); once it runs out,
the lead is claimable again as if it were pending (``LeadQueue.claim_many``).
``check_action`` is the one check of every lifecycle step, single or bulk.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tiequan.leads.lifecycle import (
    STATUS_PENDING,
    STATUS_REVIEWING,
    Action,
    TransitionError,
    check_transition,
)
from tiequan.timefmt import as_utc, local_time

CLAIM_ORDER = [("score", -1), ("created_at", 1), ("_id", 1)]


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


def check_action(
    doc: Mapping[str, Any],
    action_name: str,
    actor: str,
    reason: str | None,
    outcome: str | None,
    now: datetime,
) -> Action:
    """The action, if ``actor`` may apply it to the lead ``doc`` now; else TransitionError.

    ``doc`` needs ``_id``, ``status``, ``claimed_by`` and ``lease_until``. While a claim's
    lease lasts only its holder may act on the lead. Once it has expired the lead is
    claimable again by anyone, and its former holder may do nothing else with it until
    they claim it again.
    """
    lead_id, status = str(doc["_id"]), str(doc["status"])
    holder, until = doc.get("claimed_by"), local_time(doc.get("lease_until"))
    expired = lease_expired(doc, now)
    if expired and action_name != "claim" and holder == actor:
        raise TransitionError(
            f"线索 {lead_id} 的领取已于 {until}（北京时间）过期，{actor} 已不再持有，"
            "他人可以领取；如需继续研判，请重新领取"
        )
    live = status == STATUS_REVIEWING and not expired and doc.get("lease_until")
    if live and holder != actor:
        raise TransitionError(f"线索 {lead_id} 由 {holder} 领取研判中（至 {until}），他人不能操作")
    checked = STATUS_PENDING if expired and action_name == "claim" else status
    action = check_transition(lead_id, checked, action_name, reason, outcome)
    if action.name == "release" and holder != actor:
        raise TransitionError(f"线索 {lead_id} 不在 {actor} 名下，无法退回")
    return action


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
