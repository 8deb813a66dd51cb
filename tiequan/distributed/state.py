"""A distributed run's shared state in Redis, next to scrapy-redis's queues and fingerprints.

scrapy-redis gives each site a priority queue (a sorted set) and a duplicate filter (a set of
fingerprints); its keys here carry the run id, so runs never share fingerprints. What it
lacks is written here by hand, each piece small and atomic (Lua scripts run alone in Redis):

* leases: its queue's pop deletes the request, so a worker that dies loses what it held.
  ``pop`` moves the request into the worker's in-flight hash in the same step, the worker
  deletes it once the request is fully processed, and a worker whose heartbeat key has
  expired gets its in-flight requests put back in the queue (``requeue``);
* the end of a site and of the run: scrapy-redis spiders idle forever. A site is drained
  when its queue is empty and no worker holds one of its requests, checked in one script;
  the run is done once every site is drained (``SET NX``: detected once), and recorded by
  the one worker that wins a second ``SET NX``;
* the run's metadata (sites, base URL, settings, takedown revisits) and its merged stats.

Everything here names keys through ``RunKeys``; nothing imports Scrapy.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError
from redis.retry import Retry

from tiequan.distributed.dedup import SET, DedupPlan
from tiequan.settings import DistributedSettings

logger = logging.getLogger(__name__)

KEY_ROOT = "tiequan:run"
ACTIVE_KEY = "tiequan:active-run"  # the run last seeded, for workers started without --run-id
BACKOFF_CAP_S = 2.0
DETECT_WORKERS = "workers"
DETECT_INLINE = "inline"
# The queue of listings staged for detection workers, kept as a site of its own (a name no
# site profile can have), so its leases, requeues and end are the crawl queues' own.
DETECT_QUEUE = "~detect"


def detect_queue(site: str) -> str:
    """The "site" of a site's detection queue in ``RunState``."""
    return f"{DETECT_QUEUE}:{site}"


# KEYS: queue, in-flight hash; ARGV[1]: how many (default 1), ARGV[2]: the call's lease
# token, chosen by the worker; the entries it takes are held as token:1, token:2, ... Each
# entry keeps its score ("score data"), so a requeue restores its priority without decoding
# the request. A token already held is a retry whose reply was lost (Redis went away between
# running the script and answering): it gets the same entries again, not new ones that would
# stay leased to nobody and keep the site from ever draining. Returns token, data, token,
# data, ... (best first), or false when the queue is empty.
POP = """
local n = tonumber(ARGV[1]) or 1
local out = {}
if redis.call('HEXISTS', KEYS[2], ARGV[2] .. ':1') == 1 then
  for i = 1, n do
    local token = ARGV[2] .. ':' .. i
    local held = redis.call('HGET', KEYS[2], token)
    if not held then break end
    local at = string.find(held, ' ', 1, true)
    out[#out + 1] = token
    out[#out + 1] = string.sub(held, at + 1)
  end
  return out
end
local r = redis.call('ZRANGE', KEYS[1], 0, n - 1, 'WITHSCORES')
if #r == 0 then return false end
local j = 0
for i = 1, #r, 2 do
  j = j + 1
  local token = ARGV[2] .. ':' .. j
  redis.call('ZREM', KEYS[1], r[i])
  redis.call('HSET', KEYS[2], token, r[i + 1] .. ' ' .. r[i])
  out[#out + 1] = token
  out[#out + 1] = r[i]
end
return out
"""
# KEYS: the set of ids ever queued, the queue; ARGV: ids. Each id is queued once per run,
# however often it is offered (a crawl request fetched again after its worker died).
OFFER = """
local n = 0
for _, id in ipairs(ARGV) do
  if redis.call('SADD', KEYS[1], id) == 1 then
    redis.call('ZADD', KEYS[2], 0, id)
    n = n + 1
  end
end
return n
"""
# KEYS: the worker's heartbeat, its in-flight hash, the queue; ARGV[1] = 1 to ignore the
# heartbeat (a worker returning its own requests as it stops).
REQUEUE = """
if ARGV[1] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local vals = redis.call('HVALS', KEYS[2])
for _, v in ipairs(vals) do
  local at = string.find(v, ' ', 1, true)
  redis.call('ZADD', KEYS[3], string.sub(v, 1, at - 1), string.sub(v, at + 1))
end
redis.call('DEL', KEYS[2])
return #vals
"""
# KEYS: the queue, the workers set, the drained set; ARGV: in-flight key prefix, site.
# In-flight keys are derived from the workers set, so this assumes one Redis (no cluster).
DRAINED = """
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
for _, w in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('HLEN', ARGV[1] .. w) > 0 then return 0 end
end
redis.call('SADD', KEYS[3], ARGV[2])
return 1
"""

# KEYS: the site's stats hash, the run's set of merges done; ARGV: the keys' TTL, this
# merge's id, then (name, "i" or "f", value) per stat.
MERGE = """
if redis.call('SADD', KEYS[2], ARGV[2]) == 0 then return 0 end
for i = 3, #ARGV, 3 do
  if ARGV[i + 1] == 'i' then
    redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 2])
  else
    redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 2])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1
"""


class RunStateError(RuntimeError):
    """The run is not in Redis, or is in a state the command cannot act on."""


@dataclass(frozen=True)
class RunKeys:
    run_id: str

    @property
    def prefix(self) -> str:
        return f"{KEY_ROOT}:{self.run_id}"

    def queue(self, site: str) -> str:
        return f"{self.prefix}:{site}:requests"

    def dupefilter(self, site: str) -> str:
        return f"{self.prefix}:{site}:dupefilter"

    def dupefilter_count(self, site: str) -> str:
        """The number of entries in a Bloom filter (a set counts its own)."""
        return f"{self.prefix}:{site}:dupefilter:count"

    def inflight_prefix(self, site: str) -> str:
        return f"{self.prefix}:{site}:inflight:"

    def inflight(self, site: str, worker: str) -> str:
        return self.inflight_prefix(site) + worker

    def stats(self, site: str) -> str:
        return f"{self.prefix}:{site}:stats"

    def alive(self, worker: str) -> str:
        return f"{self.prefix}:alive:{worker}"

    def named(self, name: str) -> str:
        """meta, workers, closed, drained, merged, done, recorded."""
        return f"{self.prefix}:{name}"


@dataclass(frozen=True)
class RunMeta:
    """What a worker needs to crawl the run as the seeding sweep meant it."""

    run_id: str
    sites: list[str]
    started_at: str  # ISO 8601
    base_url: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    revisits: list[dict[str, Any]] = field(default_factory=list)  # crawlers.revisit rows
    dedup: DedupPlan = field(default_factory=DedupPlan)
    # Where the run detects: DETECT_WORKERS (`tiequan detect-worker`) or DETECT_INLINE (in
    # the crawl workers' pipelines). A run seeded before this choice existed detects inline.
    detection: str = DETECT_INLINE


def connect(config: DistributedSettings) -> redis.Redis:
    """A client that waits out a Redis outage of up to ``outage_s`` (redis-py's own
    retry with exponential backoff) instead of failing the first command."""
    retries = math.ceil(config.outage_s / BACKOFF_CAP_S) + 4
    return redis.Redis.from_url(
        config.redis_url,
        socket_timeout=10,
        socket_connect_timeout=2,
        retry=Retry(ExponentialBackoff(cap=BACKOFF_CAP_S, base=0.05), retries),
        retry_on_error=[ConnectionError, TimeoutError, BusyLoadingError],
        health_check_interval=30,
    )


class RunState:
    """One run's keys on one client."""

    def __init__(self, server: redis.Redis, run_id: str, keys_ttl_s: int) -> None:
        self.server = server
        self.keys = RunKeys(run_id)
        self.ttl_s = keys_ttl_s
        self.nonce = secrets.token_hex(4)  # lease tokens of this client: nonce:count
        self.tokens = itertools.count(1)
        self.pop_script = server.register_script(POP)
        self.offer_script = server.register_script(OFFER)
        self.requeue_script = server.register_script(REQUEUE)
        self.drained_script = server.register_script(DRAINED)
        self.merge_script = server.register_script(MERGE)

    # ---- seeding and metadata ----------------------------------------------------------

    def write_meta(self, meta: RunMeta) -> None:
        """The run's metadata, once: a second seeding of the same run id is refused."""
        key = self.keys.named("meta")
        if not self.server.set(key, json.dumps(asdict(meta), ensure_ascii=False), nx=True):
            raise RunStateError(f"run {meta.run_id} is already seeded in Redis")
        self.server.expire(key, self.ttl_s)
        self.server.set(ACTIVE_KEY, meta.run_id, ex=self.ttl_s)

    def meta(self) -> RunMeta:
        raw = self.server.get(self.keys.named("meta"))
        if raw is None:
            raise RunStateError(f"run {self.keys.run_id} is not in Redis (not seeded, or expired)")
        fields = json.loads(raw)
        return RunMeta(**{**fields, "dedup": DedupPlan.from_json(fields.get("dedup"))})

    def seeded(self) -> bool:
        """Is the run still in Redis (its metadata, written once by the seeding)?"""
        return bool(self.server.exists(self.keys.named("meta")))

    def touch(self, sites: list[str]) -> None:
        """Push the run's expiry forward (a run left behind expires by itself)."""
        pipe = self.server.pipeline(transaction=False)
        for name in ("meta", "workers", "closed", "drained", "merged"):
            pipe.expire(self.keys.named(name), self.ttl_s)
        for site in sites:
            pipe.expire(self.keys.queue(site), self.ttl_s)
            pipe.expire(self.keys.dupefilter(site), self.ttl_s)
            pipe.expire(self.keys.dupefilter_count(site), self.ttl_s)
            pipe.expire(self.keys.stats(site), self.ttl_s)
            pipe.expire(self.keys.named(f"{site}:offered"), self.ttl_s)
        pipe.execute()

    # ---- leases ------------------------------------------------------------------------

    def beat(self, worker: str, lease_s: float) -> None:
        pipe = self.server.pipeline(transaction=False)
        pipe.set(self.keys.alive(worker), "1", px=max(1, round(lease_s * 1000)))
        pipe.sadd(self.keys.named("workers"), worker)
        pipe.execute()

    def pop(self, site: str, worker: str) -> tuple[str, bytes] | None:
        """The best request of the site's queue, now held by ``worker``: (token, data)."""
        found = self.pop_many(site, worker, 1)
        return found[0] if found else None

    def pop_many(self, site: str, worker: str, count: int) -> list[tuple[str, bytes]]:
        """Up to ``count`` entries of the queue, best first, now held by ``worker``."""
        keys = [self.keys.queue(site), self.keys.inflight(site, worker)]
        # A new token per call, the same one for redis-py's retries of this call.
        found = self.pop_script(keys=keys, args=[count, f"{self.nonce}:{next(self.tokens)}"])
        if not found:
            return []
        return [(text(found[i]), bytes(found[i + 1])) for i in range(0, len(found), 2)]

    def offer(self, site: str, ids: list[str]) -> int:
        """Queue these ids in the site's queue, each once per run; how many were new."""
        if not ids:
            return 0
        keys = [self.keys.named(f"{site}:offered"), self.keys.queue(site)]
        return int(self.offer_script(keys=keys, args=ids))

    def offered(self, site: str) -> set[str]:
        """Every id ever queued by ``offer`` in the site's queue."""
        return {text(m) for m in self.server.smembers(self.keys.named(f"{site}:offered"))}

    def finish(self, site: str, worker: str, tokens: list[str]) -> None:
        if tokens:
            self.server.hdel(self.keys.inflight(site, worker), *tokens)

    def held(self, site: str, worker: str) -> int:
        return int(self.server.hlen(self.keys.inflight(site, worker)))

    def give_back(self, site: str, worker: str) -> int:
        """Return this worker's in-flight requests to the queue (it is stopping early)."""
        return self._requeue(site, worker, force=True)

    def requeue_dead(self, site: str, lease_s: float) -> int:
        """Put back the in-flight requests of every worker whose lease has expired.

        Not while Redis has been up for less than a lease: heartbeat keys expire on Redis's
        clock, which ran on while Redis was down (a restart from its append-only file drops
        the keys whose time passed meanwhile), so a missing one says nothing until every
        worker has had a full lease since the restart to beat again. Requeuing then would
        have a live worker's requests fetched a second time."""
        uptime = int(self.server.info("server").get("uptime_in_seconds", 0))
        if uptime < lease_s:
            return 0
        returned = 0
        workers = self.server.smembers(self.keys.named("workers"))
        for raw in workers:
            worker = text(raw)
            n = self._requeue(site, worker, force=False)
            if n > 0:
                logger.warning(
                    "%s: worker %s stopped answering; %d request(s) back in the queue",
                    site, worker, n,
                )  # fmt: skip
                returned += n
        return returned

    def _requeue(self, site: str, worker: str, force: bool) -> int:
        keys = [self.keys.alive(worker), self.keys.inflight(site, worker), self.keys.queue(site)]
        return int(self.requeue_script(keys=keys, args=["1" if force else "0"]))

    # ---- the end of a site and of the run ---------------------------------------------

    def drained(self, site: str) -> bool:
        """Is the site finished: its queue empty and none of its requests held anywhere?"""
        keys = [self.keys.queue(site), self.keys.named("workers"), self.keys.named("drained")]
        return bool(self.drained_script(keys=keys, args=[self.keys.inflight_prefix(site), site]))

    def mark_done(self, sites: list[str]) -> bool:
        """True for the one caller that finds every site drained first (the run's end)."""
        drained = {text(m) for m in self.server.smembers(self.keys.named("drained"))}
        if not set(sites) <= drained:
            return False
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return bool(self.server.set(self.keys.named("done"), stamp, nx=True, ex=self.ttl_s))

    def done(self) -> bool:
        return bool(self.server.exists(self.keys.named("done")))

    def site_drained(self, site: str) -> bool:
        return bool(self.server.sismember(self.keys.named("drained"), site))

    def merge_stats(self, site: str, stats: dict[str, Any]) -> None:
        """Add a worker's numeric crawl stats of the site to the run's totals, once: a retry
        after a lost reply finds this merge's mark and adds nothing."""
        args: list[str | int | float] = [self.ttl_s, f"{self.nonce}:{next(self.tokens)}"]
        for name, value in stats.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            args += [name, "i" if isinstance(value, int) else "f", value]
        keys = [self.keys.stats(site), self.keys.named("merged")]
        self.merge_script(keys=keys, args=args)

    def stats(self, site: str) -> dict[str, int | float]:
        out: dict[str, int | float] = {}
        for name, raw in self.server.hgetall(self.keys.stats(site)).items():
            value = text(raw)
            out[text(name)] = float(value) if "." in value or "e" in value else int(value)
        return out

    def dedup_entries(self, site: str, plan: DedupPlan) -> int:
        """URLs in the site's duplicate filter (a Bloom filter's counter, a set's size)."""
        if plan.kind == SET:
            return int(self.server.scard(self.keys.dupefilter(site)))
        return int(self.server.get(self.keys.dupefilter_count(site)) or 0)

    def close_worker(self, worker: str) -> None:
        pipe = self.server.pipeline(transaction=False)
        pipe.sadd(self.keys.named("closed"), worker)
        pipe.delete(self.keys.alive(worker))
        pipe.execute()

    def settled(self) -> bool:
        """Has every worker of the run either closed (its stats merged) or died?"""
        closed = self.server.smembers(self.keys.named("closed"))
        for raw in self.server.smembers(self.keys.named("workers")):
            if raw in closed:
                continue
            if self.server.exists(self.keys.alive(text(raw))):
                return False
        return True

    def claim_record(self, worker: str) -> bool:
        """True for the one worker that records the run."""
        key = self.keys.named("recorded")
        if self.server.set(key, worker, nx=True, ex=self.ttl_s):
            return True
        # A retry after a lost reply finds its own first SET: this worker won all the same.
        return self.recorded_by() == worker

    def recorded_by(self) -> str | None:
        raw = self.server.get(self.keys.named("recorded"))
        return text(raw) if raw is not None else None

    def finish_run(self, sites: list[str]) -> None:
        """The run is recorded: its fingerprints and queues go now, the rest with its TTL."""
        doomed = [
            k
            for s in sites
            for k in (self.keys.dupefilter(s), self.keys.dupefilter_count(s), self.keys.queue(s))
        ]
        doomed += [self.keys.queue(detect_queue(s)) for s in sites]
        if doomed:
            self.server.unlink(*doomed)
        if self.server.get(ACTIVE_KEY) == self.keys.run_id.encode():
            self.server.delete(ACTIVE_KEY)


def active_run(server: redis.Redis) -> str | None:
    raw = server.get(ACTIVE_KEY)
    return text(raw) if raw is not None else None


def text(raw: bytes | str) -> str:
    """A Redis reply as text (this client returns bytes: the queue holds pickles)."""
    return raw.decode() if isinstance(raw, bytes) else raw
