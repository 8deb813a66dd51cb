"""The worker's Scrapy scheduler: scrapy-redis's, with leases and an end of run.

``LeasedScheduler`` keeps scrapy-redis's Scheduler, priority queue, serializer and
``RFPDupeFilter``, on keys of the run (tiequan.distributed.state). It adds:

* each request taken from Redis is leased to this worker (``RunState.pop``) and the lease
  ends only when Scrapy has fully processed it (its callback ran and its items went
  through the pipelines), or, for an item page whose item waits for its shop's licence
  page, once that item has been emitted in turn (the spider's ``hold``/``release``, the
  same interface as pipelines.frontier); and then only after the batches its items left
  in the writing stages are written (a BatchWriter of stage ``leases``, ordered after
  them by pipelines.batch.UPSTREAM), so a killed worker's items are fetched again rather
  than lost in its buffers;
* licence pages stay in this process: the item waiting for one is held in this spider's
  memory, so another worker answering it would release nothing;
* a heartbeat renews the worker's lease and returns dead workers' requests to the queue;
* on ``spider_idle`` the spider stays open until the site is drained everywhere.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import secrets
import socket
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Self

from scrapy import Request, Spider, signals
from scrapy.exceptions import DontCloseSpider
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.queue import PriorityQueue
from scrapy_redis.scheduler import Scheduler
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall

from crawlers.spiders.profile import LICENCE_META
from pipelines.batch import BatchWriter
from pipelines.config import PipelineConfig
from pipelines.frontier import FinishedHook
from tiequan.distributed.dedup import BLOOM, DedupPlan, RedisBloom
from tiequan.distributed.state import RunState, connect
from tiequan.settings import DistributedSettings
from tiequan.storage.breaker import CircuitBreaker

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

SCHEDULER_PATH = "tiequan.distributed.scheduler.LeasedScheduler"
START_MIDDLEWARE_PATH = "tiequan.distributed.scheduler.SeededStart"
LEASE_STAGE = "leases"
FLUSH_SECONDS = 1.0


def worker_name(config: DistributedSettings) -> str:
    return config.worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


class LeasedQueue(PriorityQueue):
    """scrapy-redis's priority queue whose pop leases the request to a worker."""

    state: RunState
    worker: str

    def pop_leased(self) -> tuple[str, Request] | None:
        found = self.state.pop(self.spider.name, self.worker)
        if found is None:
            return None
        token, data = found
        return token, self._decode_request(data)


class LeasedScheduler(Scheduler):  # type: ignore[misc]  # scrapy-redis has no type hints
    def __init__(
        self, crawler: Crawler, state: RunState, config: DistributedSettings, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.crawler = crawler
        self.state = state
        self.config = config
        self.worker = str(crawler.settings.get("TIEQUAN_WORKER_ID") or worker_name(config))
        self.site = ""
        self.local: list[tuple[int, int, Request]] = []  # requests kept in this process
        self.seq = itertools.count()
        self.taken: dict[int, str] = {}  # id(request) -> lease token, while in progress
        self.ended: set[str] = set()  # tokens whose request finished but are still held
        self.holds: Counter[str] = Counter()  # token -> items waiting in the spider
        self.waiting: dict[str, list[str]] = {}  # licence key -> tokens of held items
        self.released: dict[int, list[str]] = {}  # id(licence request) -> tokens it frees
        self.heartbeat = LoopingCall(self.beat)
        config_db = PipelineConfig.from_settings(crawler.settings)
        writes = replace(
            config_db, flush_seconds=min(config_db.flush_seconds, FLUSH_SECONDS) or FLUSH_SECONDS
        )
        assert crawler.stats is not None
        # Its own breaker: ending leases writes to Redis, so a database outage (the item
        # stages spool meanwhile) must not hold them back.
        self.ends: BatchWriter[str] = BatchWriter(
            LEASE_STAGE,
            writes,
            crawler.stats,
            lambda _db, tokens: self.state.finish(self.site, self.worker, tokens),
            str,
            breaker=CircuitBreaker(f"leases:{id(self)}", writes.db_probe_seconds),
            spooled=False,
        )

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        config = DistributedSettings.from_env({k: settings.get(k) for k in config_names()})
        run_id = str(settings.get("TIEQUAN_RUN_ID"))
        server = connect(config)
        state = RunState(server, run_id, config.keys_ttl_s)
        site = crawler.spidercls.name
        plan = state.meta().dedup  # the seeding's, not this worker's settings: see DedupPlan
        dupefilter = run_dupefilter(state, site, plan, settings.getbool("DUPEFILTER_DEBUG"))
        instance = cls(
            crawler,
            state,
            config,
            server=server,
            persist=True,  # the queue and fingerprints are the run's, not this worker's
            queue_key=state.keys.queue(site),
            dupefilter=dupefilter,
        )
        instance.stats = crawler.stats
        return instance

    # ---- the scheduler interface ---------------------------------------------------

    def open(self, spider: Spider) -> None:
        # scrapy-redis's open and enqueue_request, minus its calls deprecated in Scrapy 2.13+
        # (Spider.log, the spider argument of the stats methods).
        self.spider = spider
        self.site = spider.name
        self.queue = LeasedQueue(self.server, spider, self.queue_key, self.serializer)
        self.queue.state = self.state
        self.queue.worker = self.worker
        self.ends.open()
        self.beat()
        self.heartbeat.start(self.config.lease_s / 3, now=False)
        self.crawler.signals.connect(self.on_idle, signal=signals.spider_idle)
        # Scrapy has no signal for "a request is fully processed"; the engine's slot keeps
        # the set of requests in progress and removes each one at exactly that moment.
        slot = getattr(self.crawler.engine, "_slot", None)
        if slot is None or not isinstance(getattr(slot, "inprogress", None), set):
            raise RuntimeError("cannot follow the engine's finished requests (Scrapy changed?)")
        slot.inprogress = FinishedHook(slot.inprogress, self.finished)
        spider.frontier = self  # type: ignore[attr-defined]  # the spider's hold/release
        logger.info("%s: worker %s joined run %s", self.site, self.worker, self.state.keys.run_id)

    def close(self, reason: str) -> Deferred[None]:
        if self.heartbeat.running:
            self.heartbeat.stop()
        done: Deferred[None] = self.ends.close()
        if reason != "finished":
            done.addCallback(lambda _: self.give_back(reason))
        return done

    def give_back(self, reason: str) -> None:
        back = self.state.give_back(self.site, self.worker)
        if back:
            logger.info("%s: %d request(s) returned to the queue (%s)", self.site, back, reason)

    def has_pending_requests(self) -> bool:
        return bool(self.local) or super().has_pending_requests()

    def __len__(self) -> int:
        return len(self.local) + int(super().__len__())

    def enqueue_request(self, request: Request) -> bool:
        if request.meta.get(LICENCE_META):
            self.keep_local(request)
            return True
        if not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.spider)
            self.stats.inc_value("dedup/filtered")
            return False
        try:
            self.queue.push(request)
        except ValueError:  # its callback is no spider method: it cannot be serialized
            self.keep_local(request)
            return True
        self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def keep_local(self, request: Request) -> None:
        heapq.heappush(self.local, (-request.priority, next(self.seq), request))
        self.stats.inc_value("distributed/local_requests")

    def next_request(self) -> Request | None:
        if self.local:
            return heapq.heappop(self.local)[2]
        leased = self.queue.pop_leased()
        if leased is None:
            return None
        token, request = leased
        self.taken[id(request)] = token
        self.stats.inc_value("scheduler/dequeued/redis")
        return request

    # ---- leases, held items and the end of the site ---------------------------------

    def beat(self) -> None:
        self.state.beat(self.worker, self.config.lease_s)
        self.state.touch([self.site])
        returned = self.state.requeue_dead(self.site, self.config.lease_s)
        if returned:
            self.stats.inc_value("distributed/requeued", returned)

    def finished(self, request: Request) -> None:
        for token in self.released.pop(id(request), []):
            self.holds[token] -= 1
            self.maybe_done(token)
        own = self.taken.pop(id(request), None)
        if own is not None:
            self.ended.add(own)
            self.maybe_done(own)

    def maybe_done(self, token: str) -> None:
        if self.holds.get(token, 0) > 0 or token not in self.ended:
            return
        self.ended.discard(token)
        self.holds.pop(token, None)
        self.ends.add(token)

    def hold(self, origin: Request, key: str) -> None:
        """The item of ``origin`` waits in the spider for ``key`` (a licence page)."""
        token = self.taken.get(id(origin))
        if token is not None:
            self.holds[token] += 1
            self.waiting.setdefault(key, []).append(token)

    def release(self, key: str, by: Request) -> None:
        """``by`` emitted the items waiting for ``key``: their leases end when it does."""
        held = self.waiting.pop(key, [])
        if held:
            self.released.setdefault(id(by), []).extend(held)

    def on_idle(self, spider: Spider) -> None:
        returned = self.state.requeue_dead(self.site, self.config.lease_s)
        if returned:
            self.stats.inc_value("distributed/requeued", returned)
            raise DontCloseSpider
        if not self.state.drained(self.site):
            raise DontCloseSpider  # other workers still hold requests that may add more
        logger.info("%s: drained (worker %s)", self.site, self.worker)


class BloomDupeFilter(RFPDupeFilter):  # type: ignore[misc]  # scrapy-redis has no type hints
    """scrapy-redis's duplicate filter, its set replaced by a Bloom filter of the run's size."""

    def __init__(self, bloom: RedisBloom, debug: bool = False) -> None:
        super().__init__(bloom.server, key=bloom.key, debug=debug)
        self.bloom = bloom
        self.warned = False

    def request_seen(self, request: Request) -> bool:
        new = self.bloom.add(self.request_fingerprint(request))
        if new and self.bloom.entries > self.bloom.plan.capacity and not self.warned:
            self.warned = True
            logger.warning(
                "duplicate filter %s holds %d URLs, past the %d it is sized for: its "
                "false-positive rate is now %.2g (sized for %.2g); raise TIEQUAN_DEDUP_CAPACITY",
                self.key, self.bloom.entries, self.bloom.plan.capacity,
                self.bloom.plan.false_positive_rate(self.bloom.entries), self.bloom.plan.error_rate,
            )  # fmt: skip
        return not new

    def clear(self) -> None:
        self.server.delete(self.bloom.key, self.bloom.count_key)


def run_dupefilter(state: RunState, site: str, plan: DedupPlan, debug: bool = False) -> Any:
    """The duplicate filter of one site of the run, as the seeding planned it."""
    if plan.kind == BLOOM:
        keys = state.keys
        bloom = RedisBloom(
            state.server, keys.dupefilter(site), keys.dupefilter_count(site), plan, keys.run_id
        )
        return BloomDupeFilter(bloom, debug=debug)
    return RFPDupeFilter(state.server, key=state.keys.dupefilter(site), debug=debug)


def config_names() -> tuple[str, ...]:
    return tuple(DistributedSettings.from_env({}).as_scrapy())


class SeededStart:
    """Spider middleware: a worker's spiders make no start requests (the seeding did)."""

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        return
        yield  # an async generator that yields nothing
