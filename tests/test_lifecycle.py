"""The lead lifecycle: transitions, refusals, due dates, overdue leads and the audit log."""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from tiequan.cli import leads_cmd
from tiequan.leads.lifecycle import (
    ACTIONS,
    STATUSES,
    LifecycleConfigError,
    TransitionError,
    allowed_actions,
    load_lifecycle,
)
from tiequan.leads.queue import LeadQueue
from tiequan.storage.store import utcnow

DONG_WULAN = "内蒙古自治区乌兰塔拉盟东乌兰旗团结大街18号"


def _pair(item_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    listing = {
        "platform": "demo_shop",
        "kind": "product",
        "url": f"https://shop.example/item/{item_id}",
        "item_id": item_id,
        "title": f"速效减肥茶{item_id}",
        "shop_name": f"店铺{item_id}",
        "shop_url": f"https://shop.example/shop/{item_id}",
        "licence": {"credit_code": None, "name": None, "address": DONG_WULAN, "url": None},
    }
    finding = {"category": "slimming_aphrodisiac", "score": 0.9, "severity": "立案"}
    return listing, finding


@pytest.fixture
def queue(db: Database[dict[str, Any]]) -> LeadQueue:
    q = LeadQueue(db)
    q.ensure_indexes()
    return q


@pytest.fixture
def lead_id(queue: LeadQueue) -> str:
    return queue.record([_pair("1")], "R1").new_ids[0]


def test_every_status_has_a_way_forward_except_the_final_ones() -> None:
    for status in STATUSES:
        targets = {a.target for a in allowed_actions(status)}
        if status == "已办结":
            assert targets == set()
        else:
            assert targets, status
    assert {a.target for a in ACTIONS.values()} <= set(STATUSES)


def test_referral_path_to_closure_with_audit(queue: LeadQueue, lead_id: str) -> None:
    queue.apply(lead_id, "claim", "张三")
    queue.apply(lead_id, "confirm", "张三")
    referred = queue.apply(lead_id, "refer", "张三")
    assert referred["status"] == "已移送"
    assert referred["referral"]["bureau"] == "东乌兰旗市场监督管理局"
    assert referred["referral"]["units"][0] == referred["lead_unit"]
    assert referred["due_at"] - referred["status_at"] == timedelta(days=30)
    closed = queue.apply(lead_id, "close", "东乌兰旗局 李四", outcome="已立案，罚款两万元")
    assert closed["status"] == "已办结" and closed["due_at"] is None
    assert closed["outcome"]["text"] == "已立案，罚款两万元"
    history = queue.history(lead_id)
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        ("待研判", "研判中"),
        ("研判中", "已确认"),
        ("已确认", "已移送"),
        ("已移送", "已办结"),
    ]
    assert [h["actor"] for h in history] == ["张三", "张三", "张三", "东乌兰旗局 李四"]
    assert all(h["lead_id"] == lead_id and h["at"] is not None for h in history)


def test_transitions_that_make_no_sense_are_refused(queue: LeadQueue, lead_id: str) -> None:
    with pytest.raises(TransitionError, match="当前状态为“待研判”，不能执行“移送”"):
        queue.apply(lead_id, "refer", "张三")
    with pytest.raises(TransitionError, match="须填写理由"):
        queue.apply(lead_id, "dismiss", "张三", reason="  ")
    queue.apply(lead_id, "admonish", "张三")
    with pytest.raises(TransitionError, match="须填写承办单位反馈"):
        queue.apply(lead_id, "close", "张三")
    queue.apply(lead_id, "close", "张三", outcome="已整改下架")
    with pytest.raises(TransitionError, match="无（已归档）"):
        queue.apply(lead_id, "reopen", "张三", reason="再看看")
    with pytest.raises(TransitionError, match="未知操作"):
        queue.apply(lead_id, "explode", "张三")
    with pytest.raises(TransitionError, match="操作人员"):
        queue.apply(lead_id, "claim", " ")
    # Refusals leave no trace; the two real changes do.
    assert [h["action"] for h in queue.history(lead_id)] == ["admonish", "close"]


def test_dismissed_leads_can_be_reopened_with_a_reason(queue: LeadQueue, lead_id: str) -> None:
    dismissed = queue.apply(lead_id, "dismiss", "张三", reason="系消费者科普文章")
    assert dismissed["decision"]["reason"] == "系消费者科普文章"
    reopened = queue.apply(lead_id, "reopen", "王五", reason="店铺仍在售")
    assert reopened["status"] == "待研判" and reopened["due_at"] is not None


def test_a_stale_write_is_refused(
    queue: LeadQueue, lead_id: str, db: Database[dict[str, Any]]
) -> None:
    db.leads.update_one({"_id": lead_id}, {"$inc": {"version": 1}})  # someone else wrote
    original = LeadQueue.get

    def stale(self: LeadQueue, lid: str) -> dict[str, Any] | None:
        doc = original(self, lid)
        if doc is not None:
            doc["version"] -= 1
        return doc

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(LeadQueue, "get", stale)
        with pytest.raises(TransitionError, match="刚被他人修改"):
            queue.apply(lead_id, "confirm", "张三")
    assert queue.history(lead_id) == []


def test_overdue_leads_are_listed(queue: LeadQueue) -> None:
    ids = queue.record([_pair("1"), _pair("2")], "R1").new_ids
    queue.apply(ids[1], "dismiss", "张三", reason="重复线索")
    later = utcnow() + timedelta(days=4)
    assert [d["_id"] for d in queue.overdue(now=later)] == [ids[0]]
    assert queue.overdue(now=utcnow()) == []


def test_lifecycle_config_errors_name_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "lifecycle.yaml"
    bad.write_text("due_days:\n  待研判: 0\n", encoding="utf-8")
    with pytest.raises(
        LifecycleConfigError, match=r"lifecycle.yaml: field due_days.待研判: bad value 0"
    ):
        load_lifecycle(bad)
    bad.write_text("due_days:\n  已办结: 3\n", encoding="utf-8")
    with pytest.raises(LifecycleConfigError, match="已办结"):
        load_lifecycle(bad)
    assert load_lifecycle().due_days["已移送"] == 30


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tiequan")
    leads_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_decisions_history_and_overdue(
    queue: LeadQueue,
    lead_id: str,
    db: Database[dict[str, Any]],
    mongo_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    assert _cli(["leads", "refer", lead_id, "--by", "张三"]) == 1
    assert "不能执行“移送”" in capsys.readouterr().err
    assert _cli(["leads", "confirm", lead_id, "--by", "张三"]) == 0
    assert "已确认" in capsys.readouterr().out
    assert _cli(["leads", "refer", lead_id, "--by", "张三"]) == 0
    assert "东乌兰旗市场监督管理局" in capsys.readouterr().out
    assert _cli(["leads", "history", lead_id]) == 0
    out = capsys.readouterr().out
    assert "待研判 → 已确认" in out and "已确认 → 已移送" in out and "张三" in out
    db.leads.update_one({"_id": lead_id}, {"$set": {"due_at": utcnow() - timedelta(days=1)}})
    assert _cli(["leads", "overdue"]) == 0
    assert lead_id in capsys.readouterr().out
