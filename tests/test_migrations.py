"""Schema migrations: explicit, ordered, recorded once; a stale database is refused."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from tests.test_case_model import schema1_lead
from tests.test_leads import CODE
from tests.test_scheduler import scheduler_settings, wait_for
from tiequan.cli.main import main
from tiequan.leads.queue import LeadQueue
from tiequan.scheduling.service import SchedulerService
from tiequan.storage import migrations
from tiequan.storage.migrations import MIGRATIONS_COLL, Migration, MigrationsPending


@pytest.fixture
def cli_db(
    db: Database[dict[str, Any]], mongo_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Database[dict[str, Any]]:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    monkeypatch.setenv("TIEQUAN_HOME", str(tmp_path))
    return db


def legacy_leads(db: Database[dict[str, Any]]) -> None:
    """Three schema-1 leads: two listings of one party and category, one of another shop."""
    twin = dict(schema1_lead(), _id="XS1A2B3C4D5F", item_id="2", run_ids=["R2"])
    other = dict(schema1_lead(), _id="XS1A2B3C4D60", item_id="9", shop_name="另一家店")
    other["party"] = {"credit_code": None, "name": None, "address": None, "url": None}
    db.leads.insert_many([schema1_lead(), twin, other])


def test_old_leads_are_refused_until_migrated_then_become_cases(
    cli_db: Database[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    legacy_leads(cli_db)
    with pytest.raises(MigrationsPending, match="tiequan migrate"):
        LeadQueue(cli_db).ensure_indexes()
    assert cli_db.leads.count_documents({"party_key": {"$exists": True}}) == 0  # nothing done

    assert main(["migrate", "--by", "测试员"]) == 0
    out = capsys.readouterr().out
    assert "已执行 0001-leads-to-cases" in out and "更改 3 条文档" in out

    docs = {d["_id"]: d for d in cli_db.leads.find()}
    assert sorted(docs) == ["XS1A2B3C4D5E", "XS1A2B3C4D60"]  # the twin merged into the first
    case = docs["XS1A2B3C4D5E"]
    assert case["party_key"] == f"uscc:{CODE}" and "listing" not in case
    assert sorted(e["item_id"] for e in case["listings"]) == ["1", "2"]
    assert case["run_ids"] == ["R1", "R2"] and case["status"] == "待研判"
    assert docs["XS1A2B3C4D60"]["party_key"] != case["party_key"]

    [record] = cli_db[MIGRATIONS_COLL].find()
    assert record["_id"] == "0001-leads-to-cases" and record["status"] == "applied"
    assert record["by"] == "测试员" and record["changed"] == 3
    assert record["duration_s"] >= 0 and record["applied_at"] is not None
    LeadQueue(cli_db).ensure_indexes()  # the migrated database is accepted


def test_a_second_run_is_a_no_op(
    cli_db: Database[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    legacy_leads(cli_db)
    assert main(["migrate"]) == 0
    before = (list(cli_db.leads.find()), list(cli_db[MIGRATIONS_COLL].find()))
    capsys.readouterr()
    assert main(["migrate"]) == 0
    assert "没有待执行的迁移" in capsys.readouterr().out
    assert (list(cli_db.leads.find()), list(cli_db[MIGRATIONS_COLL].find())) == before
    # A schema-1 lead arriving later (a restored backup) is not migrated behind anyone's back.
    cli_db.leads.insert_one(dict(schema1_lead(), _id="XS1A2B3C4D61", category="miracle_drug"))
    assert migrations.apply_pending(cli_db, "again") == []
    assert cli_db.leads.count_documents({"party_key": {"$exists": False}}) == 1


def test_status_lists_pending_then_applied(
    cli_db: Database[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    legacy_leads(cli_db)
    assert main(["migrate", "--status"]) == 0
    out = capsys.readouterr().out
    assert "0001-leads-to-cases  待执行  将更改 3 条文档" in out
    assert "共 1 项迁移，待执行 1 项（tiequan migrate）" in out
    assert main(["migrate", "--by", "甲"]) == 0
    capsys.readouterr()
    assert main(["migrate", "--status"]) == 0
    out = capsys.readouterr().out
    assert "0001-leads-to-cases  已执行" in out and "执行人 甲  更改 3 条文档" in out
    assert "共 1 项迁移，待执行 0 项" in out and "tiequan migrate）" not in out


def test_dry_run_changes_nothing(
    cli_db: Database[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    legacy_leads(cli_db)
    before = sorted(cli_db.leads.find(), key=lambda d: d["_id"])
    assert main(["migrate", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "待执行 0001-leads-to-cases" in out and "将更改 3 条文档" in out
    assert "未做任何更改" in out
    assert sorted(cli_db.leads.find(), key=lambda d: d["_id"]) == before
    assert cli_db[MIGRATIONS_COLL].count_documents({}) == 0


def test_a_fresh_database_is_not_held_up_and_migrations_run_in_order(
    db: Database[dict[str, Any]],
) -> None:
    LeadQueue(db).ensure_indexes()  # nothing to migrate: accepted without `tiequan migrate`
    seen: list[str] = []
    registry = [
        Migration("a", "first", "tests.test_migrations:record_a", lambda _db: 1),
        Migration("b", "second", "tests.test_migrations:record_b", lambda _db: 1),
    ]
    done = migrations.apply_pending(
        db, "t", registry=registry, on_done=lambda r: seen.append(r.migration.id)
    )
    assert seen == ["a", "b"] and [d["_id"] for d in db.order.find().sort("n")] == ["a", "b"]
    assert [r.changed for r in done] == [1, 1]
    assert migrations.pending(db, registry) == []


def record_a(db: Database[dict[str, Any]]) -> int:
    db.order.insert_one({"_id": "a", "n": db.order.count_documents({})})
    return 1


def record_b(db: Database[dict[str, Any]]) -> int:
    db.order.insert_one({"_id": "b", "n": db.order.count_documents({})})
    return 1


def test_the_scheduler_applies_pending_migrations_before_it_starts_jobs(
    db: Database[dict[str, Any]], mongo_uri: str, tmp_path: Path
) -> None:
    legacy_leads(db)
    service = SchedulerService(db, mongo_uri, [], scheduler_settings(), tmp_path, "svc-m", 0.5)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        wait_for(service.active.is_set, "the scheduler to become active")
        record = db[MIGRATIONS_COLL].find_one({"_id": "0001-leads-to-cases"})
        assert record is not None and record["by"] == "scheduler svc-m" and record["changed"] == 3
        assert db.leads.count_documents({"party_key": {"$exists": False}}) == 0
    finally:
        service.stop()
        thread.join(30)


def test_a_sweep_on_an_unmigrated_database_refuses_naming_the_command(
    cli_db: Database[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    legacy_leads(cli_db)
    code = main(["sweep", "--site", "sandbox_mall", "--base-url", "http://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("tiequan sweep: 数据库中有旧结构的文档")
    assert "0001-leads-to-cases：3 条文档" in err and "请先运行 tiequan migrate" in err
    assert cli_db.runs.count_documents({}) == 0 and cli_db.listings.count_documents({}) == 0


def test_a_migration_with_nothing_to_change_is_counted_once(
    db: Database[dict[str, Any]],
) -> None:
    counted: list[int] = []

    def count(_db: Database[dict[str, Any]]) -> int:
        counted.append(1)
        return 0

    registry = [Migration("zero", "nothing", "tests.test_migrations:record_a", count)]
    migrations.require_current(db, registry)
    migrations.require_current(db, registry)
    assert len(counted) == 1  # the second start does not scan again
    [record] = db[MIGRATIONS_COLL].find({"_id": "zero"})
    assert record["status"] == "applied" and record["changed"] == 0
    assert record["nothing_to_change"] is True
    assert migrations.pending(db, registry) == [] and db.order.count_documents({}) == 0
