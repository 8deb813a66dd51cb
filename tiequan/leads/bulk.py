"""Lifecycle steps on many leads at once: ``LeadQueue.claim_many`` and ``apply_many``.

``apply_many`` means one ``LeadQueue.apply`` per selected lead, in claim order: the
same checks (``check_action``), fields (``transition_fields``), audit records and labels,
under the same ids. Only the writes are grouped. Per batch of leads: one read of the
whole leads, one unordered ``bulk_write`` of version-guarded updates, one
``insert_many`` of audit records, one read of the listing texts and one ``insert_many``
of labels; ``apply`` makes about five round trips per lead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

from tiequan.leads.claims import CLAIM_ORDER, BulkResult, Skipped, check_action, claimable
from tiequan.leads.labels import LABEL_ACTIONS, Label, LabelStore
from tiequan.leads.lifecycle import ACTIONS, STATUS_REVIEWING, Action, Lifecycle, TransitionError
from tiequan.leads.transitions import (
    audit_record,
    changed_meanwhile,
    require_actor,
    skip_reason,
    transition_fields,
)
from tiequan.storage.bulk import DUPLICATE_KEY, insert_new
from tiequan.storage.store import AUDIT, LEADS

log = logging.getLogger(__name__)

BATCH = 500  # leads per batch of writes
CLAIM_ROUNDS = 100  # reads of claimable leads per claim_many: bounds a livelock, never reached
STATE = {"status": 1, "claimed_by": 1, "lease_until": 1}  # what check_action reads
GONE = "线索已不存在"


def insert_audit(coll: Collection[dict[str, Any]], record: dict[str, Any]) -> None:
    """Write one audit record; one already written under its id (a retry) is kept."""
    try:
        coll.insert_one(record)
    except DuplicateKeyError:
        log.info("audit record %s already written", record["_id"])


@dataclass(frozen=True)
class Step:
    """One lead an action fits: the lead as read, and the fields the step sets on it."""

    before: dict[str, Any]
    action: Action
    fields: dict[str, Any]

    @property
    def lead_id(self) -> str:
        return str(self.before["_id"])

    @property
    def version(self) -> int:
        return int(self.before.get("version", 1))

    @property
    def after(self) -> dict[str, Any]:
        return {**self.before, **self.fields, "version": self.version + 1}

    def guard(self) -> dict[str, Any]:
        return {"_id": self.before["_id"], "status": self.before["status"], "version": self.version}


@dataclass(frozen=True)
class BulkAction:
    """One action by one officer, as ``apply`` takes it."""

    name: str
    actor: str
    reason: str | None
    outcome: str | None
    now: datetime

    def check(self, doc: Mapping[str, Any]) -> Action:
        return check_action(doc, self.name, self.actor, self.reason, self.outcome, self.now)

    def audit_record(self, step: Step) -> dict[str, Any]:
        return audit_record(
            step.after, step.action.name, self.actor, step.before["status"],
            self.reason, self.outcome, self.now,
        )  # fmt: skip

    def label(
        self, store: LabelStore, step: Step, stored: Mapping[str, Mapping[str, Any]]
    ) -> Label:
        return store.build(
            step.after, step.action.name, step.action.label, self.actor, step.before["status"],
            reason=self.reason, outcome=self.outcome, now=self.now, stored=stored,
        )  # fmt: skip


class BulkSteps:
    """The lead queue's steps on many leads (``LeadQueue`` delegates to it)."""

    def __init__(
        self,
        db: Database[dict[str, Any]],
        lifecycle: Lifecycle,
        lease: timedelta,
        *,
        batch: int | None = None,
    ) -> None:
        self.leads: Collection[dict[str, Any]] = db[LEADS]
        self.audit: Collection[dict[str, Any]] = db[AUDIT]
        self.labels = LabelStore(db)
        self.lifecycle = lifecycle
        self.lease = lease
        self.batch = max(1, batch or BATCH)

    def claim_many(
        self,
        reviewer: str,
        n: int,
        lease: timedelta | None,
        query: Mapping[str, Any] | None,
        now: datetime,
    ) -> list[dict[str, Any]]:
        """``LeadQueue.claim_many``: a guarded update and an audit record per lead taken."""
        require_actor(reviewer)
        # A claim sets the same fields on every lead it takes.
        fields = transition_fields(
            {}, ACTIONS["claim"], reviewer, None, None, now, self.lifecycle, lease or self.lease
        )
        selector = claimable(now) if not query else {"$and": [dict(query), claimable(now)]}
        taken: list[dict[str, Any]] = []
        for _ in range(CLAIM_ROUNDS):
            want = n - len(taken)
            if want <= 0:
                break
            found = list(self.leads.find(selector).sort(CLAIM_ORDER).limit(want))
            if not found:
                break
            for before in found:
                version = before.get("version", 1)
                guard = {"_id": before["_id"], "status": before["status"], "version": version}
                update = {"$set": fields, "$inc": {"version": 1}}
                if not self.leads.update_one(guard, update).matched_count:
                    continue  # another reviewer took it (or it changed) since it was read
                doc = {**before, **fields, "version": version + 1}
                note = None
                if before["status"] == STATUS_REVIEWING:
                    note = f"{before.get('claimed_by')} 的领取已过期，由 {reviewer} 重新领取"
                record = audit_record(doc, "claim", reviewer, before["status"], note, None, now)
                insert_audit(self.audit, record)
                taken.append(doc)
        return taken

    def apply_many(
        self, query: Mapping[str, Any], bulk: BulkAction, *, dry_run: bool
    ) -> BulkResult:
        """``LeadQueue.apply_many``: check every selected lead, then write in batches."""
        selected: list[str] = []
        skipped: dict[str, str] = {}
        fits: list[str] = []
        for doc in self.leads.find(dict(query), STATE).sort(CLAIM_ORDER):
            lead_id = str(doc["_id"])
            selected.append(lead_id)
            try:
                bulk.check(doc)
            except TransitionError as exc:
                skipped[lead_id] = skip_reason(lead_id, exc)
            else:
                fits.append(lead_id)
        if not dry_run:
            for start in range(0, len(fits), self.batch):
                steps, refused = self.plan(bulk, fits[start : start + self.batch])
                skipped.update(refused)
                skipped.update(self.write(bulk, steps))
        result = BulkResult()
        for lead_id in selected:
            if lead_id in skipped:
                result.skipped.append(Skipped(lead_id, skipped[lead_id]))
            else:
                result.applied.append(lead_id)
        return result

    def plan(self, bulk: BulkAction, lead_ids: Sequence[str]) -> tuple[list[Step], dict[str, str]]:
        """Read the leads afresh and check them again, as ``apply`` does: the steps to
        write, and why the others are skipped."""
        try:
            require_actor(bulk.actor)
        except TransitionError as exc:
            return [], {lead_id: str(exc) for lead_id in lead_ids}
        found = {str(d["_id"]): d for d in self.leads.find({"_id": {"$in": list(lead_ids)}})}
        steps: list[Step] = []
        refused: dict[str, str] = {}
        for lead_id in lead_ids:
            doc = found.get(lead_id)
            if doc is None:
                refused[lead_id] = GONE
                continue
            try:
                action = bulk.check(doc)
            except TransitionError as exc:
                refused[lead_id] = skip_reason(lead_id, exc)
                continue
            fields = transition_fields(
                doc, action, bulk.actor, bulk.reason, bulk.outcome, bulk.now,
                self.lifecycle, self.lease,
            )  # fmt: skip
            steps.append(Step(doc, action, fields))
        return steps, refused

    def write(self, bulk: BulkAction, steps: Sequence[Step]) -> dict[str, str]:
        """Write ``steps``, then the audit records and labels of those that went through;
        returns why the others did not (the lead changed since it was read)."""
        if not steps:
            return {}
        lost = self.update(steps)
        done = [s for i, s in enumerate(steps) if i not in lost]
        insert_new(self.audit, [bulk.audit_record(s) for s in done])
        labelled = [s for s in done if s.action.name in LABEL_ACTIONS]
        if labelled:
            stored = self.labels.stored_listings(s.after for s in labelled)
            self.labels.record_many([bulk.label(self.labels, s, stored) for s in labelled])
        lost_ids = [steps[i].lead_id for i in sorted(lost)]
        return {i: skip_reason(i, changed_meanwhile(i)) for i in lost_ids}

    def update(self, steps: Sequence[Step]) -> set[int]:
        """One unordered bulk write of the guarded updates; the indexes of ``steps`` whose
        guard no longer matched."""
        # upsert=True turns a guard that no longer matches into a duplicate-key error on
        # _id, reported per operation: exactly which leads changed meanwhile, with no
        # second read (a read of versions could not tell our write from a racing one).
        ops = [
            UpdateOne(s.guard(), {"$set": s.fields, "$inc": {"version": 1}}, upsert=True)
            for s in steps
        ]
        try:
            result = self.leads.bulk_write(ops, ordered=False)
        except BulkWriteError as exc:
            details = exc.details
            errors = details.get("writeErrors", [])
            if details.get("writeConcernErrors") or any(
                e.get("code") != DUPLICATE_KEY for e in errors
            ):
                raise
            lost = {int(e["index"]) for e in errors}
            upserted = {int(u["index"]): u["_id"] for u in details.get("upserted", [])}
        else:
            lost, upserted = set(), dict(result.upserted_ids or {})
        if upserted:
            # A lead removed since it was read came back as a stub: remove it again (a
            # real lead always has a party_key, a stub never does).
            stubs = list(upserted.values())
            self.leads.delete_many({"_id": {"$in": stubs}, "party_key": {"$exists": False}})
            lost |= set(upserted)
        return lost
