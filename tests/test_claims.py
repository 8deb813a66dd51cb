"""Claims with a lease (LeadQueue.claim_many, renew) and bulk actions (apply_many)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from tests.web_ops import ids, seeded_queue
from tiequan.leads.queue import STATUS_PENDING, STATUS_REVIEWING, LeadQueue, TransitionError
from tiequan.settings import SETTINGS, Environment, SettingError
from tiequan.storage.store import utcnow

LEASE = timedelta(minutes=30)


@pytest.fixture
def queue(db: Database[dict[str, Any]]) -> LeadQueue:
    return seeded_queue(db, n=6, miracle=2)


def test_claim_many_takes_the_best_n_with_a_lease(
    queue: LeadQueue, db: Database[dict[str, Any]]
) -> None:
    order = ids(db)
    now = utcnow()
    taken = queue.claim_many("张三", 3, LEASE, now=now)
    assert [d["_id"] for d in taken] == order[:3]
    for doc in taken:
        stored = db.leads.find_one({"_id": doc["_id"]})
        assert stored is not None and stored["status"] == STATUS_REVIEWING
        assert stored["claimed_by"] == "张三" and stored["lease_until"] == now + LEASE
        assert stored["version"] == doc["version"] == 2
    # Restricted to a query: only its leads; asking for more than there are takes the rest.
    miracle = queue.claim_many("李四", 5, LEASE, query={"category": "miracle_drug"}, now=now)
    assert {d["category"] for d in miracle} == {"miracle_drug"} and len(miracle) == 2
    assert len(queue.claim_many("王五", 20, LEASE, now=now)) == 8 - 3 - 2
    assert queue.claim_many("王五", 1, LEASE, now=now) == []
    assert db.audit.count_documents({"action": "claim", "from_status": STATUS_PENDING}) == 8


def test_claim_uses_the_lease_setting(queue: LeadQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIEQUAN_CLAIM_LEASE_MINUTES", "7")
    lead = queue.claim("张三")
    assert lead is not None
    assert lead["lease_until"] - lead["claimed_at"] == timedelta(minutes=7)
    assert SETTINGS["TIEQUAN_CLAIM_LEASE_MINUTES"].default == 30
    with pytest.raises(SettingError, match=r"TIEQUAN_CLAIM_LEASE_MINUTES.*got '0'"):
        Environment.from_env({"TIEQUAN_CLAIM_LEASE_MINUTES": "0"})
    # A claim through apply (the lead page's button) is leased too.
    other = ids(queue.db, {"status": STATUS_PENDING})[0]
    claimed = queue.apply(other, "claim", "李四")
    assert claimed["lease_until"] - claimed["claimed_at"] == timedelta(minutes=7)


def test_two_reviewers_claiming_at_once_never_share_a_lead(
    db: Database[dict[str, Any]], mongo_uri: str
) -> None:
    queue = seeded_queue(db, n=24, miracle=0)
    claimed: list[tuple[str, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(2)

    def reviewer(name: str) -> None:
        client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
        try:
            q = LeadQueue(client[db.name], queue.categories)
            start.wait()
            while taken := q.claim_many(name, 5, LEASE):
                with lock:
                    claimed.extend((d["_id"], name) for d in taken)
        finally:
            client.close()

    threads = [threading.Thread(target=reviewer, args=(name,)) for name in ("张三", "李四")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = Counter(lead_id for lead_id, _ in claimed)
    assert len(counts) == 24 and set(counts.values()) == {1}
    for doc in db.leads.find():
        assert (doc["_id"], doc["claimed_by"]) in claimed
    assert db.audit.count_documents({"action": "claim"}) == 24


def test_an_expired_lease_is_claimable_again_and_refuses_its_former_holder(
    queue: LeadQueue, db: Database[dict[str, Any]]
) -> None:
    start = utcnow()
    (lead,) = queue.claim_many("张三", 1, LEASE, now=start)
    lead_id = lead["_id"]
    others = len(ids(db)) - 1
    # Within the lease nobody else gets it, nor may act on it.
    within = queue.claim_many("李四", 20, LEASE, now=start + LEASE - timedelta(seconds=1))
    assert lead_id not in {d["_id"] for d in within} and len(within) == others
    with pytest.raises(TransitionError, match=r"由 张三 领取研判中（至 .*），他人不能操作"):
        queue.apply(lead_id, "dismiss", "李四", reason="重复线索", now=start)
    later = start + LEASE + timedelta(seconds=1)
    with pytest.raises(TransitionError, match=r"领取已于.*过期.*请重新领取"):
        queue.apply(lead_id, "confirm", "张三", now=later)
    assert queue.renew(lead_id, "张三", now=later) is None  # an expired lease is not renewed
    (again,) = queue.claim_many("王五", 1, LEASE, now=later)
    assert again["_id"] == lead_id and again["claimed_by"] == "王五"
    record = queue.history(lead_id)[-1]
    assert record["from_status"] == STATUS_REVIEWING and "张三 的领取已过期" in record["reason"]
    # The former holder's stale action is refused; the new holder's goes through.
    with pytest.raises(TransitionError, match="由 王五 领取研判中"):
        queue.apply(lead_id, "release", "张三", now=later)
    assert queue.apply(lead_id, "confirm", "王五", now=later)["status"] == "已确认"


def test_claiming_an_expired_lead_through_apply_takes_it_over(
    queue: LeadQueue, db: Database[dict[str, Any]]
) -> None:
    start = utcnow()
    (lead,) = queue.claim_many("张三", 1, LEASE, now=start)
    with pytest.raises(TransitionError, match="由 张三 领取研判中"):
        queue.apply(lead["_id"], "claim", "李四", now=start + timedelta(minutes=1))
    taken = queue.apply(lead["_id"], "claim", "李四", now=start + LEASE + timedelta(minutes=1))
    assert taken["claimed_by"] == "李四" and taken["status"] == STATUS_REVIEWING


def test_opening_or_acting_renews_only_a_live_lease_one_holds(queue: LeadQueue) -> None:
    start = utcnow()
    (lead,) = queue.claim_many("张三", 1, timedelta(minutes=5), now=start)
    later = start + timedelta(minutes=4)
    assert queue.renew(lead["_id"], "李四", now=later) is None
    until = queue.renew(lead["_id"], "张三", now=later)
    assert until == later + queue.claim_lease
    stored = queue.get(lead["_id"])
    assert stored is not None and stored["lease_until"] == until
    assert stored["version"] == lead["version"]  # not a lifecycle change
    released = queue.apply(lead["_id"], "release", "张三", now=later)
    assert released["lease_until"] is None and released["claimed_by"] is None


def test_apply_many_applies_what_fits_and_says_why_it_skips_the_rest(
    queue: LeadQueue, db: Database[dict[str, Any]]
) -> None:
    mine = [d["_id"] for d in queue.claim_many("张三", 2, LEASE)]
    theirs = [d["_id"] for d in queue.claim_many("李四", 1, LEASE)]
    query = {"category": "slimming_aphrodisiac"}
    dry = queue.apply_many(query, "release", "张三", dry_run=True)
    assert sorted(dry.applied) == sorted(mine) and dry.total == 6
    (pending, n_pending), (theirs_reason, n_theirs) = dry.reasons()
    assert pending.startswith("当前状态为“待研判”，不能执行“退回待研判”") and n_pending == 3
    assert theirs_reason.startswith("由 李四 领取研判中（至 ") and n_theirs == 1
    assert db.leads.count_documents({"claimed_by": "张三"}) == 2  # a dry run writes nothing
    done = queue.apply_many(query, "release", "张三")
    assert sorted(done.applied) == sorted(mine) and len(done.skipped) == 4
    assert theirs[0] in {s.lead_id for s in done.skipped}
    assert db.leads.count_documents({"claimed_by": "张三"}) == 0
    dismissed = queue.apply_many({}, "dismiss", "张三", reason="重复线索")
    assert len(dismissed.applied) == 7 and [s.lead_id for s in dismissed.skipped] == theirs
    assert db.audit.count_documents({"action": "dismiss", "reason": "重复线索"}) == 7
    no_reason = queue.apply_many({"status": "已排除"}, "reopen", "张三")
    assert no_reason.reasons() == [("“重新研判”须填写理由（--reason）", 7)]
