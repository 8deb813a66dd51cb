"""`tiequan sweep --distributed`: put a run's start requests in Redis and record the run.

Each site's spider is built as a crawl would build it and asked for its start requests
(list pages, and the takedown revisits of referred leads); they go through the run's
scrapy-redis duplicate filter into its queue, where `tiequan worker` processes take them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.settings import Settings
from scrapy.statscollectors import MemoryStatsCollector
from scrapy_redis.queue import PriorityQueue

from crawlers.spiderloader import ProfileSpiderLoader
from pipelines.config import db_timeout_ms
from tiequan.distributed.dedup import DedupPlan
from tiequan.distributed.scheduler import run_dupefilter
from tiequan.distributed.state import RunMeta, RunState, connect
from tiequan.leads.followup import build_plan
from tiequan.leads.queue import LeadQueue
from tiequan.models.live import verify_live
from tiequan.models.registry import Registry, RegistryError
from tiequan.settings import DistributedSettings, environment
from tiequan.storage.connect import open_database
from tiequan.storage.store import LEADS, RUNS, Store, new_run_id
from tiequan.sweep.runner import SweepError, SweepOptions, crawl_settings, select_profiles

logger = logging.getLogger(__name__)

RUNNING = "running"


@dataclass(frozen=True)
class Seeded:
    run_id: str
    requests: dict[str, int]  # site -> start requests queued
    revisits: int
    detection: str  # tiequan.distributed.state.DETECT_WORKERS or DETECT_INLINE


def shared_mongo_uri(options: SweepOptions) -> str:
    """Workers on other machines write to the same database: it must be a server."""
    uri = options.mongo_uri or environment().mongo_uri
    if not uri:
        raise SweepError("分布式巡查需要各节点共用的数据库：请设置 TIEQUAN_MONGO_URI")
    return uri


def seed_run(options: SweepOptions, config: DistributedSettings) -> Seeded:
    profiles = select_profiles(options)
    if options.resume:
        raise SweepError("--distributed 与 --resume 不能同时使用（分布式批次的队列本身可续跑）")
    run_id = options.run_id or new_run_id()
    uri = shared_mongo_uri(options)
    try:
        timeout_ms = db_timeout_ms(crawl_settings(options, run_id, uri))
    except ValueError as exc:
        raise SweepError(str(exc)) from exc
    state = RunState(connect(config), run_id, config.keys_ttl_s)
    started = datetime.now(UTC)
    with open_database(uri, options.home, timeout_ms=timeout_ms) as db:
        LeadQueue(db).ensure_indexes()
        try:  # the workers' detection stage loads this model; refuse early if there is none
            verify_live(Registry(db, environment().model_dir))
        except RegistryError as exc:
            raise SweepError(str(exc)) from exc
        names = [p.name for p in profiles]
        plan = [asdict(r) for r in build_plan(db[LEADS], names)]
        meta = RunMeta(
            run_id=run_id,
            sites=names,
            started_at=started.isoformat(),
            base_url=options.base_url,
            settings={k: str(v) for k, v in options.settings.items()},
            revisits=plan,
            dedup=DedupPlan.sized(config, largest_site(db, names)),
            detection=config.detection,
        )
        state.write_meta(meta)
        settings = crawl_settings(options, run_id, uri)
        counts = {
            name: push_start(state, settings, name, options.base_url, meta.dedup) for name in names
        }
        state.touch(names)
        Store(db).save_run(
            {
                "run_id": run_id,
                "started_at": started.isoformat(),
                "status": RUNNING,
                "end_reason": None,
                "site_names": sorted(names),
                "distributed": {
                    "seeded": counts,
                    "revisits": len(plan),
                    "detection": config.detection,
                },
            }
        )
    logger.info("run %s seeded: %s", run_id, counts)
    return Seeded(run_id, counts, len(plan), config.detection)


def push_start(
    state: RunState, settings: Settings, site: str, base_url: str | None, plan: DedupPlan
) -> int:
    """The site's start requests, through the run's duplicate filter into its queue."""
    loader = ProfileSpiderLoader.from_settings(settings)
    spider_cls = loader.load(site)
    crawler = Crawler(spider_cls, settings)
    # The spider counts what it makes (Spider.crawler.stats); no crawl runs here.
    crawler.stats = MemoryStatsCollector(crawler)
    kwargs = {"base_url": base_url} if base_url else {}
    spider = spider_cls.from_crawler(crawler, **kwargs)
    requests = asyncio.run(collect(spider.start()))
    queue = PriorityQueue(state.server, spider, state.keys.queue(site))
    dupefilter = run_dupefilter(state, site, plan)
    pushed = 0
    for request in requests:
        if request.dont_filter or not dupefilter.request_seen(request):
            queue.push(request)
            pushed += 1
    return pushed


def largest_site(db: Any, names: list[str]) -> int:
    """Pages of the largest of these sites in its last recorded run: the seeded estimate
    a Bloom filter is sized from (0 when none was recorded)."""
    largest = 0
    for name in names:
        field = f"sites.{name}.pages"
        last = db[RUNS].find_one({field: {"$exists": True}}, {field: 1}, sort=[("started_at", -1)])
        if last is not None:
            largest = max(largest, int(last.get("sites", {}).get(name, {}).get("pages") or 0))
    return largest


async def collect(start: AsyncIterator[Any]) -> list[Request]:
    return [r async for r in start if isinstance(r, Request)]
