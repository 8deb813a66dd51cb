"""Run a sweep: crawl the selected sites through the pipelines, then report."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo.database import Database
from pymongo.errors import PyMongoError
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings

from crawlers import revisit
from crawlers.profiles import SiteProfile, default_sites_dir, load_profiles
from pipelines.config import db_timeout_ms
from pipelines.refer import crawl_leads
from tiequan.leads.cases import LeadRoute
from tiequan.leads.followup import build_plan
from tiequan.leads.queue import LeadQueue
from tiequan.models.live import verify_live
from tiequan.models.registry import Registry, RegistryError
from tiequan.settings import environment
from tiequan.storage import spool
from tiequan.storage.connect import open_database, resolve_home, revive, short_error
from tiequan.storage.store import LEADS, Store, new_run_id
from tiequan.sweep.report import build_report

logger = logging.getLogger(__name__)

DURABLE_SCHEDULER = "pipelines.frontier.DurableScheduler"


class SweepError(RuntimeError):
    """The sweep could not start (unknown site, bad profile, no database)."""


@dataclass
class SweepOptions:
    sites: list[str] = field(default_factory=list)  # empty: every profile
    base_url: str | None = None
    sites_dir: Path | None = None
    mongo_uri: str | None = None
    home: Path | None = None
    report_path: Path | None = None
    progress_interval: float = 5.0
    log_level: str = "WARNING"
    settings: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None  # chosen by the caller (the scheduler), else a new one
    # Durable frontier on, continuing each site's unfinished crawl if it has one.
    resume: bool = False


def select_profiles(options: SweepOptions) -> list[SiteProfile]:
    profiles = load_profiles(options.sites_dir or default_sites_dir())
    if not options.sites:
        chosen = list(profiles.values())
    else:
        unknown = [name for name in options.sites if name not in profiles]
        if unknown:
            raise SweepError(
                f"unknown site(s): {', '.join(unknown)}; known: {', '.join(sorted(profiles))}"
            )
        chosen = [profiles[name] for name in options.sites]
    if not chosen:
        raise SweepError(f"no site profiles in {options.sites_dir or default_sites_dir()}")
    return chosen


def crawl_settings(options: SweepOptions, run_id: str, mongo_uri: str | None) -> Settings:
    settings = Settings()
    settings.setmodule("crawlers.settings", priority="project")
    settings.set("TIEQUAN_RUN_ID", run_id, priority="cmdline")
    if mongo_uri:
        settings.set("TIEQUAN_MONGO_URI", mongo_uri, priority="cmdline")
    settings.set("TIEQUAN_PROGRESS_INTERVAL", options.progress_interval, priority="cmdline")
    settings.set("LOG_LEVEL", options.log_level, priority="cmdline")
    # The CLI owns the root log handler.
    settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")
    if options.sites_dir:
        settings.set("TIEQUAN_SITES_DIR", str(options.sites_dir), priority="cmdline")
    if options.resume:
        settings.set("TIEQUAN_DURABLE_FRONTIER", True, priority="cmdline")
        settings.set("TIEQUAN_FRONTIER_RESUME", True, priority="cmdline")
    for key, value in options.settings.items():
        settings.set(key, value, priority="cmdline")
    if settings.getbool("TIEQUAN_DURABLE_FRONTIER"):
        settings.set("SCHEDULER", DURABLE_SCHEDULER, priority="cmdline")
    return settings


@contextmanager
def _database(options: SweepOptions, timeout_ms: int) -> Iterator[tuple[Database[Any], str]]:
    with open_database(options.mongo_uri, options.home, timeout_ms=timeout_ms) as db:
        if options.mongo_uri:
            uri = options.mongo_uri
        else:
            host, port = db.client.address or ("127.0.0.1", 27017)
            uri = f"mongodb://{host}:{port}/?directConnection=true"
        yield db, uri


def run_sweep(options: SweepOptions) -> dict[str, Any]:
    """Crawl, detect, store and refer; returns the run report (also saved and written)."""
    profiles = select_profiles(options)
    run_id = options.run_id or new_run_id()
    try:
        timeout_ms = db_timeout_ms(crawl_settings(options, run_id, None))
    except ValueError as exc:
        raise SweepError(str(exc)) from exc
    started = datetime.now(UTC)
    t0 = time.monotonic()
    with _database(options, timeout_ms) as (db, uri):
        LeadQueue(db).ensure_indexes()
        try:  # before any crawl: the detection stage loads this model, it never trains one
            live = verify_live(Registry(db, environment().model_dir))
        except RegistryError as exc:
            raise SweepError(str(exc)) from exc
        logger.info("live model %s", live.version)
        settings = crawl_settings(options, run_id, uri)
        plan = build_plan(db[LEADS], [p.name for p in profiles])
        if plan:
            plan_path = resolve_home(options.home) / "runs" / f"{run_id}.followup.json"
            revisit.write(plan_path, [revisit.Target(**asdict(r)) for r in plan])
            settings.set("TIEQUAN_FOLLOWUP_FILE", str(plan_path), priority="cmdline")
            logger.info("takedown follow-up: %d listing(s) to re-check", len(plan))
        # Scrapy's own loggers follow --log-level.
        process = CrawlerProcess(settings)
        for name in ("scrapy", "scrapy-playwright", "py.warnings"):
            logging.getLogger(name).setLevel(options.log_level)
        crawlers: list[Crawler] = []
        for profile in profiles:
            spider_cls = process.spider_loader.load(profile.name)
            crawler = process.create_crawler(spider_cls)
            crawlers.append(crawler)
            kwargs = {"base_url": options.base_url} if options.base_url else {}
            process.crawl(crawler, **kwargs)
        process.start()
        elapsed = time.monotonic() - t0
        available = _answers(db, uri)
        resumed_from = [
            str(c.stats.get_value("frontier/resumed_from"))
            for c in crawlers
            if c.stats is not None and c.stats.get_value("frontier/resumed_from")
        ]
        report = build_report(
            db if available else None,
            run_id=run_id,
            started_at=started,
            elapsed_s=elapsed,
            crawler_stats={
                c.spider.name if c.spider else "?": c.stats.get_stats()
                for c in crawlers
                if c.stats is not None
            },
            resumed=bool(resumed_from),
            leads=recorded_leads(crawlers, resumed=bool(resumed_from)),
        )
        report["resumed_from"] = resumed_from[0] if resumed_from else None
        _record_run(db if available else None, report, options.home)
    path = options.report_path or resolve_home(options.home) / "runs" / f"{run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    report["report_path"] = str(path)
    return report


def _answers(db: Database[Any], uri: str) -> bool:
    """Is the database there at the end of the crawl (an embedded one restarted if it died)?"""
    revive(uri)
    try:
        db.client.admin.command("ping")
    except PyMongoError as exc:
        logger.warning("数据库不可用，运行记录写入暂存区：%s", short_error(exc))
        return False
    return True


def recorded_leads(crawlers: list[Crawler], *, resumed: bool) -> dict[str, LeadRoute] | None:
    """The run's leads as its refer stages recorded them, or None when this process did not
    see all of them: a resumed run (its first process referred some) or a referral batch
    spooled in an outage (replayed later); those are counted in the database by run id."""
    stats = [c.stats for c in crawlers if c.stats is not None]
    if resumed or any(s.get_value("refer/spooled") for s in stats):
        return None
    return {lead_id: route for s in stats for lead_id, route in crawl_leads(s).items()}


def _record_run(db: Database[Any] | None, report: dict[str, Any], home: Path | None) -> None:
    """Save the run record, or spool it (runs stage) when the database is away."""
    if db is not None:
        try:
            Store(db).save_run(report)
            return
        except PyMongoError as exc:
            logger.warning("运行记录未能写入数据库，写入暂存区：%s", short_error(exc))
    path = spool.spool_path(home, report["run_id"], "runs")
    report["database"]["run_record"] = str(path)
    try:
        spool.append(path, [report])
    except OSError as exc:
        report["database"]["run_record"] = None
        report["database"]["lost"] += 1
        logger.error("运行记录未能写入暂存区 %s：%s", path, exc)
