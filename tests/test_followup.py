"""Takedown follow-up: referred leads' listings re-checked on a later night of the sandbox.

Night 0: a sweep of the sandbox mall makes leads; every one is confirmed and referred.
Night 1: the sandbox takes some violating listings down (404) and edits others
(tiequan.sandbox.takedown); the second sweep must record on each lead what became of each
of its listings, with that night's evidence.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from crawlers import revisit
from crawlers.revisit import Target
from tests.conftest import TrainedModel
from tiequan.leads.followup import (
    Outcome,
    build_plan,
    classify,
    followup_detail,
    record_followups,
)
from tiequan.leads.format import render_detail
from tiequan.leads.model import Case
from tiequan.leads.queue import LeadQueue
from tiequan.sandbox.server import SandboxServer
from tiequan.sandbox.takedown import takedown_state

REPO = Path(__file__).resolve().parents[1]
SEED, SCALE = 20220101, 0.05  # 30 mall listings, three of them taken down, one edited
SETTINGS = [
    "DOWNLOAD_DELAY=0",
    "AUTOTHROTTLE_ENABLED=False",
    "RETRY_BACKOFF_BASE=0.05",
    "RETRY_BACKOFF_MAX=0.3",
    "TIEQUAN_OCR_ENABLED=False",
    "TIEQUAN_EVIDENCE_SCREENSHOTS=False",
]


def _target(item_id: str = "1", categories: tuple[str, ...] = ("miracle_drug",)) -> Target:
    return Target("demo_shop", item_id, f"https://x/{item_id}", "t", ("XS1",), categories)


def test_classify_states() -> None:
    target = _target()
    assert classify(target, gone=True, findings=[{"category": "miracle_drug"}]) == "removed"
    assert classify(target, gone=False, findings=[{"category": "miracle_drug"}]) == "unchanged"
    assert classify(target, gone=False, findings=[{"category": "vinegar"}]) == "changed"
    assert classify(target, gone=False, findings=[]) == "changed"


def test_plan_round_trip_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    revisit.write(path, [_target("1"), _target("2")])
    assert set(revisit.load(path, "demo_shop")) == {"1", "2"}
    assert revisit.load(path, "other") == {}
    path.write_text("[{", encoding="utf-8")
    with pytest.raises(ValueError, match=r"plan\.json: unreadable revisit list"):
        revisit.load(path)


def test_plan_takes_handed_over_leads_only_and_records_outcomes(
    db: Database[dict[str, Any]],
) -> None:
    queue = LeadQueue(db)
    queue.ensure_indexes()
    pairs = [
        (
            {"platform": "demo_shop", "item_id": i, "kind": "product", "title": f"神药{i}",
             "url": f"https://x/{i}", "shop_name": f"店{i}", "shop_url": f"https://x/s/{i}"},
            {"category": "miracle_drug", "score": 0.9, "severity": "立案"},
        )
        for i in ("1", "2")
    ]  # fmt: skip
    ids = queue.record(pairs, "R1").new_ids
    queue.apply(ids[0], "admonish", "张三")
    plan = build_plan(db.leads, ["demo_shop"])
    assert [(t.item_id, t.lead_ids) for t in plan] == [("1", (ids[0],))]
    now = datetime.now(UTC)
    assert record_followups(db.leads, [Outcome(plan[0], "removed", "R2", now, "EVX")]) == 1
    lead = queue.get(ids[0])
    assert lead is not None
    assert (
        lead["followups"][0]["state"] == "removed" and lead["followups"][0]["evidence_id"] == "EVX"
    )
    assert lead["listings"][0]["state"] == "removed"
    assert build_plan(db.leads, ["demo_shop"]) == []  # a removed listing is not asked again


def test_a_listing_the_recrawl_missed_is_followed_up_with_the_date_it_went(
    db: Database[dict[str, Any]], tmp_path: Path
) -> None:
    queue = LeadQueue(db)
    queue.ensure_indexes()
    pairs = [
        (
            {"platform": "demo_shop", "item_id": i, "kind": "product", "title": f"神药{i}",
             "url": f"https://x/{i}", "shop_name": "店", "shop_url": "https://x/s/1"},
            {"category": "miracle_drug", "score": 0.9, "severity": "立案"},
        )
        for i in ("1", "2")
    ]  # fmt: skip
    [lead_id] = queue.record(pairs, "R1").new_ids  # one shop, one category: one lead
    queue.apply(lead_id, "admonish", "张三")
    gone_at = datetime(2026, 11, 28, 18, 30, tzinfo=UTC)  # 2026-11-29 02:30 in Beijing
    # As pipelines.recrawl left them: listing 1 not seen since gone_at, listing 2 seen.
    db.listings.insert_many(
        [
            {"_id": "demo_shop:1", "platform": "demo_shop", "item_id": "1",
             "missing_since": gone_at, "missing_run_id": "R2"},
            {"_id": "demo_shop:2", "platform": "demo_shop", "item_id": "2", "missing_since": None},
        ]
    )  # fmt: skip
    plan = build_plan(db.leads, ["demo_shop"])
    assert [(t.item_id, t.missing_since) for t in plan] == [
        ("1", gone_at.isoformat()), ("2", None),
    ]  # fmt: skip
    # The crawl reads the same date back from its revisit list.
    path = tmp_path / "plan.json"
    revisit.write(path, [revisit.Target(**asdict(t)) for t in plan])
    targets = revisit.load(path)
    assert targets["1"].missing_since == gone_at.isoformat() and targets["2"].missing_since is None
    now = datetime.now(UTC)
    outcomes = [
        Outcome(targets[i], state, "R3", now, f"EV{i}", followup_detail(targets[i], status=code))
        for i, state, code in (("1", "removed", 404), ("2", "unchanged", 200))
    ]
    assert record_followups(db.leads, outcomes) == 1
    lead = queue.get(lead_id)
    assert lead is not None
    by_item = {f["item_id"]: f for f in lead["followups"]}
    assert by_item["1"]["state"] == "removed" and by_item["1"]["status"] == 404
    assert by_item["1"]["missing_since"] == gone_at.isoformat()
    assert "missing_since" not in by_item["2"]
    lines = [x for x in render_detail(Case.from_doc(lead)).splitlines() if "复查" in x]
    assert len(lines) == 2
    assert lines[0].endswith("：1 已下架（自 2026-11-29 起站内列表不再出现）"), lines
    assert lines[1].endswith("：2 仍在售"), lines  # every state in Chinese


def tiequan(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "tiequan", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def two_nights(
    mongo_uri: str, tmp_path_factory: pytest.TempPathFactory, trained_model: TrainedModel
) -> Iterator[tuple[SandboxServer, Database[Any]]]:
    name = f"t_followup_{uuid.uuid4().hex[:8]}"
    trained_model.promote_at(mongo_uri, name)
    home = tmp_path_factory.mktemp("followup_home")
    env = dict(os.environ)
    env.update(TIEQUAN_MONGO_URI=mongo_uri, TIEQUAN_DB=name, TIEQUAN_HOME=str(home))
    env["PYTHONPATH"] = str(REPO)
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    db = client[name]
    with SandboxServer(seed=SEED, scale=SCALE) as server:
        for night in (0, 1):
            server.night = night
            result = tiequan(
                "sweep", "--site", "sandbox_mall", "--base-url", server.base_url,
                "--report", str(home / f"night{night}.json"),
                *[a for kv in SETTINGS for a in ("-s", kv)], env=env,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr[-3000:]
            if night == 0:
                queue = LeadQueue(db)
                for lead in db.leads.find({}, {"_id": 1}):
                    queue.apply(lead["_id"], "confirm", "张三")
                    queue.apply(lead["_id"], "refer", "张三")
        yield server, db
    client.drop_database(name)
    client.close()


def test_second_night_records_what_became_of_each_referred_listing(
    two_nights: tuple[SandboxServer, Database[Any]],
) -> None:
    server, db = two_nights
    leads = list(db.leads.find())
    assert leads
    night0 = db.runs.find_one(sort=[("started_at", 1)])["run_id"]  # type: ignore[index]
    states: dict[str, str] = {}
    for lead in leads:
        by_item = {f["item_id"]: f for f in lead["followups"]}
        for entry in lead["listings"]:
            if night0 not in entry["run_ids"]:
                continue  # first flagged on night 1, after the follow-up plan was made
            followup = by_item.get(entry["item_id"])  # every listing of night 0 was re-checked
            assert followup is not None, (lead["_id"], entry, lead["followups"])
            states[entry["item_id"]] = followup["state"]
            world_entry = server.world.find("mall", entry["item_id"])
            expected = {"removed": "removed", "changed": "changed", None: "unchanged"}[
                takedown_state(SEED, world_entry, 1) if world_entry else None
            ]
            assert followup["state"] == expected, entry["item_id"]
            if expected == "removed":
                assert followup["status"] == 404 and entry["state"] == "removed"
            assert followup["evidence_id"], entry["item_id"]
    assert {"removed", "changed", "unchanged"} <= set(states.values())
    # Removed listings are kept as last seen: the follow-up does not overwrite them.
    removed = [i for i, state in states.items() if state == "removed"]
    for item_id in removed:
        stored = db.listings.find_one({"platform": "sandbox_mall", "item_id": item_id})
        assert stored is not None and stored["title"]
