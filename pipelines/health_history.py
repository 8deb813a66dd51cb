"""The small reader the item-count monitor uses: a site's items in its recent runs."""

from __future__ import annotations

from typing import Any

from pymongo import DESCENDING
from pymongo.database import Database

from tiequan.storage.connect import open_database
from tiequan.storage.store import RUNS


def recent_item_counts(
    db: Database[Any], site: str, limit: int, exclude_run_id: str | None = None
) -> list[int]:
    """Items of ``site`` in its last ``limit`` runs that finished normally, newest first."""
    query: dict[str, Any] = {f"sites.{site}.finish_reason": "finished"}
    if exclude_run_id:
        query["_id"] = {"$ne": exclude_run_id}
    cursor = (
        db[RUNS]
        .find(query, {f"sites.{site}.items": 1})
        .sort([("started_at", DESCENDING), ("_id", DESCENDING)])
        .limit(limit)
    )
    return [int(doc["sites"][site].get("items") or 0) for doc in cursor]


def site_item_counts(
    uri: str, site: str, limit: int, exclude_run_id: str | None, timeout_ms: int
) -> list[int]:
    """recent_item_counts on the database at ``uri`` (PyMongoError when it is away)."""
    with open_database(uri, timeout_ms=timeout_ms) as db:
        return recent_item_counts(db, site, limit, exclude_run_id)
