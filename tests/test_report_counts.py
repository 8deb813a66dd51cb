"""The run report's lead counts from the refer stages agree with the counts by run id."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from tiequan.leads.cases import LeadRoute
from tiequan.sweep.report import count_leads, count_routes

RUN = "R20261202T010000-aaaa"


def test_counts_of_the_recorded_leads_match_counts_by_run(db: Database[dict[str, Any]]) -> None:
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
    recorded = {i: LeadRoute(c, u) for i, c, u, runs in rows if RUN in runs}
    by_category, by_unit = count_routes(recorded)
    assert by_category == {"licence": 1, "price": 1, "vinegar": 2}
    assert by_unit == {"None": 1, "登记科": 1, "食品科": 2}
    assert by_category == count_leads(db, RUN, "category")
    assert by_unit == count_leads(db, RUN, "lead_unit")
