"""Resume after a crash: a sweep killed with SIGKILL mid-run, then `tiequan sweep --resume`.

The killed sweep and its embedded database server are both SIGKILLed (as when a machine
loses power), so the resumed sweep also meets the stale state they left behind. A full
sweep of the same sandbox into another database is the reference.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from pymongo import MongoClient
from pymongo.database import Database

from tests.conftest import TrainedModel
from tests.fixtures_sandbox import SANDBOX_SEED
from tiequan.sandbox.routes import Response
from tiequan.sandbox.server import SandboxServer
from tiequan.storage.embedded import STATE_FILE, EmbeddedServer
from tiequan.storage.frontier import (
    DONE,
    FINISHED,
    FRONTIER,
    HEADS,
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

    def __init__(self, mongo_uri: str, home: Path, model: TrainedModel) -> None:
        self.uri = mongo_uri
        self.name = f"t_resume_ref_{uuid.uuid4().hex[:8]}"
        model.promote_at(mongo_uri, self.name)
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


def test_a_killed_sweep_resumes_where_it_stopped(
    mongo_uri: str, tmp_path: Path, trained_model: TrainedModel
) -> None:
    pending = Reference(mongo_uri, tmp_path / "ref", trained_model)
    home = tmp_path / "home"
    trained_model.promote_in_home(home, "resume")
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
    assert "Traceback" not in second.stderr, second.stderr[-3000:]
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
