"""Detection off the crawl path: `tiequan worker` processes stage the mall's listings, and
`tiequan detect-worker` processes detect, fix evidence and refer them, against a real
redis-server, the test database and the small counting sandbox."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from pymongo import MongoClient
from pymongo.database import Database

from tests.conftest import TrainedModel
from tests.fixtures_distributed import (
    FAST,
    SITE,
    CountingSandbox,
    finish,
    seed,
    tiequan,
    worker,
)
from tests.fixtures_mongo import cli_env
from tests.test_distributed import truth
from tiequan.distributed.state import RunKeys, detect_queue

BATCH = "4"  # small batches, so two detection workers share a hundred listings


_CHILDREN: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def no_child_left() -> Iterator[None]:
    """A failed test kills the detection workers it started."""
    yield
    while _CHILDREN:
        proc = _CHILDREN.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def detect_worker(
    run_id: str, env: dict[str, str], name: str, batch: str = BATCH
) -> subprocess.Popen[str]:
    env = {**env, "TIEQUAN_WORKER_ID": name, "TIEQUAN_DETECT_BATCH": batch}
    proc = tiequan("detect-worker", "--run", run_id, env=env)
    _CHILDREN.append(proc)
    return proc


def detected(out: str) -> int:
    found = re.search(r"检测 (\d+)", out)
    assert found, out
    return int(found.group(1))


def leads_of(db: Database[Any]) -> dict[str, tuple[str, str, list[str]]]:
    """Each case by id: its category, lead unit and listings."""
    return {
        str(d["_id"]): (
            d["category"],
            d.get("lead_unit"),
            sorted(f"{e['platform']}:{e['item_id']}" for e in d["listings"]),
        )
        for d in db.leads.find()
    }


def evidence_of(db: Database[Any]) -> dict[str, list[tuple[str, str]]]:
    """Each listing's artefacts by kind and hash; the WARC records the fetch time, so two
    crawls of one page differ there and only there."""
    return {
        f"{d['platform']}:{d['item_id']}": sorted(
            (a["kind"], a["sha256"]) for a in d["artefacts"] if a["kind"] != "warc"
        )
        for d in db.evidence.find()
    }


def check_detected(db: Database[Any], run_id: str, recorder: str) -> dict[str, Any]:
    """Every listing of the mall stored and detected once, none left staged, one run record."""
    stored = list(db.listings.find({"platform": SITE}, {"item_id": 1, "detector_version": 1}))
    assert {d["item_id"] for d in stored} == truth()
    assert all(d.get("detector_version") for d in stored)
    assert db.staged.count_documents({}) == 0
    keys = Counter((e["platform"], e["item_id"], d["category"]) for d in db.leads.find()
                   for e in d["listings"])  # fmt: skip
    assert keys and max(keys.values()) == 1
    runs = list(db.runs.find())
    assert len(runs) == 1 and runs[0]["_id"] == run_id
    run = runs[0]
    assert run["status"] == "ok", run
    assert run["distributed"]["recorded_by"] == recorder
    assert run["distributed"]["detection"] == "workers"
    assert run["totals"]["leads_new"] == db.leads.count_documents({})
    return run


@pytest.fixture
def sweep_env(
    mongo_uri: str, tmp_path: Path, trained_model: TrainedModel
) -> Iterator[dict[str, str]]:  # a database of its own for the single-process sweep
    name = f"t_single_{int(time.time() * 1000) % 10**8}"
    trained_model.promote_at(mongo_uri, name)
    env = cli_env(mongo_uri, name, tmp_path / "single")
    yield env
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    client.drop_database(name)
    client.close()


def test_detection_workers_make_the_leads_of_a_single_process_sweep(
    run_env: dict[str, str],
    sweep_env: dict[str, str],
    small_sandbox: CountingSandbox,
    mongo_client: MongoClient[Any],
) -> None:
    run_id = seed(small_sandbox, run_env, detection="workers")
    client = redis.Redis.from_url(run_env["TIEQUAN_REDIS_URL"])
    detectors = [detect_worker(run_id, run_env, name) for name in ("d1", "d2")]
    crawl = finish(worker(run_id, run_env, "c1"))
    assert "检测节点" in crawl and "由本节点记录" not in crawl  # the crawl does not record
    outs = [finish(p) for p in detectors]
    assert sum("由本节点记录" in out for out in outs) == 1, outs
    counts = [detected(out) for out in outs]
    assert all(n > 0 for n in counts), outs  # they shared the queue
    assert sum(counts) == len(truth())
    recorder = "d1" if "由本节点记录" in outs[0] else "d2"
    db = mongo_client[run_env["TIEQUAN_DB"]]
    run = check_detected(db, run_id, recorder)
    assert not client.exists(RunKeys(run_id).queue(detect_queue(SITE)))

    settings = [arg for kv in FAST for arg in ("-s", kv)]
    single = tiequan("sweep", "--site", SITE, "--base-url", small_sandbox.base_url, *settings,
                     env=sweep_env)  # fmt: skip
    _out, err = single.communicate(timeout=240)
    assert single.returncode == 0, err[-3000:]
    alone = mongo_client[sweep_env["TIEQUAN_DB"]]
    leads = leads_of(db)
    assert leads and leads == leads_of(alone)
    assert evidence_of(db) and evidence_of(db) == evidence_of(alone)
    (alone_run,) = alone.runs.find()
    for key in ("findings", "leads_new", "items"):
        assert run["totals"][key] == alone_run["totals"][key], key
    assert run["leads_by_category"] == alone_run["leads_by_category"]


def test_a_killed_detection_worker_leaves_no_listing_undetected(
    run_env: dict[str, str], small_sandbox: CountingSandbox, mongo_client: MongoClient[Any]
) -> None:
    run_id = seed(small_sandbox, run_env, detection="workers")
    client = redis.Redis.from_url(run_env["TIEQUAN_REDIS_URL"])
    queue = RunKeys(run_id).queue(detect_queue(SITE))
    finish(worker(run_id, run_env, "crawler"))  # the whole mall waits in the queue
    queued = client.zcard(queue)
    assert queued == len(truth())
    inflight = RunKeys(run_id).inflight(detect_queue(SITE), "victim")
    victim = detect_worker(run_id, run_env, "victim")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and client.hlen(inflight) == 0:
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert client.hlen(inflight) > 0  # it died holding listings
    assert client.zcard(queue) < queued
    out = finish(detect_worker(run_id, run_env, "survivor"))
    assert re.search(r"收回失联节点商品 [1-9]", out), out
    assert "由本节点记录" in out
    assert client.hlen(inflight) == 0
    check_detected(mongo_client[run_env["TIEQUAN_DB"]], run_id, "survivor")
