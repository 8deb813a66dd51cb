"""End to end: `tiequan sweep` over every sandbox site, twice, into the test database."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from detectors.base import CORE_CATEGORIES
from tests.conftest import TrainedModel
from tests.fixtures_mongo import cli_env
from tests.fixtures_sandbox import SANDBOX_SEED
from tiequan.evidence.manifest import evidence_sets
from tiequan.leads.model import Case
from tiequan.referral.categories import load_categories
from tiequan.sandbox.server import SandboxServer
from tiequan.sweep.report import count_leads

REPO = Path(__file__).resolve().parents[1]
# Half the session sandbox's world: two sweeps of every site were the suite's costliest setup.
SWEEP_SCALE = 0.1
FAST = [
    "DOWNLOAD_DELAY=0",
    "AUTOTHROTTLE_ENABLED=False",
    "RETRY_BACKOFF_BASE=0.05",
    "RETRY_BACKOFF_MAX=0.3",
    # Screenshots roughly double a sweep; tests/test_evidence_crawl.py covers them.
    "TIEQUAN_EVIDENCE_SCREENSHOTS=False",
]


def tiequan(
    *args: str, env: dict[str, str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "tiequan", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def sweep_env(
    mongo_uri: str, tmp_path_factory: pytest.TempPathFactory, trained_model: TrainedModel
) -> Iterator[dict[str, str]]:
    name = f"t_sweep_{uuid.uuid4().hex[:8]}"
    trained_model.promote_at(mongo_uri, name)
    yield cli_env(mongo_uri, name, tmp_path_factory.mktemp("home"))
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    client.drop_database(name)
    client.close()


@pytest.fixture(scope="module")
def sweeps(sweep_env: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
    """Two sweeps of all sandbox sites; returns both run reports."""
    with SandboxServer(seed=SANDBOX_SEED, scale=SWEEP_SCALE) as sandbox:
        yield sweep_twice(sandbox, sweep_env)


def sweep_twice(sandbox: SandboxServer, sweep_env: dict[str, str]) -> list[dict[str, Any]]:
    reports = []
    for n in (1, 2):
        report_path = Path(sweep_env["TIEQUAN_HOME"]) / f"run{n}.json"
        settings = [arg for kv in FAST for arg in ("-s", kv)]
        result = tiequan(
            "sweep", "--all", "--base-url", sandbox.base_url, "--report", str(report_path),
            "--progress", "1", *settings, env=sweep_env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        assert "巡查批次" in result.stdout and "本批次线索（按类别）" in result.stdout
        assert "页面" in result.stderr  # progress lines
        assert "Warning" not in result.stderr, result.stderr[-3000:]
        reports.append(json.loads(report_path.read_text(encoding="utf-8")))
    return reports


@pytest.fixture
def sweep_db(sweep_env: dict[str, str], mongo_client: MongoClient[dict[str, Any]]) -> Database[Any]:
    return mongo_client[sweep_env["TIEQUAN_DB"]]


def test_sweep_crawls_every_site_and_reports(sweeps: list[dict[str, Any]]) -> None:
    first = sweeps[0]
    assert set(first["sites"]) == {
        "sandbox_mall", "sandbox_jsmall", "sandbox_social", "sandbox_property",
    }  # fmt: skip
    for name, site in first["sites"].items():
        assert site["items"] > 0, name
        assert site["pages"] >= site["items"] or name == "sandbox_social", name
        assert site["finish_reason"] == "finished", name
    assert first["totals"]["errors"] == 0
    assert first["elapsed_s"] > 0
    # Crawl health: normal sweeps raise no alert; the second compares with the first.
    assert [r["health_alerts"] for r in sweeps] == [[], []]
    for name, site in sweeps[1]["sites"].items():
        item_count = next(h for h in site["health"] if h["check"] == "item_count")
        assert item_count["status"] == "passed", (name, item_count)


def test_leads_in_every_core_category_routed_to_lead_unit(
    sweeps: list[dict[str, Any]], sweep_db: Database[Any]
) -> None:
    categories = load_categories()
    by_category = sweeps[0]["leads_by_category"]
    for category in CORE_CATEGORIES:
        assert by_category.get(category, 0) > 0, category
    for lead in sweep_db.leads.find({"category": {"$in": list(CORE_CATEGORIES)}}).limit(200):
        assert lead["lead_unit"] == categories.get(lead["category"]).lead_unit
        assert lead["status"] == "待研判"
        assert lead["matched"], lead["_id"]
        assert lead["article"]
        assert lead["platform_name"] and not lead["platform_name"].startswith("sandbox_")
    assert sum(sweeps[0]["leads_by_unit"].values()) == sum(by_category.values())
    # Counted by the ids the refer stages recorded: the same as counting by run id.
    assert by_category == count_leads(sweep_db, sweeps[0]["run_id"], "category")
    assert sweeps[0]["leads_by_unit"] == count_leads(sweep_db, sweeps[0]["run_id"], "lead_unit")


def test_every_swept_lead_reads_into_a_case_and_back(
    sweeps: list[dict[str, Any]], sweep_db: Database[Any]
) -> None:
    docs = list(sweep_db.leads.find())
    assert len(docs) > 10
    seen_twice = 0
    for doc in docs:
        case = Case.from_doc(doc)
        assert case.to_doc() == doc, doc["_id"]
        assert case.listings and all(e.evidence_id for e in case.listings), doc["_id"]
        seen_twice += any((e.seen_count or 0) > 1 for e in case.listings)
    assert seen_twice > 0


def test_second_sweep_creates_no_duplicate_lead(
    sweeps: list[dict[str, Any]], sweep_db: Database[Any]
) -> None:
    first, second = sweeps
    assert first["totals"]["leads_new"] > 0
    assert second["totals"]["leads_new"] == 0
    assert sweep_db.leads.count_documents({}) == first["totals"]["leads_new"]
    # A case is one party and category: the second night adds a sighting to each listing.
    assert sweep_db.leads.count_documents({"night_count": 2}) == first["totals"]["leads_new"]
    entries = [e for lead in sweep_db.leads.find() for e in lead["listings"]]
    assert second["totals"]["leads_seen_again"] == len(entries)
    assert {e["seen_count"] for e in entries} == {2}
    assert sweep_db.runs.count_documents({}) == 2


def test_sandbox_score_reads_the_run_from_the_database(
    sweeps: list[dict[str, Any]], sweep_env: dict[str, str]
) -> None:
    result = tiequan(
        "sandbox", "score", "--run", sweeps[1]["run_id"], "--seed", str(SANDBOX_SEED),
        "--scale", str(SWEEP_SCALE), "--json", env=sweep_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    score = json.loads(result.stdout)
    assert score["micro"]["tp"] > 0
    for category in CORE_CATEGORIES:
        assert score[category]["tp"] > 0, category


def test_a_listing_seen_on_two_nights_is_one_lead_with_the_first_nights_evidence(
    sweeps: list[dict[str, Any]], sweep_db: Database[Any]
) -> None:
    # The sandbox did not change overnight: the second sweep adds a sighting to the lead,
    # not an evidence set (pipelines.recrawl; tests/test_recrawl.py edits a listing).
    runs = {sweeps[0]["run_id"], sweeps[1]["run_id"]}
    lead = sweep_db.leads.find_one({"night_count": 2, "listing_count": 1})
    assert lead is not None
    entry = lead["listings"][0]
    assert set(entry["run_ids"]) == runs and entry["seen_count"] == 2
    same = {"listings.platform": entry["platform"], "listings.item_id": entry["item_id"]}
    assert sweep_db.leads.count_documents({**same, "category": lead["category"]}) == 1
    sets = evidence_sets(sweep_db, Case.from_doc(lead))
    assert [s["run_id"] for s in sets] == [sweeps[0]["run_id"]]
    assert all(s["artefacts"] and s["item_id"] == entry["item_id"] for s in sets)
    assert lead["evidence_count"] == 1 and entry["evidence_id"] == sets[0]["_id"]
