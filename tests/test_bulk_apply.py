"""apply_many writes exactly what one apply per lead would, in batches, and stays race safe."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import MongoClient, monitoring
from pymongo.database import Database
from pymongo.errors import AutoReconnect

from tests.test_leads import finding, listing
from tests.web_ops import ids
from tiequan.leads import bulk
from tiequan.leads.bulk import BulkAction, BulkSteps, Step
from tiequan.leads.claims import BulkResult, Skipped
from tiequan.leads.labels import Label, LabelStore
from tiequan.leads.queue import LeadQueue, TransitionError
from tiequan.storage.store import AUDIT, LABELS, LEADS, LISTINGS, Store

T0 = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=10)  # inside the leases taken at T0, past those of T0 - 1 h
N = 18
CHANGED = "刚被他人修改，请查看最新状态后重试"


@pytest.fixture
def twin(mongo_client: MongoClient[dict[str, Any]]) -> Iterator[Database[dict[str, Any]]]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield mongo_client[name]
    mongo_client.drop_database(name)


def seed(db: Database[dict[str, Any]]) -> LeadQueue:
    """``N`` leads in every state a bulk action meets; the last two have no stored texts."""
    queue = LeadQueue(db)
    queue.ensure_indexes()
    listings = [listing(str(i), licence=False, shop=f"店{i}") for i in range(N)]
    Store(db).record_listings(listings[:-2], run_id="r1")
    pairs = [(x, finding(score=0.5 + i / 100)) for i, x in enumerate(listings)]
    queue.record(pairs, run_id="r1", now=T0)
    order = ids(db)
    early = T0 - timedelta(hours=1)
    for i, steps in {
        0: [("claim", "张三", T0)],
        1: [("claim", "张三", T0)],
        2: [("claim", "李四", T0)],
        3: [("claim", "李四", early)],  # lease expired by NOW
        4: [("claim", "张三", early)],
        5: [("confirm", "张三", T0)],
        6: [("confirm", "张三", T0)],
        7: [("confirm", "张三", T0), ("refer", "张三", T0)],
        8: [("confirm", "张三", T0), ("admonish", "张三", T0)],
        9: [("dismiss", "张三", T0)],
        10: [("dismiss", "张三", T0)],
    }.items():
        for action, actor, at in steps:
            queue.apply(order[i], action, actor, reason="先前的决定", now=at)
    return queue


def copy(source: Database[dict[str, Any]], target: Database[dict[str, Any]]) -> LeadQueue:
    for name in (LEADS, LISTINGS, AUDIT, LABELS):
        docs = list(source[name].find())
        if docs:
            target[name].insert_many(docs)
    return LeadQueue(target)


def snapshot(db: Database[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {name: list(db[name].find().sort([("_id", 1)])) for name in (LEADS, AUDIT, LABELS)}


def one_apply_per_lead(
    queue: LeadQueue, action: str, actor: str, reason: str | None, outcome: str | None
) -> BulkResult:
    """The reference: ``apply`` on each lead in claim order."""
    result = BulkResult()
    for lead_id in ids(queue.db):
        try:
            queue.apply(lead_id, action, actor, reason=reason, outcome=outcome, now=NOW)
        except TransitionError as exc:
            result.skipped.append(Skipped(lead_id, str(exc).replace(f"线索 {lead_id} ", "")))
        else:
            result.applied.append(lead_id)
    return result


@pytest.mark.parametrize(
    ("action", "reason", "outcome"),
    [
        ("claim", None, None),
        ("release", None, None),
        ("confirm", "证据充分", None),
        ("refer", None, None),
        ("admonish", None, None),
        ("dismiss", "重复线索", None),
        ("close", None, "已责令下架"),
        ("reopen", "复核", None),
        ("police", None, None),  # needs a reason: every lead is skipped
    ],
)
def test_apply_many_writes_what_one_apply_per_lead_writes(
    db: Database[dict[str, Any]],
    twin: Database[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    action: str,
    reason: str | None,
    outcome: str | None,
) -> None:
    monkeypatch.setattr(bulk, "BATCH", 4)  # several batches, and fewer fitting leads than N
    queue = seed(db)
    reference = copy(db, twin)
    assert snapshot(db) == snapshot(twin)
    expected = one_apply_per_lead(reference, action, "张三", reason, outcome)
    assert expected.applied or action == "police"
    got = queue.apply_many({}, action, "张三", reason, outcome, now=NOW)
    assert got == expected
    assert snapshot(db) == snapshot(twin)
    dry = queue.apply_many({}, action, "张三", reason, outcome, dry_run=True, now=NOW)
    assert dry.total == N  # after the step, nothing is applied twice
    assert db.audit.count_documents({}) == twin.audit.count_documents({})


def test_the_batches_are_a_few_writes_each(
    db: Database[dict[str, Any]], mongo_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(db)
    monkeypatch.setattr(bulk, "BATCH", 3)
    commands: Counter[tuple[str, str]] = Counter()

    class Listener(monitoring.CommandListener):
        def started(self, event: monitoring.CommandStartedEvent) -> None:
            name = event.command_name
            commands[(name, str(event.command.get(name)))] += 1

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            pass

        def failed(self, event: monitoring.CommandFailedEvent) -> None:
            pass

    client: MongoClient[dict[str, Any]] = MongoClient(
        mongo_uri, tz_aware=True, event_listeners=[Listener()]
    )
    try:
        queue = LeadQueue(client[db.name])
        result = queue.apply_many({"status": "待研判"}, "dismiss", "张三", "重复线索", now=NOW)
    finally:
        client.close()
    assert len(result.applied) == N - 11 and not result.skipped
    batches = -(-(N - 11) // 3)
    assert commands[("update", LEADS)] == batches
    assert commands[("insert", AUDIT)] == commands[("insert", LABELS)] == batches
    assert commands[("find", LISTINGS)] == batches
    assert commands[("find", LEADS)] == 1 + batches  # the selection, then each batch afresh


def test_a_lead_changed_between_the_read_and_the_write_is_skipped_without_audit_or_label(
    db: Database[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = seed(db)
    pending = ids(db, {"status": "待研判"})
    claimed, confirmed, removed = pending[:3]
    write = BulkSteps.write

    def meanwhile(steps: BulkSteps, action: BulkAction, planned: list[Step]) -> dict[str, str]:
        queue.apply(claimed, "claim", "李四", now=NOW)
        # The same next version as the bulk step's own: only its author may count it.
        queue.apply(confirmed, "confirm", "王五", now=NOW)
        db.leads.delete_one({"_id": removed})
        return write(steps, action, planned)

    monkeypatch.setattr(BulkSteps, "write", meanwhile)
    result = queue.apply_many({"status": "待研判"}, "confirm", "张三", "证据充分", now=NOW)
    assert result.skipped == [Skipped(i, CHANGED) for i in (claimed, confirmed, removed)]
    assert result.applied == pending[3:]
    assert db.leads.count_documents({"_id": removed}) == 0  # no stub of the removed lead
    lost = {"lead_id": {"$in": [claimed, confirmed, removed]}}
    assert db.audit.count_documents({**lost, "actor": "张三"}) == 0
    assert db.labels.count_documents({**lost, "actor": "张三"}) == 0
    assert queue.history(confirmed)[-1]["actor"] == "王五"
    (label,) = LabelStore(db).for_lead(confirmed)
    assert label.actor == "王五" and label.id == f"{confirmed}:2"
    for lead_id in pending[3:]:
        (record,) = queue.history(lead_id)
        assert record["actor"] == "张三" and record["_id"] == f"{lead_id}:2"
        assert [x.id for x in LabelStore(db).for_lead(lead_id)] == [f"{lead_id}:2"]


def test_a_run_again_after_a_failure_writes_each_audit_record_and_label_once(
    db: Database[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = seed(db)
    monkeypatch.setattr(bulk, "BATCH", 3)
    pending = ids(db, {"status": "待研判"})
    record_many = LabelStore.record_many
    calls: list[int] = []

    def lost_reply(store: LabelStore, labels: list[Label]) -> int:
        written = record_many(store, labels)
        calls.append(written)
        if len(calls) == 2:
            raise AutoReconnect("connection closed before the reply")
        return written

    monkeypatch.setattr(LabelStore, "record_many", lost_reply)
    with pytest.raises(AutoReconnect):
        queue.apply_many({"status": "待研判"}, "dismiss", "张三", "重复线索", now=NOW)
    assert db.leads.count_documents({"_id": {"$in": pending}, "status": "已排除"}) == 6
    monkeypatch.setattr(LabelStore, "record_many", record_many)
    again = queue.apply_many({"_id": {"$in": pending}}, "dismiss", "张三", "重复线索", now=NOW)
    assert again.applied == pending[6:]
    assert [s.lead_id for s in again.skipped] == pending[:6]
    assert {s.reason for s in again.skipped} == {
        "当前状态为“已排除”，不能执行“排除”；此状态下可执行：重新研判"
    }
    for lead_id in pending:
        assert [r["action"] for r in queue.history(lead_id)] == ["dismiss"]
        assert len(LabelStore(db).for_lead(lead_id)) == 1
    # Sending a batch again (a retry) writes nothing twice and says the leads moved.
    steps = queue.bulk_steps()
    reopen = BulkAction("reopen", "张三", "复核", None, NOW)
    planned, refused = steps.plan(reopen, pending[:1])
    assert len(planned) == 1 and not refused
    before = snapshot(db)
    assert steps.write(reopen, planned) == {}
    assert steps.write(reopen, planned) == {pending[0]: CHANGED}
    assert LabelStore(db).record_many(LabelStore(db).for_lead(pending[1])) == 0
    after = snapshot(db)
    assert len(after[AUDIT]) == len(before[AUDIT]) + 1
    assert len(after[LABELS]) == len(before[LABELS]) + 1
    assert queue.history(pending[0])[-1]["action"] == "reopen"
