"""Score a sweep's leads against the sandbox ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pymongo.database import Database

from tiequan.storage.connect import open_database


def run_leads(db: Database[Any], run_id: str | None) -> list[tuple[str, str, str]]:
    """(site, item_id, category) of the crawler leads seen in a run (or in any run)."""
    query: dict[str, Any] = {"source": "crawler"}
    if run_id:
        query["run_ids"] = run_id
    projection = {"platform": 1, "item_id": 1, "category": 1}
    return [(d["platform"], d["item_id"], d["category"]) for d in db.leads.find(query, projection)]


def latest_run_id(db: Database[Any]) -> str | None:
    doc = db.runs.find_one({}, sort=[("started_at", -1)])
    return str(doc["run_id"]) if doc else None


def score_run(
    run_id: str | None,
    *,
    seed: int | None = None,
    scale: float = 1.0,
    mongo_uri: str | None = None,
    home: Path | None = None,
) -> str:
    from tiequan.sandbox.truth import build_truth, format_score, score_leads

    with open_database(mongo_uri, home) as db:
        run_id = run_id or latest_run_id(db)
        leads = run_leads(db, run_id)
    truth = build_truth(seed=seed, scale=scale) if seed is not None else build_truth(scale=scale)
    header = f"沙箱评分（批次 {run_id or '全部'}）"
    return header + "\n" + format_score(score_leads(leads, truth))
