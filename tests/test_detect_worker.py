"""Detection off the crawl path: `tiequan worker` processes stage the mall's listings, and
`tiequan detect-worker` processes detect, fix evidence and refer them, against a real
redis-server, the test database and the small counting sandbox."""

from __future__ import annotations

import re
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from pymongo import MongoClient
from pymongo.database import Database

from crawlers.items import UNCHANGED, Licence, Listing, RawCapture
from crawlers.revisit import Target
from tests.conftest import TrainedModel
from tests.fixtures_distributed import (
    FAST,
    LEASE_S,
    SITE,
    CountingSandbox,
    RedisServer,
    finish,
    seed,
    tiequan,
    worker,
)
from tests.fixtures_mongo import cli_env
from tests.test_distributed import truth
from tiequan.distributed.handoff import staged_doc, staged_listing
from tiequan.distributed.state import RunKeys, RunState, connect, detect_queue
from tiequan.settings import DistributedSettings, SettingError

# The shared run starts six `tiequan` processes one after another (seed, crawl, victim, then
# two detection workers beside a single-process sweep): 250 s at load 8 on 2 cores, and
# beyond pytest's 300 s at load 13 (about 110 s of CPU in all).
pytestmark = pytest.mark.timeout(900)
BATCH = "4"  # small batches, so two detection workers share a hundred listings


_CHILDREN: list[subprocess.Popen[str]] = []


def reap() -> None:
    """Kill what a failed fixture left running."""
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


def new_db(mongo_uri: str, trained_model: TrainedModel, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    trained_model.promote_at(mongo_uri, name)
    return name


@dataclass
class DetectedRun:
    """One distributed run of the mall and one single-process sweep of it, in two databases."""

    run_id: str
    db: Database[Any]
    alone: Database[Any]
    crawl: str  # the crawl worker's output
    outs: list[str]  # the two detection workers' outputs
    held: int  # listings the killed detection worker held
    queued: int  # listings queued by the crawl
    redis: redis.Redis


@pytest.fixture(scope="module")
def detected_run(
    mongo_uri: str,
    mongo_client: MongoClient[Any],
    trained_model: TrainedModel,
    redis_server: RedisServer,
    small_sandbox: CountingSandbox,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DetectedRun]:
    """A crawl worker fills the queue; a detection worker is SIGKILLed holding listings; two
    more drain it, while a single-process sweep of the same sandbox runs beside them."""
    home = tmp_path_factory.mktemp("detect")
    names = [new_db(mongo_uri, trained_model, p) for p in ("t_detw", "t_single")]
    env = cli_env(
        mongo_uri, names[0], home / "dist",
        TIEQUAN_REDIS_URL=redis_server.url, TIEQUAN_WORKER_LEASE_SECONDS=LEASE_S,
    )  # fmt: skip
    client: redis.Redis | None = None
    try:
        run_id = seed(small_sandbox, env, detection="workers")
        client = redis.Redis.from_url(env["TIEQUAN_REDIS_URL"])
        crawl = finish(worker(run_id, env, "c1"))
        queue = RunKeys(run_id).queue(detect_queue(SITE))
        queued = int(client.zcard(queue))
        inflight = RunKeys(run_id).inflight(detect_queue(SITE), "victim")
        victim = detect_worker(run_id, env, "victim")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and client.hlen(inflight) == 0:
            time.sleep(0.01)
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=30)
        held = int(client.hlen(inflight))
        assert client.zcard(queue) > 0  # killed mid-queue
        settings = [arg for kv in FAST for arg in ("-s", kv)]
        single = tiequan(
            "sweep", "--site", SITE, "--base-url", small_sandbox.base_url, *settings,
            env=cli_env(mongo_uri, names[1], home / "single"),
        )  # fmt: skip
        _CHILDREN.append(single)
        detectors = [detect_worker(run_id, env, name) for name in ("d1", "d2")]
        outs = [finish(p) for p in detectors]
        finish(single)
        yield DetectedRun(
            run_id, mongo_client[names[0]], mongo_client[names[1]], crawl, outs, held, queued,
            client,
        )  # fmt: skip
    finally:
        reap()
        if client is not None:
            client.close()
        for name in names:
            mongo_client.drop_database(name)


def test_detection_workers_make_the_leads_of_a_single_process_sweep(
    detected_run: DetectedRun,
) -> None:
    run, db, alone = detected_run, detected_run.db, detected_run.alone
    assert "检测节点" in run.crawl and "由本节点记录" not in run.crawl  # the crawl does not record
    assert run.queued == len(truth())
    assert sum("由本节点记录" in out for out in run.outs) == 1, run.outs
    # Between them they detected every listing once (the victim's were taken back); which
    # one took how many depends on their start-up (under load one may take them all).
    assert sum(detected(out) for out in run.outs) == len(truth()), run.outs
    recorder = "d1" if "由本节点记录" in run.outs[0] else "d2"
    record = check_detected(db, run.run_id, recorder)
    assert not run.redis.exists(RunKeys(run.run_id).queue(detect_queue(SITE)))
    leads = leads_of(db)
    assert leads and leads == leads_of(alone)
    assert evidence_of(db) and evidence_of(db) == evidence_of(alone)
    (alone_run,) = alone.runs.find()
    for key in ("findings", "leads_new", "items"):
        assert record["totals"][key] == alone_run["totals"][key], key
    assert record["leads_by_category"] == alone_run["leads_by_category"]


def test_a_killed_detection_worker_leaves_no_listing_undetected(
    detected_run: DetectedRun,
) -> None:
    run = detected_run
    assert run.held > 0  # it died holding listings: the others took them back
    requeued = [int(m) for out in run.outs for m in re.findall(r"收回失联节点商品 (\d+)", out)]
    assert sum(requeued) == run.held, run.outs
    inflight = RunKeys(run.run_id).inflight(detect_queue(SITE), "victim")
    assert run.redis.hlen(inflight) == 0
    stored = list(run.db.listings.find({"platform": SITE}, {"item_id": 1}))
    assert {d["item_id"] for d in stored} == truth()
    assert run.db.staged.count_documents({}) == 0


def test_a_staged_listing_comes_back_as_the_crawl_left_it() -> None:
    raw = RawCapture(
        request_url="http://127.0.0.1/mall/item/1", method="GET",
        request_headers=[("Accept", "text/html")], response_url="http://127.0.0.1/mall/item/1",
        status=200, response_headers=[("Content-Type", "text/html")], body=b"<html>1</html>",
        fetched_at="2026-12-02T00:00:00Z", images={"http://127.0.0.1/a.b/x.png": b"\x89PNG"},
    )  # fmt: skip
    target = Target("sandbox_mall", "1", raw.request_url, "t", ("XS1",), ("drugs",))
    item = Listing(
        platform="sandbox_mall", kind="product", url=raw.request_url, item_id="1", title="t",
        licence=Licence(credit_code="91110000000000000X"), raw=raw, licence_raw=raw,
        revisit=target, extra={"category": "药品"},
    )  # fmt: skip
    doc = staged_doc(item, "R1")
    assert doc["_id"] == "R1/sandbox_mall:1"
    back = staged_listing(doc)
    assert back.to_dict() == item.to_dict()
    assert back.revisit == target and back.recrawl is None
    assert back.raw is not None and back.licence_raw is not None
    assert back.raw.images == raw.images and back.raw.body == raw.body
    assert back.raw.request_headers == raw.request_headers
    item.recrawl = UNCHANGED
    item.revisit = None
    assert staged_doc(item, "R1")["raw"] is None  # an unchanged listing fixes no evidence


def test_an_id_is_queued_once_per_run(redis_server: RedisServer) -> None:
    config = DistributedSettings.from_env({"TIEQUAN_REDIS_URL": redis_server.url})
    state = RunState(connect(config), f"offer-{uuid.uuid4().hex[:8]}", 60)
    queue = detect_queue(SITE)
    try:
        assert state.offer(queue, ["a", "b"]) == 2
        taken = state.pop_many(queue, "w", 5)
        assert sorted(data for _token, data in taken) == [b"a", b"b"]
        assert state.offer(queue, ["a", "c"]) == 1  # "a" was queued before, though taken since
        assert state.pop_many(queue, "w", 5)[0][1] == b"c"
        assert state.held(queue, "w") == 3
        assert state.offered(queue) == {"a", "b", "c"}
    finally:
        state.server.close()


def test_the_detection_setting_names_the_bad_value() -> None:
    with pytest.raises(SettingError, match=r"TIEQUAN_DETECTION.*'elsewhere'"):
        DistributedSettings.from_env({"TIEQUAN_DETECTION": "elsewhere"})
    with pytest.raises(SettingError, match=r"TIEQUAN_DETECT_BATCH.*'0'"):
        DistributedSettings.from_env({"TIEQUAN_DETECT_BATCH": "0"})
