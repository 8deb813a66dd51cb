"""`tiequan worker`: crawl a seeded run's sites from the shared Redis queue until it is done.

A worker runs one crawler per site of the run, through the ordinary pipelines (detection,
evidence, store, referral) into the shared database. When its crawlers close it adds its
stats to the run's totals; once every site is drained the run is done, and the one worker
that wins the run's record claim, after every other worker has closed or died, saves the run
report.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings

from crawlers import revisit
from pipelines.config import db_timeout_ms
from tiequan.distributed.dedup import BLOOM
from tiequan.distributed.scheduler import (
    SCHEDULER_PATH,
    START_MIDDLEWARE_PATH,
    worker_name,
)
from tiequan.distributed.seed import shared_mongo_uri
from tiequan.distributed.state import (
    DETECT_WORKERS,
    RunMeta,
    RunState,
    RunStateError,
    active_run,
    connect,
)
from tiequan.models.live import live_record, verify_live
from tiequan.models.registry import Registry, RegistryError
from tiequan.settings import DistributedSettings, environment
from tiequan.storage.connect import open_database, resolve_home
from tiequan.storage.store import Store
from tiequan.sweep.report import build_report
from tiequan.sweep.runner import SweepError, SweepOptions, crawl_settings

logger = logging.getLogger(__name__)

SETTLE_POLL_S = 0.5
# A crawl worker's stages when its run detects in detection workers: up to deduplication,
# then the hand-off (tiequan.distributed.handoff); `tiequan detect-worker` runs the rest.
CRAWL_PIPELINES = {
    "pipelines.recrawl.RecrawlPipeline": 50,
    "pipelines.validate.ValidatePipeline": 100,
    "pipelines.resume.ResumePipeline": 150,
    "pipelines.dedup.DedupPipeline": 200,
    "tiequan.distributed.handoff.HandoffPipeline": 400,
}


@dataclass
class WorkerOptions:
    run_id: str | None = None  # None: the run last seeded
    home: Path | None = None
    mongo_uri: str | None = None
    log_level: str = "WARNING"
    progress_interval: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class WorkerResult:
    run_id: str
    worker: str
    sites: dict[str, dict[str, Any]]  # site -> this worker's pages, items, requeued
    run_done: bool
    report: dict[str, Any] | None = None  # set for the worker that recorded the run
    detecting: bool = False  # a detection worker records the run (tiequan.distributed.detect)


def run_sweep_options(
    meta: RunMeta,
    home: Path | None,
    log_level: str = "WARNING",
    settings: dict[str, Any] | None = None,
    progress_interval: float = 0.0,
) -> SweepOptions:
    """The run as the seeding sweep meant it, with this worker's own settings after its."""
    return SweepOptions(
        sites=meta.sites,
        base_url=meta.base_url,
        home=home,
        progress_interval=progress_interval,
        log_level=log_level,
        settings={**meta.settings, **(settings or {})},
        run_id=meta.run_id,
    )


def worker_settings(
    meta: RunMeta, options: WorkerOptions, config: DistributedSettings, worker: str, uri: str
) -> Settings:
    sweep = run_sweep_options(
        meta, options.home, options.log_level, options.settings, options.progress_interval
    )
    settings = crawl_settings(sweep, meta.run_id, uri)
    if meta.detection == DETECT_WORKERS:  # the detection workers run stages 350–650
        settings.set("ITEM_PIPELINES", CRAWL_PIPELINES, priority="cmdline")
    settings.set("SCHEDULER", SCHEDULER_PATH, priority="cmdline")
    middlewares = {**settings.getdict("SPIDER_MIDDLEWARES"), START_MIDDLEWARE_PATH: 0}
    settings.set("SPIDER_MIDDLEWARES", middlewares, priority="cmdline")
    for name, value in {**config.as_scrapy(), "TIEQUAN_WORKER_ID": worker}.items():
        settings.set(name, value, priority="cmdline")
    write_revisits(settings, meta, worker, options.home)
    return settings


def write_revisits(settings: Settings, meta: RunMeta, worker: str, home: Path | None) -> None:
    """The run's takedown revisits as this worker's plan file, named in its settings."""
    if meta.revisits:
        safe = "".join(c if c.isalnum() else "_" for c in worker)
        path = resolve_home(home) / "runs" / f"{meta.run_id}.{safe}.followup.json"
        revisit.write(path, [revisit.Target(**row) for row in meta.revisits])
        settings.set("TIEQUAN_FOLLOWUP_FILE", str(path), priority="cmdline")


def run_worker(options: WorkerOptions, config: DistributedSettings) -> WorkerResult:
    server = connect(config)
    run_id = options.run_id or active_run(server)
    if not run_id:
        raise RunStateError("Redis 中没有待抓取的分布式批次（先运行 tiequan sweep --distributed）")
    state = RunState(server, run_id, config.keys_ttl_s)
    meta = state.meta()
    worker = worker_name(config)
    uri = shared_mongo_uri(SweepOptions(mongo_uri=options.mongo_uri))
    settings = worker_settings(meta, options, config, worker, uri)
    with open_database(uri, options.home, timeout_ms=db_timeout_ms(settings)) as db:
        try:
            registry = Registry(db, environment().model_dir)
            if meta.detection == DETECT_WORKERS:
                # No model is loaded here; the recrawl stage still needs the live version,
                # to send listings another model detected to detection again.
                version = live_record(registry).version
                settings.set("TIEQUAN_LIVE_MODEL_VERSION", version, priority="cmdline")
            else:
                verify_live(registry)
        except RegistryError as exc:
            raise SweepError(str(exc)) from exc
        crawlers = crawl(settings, meta, options.log_level)
        sites: dict[str, dict[str, Any]] = {}
        for crawler in crawlers:
            if crawler.spider is None or crawler.stats is None:
                continue
            stats = crawler.stats.get_stats()
            state.merge_stats(crawler.spider.name, stats)
            sites[crawler.spider.name] = {
                "pages": stats.get("response_received_count", 0),
                "items": stats.get("item_scraped_count", 0),
                "requeued": stats.get("distributed/requeued", 0),
                "finish_reason": stats.get("finish_reason"),
            }
        state.close_worker(worker)
        if not state.seeded():
            # Redis came back empty (restarted without persistence, or the run's keys
            # expired): what is left of the run cannot be told apart from nothing left.
            raise RunStateError(
                f"批次 {run_id} 已不在 Redis 中（Redis 未持久化即重启？），无法判断是否抓取完毕；"
                "本批次未记录为完成，请重新下发"
            )
        if state.mark_done(meta.sites):
            logger.info("run %s: every site drained, the run is done", run_id)
        result = WorkerResult(run_id, worker, sites, run_done=state.done())
        if meta.detection == DETECT_WORKERS:
            result.detecting = True  # recorded by a detection worker, once it is done too
        elif result.run_done:
            wait_settled(state, config.lease_s * 2 + 5)
            if state.claim_record(worker):
                result.report = record(db, state, meta, worker, options.home)
    return result


def crawl(settings: Settings, meta: RunMeta, log_level: str) -> list[Crawler]:
    process = CrawlerProcess(settings)
    for name in ("scrapy", "scrapy-playwright", "py.warnings"):
        logging.getLogger(name).setLevel(log_level)
    crawlers: list[Crawler] = []
    kwargs = {"base_url": meta.base_url} if meta.base_url else {}
    for site in meta.sites:
        crawler = process.create_crawler(process.spider_loader.load(site))
        crawlers.append(crawler)
        process.crawl(crawler, **kwargs)
    process.start()
    return crawlers


def wait_settled(state: RunState, limit_s: float) -> None:
    """Until every worker has closed (its stats added) or its lease has expired."""
    deadline = time.monotonic() + limit_s
    while not state.settled() and time.monotonic() < deadline:
        time.sleep(SETTLE_POLL_S)


def dedup_report(state: RunState, meta: RunMeta) -> dict[str, Any]:
    """The run's duplicate filter: its kind, size, and for a Bloom filter the chance, at the
    end, that a new URL was taken for a seen one (an upper bound on the share skipped)."""
    plan = meta.dedup
    entries = {site: state.dedup_entries(site, plan) for site in meta.sites}
    out: dict[str, Any] = {"kind": plan.kind, "entries": entries}
    if plan.kind == BLOOM:
        out.update(
            capacity=plan.capacity,
            error_rate=plan.error_rate,
            bits=plan.bits,
            hashes=plan.hashes,
            false_positive_rate={s: plan.false_positive_rate(n) for s, n in entries.items()},
        )
    return out


def record(
    db: Any, state: RunState, meta: RunMeta, worker: str, home: Path | None
) -> dict[str, Any]:
    """The run report from every worker's merged stats, saved once (by the claim's winner)."""
    started = datetime.fromisoformat(meta.started_at)
    stats = {site: {**state.stats(site), "finish_reason": "finished"} for site in meta.sites}
    report = build_report(
        db,
        run_id=meta.run_id,
        started_at=started,
        elapsed_s=(datetime.now(UTC) - started).total_seconds(),
        crawler_stats=stats,
    )
    report["distributed"] = {
        "recorded_by": worker,
        "requeued": sum(int(s.get("distributed/requeued", 0)) for s in stats.values()),
        "dedup": dedup_report(state, meta),
        "detection": meta.detection,
    }
    if meta.detection == DETECT_WORKERS:
        report["distributed"]["detection_requeued"] = sum(
            int(s.get("detect/requeued", 0)) for s in stats.values()
        )
    Store(db).save_run(report)
    path = resolve_home(home) / "runs" / f"{meta.run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    report["report_path"] = str(path)
    state.finish_run(meta.sites)
    logger.info("run %s recorded by worker %s", meta.run_id, worker)
    return report
