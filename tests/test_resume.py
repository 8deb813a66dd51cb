"""Resume after a crash: a sweep killed with SIGKILL mid-run, then `tiequan sweep --resume`.

The killed sweep and its embedded database server are both SIGKILLed (as when a machine
loses power), so the resumed sweep also meets the stale state they left behind. A full
sweep of the same sandbox into another database is the reference.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from scrapy import Request, Spider
from scrapy.utils.test import get_crawler

from crawlers.frontier import DurableScheduler
from crawlers.items import Listing
from pipelines.resume import AlreadyStored, ResumePipeline
from tests.fixtures_sandbox import SANDBOX_SEED
from tiequan.sandbox.routes import Response
from tiequan.sandbox.server import SandboxServer
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

REPO = Path(__file__).resolve().parents[1]
SITE = "sandbox_mall"
SCALE = 0.1
KILL_AFTER = 15  # listings stored (of about 60) when the first sweep is killed
PAGES = ("/mall/search", "/mall/browse/clearance", "/mall/item/")
FAST = [
    "DOWNLOAD_DELAY=0",
    "AUTOTHROTTLE_ENABLED=False",
    "RETRY_BACKOFF_BASE=0.05",
    "RETRY_BACKOFF_MAX=0.3",
    "TIEQUAN_EVIDENCE_SCREENSHOTS=False",
    "TIEQUAN_OCR_ENABLED=False",
    "TIEQUAN_FLUSH_SECONDS=0.3",
    "TIEQUAN_BATCH_SIZE=10",
]


def page_key(path: str, query: dict[str, list[str]]) -> str:
    pairs = sorted((k, v) for k, values in query.items() for v in values)
    return f"{path}?{urlencode(pairs)}" if pairs else path


class CountingSandbox(SandboxServer):
    """The sandbox, counting each page it served (not the planned faults), a little slowly
    so that a kill lands mid-crawl."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(seed=SANDBOX_SEED, scale=SCALE)
        self.delay = delay
        self.fetches: Counter[str] = Counter()
        self.count_lock = threading.Lock()

    def respond(self, path: str, query: dict[str, list[str]]) -> Response:
        page = path.startswith(PAGES)
        if page and self.delay:
            time.sleep(self.delay)
        response = super().respond(path, query)
        if page and response.status < 500 and response.status != 429:
            with self.count_lock:
                self.fetches[page_key(path, query)] += 1
        return response


def sweep_argv(base_url: str, *extra: str) -> list[str]:
    settings = [arg for kv in FAST for arg in ("-s", kv)]
    return [sys.executable, "-m", "tiequan", "sweep", "--site", SITE, "--base-url", base_url,
            "--progress", "0", "--log-level", "INFO", *settings, *extra]  # fmt: skip


def request_key(url: str) -> str:
    parts = urlsplit(url)
    query: dict[str, list[str]] = {}
    for pair in filter(None, parts.query.split("&")):
        name, _, value = pair.partition("=")
        query.setdefault(name, []).append(value)
    return page_key(parts.path, query)


def outcome(db: Database[Any]) -> dict[str, Any]:
    captures = Counter(d["listing_id"] for d in db.captures.find({}, {"listing_id": 1}))
    sets = db.evidence.find({}, {"platform": 1, "item_id": 1})
    evidence = Counter(f"{d['platform']}:{d['item_id']}" for d in sets)
    leads = {d["_id"]: d for d in db.leads.find({})}
    return {"captures": captures, "evidence": evidence, "leads": leads}


class Reference:
    """A full, ordinary sweep of the same sandbox, run beside the killed one to save time:
    which pages there are, what it stores."""

    def __init__(self, mongo_uri: str, home: Path) -> None:
        self.uri = mongo_uri
        self.name = f"t_resume_ref_{uuid.uuid4().hex[:8]}"
        env = dict(os.environ, TIEQUAN_MONGO_URI=mongo_uri, TIEQUAN_DB=self.name,
                   PYTHONPATH=str(REPO), TIEQUAN_HOME=str(home))  # fmt: skip
        self.sandbox = CountingSandbox()
        self.sandbox.start()
        self.proc = subprocess.Popen(
            sweep_argv(self.sandbox.base_url), cwd=REPO, env=env, text=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    def result(self) -> dict[str, Any]:
        _, err = self.proc.communicate(timeout=240)
        self.sandbox.stop()
        assert self.proc.returncode == 0, err[-3000:]
        client: MongoClient[dict[str, Any]] = MongoClient(self.uri)
        try:
            return {"fetches": Counter(self.sandbox.fetches), **outcome(client[self.name])}
        finally:
            client.drop_database(self.name)
            client.close()


def wait_for_captures(db: Database[Any], proc: subprocess.Popen[bytes], at_least: int) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        n = db.captures.count_documents({})
        if n >= at_least:
            return n
        time.sleep(0.05)
    raise AssertionError(f"the sweep ended (code {proc.poll()}) before {at_least} captures")


def test_a_killed_sweep_resumes_where_it_stopped(mongo_uri: str, tmp_path: Path) -> None:
    pending = Reference(mongo_uri, tmp_path / "ref")
    home = tmp_path / "home"
    env = dict(os.environ, TIEQUAN_HOME=str(home), TIEQUAN_DB="resume", PYTHONPATH=str(REPO))
    env.pop("TIEQUAN_MONGO_URI", None)  # the embedded server under TIEQUAN_HOME
    sandbox = CountingSandbox(delay=0.05)
    with sandbox:
        first = subprocess.Popen(
            sweep_argv(sandbox.base_url, "--resume", "--run-id", "R1"), cwd=REPO, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        server = EmbeddedServer(home / "db")
        try:
            server.start()
            db: Database[Any] = MongoClient(server.uri, tz_aware=True)["resume"]
            wait_for_captures(db, first, at_least=KILL_AFTER)
            os.killpg(first.pid, signal.SIGKILL)
            assert first.wait(30) == -signal.SIGKILL
            head = db[HEADS].find_one({"_id": SITE})
            assert head is not None and head["holder"].endswith(f":{first.pid}")
            states: dict[str, set[str]] = {"done": set(), "open": set()}
            for doc in db[FRONTIER].find({"site": SITE}, {"state": 1, "url": 1}):
                states["done" if doc["state"] == DONE else "open"].add(request_key(doc["url"]))
            stored_at_kill = db.captures.count_documents({})
            db.client.close()
        finally:
            # The database server dies too: its state file is left behind, stale.
            state = json.loads((home / "db" / STATE_FILE).read_text(encoding="utf-8"))
            os.kill(int(state["pid"]), signal.SIGKILL)
        fetched_before = Counter(sandbox.fetches)
        assert states["done"] and states["open"]

        second = subprocess.run(
            sweep_argv(sandbox.base_url, "--resume", "--run-id", "R2", "--report",
                       str(tmp_path / "r2.json")),
            cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        server.stop()  # this test's client of the killed server
        assert second.returncode == 0, second.stderr[-3000:]
        fetches = Counter(sandbox.fetches)
    reference = pending.result()
    assert KILL_AFTER <= stored_at_kill < len(reference["captures"])
    assert "removing stale embedded-server state" in second.stderr
    assert "clearing the stale frontier lock of sandbox_mall" in second.stderr
    report = json.loads((tmp_path / "r2.json").read_text(encoding="utf-8"))
    assert report["resumed"] is True and report["resumed_from"] == "R1"

    # Every page once: the two runs together fetched exactly the reference's pages; no page
    # the killed run had finished was fetched again, and every one it had not finished was.
    assert set(fetches) == set(reference["fetches"])
    resumed = {url for url, n in fetches.items() if n > fetched_before.get(url, 0)}
    again = resumed & set(fetched_before)
    assert again.isdisjoint(states["done"]), sorted(again & states["done"])[:5]
    assert states["open"] & set(reference["fetches"]) <= resumed
    assert max(fetches.values()) <= 2

    server = EmbeddedServer(home / "db")
    with server:
        db = MongoClient(server.uri, tz_aware=True)["resume"]
        got = outcome(db)
        # One capture per listing and one evidence set per flagged listing, over both runs.
        assert set(got["captures"]) == set(reference["captures"])
        assert set(got["captures"].values()) == {1}
        assert set(got["evidence"]) == set(reference["evidence"])
        assert set(got["evidence"].values()) == {1}
        assert set(got["leads"]) == set(reference["leads"])
        for lead in got["leads"].values():
            for entry in lead["listings"]:
                assert len({"R1", "R2"} & set(entry["run_ids"])) == 1, entry
        # The finished crawl leaves no frontier behind.
        assert db[FRONTIER].count_documents({"site": SITE}) == 0
        head = db[HEADS].find_one({"_id": SITE})
        assert head is not None and head["state"] == FINISHED and head["holder"] is None
        run = db.runs.find_one({"_id": "R2"})
        assert run is not None and run["resumed"] is True and run["resumed_from"] == "R1"
        db.client.close()


# ---- the pieces, one by one ---------------------------------------------------------


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
