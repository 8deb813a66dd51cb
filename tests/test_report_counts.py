"""The run report's lead counts by id agree with the counts by run id."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from tiequan.sweep.report import count_leads, count_leads_by_id

RUN = "R20261202T010000-aaaa"


def test_counts_by_id_in_chunks_match_counts_by_run(db: Database[dict[str, Any]]) -> None:
    rows = [
        ("L1", "vinegar", "食品科", [RUN]),
        ("L2", "vinegar", "食品科", ["R-earlier", RUN]),
        ("L3", "licence", "登记科", [RUN]),
        ("L4", "licence", "登记科", ["R-earlier"]),  # another run's lead
        ("L5", "price", None, [RUN]),
    ]
    db.leads.insert_many(
        [{"_id": i, "category": c, "lead_unit": u, "run_ids": r} for i, c, u, r in rows]
    )
    ids = {i for i, _c, _u, runs in rows if RUN in runs}
    counts = count_leads_by_id(db, ids, ("category", "lead_unit"), chunk=2)
    assert counts["category"] == {"licence": 1, "price": 1, "vinegar": 2}
    assert counts["lead_unit"] == {"None": 1, "登记科": 1, "食品科": 2}
    assert counts["category"] == count_leads(db, RUN, "category")
    assert counts["lead_unit"] == count_leads(db, RUN, "lead_unit")
