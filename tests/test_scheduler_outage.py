"""Issue 12, part 4, for real: the database dies under a scheduled sweep and nothing is lost.

The scheduler service (APScheduler, the lease, the job store) and its sweep share one
embedded server of the test's own, as they share one database in production. The server
is killed once the sweep has stored its first listing, so the sweep (a real child
process on the sandbox) spools the rest and its run record; the scheduler, which cannot
record the run either, spools its part behind it. With the server back, the next
scheduled sweep replays the spool before it starts, and the store holds every listing,
capture, evidence set and lead once.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from tests.conftest import TrainedModel
from tests.test_scheduler import REPO, mini_profile, scheduler_settings, wait_for
from tiequan.sandbox.server import SandboxServer
from tiequan.scheduling.jobs import SiteSchedule, control, site_job_id
from tiequan.scheduling.service import SchedulerService
from tiequan.settings import SchedulerSettings
from tiequan.storage import spool
from tiequan.storage.embedded import EmbeddedServer
from tiequan.storage.store import utcnow
from tiequan.sweep.history import find_runs

SWEEP_SETTINGS = (
    "DOWNLOAD_DELAY=0",
    "AUTOTHROTTLE_ENABLED=False",
    "RETRY_BACKOFF_BASE=0.05",
    "RETRY_BACKOFF_MAX=0.3",
    "TIEQUAN_EVIDENCE_SCREENSHOTS=False",
    "TIEQUAN_OCR_ENABLED=False",
    # Small batches written all through the crawl, so the outage cuts some off.
    "TIEQUAN_BATCH_SIZE=2",
    "TIEQUAN_FLUSH_SECONDS=0.5",
    "TIEQUAN_DB_TIMEOUT=1",
    "TIEQUAN_DB_PROBE_SECONDS=1",
)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(tmp_path / "db")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def store(
    own_server: EmbeddedServer, trained_model: TrainedModel
) -> Iterator[Database[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(
        own_server.uri, serverSelectionTimeoutMS=2000, tz_aware=True
    )
    trained_model.promote_in(client.tiequan)  # the sweep detects with the live model
    yield client.tiequan
    client.close()


def trigger_scheduled_run(
    db: Database[dict[str, Any]], settings: SchedulerSettings, site: str
) -> None:
    """Bring the site's scheduled (cron) run forward to now, as if 02:00 had come."""
    with control(db, settings) as other:
        other.modify_job(site_job_id(site), next_run_time=utcnow())


def by_key(db: Database[dict[str, Any]], run_id: str) -> dict[str, Counter[Any]]:
    """How often each listing is held by each kind of record the sweep writes."""
    return {
        "listings": Counter(d["item_id"] for d in db.listings.find()),
        "captures": Counter(d["listing_id"] for d in db.captures.find({"run_id": run_id})),
        "evidence": Counter(d["item_id"] for d in db.evidence.find({"run_id": run_id})),
        # A listing may be on several leads (one per category), once on each.
        "leads": Counter((d["_id"], e["item_id"]) for d in db.leads.find() for e in d["listings"]),
        "lead_keys": Counter((d["party_key"], d["category"]) for d in db.leads.find()),
    }


def test_a_scheduled_sweep_during_an_outage_is_spooled_and_stored_before_the_next_one(
    own_server: EmbeddedServer,
    store: Database[dict[str, Any]],
    sandbox: SandboxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = mini_profile(tmp_path / "sites")
    home = tmp_path / "home"
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    options = " ".join(f"-s {kv}" for kv in SWEEP_SETTINGS)
    command = (
        "{python} -m tiequan sweep --site {site} --run-id {run_id} --report {report} --resume "
        f"--sites-dir {tmp_path / 'sites'} --base-url {sandbox.base_url} --progress 0 {options}"
    )
    settings = scheduler_settings(
        TIEQUAN_SCHEDULER_SWEEP_COMMAND=command,
        TIEQUAN_SCHEDULER_SWEEP_LIMIT="600",
        # The service outlives the outage as the holder: no standby is waiting.
        TIEQUAN_SCHEDULER_LEASE_SECONDS="600",
        TIEQUAN_SCHEDULER_HEARTBEAT="0.2",
    )
    service = SchedulerService(
        store, own_server.uri, [SiteSchedule(site, "0 2 * * *")], settings, home, "svc", 0.5
    )
    thread = threading.Thread(target=service.run, name="svc", daemon=True)
    thread.start()
    try:
        wait_for(service.active.is_set, "the service to lead")
        trigger_scheduled_run(store, settings, site)
        wait_for(lambda: site in service.launcher.running, "the first sweep to start")
        wait_for(lambda: store.listings.count_documents({}), "its first listing", timeout=300)
        assert own_server.pid is not None
        os.kill(own_server.pid, signal.SIGKILL)
        wait_for(lambda: not service.launcher.running, "the first sweep to end", timeout=300)

        # Still away: the sweep's writes and both halves of its run record wait in the spool.
        waiting = spool.status(home)
        [first] = {f.run_id for f in waiting}
        stages = {f.stage: f.records for f in waiting}
        assert stages["runs"] == 2 and stages["store"] > 0, stages
        assert own_server.revive()
        assert store.runs.find_one({"_id": first}) is None

        trigger_scheduled_run(store, settings, site)
        second_run = wait_for(
            lambda: store.runs.find_one({"_id": {"$ne": first}, "scheduled": {"$exists": True}}),
            "the next scheduled sweep's record",
            timeout=300,
        )
    finally:
        service.stop()
        thread.join(60)
    assert not thread.is_alive()
    second = second_run["_id"]
    run1 = store.runs.find_one({"_id": first})
    assert run1 is not None, "the first run's record was not replayed"
    log = Path(run1["scheduled"]["log"]).read_text(encoding="utf-8", errors="replace")
    assert run1["scheduled"]["exit_code"] == 0, log[-3000:]
    assert (run1["status"], run1["end_reason"], run1["scheduled"]["trigger"]) == (
        "ok", "finished", "schedule",
    )  # fmt: skip
    outage = run1["database"]
    assert outage["spooled"] > 0 and outage["lost"] == 0 and outage["run_record"] != "database"
    assert run1["spooled"]["records"] == outage["spooled"] and run1["spooled"]["run_record"]
    # The replay ran before the next sweep started, and wrote everything that waited.
    replay = second_run["scheduled"]["replay"]
    assert replay["runs"] == [first] and replay["left"] == 0 and replay["exit_code"] == 0
    assert replay["records"] == sum(stages.values())
    replayed_at: datetime = run1["spooled"]["replayed_at"]
    assert replayed_at < datetime.fromisoformat(second_run["started_at"])
    assert spool.status(home) == [] and spool.bad_files(home) == []

    # Everything once: one listing per item, one capture and evidence set per sighting,
    # every listing on one lead, and the next sweep found nothing new to add.
    items = run1["sites"][site]["items"]
    held = by_key(store, first)
    assert len(held["listings"]) == items > 0
    for kind in ("listings", "captures", "leads", "lead_keys"):
        assert set(held[kind].values()) == {1}, (kind, held[kind])
    assert set(held["captures"]) == {f"{site}:{i}" for i in held["listings"]}
    assert held["evidence"] and set(held["evidence"].values()) == {1}
    assert set(held["evidence"]) == {item_id for _, item_id in held["leads"]}
    # (It may resume the first crawl, whose frontier could not be closed in the outage.)
    assert second_run["status"] == "ok" and second_run["sites"][site]["items"] > 0
    assert second_run["totals"]["leads_new"] == 0 and second_run["sites"][site]["missing"] == 0
    assert store.listings.count_documents({}) == items
    assert store.runs.count_documents({}) == 2

    # `tiequan runs` reads the same: spooled and replayed, and replayed before the next.
    new, old = find_runs(store)
    assert (new.run_id, old.run_id) == (second, first)
    assert (old.spooled, old.spool_replayed, new.replayed_before) == (
        outage["spooled"], True, replay["records"],
    )  # fmt: skip
