"""The lead queue: cases per party and category, claims, listing and the Chinese views."""

from __future__ import annotations

import argparse
import json
import re
import threading
from collections import Counter
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from tiequan.cli import leads_cmd
from tiequan.leads.cases import case_score
from tiequan.leads.format import render_detail, render_table
from tiequan.leads.model import Case
from tiequan.leads.queue import (
    STATUS_PENDING,
    STATUS_REVIEWING,
    LeadNotFound,
    LeadQueue,
    make_lead_id,
)
from tiequan.party.creditcode import check_digit
from tiequan.referral import load_categories
from tiequan.text import display_width

NETWORK_AD = "价格、反垄断和网络交易（广告）监督管理股"
CODE = "91150921MA0R8K1X2" + check_digit("91150921MA0R8K1X2")
PARTY = f"uscc:{CODE}"


def listing(
    item_id: str,
    *,
    licence: bool = True,
    title: str | None = None,
    shop: str = "小美保健专营店",
    evidence_id: str | None = None,
) -> dict[str, Any]:
    return {
        "platform": "demo_shop",
        "kind": "product",
        "url": f"https://shop.example/item/{item_id}",
        "item_id": item_id,
        "title": title or f"纤体速效茶 第{item_id}款",
        "text": "喝一周瘦八斤",
        "price": 39.9,
        "shop_name": shop,
        "shop_url": f"https://shop.example/shop/{shop}",
        "licence": {
            "credit_code": CODE,
            "name": "塔拉浩特市某某保健品商行",
            "address": "内蒙古自治区乌兰塔拉盟东乌兰旗团结大街18号",
            "url": None,
        }
        if licence
        else None,
        "captured_at": "2024-06-01T02:00:00+08:00",
        "evidence_id": evidence_id,
    }


def finding(category: str = "slimming_aphrodisiac", score: float = 0.9) -> dict[str, Any]:
    return {
        "category": category,
        "score": score,
        "article": "《食品安全法》第七十三条",
        "spans": [[0, 4]],
        "explanation": "普通食品宣称减肥功效，疑似非法添加。",
        "matched": ["瘦八斤", "纤体速效"],
        "severity": "立案",
    }


def sample_pairs() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (listing("1"), finding()),
        (listing("1"), finding("miracle_drug", 0.7)),
        (listing("2", licence=False, shop="无照小店"), finding("medical_beauty", 0.8)),
    ]


def shop_party(shop: str) -> str:
    return f"shop:demo_shop:/shop/{shop}"


@pytest.fixture
def queue(db: Database[dict[str, Any]]) -> LeadQueue:
    q = LeadQueue(db)
    q.ensure_indexes()
    return q


def test_lead_id_is_short_stable_and_distinct() -> None:
    a = make_lead_id(PARTY, "miracle_drug")
    assert re.fullmatch(r"XS[0-9A-F]{10}", a)
    assert a == make_lead_id(PARTY, "miracle_drug")
    assert a != make_lead_id(PARTY, "medical_beauty")
    assert a != make_lead_id(PARTY + "0", "miracle_drug")


def test_one_case_per_party_and_category_collects_listings_and_nights(
    queue: LeadQueue, db: Database[dict[str, Any]]
) -> None:
    night1 = [(listing(str(i), evidence_id=f"EV1-{i}"), finding()) for i in (1, 2)]
    first = queue.record(night1, run_id="R1")
    assert (first.new, first.seen_again) == (1, 0)
    lead_id = make_lead_id(PARTY, "slimming_aphrodisiac")
    assert first.new_ids == [lead_id]
    # Night two: both listings again (new evidence), plus a third listing of the same party.
    night2 = [(listing(str(i), evidence_id=f"EV2-{i}"), finding()) for i in (1, 2, 3)]
    second = queue.record(night2, run_id="R2")
    assert (second.new, second.seen_again, second.case_ids) == (0, 3, [lead_id])
    assert db.leads.count_documents({}) == 1
    lead = queue.get(lead_id)
    assert lead is not None
    assert lead["listing_count"] == 3 and lead["night_count"] == 2
    assert lead["evidence_count"] == 5 and lead["run_ids"] == ["R1", "R2"]
    by_item = {e["item_id"]: e for e in lead["listings"]}
    assert by_item["1"]["seen_count"] == 2 and by_item["1"]["evidence_id"] == "EV2-1"
    assert by_item["3"]["seen_count"] == 1 and by_item["3"]["last_run_id"] == "R2"
    # The same night recorded twice (a retried batch) counts once.
    queue.record(night2, run_id="R2")
    again = queue.get(lead_id)
    assert again is not None and again["evidence_count"] == 5
    assert {e["item_id"]: e["seen_count"] for e in again["listings"]}["1"] == 2
    assert lead["score"] > case_score(0.9, 1, 1, "立案")


def test_listings_without_a_licence_are_kept_as_unidentified_parties(queue: LeadQueue) -> None:
    queue.record(sample_pairs(), run_id="R1")
    lead = queue.get(make_lead_id(shop_party("无照小店"), "medical_beauty"))
    assert lead is not None
    assert lead["party"]["identified"] is False and "未识别主体" in lead["party"]["label"]
    assert lead["jurisdiction"]["bureau_key"] is None
    assert lead["lead_unit"] == "药品医疗器械和化妆品监督管理股"


def test_case_score_grows_with_listings_nights_and_severity() -> None:
    base = case_score(0.7, 1, 1, "提醒告诫")
    assert base == pytest.approx(0.7)
    assert case_score(0.7, 4, 1, "提醒告诫") > base
    assert case_score(0.7, 1, 6, "提醒告诫") > base
    assert case_score(0.7, 1, 1, "移送公安") > case_score(0.7, 1, 1, "立案") > base
    assert case_score(0.99, 1000, 1000, "移送公安") <= 1.0


def test_racing_sweeps_create_no_duplicates(
    queue: LeadQueue, mongo_uri: str, db: Database[dict[str, Any]]
) -> None:
    pairs = [(listing(str(i), shop=f"店{i}", licence=False), finding()) for i in range(40)]
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def sweep(run_id: str) -> None:
        client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
        try:
            q = LeadQueue(client[db.name], queue.categories)
            barrier.wait()
            results.append(q.record(pairs, run_id=run_id))
        finally:
            client.close()

    threads = [threading.Thread(target=sweep, args=(f"R{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    assert db.leads.count_documents({}) == 40
    assert sum(r.new for r in results) == 40 and sum(r.seen_again for r in results) == 40
    assert {d["listings"][0]["seen_count"] for d in db.leads.find()} == {2}
    assert {d["night_count"] for d in db.leads.find()} == {2}


def test_lead_carries_routing_party_jurisdiction_and_finding(queue: LeadQueue) -> None:
    queue.record(sample_pairs(), run_id="R1")
    lead = queue.get(make_lead_id(PARTY, "slimming_aphrodisiac").lower())
    assert lead is not None
    assert lead["category_name"] == "声称减肥、壮阳等食品非法添加"
    assert lead["lead_unit"] == NETWORK_AD and lead["lead_unit_key"] == "network_ad"
    assert lead["co_units"][0] == "食品生产流通监督管理股"
    assert lead["party"]["credit_code"] == CODE and lead["party"]["identified"] is True
    assert lead["jurisdiction"]["bureau_name"] == "东乌兰旗市场监督管理局"
    assert lead["matched"] == ["瘦八斤", "纤体速效"] and lead["source"] == "crawler"
    assert lead["status"] == STATUS_PENDING and lead["due_at"] > lead["created_at"]


def test_empty_batch_records_nothing(queue: LeadQueue, db: Database[dict[str, Any]]) -> None:
    assert queue.record([], "R1").new == 0
    assert db.leads.count_documents({}) == 0


def test_same_category_twice_on_a_listing_keeps_stronger(queue: LeadQueue) -> None:
    result = queue.record(
        [(listing("9"), finding(score=0.4)), (listing("9"), finding(score=0.95))], "R1"
    )
    assert result.new == 1
    lead = queue.get(result.new_ids[0])
    assert lead is not None and lead["finding_score"] == pytest.approx(0.95)
    assert lead["listing_count"] == 1


def test_taken_id_is_lengthened(queue: LeadQueue, db: Database[dict[str, Any]]) -> None:
    short = make_lead_id(PARTY, "vinegar")
    db.leads.insert_one({"_id": short, "party_key": "other", "category": "vinegar"})
    result = queue.record([(listing("5"), finding("vinegar"))], "R1")
    assert result.new_ids == [make_lead_id(PARTY, "vinegar", 16)]
    again = queue.record([(listing("5"), finding("vinegar"))], "R2")
    assert (again.new, again.seen_again) == (0, 1)


def test_unknown_category_is_rejected(queue: LeadQueue) -> None:
    with pytest.raises(ValueError, match="no_such"):
        queue.record([(listing("1"), finding("no_such"))], "R1")


def test_claims_are_atomic_under_concurrency(
    queue: LeadQueue, mongo_uri: str, db: Database[dict[str, Any]]
) -> None:
    pairs = [
        (listing(str(i), shop=f"店{i}", licence=False), finding(score=i / 30)) for i in range(30)
    ]
    queue.record(pairs, "R1")
    claimed: list[tuple[str, str]] = []
    lock = threading.Lock()

    def reviewer(name: str) -> None:
        client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
        try:
            q = LeadQueue(client[db.name], queue.categories)
            while (lead := q.claim(name)) is not None:
                with lock:
                    claimed.append((lead["_id"], name))
        finally:
            client.close()

    threads = [threading.Thread(target=reviewer, args=(f"审核员{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = Counter(lead_id for lead_id, _ in claimed)
    assert len(counts) == 30 and set(counts.values()) == {1}
    for doc in db.leads.find():
        assert doc["status"] == STATUS_REVIEWING
        assert (doc["_id"], doc["claimed_by"]) in claimed
    assert db.audit.count_documents({"action": "claim"}) == 30


def test_claim_order_filters_and_release(queue: LeadQueue) -> None:
    queue.record(sample_pairs(), run_id="R1")
    top = queue.claim("张三")
    assert top is not None and top["category"] == "slimming_aphrodisiac"
    assert top["claimed_by"] == "张三" and top["claimed_at"] is not None
    assert queue.claim("李四", unit="quality") is None
    by_unit = queue.claim("李四", unit="药品医疗器械和化妆品监督管理股")
    assert by_unit is not None and by_unit["category"] == "medical_beauty"
    with pytest.raises(ValueError, match="未知单位"):
        queue.claim("李四", unit="nowhere")
    assert queue.release(top["_id"], "李四") is False
    assert queue.release(top["_id"], "张三") is True
    assert queue.get(top["_id"])["status"] == STATUS_PENDING  # type: ignore[index]
    with pytest.raises(LeadNotFound):
        queue.release("XS0000000000", "张三")
    again = queue.claim("王五", category="slimming_aphrodisiac")
    assert again is not None and again["_id"] == top["_id"]


def test_list_and_counts(queue: LeadQueue) -> None:
    queue.record(sample_pairs(), run_id="R1")
    queue.claim("张三")
    assert len(queue.list()) == 3
    assert [d["category"] for d in queue.list(status=STATUS_REVIEWING)] == ["slimming_aphrodisiac"]
    assert len(queue.list(unit="network_ad")) == 2 and len(queue.list(limit=1)) == 1
    assert queue.counts_by("status") == {STATUS_PENDING: 2, STATUS_REVIEWING: 1}
    assert queue.counts_by("lead_unit")[NETWORK_AD] == 2
    with pytest.raises(ValueError):
        queue.counts_by("$where")


def test_table_in_chinese_aligned_by_display_width(queue: LeadQueue) -> None:
    queue.record(sample_pairs(), run_id="R1")
    table = render_table(queue.list_cases())
    lines = table.splitlines()
    assert lines[0].startswith("编号") and "牵头单位" in lines[0] and "发现时间" in lines[0]
    assert "医疗美容领域虚假宣传" in table and lines[-1] == "共 3 条"
    # The platform column starts at the same display column on every row.
    platform_cols = {display_width(line.split("demo_shop")[0]) for line in lines[2:-1]}
    assert len(platform_cols) == 1
    assert render_table([]) == "没有符合条件的线索。"


def test_detail_view_labels_party_jurisdiction_and_units(queue: LeadQueue) -> None:
    queue.record(sample_pairs(), run_id="R1")
    with_party = render_detail(queue.get_case(make_lead_id(PARTY, "miracle_drug")) or Case())
    assert "“神医”“神药”等虚假违法广告" in with_party
    assert f"统一社会信用代码 {CODE}" in with_party
    assert "“瘦八斤”、“纤体速效”" in with_party and "违反条款" in with_party
    assert "协办单位  市场监管所、市场监管综合行政执法大队" in with_party
    assert "东乌兰旗市场监督管理局" in with_party
    no_party = render_detail(
        queue.get_case(make_lead_id(shop_party("无照小店"), "medical_beauty")) or Case()
    )
    assert "未识别主体" in no_party and "统一社会信用代码 " not in no_party


def test_crawled_control_characters_are_made_inert(queue: LeadQueue) -> None:
    queue.record([(listing("7", title="好物\x1b[31m推荐\u202e"), finding())], "R1")
    table = render_table(queue.list_cases())
    assert "\x1b" not in table and "\u202e" not in table and "好物 [31m推荐" in table


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tiequan")
    leads_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def seeded_env(
    queue: LeadQueue, db: Database[dict[str, Any]], mongo_uri: str, monkeypatch: pytest.MonkeyPatch
) -> LeadQueue:
    queue.record(sample_pairs(), run_id="R1")
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    return queue


def test_cli_list_and_show(seeded_env: LeadQueue, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(["leads", "list", "--category", "medical_beauty"]) == 0
    out = capsys.readouterr().out
    assert "医疗美容领域虚假宣传" in out and "共 1 条" in out
    lead_id = make_lead_id(shop_party("无照小店"), "medical_beauty")
    assert _cli(["leads", "show", lead_id.lower()]) == 0
    out = capsys.readouterr().out
    assert lead_id in out and "未识别主体" in out and "药品医疗器械和化妆品监督管理股" in out
    assert _cli(["leads", "list", "--json", "--unit", "network_ad"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["category"] for r in rows} == {"slimming_aphrodisiac", "miracle_drug"}
    assert all(isinstance(r["created_at"], str) and r["id"].startswith("XS") for r in rows)


def test_cli_unknown_id_and_claim_release(
    seeded_env: LeadQueue, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(["leads", "show", "xs0123456789"]) == 1
    assert "找不到线索：XS0123456789" in capsys.readouterr().err
    assert _cli(["leads", "claim", "--reviewer", "张三"]) == 0
    out = capsys.readouterr().out
    lead_id = make_lead_id(PARTY, "slimming_aphrodisiac")
    assert f"张三 已认领线索 {lead_id}" in out
    assert _cli(["leads", "release", lead_id, "--reviewer", "李四"]) == 1
    assert "不在 李四 名下" in capsys.readouterr().err
    assert _cli(["leads", "release", lead_id, "--reviewer", "张三"]) == 0
    assert seeded_env.get(lead_id)["status"] == STATUS_PENDING  # type: ignore[index]


def test_categories_loaded_once_per_queue(db: Database[dict[str, Any]]) -> None:
    cats = load_categories()
    q = LeadQueue(db, cats)
    assert q.categories is cats


def test_cli_refer_names_where_the_lead_went(
    seeded_env: LeadQueue, capsys: pytest.CaptureFixture[str]
) -> None:
    lead_id = make_lead_id(PARTY, "slimming_aphrodisiac")
    seeded_env.apply(lead_id, "claim", "张三")
    assert _cli(["leads", "confirm", lead_id, "--by", "张三"]) == 0
    out = capsys.readouterr().out
    assert f"线索 {lead_id} 已" in out and "当前状态：已确认。" in out and "移送至" not in out
    assert _cli(["leads", "refer", lead_id, "--by", "张三"]) == 0
    out = capsys.readouterr().out
    assert "当前状态：已移送。" in out
    assert f"移送至：{NETWORK_AD}、食品生产流通监督管理股" in out
    assert out.rstrip().endswith("；属地：东乌兰旗市场监督管理局")
