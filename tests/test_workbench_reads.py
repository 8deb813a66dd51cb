"""The workbench's narrowed reads (issue 11) return what the plain reads return."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import UpdateOne
from pymongo.database import Database

from tests.test_leads import finding, listing
from tiequan.evidence.manifest import evidence_sets
from tiequan.leads.lifecycle import FINAL, STATUSES
from tiequan.leads.model import Case
from tiequan.leads.queue import LeadQueue
from tiequan.storage.store import EVIDENCE, Store
from tiequan.storage.window import (
    Cursor,
    Exclusion,
    SpanMemo,
    WindowKey,
    first_ids,
    ids_beyond,
)
from tiequan.web import views
from tiequan.web.accounts import User
from tiequan.web.sessions import EXTEND_EVERY, IDLE, Sessions

NOW = datetime.now(UTC).replace(microsecond=0)
REVIEWERS = ("ana", "bo", None)


@pytest.fixture
def queue(db: Database[dict[str, Any]]) -> LeadQueue:
    """60 leads over 40 days, with ties in time and score, every status, some overdue."""
    rng = random.Random(11)
    queue = LeadQueue(db)
    queue.ensure_indexes()
    for batch in range(12):
        pairs = [
            (listing(f"{batch}-{i}", licence=False, shop=f"店{batch}-{i}"), finding())
            for i in range(5)
        ]
        queue.record(pairs, run_id=f"r{batch}", now=NOW - timedelta(days=batch * 3.5))
    writes = []
    for doc in db.leads.find({}, {"_id": 1}):
        status = rng.choice(STATUSES)
        due = None if status in FINAL else NOW + timedelta(hours=rng.randrange(-900, 40))
        fields = {
            "status": status,
            "due_at": due,
            "status_at": NOW - timedelta(hours=rng.randrange(0, 900)),
            "score": rng.choice((0.5, 0.75, 0.9, 0.9, round(rng.random(), 3))),
            "claimed_by": rng.choice(REVIEWERS),
        }
        writes.append(UpdateOne({"_id": doc["_id"]}, {"$set": fields}))
    db.leads.bulk_write(writes)
    return queue


TEST_WINDOWS = {
    "created_at": WindowKey("created_at", True, 3600, 3650 * 86400),
    "status_at": WindowKey("status_at", True, 3600, 3650 * 86400),
    "score": WindowKey("score", True, 0.01, 1.0, anchor=1.0),
}
QUERIES = [{}, {"status": "待研判"}, {"score": {"$gte": 0.6}}, {"created_at": {"$lt": NOW}}]


def plain(
    db: Database[dict[str, Any]], query: dict[str, Any], sort: list[tuple[str, int]]
) -> list[str]:
    return [d["_id"] for d in db.leads.find(query, {"_id": 1}).sort(sort)]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("field", sorted(TEST_WINDOWS))
def test_windows_give_the_plain_order(
    queue: LeadQueue, db: Database[dict[str, Any]], query: dict[str, Any], field: str
) -> None:
    sort = [(field, -1), ("_id", 1)]
    key = TEST_WINDOWS[field]
    expected = plain(db, query, sort)
    memo = SpanMemo()
    for need in (1, 7, 20, len(expected)):
        ids = first_ids(db.leads, query, sort, key, need, memo)
        if ids is not None:  # None: the caller reads the query whole
            assert ids == expected[:need]
    assert first_ids(db.leads, query, sort, key, 5, memo) == expected[:5]
    assert first_ids(db.leads, query, sort, key, len(expected) + 1, memo) is None


def test_a_window_refuses_what_it_cannot_serve(
    queue: LeadQueue, db: Database[dict[str, Any]]
) -> None:
    key = WindowKey("due_at", False, 86400, 730 * 86400)
    sort = [("due_at", 1), ("_id", 1)]
    # Ascending without a range on the key: leads without a due date would come first.
    assert first_ids(db.leads, {}, sort, key, 5) is None
    assert first_ids(db.leads, {"due_at": NOW}, sort, key, 5) is None  # not a range
    assert first_ids(db.leads, {}, [("score", -1)], key, 5) is None  # not the leading key
    overdue = {"due_at": {"$lt": NOW}, "status": {"$nin": sorted(FINAL)}}
    assert first_ids(db.leads, overdue, sort, key, 4) == plain(db, overdue, sort)[:4]
    # The same leads when the closed ones are left out on the client instead.
    open_only = Exclusion("status", frozenset(FINAL))
    due = {"due_at": {"$lt": NOW}}
    for need in (1, 4, 9):
        assert (
            first_ids(db.leads, due, sort, key, need, unless=open_only)
            == (plain(db, overdue, sort)[:need])
        )


@pytest.mark.parametrize("field", sorted(TEST_WINDOWS))
def test_a_remembered_window_holds_what_was_asked_not_the_window_that_found_it(
    queue: LeadQueue, db: Database[dict[str, Any]], field: str
) -> None:
    sort = [(field, -1), ("_id", 1)]
    # A first window that holds nearly every lead, so the one remembered must be narrower.
    first = TEST_WINDOWS[field]
    key = WindowKey(field, True, first.limit * 0.99, first.limit, first.anchor)
    open_query = {"status": {"$nin": sorted(FINAL)}}
    expected = plain(db, open_query, sort)
    memo, need = SpanMemo(), 6
    open_only = Exclusion("status", frozenset(FINAL))
    for _ in range(2):  # the second read starts from the remembered span
        assert first_ids(db.leads, {}, sort, key, need, memo, unless=open_only) == expected[:need]
        (span,) = memo.spans.values()
        held = db.leads.count_documents({**open_query, field: {"$gte": key.bound(span)}})
        assert need <= held < len(expected)


def test_search_pages_match_the_plain_query(queue: LeadQueue, db: Database[dict[str, Any]]) -> None:
    for params in ({}, {"sort": "score"}, {"sort": "status", "status": "待研判"}, {"sort": "due"}):
        f = views.QueueFilter.from_params(params)
        key, descending, _ = views.SORTS[f.sort]
        sort = [(key, -1 if descending else 1), ("_id", 1)]
        expected = plain(db, f.query(), sort)
        seen: list[str] = []
        for page in range(1, 5):
            f.page = page
            result = views.search_page(queue, f, page_size=8)
            assert result.total == len(expected)
            if page <= result.pages:
                seen += [d["_id"] for d in result.leads]
        assert seen == expected[:32]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("field", sorted(TEST_WINDOWS))
def test_keyset_reads_follow_and_precede_any_row_as_the_plain_order_does(
    queue: LeadQueue, db: Database[dict[str, Any]], query: dict[str, Any], field: str
) -> None:
    sort = [(field, -1), ("_id", 1)]
    key = TEST_WINDOWS[field]
    expected = plain(db, query, sort)
    rows = {d["_id"]: d for d in db.leads.find(query)}
    memo = SpanMemo()
    for at in sorted({0, 1, len(expected) // 2, len(expected) - 2, len(expected) - 1}):
        cursor = Cursor(rows[expected[at]][field], expected[at])
        after = ids_beyond(db.leads, query, key, cursor, 6, memo=memo)
        assert after == expected[at + 1 : at + 7]
        before = ids_beyond(db.leads, query, key, cursor, 6, backward=True, memo=memo)
        assert before == expected[max(0, at - 6) : at][::-1]


def test_the_pager_walks_the_queue_by_cursor_both_ways(
    queue: LeadQueue, db: Database[dict[str, Any]]
) -> None:
    for params in ({}, {"sort": "score"}, {"sort": "status", "min_score": "0.6"}):
        f = views.QueueFilter.from_params(params)
        key, descending, _ = views.SORTS[f.sort]
        expected = plain(db, f.query(), [(key, -1 if descending else 1), ("_id", 1)])
        pages = [views.search_page(queue, f, page_size=7)]
        while pages[-1].page < pages[-1].pages:
            f.page = pages[-1].page + 1
            pages.append(views.search_page(queue, f, page_size=7, after=pages[-1].last_cursor))
        assert [d["_id"] for p in pages for d in p.leads] == expected
        back = pages[-1]
        for number in range(len(pages) - 1, 0, -1):
            f.page = number
            back = views.search_page(queue, f, page_size=7, before=back.first_cursor)
            assert [d["_id"] for d in back.leads] == [d["_id"] for d in pages[number - 1].leads]


def test_a_forged_cursor_pages_by_number(queue: LeadQueue, db: Database[dict[str, Any]]) -> None:
    f = views.QueueFilter.from_params({"sort": "created"})
    f.page = 2
    by_number = [d["_id"] for d in views.search_page(queue, f, page_size=5).leads]
    for raw in ("x|y", "2026-13-01|L-1", "|", "no-separator", "1.0|" + "x" * 300):
        assert views.decode_cursor(raw, "created_at") is None
        page = views.search_page(queue, f, page_size=5, after=raw)
        assert [d["_id"] for d in page.leads] == by_number


def test_todo_lists_are_the_open_leads_i_hold_due_today_and_overdue(
    queue: LeadQueue, db: Database[dict[str, Any]]
) -> None:
    user = User("ana", "reviewer", "Ana")
    lists = views.todo(queue, user, NOW)
    leads = queue.list(limit=None)  # newest first: the order of the lists' ties
    mine = [d["_id"] for d in leads if d.get("claimed_by") == "ana" and d["status"] not in FINAL]
    assert [d["_id"] for d in lists["mine"]] == mine and mine
    end = datetime.combine(
        NOW.astimezone(views.SHANGHAI).date() + timedelta(days=1), datetime.min.time()
    ).replace(tzinfo=views.SHANGHAI)
    due = [
        d for d in leads if d["status"] not in FINAL and d["due_at"] and NOW <= d["due_at"] < end
    ]
    due.sort(key=lambda d: d["due_at"])
    assert [d["_id"] for d in lists["due_today"]] == [d["_id"] for d in due]
    overdue = plain(
        db, {"due_at": {"$lt": NOW}, "status": {"$nin": sorted(FINAL)}}, [("due_at", 1), ("_id", 1)]
    )
    assert [d["_id"] for d in lists["overdue"]] == overdue and overdue
    assert [d["_id"] for d in queue.overdue(now=NOW, limit=3)] == overdue[:3]
    assert set(lists["mine"][0]) == {"_id", *views.ROW_FIELDS} - {"jurisdiction.bureau_name"} | {
        "jurisdiction"
    }


def test_facet_cache_serves_its_copy_until_refreshed(queue: LeadQueue) -> None:
    cache = views.FacetCache(max_age=3600)
    first = views.queue_facets(queue, cache)
    assert first == views.queue_facets(queue)
    queue.record([(listing("new", licence=False, shop="新店"), finding("miracle_drug"))], "r9")
    assert views.queue_facets(queue, cache) == first  # served from the copy
    fresh = cache.refresh(queue)
    assert "miracle_drug" in {v for v, _ in fresh["category"]} - {v for v, _ in first["category"]}
    assert views.queue_facets(queue, cache) == fresh


def test_evidence_sets_merge_both_halves_in_capture_order(
    queue: LeadQueue, db: Database[dict[str, Any]]
) -> None:
    lead = db.leads.find_one({})
    assert lead is not None
    case = Case.from_doc(lead)
    at = datetime(2024, 6, 1, tzinfo=UTC)
    db[EVIDENCE].insert_many(
        [
            {"_id": "E3", "party_key": case.party_key, "categories": [case.category],
             "lead_ids": [case.id], "captured_at": at},
            {"_id": "E1", "party_key": "other", "categories": [], "lead_ids": [case.id],
             "captured_at": at + timedelta(days=1)},
            {"_id": "E2", "party_key": case.party_key, "categories": [case.category],
             "lead_ids": [], "captured_at": at},
            {"_id": "E4", "party_key": case.party_key, "categories": ["x"], "lead_ids": [],
             "captured_at": at},
        ]
    )  # fmt: skip
    assert [d["_id"] for d in evidence_sets(db, case)] == ["E2", "E3", "E1"]


def test_get_listings_reads_the_stored_listings_by_key(db: Database[dict[str, Any]]) -> None:
    store = Store(db)
    store.record_listings([listing("a"), listing("b")], run_id="R1")
    found = store.get_listings([("demo_shop", "a"), ("demo_shop", "b"), ("demo_shop", "zz")])
    assert sorted(found) == [("demo_shop", "a"), ("demo_shop", "b")]
    assert found[("demo_shop", "a")]["title"] == listing("a")["title"]
    assert store.get_listings([]) == {}


def test_a_session_is_extended_at_most_once_a_minute(db: Database[dict[str, Any]]) -> None:
    sessions = Sessions(db)
    token = sessions.create("ana")
    created = db.web_sessions.find_one({})
    assert created is not None
    start = created["created_at"]
    assert sessions.get(token, now=start + timedelta(seconds=30)) is not None
    assert db.web_sessions.find_one({})["expires_at"] == created["expires_at"]  # type: ignore[index]
    later = start + EXTEND_EVERY + timedelta(seconds=1)
    assert sessions.get(token, now=later) is not None
    assert db.web_sessions.find_one({})["expires_at"] == later + IDLE  # type: ignore[index]
