"""The workbench's read paths as they were before issue 11, for bench/workbench.py --baseline.

Each page read its data the plain way: a count and a sorted find per queue page, every
lead for the facets and for the landing page, one read per listing on the lead page, an
``$or`` for the evidence, and none of the indexes issue 11 added. ``old_code`` puts these
in place for the app it builds, and takes them away after.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from typing import Any

from pymongo.database import Database

from tiequan.evidence import manifest
from tiequan.leads.lifecycle import FINAL
from tiequan.leads.queue import LeadQueue
from tiequan.storage.store import EVIDENCE, LEADS, Store, utcnow
from tiequan.web import app as web_app
from tiequan.web import views
from tiequan.web.accounts import User

NEW_INDEXES = ("lead_score", "lead_status_at", "lead_due_at", "lead_claimed")


class OldQueue(LeadQueue):
    """LeadQueue with the search, overdue and facet reads of before."""

    def search(
        self,
        query: dict[str, Any],
        sort: builtins.list[tuple[str, int]],
        *,
        skip: int = 0,
        limit: int = 50,
        after: Any = None,
        before: Any = None,
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        # Before issue 11 every page was read by count, whatever link led to it.
        total = self.coll.count_documents(query)
        cursor = self.coll.find(query).sort([*sort, ("_id", 1)]).skip(max(0, skip))
        return builtins.list(cursor.limit(max(1, limit))), total

    def overdue(
        self, now: datetime | None = None, limit: int = 200, fields: Any = None
    ) -> builtins.list[dict[str, Any]]:
        query = {"due_at": {"$lt": now or utcnow()}, "status": {"$nin": sorted(FINAL)}}
        return builtins.list(self.coll.find(query).sort([("due_at", 1), ("_id", 1)]).limit(limit))


def aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def old_todo(queue: LeadQueue, user: User, now: datetime) -> dict[str, list[dict[str, Any]]]:
    leads = queue.list(limit=None)
    tomorrow = now.astimezone(views.SHANGHAI).date() + timedelta(days=1)
    end_of_day = datetime.combine(tomorrow, time.min, tzinfo=views.SHANGHAI)
    mine = [d for d in leads if d.get("claimed_by") == user.username and d["status"] not in FINAL]
    due_today = [
        d
        for d in leads
        if d.get("status") not in FINAL
        and (due := aware(d.get("due_at"))) is not None
        and now <= due < end_of_day
    ]
    due_today.sort(key=lambda d: aware(d.get("due_at")) or now)
    return {"mine": mine, "due_today": due_today, "overdue": queue.overdue(now=now)}


class NoCache(views.FacetCache):
    def get(self, queue: LeadQueue) -> dict[str, list[tuple[str, str]]]:
        return queue.facets(views.FACET_FIELDS)


def old_get_listings(
    self: Store, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for platform, item_id in keys:
        doc = self.get_listing(platform, item_id)
        if doc is not None:
            found[(platform, item_id)] = doc
    return found


def old_evidence_sets(db: Database[Any], case: Any) -> list[dict[str, Any]]:
    query: Mapping[str, Any] = manifest.lead_evidence_query(case)
    return list(db[EVIDENCE].find(query).sort([("captured_at", 1), ("_id", 1)]))


@contextmanager
def old_code(db: Database[dict[str, Any]]) -> Iterator[None]:
    """The old read paths and indexes in place while the block runs."""
    for name in NEW_INDEXES:
        if name in db[LEADS].index_information():
            db[LEADS].drop_index(name)
    saved = (views.todo, views.FacetCache, Store.get_listings, web_app.evidence_sets)
    views.todo, views.FacetCache = old_todo, NoCache  # type: ignore[misc]
    Store.get_listings = old_get_listings  # type: ignore[method-assign]
    web_app.evidence_sets = old_evidence_sets
    try:
        yield
    finally:
        views.todo, views.FacetCache, Store.get_listings, web_app.evidence_sets = saved  # type: ignore[misc, method-assign]
        Store(db).ensure_indexes()
