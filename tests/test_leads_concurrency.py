"""Leads stay idempotent across workers: two writers with their own clients referring the
same findings at the same moment make one lead per case, holding every listing once.

Lead creation is an ``insert_many`` of cases whose ``_id`` derives from (party, category)
and whose ``lead_case_key`` index is unique (no upsert: the loser's duplicate-key error
sends it to the version-guarded update path, tiequan.leads.cases).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database

from tests.test_leads import finding, listing, shop_party
from tiequan.leads.cases import RecordResult, make_lead_id
from tiequan.leads.queue import LeadQueue
from tiequan.storage.store import INDEXES, LEADS

ROUNDS = 12
Pairs = list[tuple[dict[str, Any], dict[str, Any]]]


def _race(
    mongo_uri: str, db_name: str, work: Callable[[int, int], Pairs]
) -> list[list[RecordResult]]:
    """Two threads, each with its own client and queue, record ``work(worker, round)`` at
    the same moment (a barrier per round); their results per worker, by round."""
    barrier = threading.Barrier(2)
    results: list[list[RecordResult]] = [[], []]
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
        try:
            queue = LeadQueue(client[db_name])
            for r in range(ROUNDS):
                pairs = work(n, r)
                barrier.wait(timeout=60)
                results[n].append(queue.record(pairs, run_id=f"R{n}"))
        except BaseException as exc:  # handed to the test thread, which re-raises it
            errors.append(exc)
            barrier.abort()
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    if errors:
        raise errors[0]
    return results


def test_lead_creation_rests_on_a_unique_case_key() -> None:
    keys = {m.document["name"]: m.document for m in INDEXES[LEADS]}
    assert keys["lead_case_key"].get("unique") is True
    assert list(keys["lead_case_key"]["key"]) == ["party_key", "category"]


def test_two_workers_referring_the_same_finding_make_one_lead(
    db: Database[dict[str, Any]], mongo_uri: str
) -> None:
    LeadQueue(db).ensure_indexes()
    results = _race(
        mongo_uri,
        db.name,
        lambda n, r: [(listing(f"same{r}", licence=False, shop=f"店{r}"), finding())],
    )
    for r in range(ROUNDS):
        lead_id = make_lead_id(shop_party(f"店{r}"), "slimming_aphrodisiac")
        docs = list(db[LEADS].find({"party_key": shop_party(f"店{r}")}))
        assert [d["_id"] for d in docs] == [lead_id], f"round {r}"
        assert [e["item_id"] for e in docs[0]["listings"]] == [f"same{r}"]
        # Exactly one writer created it; both name it among the cases they touched.
        assert results[0][r].new + results[1][r].new == 1, f"round {r}"
        assert lead_id in results[0][r].case_ids and lead_id in results[1][r].case_ids
        assert sorted(docs[0]["run_ids"]) == ["R0", "R1"]
    assert db[LEADS].count_documents({}) == ROUNDS


def test_two_workers_adding_different_listings_to_one_case_keep_both(
    db: Database[dict[str, Any]], mongo_uri: str
) -> None:
    queue = LeadQueue(db)
    queue.ensure_indexes()
    # The cases exist already: both workers race on the version-guarded update.
    queue.record(
        [(listing(f"first{r}", licence=False, shop=f"店{r}"), finding()) for r in range(ROUNDS)],
        run_id="R-",
    )
    _race(
        mongo_uri,
        db.name,
        lambda n, r: [(listing(f"w{n}-{r}", licence=False, shop=f"店{r}"), finding())],
    )
    for r in range(ROUNDS):
        docs = list(db[LEADS].find({"party_key": shop_party(f"店{r}")}))
        assert len(docs) == 1, f"round {r}"
        items = sorted(e["item_id"] for e in docs[0]["listings"])
        assert items == sorted([f"first{r}", f"w0-{r}", f"w1-{r}"]), f"round {r}"
        assert docs[0]["version"] == 3  # created, then one write by each worker
