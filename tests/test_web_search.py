"""The workbench queue filters, sorts and pages in the database (LeadQueue.search)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pymongo.database import Database

from tests.test_leads import finding, listing
from tiequan.leads.queue import LeadQueue
from tiequan.web import views


def _queue(db: Database[dict[str, Any]]) -> LeadQueue:
    queue = LeadQueue(db)
    pairs = [
        (listing(str(i), licence=False, shop=f"店{i}"), finding(score=0.5 + i / 100))
        for i in range(23)
    ]
    pairs.append((listing("99", licence=False, shop="店99"), finding("miracle_drug", 0.95)))
    queue.record(pairs, run_id="r1")
    return queue


def test_pages_cover_the_filtered_queue_once_in_order(db: Database[dict[str, Any]]) -> None:
    queue = _queue(db)
    f = views.QueueFilter.from_params({"category": "slimming_aphrodisiac", "sort": "score"})
    seen: list[str] = []
    for number in (1, 2, 3):
        f.page = number
        page = views.search_page(queue, f, page_size=10)
        assert page.total == 23 and page.pages == 3
        seen += [str(d["_id"]) for d in page.leads]
    scores = [db.leads.find_one({"_id": i})["score"] for i in seen]  # type: ignore[index]
    assert len(seen) == len(set(seen)) == 23 and scores == sorted(scores, reverse=True)
    f.page = 99  # past the end: the last page
    assert views.search_page(queue, f, page_size=10).page == 3


def test_each_filter_narrows_the_query(db: Database[dict[str, Any]]) -> None:
    queue = _queue(db)

    def total(**params: str) -> int:
        return views.search_page(queue, views.QueueFilter.from_params(params)).total

    assert total() == 24 and total(category="miracle_drug") == 1
    scores = [float(d["score"]) for d in db.leads.find({})]
    middle = sorted(scores)[len(scores) // 2]
    assert total(min_score=str(middle)) == sum(s >= middle for s in scores) < 24
    assert total(platform="demo_shop") == 24 and total(platform="no_such") == 0
    unit = db.leads.find_one({"category": "miracle_drug"})
    assert unit is not None
    assert total(unit=unit["lead_unit_key"]) == total(unit=unit["lead_unit"]) >= 1
    assert total(status="待研判") == 24 and total(claimed_by="nobody") == 0
    today = date.today().isoformat()
    assert total(date_from="2000-01-01") == 24 and total(date_to="2000-01-01") == 0
    assert total(date_from=today, date_to=today) in (0, 24)  # 24 unless midnight in Shanghai


def test_facets_offer_the_values_there_are(db: Database[dict[str, Any]]) -> None:
    queue = _queue(db)
    facets = views.queue_facets(queue)
    assert {v for v, _ in facets["category"]} == {"slimming_aphrodisiac", "miracle_drug"}
    assert [v for v, _ in facets["platform"]] == ["demo_shop"]
