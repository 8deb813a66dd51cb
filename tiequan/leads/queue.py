"""The lead queue: cases (one lead per party and category) that officers review.

``record`` turns findings into cases (tiequan.leads.cases). Every status change goes
through ``apply`` (or ``claim``), which checks the transition (tiequan.leads.lifecycle),
guards the write by the version it read, and appends an ``audit`` record.
"""

from __future__ import annotations

import builtins
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database

from tiequan.leads.bulk import BulkAction, BulkSteps, insert_audit
from tiequan.leads.cases import CaseRecorder, RecordResult, make_lead_id
from tiequan.leads.claims import CLAIM_ORDER, BulkResult, check_action
from tiequan.leads.labels import LABEL_ACTIONS, LabelStore
from tiequan.leads.lifecycle import (
    FINAL,
    STATUS_PENDING,
    STATUS_REVIEWING,
    Action,
    Lifecycle,
    TransitionError,
    load_lifecycle,
)
from tiequan.leads.model import Case
from tiequan.leads.routing import Routing, routing_of
from tiequan.leads.transitions import (
    audit_record,
    changed_meanwhile,
    require_actor,
    transition_fields,
)
from tiequan.party import Jurisdictions, load_jurisdictions
from tiequan.referral import Categories, load_categories
from tiequan.settings import environment
from tiequan.storage.migrations import require_current
from tiequan.storage.store import AUDIT, LEADS, Store, utcnow
from tiequan.storage.window import (
    Cursor,
    Exclusion,
    SpanMemo,
    WindowKey,
    first_ids,
    ids_beyond,
)

log = logging.getLogger(__name__)

LIST_ORDER = [("created_at", -1), ("score", -1), ("_id", 1)]
_FIELD = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*$")
# Sort keys read a window at a time (tiequan.storage.window), each served by an index.
_HOUR, _DAY = 3600.0, 86400.0
WINDOWS = {
    "created_at": WindowKey("created_at", True, 6 * _HOUR, 3650 * _DAY),
    "status_at": WindowKey("status_at", True, 6 * _HOUR, 3650 * _DAY),
    "score": WindowKey("score", True, 0.02, 1.0, anchor=1.0),
    # Few leads come near 1: the first window is a quarter of the range (bench/active_order.py).
    "informativeness": WindowKey("informativeness", True, 0.25, 1.0, anchor=1.0),
}
# Keys that leads written before the key existed lack: a keyset read past a cursor would
# never reach those leads, so these page by count.
SPARSE_KEYS = frozenset({"informativeness"})
OVERDUE_WINDOW = WindowKey("due_at", False, _DAY, 730 * _DAY)
OPEN_ONLY = Exclusion("status", frozenset(FINAL))
# An equality on one of these already narrows a query to few leads: read it whole.
NARROW_FIELDS = frozenset({"_id", "category", "jurisdiction.bureau_key", "claimed_by", "party_key"})

__all__ = [
    "CLAIM_ORDER",
    "STATUS_PENDING",
    "STATUS_REVIEWING",
    "BulkResult",
    "LeadNotFound",
    "LeadQueue",
    "RecordResult",
    "TransitionError",
    "make_lead_id",
    "normalise_lead_id",
]


class LeadNotFound(KeyError):
    """No lead has this id."""


@dataclass(frozen=True)
class Rerouted:
    """One lead whose routing the current configuration changes."""

    lead_id: str
    status: str
    before: Routing
    after: Routing


@dataclass
class RerouteResult:
    checked: int = 0
    changed: builtins.list[Rerouted] = field(default_factory=builtins.list)
    conflicts: builtins.list[str] = field(default_factory=builtins.list)  # edited meanwhile


def _dotted(doc: Mapping[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def normalise_lead_id(lead_id: str) -> str:
    return lead_id.strip().upper()


class LeadQueue:
    def __init__(
        self,
        db: Database[dict[str, Any]],
        categories: Categories | None = None,
        lifecycle: Lifecycle | None = None,
    ) -> None:
        self.db = db
        self.coll: Collection[dict[str, Any]] = db[LEADS]
        self.audit: Collection[dict[str, Any]] = db[AUDIT]
        self._categories = categories
        self._lifecycle = lifecycle
        self.spans = SpanMemo()

    @property
    def categories(self) -> Categories:
        if self._categories is None:
            self._categories = load_categories()
        return self._categories

    @property
    def lifecycle(self) -> Lifecycle:
        if self._lifecycle is None:
            self._lifecycle = load_lifecycle()
        return self._lifecycle

    def ensure_indexes(self) -> None:
        """Create every collection's indexes; refuse (MigrationsPending, naming
        `tiequan migrate`) a database that still holds leads of an older shape."""
        require_current(self.db)
        Store(self.db).ensure_indexes()

    def record(
        self,
        pairs: Iterable[tuple[Any, Any]],
        run_id: str,
        *,
        source: str = "crawler",
        source_ref: str | None = None,
        now: datetime | None = None,
    ) -> RecordResult:
        """Add (listing, finding) pairs to their cases: new cases, or sightings of known ones."""
        recorder = CaseRecorder(self.coll, self.categories, self.lifecycle)
        return recorder.record(
            pairs, run_id, now=now or utcnow(), source=source, source_ref=source_ref
        )

    # -- the lifecycle ---------------------------------------------------------------

    def apply(
        self,
        lead_id: str,
        action_name: str,
        actor: str,
        *,
        reason: str | None = None,
        outcome: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Move a lead through its lifecycle; returns the updated lead.

        Raises LeadNotFound, or TransitionError (Chinese message) when the change makes
        no sense for the lead's status, lacks a reason/outcome, or lost a race.
        """
        require_actor(actor)
        lead_id = normalise_lead_id(lead_id)
        doc = self.get(lead_id)
        if doc is None:
            raise LeadNotFound(lead_id)
        status = doc["status"]
        now = now or utcnow()
        action = self.check_action(doc, action_name, actor, reason, outcome, now)
        fields = transition_fields(
            doc, action, actor, reason, outcome, now, self.lifecycle, self.claim_lease
        )
        version = doc.get("version", 1)
        # update_one, not find_one_and_update: the guard means the lead is the one read
        # with these fields set (and the embedded server's findAndModify scans the collection).
        guard = {"_id": lead_id, "status": status, "version": version}
        if not self.coll.update_one(guard, {"$set": fields, "$inc": {"version": 1}}).matched_count:
            raise changed_meanwhile(lead_id)
        updated = {**doc, **fields, "version": version + 1}
        self._audit(updated, action.name, actor, status, reason, outcome, now)
        if action.name in LABEL_ACTIONS:
            LabelStore(self.db).record(
                updated,
                action.name,
                action.label,
                actor,
                status,
                reason=reason,
                outcome=outcome,
                now=now,
            )
        return updated

    def reroute(
        self,
        lead_ids: Sequence[str] | None,
        actor: str,
        *,
        jurisdictions: Jurisdictions | None = None,
        dry_run: bool = False,
        now: datetime | None = None,
    ) -> RerouteResult:
        """Route leads (all when ``lead_ids`` is None) as the current configuration would.

        A lead whose bureau or units change gets the new routing and an audit record
        naming both; its status, decisions and referral record (where it was actually
        sent) are left as they are. Raises LeadNotFound for an unknown id before
        anything is written.
        """
        conf = jurisdictions or load_jurisdictions()
        if lead_ids is None:
            leads = builtins.list(self.coll.find({}).sort([("_id", 1)]))
        else:
            ids = [normalise_lead_id(i) for i in lead_ids]
            found = {d["_id"]: d for d in self.coll.find({"_id": {"$in": ids}})}
            missing = [i for i in ids if i not in found]
            if missing:
                raise LeadNotFound("、".join(missing))
            leads = [found[i] for i in dict.fromkeys(ids)]
        result = RerouteResult()
        now = now or utcnow()
        for doc in leads:
            result.checked += 1
            before, after = Routing.stored(doc), routing_of(doc, self.categories, conf)
            if not after.moves_from(before):
                continue
            change = Rerouted(doc["_id"], doc.get("status", ""), before, after)
            if dry_run:
                result.changed.append(change)
                continue
            updated = self.coll.find_one_and_update(
                {"_id": doc["_id"], "version": doc.get("version", 1)},
                {"$set": after.fields(), "$inc": {"version": 1}},
                return_document=ReturnDocument.AFTER,
            )
            if updated is None:
                result.conflicts.append(doc["_id"])
                continue
            note = f"按现行配置重新分派：{before.describe()} → {after.describe()}"
            self._audit(updated, "reroute", actor, doc.get("status"), note, None, now)
            result.changed.append(change)
        return result

    def _audit(
        self,
        lead: dict[str, Any],
        action: str,
        actor: str,
        from_status: str | None,
        reason: str | None,
        outcome: str | None,
        now: datetime,
    ) -> None:
        record = audit_record(lead, action, actor, from_status, reason, outcome, now)
        insert_audit(self.audit, record)

    def history(self, lead_id: str) -> builtins.list[dict[str, Any]]:
        """The audit records of a lead, oldest first."""
        cursor = self.audit.find({"lead_id": normalise_lead_id(lead_id)})
        return builtins.list(cursor.sort([("at", 1), ("version", 1)]))

    def claim(
        self, reviewer: str, category: str | None = None, unit: str | None = None
    ) -> dict[str, Any] | None:
        """Atomically take the best claimable lead (highest score, then oldest), leased."""
        taken = self.claim_many(reviewer, 1, query=self._query(None, category, unit))
        return taken[0] if taken else None

    def release(self, lead_id: str, reviewer: str) -> bool:
        """Give a claimed lead back to the queue; False if ``reviewer`` does not hold it."""
        try:
            self.apply(lead_id, "release", reviewer)
        except TransitionError:
            return False
        return True

    def overdue(
        self, now: datetime | None = None, limit: int = 200, fields: Sequence[str] | None = None
    ) -> builtins.list[dict[str, Any]]:
        """Open leads past the due date of their current status, most overdue first (only
        ``fields`` of each, when given)."""
        due = {"$lt": now or utcnow()}
        order = [("due_at", 1), ("_id", 1)]
        ids = first_ids(
            self.coll, {"due_at": due}, order, OVERDUE_WINDOW, limit, self.spans, OPEN_ONLY
        )
        if ids is not None:
            return self._by_ids(ids, fields)
        query = {"due_at": due, "status": {"$nin": sorted(FINAL)}}
        projection = dict.fromkeys(fields, 1) if fields else None
        return builtins.list(self.coll.find(query, projection).sort(order).limit(limit))

    def overdue_cases(self, now: datetime | None = None, limit: int = 200) -> builtins.list[Case]:
        """``overdue`` as typed Cases."""
        return [Case.from_doc(d) for d in self.overdue(now, limit)]

    # -- reading -----------------------------------------------------------------------

    def get(self, lead_id: str) -> dict[str, Any] | None:
        return self.coll.find_one({"_id": normalise_lead_id(lead_id)})

    def get_case(self, lead_id: str) -> Case | None:
        """``get`` as a typed Case."""
        doc = self.get(lead_id)
        return None if doc is None else Case.from_doc(doc)

    def _unit_filter(self, unit: str) -> str:
        name = self.categories.unit_name(unit)
        if name is None:
            raise ValueError(f"未知单位：{unit}")
        return name

    def _query(self, status: str | None, category: str | None, unit: str | None) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if status:
            query["status"] = status
        if category:
            query["category"] = category
        if unit:
            query["lead_unit"] = self._unit_filter(unit)
        return query

    def counts_by(self, field_name: str) -> dict[Any, int]:
        """Number of leads per value of a field, largest first."""
        if not _FIELD.match(field_name):
            raise ValueError(f"bad field name {field_name!r}")
        pipeline: builtins.list[dict[str, Any]] = [
            {"$group": {"_id": f"${field_name}", "n": {"$sum": 1}}},
            {"$sort": {"n": -1, "_id": 1}},
        ]
        return {row["_id"]: row["n"] for row in self.coll.aggregate(pipeline)}

    def list(
        self,
        status: str | None = None,
        category: str | None = None,
        unit: str | None = None,
        limit: int | None = 50,
    ) -> builtins.list[dict[str, Any]]:
        """Leads matching the filters (unit = lead unit, key or Chinese name), newest first;
        ``limit`` None for all of them."""
        cursor = self.coll.find(self._query(status, category, unit)).sort(LIST_ORDER)
        if limit is not None:
            cursor = cursor.limit(max(1, limit))
        return builtins.list(cursor)

    def list_cases(
        self,
        status: str | None = None,
        category: str | None = None,
        unit: str | None = None,
        limit: int | None = 50,
    ) -> builtins.list[Case]:
        """``list`` as typed Cases."""
        return [Case.from_doc(d) for d in self.list(status, category, unit, limit)]

    def search(
        self,
        query: dict[str, Any],
        sort: builtins.list[tuple[str, int]],
        *,
        skip: int = 0,
        limit: int = 50,
        after: Cursor | None = None,
        before: Cursor | None = None,
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        """One page of the leads ``query`` (a MongoDB filter) selects, and how many there are.

        The sort runs in the database (the workbench's queue pages); ``_id`` breaks ties so
        pages never overlap. A query by a sort key with an index reads a window of that key
        (tiequan.storage.window); any other reads its leads' ids once, in order, which
        gives both the page and the count.

        ``after`` (``before``): the page follows (precedes) that row, read from the row on
        (keyset paging: a deep page costs what the first does) when the sort's key has a
        window and no narrowing field is in the query; else ``skip`` pages.
        """
        skip, limit = max(0, skip), max(1, limit)
        # The embedded server narrows a query by the index of its first indexed clause.
        query = dict(sorted(query.items(), key=lambda kv: kv[0] not in NARROW_FIELDS))
        order = [*sort, ("_id", 1)]
        key = WINDOWS.get(sort[0][0]) if sort else None
        cursor = after or before
        if (
            cursor is not None
            and key is not None
            and sort[0][1] == (-1 if key.descending else 1)
            and not NARROW_FIELDS & set(query)
            and key.field not in SPARSE_KEYS
        ):
            ids = ids_beyond(
                self.coll, query, key, cursor, limit, backward=after is None, memo=self.spans
            )
            # A short page before the cursor means the first page: it is read from the top.
            if ids and (after is not None or len(ids) == limit):
                if after is None:
                    ids.reverse()
                return self._by_ids(ids), self._count(query)
        if (
            key is not None
            and not NARROW_FIELDS & set(query)
            and not any(name.startswith("$") for name in query)
        ):
            total = self._count(query)
            if skip >= total:
                return [], total
            ids = first_ids(self.coll, query, order, key, min(skip + limit, total), self.spans)
            if ids is not None:
                return self._by_ids(ids[skip:]), total
        ids = [d["_id"] for d in self.coll.find(query, {"_id": 1}).sort(order)]
        return self._by_ids(ids[skip : skip + limit]), len(ids)

    def facets(
        self, fields: Mapping[str, tuple[str, str]]
    ) -> dict[str, builtins.list[tuple[str, str]]]:
        """Per name, the (value, label) pairs its (value field, label field) take across
        all leads, by label: one projected read of the collection."""
        paths = {path for pair in fields.values() for path in pair}
        if any(not _FIELD.match(path) for path in paths):
            raise ValueError(f"bad field names {sorted(paths)!r}")
        seen: dict[str, dict[str, str]] = {name: {} for name in fields}
        for doc in self.coll.find({}, {path: 1 for path in paths}):
            for name, (key_path, label_path) in fields.items():
                value, label = _dotted(doc, key_path), _dotted(doc, label_path)
                if value not in (None, ""):
                    seen[name].setdefault(str(value), str(label or value))
        return {n: sorted(v.items(), key=lambda kv: kv[1]) for n, v in seen.items()}

    def count(
        self, status: str | None = None, category: str | None = None, unit: str | None = None
    ) -> int:
        """How many leads match the filters of ``list``."""
        return self.coll.count_documents(self._query(status, category, unit))

    # -- claims with a lease, and bulk actions ----------------------------------------

    @property
    def claim_lease(self) -> timedelta:
        """How long a claim holds unless renewed (TIEQUAN_CLAIM_LEASE_MINUTES)."""
        return timedelta(minutes=environment().claim_lease_minutes)

    def check_action(
        self,
        doc: Mapping[str, Any],
        action_name: str,
        actor: str,
        reason: str | None,
        outcome: str | None,
        now: datetime,
    ) -> Action:
        """``check_action`` (tiequan.leads.claims): the action, if ``actor`` may apply it to
        the lead ``doc`` now; else TransitionError."""
        return check_action(doc, action_name, actor, reason, outcome, now)

    def claim_many(
        self,
        reviewer: str,
        n: int,
        lease: timedelta | None = None,
        query: Mapping[str, Any] | None = None,
        *,
        now: datetime | None = None,
    ) -> builtins.list[dict[str, Any]]:
        """Take up to ``n`` of the best claimable leads ``query`` selects, best first.

        Claimable: pending and unclaimed, or under review with an expired lease. Each lead
        is taken by an update guarded by the version read, so concurrent reviewers never
        share one; the loser of a race moves on to the next lead.
        """
        return self.bulk_steps().claim_many(reviewer, n, lease, query, now or utcnow())

    def renew(self, lead_id: str, reviewer: str, *, now: datetime | None = None) -> datetime | None:
        """Extend ``reviewer``'s live lease on a lead; the new expiry, or None if they hold
        no live lease on it. Not a lifecycle change: no new version, no audit record."""
        now = now or utcnow()
        until = now + self.claim_lease
        result = self.coll.update_one(
            {
                "_id": normalise_lead_id(lead_id),
                "status": STATUS_REVIEWING,
                "claimed_by": reviewer,
                "lease_until": {"$gte": now},
            },
            {"$set": {"lease_until": until}},
        )
        return until if result.matched_count else None

    def apply_many(
        self,
        query: Mapping[str, Any],
        action: str,
        actor: str,
        reason: str | None = None,
        outcome: str | None = None,
        *,
        dry_run: bool = False,
        now: datetime | None = None,
    ) -> BulkResult:
        """``apply`` ``action`` to every lead ``query`` selects, as one ``apply`` per lead
        would (same checks, fields, audit records and labels), writing in batches
        (tiequan.leads.bulk). Leads the action does not fit are skipped with the reason;
        ``dry_run`` only says which."""
        step = BulkAction(action, actor, reason, outcome, now or utcnow())
        return self.bulk_steps().apply_many(query, step, dry_run=dry_run)

    def count_matching(self, query: Mapping[str, Any]) -> int:
        """How many leads ``query`` (a MongoDB filter) selects."""
        return self._count(dict(query))

    def matching_cases(
        self, query: Mapping[str, Any], sort: builtins.list[tuple[str, int]], limit: int
    ) -> builtins.list[Case]:
        """Up to ``limit`` whole leads ``query`` selects, as Cases in ``sort`` order (``_id``
        breaks ties): the leads of a filter's documents."""
        cursor = self.coll.find(dict(query)).sort([*sort, ("_id", 1)]).limit(max(1, limit))
        return [Case.from_doc(d) for d in cursor]

    def _count(self, query: Mapping[str, Any]) -> int:
        # No filter: the collection's own count (the embedded server counts without reading
        # a document; mongod reads its metadata).
        return self.coll.count_documents(query) if query else self.coll.estimated_document_count()

    def _by_ids(
        self, ids: Sequence[str], fields: Sequence[str] | None = None
    ) -> builtins.list[dict[str, Any]]:
        """The leads of ``ids``, in that order (one read); any deleted meanwhile left out."""
        projection = dict.fromkeys(fields, 1) if fields else None
        cursor = self.coll.find({"_id": {"$in": builtins.list(ids)}}, projection)
        found = {d["_id"]: d for d in cursor}
        return [found[i] for i in ids if i in found]

    def open_claimed(
        self, reviewer: str, fields: Sequence[str] | None = None, limit: int | None = None
    ) -> builtins.list[dict[str, Any]]:
        """The open (not final) leads ``reviewer`` holds, in ``list`` order (only
        ``fields`` of each, when given; the first ``limit``, when given)."""
        if limit is not None:
            ids = first_ids(
                self.coll,
                {"claimed_by": reviewer},
                LIST_ORDER,
                WINDOWS["created_at"],
                limit,
                self.spans,
                unless=OPEN_ONLY,
            )
            if ids is not None:
                return self._by_ids(ids, fields)
        query = {"claimed_by": reviewer, "status": {"$nin": sorted(FINAL)}}
        projection = dict.fromkeys(fields, 1) if fields else None
        cursor = self.coll.find(query, projection).sort(LIST_ORDER)
        return builtins.list(cursor if limit is None else cursor.limit(limit))

    def due_between(
        self, start: datetime, end: datetime, fields: Sequence[str] | None = None
    ) -> builtins.list[dict[str, Any]]:
        """Open leads due in [start, end), soonest first, then in ``list`` order."""
        query = {"due_at": {"$gte": start, "$lt": end}, "status": {"$nin": sorted(FINAL)}}
        projection = dict.fromkeys(fields, 1) if fields else None
        return builtins.list(self.coll.find(query, projection).sort([("due_at", 1), *LIST_ORDER]))

    def with_decision(
        self, label: str, fields: Sequence[str] | None = None, limit: int = 200
    ) -> builtins.list[dict[str, Any]]:
        """Open leads whose latest decision is ``label`` (an action's Chinese label, e.g.
        退回移送), latest first."""
        query = {"decision.action": label, "status": {"$nin": sorted(FINAL)}}
        projection = dict.fromkeys(fields, 1) if fields else None
        cursor = self.coll.find(query, projection).sort([("status_at", -1), ("_id", 1)])
        return builtins.list(cursor.limit(limit))

    def bulk_steps(self) -> BulkSteps:
        """The writer of ``claim_many`` and ``apply_many``."""
        return BulkSteps(self.db, self.lifecycle, self.claim_lease)
