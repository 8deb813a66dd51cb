"""The scheduler service: lease, jobs from profiles, controls, child sweeps, run history.

Everything runs against the session's embedded database; sweeps are real child
processes (a fake command, or `tiequan sweep` of the sandbox). Nothing waits for 02:00:
jobs are started with run-now, and lease and limits are a second or less.
"""

from __future__ import annotations

import argparse
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from apscheduler.triggers.cron import CronTrigger
from pymongo.database import Database

from crawlers.profiles import load_profiles
from tests.conftest import TrainedModel
from tiequan.cli.main import main
from tiequan.cli.sweep_cmd import run_id as sweep_run_id
from tiequan.sandbox.server import SandboxServer
from tiequan.scheduling.child import SweepLauncher
from tiequan.scheduling.jobs import (
    JOB_FUNC,
    JOBS,
    ScheduleError,
    SiteSchedule,
    control,
    cron_text,
    job_rows,
    pause_site,
    resume_site,
    run_now,
    site_job_id,
    sync_jobs,
)
from tiequan.scheduling.lease import LEASES, Lease
from tiequan.scheduling.service import SchedulerService
from tiequan.settings import REPO_CONFIG_DIR, SchedulerSettings
from tiequan.storage.store import Store, utcnow
from tiequan.sweep.history import STATUS_LABELS, RunRecord, find_runs, render_runs

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")
# A child that records nothing: it only says it ran, in a file named by the test.
FAKE = "{python} -c \"import sys; open(sys.argv[1], 'a').write(sys.argv[2] + chr(10))\" "
STUBBORN = (
    '{python} -c "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); '
    'time.sleep(120)"'
)


def scheduler_settings(**env: str) -> SchedulerSettings:
    base = {
        # Long enough that a busy machine does not lose a lease between heartbeats.
        "TIEQUAN_SCHEDULER_LEASE_SECONDS": "5",
        "TIEQUAN_SCHEDULER_HEARTBEAT": "0.1",
        "TIEQUAN_SCHEDULER_SWEEP_LIMIT": "60",
    }
    return SchedulerSettings.from_env({**base, **env})


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """Poll until ``probe`` gives a value (a generous deadline for a shared machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture
def service_factory(
    db: Database[dict[str, Any]], mongo_uri: str, tmp_path: Path
) -> Iterator[Callable[..., SchedulerService]]:
    """Services running in threads; all stopped (and joined) after the test."""
    started: list[tuple[SchedulerService, threading.Thread]] = []

    def start(
        schedules: list[SiteSchedule], settings: SchedulerSettings, holder: str
    ) -> SchedulerService:
        service = SchedulerService(db, mongo_uri, schedules, settings, tmp_path, holder, 0.5)
        thread = threading.Thread(target=service.run, name=holder, daemon=True)
        thread.start()
        started.append((service, thread))
        return service

    yield start
    for service, _ in started:
        service.stop()
    for _, thread in started:
        thread.join(30)


def test_one_holder_at_a_time_and_a_takeover_once_the_lease_expires(
    db: Database[dict[str, Any]],
) -> None:
    leases = [Lease(db[LEASES], f"h{i}", 0.5) for i in range(6)]
    results: list[bool] = []
    barrier = threading.Barrier(len(leases))

    def race(lease: Lease) -> None:
        barrier.wait()
        results.append(lease.acquire())

    threads = [threading.Thread(target=race, args=(lease,)) for lease in leases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False] * 5 + [True]
    holder = next(lease for lease in leases if lease.holder == db[LEASES].find_one()["holder"])
    other = next(lease for lease in leases if lease is not holder)
    assert holder.renew() and holder.acquire() and not other.acquire()
    # The holder stops renewing (it hung or died): the other takes over after expiry.
    wait_for(other.acquire, "the lease to expire")
    assert not holder.renew()
    state = other.state()
    assert state is not None and state.holder == other.holder and state.term == 2


def test_jobs_come_from_the_profiles_with_their_triggers_and_options(
    db: Database[dict[str, Any]],
) -> None:
    settings = scheduler_settings(TIEQUAN_SCHEDULER_MISFIRE_HOURS="3")
    profiles = load_profiles(REPO_CONFIG_DIR / "sites")
    schedules = [
        SiteSchedule(p.name, p.schedule.cron, p.schedule.enabled) for p in profiles.values()
    ]
    schedules.append(SiteSchedule("nightly_default"))
    schedules.append(SiteSchedule("switched_off", "0 3 * * *", enabled=False))
    with control(db, settings) as scheduler:
        scheduler.add_job(JOB_FUNC, "cron", hour=4, args=["switched_off"], id="site:switched_off")
        sync_jobs(scheduler, schedules, settings)
        jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {site_job_id(name) for name in [*profiles, "nightly_default"]}
    for name, profile in profiles.items():
        job = jobs[site_job_id(name)]
        assert isinstance(job.trigger, CronTrigger)
        assert str(job.trigger.timezone) == "Asia/Shanghai"
        assert cron_text(job.trigger) == profile.schedule.cron
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time == 3 * 3600
        assert job.args == (name,) and job.kwargs == {}
    assert cron_text(jobs["site:nightly_default"].trigger) == "0 2 * * *"
    assert jobs["site:nightly_default"].next_run_time.hour == 2
    # What the store holds: the function by name and the site as a plain string.
    for doc in db[JOBS].find():
        state = pickle.loads(doc["job_state"])
        assert state["func"] == JOB_FUNC
        assert [type(a) for a in state["args"]] == [str]


def test_re_adding_jobs_at_start_keeps_a_pause_and_a_missed_run(
    db: Database[dict[str, Any]],
) -> None:
    settings = scheduler_settings()
    schedules = [SiteSchedule("alpha", "0 1 * * *"), SiteSchedule("beta", "0 1 * * *")]
    with control(db, settings) as scheduler:
        sync_jobs(scheduler, schedules, settings)
        pause_site(scheduler, "alpha")
        missed = scheduler.get_job("site:beta").next_run_time.replace(year=2020)
        scheduler.modify_job("site:beta", next_run_time=missed)
    with control(db, settings) as scheduler:
        sync_jobs(scheduler, schedules, settings)  # a restart: replace_existing, no conflict
        assert scheduler.get_job("site:alpha").next_run_time is None
        assert scheduler.get_job("site:beta").next_run_time == missed
        with pytest.raises(
            ScheduleError, match=r"beta\.yaml: field schedule\.cron: bad value '61 1"
        ):
            sync_jobs(scheduler, [SiteSchedule("beta", "61 1 * * *", source="beta.yaml")], settings)


def test_two_services_one_active_and_the_standby_takes_over_on_stop(
    service_factory: Callable[..., SchedulerService],
) -> None:
    settings = scheduler_settings()
    first = service_factory([SiteSchedule("alpha")], settings, "first")
    wait_for(first.active.is_set, "the first service to lead")
    second = service_factory([SiteSchedule("alpha")], settings, "second")
    for _ in range(10):  # many heartbeats
        time.sleep(0.2)
        assert first.active.is_set() and not second.active.is_set()
    first.stop()
    wait_for(second.active.is_set, "the standby to take over")
    assert not first.active.is_set()


def test_a_holder_whose_lease_was_taken_stops_its_scheduler_and_waits(
    service_factory: Callable[..., SchedulerService], db: Database[dict[str, Any]]
) -> None:
    service = service_factory([SiteSchedule("alpha")], scheduler_settings(), "svc")
    wait_for(service.active.is_set, "the service to lead")
    intruder = Lease(db[LEASES], "intruder", 30)

    def take_over() -> bool:
        # As if the holder had not renewed in time (frozen, or cut off from the database).
        db[LEASES].update_one({"_id": intruder.name}, {"$set": {"expires_at": utcnow()}})
        return intruder.acquire()

    wait_for(take_over, "the intruder to take the lease")
    wait_for(lambda: not service.active.is_set(), "the holder to step down")
    for _ in range(5):
        time.sleep(0.2)
        assert not service.active.is_set() and service.scheduler is None
    assert intruder.renew()


def test_pause_resume_and_run_now_reach_the_running_service(
    service_factory: Callable[..., SchedulerService],
    db: Database[dict[str, Any]],
    tmp_path: Path,
) -> None:
    ran = tmp_path / "ran.txt"
    settings = scheduler_settings(TIEQUAN_SCHEDULER_SWEEP_COMMAND=FAKE + f"{ran} {{site}}")
    service = service_factory([SiteSchedule("alpha", "0 1 * * *")], settings, "svc")
    wait_for(service.active.is_set, "the service to lead")
    live = service.scheduler
    assert live is not None
    with control(db, settings) as other:  # as `tiequan scheduler pause alpha` does
        pause_site(other, "alpha")
    assert live.get_job("site:alpha").next_run_time is None
    with control(db, settings) as other:
        run_now(other, "alpha", settings)
    wait_for(lambda: ran.exists() and ran.read_text() == "alpha\n", "the run-now sweep")
    record = wait_for(lambda: db.runs.find_one({"scheduled.trigger": "run-now"}), "its record")
    assert record["site_names"] == ["alpha"] and record["scheduled"]["holder"] == "svc"
    assert record["status"] == "failed" and record["end_reason"] == "no_run_record"
    # The one-off run left the site's own schedule paused; resume brings it back.
    assert live.get_job("site:alpha").next_run_time is None
    with control(db, settings) as other:
        next_run = resume_site(other, "alpha")
        assert [r.site for r in job_rows(other)] == ["alpha"]
    assert next_run is not None and (next_run.hour, next_run.minute) == (1, 0)
    assert live.get_job("site:alpha").next_run_time == next_run


def test_a_hung_sweep_is_killed_after_its_limit_and_recorded_as_killed(
    db: Database[dict[str, Any]],
    mongo_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = scheduler_settings(
        TIEQUAN_SCHEDULER_SWEEP_LIMIT="0.5", TIEQUAN_SCHEDULER_SWEEP_COMMAND=STUBBORN
    )
    launcher = SweepLauncher(db, mongo_uri, settings, tmp_path, "svc", kill_grace_s=0.3)
    run_id = launcher.sweep("alpha", "schedule")
    record = Store(db).get_run(run_id)
    assert record is not None
    assert record["status"] == "killed" and record["end_reason"] == "time_limit"
    assert record["scheduled"]["killed"] is True
    assert record["scheduled"]["exit_code"] == -signal.SIGKILL  # it ignored SIGTERM
    ok = {"run_id": "R-ok", "site_names": ["alpha"], "status": "ok", "end_reason": "finished"}
    Store(db).save_run({**ok, "started_at": "2026-01-01T00:00:00+00:00"})
    assert [r.run_id for r in find_runs(db, site="alpha", failed=True)] == [run_id]

    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    assert main(["runs", "--failed"]) == 0
    out = capsys.readouterr().out
    assert run_id in out and "已终止" in out and "超时被终止" in out
    assert "R-ok" not in out and "共 1 次运行，其中未完成 1 次" in out
    assert main(["runs", "--site", "alpha"]) == 0
    out = capsys.readouterr().out
    assert "R-ok" in out and run_id in out


def test_a_run_missed_while_no_scheduler_was_active_starts_once_when_one_is(
    service_factory: Callable[..., SchedulerService],
    db: Database[dict[str, Any]],
    tmp_path: Path,
) -> None:
    ran = tmp_path / "ran.txt"
    settings = scheduler_settings(TIEQUAN_SCHEDULER_SWEEP_COMMAND=FAKE + f"{ran} {{site}}")
    schedules = [SiteSchedule("alpha", "0 1 * * *")]
    with control(db, settings) as scheduler:
        sync_jobs(scheduler, schedules, settings)
        # Due an hour ago, within the grace time, while no scheduler ran.
        scheduler.modify_job("site:alpha", next_run_time=utcnow() - timedelta(hours=1))
    service = service_factory(schedules, settings, "svc")
    wait_for(lambda: db.runs.find_one({"scheduled.trigger": "schedule"}), "the missed run")
    time.sleep(1.0)  # a few heartbeats: a second run would show
    assert ran.read_text() == "alpha\n" and db.runs.count_documents({}) == 1
    live = service.scheduler
    assert live is not None and live.get_job("site:alpha").next_run_time > utcnow()


def test_a_sweep_whose_record_went_to_the_spool_is_recorded_from_its_report(
    db: Database[dict[str, Any]], mongo_uri: str, tmp_path: Path
) -> None:
    report = (
        "{'run_id': sys.argv[2], 'status': 'ok', 'end_reason': 'finished', "
        "'sites': {'alpha': {'items': 3}}, 'database': {'spooled': 5, 'run_record': 'x'}}"
    )
    command = f"{{python}} -c \"import json, sys; json.dump({report}, open(sys.argv[1], 'w'))\" "
    settings = scheduler_settings(TIEQUAN_SCHEDULER_SWEEP_COMMAND=command + "{report} {run_id}")
    run_id = SweepLauncher(db, mongo_uri, settings, tmp_path, "svc").sweep("alpha", "schedule")
    [run] = find_runs(db)
    assert run.run_id == run_id and run.status == "ok" and run.items == 3 and run.spooled == 5
    assert run.trigger == "schedule"


def mini_profile(sites_dir: Path) -> str:
    """The sandbox mall cut to one search page: a real sweep of a few seconds."""
    data = yaml.safe_load((REPO_CONFIG_DIR / "sites" / "sandbox_mall.yaml").read_text("utf-8"))
    data.update(name="mini_mall", start_paths=["/mall/search?q=health&page=1"])
    data["listing"]["max_pages"] = 1
    sites_dir.mkdir(parents=True, exist_ok=True)
    (sites_dir / "mini_mall.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return "mini_mall"


def test_run_now_sweeps_the_sandbox_in_a_child_and_records_the_run(
    service_factory: Callable[..., SchedulerService],
    db: Database[dict[str, Any]],
    sandbox: SandboxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    trained_model: TrainedModel,
) -> None:
    trained_model.promote_in(db)  # the child sweep detects with the live model
    sites = tmp_path / "sites"
    site = mini_profile(sites)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    fast = "-s DOWNLOAD_DELAY=0 -s AUTOTHROTTLE_ENABLED=False -s TIEQUAN_EVIDENCE_SCREENSHOTS=False"
    command = (
        "{python} -m tiequan sweep --site {site} --run-id {run_id} --report {report} "
        f"--sites-dir {sites} --base-url {sandbox.base_url} --progress 0 {fast}"
    )
    settings = scheduler_settings(
        TIEQUAN_SCHEDULER_SWEEP_COMMAND=command, TIEQUAN_SCHEDULER_SWEEP_LIMIT="600"
    )
    service = service_factory([SiteSchedule(site)], settings, "svc")
    wait_for(service.active.is_set, "the service to lead")
    with control(db, settings) as other:
        run_now(other, site, settings)
    record = wait_for(
        lambda: db.runs.find_one({"scheduled": {"$exists": True}}), "the sweep", timeout=600
    )
    log = Path(record["scheduled"]["log"]).read_text(encoding="utf-8", errors="replace")
    assert record["scheduled"]["exit_code"] == 0, log[-3000:]
    assert record["status"] == "ok" and record["end_reason"] == "finished"
    assert record["site_names"] == [site] and record["resumed"] is False
    summary = record["sites"][site]
    assert summary["pages"] > 1 and summary["items"] > 0 and summary["bytes"] > 0
    assert record["totals"]["bytes"] == summary["bytes"]
    assert record["peak_rss_bytes"] > 10_000_000  # a Scrapy process, not a stub
    assert record["scheduled"]["trigger"] == "run-now"
    [run] = find_runs(db, site=site)
    assert run.items == summary["items"] and run.trigger == "run-now" and not run.failed


def scheduler_process(holder: str, env: dict[str, str]) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "tiequan", "scheduler", "run", "--holder", holder]
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def test_two_scheduler_processes_run_a_job_once_and_the_second_takes_over_a_killed_first(
    db: Database[dict[str, Any]], mongo_uri: str, tmp_path: Path
) -> None:
    ran = tmp_path / "ran.txt"
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO),
        TIEQUAN_MONGO_URI=mongo_uri,
        TIEQUAN_DB=db.name,
        TIEQUAN_HOME=str(tmp_path / "home"),
        TIEQUAN_SITES_DIR=str(tmp_path / "sites"),
        TIEQUAN_SCHEDULER_LEASE_SECONDS="4",
        TIEQUAN_SCHEDULER_HEARTBEAT="0.2",
        TIEQUAN_SCHEDULER_SWEEP_COMMAND=FAKE + f"{ran} {{run_id}}",
    )
    site = mini_profile(tmp_path / "sites")
    procs = {name: scheduler_process(name, env) for name in ("A", "B")}
    try:
        lease = wait_for(lambda: db[LEASES].find_one({"expires_at": {"$exists": True}}), "a lease")
        first, second = lease["holder"], "B" if lease["holder"] == "A" else "A"
        wait_for(lambda: db[JOBS].find_one({"_id": site_job_id(site)}), "the site's job")
        cli = subprocess.run(
            [sys.executable, "-m", "tiequan", "scheduler", "run-now", site],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert f"调度进程 {first}" in cli.stdout
        wait_for(lambda: db.runs.count_documents({"scheduled.holder": first}), "the first run")
        procs[first].send_signal(signal.SIGKILL)
        procs[first].wait(30)
        wait_for(lambda: (db[LEASES].find_one() or {}).get("holder") == second, "the takeover", 60)
        assert main_in_env(env, ["scheduler", "run-now", site]) == 0
        wait_for(lambda: db.runs.count_documents({"scheduled.holder": second}), "the second run")
        assert db.runs.count_documents({}) == 2
        assert len(ran.read_text().splitlines()) == 2
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)
            if proc.stderr is not None:
                proc.stderr.close()


def main_in_env(env: dict[str, str], argv: list[str]) -> int:
    with pytest.MonkeyPatch.context() as mp:
        for name in ("TIEQUAN_MONGO_URI", "TIEQUAN_DB", "TIEQUAN_SITES_DIR", "TIEQUAN_HOME"):
            mp.setenv(name, env[name])
        return main(argv)


@pytest.mark.parametrize(
    ("reason", "items", "errors", "status"),
    [("finished", 5, 0, "ok"), ("shutdown", 5, 0, "stopped"), ("finished", 0, 3, "failed"),
     ("closespider_timeout", 5, 0, "failed")],
)  # fmt: skip
def test_a_run_recorded_before_statuses_existed_gets_one_from_its_sites(
    reason: str, items: int, errors: int, status: str
) -> None:
    doc = {
        "_id": "R1",
        "started_at": "2026-01-01T00:00:00+00:00",
        "sites": {"alpha": {"items": items, "errors": errors, "finish_reason": reason}},
    }
    record = RunRecord.from_doc(doc)
    assert (record.status, record.end_reason) == (status, reason if errors == 0 else "errors")
    assert record.sites == ("alpha",) and record.items == items and record.trigger is None
    assert STATUS_LABELS[status] in render_runs([record])


def test_the_run_id_a_scheduler_hands_to_tiequan_sweep_is_checked() -> None:
    assert sweep_run_id("R20260101T020000-ab12") == "R20260101T020000-ab12"
    for bad in ("../etc", "R 1", "", "x" * 65):
        with pytest.raises(argparse.ArgumentTypeError, match="运行编号"):
            sweep_run_id(bad)
