"""The typed case model: every stored lead document reads into a Case and back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.database import Database

from tests.test_leads import CODE, PARTY, finding, listing
from tiequan.leads.cases import upgrade_legacy_leads
from tiequan.leads.followup import Outcome, build_plan, record_followups
from tiequan.leads.model import Case, CaseDocError, CaseListing, ImageClaim, PartyDoc
from tiequan.leads.queue import LeadQueue, make_lead_id
from tiequan.party import party_from_listing
from tiequan.party.jurisdiction_config import load_jurisdictions

NIGHT1 = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)
NIGHT2 = NIGHT1 + timedelta(days=1)


@pytest.fixture
def queue(db: Database[dict[str, Any]]) -> LeadQueue:
    q = LeadQueue(db)
    q.ensure_indexes()
    return q


def assert_round_trip(doc: dict[str, Any]) -> Case:
    case = Case.from_doc(doc)
    assert case.to_doc() == doc
    return case


def test_every_lead_the_queue_writes_round_trips(
    queue: LeadQueue, db: Database[dict[str, Any]]
) -> None:
    image = {"url": "https://img.example/1.jpg", "text": "一周瘦八斤"}
    queue.record([(listing("1"), finding()), (listing("2"), finding(score=0.7))], "R1", now=NIGHT1)
    queue.record(
        [(listing("3", licence=False), dict(finding("miracle_drug"), image=image))],
        "R1",
        now=NIGHT1,
        source="tip",
        source_ref="举报表 第2行",
    )
    queue.record([(listing("1"), finding())], "R2", now=NIGHT2)
    lead_id = make_lead_id(PARTY, "slimming_aphrodisiac")
    snapshots = [queue.get(lead_id)]
    for action, extra in [
        ("claim", {}),
        ("confirm", {"reason": "证据充分"}),
        ("refer", {}),
    ]:
        snapshots.append(queue.apply(lead_id, action, "张三", now=NIGHT2, **extra))
    plan = build_plan(db.leads, ["demo_shop"])
    outcomes = [Outcome(t, "removed", "R3", NIGHT2, "EV1", {"status": 404}) for t in plan]
    assert record_followups(db.leads, outcomes) == 1
    snapshots.append(queue.apply(lead_id, "close", "李四", outcome="已立案查处", now=NIGHT2))
    db.leads.update_one({"_id": lead_id}, {"$push": {"imports": {"key": "k1", "row": 2}}})
    queue.reroute(None, "配置更新", jurisdictions=load_jurisdictions())
    docs = [*snapshots, *db.leads.find()]
    assert len(docs) == 7
    for doc in docs:
        assert doc is not None
        assert_round_trip(doc)

    case = queue.get_case(lead_id.lower())
    assert case is not None and case.id == lead_id
    assert case.status == "已办结" and case.party is not None and case.party.credit_code == CODE
    assert case.decision is not None and case.decision.by == "李四"
    assert case.outcome is not None and case.outcome.text == "已立案查处"
    assert case.referral is not None and case.co_units is not None
    assert case.referral.units == (case.lead_unit, *case.co_units)
    assert case.followups and case.followups[0].state == "removed"
    assert case.followups[0].extra == {"status": 404}
    assert case.imports == ({"key": "k1", "row": 2},)
    assert case.listings is not None
    first = next(e for e in case.listings if e.item_id == "1")
    assert isinstance(first, CaseListing) and first.run_ids == ("R1", "R2")
    assert first.seen_count == 2 and first.spans == ((0, 4),) and first.state == "removed"
    tip = next(c for c in queue.list_cases(limit=None) if c.source == "tip")
    assert tip.image == ImageClaim(url=image["url"], text=image["text"])
    assert tip.listings is not None and tip.listings[0].image == tip.image
    assert [c.id for c in queue.list_cases(limit=None)] == [
        d["_id"] for d in queue.list(limit=None)
    ]
    assert queue.get_case("XS0000000000") is None
    overdue = [d["_id"] for d in queue.overdue(now=NIGHT2 + timedelta(days=30))]
    assert overdue and [c.id for c in queue.overdue_cases(NIGHT2 + timedelta(days=30))] == overdue


def schema1_lead() -> dict[str, Any]:
    """A lead as written before cases: one per listing and category."""
    return {
        "_id": "XS1A2B3C4D5E",
        "schema": 1,
        "category": "slimming_aphrodisiac",
        "category_name": "声称减肥、壮阳等食品非法添加",
        "platform": "demo_shop",
        "item_id": "1",
        "title": "纤体速效茶",
        "url": "https://shop.example/item/1",
        "shop_name": "小美保健专营店",
        "listing": {"price": 39.9, "kind": "product", "captured_at": "2024-06-01T02:00:00+08:00"},
        "party": {"credit_code": CODE, "name": "某某商行", "address": None, "url": None},
        "score": 0.9,
        "severity": "立案",
        "article": "《食品安全法》第七十三条",
        "explanation": "普通食品宣称减肥功效。",
        "matched": ["瘦八斤"],
        "spans": [[0, 3]],
        "status": "待研判",
        "claimed_by": None,
        "claimed_at": None,
        "created_at": NIGHT1,
        "first_run_id": "R1",
        "run_ids": ["R1"],
    }


@pytest.mark.parametrize(
    "doc",
    [
        schema1_lead(),
        {"_id": "XS1"},
        {"_id": "XS2", "party": {}, "jurisdiction": {}, "listings": [], "followups": []},
        {"_id": "XS3", "listings": [{"platform": "p", "item_id": "1", "note": "kept"}], "x": 1},
        {"_id": "XS4", "decision": {"action": "确认", "by": "甲"}, "image": None, "spans": None},
    ],
)
def test_hand_written_and_legacy_docs_round_trip(doc: dict[str, Any]) -> None:
    assert_round_trip(doc)


def test_legacy_lead_reads_before_and_after_its_upgrade(
    queue: LeadQueue, db: Database[dict[str, Any]]
) -> None:
    old = assert_round_trip(schema1_lead())
    assert old.party == PartyDoc(
        credit_code=CODE, name="某某商行", address=None, extra={"url": None},
        absent=old.party.absent if old.party else frozenset(),
    )  # fmt: skip
    assert old.extra["listing"]["price"] == 39.9 and old.listings is None
    db.leads.insert_one(schema1_lead())
    assert upgrade_legacy_leads(db.leads, party_from_listing) == 1
    upgraded = db.leads.find_one({"_id": "XS1A2B3C4D5E"})
    assert upgraded is not None
    case = assert_round_trip(upgraded)
    assert case.listings is not None and case.listings[0].matched == ("瘦八斤",)
    assert "listing" not in case.extra and case.party_key == f"uscc:{CODE}"


def test_a_missing_key_stays_missing_and_a_none_stays_none() -> None:
    assert Case.from_doc({"_id": "XS1"}).to_doc() == {"_id": "XS1"}
    assert Case.from_doc({"_id": "XS1", "title": None}).to_doc() == {"_id": "XS1", "title": None}
    built = Case(id="XS9", title="t")
    assert built.to_doc()["title"] == "t" and built.to_doc()["listings"] is None


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"_id": "X", "listings": {"a": 1}}, "lead field listings: expected a list, got {'a': 1}"),
        ({"_id": "X", "listings": [{}, "oops"]}, "lead field listings[1]: expected an object"),
        ({"_id": "X", "party": {"jurisdiction": 3}}, "lead field party.jurisdiction: expected"),
        ({"_id": "X", "listings": [{"spans": [[0, 1], 5]}]}, r"listings\[0\].spans\[1\]: "),
    ],
)
def test_a_malformed_doc_names_the_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(CaseDocError, match=message.replace("[", r"\[").replace("]", r"\]")
                       if "\\" not in message else message):  # fmt: skip
        Case.from_doc(doc)
