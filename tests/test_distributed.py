"""Distributed crawling: `tiequan sweep --distributed` seeds a run into a real redis-server,
`tiequan worker` processes crawl a small sandbox mall from it into the test database."""

from __future__ import annotations

import re
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis
from pymongo import MongoClient
from pymongo.database import Database

from tests.fixtures_distributed import (
    SCALE,
    SITE,
    CountingSandbox,
    RedisServer,
    finish,
    redis_binary,
    seed,
    worker,
)
from tests.fixtures_sandbox import SANDBOX_SEED
from tiequan.distributed.state import RunKeys, connect
from tiequan.sandbox.truth import build_truth
from tiequan.settings import DistributedSettings, SettingError


def pages(out: str) -> int:
    found = re.search(r"页面 (\d+)", out)
    assert found, out
    return int(found.group(1))


def truth() -> set[str]:
    return {t.item_id for t in build_truth(SANDBOX_SEED, SCALE) if t.site == SITE}


def check_run(db: Database[Any], run_id: str, recorders: list[str]) -> dict[str, Any]:
    """Every listing of the mall stored, no case twice, the run recorded once and complete."""
    stored = {d["item_id"] for d in db.listings.find({"platform": SITE}, {"item_id": 1})}
    assert stored == truth()
    leads = list(db.leads.find())
    assert leads
    keys = Counter(
        (e["platform"], e["item_id"], d["category"]) for d in leads for e in d["listings"]
    )
    assert max(keys.values()) == 1, keys.most_common(3)
    runs = list(db.runs.find({"_id": run_id}))
    assert len(runs) == 1 and db.runs.count_documents({}) == 1
    run = runs[0]
    assert run["status"] == "ok" and run["sites"][SITE]["finish_reason"] == "finished"
    assert run["distributed"]["recorded_by"] in recorders
    assert sum(run["leads_by_category"].values()) == len(leads)  # counted in the database
    return run


def mall_hits(sandbox: CountingSandbox) -> dict[str, int]:
    """Hits of list and item pages by URL (licence pages are asked once per worker: the
    items waiting for one are held in that worker's memory)."""
    return {
        url: n
        for url, n in sandbox.url_hits.items()
        if url.startswith("/mall/") and not url.partition("?")[0].endswith("/licence")
    }


def test_two_workers_sweep_the_sandbox_together_each_page_once(
    run_env: dict[str, str], small_sandbox: CountingSandbox, mongo_client: MongoClient[Any]
) -> None:
    # Slow enough that the second worker is up before the first has finished alone.
    run_id = seed(small_sandbox, run_env, "DOWNLOAD_DELAY=0.25")
    db = mongo_client[run_env["TIEQUAN_DB"]]
    seeded = db.runs.find_one({"_id": run_id})
    assert seeded is not None and seeded["status"] == "running"
    procs = [worker(run_id, run_env, name) for name in ("w1", "w2")]
    outs = [finish(p) for p in procs]
    assert all(pages(out) > 0 for out in outs), outs  # they shared the work
    assert sum("由本节点记录" in out for out in outs) == 1, outs
    faults = small_sandbox.world.faults
    hits = mall_hits(small_sandbox)
    assert hits
    twice = {u: n for u, n in hits.items() if n != 1 + (u.partition("?")[0] in faults)}
    assert twice == {}
    run = check_run(db, run_id, ["w1", "w2"])
    # both workers' stats are in the report (a killed worker's are not, see the next test)
    assert run["totals"]["leads_new"] == db.leads.count_documents({})
    assert run["sites"][SITE]["pages"] >= len(hits)
    # the run's fingerprints and queue are gone with it
    client = redis.Redis.from_url(run_env["TIEQUAN_REDIS_URL"])
    assert not client.exists(RunKeys(run_id).dupefilter(SITE), RunKeys(run_id).queue(SITE))


def test_a_killed_worker_loses_no_page(
    run_env: dict[str, str], small_sandbox: CountingSandbox, mongo_client: MongoClient[Any]
) -> None:
    # Slow enough that the victim is killed holding requests.
    run_id = seed(small_sandbox, run_env, "DOWNLOAD_DELAY=0.2", "CONCURRENT_REQUESTS_PER_DOMAIN=2")
    client = redis.Redis.from_url(run_env["TIEQUAN_REDIS_URL"])
    inflight = RunKeys(run_id).inflight(SITE, "victim")
    victim = worker(run_id, run_env, "victim")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(mall_hits(small_sandbox)) >= 15 and client.hlen(inflight) > 0:
            break
        time.sleep(0.05)
    else:
        victim.kill()
        pytest.fail("the victim worker never got going")
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    held = client.hlen(inflight)
    assert held > 0
    survivor = worker(run_id, run_env, "survivor")
    out = finish(survivor)
    assert re.search(r"收回失联节点请求 [1-9]", out), out
    assert "由本节点记录" in out
    assert client.hlen(inflight) == 0
    check_run(mongo_client[run_env["TIEQUAN_DB"]], run_id, ["survivor"])


def test_a_client_waits_for_redis_to_come_back(tmp_path: Path) -> None:
    server = RedisServer(redis_binary(), tmp_path)
    server.start()
    config = DistributedSettings.from_env(
        {"TIEQUAN_REDIS_URL": server.url, "TIEQUAN_REDIS_OUTAGE_SECONDS": "30"}
    )
    client = connect(config)
    try:
        assert client.set("k", "before")
        server.stop()
        back = threading.Timer(1.0, server.start)  # same port: the restarted server
        back.start()
        assert client.set("k", "after")  # waited for it instead of failing
        back.join()
        assert client.get("k") == b"after"
    finally:
        client.close()
        server.stop()


def test_distributed_settings_name_the_bad_value() -> None:
    with pytest.raises(SettingError, match=r"TIEQUAN_REDIS_URL.*'http://x'"):
        DistributedSettings.from_env({"TIEQUAN_REDIS_URL": "http://x"})
    with pytest.raises(SettingError, match=r"TIEQUAN_WORKER_LEASE_SECONDS.*'0'"):
        DistributedSettings.from_env({"TIEQUAN_WORKER_LEASE_SECONDS": "0"})


def test_a_stopped_worker_gives_its_requests_back(
    run_env: dict[str, str], small_sandbox: CountingSandbox, mongo_client: MongoClient[Any]
) -> None:
    run_id = seed(small_sandbox, run_env, "DOWNLOAD_DELAY=0.2", "CONCURRENT_REQUESTS_PER_DOMAIN=2")
    client = redis.Redis.from_url(run_env["TIEQUAN_REDIS_URL"])
    keys = RunKeys(run_id)
    quitter = worker(run_id, run_env, "quitter")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(mall_hits(small_sandbox)) < 15:
        time.sleep(0.05)
    quitter.send_signal(signal.SIGTERM)
    out, err = quitter.communicate(timeout=60)
    assert quitter.returncode == 4, err[-3000:]  # EXIT_STOPPED: the run is not complete
    assert "尚未完成" in err
    assert client.hlen(keys.inflight(SITE, "quitter")) == 0  # nothing waits for a lease
    assert client.zcard(keys.queue(SITE)) > 0
    out = finish(worker(run_id, run_env, "closer"))
    assert "由本节点记录" in out
    check_run(mongo_client[run_env["TIEQUAN_DB"]], run_id, ["closer"])
