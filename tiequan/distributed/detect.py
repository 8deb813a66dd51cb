"""`tiequan detect-worker`: detection, evidence, referral and follow-up off the crawl path.

The crawl workers of a run seeded with detection in workers (TIEQUAN_DETECTION=workers, the
default) stage each listing and queue its id per site (tiequan.distributed.handoff). A
detection worker runs one Scrapy crawler per site of the run whose spider crawls nothing:
its start takes staged ids from the site's detection queue in batches, under a lease
(``RunState.pop_many``, the crawl queues' own leases and requeue of dead workers), rebuilds
the items and yields them into the ordinary stages 350–650 (OCR, detection with the live
model, evidence, store, referral, takedown follow-up), the same code a single-process sweep
runs. Scrapy's engine is there for what those stages fetch (product images, a licence page
no longer held, screenshots), under the site profile's settings. A lease ends, and its staged
document is deleted, once the item went through every stage and the batches it left in the
writing stages are written (BatchWriter stage ``detect_leases``, after them in
pipelines.batch.UPSTREAM); a worker that dies returns its ids after the lease.

A worker stops when the run's crawl is done (every site drained) and its detection queues
are empty with nothing held anywhere, or at once on SIGTERM (its ids go back). It adds its
detection stats to the run's totals; the one worker that then wins the run's record claim,
after every worker has closed or died, records the run, with the follow-ups of revisit-list
listings no crawl worker reached (the single-process follow-up stage records these as its
spider closes; here no one process sees the whole run before the end).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from pymongo.database import Database
from scrapy import signals
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings
from scrapy.statscollectors import StatsCollector
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.task import LoopingCall

from crawlers import revisit
from crawlers.items import Listing
from crawlers.spiders.profile import ProfileSpider
from pipelines.batch import BatchWriter
from pipelines.config import PipelineConfig, db_timeout_ms
from tiequan.distributed.handoff import staged_id, staged_listing
from tiequan.distributed.scheduler import worker_name
from tiequan.distributed.seed import shared_mongo_uri
from tiequan.distributed.state import (
    DETECT_WORKERS,
    RunMeta,
    RunState,
    RunStateError,
    active_run,
    connect,
    detect_queue,
)
from tiequan.distributed.worker import record, run_sweep_options, wait_settled, write_revisits
from tiequan.leads.followup import NOT_SEEN, Outcome, followup_detail, record_followups
from tiequan.models.live import verify_live
from tiequan.models.registry import Registry, RegistryError
from tiequan.settings import DistributedSettings, environment
from tiequan.storage.breaker import CircuitBreaker
from tiequan.storage.connect import open_database
from tiequan.storage.listings import listing_id
from tiequan.storage.store import LEADS, STAGED
from tiequan.sweep.runner import SweepError, SweepOptions, crawl_settings

logger = logging.getLogger(__name__)

LEASE_STAGE = "detect_leases"
POLL_S = 0.5  # an empty queue is asked again after this
FLUSH_SECONDS = 1.0
# The stages a detection worker runs (crawlers.settings ITEM_PIPELINES, 350 and after).
DETECT_PIPELINES = {
    "pipelines.images.ImageTextPipeline": 350,
    "pipelines.detect.DetectPipeline": 400,
    "pipelines.evidence.EvidencePipeline": 450,
    "pipelines.store.StorePipeline": 500,
    "pipelines.refer.ReferPipeline": 600,
    "pipelines.followup.FollowupPipeline": 650,
}
# Of a detection crawler's stats, those the run report adds to the crawl's (its pages and
# items are the crawl's; the detection crawler's own downloads are images and screenshots).
DETECT_STATS = (
    "detector/", "leads/", "evidence/", "followup/", "price_history/", "store/", "refer/",
    "ocr/", "images/", "db/", "detect/", "log_count/ERROR", "spider_exceptions/",
)  # fmt: skip


@dataclass
class DetectOptions:
    run_id: str | None = None  # None: the run last seeded
    home: Path | None = None
    mongo_uri: str | None = None
    log_level: str = "WARNING"
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class DetectResult:
    run_id: str
    worker: str
    sites: dict[str, dict[str, Any]]  # site -> listings detected, findings, leads new, requeued
    run_done: bool
    report: dict[str, Any] | None = None  # set for the worker that recorded the run


class LeaseFeed:
    """The staged listings of one site's detection queue, taken under this worker's lease."""

    def __init__(self, crawler: Crawler, state: RunState, config: DistributedSettings) -> None:
        self.crawler = crawler
        self.state = state
        self.config = config
        self.worker = str(crawler.settings.get("TIEQUAN_WORKER_ID") or worker_name(config))
        self.site = ""
        self.queue = ""
        self.held: dict[int, tuple[str, str]] = {}  # id(item) -> (lease token, staged id)
        self.room = asyncio.Event()
        self.heartbeat: LoopingCall | None = None  # made once the reactor is installed
        self.writes = PipelineConfig.from_settings(crawler.settings)
        self.writes = replace(
            self.writes, flush_seconds=min(self.writes.flush_seconds, FLUSH_SECONDS) or 1.0
        )
        self._ends: BatchWriter[tuple[str, str]] | None = None
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error):
            crawler.signals.connect(self.item_done, signal=signal)
        crawler.signals.connect(self.opened, signal=signals.spider_opened)
        crawler.signals.connect(self.closed, signal=signals.spider_closed)

    @property
    def stats(self) -> StatsCollector:
        assert self.crawler.stats is not None
        return self.crawler.stats

    @property
    def ends(self) -> BatchWriter[tuple[str, str]]:
        """The writer that ends leases (made once the crawl has its stats)."""
        if self._ends is None:
            # Its own breaker, as the crawl scheduler's leases (tiequan.distributed.scheduler).
            breaker = CircuitBreaker(f"detect-leases:{id(self)}", self.writes.db_probe_seconds)
            self._ends = BatchWriter(
                LEASE_STAGE, self.writes, self.stats, self.end_leases, list,
                breaker=breaker, spooled=False,
            )  # fmt: skip
        return self._ends

    def end_leases(self, db: Database[Any], batch: list[tuple[str, str]]) -> None:
        """Done with these: their staged documents go, then their leases (a worker dying in
        between leaves ids whose documents are gone: taken again, they count as done)."""
        db[STAGED].delete_many({"_id": {"$in": [sid for _token, sid in batch]}})
        self.state.finish(self.queue, self.worker, [token for token, _sid in batch])

    def opened(self, spider: ProfileSpider) -> None:
        self.site = spider.name
        self.queue = detect_queue(self.site)
        self.ends.open()
        self.beat()
        self.heartbeat = LoopingCall(self.beat)
        self.heartbeat.start(self.config.lease_s / 3, now=False)

    async def closed(self, spider: ProfileSpider, reason: str) -> None:
        if self.heartbeat is not None and self.heartbeat.running:
            self.heartbeat.stop()
        await maybe_deferred_to_future(self.ends.close())
        if reason != "finished":
            self.give_back(reason)

    def give_back(self, reason: str) -> None:
        back = self.state.give_back(self.queue, self.worker)
        if back:
            logger.info("%s: %d listing(s) returned to the queue (%s)", self.site, back, reason)

    def beat(self) -> None:
        self.state.beat(self.worker, self.config.lease_s)
        self.state.touch([self.site, self.queue])
        self.requeue()

    def requeue(self) -> None:
        returned = self.state.requeue_dead(self.queue, self.config.lease_s)
        if returned:
            self.stats.inc_value("detect/requeued", returned)

    def item_done(self, item: Any, **_: Any) -> None:
        held = self.held.pop(id(item), None)
        if held is not None:
            self.ends.add(held)
            self.room.set()

    def finished(self) -> bool:
        """Is there nothing left to take: the crawl done, and the queue empty everywhere?"""
        return self.state.done() and self.state.drained(self.queue)

    def load(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        assert self.ends.db is not None, "the spider is not open"
        return {str(d["_id"]): d for d in self.ends.db[STAGED].find({"_id": {"$in": ids}})}

    async def items(self) -> AsyncIterator[Listing]:
        batch = self.config.detect_batch
        while True:
            while len(self.held) >= batch:  # the batch goes through the stages first
                self.room.clear()
                await self.room.wait()
            taken = self.state.pop_many(self.queue, self.worker, batch - len(self.held))
            if not taken:
                if self.finished():
                    return
                self.requeue()
                await asyncio.sleep(POLL_S)
                continue
            docs = await asyncio.to_thread(self.load, [data.decode() for _t, data in taken])
            self.stats.inc_value("detect/batches")
            for token, data in taken:
                sid = data.decode()
                doc = docs.get(sid)
                if doc is None:  # done by a worker that died before ending its lease
                    self.stats.inc_value("detect/already_done")
                    self.ends.add((token, sid))
                    continue
                item = staged_listing(doc)
                self.held[id(item)] = (token, sid)
                self.stats.inc_value("detect/listings")
                yield item


class DetectSpiderMixin:
    """Mixed before a site's profile spider class: its profile, settings and revisits, and a
    start that yields the staged listings instead of requests."""

    feed: LeaseFeed

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)  # type: ignore[misc]
        settings = crawler.settings
        config = DistributedSettings.from_env(
            {k: settings.get(k) for k in DistributedSettings.from_env({}).as_scrapy()}
        )
        state = RunState(connect(config), str(settings.get("TIEQUAN_RUN_ID")), config.keys_ttl_s)
        spider.feed = LeaseFeed(crawler, state, config)
        return spider  # type: ignore[no-any-return]

    async def start(self) -> AsyncIterator[Any]:
        async for item in self.feed.items():
            yield item


def detect_spider_class(profile_cls: type[ProfileSpider]) -> type[ProfileSpider]:
    return type(f"Detect{profile_cls.__name__}", (DetectSpiderMixin, profile_cls), {})


def detect_settings(
    meta: RunMeta, options: DetectOptions, config: DistributedSettings, worker: str, uri: str
) -> Settings:
    sweep = run_sweep_options(meta, options.home, options.log_level, options.settings)
    settings = crawl_settings(sweep, meta.run_id, uri)
    cmdline: dict[str, Any] = {
        "ITEM_PIPELINES": DETECT_PIPELINES,
        # No crawl here: no conditional requests, no crawl-health monitors.
        "DOWNLOADER_MIDDLEWARES": {
            **settings.getdict("DOWNLOADER_MIDDLEWARES"),
            "pipelines.recrawl.RecrawlMiddleware": None,
        },
        "EXTENSIONS": {
            **settings.getdict("EXTENSIONS"),
            "crawlers.health.extension.HealthMonitor": None,
        },
        "SPIDERMON_ENABLED": False,
        # Not-seen follow-ups are the run's, recorded with it (record_not_seen).
        "TIEQUAN_FOLLOWUP_NOT_SEEN": False,
        # The price history is that before the run, as the single-process sweep reads it.
        "TIEQUAN_HISTORY_UNTIL": meta.started_at,
        **config.as_scrapy(),
        "TIEQUAN_WORKER_ID": worker,
    }
    for name, value in cmdline.items():
        settings.set(name, value, priority="cmdline")
    write_revisits(settings, meta, worker, options.home)
    return settings


def run_detect_worker(options: DetectOptions, config: DistributedSettings) -> DetectResult:
    server = connect(config)
    run_id = options.run_id or active_run(server)
    if not run_id:
        raise RunStateError("Redis 中没有分布式批次（先运行 tiequan sweep --distributed）")
    state = RunState(server, run_id, config.keys_ttl_s)
    meta = state.meta()
    if meta.detection != DETECT_WORKERS:
        raise RunStateError(f"批次 {run_id} 在抓取节点内检测（TIEQUAN_DETECTION=inline）")
    worker = worker_name(config)
    uri = shared_mongo_uri(SweepOptions(mongo_uri=options.mongo_uri))
    settings = detect_settings(meta, options, config, worker, uri)
    with open_database(uri, options.home, timeout_ms=db_timeout_ms(settings)) as db:
        try:
            verify_live(Registry(db, environment().model_dir))
        except RegistryError as exc:
            raise SweepError(str(exc)) from exc
        crawlers = detect(settings, meta, options.log_level)
        sites: dict[str, dict[str, Any]] = {}
        for crawler in crawlers:
            if crawler.spider is None or crawler.stats is None:
                continue
            stats = crawler.stats.get_stats()
            site = crawler.spider.name
            state.merge_stats(site, {k: v for k, v in stats.items() if k.startswith(DETECT_STATS)})
            sites[site] = {
                "listings": stats.get("detect/listings", 0),
                "findings": sum(v for k, v in stats.items() if k.startswith("detector/hits/")),
                "leads_new": stats.get("leads/new", 0),
                "requeued": stats.get("detect/requeued", 0),
                "finish_reason": stats.get("finish_reason"),
            }
        state.close_worker(worker)
        done = state.done() and all(state.drained(detect_queue(s)) for s in meta.sites)
        result = DetectResult(run_id, worker, sites, run_done=done)
        if done:
            wait_settled(state, config.lease_s * 2 + 5)
            if state.claim_record(worker):
                record_not_seen(db, state, meta)
                result.report = record(db, state, meta, worker, options.home)
    return result


def detect(settings: Settings, meta: RunMeta, log_level: str) -> list[Crawler]:
    process = CrawlerProcess(settings)
    for name in ("scrapy", "scrapy-playwright", "py.warnings"):
        logging.getLogger(name).setLevel(log_level)
    crawlers: list[Crawler] = []
    kwargs = {"base_url": meta.base_url} if meta.base_url else {}
    for site in meta.sites:
        profile_cls = process.spider_loader.load(site)
        assert issubclass(profile_cls, ProfileSpider), profile_cls
        spider_cls = detect_spider_class(profile_cls)
        crawler = process.create_crawler(spider_cls)
        crawlers.append(crawler)
        process.crawl(crawler, **kwargs)
    process.start()
    return crawlers


def record_not_seen(db: Database[Any], state: RunState, meta: RunMeta) -> int:
    """Follow-ups of the revisit-list listings that no crawl worker staged this run."""
    if not meta.revisits:
        return 0
    staged = {sid for site in meta.sites for sid in state.offered(detect_queue(site))}
    now = datetime.now(UTC)
    outcomes = []
    for row in meta.revisits:
        target = revisit.Target(**{**row, "lead_ids": tuple(row["lead_ids"]),
                                   "categories": tuple(row["categories"])})  # fmt: skip
        if staged_id(meta.run_id, listing_id(target.platform, target.item_id)) not in staged:
            detail = followup_detail(target)
            outcomes.append(Outcome(target, NOT_SEEN, meta.run_id, now, None, detail))
    return record_followups(db[LEADS], outcomes) if outcomes else 0
