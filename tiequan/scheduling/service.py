"""`tiequan scheduler run`: wait for the lease, schedule the sweeps while holding it.

A process without the lease is a standby: it tries again every heartbeat and starts
nothing. The holder starts APScheduler on the job store, (re)adds the profiles' jobs,
then on every heartbeat renews the lease and wakes the scheduler so that it reads the
store again. When it cannot renew (another process took the lease, or the database was
away for a whole lease length) it stops its scheduler and is a standby again; sweeps
already running go on to their end or their limit.

Stopping (SIGTERM, SIGINT): the scheduler stops, running sweeps are sent SIGTERM (then
SIGKILL) and recorded as killed, and the lease is released so a standby takes over at
once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from pymongo.database import Database
from pymongo.errors import PyMongoError

from tiequan.scheduling.child import KILL_GRACE_S, SweepLauncher
from tiequan.scheduling.jobs import (
    SiteSchedule,
    cron_trigger,
    install_launcher,
    new_scheduler,
    remove_launcher,
    stop_scheduler,
    sync_jobs,
)
from tiequan.scheduling.lease import LEASES, Lease, new_holder_id
from tiequan.settings import SchedulerSettings
from tiequan.storage.connect import short_error
from tiequan.storage.migrations import MigrationError, apply_pending

log = logging.getLogger(__name__)


class SchedulerService:
    """One scheduler process: standby until it holds the lease, then the active one."""

    def __init__(
        self,
        db: Database[dict[str, Any]],
        mongo_uri: str,
        schedules: Sequence[SiteSchedule],
        settings: SchedulerSettings,
        home: Path,
        holder: str | None = None,
        kill_grace_s: float = KILL_GRACE_S,
    ) -> None:
        for schedule in schedules:
            cron_trigger(schedule, settings)  # a bad cron stops the start, naming the profile
        self.db = db
        self.schedules = list(schedules)
        self.settings = settings
        self.holder = holder or new_holder_id()
        self.lease = Lease(db[LEASES], self.holder, settings.lease_s)
        self.launcher = SweepLauncher(db, mongo_uri, settings, home, self.holder, kill_grace_s)
        self.stopping = threading.Event()
        self.active = threading.Event()  # set while this process holds the lease
        self.scheduler: BackgroundScheduler | None = None  # the holder's, while it leads

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        """Until stopped: wait for the lease, lead while holding it."""
        log.info("scheduler %s started; waiting for the lease", self.holder)
        while not self.stopping.is_set():
            try:
                held = self.lease.acquire()
            except PyMongoError as exc:
                log.warning("lease not readable: %s", short_error(exc))
                held = False
            if held:
                try:
                    self.lead()
                except PyMongoError as exc:  # the job store went away: wait, then try again
                    log.error("scheduler %s stepped down: %s", self.holder, short_error(exc))
                    self.stopping.wait(self.settings.heartbeat_s)
            else:
                self.stopping.wait(self.settings.heartbeat_s)
        log.info("scheduler %s stopped", self.holder)

    def lead(self) -> None:
        """Run APScheduler while the lease is ours."""
        self.migrate()
        scheduler = self.scheduler = new_scheduler(self.db, self.settings)
        scheduler.start(paused=True)
        install_launcher(self.launcher)
        self.launcher.stopping.clear()
        try:
            jobs = sync_jobs(scheduler, self.schedules, self.settings)
            scheduler.resume()
            self.active.set()
            log.info("scheduler %s is active with %d site job(s)", self.holder, len(jobs))
            self.heartbeat(scheduler.wakeup)
        finally:
            self.active.clear()
            self.scheduler = None
            stopping = self.stopping.is_set()
            if stopping:
                self.launcher.stopping.set()
            # On a stop, wait for the sweeps (now being stopped) to be recorded.
            stop_scheduler(scheduler, wait=stopping)
            remove_launcher(self.launcher)
            if stopping:
                self.release()

    def heartbeat(self, wakeup: Any) -> None:
        """Renew the lease and wake the scheduler until stopped or the lease is lost."""
        renewed = time.monotonic()
        while not self.stopping.wait(self.settings.heartbeat_s):
            try:
                if not self.lease.renew():
                    log.error("scheduler %s lost the lease to another process", self.holder)
                    return
                renewed = time.monotonic()
            except PyMongoError as exc:
                if time.monotonic() - renewed > self.settings.lease_s:
                    log.error(
                        "lease not renewed for a whole lease length (%s); stepping down",
                        short_error(exc),
                    )
                    return
                log.warning("lease renewal failed, retrying: %s", short_error(exc))
                continue
            wakeup()

    def migrate(self) -> None:
        """Apply pending schema migrations before any job starts (only the holder does).

        One longer than a lease length belongs to `tiequan migrate`, run before the upgrade:
        the lease is not renewed meanwhile.
        """
        try:
            for done in apply_pending(self.db, f"scheduler {self.holder}"):
                log.warning("migration %s applied: %d document(s)", done.migration.id, done.changed)
        except MigrationError as exc:  # another process is migrating: its sweeps wait
            log.warning("migrations not applied: %s", exc)

    def release(self) -> None:
        try:
            self.lease.release()
        except PyMongoError as exc:
            log.warning("lease not released (it expires by itself): %s", short_error(exc))
