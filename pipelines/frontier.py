"""A Scrapy scheduler whose request queue and seen-set live in MongoDB, so a killed sweep resumes.

Why not Scrapy's JOBDIR: it writes the queue state only when the spider closes cleanly,
so a SIGKILL loses it, and it knows nothing of items the spider holds in memory (an item
page waiting for its shop's licence page). Here every request the spider makes is
recorded (tiequan.storage.frontier) as ``queued``, then ``leased`` when the engine takes
it, and ``done`` only once its processing is over: its callback ran, every item it gave
went through the pipelines, and any item it handed to the licence cache was emitted in
turn (the spider reports those with ``hold`` and ``release``). On a resume, every request
not done (queued, or leased by the dead process) is queued again, and every fingerprint
the crawl knows (done or not) is filtered, so finished pages are not fetched again.

Writes never block the reactor: state changes go through a BatchWriter (stage
``frontier``) that writes them in order in a worker thread, after the batches of the
evidence, store and refer stages (pipelines.batch.UPSTREAM), so a request is never
durably done before what its items wrote. Requests with ``dont_filter`` (retries of a
request, the licence fetches) are not recorded: a retry keeps its original leased until
it ends, and a licence page is asked again by the item pages that come back.

The interface is Scrapy's (and scrapy-redis's) scheduler: ``from_crawler``, ``open``,
``close``, ``enqueue_request``, ``next_request``, ``has_pending_requests``, ``__len__``.
It is used when TIEQUAN_DURABLE_FRONTIER is on (``tiequan sweep --resume``).
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Self

from scrapy import Request, Spider
from scrapy.core.scheduler import BaseScheduler
from scrapy.utils.request import request_from_dict
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from pipelines.batch import BatchWriter
from pipelines.config import PipelineConfig
from tiequan.settings import float_setting
from tiequan.storage.connect import open_database
from tiequan.storage.frontier import (
    DONE,
    LEASED,
    QUEUED,
    FrontierOp,
    close_frontier,
    open_frontier,
    seen_and_pending,
    write_ops,
)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

STAGE = "frontier"
FLUSH_SECONDS = 1.0


def encode_request(request: Request, spider: Spider) -> dict[str, Any]:
    """``Request.to_dict`` with BSON-safe headers (str names, str values)."""
    d = request.to_dict(spider=spider)
    d["headers"] = [
        [bytes(k).decode("latin-1"), [bytes(v).decode("latin-1") for v in vs]]
        for k, vs in request.headers.items()
    ]
    return d


def decode_request(d: dict[str, Any], spider: Spider) -> Request:
    d = dict(d)
    d["headers"] = {name: values for name, values in d.get("headers") or []}
    if isinstance(d.get("body"), (bytearray, memoryview)):
        d["body"] = bytes(d["body"])
    return request_from_dict(d, spider=spider)


class FinishedHook(set[Request]):
    """The engine's set of requests in progress, telling the frontier when one leaves it
    (after its callback and the pipelines of all its items are done)."""

    def __init__(self, items: Iterable[Request], on_remove: Callable[[Request], None]) -> None:
        super().__init__(items)
        self.on_remove = on_remove

    def remove(self, request: Request) -> None:
        super().remove(request)
        self.on_remove(request)


class DurableScheduler(BaseScheduler):
    def __init__(
        self, crawler: Crawler, resume: bool, lease_s: float, max_age_h: float = 20.0
    ) -> None:
        assert crawler.stats is not None and crawler.request_fingerprinter is not None
        self.crawler = crawler
        self.stats = crawler.stats
        self.fingerprinter = crawler.request_fingerprinter
        self.config = PipelineConfig.from_settings(crawler.settings)
        # Flushed often, so little is fetched again after a crash (each flush writes the
        # item stages' batches first), in batches larger than theirs (3 ops per page).
        writes = replace(
            self.config,
            batch_size=min(10_000, self.config.batch_size * 5),
            flush_seconds=min(self.config.flush_seconds, FLUSH_SECONDS) or FLUSH_SECONDS,
        )
        self.resume = resume
        self.lease_s = lease_s
        self.max_age = timedelta(hours=max_age_h)
        self.spider: Spider | None = None
        self.site = ""
        self.seen: set[str] = set()
        self.heap: list[tuple[int, int, int, Request]] = []
        self.seq = itertools.count()
        self.ties = itertools.count()  # heap order between equal (priority, seq): never the Request
        self.live: Counter[str] = Counter()  # recorded fingerprint -> instances not finished
        self.holds: Counter[str] = Counter()  # fingerprint -> items it left in the spider
        self.waiting: dict[str, list[str]] = {}  # licence key -> held fingerprints
        self.released: dict[int, list[str]] = {}  # id(request) -> fingerprints it released
        # id(request) -> fingerprint, of the requests handed to the engine and not finished
        # (the engine also finishes requests that never came from here, e.g. screenshots).
        self.taken: dict[int, str] = {}
        self.writer: BatchWriter[FrontierOp] = BatchWriter(
            STAGE, writes, self.stats, self._write, lambda op: op.fp, spooled=False
        )

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        lease_s = float_setting(settings, "TIEQUAN_FRONTIER_LEASE_SECONDS", 1.0, 86400.0)
        max_age_h = float_setting(settings, "TIEQUAN_FRONTIER_MAX_AGE_HOURS", 0.0, 8760.0)
        return cls(crawler, settings.getbool("TIEQUAN_FRONTIER_RESUME"), lease_s, max_age_h)

    def _write(self, db: Any, ops: list[FrontierOp]) -> None:
        write_ops(db, self.site, ops, self.lease_s)

    # ---- the scheduler interface ---------------------------------------------------

    def open(self, spider: Spider) -> Deferred[None] | None:
        self.spider = spider
        self.site = spider.name
        with open_database(
            self.config.mongo_uri, self.config.home, timeout_ms=self.config.db_timeout_ms
        ) as db:
            found = open_frontier(
                db,
                self.site,
                self.config.run_id,
                resume=self.resume,
                lease_s=self.lease_s,
                max_age=self.max_age,
            )
            if found.resumed:
                self.seen, pending = seen_and_pending(db, self.site)
                recovered, last = 0, 0
                for doc in pending:
                    seq = int(doc.get("seq") or 0)
                    self._push(decode_request(doc["request"], spider), seq)
                    self.live[str(doc["fp"])] += 1
                    recovered += 1
                    last = max(last, seq)
                self.seq = itertools.count(last + 1)
                self.stats.set_value("frontier/resumed_from", found.previous_run)
                self.stats.set_value("frontier/recovered", recovered)
                self.stats.set_value("frontier/seen_at_start", len(self.seen))
                logger.info(
                    "%s: resuming run %s: %d request(s) to do, %d already seen",
                    self.site, found.previous_run, recovered, len(self.seen),
                )  # fmt: skip
        self.writer.open()
        self._hook_engine()
        spider.frontier = self  # type: ignore[attr-defined]  # the spider's hold/release
        return None

    def _hook_engine(self) -> None:
        # Scrapy has no signal for "a request is fully processed"; the engine's slot keeps
        # the set of requests in progress and removes each one at exactly that moment.
        slot = getattr(self.crawler.engine, "_slot", None)
        if slot is None or not isinstance(getattr(slot, "inprogress", None), set):
            logger.warning("%s: cannot follow finished requests; none is marked done", self.site)
            return
        slot.inprogress = FinishedHook(slot.inprogress, self.finished)

    def close(self, reason: str) -> Deferred[None]:
        finished = reason == "finished" and not self.heap
        done: Deferred[None] = self.writer.close()
        done.addCallback(lambda _: deferToThread(self._release, finished, reason))
        return done

    def _release(self, finished: bool, reason: str) -> None:
        """Release the site's frontier (a finished crawl's requests are deleted)."""
        with open_database(
            self.config.mongo_uri, self.config.home, timeout_ms=self.config.db_timeout_ms
        ) as db:
            close_frontier(db, self.site, finished=finished)
        if not finished:
            logger.info(
                "%s: crawl stopped (%s); `tiequan sweep --resume` continues it", self.site, reason
            )

    def has_pending_requests(self) -> bool:
        return bool(self.heap)

    def __len__(self) -> int:
        return len(self.heap)

    def enqueue_request(self, request: Request) -> bool:
        fp = self.fingerprinter.fingerprint(request).hex()
        if request.dont_filter:
            if fp in self.live:  # a retry of a recorded request: the original stays leased
                self.live[fp] += 1
        elif fp in self.seen:
            self.stats.inc_value("frontier/filtered")
            return False
        else:
            self.seen.add(fp)
            assert self.spider is not None
            try:
                encoded = encode_request(request, self.spider)
            except ValueError as exc:  # its callback is no spider method: in memory only
                self.stats.inc_value("frontier/not_recorded")
                logger.debug("%s: %s is not recorded: %s", self.site, request.url, exc)
            else:
                self.live[fp] += 1
                seq = next(self.seq)
                self.writer.add(FrontierOp(QUEUED, fp, encoded, request.priority, seq))
                self.stats.inc_value("frontier/queued")
                self._push(request, seq)
                return True
        self._push(request, next(self.seq))
        return True

    def _push(self, request: Request, seq: int) -> None:
        # Highest priority first, then the newest (Scrapy's default LIFO order).
        heapq.heappush(self.heap, (-request.priority, -seq, next(self.ties), request))
        self.stats.inc_value("scheduler/enqueued")

    def next_request(self) -> Request | None:
        if not self.heap:
            return None
        request = heapq.heappop(self.heap)[3]
        fp = self.fingerprinter.fingerprint(request).hex()
        if fp in self.live:
            self.taken[id(request)] = fp
            if not request.dont_filter:
                self.writer.add(FrontierOp(LEASED, fp))
        self.stats.inc_value("scheduler/dequeued")
        return request

    # ---- finished requests and held items -------------------------------------------

    def finished(self, request: Request) -> None:
        for held in self.released.pop(id(request), []):
            self.holds[held] -= 1
            self._maybe_done(held)
        fp = self.taken.pop(id(request), None)
        if fp is not None:
            self.live[fp] -= 1
            self._maybe_done(fp)

    def _maybe_done(self, fp: str) -> None:
        if self.live.get(fp, 0) > 0 or self.holds.get(fp, 0) > 0 or fp not in self.live:
            return
        del self.live[fp]
        self.holds.pop(fp, None)
        self.writer.add(FrontierOp(DONE, fp))
        self.stats.inc_value("frontier/done")

    def hold(self, origin: Request, key: str) -> None:
        """The item of ``origin`` waits in the spider for ``key`` (a licence page)."""
        fp = self.fingerprinter.fingerprint(origin).hex()
        if fp not in self.live:
            return
        self.holds[fp] += 1
        self.waiting.setdefault(key, []).append(fp)

    def release(self, key: str, by: Request) -> None:
        """``by`` (the licence request) emitted the items waiting for ``key``; their
        requests are done when ``by`` is (its items have then gone through the pipelines)."""
        held = self.waiting.pop(key, [])
        if held:
            self.released.setdefault(id(by), []).extend(held)
