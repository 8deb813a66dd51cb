"""The spool: what an outage left is replayed once, resumably, and nothing is dropped."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import AutoReconnect

from tiequan.storage import spool
from tiequan.storage.store import Store
from tiequan.sweep.replay import replay
from tiequan.sweep.runner import _record_run

RUN = "R20240601T021500-3fa2"


def _listing(item_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "platform": "demo_shop",
        "item_id": item_id,
        "url": f"https://shop.example/item/{item_id}",
        "title": f"商品{item_id}",
        "text": "",
        "price": 10.0,
        "captured_at": f"2024-06-01T02:{int(item_id) % 60:02d}:00+08:00",
        "run_id": RUN,
        **extra,
    }


def _spool_listings(home: Path, ids: range) -> Path:
    path = spool.spool_path(home, RUN, "store")
    spool.append(path, [_listing(str(i)) for i in ids])
    return path


def test_records_come_back_as_they_went_in(tmp_path: Path) -> None:
    when = datetime(2024, 6, 1, 2, 15, 0, 123000, tzinfo=UTC)
    record = {"at": when, "text": "三天瘦十斤", "spans": [[0, 4]], "n": None}
    path = spool.spool_path(tmp_path, RUN, "evidence")
    spool.append(path, [record])
    assert spool.decode(path.read_text(encoding="utf-8")) == record
    assert spool.split_name(path.name) == (RUN, "evidence")


def test_replay_writes_each_record_once_however_often_it_runs(
    tmp_path: Path, db: Database[dict[str, Any]]
) -> None:
    Store(db).ensure_indexes()
    _spool_listings(tmp_path, range(1, 6))
    first = replay(db, tmp_path)
    assert (first.files, first.records, first.bad) == (1, 5, 0)
    assert spool.pending(tmp_path) == []
    _spool_listings(tmp_path, range(1, 6))  # the same batch again (written, then spooled)
    replay(db, tmp_path)
    assert db.listings.count_documents({}) == 5
    assert db.captures.count_documents({}) == 5
    assert {c["run_id"] for c in db.captures.find()} == {RUN}


def test_an_interrupted_replay_resumes_where_it_stopped(tmp_path: Path) -> None:
    _spool_listings(tmp_path, range(10))
    seen: list[str] = []
    calls = {"n": 0}

    def flaky(run_id: str, records: list[Any]) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise AutoReconnect("connection closed")
        seen.extend(r["item_id"] for r in records)

    with pytest.raises(AutoReconnect):
        spool.replay({"store": flaky}, tmp_path, chunk=3)
    assert seen == [str(i) for i in range(6)]
    [left] = spool.status(tmp_path)
    assert left.replaying and left.records == 4
    result = spool.replay({"store": flaky}, tmp_path, chunk=3)
    assert seen == [str(i) for i in range(10)]  # nothing redone, nothing skipped
    assert (result.files, result.records) == (1, 4)
    assert list((tmp_path / "spool").glob("*.jsonl*")) == []


def test_unreadable_lines_are_named_and_kept_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _spool_listings(tmp_path, range(2))
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"platform": "demo_shop", "item_id": \n')  # cut short by a crash
    spool.append(path, [_listing("7")])
    seen: list[str] = []

    def refuse_nine(run_id: str, records: list[Any]) -> None:
        if any(r["item_id"] == "9" for r in records):
            raise ValueError("refused")
        seen.extend(r["item_id"] for r in records)

    spool.append(path, [_listing("9")])
    with caplog.at_level(logging.ERROR, logger="tiequan.storage.spool"):
        result = spool.replay({"store": refuse_nine}, tmp_path)
    assert seen == ["0", "1", "7"] and result.bad == 2
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"{path} line 3: unreadable" in m for m in messages), messages
    assert any(f"{path} line 5: refused" in m for m in messages), messages
    bad = path.with_name(path.name + spool.BAD)
    kept = bad.read_text(encoding="utf-8").splitlines()
    assert kept[0] == '{"platform": "demo_shop", "item_id": ' and '"9"' in kept[1]
    spool.replay({"store": refuse_nine}, tmp_path)
    assert bad.exists() and spool.bad_files(tmp_path) == [bad]  # never deleted


def test_a_record_spooled_while_its_file_is_replayed_is_not_lost(tmp_path: Path) -> None:
    path = _spool_listings(tmp_path, range(3))
    seen: list[str] = []

    def write(run_id: str, records: list[Any]) -> None:
        seen.extend(r["item_id"] for r in records)
        if len(seen) == 3:  # the sweep of this run is still spooling
            spool.append(path, [_listing("8")])

    spool.replay({"store": write}, tmp_path)
    assert seen == ["0", "1", "2"]
    [later] = spool.status(tmp_path)
    assert later.path == path and later.records == 1 and not later.replaying
    spool.replay({"store": write}, tmp_path)
    assert seen[-1] == "8"


def test_a_file_of_an_unknown_stage_is_left_in_place(tmp_path: Path) -> None:
    path = spool.spool_path(tmp_path, RUN, "mystery")
    spool.append(path, [{"x": 1}])
    result = spool.replay({}, tmp_path)
    assert result.unknown == [path] and path.exists()


def test_the_run_record_goes_to_the_spool_and_is_counted_after_the_replay(
    tmp_path: Path, db: Database[dict[str, Any]]
) -> None:
    report: dict[str, Any] = {
        "run_id": RUN,
        "totals": {"items": 3},
        "database": {"spooled": 3, "lost": 0, "run_record": "database"},
        "leads_by_category": None,
        "leads_by_unit": None,
    }
    _record_run(None, report, tmp_path)  # the database was away at the end of the run
    assert report["database"]["run_record"] == str(spool.spool_path(tmp_path, RUN, "runs"))
    db.leads.insert_one({"_id": "L1", "run_ids": [RUN], "category": "vinegar", "lead_unit": "股"})
    replay(db, tmp_path)
    run = Store(db).get_run(RUN)
    assert run is not None and run["totals"] == {"items": 3}
    assert run["leads_by_category"] == {"vinegar": 1} and run["leads_by_unit"] == {"股": 1}


@pytest.fixture
def cli_env(mongo_uri: str, tmp_path: Path) -> Iterator[tuple[Database[dict[str, Any]], Path]]:
    name = f"t_spool_{uuid.uuid4().hex[:8]}"
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIEQUAN_MONGO_URI", mongo_uri)
        mp.setenv("TIEQUAN_DB", name)
        mp.setenv("TIEQUAN_HOME", str(tmp_path))
        yield client[name], tmp_path
    client.drop_database(name)
    client.close()


def test_the_next_command_that_opens_the_database_replays_the_spool(
    cli_env: tuple[Database[dict[str, Any]], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from tiequan.cli.main import main

    db, home = cli_env
    _spool_listings(home, range(4))
    assert main(["spool", "status"]) == 0
    assert "待补写 4 条" in capsys.readouterr().out
    assert db.listings.count_documents({}) == 0  # status does not open the database
    assert main(["leads", "list"]) == 0
    assert db.listings.count_documents({}) == 4 and db.captures.count_documents({}) == 4
    assert spool.pending(home) == []
    assert main(["spool", "replay"]) == 0
    assert "已补写 0 个暂存文件" in capsys.readouterr().out
    assert os.listdir(home / "spool") == [".replay.lock"]


def test_a_replayed_followup_is_recorded_once(tmp_path: Path, db: Database[dict[str, Any]]) -> None:
    from crawlers.revisit import Target
    from pipelines.followup import _encode
    from tiequan.leads.followup import Outcome

    entry = {"platform": "demo_shop", "item_id": "1", "state": "online"}
    db.leads.insert_one({"_id": "XS1", "listings": [entry], "followups": [], "version": 1})
    target = Target("demo_shop", "1", "https://x/1", "t", ("XS1",), ("vinegar",))
    outcome = Outcome(target, "removed", RUN, datetime(2024, 6, 2, tzinfo=UTC), "EVX")
    path = spool.spool_path(tmp_path, RUN, "followup")
    for _ in range(2):  # spooled, and spooled again by a batch that did reach the database
        spool.append(path, [_encode(outcome)])
        replay(db, tmp_path)
    lead = db.leads.find_one({"_id": "XS1"})
    assert lead is not None and len(lead["followups"]) == 1
    assert lead["followups"][0]["at"] == outcome.at and lead["listings"][0]["state"] == "removed"
