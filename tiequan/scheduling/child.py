"""One child process per sweep: started, watched, killed after its limit, and recorded.

A sweep runs Scrapy, whose Twisted reactor cannot be restarted in a process, so every
sweep is a new process: by default `tiequan sweep --site SITE --run-id ID --resume`, whose
crawl frontier is kept in the database, so a sweep killed (at its limit, or by a crash)
is continued by the next one rather than started again (docs/scheduler.md). The command
is a template (TIEQUAN_SCHEDULER_SWEEP_COMMAND), so a deployment can add options and a
test can put a fake in. The child gets its own process group: a hung sweep is sent
SIGTERM, then SIGKILL after a grace period, with every process it started.

The run record is the sweep's own (``runs``, by the run id the scheduler chose); the
launcher adds ``scheduled`` (trigger, exit code, limit, log) and, when the child was
killed or died before it recorded anything, the status and why it ended. When the
database is away as the sweep ends, the launcher reads the sweep's report file instead
of its record, and what it would have written goes to the spool behind the sweep's own
record (``runs`` stage): the replay before the next sweep writes both, in that order.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import subprocess  # nosec B404 # runs the sweep command, argv without a shell
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pymongo.database import Database
from pymongo.errors import PyMongoError

from tiequan.settings import SchedulerSettings, child_environment
from tiequan.storage import spool
from tiequan.storage.connect import short_error
from tiequan.storage.store import Store, new_run_id, utcnow

log = logging.getLogger(__name__)

KILL_GRACE_S = 10.0
POLL_S = 0.1
# end_reason values the launcher writes (the sweep itself writes finished, errors, …)
TIME_LIMIT = "time_limit"
SCHEDULER_STOPPED = "scheduler_stopped"
NO_RECORD = "no_run_record"  # exited 0 without recording its run: not a sweep that ended well


@dataclass(frozen=True)
class ChildResult:
    exit_code: int  # negative: killed by that signal
    killed: bool
    stopped: bool  # killed because the scheduler was stopping, not for the limit
    elapsed_s: float
    peak_rss_bytes: int


def sweep_command(template: str, *, site: str, run_id: str, report: Path) -> list[str]:
    """The child's argv: the template split as a shell would, placeholders filled."""
    values = {
        "{python}": sys.executable,
        "{site}": site,
        "{run_id}": run_id,
        "{report}": str(report),
    }
    argv = []
    for arg in shlex.split(template):
        for key, value in values.items():
            arg = arg.replace(key, value)
        argv.append(arg)
    return argv


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def run_child(
    argv: list[str],
    *,
    limit_s: float,
    log_path: Path,
    env: dict[str, str],
    stop: threading.Event,
    kill_grace_s: float = KILL_GRACE_S,
) -> ChildResult:
    """Run ``argv`` to its end or its limit (or ``stop``); output goes to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(  # nosec B603 # argv from the operator's template, no shell
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    deadline = t0 + limit_s
    killed_at: float | None = None
    stopped = False
    # Exited, but not yet reaped (WNOWAIT): its process-group id cannot be reused yet.
    while os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        now = time.monotonic()
        if killed_at is None and (now > deadline or stop.is_set()):
            stopped = stop.is_set()
            why = "the scheduler stops" if stopped else f"over its limit of {limit_s:g} s"
            log.warning("sweep pid %s: %s; stopping it", proc.pid, why)
            _signal_group(proc.pid, signal.SIGTERM)
            killed_at = now
        elif killed_at is not None and now > killed_at + kill_grace_s:
            _signal_group(proc.pid, signal.SIGKILL)
        time.sleep(POLL_S)
    # What it left running in its group (a browser) goes with it.
    _signal_group(proc.pid, signal.SIGKILL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return ChildResult(
        exit_code=proc.returncode,
        killed=killed_at is not None,
        stopped=stopped,
        elapsed_s=time.monotonic() - t0,
        peak_rss_bytes=usage.ru_maxrss * 1024,
    )


def spooled_fields(database: dict[str, Any]) -> dict[str, Any]:
    """``spooled.records`` and ``spooled.run_record`` of a run whose writes went (partly)
    to the spool; the replay adds ``spooled.replayed_at`` (tiequan.sweep.replay)."""
    records = int(database.get("spooled") or 0)
    run_record = database.get("run_record") not in (None, "database")
    if not (records or run_record):
        return {}
    return {"spooled.records": records, "spooled.run_record": run_record}


class SweepLauncher:
    """Runs one site's sweep as a child process and completes its run record."""

    def __init__(
        self,
        db: Database[dict[str, Any]],
        mongo_uri: str,
        settings: SchedulerSettings,
        home: Path,
        holder: str,
        kill_grace_s: float = KILL_GRACE_S,
    ) -> None:
        self.db = db
        self.mongo_uri = mongo_uri
        self.settings = settings
        self.home = home
        self.holder = holder
        self.kill_grace_s = kill_grace_s
        self.stopping = threading.Event()
        self.running: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, site: str, trigger: str) -> None:
        with self._lock:
            if site in self.running:
                log.warning("%s is still being swept; this %s run is skipped", site, trigger)
                return
            self.running.add(site)
        try:
            self.sweep(site, trigger)
        finally:
            with self._lock:
                self.running.discard(site)

    def sweep(self, site: str, trigger: str) -> str:
        """Sweep ``site`` in a child process; returns the run id."""
        run_id = new_run_id()
        runs_dir = self.home / "runs"
        log_path = runs_dir / f"{run_id}.log"
        argv = sweep_command(
            self.settings.sweep_command,
            site=site,
            run_id=run_id,
            report=log_path.with_suffix(".json"),  # record() reads it back
        )
        env = child_environment(
            {
                "TIEQUAN_MONGO_URI": self.mongo_uri,
                "TIEQUAN_DB": self.db.name,
                "TIEQUAN_HOME": str(self.home),
            }
        )
        replayed = self.replay_spool(env, log_path)
        log.info("sweep of %s (%s) starts: run %s", site, trigger, run_id)
        started = utcnow()
        result = run_child(
            argv,
            limit_s=self.settings.sweep_limit_s,
            log_path=log_path,
            env=env,
            stop=self.stopping,
            kill_grace_s=self.kill_grace_s,
        )
        log.info(
            "sweep of %s ended: run %s, exit code %s%s",
            site,
            run_id,
            result.exit_code,
            ", killed" if result.killed else "",
        )
        self.record(site, trigger, run_id, started, result, log_path, replayed)
        return run_id

    def replay_spool(self, env: dict[str, str], log_path: Path) -> dict[str, Any] | None:
        """Write what an earlier outage left in the spool before the sweep starts; what it
        did, for the run record (None: nothing was waiting).

        `tiequan spool replay` runs as a child: the replay's writers are the sweep's stages,
        which this package does not import. A replay that cannot finish (the database is
        still away) leaves the rest for later; the sweep starts anyway.
        """
        try:
            waiting = spool.status(self.home)
        except OSError as exc:
            log.warning("spool %s unreadable: %s", spool.spool_dir(self.home), exc)
            return None
        if not waiting:
            return None
        records = sum(f.records for f in waiting)
        log.info("replaying %d spooled record(s) before the next sweep", records)
        argv = [sys.executable, "-m", "tiequan", "spool", "--home", str(self.home), "replay"]
        result = run_child(
            argv,
            limit_s=self.settings.sweep_limit_s,
            log_path=log_path,
            env=env,
            stop=self.stopping,
            kill_grace_s=self.kill_grace_s,
        )
        left = spool.status(self.home)
        if left:
            log.warning("%d spooled record(s) not replayed yet", sum(f.records for f in left))
        return {
            "files": len(waiting),
            "records": records,
            "runs": sorted({f.run_id for f in waiting}),
            "left": sum(f.records for f in left),
            "exit_code": result.exit_code,
        }

    @staticmethod
    def read_report(path: Path, run_id: str) -> dict[str, Any] | None:
        """The report file the child wrote, if it is this run's."""
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(report, dict) or report.get("run_id") != run_id:
            return None
        report.pop("report_path", None)
        return report

    def record(
        self,
        site: str,
        trigger: str,
        run_id: str,
        started: datetime,
        result: ChildResult,
        log_path: Path,
        replayed: dict[str, Any] | None = None,
    ) -> None:
        fields: dict[str, Any] = {
            "run_id": run_id,
            "scheduled": {
                "trigger": trigger,
                "holder": self.holder,
                "exit_code": result.exit_code,
                "killed": result.killed,
                "limit_s": self.settings.sweep_limit_s,
                "child_elapsed_s": round(result.elapsed_s, 2),
                "child_peak_rss_bytes": result.peak_rss_bytes,
                "log": str(log_path),
                "replay": replayed,  # the spool written before this sweep started
            },
        }
        try:
            existing = self.db.runs.find_one({"_id": run_id}, {"status": 1, "database": 1})
        except PyMongoError as exc:
            log.warning(
                "run %s: record not readable (%s); using its report", run_id, short_error(exc)
            )
            existing = None
        status = existing.get("status") if existing else None
        report = None if existing else self.read_report(log_path.with_suffix(".json"), run_id)
        if report is not None:
            # Its record went to the spool (the database was away as it ended); the
            # replay will write the same report again.
            fields = {**report, **fields}
            status = report.get("status")
        elif existing is None:
            # The child died (or was killed) before it recorded its run.
            status = "failed"
            fields.update(
                site_names=[site],
                sites={site: {}},
                started_at=started.isoformat(),
                finished_at=utcnow().isoformat(),
                elapsed_s=round(result.elapsed_s, 2),
                peak_rss_bytes=result.peak_rss_bytes,
                resumed=False,
                status="failed",
                end_reason=f"exit_{result.exit_code}" if result.exit_code else NO_RECORD,
            )
        if result.exit_code != 0 and status == "ok":
            fields.update(status="failed", end_reason=f"exit_{result.exit_code}")
        if result.killed:
            reason = SCHEDULER_STOPPED if result.stopped else TIME_LIMIT
            fields.update(status="killed", end_reason=reason)
        fields.update(spooled_fields((report or existing or {}).get("database") or {}))
        try:
            Store(self.db).save_run(fields)
        except PyMongoError as exc:
            self.spool_record(site, run_id, fields, short_error(exc))

    def spool_record(self, site: str, run_id: str, fields: dict[str, Any], why: str) -> None:
        """Keep the run record for the replay before the next sweep (the database is away)."""
        path = spool.spool_path(self.home, run_id, "runs")
        try:
            spool.append(path, [fields])
        except OSError as exc:
            log.error("run %s of %s could not be recorded: %s; spool: %s", run_id, site, why, exc)
            return
        log.warning(
            "run %s of %s recorded in the spool %s (database away: %s)", run_id, site, path, why
        )
