"""The durable crawl frontier's pieces: its documents and locks, the scheduler's counting,
the resume stage, and the embedded server's stale state (tests/test_resume.py: end to end)."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from scrapy import Request, Spider
from scrapy.utils.test import get_crawler

from crawlers.items import Listing
from pipelines.frontier import DurableScheduler
from pipelines.resume import AlreadyStored, ResumePipeline
from tiequan.scheduling.child import sweep_command
from tiequan.settings import SchedulerSettings
from tiequan.storage.embedded import STATE_FILE, EmbeddedServer
from tiequan.storage.frontier import (
    DONE,
    FINISHED,
    FRONTIER,
    HEADS,
    LEASED,
    OPEN,
    QUEUED,
    FrontierLocked,
    FrontierOp,
    Resumption,
    chain_runs,
    close_frontier,
    open_frontier,
    seen_and_pending,
    write_ops,
)

SITE = "sandbox_mall"


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_hung_embedded_server_is_stopped_and_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "db"
    data_dir.mkdir()
    storage = data_dir / "wt"
    # Looks like this directory's server (its command line), answers nothing.
    hung = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "secantusd", str(storage)]
    )
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        state = {"pid": hung.pid, "port": port, "clients": [f"{dead_pid()}:x"]}
        (data_dir / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
        with caplog.at_level(logging.WARNING, logger="tiequan.storage.embedded"):
            with EmbeddedServer(data_dir, stop_timeout=2) as server:
                assert server.owner and server.pid != hung.pid
                client: MongoClient[dict[str, Any]] = MongoClient(server.uri)
                assert client.admin.command("ping")["ok"] == 1
                client.close()
    assert hung.wait(5) is not None
    assert f"pid {hung.pid} owns {data_dir.resolve()} but does not answer" in caplog.text


def holder_head(db: Database[Any], holder: str, lease_s: float) -> None:
    until = datetime.now(UTC) + timedelta(seconds=lease_s)
    db[HEADS].insert_one(
        {"_id": SITE, "state": OPEN, "run_id": "R0", "runs": ["R0"], "holder": holder,
         "lease_until": until}
    )  # fmt: skip


def test_a_stale_frontier_lock_is_cleared_and_a_live_one_is_respected(
    db: Database[Any], caplog: pytest.LogCaptureFixture
) -> None:
    here = socket.gethostname()
    holder_head(db, f"{here}:{dead_pid()}", lease_s=600)
    with caplog.at_level(logging.WARNING, logger="tiequan.storage.frontier"):
        found = open_frontier(db, SITE, "R1", resume=True, lease_s=60)
    assert found == Resumption(resumed=True, previous_run="R0")
    assert "clearing the stale frontier lock of sandbox_mall" in caplog.text
    assert chain_runs(db, SITE) == ["R0", "R1"]

    db[HEADS].delete_many({})
    holder_head(db, f"{here}:{os.getppid()}", lease_s=600)  # alive: a sweep still running
    with pytest.raises(FrontierLocked, match="held by"):
        open_frontier(db, SITE, "R2", resume=True, lease_s=60)
    db[HEADS].delete_many({})
    holder_head(db, "elsewhere:123", lease_s=600)  # another machine, lease still running
    with pytest.raises(FrontierLocked):
        open_frontier(db, SITE, "R2", resume=True, lease_s=60)
    db[HEADS].delete_many({})
    holder_head(db, "elsewhere:123", lease_s=-1)  # its lease ran out
    assert open_frontier(db, SITE, "R2", resume=False, lease_s=60).resumed is False


def test_frontier_ops_keep_the_last_state_and_a_finished_crawl_is_cleared(
    db: Database[Any],
) -> None:
    open_frontier(db, SITE, "R1", resume=False, lease_s=60)
    request = {"url": "http://127.0.0.1/mall/item/1", "callback": "parse_item"}
    write_ops(db, SITE, [
        FrontierOp(QUEUED, "a", request, 0, 1), FrontierOp(LEASED, "a"), FrontierOp(DONE, "a"),
        FrontierOp(QUEUED, "b", {**request, "url": "http://127.0.0.1/b"}, 0, 2),
        FrontierOp(QUEUED, "c", {**request, "url": "http://127.0.0.1/c"}, 0, 3),
        FrontierOp(LEASED, "c"),
    ], lease_s=60)  # fmt: skip
    docs = {d["fp"]: d for d in db[FRONTIER].find({"site": SITE})}
    assert {fp: d["state"] for fp, d in docs.items()} == {"a": DONE, "b": QUEUED, "c": LEASED}
    assert "request" not in docs["a"] and docs["a"]["url"] == request["url"]
    assert docs["c"]["request"]["url"] == "http://127.0.0.1/c"
    seen, pending = seen_and_pending(db, SITE)
    assert seen == {"a", "b", "c"} and sorted(d["fp"] for d in pending) == ["b", "c"]
    write_ops(db, SITE, [FrontierOp(DONE, "b"), FrontierOp(LEASED, "a")], lease_s=60)
    assert (db[FRONTIER].find_one({"fp": "a"}) or {}).get("state") == DONE  # done stays done
    close_frontier(db, SITE, finished=False)
    assert db[FRONTIER].count_documents({"site": SITE}) == 3
    assert open_frontier(db, SITE, "R2", resume=True, lease_s=60).resumed
    close_frontier(db, SITE, finished=True)
    assert db[FRONTIER].count_documents({"site": SITE}) == 0
    assert (db[HEADS].find_one({"_id": SITE}) or {}).get("state") == FINISHED
    assert open_frontier(db, SITE, "R3", resume=True, lease_s=60).resumed is False


def test_an_unfinished_crawl_older_than_the_limit_starts_afresh(db: Database[Any]) -> None:
    open_frontier(db, SITE, "R1", resume=False, lease_s=60)
    write_ops(db, SITE, [FrontierOp(QUEUED, "a", {"url": "http://127.0.0.1/a"})], lease_s=60)
    close_frontier(db, SITE, finished=False)
    db[HEADS].update_one(
        {"_id": SITE}, {"$set": {"started_at": datetime.now(UTC) - timedelta(days=2)}}
    )
    found = open_frontier(db, SITE, "R2", resume=True, lease_s=60, max_age=timedelta(hours=20))
    assert found == Resumption(resumed=False, previous_run=None)
    assert db[FRONTIER].count_documents({"site": SITE}) == 0


def test_the_resume_stage_skips_what_the_killed_run_wrote(
    db: Database[Any], mongo_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    open_frontier(db, SITE, "R1", resume=False, lease_s=60)
    close_frontier(db, SITE, finished=False)
    open_frontier(db, SITE, "R2", resume=True, lease_s=60)
    db.captures.insert_many([
        {"listing_id": f"{SITE}:done", "platform": SITE, "run_id": "R1"},
        {"listing_id": f"{SITE}:stored", "platform": SITE, "run_id": "R1"},
        {"listing_id": f"{SITE}:mine", "platform": SITE, "run_id": "R2"},
    ])  # fmt: skip
    db.evidence.insert_many([
        {"_id": "EVdone", "platform": SITE, "item_id": "done", "run_id": "R1"},
        {"_id": "EVstored", "platform": SITE, "item_id": "stored", "run_id": "R1"},
        {"_id": "EVhalf", "platform": SITE, "item_id": "half", "run_id": "R1"},
    ])  # fmt: skip
    db.leads.insert_one(
        {"_id": "L1", "run_ids": ["R1"],
         "listings": [{"platform": SITE, "item_id": "done", "run_ids": ["R1"]}]}
    )  # fmt: skip
    settings = {"TIEQUAN_MONGO_URI": mongo_uri, "TIEQUAN_RUN_ID": "R2",
                "TIEQUAN_DURABLE_FRONTIER": True, "TIEQUAN_FRONTIER_RESUME": True}  # fmt: skip
    crawler = get_crawler(settings_dict=settings)
    assert crawler.stats is not None
    crawler.stats.set_value("frontier/resumed_from", "R1")
    stage = ResumePipeline.from_crawler(crawler)
    stage.open_spider(type("S", (), {"name": SITE})())

    def listing(item_id: str) -> Listing:
        return Listing(platform=SITE, kind="product", url=f"http://x/{item_id}",
                       item_id=item_id, title="t")  # fmt: skip

    with pytest.raises(AlreadyStored):
        stage.process_item(listing("done"))  # on a lead: written all the way
    stored = stage.process_item(listing("stored"))
    assert (stored.stored_by, stored.evidence_id) == ("R1", "EVstored")
    half = stage.process_item(listing("half"))
    assert (half.stored_by, half.evidence_id) == (None, "EVhalf")
    new = stage.process_item(listing("mine"))  # this run's own capture does not count
    assert (new.stored_by, new.evidence_id) == (None, None)


class OpsSpider(Spider):
    name = SITE


def test_a_request_is_done_only_when_it_and_the_items_it_held_are_finished(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crawler = get_crawler(OpsSpider)
    scheduler = DurableScheduler.from_crawler(crawler)
    ops: list[FrontierOp] = []
    monkeypatch.setattr(scheduler.writer, "add", ops.append)
    scheduler.spider = OpsSpider()
    item_page = Request("http://127.0.0.1/mall/item/1")
    assert scheduler.enqueue_request(item_page)
    assert not scheduler.enqueue_request(Request("http://127.0.0.1/mall/item/1"))  # seen
    taken = scheduler.next_request()
    assert taken is item_page and [op.kind for op in ops] == [QUEUED, LEASED]
    # The evidence stage's screenshot of the same URL never came from the scheduler.
    scheduler.finished(Request("http://127.0.0.1/mall/item/1", dont_filter=True))
    # The item waits for its shop's licence page; the page's own processing ends.
    scheduler.hold(item_page, "http://127.0.0.1/mall/shop/9/licence")
    licence = Request("http://127.0.0.1/mall/shop/9/licence", dont_filter=True)
    assert scheduler.enqueue_request(licence)
    scheduler.finished(item_page)
    assert scheduler.next_request() is licence
    scheduler.release("http://127.0.0.1/mall/shop/9/licence", by=licence)
    assert [op.kind for op in ops] == [QUEUED, LEASED]  # the held item is not written yet
    scheduler.finished(licence)
    assert [op.kind for op in ops] == [QUEUED, LEASED, DONE] and ops[-1].fp == ops[0].fp
    assert ops[0].request is not None and ops[0].request["url"] == item_page.url
    assert len(scheduler) == 0 and not scheduler.has_pending_requests()

    # A callback that is no spider method cannot be stored: crawled, not recorded.
    def elsewhere(response: Any) -> None:
        return None

    odd = Request("http://127.0.0.1/mall/odd", callback=elsewhere)
    assert scheduler.enqueue_request(odd) and len(scheduler) == 1
    assert scheduler.next_request() is odd and len(ops) == 3


def test_scheduled_sweeps_run_with_the_durable_frontier() -> None:
    template = SchedulerSettings.from_env({}).sweep_command
    argv = sweep_command(template, site=SITE, run_id="R9", report=Path("r.json"))
    assert argv[-1] == "--resume" and argv[argv.index("--site") + 1] == SITE
