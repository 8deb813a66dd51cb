"""Part 4 of issue 12 in the scheduler: a run whose writes were spooled is recorded as such,
the spool is replayed before the next scheduled sweep starts, and `tiequan runs` shows both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from tests.test_scheduler import scheduler_settings
from tiequan.cli.main import main
from tiequan.scheduling.child import SweepLauncher
from tiequan.storage import spool
from tiequan.sweep.history import find_runs, render_runs

EARLIER = "R20261130T180000-aaaa"
# A sweep that writes, at its start, whether the earlier run's listings and record are in
# the database and which spool files are left (then its report, recording nothing itself).
CHECKING_CHILD = """\
import json, os, sys
import pymongo
db = pymongo.MongoClient(os.environ["TIEQUAN_MONGO_URI"])[os.environ["TIEQUAN_DB"]]
report, run_id, out = sys.argv[1:4]
spool_dir = os.path.join(os.environ["TIEQUAN_HOME"], "spool")
seen = {
    "listings": db.listings.count_documents({}),
    "earlier_run": db.runs.count_documents({"_id": sys.argv[4]}),
    "spool": sorted(n for n in os.listdir(spool_dir) if n.endswith(".jsonl")),
}
open(out, "w").write(json.dumps(seen))
json.dump({"run_id": run_id, "status": "ok", "end_reason": "finished",
           "sites": {"alpha": {"items": 1}}, "database": {"spooled": 0}}, open(report, "w"))
"""
# A sweep during an outage: two listings and its own run record go to the spool.
SPOOLING_CHILD = """\
import json, os, sys
from tiequan.storage import spool
report_path, run_id = sys.argv[1:3]
home = os.environ["TIEQUAN_HOME"]
listings = [{"platform": "demo_shop", "item_id": str(i), "url": f"https://shop.example/{i}",
             "title": "商品", "text": "", "price": 10.0, "run_id": run_id,
             "captured_at": "2026-12-01T02:00:00+08:00"} for i in (1, 2)]
spool.append(spool.spool_path(home, run_id, "store"), listings)
runs = spool.spool_path(home, run_id, "runs")
report = {"run_id": run_id, "status": "ok", "end_reason": "finished", "site_names": ["alpha"],
          "sites": {"alpha": {"items": 2}}, "leads_by_category": None, "leads_by_unit": None,
          "database": {"outage_seconds": 9.5, "spooled": 2, "lost": 0, "run_record": str(runs)}}
spool.append(runs, [report])
json.dump(report, open(report_path, "w"))
"""


def listing(item_id: str) -> dict[str, Any]:
    return {
        "platform": "demo_shop",
        "item_id": item_id,
        "url": f"https://shop.example/item/{item_id}",
        "title": f"商品{item_id}",
        "text": "",
        "price": 10.0,
        "captured_at": "2026-12-01T02:00:00+08:00",
        "run_id": EARLIER,
    }


def launcher(db: Database[dict[str, Any]], mongo_uri: str, home: Path, script: Path) -> Any:
    command = f"{{python}} {script} {{report}} {{run_id}} {home / 'seen.json'} {EARLIER}"
    settings = scheduler_settings(TIEQUAN_SCHEDULER_SWEEP_COMMAND=command)
    return SweepLauncher(db, mongo_uri, settings, home, "svc")


def test_the_spool_is_replayed_before_the_scheduled_sweep_starts_and_recorded(
    db: Database[dict[str, Any]], mongo_uri: str, tmp_path: Path
) -> None:
    earlier_report = {
        "run_id": EARLIER,
        "status": "ok",
        "site_names": ["alpha"],
        "sites": {"alpha": {"items": 3}},
        "database": {"spooled": 3, "lost": 0, "run_record": "spool"},
        "leads_by_category": None,
        "leads_by_unit": None,
    }
    spool.append(spool.spool_path(tmp_path, EARLIER, "store"), [listing(i) for i in "123"])
    spool.append(spool.spool_path(tmp_path, EARLIER, "runs"), [earlier_report])
    script = tmp_path / "child.py"
    script.write_text(CHECKING_CHILD, encoding="utf-8")

    run_id = launcher(db, mongo_uri, tmp_path, script).sweep("alpha", "schedule")

    seen = (tmp_path / "seen.json").read_text(encoding="utf-8")
    assert seen == '{"listings": 3, "earlier_run": 1, "spool": []}'  # all in, before it ran
    assert spool.status(tmp_path) == []
    record = db.runs.find_one({"_id": run_id})
    assert record is not None and record["status"] == "ok"
    assert record["scheduled"]["replay"] == {
        "files": 2, "records": 4, "runs": [EARLIER], "left": 0, "exit_code": 0,
    }  # fmt: skip
    earlier = db.runs.find_one({"_id": EARLIER})
    assert earlier is not None and earlier["spooled"]["replayed_at"] is not None
    [new, old] = find_runs(db)
    assert (new.run_id, new.replayed_before, old.spooled, old.spool_replayed) == (
        run_id, 4, 3, True,
    )  # fmt: skip


def test_a_run_with_spooled_writes_shows_as_spooled_then_replayed_in_tiequan_runs(
    db: Database[dict[str, Any]],
    mongo_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    script = tmp_path / "child.py"
    script.write_text(SPOOLING_CHILD, encoding="utf-8")
    run_id = launcher(db, mongo_uri, tmp_path, script).sweep("alpha", "schedule")

    record = db.runs.find_one({"_id": run_id})
    assert record is not None and record["status"] == "ok"
    assert record["spooled"] == {"records": 2, "run_record": True}
    assert record["scheduled"]["replay"] is None  # nothing was waiting before it
    assert [f.run_id for f in spool.status(tmp_path)] == [run_id, run_id]
    [run] = find_runs(db)
    row = render_runs([run]).splitlines()[2]
    assert "2（待补写）" in row

    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    monkeypatch.setenv("TIEQUAN_HOME", str(tmp_path))
    assert main(["runs"]) == 0  # its first open of the database replays the spool
    out = capsys.readouterr().out
    assert run_id in out and "2（已补写）" in out and "待补写" not in out
    assert db.listings.count_documents({}) == 2 and spool.status(tmp_path) == []


def test_a_sweep_during_an_outage_has_its_data_stored_before_the_next_scheduled_sweep(
    db: Database[dict[str, Any]], mongo_uri: str, tmp_path: Path
) -> None:
    spooling, checking = tmp_path / "spooling.py", tmp_path / "checking.py"
    spooling.write_text(SPOOLING_CHILD, encoding="utf-8")
    checking.write_text(CHECKING_CHILD, encoding="utf-8")
    first = launcher(db, mongo_uri, tmp_path, spooling).sweep("alpha", "schedule")
    assert db.listings.count_documents({}) == 0  # still in the spool
    command = f"{{python}} {checking} {{report}} {{run_id}} {tmp_path / 'seen.json'} {first}"
    settings = scheduler_settings(TIEQUAN_SCHEDULER_SWEEP_COMMAND=command)
    second = SweepLauncher(db, mongo_uri, settings, tmp_path, "svc").sweep("alpha", "schedule")
    seen = (tmp_path / "seen.json").read_text(encoding="utf-8")
    assert seen == '{"listings": 2, "earlier_run": 1, "spool": []}'
    # Both fake sweeps may start within one second: find the runs by id, not by order.
    runs = {run.run_id: run for run in find_runs(db)}
    assert set(runs) == {first, second}
    new, old = runs[second], runs[first]
    assert (old.spooled, old.spool_replayed, new.replayed_before) == (2, True, 3)
