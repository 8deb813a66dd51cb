"""Active learning: leads carry the rule and model signals, analysts can order the queue
by how much a decision would teach the model, and everyone else keeps the default order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from pymongo.database import Database

from detectors.base import Finding, Signals
from pipelines.detect import finding_record as crawled_record
from tests.test_leads import finding, listing
from tests.test_web import PASSWORD, USERS, login
from tiequan.leads.importer_parse import finding_record
from tiequan.leads.learning import informativeness
from tiequan.leads.queue import LeadQueue
from tiequan.storage.store import WEB_AUDIT
from tiequan.web import views
from tiequan.web.accounts import ORDER_ACTIVE, ORDER_DEFAULT, AccountError, Accounts
from tiequan.web.app import create_app

# (shop, score, rule score, model probability, threshold)
CONFIDENT = ("确定店", 0.97, 0.9, 0.95, 0.5)
NEAR = ("临界店", 0.52, 0.5, 0.55, 0.5)  # just over the threshold
SPLIT = ("分歧店", 0.9, 0.0, 0.95, 0.5)  # the classifier alone saw it


def signalled(score: float, rules: float, model: float, threshold: float) -> dict[str, Any]:
    return {**finding(score=score), "signals": Signals(rules, model, threshold).to_json()}


def record(queue: LeadQueue, *cases: tuple[str, float, float, float, float]) -> dict[str, str]:
    """One lead per shop (different parties); their ids by shop."""
    pairs = [(listing(shop, licence=False, shop=shop), signalled(*rest)) for shop, *rest in cases]
    queue.record(pairs, run_id="r1")
    return {d["shop_name"]: str(d["_id"]) for d in queue.coll.find({}, {"shop_name": 1})}


@pytest.fixture
def queue(db: Database[dict[str, Any]]) -> LeadQueue:
    q = LeadQueue(db)
    q.ensure_indexes()
    return q


def test_informativeness_rises_near_the_threshold_and_with_disagreement() -> None:
    agree_far = informativeness(0.97, Signals(0.9, 0.95, 0.5))
    agree_near = informativeness(0.52, Signals(0.5, 0.55, 0.5))
    disagree_far = informativeness(0.9, Signals(0.0, 0.95, 0.5))
    assert agree_far < agree_near and agree_far < disagree_far
    assert 0.0 <= agree_far and agree_near <= 1.0 and disagree_far <= 1.0
    assert informativeness(0.9, None) == 0.0


def test_findings_with_signals_are_stored_on_the_lead(queue: LeadQueue) -> None:
    stored = finding_record(
        Finding("slimming_aphrodisiac", 0.52, "第二十八条", signals=Signals(0.5, 0.55, 0.5)), "x"
    )
    assert stored["signals"] == {"rules": 0.5, "model": 0.55, "threshold": 0.5}
    crawled = Finding("slimming_aphrodisiac", 0.52, "第二十八条", signals=Signals(0.5, 0.55, 0.5))
    assert crawled_record(crawled, "x")["signals"] == stored["signals"]
    assert "signals" not in Finding("slimming_aphrodisiac", 0.5, "第二十八条").to_json()
    ids = record(queue, NEAR)
    lead = queue.get(ids[NEAR[0]])
    assert lead is not None and lead["signals"] == stored["signals"]
    assert lead["informativeness"] == informativeness(0.52, Signals(0.5, 0.55, 0.5)) > 0.0
    assert lead["listings"][0]["signals"] == stored["signals"]
    queue.record([(listing("旧", licence=False, shop="旧"), finding(score=0.6))], run_id="r2")
    plain = queue.coll.find_one({"shop_name": "旧"})
    assert plain is not None and plain["signals"] is None and plain["informativeness"] == 0.0


def test_the_active_order_puts_uncertain_and_disputed_leads_first(queue: LeadQueue) -> None:
    ids = record(queue, CONFIDENT, NEAR, SPLIT)
    # A lead written before signals were stored: no informativeness at all, ranked last.
    queue.record([(listing("旧", licence=False, shop="旧"), finding(score=0.99))], run_id="r0")
    queue.coll.update_one({"shop_name": "旧"}, {"$unset": {"informativeness": "", "signals": ""}})
    learn = views.search_page(queue, views.QueueFilter.from_params({"sort": "learn"}))
    order = [d["shop_name"] for d in learn.leads]
    assert set(order[:2]) == {NEAR[0], SPLIT[0]} and order[2:] == [CONFIDENT[0], "旧"]
    by_score = views.search_page(queue, views.QueueFilter.from_params({"sort": "score"}))
    assert [d["shop_name"] for d in by_score.leads][:2] == ["旧", CONFIDENT[0]]
    # Paging the active order reaches every lead once, the old one included.
    seen: list[str] = []
    after = ""
    f = views.QueueFilter.from_params({"sort": "learn"})
    for number in (1, 2, 3, 4):
        f.page = number
        page = views.search_page(queue, f, page_size=1, after=after)
        seen += [str(d["_id"]) for d in page.leads]
        after = page.last_cursor
    assert seen == [str(d["_id"]) for d in learn.leads] and len(set(seen)) == 4
    assert ids[NEAR[0]] in seen


@pytest.fixture
def accounts(db: Database[dict[str, Any]]) -> Accounts:
    accounts = Accounts(db, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for name, (role, extra) in USERS.items():
        accounts.add(name, role, PASSWORD, **extra)
    return accounts


@pytest.fixture
def client(
    db: Database[dict[str, Any]], queue: LeadQueue, accounts: Accounts
) -> Iterator[TestClient]:
    with TestClient(create_app(db, queue=queue, accounts=accounts), follow_redirects=False) as c:
        yield c


def first_shop(page: str) -> str:
    """The shop of the first of the three leads in the queue page."""
    rows = page[page.index("<table") :]
    shown = [name for name in (CONFIDENT[0], NEAR[0], SPLIT[0]) if name in rows]
    assert len(shown) == 3, rows
    return min(shown, key=rows.index)


def test_the_order_is_a_per_user_option_and_the_default_is_unchanged(
    client: TestClient, queue: LeadQueue, accounts: Accounts, db: Database[dict[str, Any]]
) -> None:
    record(queue, CONFIDENT, NEAR, SPLIT)
    csrf = login(client, "ana")
    page = client.get("/leads").text
    assert (
        first_shop(page) == CONFIDENT[0] and "我的队列顺序" in page
    )  # default: newest, then score
    response = client.post("/leads/order", data={"csrf": csrf, "order": ORDER_ACTIVE})
    assert response.status_code == 303
    assert first_shop(client.get("/leads").text) in (NEAR[0], SPLIT[0])
    assert first_shop(client.get("/leads?sort=score").text) == CONFIDENT[0]  # a chosen sort wins
    audit = db[WEB_AUDIT].find_one({"action": "queue_order", "username": "ana"})
    assert audit is not None and audit["detail"] == {"order": ORDER_ACTIVE}
    client.post("/logout", data={"csrf": csrf})
    for other in ("adm", "rev"):
        csrf = login(client, other)
        page = client.get("/leads").text
        assert first_shop(page) == CONFIDENT[0], other
        assert ("最有助于模型学习" in page) is (other == "adm")
        client.post("/logout", data={"csrf": csrf})
    # It persists: a new session of the analyst still sees the active order.
    login(client, "ana")
    assert first_shop(client.get("/leads").text) in (NEAR[0], SPLIT[0])
    assert accounts.preferences("ana").queue_order == ORDER_ACTIVE
    assert accounts.preferences("adm").queue_order == ORDER_DEFAULT


def test_an_unknown_order_is_refused_naming_the_value(accounts: Accounts) -> None:
    with pytest.raises(AccountError, match="sideways"):
        accounts.set_queue_order("ana", "sideways")
    assert accounts.preferences("ana").queue_order == ORDER_DEFAULT


def test_windowed_reads_of_the_active_order_match_a_full_sort(queue: LeadQueue) -> None:
    """Enough leads that the first page is read a window of the index at a time."""
    cases = [
        (f"店{i}", 0.5 + (i % 10) / 20, (i % 7) / 6, (i % 5) / 4, 0.5) for i in range(60)
    ]  # fmt: skip
    record(queue, *cases)
    docs = list(queue.coll.find({}, {"informativeness": 1}))
    expected = [d["_id"] for d in sorted(docs, key=lambda d: (-d["informativeness"], d["_id"]))]
    f = views.QueueFilter.from_params({"sort": "learn"})
    seen: list[str] = []
    for number in range(1, 7):
        f.page = number
        seen += [str(d["_id"]) for d in views.search_page(queue, f, page_size=10).leads]
    assert seen == expected
    windowed = [s for s in queue.spans.spans if "informativeness" in s]
    assert windowed, "the first page should have been read through a window"
