"""Sweep jobs: one APScheduler job per site profile, kept in the MongoDB job store.

A job is stored pickled (APScheduler's MongoDBJobStore), so it holds only what pickles
safely across releases: the textual reference of ``sweep_site`` and the site name as a
plain string. What runs the sweep (the child command, the limit, the database) belongs
to the process holding the lease, which installs it with ``install_launcher``.

APScheduler 3 reads a persistent store on each wake-up but does not watch it; the
service wakes its scheduler on every heartbeat, so a pause, resume or run-now written
by `tiequan scheduler` from another process is seen within one heartbeat.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.mongodb import MongoDBJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from pymongo.database import Database

from tiequan.settings import SchedulerSettings

log = logging.getLogger(__name__)

JOBS = "scheduler_jobs"
JOB_FUNC = "tiequan.scheduling.jobs:sweep_site"
SITE_PREFIX = "site:"
NOW_PREFIX = "now:"
TRIGGER_SCHEDULE = "schedule"
TRIGGER_RUN_NOW = "run-now"

# (site, trigger) -> None; the lease holder's sweep launcher.
Launch = Callable[[str, str], None]
_launchers: list[Launch] = []
_launchers_lock = threading.Lock()


class ScheduleError(ValueError):
    """A schedule cannot be used; the message names the site and the value."""


@dataclass(frozen=True)
class SiteSchedule:
    """What a site profile says about its schedule (``schedule.cron``, ``schedule.enabled``)."""

    site: str
    cron: str | None = None  # None: TIEQUAN_SCHEDULER_DEFAULT_CRON
    enabled: bool = True
    source: str = ""  # the profile file, for error messages


@dataclass(frozen=True)
class JobRow:
    """One line of `tiequan scheduler list`."""

    job_id: str
    site: str
    kind: str  # TRIGGER_SCHEDULE or TRIGGER_RUN_NOW
    cron: str | None
    next_run: datetime | None  # None: paused

    @property
    def paused(self) -> bool:
        return self.next_run is None


class AppJobStore(MongoDBJobStore):
    """APScheduler's MongoDB job store on the application's client, which it must not
    close at shutdown (the stock store closes the client it was handed)."""

    def __init__(self, db: Database[dict[str, Any]]) -> None:
        super().__init__(database=db.name, collection=JOBS, client=db.client)

    def shutdown(self) -> None:
        """Leave the client open: its owner closes it."""


def site_job_id(site: str) -> str:
    return SITE_PREFIX + site


def install_launcher(launch: Launch) -> None:
    with _launchers_lock:
        _launchers.append(launch)


def remove_launcher(launch: Launch) -> None:
    with _launchers_lock:
        if launch in _launchers:
            _launchers.remove(launch)


def sweep_site(site: str, trigger: str = TRIGGER_SCHEDULE) -> None:
    """The job function: hand the site to this process's launcher."""
    with _launchers_lock:
        launch = _launchers[-1] if _launchers else None
    if launch is None:
        raise RuntimeError(f"no sweep launcher in this process; {site} not swept")
    launch(site, trigger)


def cron_trigger(schedule: SiteSchedule, settings: SchedulerSettings) -> CronTrigger:
    cron = schedule.cron or settings.default_cron
    try:
        return CronTrigger.from_crontab(cron, timezone=settings.timezone)
    except (ValueError, LookupError) as exc:
        where = schedule.source or schedule.site
        raise ScheduleError(f"{where}: field schedule.cron: bad value {cron!r}: {exc}") from exc


def cron_text(trigger: Any) -> str | None:
    """The five crontab fields of a CronTrigger, None for any other trigger."""
    if not isinstance(trigger, CronTrigger):
        return None
    fields = {f.name: str(f) for f in trigger.fields}
    return " ".join(fields[n] for n in ("minute", "hour", "day", "month", "day_of_week"))


def new_scheduler(db: Database[dict[str, Any]], settings: SchedulerSettings) -> BackgroundScheduler:
    return BackgroundScheduler(
        jobstores={"default": AppJobStore(db)},
        executors={"default": ThreadPoolExecutor(settings.workers)},
        timezone=settings.timezone,
    )


def job_options(settings: SchedulerSettings) -> dict[str, Any]:
    # coalesce: a backlog of missed runs is one sweep; the grace time is hours, since
    # APScheduler's default (1 s) silently skips a nightly run the service was late for.
    return {"coalesce": True, "max_instances": 1, "misfire_grace_time": settings.misfire_grace_s}


def sync_jobs(
    scheduler: BackgroundScheduler, schedules: Iterable[SiteSchedule], settings: SchedulerSettings
) -> list[str]:
    """Add or replace one job per enabled site; remove jobs of sites gone or disabled.

    A job already in the store keeps its next run time when its schedule is unchanged
    (a run missed while no scheduler was active still starts, within the grace time)
    and stays paused when it was paused. Returns the job ids kept.
    """
    kept: list[str] = []
    for schedule in schedules:
        if not schedule.enabled:
            continue
        trigger = cron_trigger(schedule, settings)
        job_id = site_job_id(schedule.site)
        existing = scheduler.get_job(job_id)
        extra: dict[str, Any] = {}
        if existing is not None and (
            existing.next_run_time is None or repr(existing.trigger) == repr(trigger)
        ):
            extra["next_run_time"] = existing.next_run_time
        scheduler.add_job(
            JOB_FUNC,
            trigger,
            args=[schedule.site],
            id=job_id,
            name=f"sweep {schedule.site}",
            replace_existing=True,
            **job_options(settings),
            **extra,
        )
        kept.append(job_id)
    for job in scheduler.get_jobs():
        if job.id.startswith(SITE_PREFIX) and job.id not in kept:
            log.info("removing the job of %s: no enabled profile schedules it", job.id)
            scheduler.remove_job(job.id)
    return kept


def stop_scheduler(scheduler: BackgroundScheduler, wait: bool) -> None:
    """Shut ``scheduler`` down without a last look at the job store.

    APScheduler 3's main loop, woken by ``shutdown``, processes due jobs once more with
    its executor already shut: the submission fails and the job's next run time is moved
    on, so a due run would be lost (or, after a lost lease, done by two schedulers).
    Taking the store away first leaves that last pass nothing to process.
    """
    scheduler.pause()
    scheduler.remove_jobstore("default", shutdown=False)
    scheduler.shutdown(wait=wait)


@contextmanager
def control(
    db: Database[dict[str, Any]], settings: SchedulerSettings
) -> Iterator[BackgroundScheduler]:
    """A scheduler on the job store that never runs a job: for the CLI's edits."""
    scheduler = new_scheduler(db, settings)
    scheduler.start(paused=True)
    try:
        yield scheduler
    finally:
        stop_scheduler(scheduler, wait=False)


def site_job(scheduler: BackgroundScheduler, site: str) -> Job:
    job = scheduler.get_job(site_job_id(site))
    if job is None:
        raise ScheduleError(f"站点 {site} 没有调度任务（未启用，或调度服务尚未运行过）")
    return job


def pause_site(scheduler: BackgroundScheduler, site: str) -> None:
    scheduler.pause_job(site_job(scheduler, site).id)


def resume_site(scheduler: BackgroundScheduler, site: str) -> datetime | None:
    job = scheduler.resume_job(site_job(scheduler, site).id)
    return job.next_run_time if job is not None else None


def run_now(scheduler: BackgroundScheduler, site: str, settings: SchedulerSettings) -> None:
    """A one-off job for ``site`` due now; the site's own schedule (or pause) is untouched."""
    scheduler.add_job(
        JOB_FUNC,
        DateTrigger(run_date=datetime.now(scheduler.timezone), timezone=settings.timezone),
        args=[site],
        kwargs={"trigger": TRIGGER_RUN_NOW},
        id=NOW_PREFIX + site,
        name=f"sweep {site} now",
        replace_existing=True,
        **job_options(settings),
    )


def job_rows(scheduler: BackgroundScheduler) -> list[JobRow]:
    rows = []
    for job in scheduler.get_jobs():
        site = str(job.args[0]) if job.args else "?"
        kind = TRIGGER_RUN_NOW if job.id.startswith(NOW_PREFIX) else TRIGGER_SCHEDULE
        rows.append(JobRow(job.id, site, kind, cron_text(job.trigger), job.next_run_time))
    return sorted(rows, key=lambda r: (r.site, r.kind))
