"""What one lifecycle step writes: the lead fields it sets and its audit record.

Pure functions, shared by ``LeadQueue.apply`` (one lead) and ``apply_many`` (batches of
leads, tiequan.leads.bulk), so that both write exactly the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from tiequan.leads.lifecycle import (
    ACTIONS,
    STATUS_REFERRED,
    STATUS_REVIEWING,
    Action,
    Lifecycle,
    TransitionError,
)

AUDIT_LABELS = {"reroute": "重新分派"}  # audit actions outside the lifecycle


def transition_fields(
    doc: Mapping[str, Any],
    action: Action,
    actor: str,
    reason: str | None,
    outcome: str | None,
    now: datetime,
    lifecycle: Lifecycle,
    lease: timedelta,
) -> dict[str, Any]:
    """The fields ``action`` (already checked) sets on the lead ``doc``; the caller also
    increments its version."""
    fields: dict[str, Any] = {
        "status": action.target,
        "status_at": now,
        "due_at": lifecycle.due_at(action.target, now),
    }
    if action.name == "claim":
        fields.update(claimed_by=actor, claimed_at=now, lease_until=now + lease)
    elif action.name in ("release", "reopen"):
        fields.update(claimed_by=None, claimed_at=None)
    if action.target != STATUS_REVIEWING:
        fields["lease_until"] = None
    if action.name not in ("claim", "release"):
        fields["decision"] = {"action": action.label, "by": actor, "at": now, "reason": reason}
    if action.target == STATUS_REFERRED:
        fields["referral"] = referral_of(doc, actor, now)
    if action.name == "close":
        fields["outcome"] = {"text": outcome, "by": actor, "at": now}
    return fields


def referral_of(doc: Mapping[str, Any], actor: str, now: datetime) -> dict[str, Any]:
    """Where a referral of the lead ``doc`` goes: its units and bureau as routed now."""
    jurisdiction = doc.get("jurisdiction") or {}
    return {
        "units": [doc.get("lead_unit"), *doc.get("co_units", [])],
        "bureau": jurisdiction.get("bureau_name"),
        "bureau_key": jurisdiction.get("bureau_key"),
        "by": actor,
        "at": now,
    }


def audit_record(
    lead: Mapping[str, Any],
    action: str,
    actor: str,
    from_status: str | None,
    reason: str | None,
    outcome: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The audit record of a step that left ``lead`` (the updated lead) as it is."""
    # The id makes a retried write idempotent: one record per lead version.
    return {
        "_id": f"{lead['_id']}:{lead['version']}",
        "lead_id": lead["_id"],
        "version": lead["version"],
        "at": now,
        "actor": actor,
        "action": action,
        "action_label": ACTIONS[action].label if action in ACTIONS else AUDIT_LABELS[action],
        "from_status": from_status,
        "to_status": lead["status"],
        "reason": reason,
        "outcome": outcome,
    }


def require_actor(actor: str) -> None:
    """Every step names the officer who takes it."""
    if not actor.strip():
        raise TransitionError("须注明操作人员（--by）")


def changed_meanwhile(lead_id: str) -> TransitionError:
    """The error of a guarded write that found the lead changed since it was read."""
    return TransitionError(f"线索 {lead_id} 刚被他人修改，请查看最新状态后重试")


def skip_reason(lead_id: str, error: TransitionError) -> str:
    """The officer's message of ``error`` without the lead id, so that equal reasons group."""
    return str(error).replace(f"线索 {lead_id} ", "")
