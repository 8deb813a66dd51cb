"""Fetch a sweep's crawler leads for scoring against the sandbox ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pymongo.database import Database

from tiequan.storage.connect import open_database


def run_leads(db: Database[Any], run_id: str | None) -> list[tuple[str, str, str]]:
    """(site, item_id, category) of every listing in the crawler's cases seen in a run
    (or in any run): a case groups a party's listings, the score counts listings."""
    query: dict[str, Any] = {"source": "crawler"}
    if run_id:
        query["run_ids"] = run_id
    projection = {"category": 1, "listings.platform": 1, "listings.item_id": 1}
    projection["listings.last_run_id"] = 1
    projection["listings.run_ids"] = 1
    out: list[tuple[str, str, str]] = []
    for doc in db.leads.find(query, projection):
        for entry in doc.get("listings", []):
            if run_id and run_id not in entry.get("run_ids", [entry.get("last_run_id")]):
                continue
            out.append((entry["platform"], entry["item_id"], doc["category"]))
    return out


def latest_run_id(db: Database[Any]) -> str | None:
    doc = db.runs.find_one({}, sort=[("started_at", -1)])
    return str(doc["run_id"]) if doc else None


def leads_from_database(
    run_id: str | None, *, mongo_uri: str | None = None, home: Path | None = None
) -> tuple[str | None, list[tuple[str, str, str]]]:
    """The run scored (given, else the latest) and its leads."""
    with open_database(mongo_uri, home) as db:
        run_id = run_id or latest_run_id(db)
        return run_id, run_leads(db, run_id)
