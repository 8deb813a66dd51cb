"""Distributed crawling: `tiequan sweep --distributed` seeds a run into a real redis-server,
`tiequan worker` processes crawl a small sandbox mall from it into the test database."""

from __future__ import annotations

import hashlib
import re
import signal
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis
from pymongo import MongoClient
from pymongo.database import Database

from tests.fixtures_distributed import (
    LEASE_S,
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
from tiequan.distributed.dedup import DedupPlan, RedisBloom
from tiequan.distributed.state import RunKeys, RunState, connect
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


def test_redis_restarted_mid_run_the_run_completes(
    run_env: dict[str, str],
    small_sandbox: CountingSandbox,
    mongo_client: MongoClient[Any],
    tmp_path: Path,
) -> None:
    # Its own Redis, with the append-only file a production Redis has (docs/distributed.md).
    server = RedisServer(redis_binary(), tmp_path, appendonly=True)
    server.start()
    env = {**run_env, "TIEQUAN_REDIS_URL": server.url}
    try:
        run_id = seed(small_sandbox, env, "DOWNLOAD_DELAY=0.2", "CONCURRENT_REQUESTS_PER_DOMAIN=2")
        client = redis.Redis.from_url(server.url)
        keys = RunKeys(run_id)
        procs = [worker(run_id, env, name) for name in ("w1", "w2")]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            held = sum(client.hlen(keys.inflight(SITE, w)) for w in ("w1", "w2"))
            if len(mall_hits(small_sandbox)) >= 15 and held > 0:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the workers never got going")
        client.close()
        server.stop()
        # Down for longer than a lease: every heartbeat key has expired when it is back.
        time.sleep(float(LEASE_S) + 1.5)
        assert all(p.poll() is None for p in procs)  # waiting, not dead
        server.start()
        client = redis.Redis.from_url(server.url)
        assert client.exists(keys.named("meta"))  # the append-only file kept the run
        assert not client.exists(keys.named("done"))  # and it was mid-run
        outs = [finish(p) for p in procs]
        client.close()
    finally:
        for proc in locals().get("procs", []):
            if proc.poll() is None:
                proc.kill()
        server.stop()
    assert sum("由本节点记录" in out for out in outs) == 1, outs
    faults = small_sandbox.world.faults
    hits = mall_hits(small_sandbox)
    twice = {u: n for u, n in hits.items() if n != 1 + (u.partition("?")[0] in faults)}
    assert twice == {}  # no live worker's requests were taken for a dead one's
    check_run(mongo_client[run_env["TIEQUAN_DB"]], run_id, ["w1", "w2"])


def test_a_bloom_filter_run_crawls_every_page_once(
    run_env: dict[str, str], small_sandbox: CountingSandbox, mongo_client: MongoClient[Any]
) -> None:
    # The seeding sizes the filter; the worker's environment says nothing of it.
    seeding = {**run_env, "TIEQUAN_DEDUP": "bloom", "TIEQUAN_DEDUP_CAPACITY": "1000",
               "TIEQUAN_DEDUP_ERROR_RATE": "1e-4"}  # fmt: skip
    run_id = seed(small_sandbox, seeding)
    client = redis.Redis.from_url(run_env["TIEQUAN_REDIS_URL"])
    keys = RunKeys(run_id)
    assert client.type(keys.dupefilter(SITE)) == b"string"  # a bit array, not a set
    out = finish(worker(run_id, run_env, "solo"))
    assert "由本节点记录" in out
    faults = small_sandbox.world.faults
    hits = mall_hits(small_sandbox)
    twice = {u: n for u, n in hits.items() if n != 1 + (u.partition("?")[0] in faults)}
    assert hits and twice == {}
    run = check_run(mongo_client[run_env["TIEQUAN_DB"]], run_id, ["solo"])
    dedup = run["distributed"]["dedup"]
    assert dedup["kind"] == "bloom" and dedup["capacity"] == 1000
    assert len(hits) <= dedup["entries"][SITE] <= 1000
    assert 0 < dedup["false_positive_rate"][SITE] < 1e-4
    assert not client.exists(keys.dupefilter(SITE), keys.dupefilter_count(SITE))


def bloom_plan(capacity: int, rate: float) -> DedupPlan:
    config = DistributedSettings.from_env(
        {"TIEQUAN_DEDUP": "bloom", "TIEQUAN_DEDUP_CAPACITY": str(capacity),
         "TIEQUAN_DEDUP_ERROR_RATE": str(rate)}
    )  # fmt: skip
    return DedupPlan.sized(config)


def test_the_bloom_filter_keeps_its_false_positive_rate(redis_server: RedisServer) -> None:
    n, rate = 50_000, 0.01
    plan = bloom_plan(n, rate)
    assert plan.false_positive_rate(n) == pytest.approx(rate, rel=0.05)  # sized for it
    client = redis.Redis.from_url(redis_server.url)
    key = f"t:bloom:{uuid.uuid4().hex[:8]}"
    bloom = RedisBloom(client, key, key + ":count", plan)
    # SHA-1 hex, as scrapy-redis fingerprints; deterministic: the same filter every run
    members = [hashlib.sha1(f"member-{i}".encode()).hexdigest() for i in range(n)]
    others = [hashlib.sha1(f"other-{i}".encode()).hexdigest() for i in range(n)]
    try:
        added = [x for i in range(0, n, 2000) for x in bloom.add_many(members[i : i + 2000])]
        assert sum(added) >= n * (1 - rate)  # new ones are new, but for false positives
        assert bloom.count() == sum(added) == bloom.entries
        assert all(bloom.contains_many(members))  # no false negatives
        seen = sum(x for i in range(0, n, 2000) for x in bloom.contains_many(others[i : i + 2000]))
        # ~500 expected (sd ~22): within 30% of the configured rate
        assert rate * 0.7 <= seen / n <= rate * 1.3, seen
        assert bloom.add(members[0]) is False and bloom.add("ab" * 20) is True
        # its memory is the planned bit array, whatever was added
        assert client.strlen(key) == (plan.bits + 7) // 8
    finally:
        client.delete(key, key + ":count")
        client.close()


def test_dedup_settings_name_the_bad_value() -> None:
    with pytest.raises(SettingError, match=r"TIEQUAN_DEDUP .*'cuckoo'"):
        DistributedSettings.from_env({"TIEQUAN_DEDUP": "cuckoo"})
    with pytest.raises(SettingError, match=r"TIEQUAN_DEDUP_ERROR_RATE.*'0.5'"):
        DistributedSettings.from_env({"TIEQUAN_DEDUP_ERROR_RATE": "0.5"})
    with pytest.raises(SettingError, match=r"TIEQUAN_DEDUP_CAPACITY.*'lots'"):
        DistributedSettings.from_env({"TIEQUAN_DEDUP_CAPACITY": "lots"})
    with pytest.raises(SettingError, match=r"2\*\*32 bits.*1000000000"):
        bloom_plan(10**9, 1e-9)
    assert DedupPlan.sized(DistributedSettings.from_env({})).kind == "set"  # the default
    assert bloom_plan(1000, 1e-3).capacity == 1000
    config = DistributedSettings.from_env({"TIEQUAN_DEDUP": "bloom"})
    assert DedupPlan.sized(config, estimate=3_000_000).capacity == 6_000_000  # from the last run


def test_a_pop_retried_after_a_lost_reply_gets_the_same_request(
    redis_server: RedisServer,
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    state = RunState(client, f"t-{uuid.uuid4().hex[:8]}", 60)
    queue = state.keys.queue(SITE)
    client.zadd(queue, {b"first": -2, b"second": -1})
    inflight = state.keys.inflight(SITE, "w")
    keys = [queue, inflight]
    first = state.pop_script(keys=keys, args=[1, "tok"])
    again = state.pop_script(keys=keys, args=[1, "tok"])  # as redis-py's retry sends it
    assert first == again == [b"tok:1", b"first"]
    assert client.zcard(queue) == 1 and client.hlen(inflight) == 1
    token, data = state.pop(SITE, "w") or ("", b"")
    assert data == b"second" and token.startswith(f"{state.nonce}:")
    state.finish(SITE, "w", [token])  # the lease ends under the token the pop gave
    assert client.hkeys(inflight) == [b"tok:1"]
    client.delete(queue, inflight)
    client.close()


def test_no_lease_counts_as_expired_in_the_first_lease_after_a_redis_restart(
    tmp_path: Path,
) -> None:
    server = RedisServer(redis_binary(), tmp_path)
    server.start()  # just started: its uptime is under a lease
    client = redis.Redis.from_url(server.url)
    try:
        state = RunState(client, "t-restart", 60)
        client.sadd(state.keys.named("workers"), "gone")  # no heartbeat key
        client.hset(state.keys.inflight(SITE, "gone"), "t1", "-1 request")
        assert state.requeue_dead(SITE, lease_s=60) == 0  # it may not have beaten yet
        assert client.zcard(state.keys.queue(SITE)) == 0
        assert state.requeue_dead(SITE, lease_s=0) == 1  # a full lease since: it is dead
        assert client.zrange(state.keys.queue(SITE), 0, -1) == [b"request"]
    finally:
        client.close()
        server.stop()


def test_a_stats_merge_retried_after_a_lost_reply_adds_once(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    state = RunState(client, f"t-{uuid.uuid4().hex[:8]}", 60)
    keys = [state.keys.stats(SITE), state.keys.named("merged")]
    args = [60, "merge-1", "pages", "i", 3, "elapsed", "f", 1.5]
    assert state.merge_script(keys=keys, args=args) == 1
    assert state.merge_script(keys=keys, args=args) == 0  # as redis-py's retry sends it
    state.merge_stats(SITE, {"pages": 2, "elapsed": 0.5, "reason": "finished", "flag": True})
    assert state.stats(SITE) == {"pages": 5, "elapsed": 2.0}
    client.delete(*keys)
    client.close()
